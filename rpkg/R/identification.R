# The result of identify(): the lynxid_identification object, reading it back from an output
# folder, its candidates as a long table, and its methods (print, summary, plot,
# as.data.frame, tibble's as_tibble). Everything in it comes from the Python side
# (lynxid.results, lynxid.rinterop.identification_to_r): R only builds the object.

# The object from a Python IdentifyResult: one crossing (detections, candidates, issues, summary,
# and the posterior and unit pairs that fit_density(res, stations, imputations = K) draws from).
identification_from_py <- function(res, out, catalogue) {
  p <- rebuild(reticulate::py_to_r(py_lynxid("rinterop")$identification_to_r(res)))
  new_identification(p$detections, p$candidates, p$summary, p$issues, out, catalogue, p$posterior, p$unit_pairs)
}

new_identification <- function(detections, candidates, summary, issues, out, catalogue, posterior = NULL,
                               unit_pairs = NULL) {
  plain <- function(df) {
    df <- as.data.frame(df, stringsAsFactors = FALSE)
    rownames(df) <- NULL
    df
  }
  if (is.null(issues) || !ncol(issues)) {
    issues <- data.frame(file = character(), stage = character(), severity = character(), reason = character())
  }
  structure(list(detections = plain(detections), candidates = plain(candidates), summary = summary,
                 issues = plain(issues), out = out, catalogue = catalogue,
                 posterior = if (is.null(posterior)) NULL else plain(posterior),
                 unit_pairs = if (is.null(unit_pairs)) NULL else plain(unit_pairs)),
            class = "lynxid_identification")
}

#' Read identification results written by identify()
#'
#' Reads the \code{out} folder of \code{\link{identify}} (or of the command line's
#' \code{lynxid identify}) back into R: the same object, with the same columns and types.
#'
#' @param results The folder.
#' @return A \code{lynxid_identification}, as \code{\link{identify}} returns it.
#' @examples
#' \dontrun{
#' res <- read_results("results")
#' summary(res)
#' }
#' @export
read_results <- function(results) {
  api <- py_lynxid()
  dir <- results_dir(results)
  res <- py_call(api$IdentifyResult$read(dir))
  x <- identification_from_py(res, dir, NULL)
  x$catalogue <- x$summary$catalogue
  x
}

# The detections table of identify()'s result, or a data frame given as it is.
detections_table <- function(x, what = "detections") {
  if (inherits(x, "lynxid_identification")) return(x$detections)
  if (is.data.frame(x)) return(as.data.frame(x))
  stop(what, " must be the result of identify() or read_results(), or a data frame of detections", call. = FALSE)
}

# Detections for the Python side (times with their UTC offset).
py_detections <- function(x) py_table_arg(detections_table(x), "detections", "offset")

# The time zone of the detections' timestamps (to bring Python's times back in it).
detections_zone <- function(x) posix_zone(detections_table(x), "timestamp")

#' The candidates of each detection, one row per candidate
#'
#' @param x The result of \code{\link{identify}} (its \code{$candidates}), or a detections table
#'   with the \code{candidates} column of \code{detections.csv} (JSON), which the Python side
#'   reads.
#' @return A data frame with \code{detection_id}, \code{event_id}, \code{rank} (1 = best),
#'   \code{individual_id} and \code{probability}: the top catalogue candidates the machine
#'   weighed for each detection, best first.
#' @examples
#' x <- data.frame(detection_id = c("a#0", "b#0"), event_id = c("EV1", "EV2"),
#'                 candidates = c('[{"individual": "L01", "probability": 0.91}, {"individual": "L02", "probability": 0.03}]',
#'                                "[]"))
#' if (lynxid_available()) candidate_table(x)
#' @export
candidate_table <- function(x) {
  if (inherits(x, "lynxid_identification")) return(x$candidates)
  x <- detections_table(x, "x")
  miss <- setdiff(c("detection_id", "candidates"), names(x))
  if (length(miss)) {
    stop("x lacks the column(s) ", paste(miss, collapse = ", "), ": give identify()'s result", call. = FALSE)
  }
  cols <- intersect(c("detection_id", "event_id", "candidates"), names(x))
  out <- from_py(py_call(py_lynxid()$candidate_table(r_to_pandas(x[, cols, drop = FALSE]))))
  rownames(out) <- NULL
  out
}

format_identify_summary <- function(s) {
  rv <- s$review
  md <- s$megadetector
  paste0(s$images_read, " images read (", s$files_with_issues, " unusable: see $issues), ",
         s$detections, " detections in ", s$events, " events; ", s$individuals, " individuals: ",
         s$known_individuals, " known, ", s$new_individuals, " new; ", s$needs_review,
         " detections flagged for review",
         if (!is.null(rv) && isTRUE(rv$decisions > 0)) paste0("; reviewer decisions applied to ", rv$applied,
                                                              " detections") else "",
         if (isTRUE(md$images_without_entry > 0)) paste0("; ", md$images_without_entry, " of ", md$images,
                                                         " images have no entry in the MegaDetector file ",
                                                         md$file, ", so no detections (see $issues)")
         else "",
         if (identical(s$model, "default")) paste0("; decided by lynxid's default identification model (fitted on ",
                                                   "simulated lynx: the catalogue cannot fit its own yet; column ",
                                                   "'model')") else "")
}

# ---- methods --------------------------------------------------------------------------

#' Methods for identify() results
#'
#' \code{print} shows the counts and the first detections; \code{summary} adds one row per
#' individual (detections, events, stations, first and last seen: from the Python side) and
#' the decisions; \code{plot} draws the score distribution (\code{\link{plot_scores}}), the
#' capture timeline (\code{\link{plot_timeline}}) or the station map
#' (\code{\link{plot_stations}}, which needs the station table); \code{as.data.frame} and
#' \code{tibble::as_tibble} give the detections table.
#'
#' @param x,object A \code{lynxid_identification} from \code{\link{identify}} or
#'   \code{\link{read_results}}.
#' @param n Detections to show.
#' @param type \code{"scores"}, \code{"timeline"} or \code{"stations"}.
#' @param stations For \code{type = "stations"}: the station table (see \code{\link{plot_stations}}).
#' @param review_below For \code{type = "scores"}: the review threshold drawn.
#' @param row.names,optional Unused (\code{as.data.frame}'s arguments).
#' @param ... For \code{plot}: passed to \code{\link{plot_stations}} (\code{station_col},
#'   \code{x_col}, \code{y_col}); otherwise unused.
#' @return \code{print}: \code{x}, invisibly; \code{summary}: a
#'   \code{summary.lynxid_identification} (a list: \code{counts}, \code{individuals},
#'   \code{decisions}, \code{issues}); \code{plot}: a \code{ggplot}; \code{as.data.frame}: the
#'   detections.
#' @examples
#' \dontrun{
#' res <- identify("survey", "catalogue", out = "results")
#' res
#' summary(res)
#' plot(res)                                   # scores
#' plot(res, "stations", stations = "stations.csv")
#' df <- as.data.frame(res)                    # the detections, e.g. for dplyr
#' }
#' @name print.lynxid_identification
#' @export
print.lynxid_identification <- function(x, n = 6, ...) {
  d <- x$detections
  cat("lynxid identification: ", if (length(x$summary)) format_identify_summary(x$summary) else
    paste(nrow(d), "detections"), "\n", sep = "")
  if (!is.null(x$out)) cat("  written to ", x$out, "\n", sep = "")
  cols <- intersect(c("file", "station", "timestamp", "event_id", "individual_id", "probability", "needs_review",
                      "decision"), names(d))
  if (nrow(d) && n > 0) {
    print(utils::head(d[, cols, drop = FALSE], n))
    if (nrow(d) > n) cat("  ... ", nrow(d) - n, " more detection(s) in $detections\n", sep = "")
  }
  cat("  $detections, $candidates, $issues, $summary; summary(x), plot(x), as.data.frame(x)\n")
  invisible(x)
}

#' @rdname print.lynxid_identification
#' @export
summary.lynxid_identification <- function(object, ...) {
  d <- object$detections
  ind <- if (nrow(d)) {
    from_py(py_call(py_lynxid("rinterop")$individual_table(py_detections(d))), tz = detections_zone(d))
  } else data.frame(individual_id = character(), is_new = logical(), detections = integer(), events = integer(),
                    stations = integer())
  rownames(ind) <- NULL
  levels <- c("known", "new", "confirmed", "reviewed", "rejected")
  structure(list(counts = object$summary, individuals = ind,
                 decisions = table(factor(d$decision, levels = levels), dnn = NULL),
                 issues = table(object$issues$severity, dnn = NULL)),
            class = "summary.lynxid_identification")
}

#' @export
print.summary.lynxid_identification <- function(x, ...) {
  cat("Identification summary\n")
  if (length(x$counts)) cat(strwrap(format_identify_summary(x$counts), prefix = "  "), sep = "\n")
  cat("\nDecisions\n")
  print(x$decisions)
  cat("\nIndividuals (in order of first detection)\n")
  print(x$individuals, row.names = FALSE)
  if (length(x$issues)) cat("\nIssues: ", paste(names(x$issues), x$issues, sep = " ", collapse = ", "), "\n", sep = "")
  invisible(x)
}

#' @rdname print.lynxid_identification
#' @export
plot.lynxid_identification <- function(x, type = c("scores", "timeline", "stations"), stations = NULL,
                                       review_below = 0.9, ...) {
  type <- match.arg(type)
  switch(type,
         scores = plot_scores(x, review_below = review_below),
         timeline = plot_timeline(x),
         stations = {
           if (is.null(stations)) {
             stop("plot(x, \"stations\") needs the station table: plot(x, \"stations\", stations = \"stations.csv\")",
                  call. = FALSE)
           }
           plot_stations(x, stations, ...)
         })
}

#' @rdname print.lynxid_identification
#' @export
as.data.frame.lynxid_identification <- function(x, row.names = NULL, optional = FALSE, ...) {
  x$detections
}

# Registered for tibble's generic when tibble is loaded (NAMESPACE: S3method(tibble::as_tibble, ...)).
#' @exportS3Method tibble::as_tibble
as_tibble.lynxid_identification <- function(x, ...) {
  tibble::as_tibble(x$detections, ...)
}

# res$individual_id and the like: identify() returned the detections table itself before; say
# where they are now instead of giving NULL.
#' @export
`$.lynxid_identification` <- function(x, name) {
  if (!name %in% names(x) && name %in% names(.subset2(x, "detections"))) {
    stop("identify() returns a lynxid_identification: the detections' column '", name, "' is x$detections$",
         name, " (or as.data.frame(x)$", name, ")", call. = FALSE)
  }
  .subset2(x, name)
}
