# A capture history in the form each program reads: secr, oSCR, nimble/JAGS, Rcapture, RMark.
# Each converter takes a lynxid_capture_history (capture.R); the forms come from the Python
# side's one registry of views (lynxid.export.VIEWS, the same tables the files of
# write_capture_history() hold), except secr's capthist, filled in R from the detections the
# object already holds (secr.R).

check_capture_history <- function(ch, fun) {
  if (!inherits(ch, "lynxid_capture_history")) {
    stop(fun, "() needs a capture history from capture_history()", call. = FALSE)
  }
}

# One session's value as it is, several as a list named by session.
one_or_list <- function(l) if (length(l) == 1) l[[1]] else l

#' Convert a capture history for secr, oSCR, nimble/JAGS, Rcapture or RMark
#'
#' \code{as_capthist()}: a secr \code{capthist} when secr is installed -- filled directly from
#' the detections, with the traps (usage, covariates), session and names that
#' \code{secr::make.capthist} gives (\code{options(lynxid.secr_builder = "make.capthist")} has
#' make.capthist build all of it, slower for long surveys) -- else its ingredients (class
#' \code{lynxid_secr_data}: \code{captures}, \code{traps}, \code{usage}, \code{noccasions},
#' \code{detector}).
#'
#' \code{as_oscr()}: oSCR's inputs, \code{edf} (session, individual, occasion, trap), per
#' session \code{tdf} (trap, X, Y, trap operation \code{op.1}, ...), \code{y3d} (individual x
#' trap x occasion counts), \code{trap_operation} (1/0) and \code{effort} (days), and \code{K},
#' for \code{oSCR::data2oscr} / \code{make.scrFrame}.
#'
#' \code{as_nimble()}: the data of a Bayesian SCR model in nimble or JAGS: \code{y[i,j,k]}
#' (individual x detector x occasion, with data augmentation: rows \code{n+1..M} are zeros),
#' \code{y2d} (summed over occasions), \code{effort} (days) and \code{operation} (1/0) per
#' detector and occasion, \code{X} (coordinates), \code{K_j} (occasions each detector
#' operated), \code{M}, \code{n}, \code{J}, \code{K}; one list per session (a list of them
#' with several sessions). The same M as the nimble files of \code{\link{write_capture_history}}.
#'
#' \code{as_closed()}: the individual x occasion 0/1 matrix (detected anywhere) of closed
#' capture-recapture, for Rcapture (a list of them with several sessions).
#'
#' \code{as_rmark()}: RMark's data frame, \code{ch} (the history as text: leading zeros kept;
#' "." for occasions a session does not have), \code{freq}, \code{individual}, \code{session}.
#'
#' All of them work from the R object alone (also after \code{saveRDS()}/\code{readRDS()}).
#'
#' @param ch A \code{lynxid_capture_history} from \code{\link{capture_history}}.
#' @param augment_to Data augmentation: the rows M of \code{y}; \code{NULL} (default):
#'   \code{max(5 n, n + 1)} for the \code{n} individuals detected in each session.
#' @return See the description.
#' @seealso \code{\link{capture_history}}, \code{\link{write_capture_history}}
#' @examples
#' stations <- data.frame(Station = c("A", "B"), utm_x = c(500000, 502000),
#'                        utm_y = c(5200000, 5200000),
#'                        Setup_date = c("2024-03-01", "2024-03-01"),
#'                        Retrieval_date = c("2024-03-11", "2024-03-11"))
#' detections <- data.frame(station = c("A", "B", "A"), individual_id = c("L1", "L1", "L2"),
#'                          timestamp = c("2024-03-02 21:10:00", "2024-03-05 03:40:00",
#'                                        "2024-03-05 22:00:00"))
#' if (lynxid_available()) {
#'   ch <- capture_history(detections, stations, occasion_length = 5)
#'   as_capthist(ch)                  # secr (its ingredients without secr)
#'   as_closed(ch)
#'   as_rmark(ch)
#'   dim(as_nimble(ch, augment_to = 10)$y)
#'   as_oscr(ch)$edf
#' }
#' @export
as_capthist <- function(ch) {
  check_capture_history(ch, "as_capthist")
  covs <- as.character(unlist(reticulate::py_to_r(py_lynxid("rinterop")$trap_covariates(py_capture_history(ch)))))
  secr_capthist(secr_ingredients(ch, covs))         # secr.R
}

#' @rdname as_capthist
#' @export
as_oscr <- function(ch) {
  check_capture_history(ch, "as_oscr")
  d <- from_py(py_call(py_lynxid("rinterop")$view(py_capture_history(ch), "oscr")))
  sess <- ch$sessions
  for (i in seq_along(d$y3d)) {
    ids <- ch$individuals$individual[ch$individuals$session == sess[i]]
    dimnames(d$y3d[[i]]) <- list(ids, rownames(ch$usage[[i]]), colnames(ch$usage[[i]]))
    dimnames(d$trap_operation[[i]]) <- dimnames(d$effort[[i]]) <- dimnames(ch$usage[[i]])
  }
  names(d$tdf) <- names(d$y3d) <- names(d$trap_operation) <- names(d$effort) <- sess
  d$K <- stats::setNames(as.integer(unlist(d$K)), sess)
  d$sessions <- NULL
  d
}

#' @rdname as_capthist
#' @export
as_nimble <- function(ch, augment_to = NULL) {
  check_capture_history(ch, "as_nimble")
  d <- from_py(py_call(py_lynxid("rinterop")$view(py_capture_history(ch), "nimble",
                                                augment_to = if (is.null(augment_to)) NULL else as.integer(augment_to))))
  one_or_list(lapply(d, function(s) {
    dets <- unlist(s$detectors)
    occ <- unlist(s$occasions)
    ids <- c(unlist(s$individuals), if (s$M > s$n) paste0("aug", seq_len(s$M - s$n)) else NULL)
    y <- s$y
    if (length(dim(y)) < 3) y <- array(y, dim = c(s$M, s$J, s$K))
    dimnames(y) <- list(ids, dets, occ)
    s$y <- y
    s$y2d <- matrix(s$y2d, nrow = s$M, ncol = s$J, dimnames = list(ids, dets))
    s$effort <- matrix(s$effort, nrow = s$J, ncol = s$K, dimnames = list(dets, occ))
    s$operation <- matrix(s$operation, nrow = s$J, ncol = s$K, dimnames = list(dets, occ))
    s$X <- matrix(s$X, nrow = s$J, ncol = 2, dimnames = list(dets, c("x", "y")))
    s$K_j <- stats::setNames(as.integer(s$K_j), dets)
    s$individuals <- unlist(s$individuals)
    s$detectors <- dets
    s$occasions <- occ
    s
  }))
}

#' @rdname as_capthist
#' @export
as_closed <- function(ch) {
  check_capture_history(ch, "as_closed")
  m <- from_py(py_call(py_lynxid("rinterop")$view(py_capture_history(ch), "closed")))
  one_or_list(lapply(split(m, factor(m$session, levels = ch$sessions)), function(d) {
    mm <- as.matrix(d[, grepl("^o[0-9]+$", names(d)), drop = FALSE])
    storage.mode(mm) <- "integer"
    rownames(mm) <- d$individual
    mm
  }))
}

#' @rdname as_capthist
#' @export
as_rmark <- function(ch) {
  check_capture_history(ch, "as_rmark")
  r <- from_py(py_call(py_lynxid("rinterop")$view(py_capture_history(ch), "rmark")))
  r$ch <- as.character(r$ch)
  r
}

# ch$data: filled only by the deprecated capture_history(format =); without it, the secr
# capthist that was the default, with a warning that names the converter.
#' @export
`$.lynxid_capture_history` <- function(x, name) {
  if (identical(name, "data") && !"data" %in% names(x)) {
    .Deprecated(msg = paste0("ch$data is deprecated and will be removed: use as_capthist(ch) (secr), as_oscr(ch), ",
                             "as_nimble(ch), as_closed(ch) or as_rmark(ch)"))
    return(as_capthist(x))
  }
  .subset2(x, name)
}
