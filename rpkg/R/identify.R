# Identification from R: catalogues, identify(), the simulator and the demo. Front ends to
# lynxid.enrol, lynxid.identification, lynxid.simulate and lynxid.demo; all the work is done in Python.

# A folder argument for Python: must exist; the message says what to do when it does not.
existing_path <- function(x, what, hint = NULL) {
  if (inherits(x, "lynxid_catalogue")) x <- x$path
  if (inherits(x, "lynxid_survey")) x <- x$root
  if (!is.character(x) || length(x) != 1 || is.na(x)) stop(what, " must be a single path", call. = FALSE)
  if (!file.exists(x)) stop(what, " not found: ", x, if (!is.null(hint)) paste0(" (", hint, ")"), call. = FALSE)
  normalizePath(x)
}

optional_path <- function(x, what) if (is.null(x)) NULL else existing_path(x, what)

catalogue_root <- function(x) {
  root <- existing_path(x, "catalogue", "build one with build_catalogue()")
  if (!file.exists(file.path(root, "catalogue.json"))) {
    stop("no catalogue at ", root, " (catalogue.json missing): build one with build_catalogue(\"", root,
         "\", images = \"<folder of labelled photos>\")", call. = FALSE)
  }
  root
}

# ---- catalogues -----------------------------------------------------------------------

#' Build a catalogue of known individuals
#'
#' Reads labelled reference photos of known individuals, computes their features (a global
#' image embedding and local features -- keypoints and a dense CNN grid -- of the coat pattern), fits the identification model
#' on them (calibrated probabilities and the threshold for "new individual", chosen by
#' leave-one-out on the catalogue) and saves everything in the folder \code{path}.
#'
#' Reference photos are organised as one folder per individual
#' (\code{images/<ID>/*.jpg}) or tagged with the XMP keyword \code{individual|ID} (camtrapR's
#' convention). The flank is read from "left"/"right" in the file names and the sighting
#' (photos taken together) from the part of the name before "_".
#'
#' @param path Folder for the new catalogue (must not hold one yet).
#' @param images Folder of labelled reference photos.
#' @param megadetector MegaDetector batch output (JSON) with the animals' boxes in
#'   \code{images}; \code{NULL} uses each whole photo.
#' @param backbone Image model; the default works offline.
#' @param weights Optional local weights file for \code{backbone}.
#' @param threshold MegaDetector confidence threshold.
#' @param local Use local features (keypoints and the dense grid) as well as the global embedding (slower, more accurate).
#' @param target What the known/new decision is tuned for: \code{"gmean"} (geometric mean of
#'   the accuracy on known and on new animals) or \code{"balanced"} (their mean).
#' @param progress Show progress bars.
#' @param metric Learn a metric for the embedding on the catalogue (kept only where it ranks
#'   the catalogue's animals better): \code{"shortlist"} (default: it chooses which animals
#'   local matching checks, the fused score keeps the plain cosine), \code{"off"} or
#'   \code{"on"} (also in the fused score).
#' @return A \code{lynxid_catalogue}: a list with \code{path}, \code{individuals},
#'   \code{n_references}, \code{diagnostics} (leave-one-out accuracy of the fitted model:
#'   \code{baks} known called correctly, \code{baus} unknown called new, \code{ece_top1}
#'   calibration error of the best candidate's raw probability, \code{ece_all_pairs} of all
#'   candidates, \code{ece_reported_in_sample} of the probability \code{identify()} reports
#'   (after its map, on the decisions the map was fitted on)) and \code{issues} (photos not
#'   used, with the reason).
#' @seealso \code{\link{add_to_catalogue}}, \code{\link{identify}}
#' @examples
#' \donttest{
#' if (lynxid_available()) {
#'   sim <- simulate_survey(tempfile("sim"), n_individuals = 4, n_known = 3, n_days = 10,
#'                          max_detections = 4, progress = FALSE)
#'   cat <- build_catalogue(tempfile("catalogue"), sim$catalogue_images,
#'                          megadetector = sim$catalogue_megadetector)
#'   cat
#' }
#' }
#' @export
build_catalogue <- function(path, images, megadetector = NULL, backbone = "efficientnet-lite0", weights = NULL,
                            threshold = 0.2, local = TRUE, target = c("gmean", "balanced"),
                            progress = interactive(), metric = c("shortlist", "off", "on")) {
  target <- match.arg(target)
  metric <- match.arg(metric)
  api <- py_lynxid()
  images <- existing_path(images, "images folder")
  md <- optional_path(megadetector, "MegaDetector file")
  if (file.exists(file.path(path, "catalogue.json"))) {
    stop("a catalogue already exists at ", path, "; use add_to_catalogue() to add photos to it", call. = FALSE)
  }
  cat <- py_call(api$build_catalogue(normalizePath(path, mustWork = FALSE), images, megadetector = md,
                                     backbone = backbone, weights = weights, threshold = threshold,
                                     local = local, target = target, progress = progress, metric = metric))
  catalogue_from_py(cat)
}

#' Add reference photos to a catalogue
#'
#' Adds labelled photos (organised as for \code{\link{build_catalogue}}) to an existing
#' catalogue and refits its identification model. Photos already in it are skipped.
#'
#' @param catalogue A catalogue folder or a \code{lynxid_catalogue}.
#' @inheritParams build_catalogue
#' @param target \code{NULL} keeps the catalogue's setting.
#' @return The updated \code{lynxid_catalogue}.
#' @seealso \code{\link{add_reviewed}} to add the detections a reviewer confirmed.
#' @examples
#' \dontrun{
#' cat <- add_to_catalogue("catalogue", "new_reference_photos")
#' }
#' @export
add_to_catalogue <- function(catalogue, images, megadetector = NULL, threshold = 0.2, target = NULL,
                             progress = interactive()) {
  api <- py_lynxid()
  root <- catalogue_root(catalogue)
  images <- existing_path(images, "images folder")
  cat <- py_call(api$add_to_catalogue(root, images, megadetector = optional_path(megadetector, "MegaDetector file"),
                                      threshold = threshold, target = target, progress = progress))
  catalogue_from_py(cat)
}

#' Open a catalogue
#'
#' @param path Catalogue folder.
#' @return A \code{lynxid_catalogue} (see \code{\link{build_catalogue}}).
#' @examples
#' \dontrun{
#' cat <- catalogue("catalogue")
#' cat$individuals
#' }
#' @export
catalogue <- function(path) {
  api <- py_lynxid()
  root <- catalogue_root(path)
  catalogue_from_py(py_call(api$Catalogue$load(root)))
}

catalogue_from_py <- function(cat) {
  s <- from_py(cat$summary())
  meta <- from_py(cat$meta)
  model <- meta$model
  issues <- meta$issues
  issues <- if (length(issues)) do.call(rbind, lapply(issues, as.data.frame, stringsAsFactors = FALSE)) else
    data.frame(file = character(), stage = character(), severity = character(), reason = character())
  structure(list(path = py_path(cat$root),
                 individuals = unlist(from_py(cat$individuals)),
                 n_references = s$references, fitted = isTRUE(s$fitted), model = s$model,
                 model_switched_from = s$model_switched_from,
                 diagnostics = if (is.null(model)) NULL else model$diagnostics,
                 issues = issues),
            class = "lynxid_catalogue")
}

#' @export
print.lynxid_catalogue <- function(x, ...) {
  cat("lynxid catalogue at ", x$path, "\n  ", length(x$individuals), " individuals, ", x$n_references,
      " reference photos\n", sep = "")
  d <- x$diagnostics
  if (!is.null(d)) {
    cat(sprintf("  identification model (leave-one-out): known called correctly %.0f %%, unknown called new %.0f %%\n",
                100 * d$baks, 100 * d$baus))
    cal <- tryCatch(reticulate::py_to_r(py_lynxid("rinterop")$describe_calibration(d)), error = function(e) NULL)
    if (!is.null(cal)) cat("  ", cal, "\n", sep = "")
    if (isTRUE(d$whitening)) {
      use <- if (identical(d$whitening_use, "shortlist")) " to choose the candidates" else ""
      cat(sprintf("  embedding compared in a metric learned on the catalogue%s (%d dimensions; MRR %.3f -> %.3f)\n",
                  use, as.integer(d$whitening_dim), d$mrr_raw, d$mrr_whitened))
    }
    if (identical(x$model_switched_from, "default"))
      cat("  now identifies with its own model (the last addition replaced lynxid's default model)\n")
  } else if (identical(x$model, "default")) {
    cat("  identification model: lynxid's default (fitted on simulated lynx), until the catalogue can fit its own:",
        "at least two individuals photographed on two or more occasions\n")
  } else {
    cat("  no identification model: it needs at least two individuals photographed on two or more occasions\n")
  }
  bad <- sum(x$issues$severity != "warning")
  if (bad) cat("  ", bad, " photo(s) not used: see $issues\n", sep = "")
  invisible(x)
}

# ---- identification -------------------------------------------------------------------

#' Identify the individuals in camera-trap photos
#'
#' Finds every animal detection in \code{images}, compares it with the catalogue and decides
#' for each event (the photos of one passage) whether it shows a known individual -- with a
#' calibrated probability -- or one not in the catalogue. New animals are grouped into
#' provisional individuals \code{NEW-001}, \code{NEW-002}, ... Detections the machine is
#' unsure about are flagged for review (see \code{\link{review_report}}); a reviewer's
#' decisions override the machine's calls.
#'
#' Images are read from camtrapR's folder layouts (\code{station/image},
#' \code{station/camera/image}, or renamed \code{Station__YYYY-MM-DD__HH-MM-SS(n).JPG}); the
#' time from EXIF \code{DateTimeOriginal}. Photos that cannot be used (empty, truncated, not
#' an image, no boxes) are listed in \code{x$issues} with the reason; a photo
#' without a time is identified but cannot enter a capture history. With \code{out}, the
#' results are written there too (\code{detections.csv}, \code{detections.parquet},
#' \code{issues.csv}, \code{summary.json}, and \code{posterior.parquet} and
#' \code{unit_pairs.parquet}, what \code{\link{fit_density}} with \code{imputations} draws
#' identities from) and features are cached, so a rerun (e.g. after a review) is quick.
#'
#' @section Masks \code{graphics::identify}:
#' \code{library(lynxid)} masks the base graphics function \code{identify()} (which labels
#' points clicked in a plot): after it, \code{identify()} is this function. The name is kept
#' because it is what users look for; call the graphics one as \code{graphics::identify()}.
#' For this help page use \code{?lynxid::identify}: plain \code{?identify} can open the
#' graphics one or ask which of the two.
#'
#' @param images Folder of survey photos.
#' @param catalogue Catalogue folder or \code{lynxid_catalogue} (see \code{\link{build_catalogue}}).
#' @param megadetector MegaDetector batch output (JSON) with the boxes of the animals in
#'   \code{images}; \code{NULL} treats each photo as one detection.
#' @param out Output folder (recommended: it holds the feature cache and the review's
#'   \code{decisions.csv}).
#' @param tz Time zone of the camera clocks, e.g. \code{"Europe/Zurich"} or \code{"+01:00"}
#'   (default: EXIF \code{OffsetTimeOriginal}, else UTC).
#' @param threshold MegaDetector confidence threshold.
#' @param station_from Where station names are: \code{"auto"}, \code{"folder"} or
#'   \code{"filename"}.
#' @param event_gap Seconds between photos of one event.
#' @param review_below Flag detections whose probability is below this for review.
#' @param decisions A reviewer's decisions (a data frame from \code{\link{read_decisions}} or
#'   a CSV path); \code{NULL} uses \code{out/decisions.csv} when it exists, \code{FALSE} none.
#' @param cache_dir Feature cache folder (default \code{out/cache}).
#' @param progress Show progress bars in the console.
#' @param quiet Do not print the one-line summary.
#' @return A \code{lynxid_identification}: a list with
#'   \describe{
#'     \item{detections}{A data frame, one row per detection:
#'       \describe{
#'         \item{detection_id}{\code{"<file>#<box>"}: stable across reruns (decisions refer to it).}
#'         \item{file, path}{Image path relative to \code{images}, and absolute.}
#'         \item{station, camera}{From the folder or file name.}
#'         \item{timestamp}{\code{POSIXct} in the cameras' time zone (\code{NA} without EXIF time).}
#'         \item{bbox_x, bbox_y, bbox_w, bbox_h}{The box, MegaDetector's normalised [x, y, width, height].}
#'         \item{det_conf}{MegaDetector's confidence.}
#'         \item{flank}{\code{"left"}/\code{"right"} when known.}
#'         \item{event_id}{The event (photos of one passage at one station).}
#'         \item{unit_id}{The unit identified as one animal: the event, or one box of it where
#'           an event holds several animals (the key of \code{posterior}).}
#'         \item{individual_id}{The identity: a catalogue ID, a provisional \code{NEW-...} ID, or
#'           \code{NA} when a reviewer rejected the detection.}
#'         \item{probability}{Probability that the decision (the named individual, or new) is right, calibrated on the catalogue's own decisions (1 for a reviewer's reassignment).}
#'         \item{p_new}{Probability that the animal is not in the catalogue.}
#'         \item{is_new}{Not in the catalogue.}
#'         \item{needs_review}{Flagged for review (probability below \code{review_below}, not reviewed).}
#'         \item{decision}{\code{"known"}, \code{"new"} (the machine's call) or \code{"confirmed"},
#'           \code{"reviewed"} (reassigned or declared new), \code{"rejected"} (a reviewer's).}
#'         \item{model}{Which identification model decided: \code{"catalogue"} (the catalogue's own)
#'           or \code{"default"} (lynxid's default model, while the catalogue cannot fit its own).}
#'         \item{machine_individual_id}{The machine's call, kept when a reviewer changed it.}
#'         \item{reviewed_by}{The reviewer, \code{NA} when not reviewed.}
#'       }}
#'     \item{candidates}{The top catalogue candidates of each detection, one row per candidate
#'       (see \code{\link{candidate_table}}).}
#'     \item{summary}{Counts (images read, detections, events, individuals, flagged for review, ...).}
#'     \item{issues}{Files not used or questionable: a data frame with \code{file}, \code{stage},
#'       \code{severity}, \code{reason}.}
#'     \item{out}{The output folder, or \code{NULL}.}
#'     \item{catalogue}{The catalogue folder.}
#'     \item{posterior}{Per unit and answer (each catalogue candidate, and \code{"<new>"}) its
#'       calibrated probability: \code{unit_id}, \code{rank} (1 = best candidate, 0 = new),
#'       \code{answer}, \code{probability}. What \code{\link{fit_density}(x, stations,
#'       imputations = K)} draws each unit's identity from (\code{NULL} for results of an
#'       earlier lynxid).}
#'     \item{unit_pairs}{\code{unit_a}, \code{unit_b}, \code{p_same}: the probability that two
#'       units that may be new show one animal (how a draw groups new units into animals).}
#'   }
#'   It has \code{print}, \code{summary} and \code{plot} methods;
#'   \code{as.data.frame(x)} (and \code{tibble::as_tibble(x)}) give the detections.
#'   \code{\link{capture_history}}, \code{\link{review_report}}, the plots and
#'   \code{\link{survey_accuracy}} take it as it is.
#' @seealso \code{\link{print.lynxid_identification}}, \code{\link{review_report}},
#'   \code{\link{capture_history}}, \code{\link{plot_scores}}
#' @examples
#' \donttest{
#' if (lynxid_available()) {
#'   sim <- simulate_survey(tempfile("sim"), n_individuals = 4, n_known = 3, n_days = 10,
#'                          max_detections = 4, progress = FALSE)
#'   cat <- build_catalogue(tempfile("catalogue"), sim$catalogue_images,
#'                          megadetector = sim$catalogue_megadetector)
#'   res <- identify(sim$images, cat, megadetector = sim$megadetector, out = tempfile("results"))
#'   res
#'   res$detections[, c("file", "timestamp", "individual_id", "probability", "is_new")]
#'   res$issues
#'   head(res$candidates)
#' }
#' }
#' @export
identify <- function(images, catalogue, megadetector = NULL, out = NULL, tz = NULL, threshold = 0.2,
                     station_from = c("auto", "folder", "filename"), event_gap = 20, review_below = 0.9,
                     decisions = NULL, cache_dir = NULL, progress = interactive(), quiet = FALSE) {
  station_from <- match.arg(station_from)
  api <- py_lynxid()
  images <- existing_path(images, "images folder")
  root <- catalogue_root(catalogue)
  md <- optional_path(megadetector, "MegaDetector file")
  if (!is.null(out)) out <- normalizePath(out, mustWork = FALSE)
  dec <- decisions_arg(decisions)
  if (is.null(dec) && !is.null(out)) dec <- py_lynxid("rinterop")$find_decisions(out)
  res <- py_call(api$identify(images, root, megadetector = md, out = out, tz = tz, threshold = threshold,
                              station_from = station_from, event_gap = event_gap,
                              cache_dir = if (is.null(cache_dir)) NULL else normalizePath(cache_dir, mustWork = FALSE),
                              review_below = review_below, progress = progress, decisions = dec))
  x <- identification_from_py(res, out, root)
  if (!quiet) message(format_identify_summary(x$summary))
  x
}

decisions_arg <- function(decisions) {
  if (is.null(decisions) || isFALSE(decisions)) return(decisions)
  if (is.data.frame(decisions)) return(r_to_pandas(as.data.frame(lapply(decisions, as.character), stringsAsFactors = FALSE)))
  existing_path(decisions, "decisions file")
}

# read_results(), candidate_table(), format_identify_summary() and the methods of
# lynxid_identification: see identification.R.

# ---- the simulator and the demo -------------------------------------------------------

#' Simulate a camera-trap survey of lynx
#'
#' Writes a complete, realistic example survey: photos with EXIF times in camtrapR's
#' \code{station/camera} folders, rendered from each individual's own coat pattern (left and
#' right flank differ), a camtrapR station table with malfunction periods, MegaDetector box
#' files, a labelled catalogue of the individuals "known from an earlier season", some broken
#' files as found on real SD cards, and the truth. Deterministic given \code{seed}.
#'
#' @param out Output folder.
#' @param n_individuals Lynx in the population.
#' @param n_known Of which in the catalogue.
#' @param n_days Days of camera operation.
#' @param seed Random seed.
#' @param max_detections At most this many detection events (keeps examples fast).
#' @param grid_rows,grid_cols Station grid.
#' @param inject_bad_files Add an empty, a truncated, a non-image and an EXIF-less file.
#' @param progress Show a progress bar.
#' @param flank_tags Tag each survey photo with the flank it shows (XMP \code{flank|left} /
#'   \code{flank|right}, as digiKam or Timelapse users tag them), so that \code{\link{identify}}
#'   knows each detection's flank.
#' @return A \code{lynxid_survey}: a list of paths -- \code{root}, \code{images},
#'   \code{catalogue_images}, \code{stations} (CSV), \code{megadetector},
#'   \code{catalogue_megadetector} -- and \code{truth}, the truth tables' paths
#'   (\code{images}, \code{detections}, \code{individuals}, \code{bad_files}, \code{catalogue}).
#' @examples
#' \donttest{
#' if (lynxid_available()) {
#'   sim <- simulate_survey(tempfile("sim"), n_individuals = 4, n_known = 2, n_days = 10,
#'                          max_detections = 5, progress = FALSE)
#'   sim
#'   head(read.csv(sim$stations))
#' }
#' }
#' @export
simulate_survey <- function(out, n_individuals = 12, n_known = 8, n_days = 40, seed = 1, max_detections = NULL,
                            grid_rows = 3, grid_cols = 4, inject_bad_files = TRUE, progress = interactive(),
                            flank_tags = TRUE) {
  api <- py_lynxid()
  s <- py_call(api$simulate_survey(normalizePath(out, mustWork = FALSE), n_individuals = as.integer(n_individuals),
                                   n_known = as.integer(n_known), n_days = as.integer(n_days), seed = as.integer(seed),
                                   max_detections = if (is.null(max_detections)) NULL else as.integer(max_detections),
                                   grid_rows = as.integer(grid_rows), grid_cols = as.integer(grid_cols),
                                   inject_bad_files = inject_bad_files, progress = progress,
                                   flank_tags = flank_tags))
  survey_from_root(py_path(s$root))
}

#' Open a simulated survey written earlier
#'
#' @param path The folder given to \code{\link{simulate_survey}}.
#' @return The \code{lynxid_survey} (see \code{\link{simulate_survey}}).
#' @examples
#' \dontrun{
#' sim <- read_survey("lynxid-example/survey")
#' }
#' @export
read_survey <- function(path) {
  root <- existing_path(path, "simulated survey")
  if (!file.exists(file.path(root, "survey.json"))) {
    stop(root, " is not a simulated survey (no survey.json): make one with simulate_survey()", call. = FALSE)
  }
  survey_from_root(root)
}

survey_from_root <- function(root) {
  truth <- c("images", "detections", "individuals", "bad_files", "catalogue")
  structure(list(root = root, images = file.path(root, "images"), catalogue_images = file.path(root, "catalogue"),
                 stations = file.path(root, "stations.csv"), megadetector = file.path(root, "megadetector.json"),
                 catalogue_megadetector = file.path(root, "catalogue_megadetector.json"),
                 truth = stats::setNames(as.list(file.path(root, "truth", paste0(truth, ".csv"))), truth)),
            class = "lynxid_survey")
}

#' @export
print.lynxid_survey <- function(x, ...) {
  n <- tryCatch(nrow(utils::read.csv(x$truth$images)), error = function(e) NA)
  cat("simulated lynx survey at ", x$root, "\n", sep = "")
  cat("  images:    ", x$images, if (!is.na(n)) paste0(" (", n, " photos)"), "\n", sep = "")
  cat("  catalogue: ", x$catalogue_images, "\n  stations:  ", x$stations, "\n  boxes:     ",
      x$megadetector, "\n  truth:     ", dirname(x$truth$images), "/\n", sep = "")
  invisible(x)
}

#' Accuracy of an identified simulated survey
#'
#' Compares \code{\link{identify}}'s calls with the simulator's truth.
#'
#' @param detections The result of \code{\link{identify}} (or \code{\link{read_results}}) on a
#'   simulated survey, or its detections table.
#' @param survey The \code{lynxid_survey} from \code{\link{simulate_survey}}.
#' @return A list: \code{accuracy} (detections given the right identity, provisional IDs
#'   matched one-to-one to true new individuals), \code{known_accuracy}, \code{new_recall}
#'   (new animals called new), \code{new_purity}, \code{ari} (adjusted Rand index) and counts.
#' @examples
#' \dontrun{
#' survey_accuracy(res, sim)
#' }
#' @export
survey_accuracy <- function(detections, survey) {
  api <- py_lynxid()
  bridge <- py_lynxid("rinterop")
  if (!inherits(survey, "lynxid_survey")) stop("survey must come from simulate_survey()", call. = FALSE)
  d <- detections_table(detections)
  cols <- intersect(c("detection_id", "file", "event_id", "individual_id", "is_new", "decision"), names(d))
  d <- d[, cols, drop = FALSE]
  from_py(py_call(api$survey_accuracy(r_to_pandas(d), bridge$read_table(survey$truth$images))))
}

#' Run the whole pipeline on a simulated survey
#'
#' The same job as the command line's \code{lynxid demo}: simulate a survey, build the
#' catalogue of known individuals, identify every photo, build the capture history and
#' write the secr, oSCR, nimble/JAGS, Rcapture and RMark files; then compare with the
#' simulation's truth. Runs offline. With the defaults (12 lynx, 40 days, about 175 photos) it
#' took 88-115 s on 2 CPU cores shared with other work, from R as from the command line; with
#' \code{n_individuals = 4, n_known = 3, n_days = 8} about 20 s.
#'
#' Named \code{run_demo} (as the Python function) so that it does not mask
#' \code{utils::demo()}.
#'
#' @param out Output folder (\code{survey/}, \code{catalogue/}, \code{identified/},
#'   \code{capture_history/}, \code{demo_summary.json}).
#' @param quiet No progress bars or step messages (the summary is still printed).
#' @param ... Passed to the Python \code{run_demo}: \code{n_individuals}, \code{n_known},
#'   \code{n_days}, \code{seed}, \code{occasion_length}.
#' @return The identification (a \code{lynxid_identification}, as from \code{\link{identify}}),
#'   invisibly, with the demo's summary (accuracy, capture history, density) as \code{$demo}.
#' @examples
#' \donttest{
#' if (lynxid_available()) {
#'   res <- run_demo(tempfile("demo"), quiet = TRUE, n_individuals = 4, n_known = 3, n_days = 8)
#'   table(res$detections$individual_id)
#'   res$demo$accuracy$accuracy
#' }
#' }
#' @export
run_demo <- function(out = "lynxid-demo", quiet = FALSE, ...) {
  api <- py_lynxid()
  args <- list(...)
  for (k in intersect(names(args), c("n_individuals", "n_known", "n_days", "seed"))) args[[k]] <- as.integer(args[[k]])
  out <- normalizePath(out, mustWork = FALSE)
  s <- py_call(do.call(api$run_demo, c(list(out, progress = !quiet, quiet = quiet), args)))
  if (quiet) cat(reticulate::py_to_r(py_lynxid("rinterop")$format_summary(s)), "\n", sep = "")
  res <- read_results(file.path(out, "identified"))
  res$demo <- from_py(s)
  invisible(res)
}
