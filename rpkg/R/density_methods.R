# Methods for lynxid_density objects (from fit_density() in density.R): print, summary, coef,
# confint, vcov, logLik, predict and plot. Where a number comes from the model (intervals at
# another level, p.(x), the detection function) it comes from the engine that fitted it:
# lynxid's Python core, or secr's predict() for engine = "secr".

#' @export
print.lynxid_density <- function(x, digits = 4, ...) {
  cat(sprintf("lynxid density fit (engine %s): %s detectors, detectfn %s, %d animals%s\n", x$engine, x$detector,
              x$detectfn, x$n, if (length(x$sessions) > 1) {
                paste0(", ", length(x$sessions), " sessions", if (x$D_per_session) " (density per session)" else "")
              } else ""))
  est <- format_estimates(x$estimates, digits)
  if (length(x$sessions) == 1) est$session <- NULL
  print(est, row.names = FALSE)
  cat(sprintf("logLik %.3f  AIC %.3f  AICc %.3f  %d parameters  %s\n", x$logLik, x$AIC, x$AICc, x$npar,
              if (x$convergence$converged) "converged" else
                paste("NOT converged:", paste(x$convergence$problems, collapse = "; "))))
  invisible(x)
}

# The estimates table with each number to `digits` significant digits (columns of numbers of
# very different sizes would otherwise all print in scientific notation).
format_estimates <- function(est, digits) {
  num <- c("estimate", "SE", "lcl", "ucl")
  est[num] <- lapply(est[num], function(v) formatC(v, digits = digits, format = "g"))
  est
}

#' @export
summary.lynxid_density <- function(object, ...) {
  structure(object[c("engine", "detectfn", "detector", "sessions", "estimates", "coefficients", "logLik", "AIC",
                     "AICc", "npar", "n", "convergence", "buffer_check", "mask_info", "seconds")],
            class = "summary.lynxid_density")
}

#' @export
print.summary.lynxid_density <- function(x, ...) {
  cat("Spatial capture-recapture density fit (engine ", x$engine, ")\n", sep = "")
  cat(sprintf("  %s detectors, detectfn %s, %d animals, %d session(s); %.2f s\n", x$detector, x$detectfn, x$n,
              length(x$sessions), x$seconds))
  cat("\nMask\n")
  print(x$mask_info, row.names = FALSE)
  if (NROW(x$buffer_check)) {
    cat("\nBuffer check (predicted relative bias of D from where the mask ends; secr's limit 0.01)\n")
    print(x$buffer_check, row.names = FALSE)
  }
  cat("\nCoefficients (link scale)\n")
  print(x$coefficients)
  cat("\nEstimates\n")
  print(format_estimates(x$estimates, 6), row.names = FALSE)
  cat(sprintf("\nlogLik %.4f  AIC %.3f  AICc %.3f  %d parameters\n", x$logLik, x$AIC, x$AICc, x$npar))
  cat("Convergence: ", if (x$convergence$converged) "yes" else "NO", if (nzchar(x$convergence$message)) {
    paste0(" (", x$convergence$message, ")")
  } else "", "\n", sep = "")
  for (p in x$convergence$problems) cat("  ", p, "\n", sep = "")
  invisible(x)
}

#' Coefficients, intervals and likelihood of a density fit
#'
#' \code{coef()} gives the coefficients on the link scale (log D, logit g0 or log lambda0,
#' log sigma, log z) with SEs and 95 \% limits, as secr's \code{coef}; \code{confint()} the
#' limits of the real parameters (D per hectare and per 100 km^2, g0 or lambda0, sigma, z,
#' E(N)), back-transformed from the link scale as secr's \code{predict} does them;
#' \code{vcov()} the covariance of the coefficients; \code{logLik()} the log-likelihood (so
#' \code{AIC()} works).
#'
#' @param object A \code{lynxid_density} from \code{\link{fit_density}}.
#' @param parm Parameters to keep, e.g. \code{c("D", "sigma")} (default: all).
#' @param level Confidence level.
#' @param ... Unused.
#' @return \code{coef}: a data frame (\code{link, beta, SE.beta, lcl, ucl}, rows named by
#'   coefficient); \code{confint}: a matrix with one row per parameter (\code{session:parameter}
#'   with several sessions); \code{vcov}: a matrix; \code{logLik}: a \code{logLik} object.
#' @examples
#' \dontrun{
#' fit <- fit_density(ch, buffer = 15000)
#' coef(fit)
#' confint(fit, c("D_100km2", "sigma"))
#' AIC(fit)
#' }
#' @name coef.lynxid_density
#' @export
coef.lynxid_density <- function(object, ...) object$coefficients

#' @rdname coef.lynxid_density
#' @export
confint.lynxid_density <- function(object, parm = NULL, level = 0.95, ...) {
  est <- stats::predict(object, level = level)
  if (!is.null(parm)) est <- est[est$parameter %in% parm, , drop = FALSE]
  pct <- paste(format(100 * c((1 - level) / 2, 1 - (1 - level) / 2), trim = TRUE, scientific = FALSE, digits = 3), "%")
  out <- cbind(est$lcl, est$ucl)
  rows <- if (length(object$sessions) > 1) paste(est$session, est$parameter, sep = ":") else est$parameter
  dimnames(out) <- list(rows, pct)
  out
}

#' @rdname coef.lynxid_density
#' @export
vcov.lynxid_density <- function(object, ...) object$vcov

#' @rdname coef.lynxid_density
#' @export
logLik.lynxid_density <- function(object, ...) {
  structure(object$logLik, df = object$npar, nobs = object$n, class = "logLik")
}

#' Predictions from a density fit
#'
#' Without \code{newdata}: the estimates of the real parameters per session (secr's
#' \code{predict}) with limits at \code{level}. With \code{newdata} (points \code{x},
#' \code{y} in metres, optionally \code{session}): the density there (homogeneous: the same
#' everywhere in a session) and \code{pdot}, the probability that an animal whose home range
#' is centred there is detected at least once by the survey's detectors with their usage.
#'
#' @param object A \code{lynxid_density} from \code{\link{fit_density}}.
#' @param newdata \code{NULL} or a data frame of points.
#' @param level Confidence level of the limits.
#' @param ... Unused.
#' @return A data frame: \code{session, parameter, estimate, SE, lcl, ucl, unit}, or the
#'   points with \code{session, D} (per hectare), \code{D_100km2} and \code{pdot}.
#' @examples
#' \dontrun{
#' fit <- fit_density(ch, buffer = 15000)
#' predict(fit, level = 0.9)
#' predict(fit, newdata = data.frame(x = 500000, y = 5200000))
#' }
#' @export
predict.lynxid_density <- function(object, newdata = NULL, level = 0.95, ...) {
  if (!is.null(newdata)) return(predict_points(object, newdata))
  if (isTRUE(all.equal(level, 0.95))) return(object$estimates)
  if (object$engine == "secr") {
    pr <- stats::predict(object$secr, alpha = 1 - level)
    if (is.data.frame(pr)) pr <- list(pr)
    area <- object$mask_info$area_ha
    return(do.call(rbind, lapply(seq_along(object$sessions), function(i) {
      secr_estimates(pr[[i]], object$sessions[i], area[i])
    })))
  }
  py <- attr(object, "py")
  if (is.null(py) || reticulate::py_is_null_xptr(py)) {
    stop("this fit no longer has its Python side (saved and reloaded?): only level = 0.95 is stored; ",
         "fit again for other levels", call. = FALSE)
  }
  from_py(py_call(py$predict(alpha = 1 - level)))
}

predict_points <- function(object, newdata) {
  if (!is.data.frame(newdata) || !all(c("x", "y") %in% names(newdata))) {
    stop("newdata must be a data frame with columns x and y (metres)", call. = FALSE)
  }
  sess <- if ("session" %in% names(newdata)) as.character(newdata$session) else rep(object$sessions[1], nrow(newdata))
  bad <- setdiff(unique(sess), object$sessions)
  if (length(bad)) {
    stop("no session ", bad[1], "; sessions are ", paste(object$sessions, collapse = ", "), call. = FALSE)
  }
  D <- object$estimates[object$estimates$parameter == "D", ]
  out <- data.frame(x = as.numeric(newdata$x), y = as.numeric(newdata$y), session = sess, stringsAsFactors = FALSE)
  out$D <- D$estimate[match(sess, D$session)]
  out$D_100km2 <- out$D * 1e4
  out$pdot <- NA_real_
  for (s in unique(sess)) {
    i <- sess == s
    out$pdot[i] <- detection_probability(object, s, cbind(out$x[i], out$y[i]))
  }
  out
}

# The model's quantities for any engine's estimates, from the Python core.
detection_parameters <- function(object) {
  est <- object$estimates[object$estimates$session == object$sessions[1], ]
  stats::setNames(as.list(est$estimate[match(object$det_names, est$parameter)]), object$det_names)
}

detection_probability <- function(object, session, xy) {
  tr <- object$traps[object$traps$session == session, ]
  bridge <- py_lynxid("rinterop")
  p <- bridge$detection_probability(object$detectfn, reticulate::dict(detection_parameters(object)),
                                    r_to_pandas(data.frame(x = xy[, 1], y = xy[, 2])),
                                    r_to_pandas(data.frame(x = tr$x, y = tr$y)), as.list(tr$usage))
  as.numeric(unlist(reticulate::py_to_r(p$tolist())))
}

detection_curve <- function(object, d) {
  bridge <- py_lynxid("rinterop")
  g <- bridge$detection_function(object$detectfn, reticulate::dict(detection_parameters(object)), as.list(as.numeric(d)))
  as.numeric(unlist(reticulate::py_to_r(g$tolist())))
}

#' Plot a density fit
#'
#' \code{type = "detection"}: the fitted detection function against distance -- g(d), the
#' probability of detection per unit of usage, for HN, HR and EX; lambda(d), the expected
#' number of detections per unit of usage, for the hazard forms HHN, HHR and HEX -- with
#' sigma marked. \code{type = "surface"}: the mask of one session with the detectors
#' (crosses), coloured by \code{fill}: \code{"pdot"} (default), the probability that an animal
#' living in a cell is detected at least once -- where the data come from, and whether the mask
#' reaches far enough beyond it -- or \code{"D"}, the fitted density per 100 km^2 (flat under
#' the homogeneous model, whose estimate the title gives).
#'
#' Drawn with ggplot2 when it is installed (a \code{ggplot} is returned), else with base
#' graphics (the plotted data are returned invisibly).
#'
#' @param x A \code{lynxid_density} from \code{\link{fit_density}}.
#' @param type \code{"detection"} or \code{"surface"}.
#' @param session For \code{"surface"}: which session (default: the first).
#' @param fill For \code{"surface"}: \code{"pdot"} or \code{"D"}.
#' @param ... Unused.
#' @return A \code{ggplot}, or (base graphics) the plotted data, invisibly.
#' @examples
#' \dontrun{
#' fit <- fit_density(ch, buffer = 15000)
#' plot(fit, "detection")
#' plot(fit, "surface")
#' }
#' @export
plot.lynxid_density <- function(x, type = c("detection", "surface"), session = NULL, fill = c("pdot", "D"), ...) {
  type <- match.arg(type)
  fill <- match.arg(fill)
  gg <- requireNamespace("ggplot2", quietly = TRUE)
  if (type == "detection") plot_detection(x, gg) else plot_surface(x, session, fill, gg)
}

plot_detection <- function(x, gg) {
  par <- detection_parameters(x)
  d <- seq(0, 5 * par$sigma, length.out = 201)
  df <- data.frame(distance = d, value = detection_curve(x, d))
  hazard <- x$detectfn %in% c("HHN", "HHR", "HEX")
  ylab <- if (hazard) "lambda(d): detections per unit usage" else "g(d): detection probability per unit usage"
  first <- x$det_names[1]
  title <- sprintf("%s: %s = %.3g, sigma = %.4g m", x$detectfn, first, par[[first]], par$sigma)
  if (!gg) {
    graphics::plot(df$distance, df$value, type = "l", xlab = "distance (m)", ylab = ylab, main = title,
                   ylim = c(0, max(df$value)))
    graphics::abline(v = par$sigma, lty = 2)
    return(invisible(df))
  }
  ggplot2 <- asNamespace("ggplot2")
  ggplot2$ggplot(df, ggplot2$aes(x = .data$distance, y = .data$value)) + ggplot2$geom_line() +
    ggplot2$geom_vline(xintercept = par$sigma, linetype = 2) + ggplot2$expand_limits(y = 0) +
    ggplot2$theme_minimal() + ggplot2$labs(x = "distance (m)", y = ylab, title = title)
}

plot_surface <- function(x, session, fill, gg) {
  s <- if (is.null(session)) x$sessions[1] else as.character(session)
  if (!s %in% x$sessions) stop("no session ", s, "; sessions are ", paste(x$sessions, collapse = ", "), call. = FALSE)
  m <- x$mask[x$mask$session == s, ]
  sp <- x$mask_info$spacing[x$mask_info$session == s]
  df <- predict_points(x, data.frame(x = m$x, y = m$y, session = s))
  df$value <- if (fill == "pdot") df$pdot else df$D_100km2
  tr <- x$traps[x$traps$session == s, ]
  legend <- if (fill == "pdot") "p.(x)" else "D per 100 km\u00b2"
  title <- sprintf("Session %s: D = %.3g per 100 km\u00b2 (engine %s)", s, df$D_100km2[1], x$engine)
  if (!gg) {
    pal <- grDevices::hcl.colors(64)
    r <- range(df$value)
    k <- if (diff(r) > 0) 1 + floor(63 * (df$value - r[1]) / diff(r)) else rep(32, nrow(df))
    graphics::plot(range(df$x) + c(-sp, sp), range(df$y) + c(-sp, sp), type = "n", asp = 1, xlab = "x (m)",
                   ylab = "y (m)", main = title, sub = paste("colour:", legend))
    graphics::rect(df$x - sp / 2, df$y - sp / 2, df$x + sp / 2, df$y + sp / 2, col = pal[k], border = NA)
    graphics::points(tr$x, tr$y, pch = 3)
    return(invisible(df))
  }
  ggplot2 <- asNamespace("ggplot2")
  ggplot2$ggplot(df, ggplot2$aes(x = .data$x, y = .data$y)) +
    ggplot2$geom_tile(ggplot2$aes(fill = .data$value), width = sp, height = sp) +
    ggplot2$geom_point(data = tr, shape = 3) +
    ggplot2$scale_fill_viridis_c(limits = if (fill == "D") c(0, NA) else c(0, 1)) +
    ggplot2$coord_equal() + ggplot2$theme_minimal() +
    ggplot2$labs(x = "x (m)", y = "y (m)", fill = legend, title = title)
}
