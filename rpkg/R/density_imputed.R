# Density with identification error included: fit_density() on identify()'s results, the R
# front end of lynxid.density_imputation (multiple imputation of the identities, Rubin's rules)
# and of the review order it ranks (lynxid.review_priority). The draws, the fits and the
# combination are done in Python; R builds the lynxid_density_imputed object and draws it.

#' Density with identification error included
#'
#' A capture history built from identify()'s single best call per photo treats every name as
#' certain, so the density interval leaves out the chance that some names are wrong. Given
#' identify()'s result and the station table, \code{fit_density()} draws the survey's
#' identities \code{imputations} times from identify()'s calibrated probabilities (every unit
#' a known animal or a new one; reviewed detections keep their reviewed identity, rejected
#' ones stay out), builds a capture history from each draw and fits the density to each (on
#' one mask, so that the draws estimate the same thing), and combines the fits by Rubin's
#' rules on the log scale, where secr states its intervals. The same as the command line's
#' \code{lynxid density fit RESULTS --stations S --imputations K}.
#'
#' The result gives, per session, D (animals per 100 km^2) with its 95 \% interval including
#' identification error (\code{lcl}, \code{ucl}), the interval the draws would give if the
#' identities were certain (\code{lcl_ids_certain}, \code{ucl_ids_certain}), and the share of
#' D's variance that comes from identification; beside it the fit to the hard calls (every
#' name taken as certain) and the number of animals detected in each draw.
#'
#' It also ranks the units (events) for review by how much confirming each is expected to
#' cut the identification part of D's variance (\code{$review}, \code{\link{rank_for_review}}):
#' an uncertain name between two animals seen at the same stations changes little, one event
#' that may be a new animal can move D a lot. Written to \code{out} as
#' \code{review_priority.csv}, it is the order in which \code{\link{review_report}} shows its
#' cards.
#'
#' @param ch The result of \code{\link{identify}} or \code{\link{read_results}} (a
#'   \code{lynxid_identification}, which keeps the probabilities the identities are drawn
#'   from), or the output folder of \code{identify()}.
#' @param stations The station table (camtrapR's \code{CTtable}): a data frame or the path of
#'   a CSV or Parquet file, as for \code{\link{capture_history}}.
#' @param imputations Draws of the identities (K, at least 2). More draws give a steadier
#'   interval and review order; 50 is the command line's default, 5-10 a quick look.
#' @param detectfn,buffer,spacing,mask As for \code{\link{fit_density}} on a capture history.
#'   With neither \code{mask} nor \code{buffer}, the mask is the one chosen for the hard
#'   calls; every draw is fitted on it.
#' @param seed Random seed of the draws.
#' @param n_jobs Processes fitting the draws; \code{NULL}: the CPUs, at most 8; 1: all in
#'   this R session's Python.
#' @param out Folder for \code{density_imputed.json} and \code{review_priority.csv} (the
#'   review order \code{\link{review_report}} follows). \code{NULL} (default): the output
#'   folder of the identification, when it has one; \code{FALSE}: write nothing.
#' @param progress Show a progress bar of the draws.
#' @param sampler How the identities are drawn: \code{"latent"} (inside the SCR model, where
#'   two captures far apart are unlikely to be one animal; needs \code{pair_evidence}) or
#'   \code{"independent"} (each unit from its own probabilities). \code{NULL} (default):
#'   \code{"latent"} when \code{pair_evidence} is given, else \code{"independent"}. Where many
#'   calls are wrong, independent draws merge animals and D comes out low with an interval
#'   that misses the truth; the latent sampler was measured to hold (benchmarks/README.md,
#'   "Identities drawn inside the SCR model").
#' @param pair_evidence The report \code{lynxid evaluate LABELLED --open-set-only --out FILE}
#'   wrote on labelled photos of the species (what a pair probability says on photos the
#'   catalogue could not place, measured there).
#' @param catalogue_size The number of animals in the catalogue identify() used;
#'   \code{NULL}: from the identification's summary.
#' @param ... Capture-history arguments, spelled as \code{\link{capture_history}}'s, the same
#'   for every draw: \code{occasion_length}, \code{day1}, \code{occasion_start_time},
#'   \code{tz}, \code{flank}, \code{unknown_stations}, the station table's columns
#'   (\code{station_col}, \code{x_col}, ...), ... For the methods: unused.
#' @return A \code{lynxid_density_imputed}: a list with
#'   \describe{
#'     \item{estimates}{Per session: \code{estimate} (D per 100 km^2), \code{SE}, \code{lcl},
#'       \code{ucl} (identification error included), \code{lcl_ids_certain},
#'       \code{ucl_ids_certain}, \code{share_identification} (of the variance of log D),
#'       \code{df} (Rubin's degrees of freedom) and \code{draws} (fitted draws combined).}
#'     \item{hard}{The fit to the hard calls per session: \code{estimate}, \code{SE},
#'       \code{lcl}, \code{ucl}.}
#'     \item{draws}{Per draw and session: \code{D}, \code{SE}, \code{animals} detected, \code{sigma} (m), and
#'       \code{error} for a draw that could not be fitted.}
#'     \item{review}{The units ranked for review (see \code{\link{rank_for_review}}).}
#'     \item{animals_detected}{The number of animals detected over the draws: \code{mean},
#'       \code{min}, \code{median}, \code{max}, \code{p05}, \code{p95} and \code{counts}.}
#'     \item{settings, text, files, out, unit, call}{What was fitted (\code{settings$expected_wrong_calls}:
#'       the share of calls their own probabilities expect to be wrong; above 20 \% the printed
#'       summary says D is not to be trusted as it is: review first), the printed summary,
#'       the files written to \code{out}, the unit of D.}
#'   }
#'   Methods: \code{print} (the summary), \code{summary}, \code{as.data.frame} (the
#'   estimates), \code{plot} (each draw's D with the intervals).
#' @seealso \code{\link{fit_density}}, \code{\link{rank_for_review}},
#'   \code{\link{review_report}}, \code{\link{plot.lynxid_density_imputed}}
#' @examples
#' \dontrun{
#' res <- identify("survey", "catalogue", out = "results")
#' fit <- fit_density(res, "stations.csv", imputations = 50, occasion_length = 5)
#' fit                          # D with and without identification error, the hard calls
#' head(rank_for_review(fit))   # what to review first
#' plot(fit)
#' review_report(res, "catalogue")   # cards in that order (results/review_priority.csv)
#' }
#' @name fit_density.lynxid_identification
#' @export
fit_density.lynxid_identification <- function(ch, stations, imputations = 50, detectfn = "HHN", buffer = NULL,
                                              spacing = NULL, mask = NULL, seed = 0, n_jobs = NULL, out = NULL,
                                              progress = interactive(), sampler = NULL, pair_evidence = NULL,
                                              catalogue_size = NULL, ...) {
  density_imputed(ch, stations, imputations, detectfn, buffer, spacing, mask, seed, n_jobs, out, progress,
                  list(...), generic_call(match.call()), sampler_args(sampler, pair_evidence, catalogue_size))
}

#' @rdname fit_density.lynxid_identification
#' @export
fit_density.character <- function(ch, stations, imputations = 50, detectfn = "HHN", buffer = NULL,
                                  spacing = NULL, mask = NULL, seed = 0, n_jobs = NULL, out = NULL,
                                  progress = interactive(), sampler = NULL, pair_evidence = NULL,
                                  catalogue_size = NULL, ...) {
  density_imputed(results_dir(ch), stations, imputations, detectfn, buffer, spacing, mask, seed, n_jobs, out,
                  progress, list(...), generic_call(match.call()), sampler_args(sampler, pair_evidence, catalogue_size))
}

# A method's call as the user wrote it: fit_density(...), not fit_density.character(...).
generic_call <- function(call) {
  call[[1]] <- as.name("fit_density")
  call
}

# How the identities are drawn, as fit_density_imputed takes it (checked here, in R's terms).
sampler_args <- function(sampler, pair_evidence, catalogue_size) {
  if (!is.null(sampler)) sampler <- match.arg(sampler, c("latent", "independent"))
  if (!is.null(pair_evidence)) {
    if (!is.character(pair_evidence) || length(pair_evidence) != 1) {
      stop("pair_evidence must be the path of the report 'lynxid evaluate --out' wrote", call. = FALSE)
    }
    if (!file.exists(pair_evidence)) stop("pair_evidence: no such file: ", pair_evidence, call. = FALSE)
    pair_evidence <- normalizePath(pair_evidence)
  }
  if (!is.null(catalogue_size)) catalogue_size <- as.integer(catalogue_size)
  list(sampler = sampler, pair_evidence = pair_evidence, catalogue_size = catalogue_size)
}

density_imputed <- function(x, stations, imputations, detectfn, buffer, spacing, mask, seed, n_jobs, out, progress,
                            dots, call, sampling = list()) {
  detectfn <- match.arg(detectfn, c("HN", "HR", "EX", "HHN", "HHR", "HEX"))
  if (missing(stations) || is.null(stations)) {
    stop("fit_density() on identify's results needs the station table: fit_density(res, stations, ...)",
         call. = FALSE)
  }
  if (!is.null(mask) && !is.null(buffer)) stop("give mask or buffer, not both", call. = FALSE)
  if (!is.numeric(imputations) || length(imputations) != 1 || is.na(imputations)) {
    stop("imputations must be a number of draws, e.g. 50", call. = FALSE)
  }
  api <- py_lynxid()
  bridge <- py_lynxid("rinterop")
  if (is.character(x)) {
    results <- x
    det <- NULL
    default_out <- x
  } else {
    results <- identification_to_py(x)
    det <- x$detections
    default_out <- x$out
  }
  out <- if (isFALSE(out)) NULL else if (is.null(out)) default_out else normalizePath(out, mustWork = FALSE)
  capture <- imputed_capture_args(dots, det)
  args <- c(list(api$fit_density_imputed, results, py_table_arg(stations, "stations", "local"),
                 as.integer(imputations), detectfn = detectfn, mask = py_mask_arg(mask),
                 buffer = if (is.null(buffer)) NULL else as.numeric(buffer),
                 spacing = if (is.null(spacing)) NULL else as.numeric(spacing), seed = as.integer(seed),
                 n_jobs = if (is.null(n_jobs)) NULL else as.integer(n_jobs), progress = progress),
            sampling, capture)
  res <- py_call(do.call(bridge$call_recording_warnings, args))
  for (w in reticulate::py_to_r(res[["warnings"]])) warning(w, call. = FALSE)
  fit <- res[["value"]]
  files <- if (is.null(out)) NULL else lapply(reticulate::py_to_r(py_call(fit$write(out))), as.character)
  p <- rebuild(reticulate::py_to_r(bridge$density_imputed_to_r(fit)))
  a <- p$animals_detected
  if (length(a$counts)) a$counts <- stats::setNames(as.integer(unlist(a$counts)), names(a$counts))
  structure(list(estimates = as_user_frame(p$estimates), hard = as_user_frame(p$hard),
                 draws = as_user_frame(p$draws), review = as_user_frame(p$review), animals_detected = a,
                 settings = p$settings, text = p$summary, files = files, out = out,
                 unit = "animals per 100 km2", call = call),
            class = "lynxid_density_imputed", py = fit)
}

# The Python IdentifyResult of an identification, from the R object alone (its detections as
# R has them, e.g. after apply_decisions(), and the posterior and unit pairs identify() kept);
# an object without them (from an earlier lynxid) falls back on its folder.
identification_to_py <- function(x) {
  if (is.null(x$posterior)) {
    if (!is.null(x$out) && file.exists(file.path(x$out, "posterior.parquet"))) return(results_dir(x$out))
    stop("this identification has no posterior (the probabilities identities are drawn from): it was made by an ",
         "earlier lynxid; run identify() again (features are cached) or read_results() on a folder it wrote",
         call. = FALSE)
  }
  pairs <- x$unit_pairs
  # the summary: the catalogue's size in it is what the latent-identity sampler spreads "known" over
  summary <- if (is.null(x$summary$catalogue_individuals)) reticulate::dict() else
    reticulate::dict(catalogue_individuals = as.integer(x$summary$catalogue_individuals))
  py_call(py_lynxid()$IdentifyResult(py_detections(x), r_to_pandas(x$issues), summary,
                                     posterior = r_to_pandas(x$posterior),
                                     unit_pairs = if (is.null(pairs)) NULL else r_to_pandas(pairs)))
}

# capture_history()'s arguments, in its spelling and with its defaults, as it hands them to the
# Python capture_history: the station table's columns also as station_options; times in the
# detections' own zone unless tz is given.
imputed_capture_args <- function(dots, detections = NULL) {
  f <- formals(capture_history)
  allowed <- setdiff(names(f), c("detections", "stations", "format", "augment_to"))
  nm <- names(dots)
  if (length(dots) && (is.null(nm) || any(!nzchar(nm)))) {
    stop("capture-history arguments must be named, e.g. occasion_length = 5", call. = FALSE)
  }
  bad <- setdiff(nm, allowed)
  if (length(bad)) {
    stop("unknown argument(s) ", paste(bad, collapse = ", "), ": fit_density() on identify's results takes ",
         "capture_history()'s arguments (occasion_length, day1, tz, flank, ...) and those of ",
         "?fit_density.lynxid_identification", call. = FALSE)
  }
  a <- lapply(f[allowed], eval, envir = baseenv())
  a[nm] <- dots
  for (k in allowed) {                        # c("a", "b") defaults: the first unless one is chosen
    choices <- eval(f[[k]], baseenv())
    if (is.character(choices) && length(choices) > 1) a[[k]] <- match.arg(a[[k]], choices)
  }
  station_only <- c("x_col", "y_col", "setup_col", "retrieval_col", "camera_col", "session_col", "has_problems",
                    "date_format", "station_covariates")
  py <- a[setdiff(allowed, station_only)]
  py$day1 <- as.character(py$day1)
  py$buffer_days <- as.integer(py$buffer_days)
  if (!is.null(detections)) {
    py$time_col <- find_time_col(detections, py$time_col)
    if (is.null(py$tz)) py["tz"] <- list(posix_zone(detections, py$time_col))
  }
  py$station_options <- station_options(a$station_col, a$x_col, a$y_col, a$setup_col, a$retrieval_col,
                                        a$camera_col, a$session_col, a$has_problems, a$date_format,
                                        a$station_covariates)
  py
}

#' The units of a survey ranked for review
#'
#' Which photos to review first: the units (events) whose identity moves the density estimate
#' most. Reviewing the least certain calls first spends a reviewer's time on doubts that may
#' not matter -- an uncertain name between two animals both seen at the same stations
#' changes no estimate -- while one event that may be a new animal (one more animal with one
#' capture, exactly what spatial capture-recapture uses to estimate how many were missed) can
#' move D a lot. So a density fit with identification error included
#' (\code{\link{fit_density.lynxid_identification}}) ranks the units by how much confirming
#' each is expected to shrink the share of D's variance that comes from identification,
#' estimated over its draws; units no draw disagreed on come last, least certain first.
#' Reviewed and rejected units are left out. With few draws a unit drawn otherwise only
#' rarely is ranked on few of them: more draws, steadier ranking.
#'
#' \code{\link{review_report}} shows its cards in this order when the fit wrote it to the
#' results folder (\code{review_priority.csv}), as \code{fit_density()} does by default.
#'
#' @param x A \code{lynxid_density_imputed} from \code{\link{fit_density}} with
#'   \code{imputations}.
#' @return A data frame, best first: \code{priority} (1, 2, ...), \code{unit_id},
#'   \code{event_id}, \code{station}, \code{individual_id} (the machine's call),
#'   \code{probability} (its calibrated probability), \code{p_other} (the share of draws that
#'   gave the unit another answer), \code{variance_reduction} (the expected fall of the
#'   between-draw variance of log D when the unit is confirmed) and \code{share_reduction}
#'   (the same as a share of the total variance).
#' @seealso \code{\link{fit_density.lynxid_identification}}, \code{\link{review_report}}
#' @examples
#' \dontrun{
#' fit <- fit_density(res, "stations.csv", imputations = 50, occasion_length = 5)
#' head(rank_for_review(fit))
#' }
#' @export
rank_for_review <- function(x) {
  if (!inherits(x, "lynxid_density_imputed")) {
    stop("x must be a density fit with identification error included: ",
         "fit_density(res, stations, imputations = 50, ...) on identify()'s result", call. = FALSE)
  }
  x$review
}

# ---- methods --------------------------------------------------------------------------

#' @rdname fit_density.lynxid_identification
#' @export
print.lynxid_density_imputed <- function(x, ...) {
  cat("lynxid density with identification error included (", x$settings$imputations, " draws of the ",
      "identities, detectfn ", x$settings$detectfn, "; D in animals per 100 km\u00b2)\n", sep = "")
  cat(x$text, "\n", sep = "")
  top <- utils::head(x$review[x$review$share_reduction > 0, , drop = FALSE], 3)
  if (nrow(top)) {
    cat("review first (largest expected cut of the identification variance): ",
        paste0(top$event_id, " (", top$individual_id, ", -", round(100 * top$share_reduction), " %)",
               collapse = ", "), "\n", sep = "")
  }
  if (length(x$files)) cat("written to ", x$out, ": ", paste(basename(unlist(x$files)), collapse = ", "), "\n", sep = "")
  cat("$estimates, $hard, $draws, $review (rank_for_review(x)); summary(x), plot(x), as.data.frame(x)\n")
  invisible(x)
}

#' @rdname fit_density.lynxid_identification
#' @export
summary.lynxid_density_imputed <- function(object, ...) {
  d <- object$draws
  ok <- is.na(d$error)
  per_session <- if (any(ok)) {
    do.call(rbind, lapply(split(d$D[ok], d$session[ok]), function(v) {
      data.frame(draws = length(v), min = min(v), median = stats::median(v), max = max(v))
    }))
  } else NULL
  if (!is.null(per_session)) per_session <- cbind(session = rownames(per_session), per_session, row.names = NULL)
  structure(list(estimates = object$estimates, hard = object$hard, draws = per_session,
                 failed = unique(d$draw[!ok]), animals_detected = object$animals_detected,
                 review = object$review, settings = object$settings),
            class = "summary.lynxid_density_imputed")
}

#' @export
print.summary.lynxid_density_imputed <- function(x, ...) {
  cat("Density with identification error included (D in animals per 100 km\u00b2)\n")
  cat(sprintf("  %d draws of the identities (seed %s), detectfn %s\n", as.integer(x$settings$imputations),
              format(x$settings$seed), x$settings$detectfn))
  cat("\nCombined by Rubin's rules (95 % intervals)\n")
  print(format_imputed(x$estimates), row.names = FALSE)
  cat("\nHard calls only (every name taken as certain)\n")
  print(format_imputed(x$hard), row.names = FALSE)
  if (!is.null(x$draws)) {
    cat("\nD of the draws\n")
    print(format_imputed(x$draws), row.names = FALSE)
  }
  if (length(x$failed)) cat(length(x$failed), " draw(s) could not be fitted: see $draws$error\n", sep = "")
  a <- x$animals_detected
  if (length(a$counts)) {
    cat("\nAnimals detected per draw (hard calls: ", x$settings$hard_animals, ")\n", sep = "")
    print(a$counts)
  }
  r <- x$review
  cat("\nReview order (", nrow(r), " units; ", sum(r$share_reduction > 0),
      " expected to cut the identification variance)\n", sep = "")
  if (nrow(r)) print(format_imputed(utils::head(r, 10)), row.names = FALSE)
  invisible(x)
}

# Numbers to 4 significant digits for printing (the review's shares to 3 decimals).
format_imputed <- function(df) {
  for (k in names(df)) {
    v <- df[[k]]
    if (is.double(v) && !k %in% c("priority", "draws")) df[[k]] <- signif(v, 4)
  }
  df
}

#' @rdname fit_density.lynxid_identification
#' @param x,object A \code{lynxid_density_imputed}.
#' @param row.names,optional Unused (\code{as.data.frame}'s arguments).
#' @export
as.data.frame.lynxid_density_imputed <- function(x, row.names = NULL, optional = FALSE, ...) {
  x$estimates
}

#' Plot a density fit with identification error included
#'
#' Each draw's D (points, one per draw of the identities) beside three 95 \% intervals: with
#' identification error included, as if the identities were certain, and from the hard calls
#' alone (every name taken as certain); the points mark the estimates. The spread of the draws
#' is what identification error adds.
#'
#' Drawn with ggplot2 when it is installed (a \code{ggplot} is returned), else with base
#' graphics (the plotted data are returned invisibly).
#'
#' @param x A \code{lynxid_density_imputed} from \code{\link{fit_density}} with
#'   \code{imputations}.
#' @param session Which session (default: the first).
#' @param ... Unused.
#' @return A \code{ggplot}, or (base graphics) the plotted data, invisibly.
#' @examples
#' \dontrun{
#' fit <- fit_density(res, "stations.csv", imputations = 50, occasion_length = 5)
#' plot(fit)
#' }
#' @export
plot.lynxid_density_imputed <- function(x, session = NULL, ...) {
  sessions <- x$estimates$session
  s <- if (is.null(session)) sessions[1] else as.character(session)
  if (!s %in% sessions) stop("no session ", s, "; sessions are ", paste(sessions, collapse = ", "), call. = FALSE)
  e <- x$estimates[x$estimates$session == s, ]
  h <- x$hard[x$hard$session == s, ]
  d <- x$draws[is.na(x$draws$error) & x$draws$session %in% s, ]
  rows <- c(sprintf("each draw (%d)", nrow(d)), "ID error included", "if IDs were certain", "hard calls only")
  iv <- data.frame(what = rows[2:4], estimate = c(e$estimate, e$estimate, if (nrow(h)) h$estimate else NA),
                   lcl = c(e$lcl, e$lcl_ids_certain, if (nrow(h)) h$lcl else NA),
                   ucl = c(e$ucl, e$ucl_ids_certain, if (nrow(h)) h$ucl else NA), stringsAsFactors = FALSE)
  pts <- data.frame(what = rep(rows[1], nrow(d)), D = d$D, stringsAsFactors = FALSE)
  title <- sprintf("Session %s: D = %.3g per 100 km\u00b2 (95 %% CI %.3g-%.3g)", s, e$estimate, e$lcl, e$ucl)
  subtitle <- sprintf("identification error included: %.0f %% of the variance; 95 %% intervals",
                      100 * e$share_identification)
  xlab <- "D (animals per 100 km\u00b2)"
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    y <- stats::setNames(rev(seq_along(rows)), rows)
    xr <- range(c(pts$D, iv$lcl, iv$ucl), na.rm = TRUE)
    old <- graphics::par(mar = c(4.5, 10, 3, 1))
    on.exit(graphics::par(old))
    graphics::plot(xr, c(0.5, length(rows) + 0.5), type = "n", yaxt = "n", xlab = xlab, ylab = "",
                   main = title, sub = subtitle, cex.main = 0.9)
    graphics::axis(2, at = y, labels = rows, las = 1, cex.axis = 0.8)
    graphics::points(pts$D, y[[rows[1]]] + stats::runif(nrow(pts), -0.2, 0.2), pch = 16,
                     col = grDevices::adjustcolor("grey30", 0.5))
    graphics::segments(iv$lcl, y[iv$what], iv$ucl, y[iv$what], lwd = 2)
    graphics::points(iv$estimate, y[iv$what], pch = 19)
    return(invisible(list(draws = pts, intervals = iv)))
  }
  ggplot2 <- asNamespace("ggplot2")
  lv <- rev(rows)
  pts$what <- factor(pts$what, levels = lv)
  iv$what <- factor(iv$what, levels = lv)
  ggplot2$ggplot() +
    ggplot2$geom_jitter(data = pts, ggplot2$aes(x = .data$D, y = .data$what), height = 0.15, width = 0,
                        alpha = 0.5, colour = "grey30") +
    ggplot2$geom_segment(data = iv, ggplot2$aes(x = .data$lcl, xend = .data$ucl, y = .data$what, yend = .data$what),
                         na.rm = TRUE) +
    ggplot2$geom_point(data = iv, ggplot2$aes(x = .data$estimate, y = .data$what), size = 2.5, na.rm = TRUE) +
    ggplot2$scale_y_discrete(drop = FALSE) + ggplot2$expand_limits(x = 0) + ggplot2$theme_minimal() +
    ggplot2$labs(x = xlab, y = NULL, title = title, subtitle = subtitle)
}
