# Population density by spatial capture-recapture: the R front end of lynxid's model
# (lynxid.density in Python) and, for checking one against the other, secr's secr.fit on the
# same data. Both engines return the same "lynxid_density" object (methods in
# density_methods.R), so their estimates compare line by line.

#' Population density by spatial capture-recapture
#'
#' Fits the spatial capture-recapture (SCR) model that \code{secr::secr.fit} fits by default
#' -- full likelihood, homogeneous Poisson density over a habitat mask, secr's link functions
#' -- to a capture history, with lynxid's own maximum-likelihood engine (in the Python core;
#' it reproduces secr 5.5.0's estimates to 3 significant figures on secr's reference data) or,
#' with \code{engine = "secr"}, with \code{secr::secr.fit} itself on the same data and mask,
#' so that one can be checked against the other in one line.
#'
#' \strong{Fractional usage.} lynxid's capture histories count days of effort per station and
#' occasion (a camera that worked half a day has usage 0.5). For proximity detectors lynxid
#' models an occasion's detection probability as \eqn{p = 1 - (1 - g)^{usage}}, which is
#' secr's model with \code{details = list(fastproximity = FALSE)}; \code{engine = "secr"}
#' passes that, so both engines fit the same model. (secr's default, \code{fastproximity =
#' TRUE}, turns each unit of usage into a Bernoulli trial and truncates fractions.) Count
#' detectors are Poisson with mean \eqn{usage \times \lambda(d)} in both.
#'
#' \strong{The mask.} Give \code{mask} (points, e.g. from \code{secr::make.mask}), or
#' \code{buffer} (and \code{spacing}) to build one around the detectors as
#' \code{secr::make.mask(type = "trapbuffer")} does -- the same points for the same traps,
#' buffer and spacing. With neither, lynxid takes a buffer of 4 x the spatial scale of the
#' recaptures and widens it once if its buffer check (secr's \code{bias.D} rule: more than 1
#' \% predicted bias) finds it too small; \code{engine = "secr"} then uses that same mask.
#'
#' \strong{Identification error included.} Given the result of \code{\link{identify}} (or its
#' output folder) and the station table instead of a capture history, \code{fit_density()}
#' draws the survey's identities \code{imputations} times and fits each draw: see
#' \code{\link{fit_density.lynxid_identification}}.
#'
#' @param ch The capture history: a \code{lynxid_capture_history} from
#'   \code{\link{capture_history}} (also after saveRDS/readRDS), or secr-style tables as
#'   \code{list(traps = , captures = )}: \code{traps} with \code{trapID, x, y} and optionally
#'   \code{usage_1..usage_K} and \code{session}; \code{captures} with \code{ID, occasion,
#'   trapID} and optionally \code{session} and \code{count} (data frames or CSV paths). Or
#'   the result of \code{\link{identify}} or its output folder, for density with
#'   identification error included (\code{\link{fit_density.lynxid_identification}}).
#' @param detectfn Detection function: \code{"HN"}, \code{"HR"}, \code{"EX"} (\eqn{g_0 f(d)})
#'   or the hazard forms \code{"HHN"}, \code{"HHR"}, \code{"HEX"} (\eqn{\lambda_0 f(d)}).
#' @param buffer Mask buffer in metres (cells within this distance of a detector).
#' @param spacing Mask cell side in metres (default: 64 cells across the buffered detector
#'   rectangle, as secr).
#' @param mask A mask: a data frame with \code{x} and \code{y} (a secr \code{mask} works; its
#'   spacing is used), the path of a CSV file, or a list of them by session.
#' @param engine \code{"lynxid"} (default) or \code{"secr"} (needs the secr package).
#' @param detector For secr-style tables: \code{"proximity"} (default) or \code{"count"}.
#'   A \code{lynxid_capture_history} knows its own.
#' @param D_per_session One density per session (secr's \code{D ~ session}) instead of one
#'   shared by all sessions (\code{D ~ 1}); detection parameters are always shared.
#' @param ... \code{occasions}: for secr-style tables without usage columns, the number of
#'   occasions (every detector worked on each); further arguments for the engine: lynxid's
#'   \code{start} (named list, natural scale), \code{poly} (habitat polygon, a two-column
#'   matrix of vertices), \code{check_buffer}, \code{max_iter}; or \code{secr::secr.fit}'s
#'   (e.g. \code{ncores}).
#' @return An object of class \code{lynxid_density}: a list with \code{estimates} (session,
#'   parameter, estimate, SE, lcl, ucl, unit; \code{D} per hectare, \code{D_100km2} per 100
#'   km^2, \code{g0} or \code{lambda0}, \code{sigma}, \code{z}, \code{EN} the expected number
#'   of animals in the mask), \code{coefficients} (link scale), \code{vcov}, \code{logLik},
#'   \code{AIC}, \code{AICc}, \code{npar}, \code{n} (animals), \code{convergence},
#'   \code{buffer_check}, \code{mask} and \code{traps} (with total usage), \code{engine},
#'   \code{detectfn}, \code{detector} and \code{seconds}; with \code{engine = "secr"} also
#'   \code{secr}, the \code{secr.fit} result. Methods: \code{print}, \code{summary},
#'   \code{coef}, \code{confint}, \code{predict}, \code{plot}, \code{vcov}, \code{logLik}
#'   (so \code{AIC()} works).
#' @seealso \code{\link{capture_history}}, \code{\link{predict.lynxid_density}},
#'   \code{\link{plot.lynxid_density}}, \code{\link{fit_density.lynxid_identification}}
#' @examples
#' \dontrun{
#' ch <- capture_history(det, "stations.csv", occasion_length = 5)
#' fit <- fit_density(ch, detectfn = "HHN", buffer = 15000, spacing = 1000)
#' fit
#' confint(fit)
#' plot(fit, "detection")
#' plot(fit, "surface")
#' # the same model fitted by secr, on the same data and mask
#' fit_secr <- fit_density(ch, detectfn = "HHN", buffer = 15000, spacing = 1000, engine = "secr")
#' cbind(lynxid = coef(fit)$beta, secr = coef(fit_secr)$beta)
#' }
#' if (lynxid_available()) {
#'   traps <- expand.grid(x = seq(0, 2000, 500), y = seq(0, 2000, 500))
#'   traps <- data.frame(trapID = paste0("T", seq_len(nrow(traps))), traps)
#'   captures <- data.frame(ID = c(1, 1, 1, 2, 2, 3, 3, 3, 4, 5, 5),
#'                          occasion = c(1, 2, 4, 1, 3, 2, 3, 5, 4, 1, 5),
#'                          trapID = c("T1", "T2", "T6", "T13", "T14", "T20", "T25", "T19",
#'                                     "T8", "T9", "T9"))
#'   fit <- fit_density(list(traps = traps, captures = captures), detectfn = "HN",
#'                      buffer = 1500, spacing = 100, occasions = 5)
#'   fit
#' }
#' @export
fit_density <- function(ch, ...) UseMethod("fit_density")

#' @rdname fit_density
#' @export
fit_density.default <- function(ch, detectfn = "HHN", buffer = NULL, spacing = NULL, mask = NULL,
                                engine = c("lynxid", "secr"), detector = NULL, D_per_session = FALSE, ...) {
  engine <- match.arg(engine)
  detectfn <- match.arg(detectfn, c("HN", "HR", "EX", "HHN", "HHR", "HEX"))
  if (!is.null(mask) && !is.null(buffer)) stop("give mask or buffer, not both", call. = FALSE)
  dots <- list(...)
  occasions <- dots$occasions
  dots$occasions <- NULL
  data <- density_data(ch, detector, occasions)
  call <- generic_call(match.call())         # fit_density(...), as the user wrote it
  if (engine == "lynxid") {
    fit <- lynxid_engine(data, detectfn, buffer, spacing, mask, D_per_session, dots)
  } else {
    fit <- secr_engine(data, detectfn, buffer, spacing, mask, D_per_session, dots)
  }
  fit$call <- call
  fit
}

# The capture history as lynxid.scr_data.SCRData: the data both engines fit, checked by
# Python (captures at unknown detectors, occasions beyond the usage, detections while a
# detector was off are errors there).
density_data <- function(ch, detector, occasions) {
  api <- py_lynxid()
  if (inherits(ch, "lynxid_capture_history")) {
    if (!is.null(detector) && !identical(detector, ch$detector)) {
      stop("this capture history has ", ch$detector, " detectors; detector = goes with secr-style tables",
           call. = FALSE)
    }
    return(py_call(py_lynxid("rinterop")$from_capture_history(py_capture_history(ch))))
  }
  if (is.list(ch) && !is.data.frame(ch) && all(c("traps", "captures") %in% names(ch))) {
    detector <- match.arg(detector %||% ch$detector %||% "proximity", c("proximity", "count"))
    tr <- density_table(ch$traps, "traps", keep = c("x", "y", "^usage_"))
    cp <- density_table(ch$captures, "captures", keep = c("occasion", "count"))
    return(py_call(api$read_secr_tables(tr, cp, detector,
                                        occasions = if (is.null(occasions)) NULL else as.integer(occasions))))
  }
  stop("ch must be a capture history from capture_history() or secr-style tables as ",
       "list(traps = , captures = ) (data frames or CSV paths), or identify()'s result with the station table ",
       "(density with identification error included)", call. = FALSE)
}

# py_capture_history(): see capture.R (the live Python object, or rebuilt from the R tables).

# A secr-style table for Python: IDs (every column but the numeric ones named in `keep`, a
# regular expression each) as text, so "1" and 1 are the same animal or detector.
density_table <- function(x, what, keep) {
  if (is.character(x) && length(x) == 1) {
    if (!file.exists(x)) stop(what, " file not found: ", x, call. = FALSE)
    x <- utils::read.csv(x, check.names = FALSE, stringsAsFactors = FALSE)
  }
  if (!is.data.frame(x)) stop(what, " must be a data frame or the path of a CSV file", call. = FALSE)
  x <- as.data.frame(x, stringsAsFactors = FALSE)
  numeric_col <- Reduce(`|`, lapply(keep, function(k) grepl(if (startsWith(k, "^")) k else paste0("^", k, "$"),
                                                             tolower(names(x)))))
  for (i in which(!numeric_col)) x[[i]] <- as.character(x[[i]])
  r_to_pandas(x)
}

# The mask argument for Python: data frames cross as pandas (with a secr mask's spacing).
py_mask_arg <- function(mask) {
  one <- function(m) {
    if (is.character(m) && length(m) == 1) {
      if (!file.exists(m)) stop("mask file not found: ", m, call. = FALSE)
      return(normalizePath(m))
    }
    if (!is.data.frame(m)) stop("mask must be a data frame with x and y, a CSV path, or a list of them", call. = FALSE)
    sp <- attr(m, "spacing")
    pts <- r_to_pandas(data.frame(x = as.numeric(m$x), y = as.numeric(m$y)))
    if (is.null(sp)) pts else py_lynxid("rinterop")$Mask$from_points(pts, as.numeric(sp))
  }
  if (is.null(mask)) return(NULL)
  if (is.list(mask) && !is.data.frame(mask)) {
    out <- lapply(mask, one)
    return(if (is.null(names(mask))) out else reticulate::dict(out))
  }
  one(mask)
}

lynxid_engine <- function(data, detectfn, buffer, spacing, mask, D_per_session, dots) {
  api <- py_lynxid()
  bridge <- py_lynxid("rinterop")
  if (!is.null(dots$start)) dots$start <- reticulate::dict(lapply(dots$start, as.numeric))
  if (!is.null(dots$poly)) {                  # vertices as [x, y] pairs (R matrices do not cross to numpy 2)
    poly <- as.matrix(dots$poly)
    dots$poly <- lapply(seq_len(nrow(poly)), function(i) as.numeric(poly[i, 1:2]))
  }
  args <- c(list(api$fit_density, data, detectfn, mask = py_mask_arg(mask),
                 buffer = if (is.null(buffer)) NULL else as.numeric(buffer),
                 spacing = if (is.null(spacing)) NULL else as.numeric(spacing), D_per_session = D_per_session), dots)
  res <- py_call(do.call(bridge$call_recording_warnings, args))
  for (w in reticulate::py_to_r(res[["warnings"]])) warning(w, call. = FALSE)
  fit <- res[["value"]]
  parts <- rebuild(reticulate::py_to_r(bridge$density_fit_to_r(fit)))
  out <- density_object(parts, "lynxid")
  attr(out, "py") <- fit
  out
}

# The lynxid_density object from the parts both engines produce (density_fit_to_r's shape).
density_object <- function(p, engine) {
  vc <- as.matrix(p$vcov)
  dimnames(vc) <- list(unlist(p$names), unlist(p$names))
  co <- p$coefficients
  rownames(co) <- co$parameter
  co$parameter <- NULL
  mask_info <- data.frame(session = unlist(p$sessions), points = as.vector(table(factor(p$mask$session,
                                                                                     levels = unlist(p$sessions)))),
                          spacing = unlist(p$mask_spacing),
                          buffer = vapply(p$mask_buffer, function(b) if (is.null(b)) NA_real_ else b, 0),
                          stringsAsFactors = FALSE)
  mask_info$area_ha <- mask_info$points * mask_info$spacing^2 / 1e4
  structure(list(engine = engine, detectfn = p$detectfn, detector = p$detector, sessions = unlist(p$sessions),
                 estimates = p$estimates, coefficients = co, vcov = vc, det_names = unlist(p$det_names),
                 D_per_session = isTRUE(p$D_per_session), logLik = p$logLik, AIC = p$AIC,
                 AICc = if (is.null(p$AICc)) NA_real_ else p$AICc, npar = p$npar, n = p$n,
                 convergence = list(converged = isTRUE(p$convergence$converged), message = p$convergence$message,
                                    problems = unlist(p$convergence$problems)),
                 buffer_check = p$buffer_check, mask = p$mask, mask_info = mask_info, traps = p$traps,
                 seconds = p$seconds),
            class = "lynxid_density")
}

# secr_engine(): see density_secr.R; the methods: density_methods.R.
