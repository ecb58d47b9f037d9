# Human review of uncertain matches: the HTML report, the decisions file, and growing the
# catalogue. Front ends to lynxid.review, lynxid.decisions and lynxid.enrol.

#' Review uncertain and new identifications in a browser
#'
#' Writes a single self-contained HTML page (all images embedded; it opens in any browser
#' and in RStudio's viewer, and can be e-mailed) with one card per animal the machine is
#' unsure about or calls new, least certain first -- or, after a density fit with
#' identification error included, those whose review is expected to cut the identification
#' part of the density's variance most first (\code{priority}): its photos, and beside them its best
#' catalogue candidates with their probabilities and the matching coat-pattern keypoints
#' drawn between the two crops. For each card the reviewer clicks \emph{Confirm},
#' \emph{It is <candidate>}, \emph{New individual} (optionally naming it), \emph{Reassign
#' to} an ID, or \emph{Reject} (not a lynx, unusable); keyboard: \kbd{j}/\kbd{k} move,
#' \kbd{c} confirm, \kbd{1}-\kbd{9} candidate, \kbd{n} new, \kbd{x} reject. Decisions are kept
#' in the browser while working; \emph{Download decisions.csv} saves them.
#'
#' Then \code{\link{save_decisions}} adds the downloaded file to the results folder and
#' rerunning \code{\link{identify}} with the same \code{out} applies them (quickly: features
#' are cached). The decisions file keeps every decision made; a rerun never loses them.
#'
#' @param results The \code{out} folder of \code{\link{identify}}, or its result (a
#'   \code{lynxid_identification} written to a folder).
#' @param catalogue The catalogue used for identification (folder or \code{lynxid_catalogue}).
#' @param file The HTML file to write (default \code{results/review.html}).
#' @param which \code{"uncertain"} (flagged for review or new; default), \code{"new"} or
#'   \code{"all"}.
#' @param max_items At most this many animals (the first in the page's order).
#' @param open Open the page: in RStudio's viewer when available, else the browser.
#' @param progress Show a progress bar.
#' @param priority The order of the cards. \code{NULL} (default): the order in
#'   \code{results/review_priority.csv} when there is one -- written by
#'   \code{\link{fit_density}(res, stations, imputations = K)} (or the command line's
#'   \code{lynxid density fit --imputations}): the units whose review is expected to cut
#'   the identification part of the density's variance most first (\code{\link{rank_for_review}}), then those it did not
#'   rank, least certain first; else least certain first. \code{FALSE}: least certain first.
#'   Or that order itself: a \code{lynxid_density_imputed} or its \code{rank_for_review()}
#'   table. Each ranked card says its rank and how much its review is expected to cut the
#'   identification share of the variance.
#' @return The path of the HTML file, invisibly.
#' @seealso \code{\link{save_decisions}}, \code{\link{read_decisions}}, \code{\link{add_reviewed}},
#'   \code{\link{rank_for_review}}
#' @examples
#' \dontrun{
#' res <- identify("survey", "catalogue", out = "results")
#' review_report(res, "catalogue")
#' # ... review, download decisions.csv, then:
#' save_decisions("~/Downloads/decisions.csv", "results")
#' res <- identify("survey", "catalogue", out = "results")   # decisions applied
#' }
#' @export
review_report <- function(results, catalogue, file = NULL, which = c("uncertain", "new", "all"),
                          max_items = NULL, open = interactive(), progress = interactive(), priority = NULL) {
  which <- match.arg(which)
  api <- py_lynxid()
  res <- results_dir(results)
  root <- catalogue_root(catalogue)
  if (inherits(priority, "lynxid_density_imputed")) priority <- rank_for_review(priority)
  if (is.data.frame(priority)) {
    priority <- r_to_pandas(priority)
  } else if (!is.null(priority) && !isFALSE(priority)) {
    stop("priority must be NULL, FALSE, a density fit with imputations or its rank_for_review() table",
         call. = FALSE)
  }
  path <- py_call(api$review_report(res, root, if (is.null(file)) NULL else normalizePath(file, mustWork = FALSE),
                                    which = which, max_items = if (is.null(max_items)) NULL else as.integer(max_items),
                                    progress = progress, priority = priority))
  path <- py_path(path)
  message("review page written: ", path)
  if (open) open_html(path)
  invisible(path)
}

results_dir <- function(results) {
  if (inherits(results, "lynxid_identification")) {
    if (is.null(results$out)) {
      stop("this identification was not written to a folder: run identify() with out = ...", call. = FALSE)
    }
    results <- results$out
  } else if (is.data.frame(results)) {
    stop("give the out folder of identify() or its result, not a table of detections", call. = FALSE)
  }
  dir <- existing_path(results, "identify results folder", "run identify() with out = ...")
  if (!file.exists(file.path(dir, "detections.parquet"))) {
    stop("no detections.parquet in ", dir, ": give the out folder of identify()", call. = FALSE)
  }
  dir
}

open_html <- function(path) {
  viewer <- getOption("viewer")
  if (!is.null(viewer)) {
    # RStudio's viewer shows files under the session's temporary folder only
    tmp <- file.path(tempfile("lynxid-review"), basename(path))
    dir.create(dirname(tmp))
    file.copy(path, tmp)
    viewer(tmp)
  } else {
    utils::browseURL(path)
  }
}

#' Read a reviewer's decisions
#'
#' @param file A decisions CSV (as downloaded from the review page) or Parquet file, or the
#'   results folder of \code{\link{identify}} (its \code{decisions.csv}).
#' @param latest Keep only the latest decision per detection (the one that counts).
#' @return A data frame with \code{detection_id}, \code{event_id}, \code{file},
#'   \code{action} (\code{"confirm"}, \code{"reassign"}, \code{"new"} or \code{"reject"}),
#'   \code{individual_id}, \code{reviewer}, \code{timestamp} (ISO 8601 text) and
#'   \code{note}. Invalid rows stop with an error naming the row.
#' @examples
#' f <- tempfile(fileext = ".csv")
#' writeLines(c("detection_id,event_id,file,action,individual_id,reviewer,timestamp,note",
#'              "S01/A/IMG_0001.JPG#0,EV00001,S01/A/IMG_0001.JPG,reassign,L04,ana,2025-03-01T10:00:00Z,"), f)
#' if (lynxid_available()) read_decisions(f)
#' @export
read_decisions <- function(file, latest = FALSE) {
  api <- py_lynxid()
  path <- existing_path(file, "decisions file")
  if (dir.exists(path)) path <- file.path(path, "decisions.csv")
  d <- py_call(api$read_decisions(existing_path(path, "decisions file", "nothing reviewed yet?")))
  if (latest) d <- py_lynxid("rinterop")$latest_decisions(d)
  as_user_frame(from_py(d))
}

#' Add decisions to the results folder
#'
#' Appends a reviewer's decisions (e.g. the \code{decisions.csv} downloaded from the review
#' page) to \code{results/decisions.csv}, which keeps every decision ever made; for each
#' detection the latest counts. \code{\link{identify}} applies them on its next run into the
#' same folder.
#'
#' @param decisions A decisions file or a data frame with the columns of
#'   \code{\link{read_decisions}} (at least \code{detection_id} and \code{action}).
#' @param results The \code{out} folder of \code{\link{identify}}.
#' @return The path of \code{results/decisions.csv}, invisibly.
#' @examples
#' res <- tempfile("results")
#' dir.create(res)
#' d <- data.frame(detection_id = "S01/A/IMG_0001.JPG#0", action = "reject", note = "a fox")
#' if (lynxid_available()) {
#'   save_decisions(d, res)
#'   read_decisions(res)
#' }
#' @export
save_decisions <- function(decisions, results) {
  api <- py_lynxid()
  dir <- existing_path(results, "results folder")
  src <- if (is.data.frame(decisions)) {
    r_to_pandas(as.data.frame(lapply(decisions, as.character), stringsAsFactors = FALSE))
  } else existing_path(decisions, "decisions file")
  p <- py_call(api$save_decisions(src, dir))
  invisible(py_path(p))
}

#' Apply a reviewer's decisions to identified detections
#'
#' What \code{\link{identify}} does on a rerun, without rerunning it: per detection the
#' latest decision overrides the machine's call (\code{confirm} keeps the identity,
#' \code{reassign} sets the given ID with probability 1, \code{new} makes it a new
#' individual, \code{reject} removes the individual so that capture histories leave the
#' detection out, reported).
#'
#' @param x The result of \code{\link{identify}} (or its detections table).
#' @param decisions Decisions: file, results folder or data frame (see \code{\link{read_decisions}}).
#' @param catalogue The catalogue (to know which IDs are known individuals).
#' @return \code{x} with the detections' \code{individual_id}, \code{probability},
#'   \code{p_new}, \code{is_new}, \code{needs_review}, \code{decision},
#'   \code{machine_individual_id} and \code{reviewed_by} updated (and, for an identification,
#'   \code{$summary$review}: the decisions applied); decisions that match no detection are
#'   reported in a warning.
#' @examples
#' \dontrun{
#' res2 <- apply_decisions(res, "results", "catalogue")
#' }
#' @export
apply_decisions <- function(x, decisions, catalogue) {
  api <- py_lynxid()
  bridge <- py_lynxid("rinterop")
  known <- catalogue(catalogue_root(catalogue))$individuals
  dec <- if (is.data.frame(decisions)) decisions_arg(decisions) else {
    p <- existing_path(decisions, "decisions file")
    if (dir.exists(p)) existing_path(file.path(p, "decisions.csv"), "decisions file") else p
  }
  det <- detections_table(x, "x")
  cols <- c("detection_id", "file", "individual_id", "probability", "p_new", "is_new", "needs_review", "decision")
  miss <- setdiff(cols, names(det))
  if (length(miss)) stop("x lacks the column(s) ", paste(miss, collapse = ", "), ": give identify()'s result", call. = FALSE)
  iss <- bridge$Issues()
  res <- py_call(api$apply_decisions(r_to_pandas(det[, cols]), dec, known = as.list(known), issues = iss))
  upd <- from_py(reticulate::py_get_item(res, 0L))
  for (k in c(setdiff(cols, c("detection_id", "file")), "machine_individual_id", "reviewed_by")) det[[k]] <- upd[[k]]
  if (inherits(x, "lynxid_identification")) {
    x$detections <- det
    x$summary$review <- from_py(reticulate::py_get_item(res, 1L))
  } else {
    x[names(det)] <- det
  }
  t <- from_py(iss$table())
  un <- t[t$stage == "review" & t$severity == "warning", , drop = FALSE]
  if (nrow(un)) warning(nrow(un), " decision(s) match no detection: ", paste(utils::head(un$file, 5), collapse = ", "),
                        call. = FALSE)
  x
}

#' Grow the catalogue with reviewed detections
#'
#' Adds every detection whose identity a reviewer confirmed, reassigned or declared new
#' (as a reference of that individual) to the catalogue and refits its identification
#' model, so the next survey recognises them. Machine calls nobody reviewed are never added.
#'
#' @param catalogue Catalogue folder or \code{lynxid_catalogue}.
#' @param results The \code{out} folder of \code{\link{identify}} (rerun after the review so
#'   that the decisions are applied), or its result.
#' @param include_new Also add animals the reviewer declared new.
#' @param progress Show progress bars.
#' @return The updated \code{lynxid_catalogue}, with the added detections in
#'   \code{attr(x, "added")}.
#' @examples
#' \dontrun{
#' cat <- add_reviewed("catalogue", "results")
#' }
#' @export
add_reviewed <- function(catalogue, results, include_new = TRUE, progress = interactive()) {
  api <- py_lynxid()
  root <- catalogue_root(catalogue)
  res <- py_call(api$add_reviewed(root, results_dir(results), include_new = include_new,
                                  progress = progress))
  cat <- catalogue_from_py(reticulate::py_get_item(res, 0L))
  added <- from_py(reticulate::py_get_item(res, 1L))
  attr(cat, "added") <- as_user_frame(added)
  message(nrow(added), " reviewed detection(s) added to the catalogue")
  cat
}
