# Camera operation and capture histories: R front ends to the Python core
# (lynxid.stations, lynxid.effort, lynxid.capture, lynxid.export). All logic lives in
# Python; here R data are handed over and the results turned into R objects (matrices,
# arrays, data frames and, when secr is installed, a real secr capthist).

utils::globalVariables(".data")   # ggplot2's data pronoun in plot.lynxid_capture_history()

# ---- handing R data to Python ---------------------------------------------------------

# A data frame or a file path for the Python side. Factors become text; Dates become
# "YYYY-MM-DD" (date only: camtrapR's half days); POSIXct become wall-clock text in their
# own time zone ("local", for station tables) or ISO 8601 with the UTC offset ("offset",
# for detection times), so no time zone is lost on the way.
py_table_arg <- function(x, what, datetimes = c("local", "offset")) {
  datetimes <- match.arg(datetimes)
  if (is.character(x) && length(x) == 1) {
    if (!file.exists(x)) stop(what, " file not found: ", x, call. = FALSE)
    return(normalizePath(x))
  }
  if (!is.data.frame(x)) {
    stop(what, " must be a data frame or the path of a CSV / Parquet file", call. = FALSE)
  }
  x <- as.data.frame(x, stringsAsFactors = FALSE)
  for (nm in names(x)) {
    v <- x[[nm]]
    if (is.factor(v)) {
      x[[nm]] <- as.character(v)
    } else if (inherits(v, "Date")) {
      x[[nm]] <- ifelse(is.na(v), NA_character_, format(v, "%Y-%m-%d"))
    } else if (inherits(v, "POSIXt")) {
      v <- as.POSIXct(v)
      tz <- attr(v, "tzone")
      tz <- if (is.null(tz) || !nzchar(tz[1])) "" else tz[1]
      fmt <- if (datetimes == "local") "%Y-%m-%d %H:%M:%S" else "%Y-%m-%dT%H:%M:%S%z"
      x[[nm]] <- ifelse(is.na(v), NA_character_, format(v, fmt, tz = tz))
    }
  }
  r_to_pandas(x)
}

# r_to_pandas(), from_py() and py_frame_to_r(): see convert.R (shared by every R front end).

# The time zone of a POSIXct column, if any (used as the survey zone when tz is NULL).
posix_zone <- function(x, col) {
  if (!is.data.frame(x) || is.null(col) || !col %in% names(x) || !inherits(x[[col]], "POSIXt")) return(NULL)
  tz <- attr(as.POSIXct(x[[col]]), "tzone")
  if (is.null(tz) || !nzchar(tz[1])) NULL else tz[1]
}

find_time_col <- function(x, time_col) {
  if (!is.null(time_col) || !is.data.frame(x)) return(time_col)
  cands <- c("timestamp", "DateTimeOriginal", "datetime", "DateTime", "date_time")
  hit <- cands[cands %in% names(x)]
  if (length(hit)) hit[1] else NULL
}

station_options <- function(station_col, x_col, y_col, setup_col, retrieval_col, camera_col, session_col,
                            has_problems, date_format, station_covariates) {
  opts <- list(station_col = station_col %||% "Station", x_col = x_col, y_col = y_col,
               setup_col = setup_col, retrieval_col = retrieval_col, camera_col = camera_col,
               session_col = session_col, has_problems = has_problems, date_format = date_format,
               covariate_cols = if (is.null(station_covariates)) NULL else as.list(station_covariates))
  opts
}

# ---- camera operation ---------------------------------------------------------------------

#' Camera operation matrix (camtrapR's cameraOperation)
#'
#' Effort per station (row) and day (column), computed exactly from the station table: a
#' setup or retrieval given as a date counts as half a day (camtrapR: noon), one given with
#' a time as the exact fraction; malfunction periods (\code{Problem1_from},
#' \code{Problem1_to}, ...) are 0, days without a deployed camera \code{NA}.
#'
#' The arguments mirror \code{camtrapR::cameraOperation}: \code{station_col}
#' (\code{stationCol}), \code{setup_col} (\code{setupCol}), \code{retrieval_col}
#' (\code{retrievalCol}), \code{camera_col} (\code{cameraCol}), \code{session_col}
#' (\code{sessionCol}), \code{has_problems} (\code{hasProblems}), \code{by_camera}
#' (\code{byCamera}), \code{all_cams_on} (\code{allCamsOn}), \code{cameras_independent}
#' (\code{camerasIndependent}), \code{date_format} (\code{dateFormat}) and
#' \code{occasion_start_time} (\code{occasionStartTime}). Differences on purpose: overlapping
#' problem periods are subtracted once, and several cameras at a station are combined on the
#' time line (union, intersection or sum) rather than day by day.
#'
#' @param stations Station table (camtrapR's \code{CTtable}): a data frame or the path of a
#'   CSV or Parquet file. Date columns may be text, \code{Date} (date only) or \code{POSIXct}.
#' @param station_col,x_col,y_col,setup_col,retrieval_col Column names of the station ID,
#'   the coordinates (metres, projected CRS) and the setup / retrieval dates.
#' @param camera_col,session_col Optional camera and session columns.
#' @param has_problems Use the \code{ProblemN_from}/\code{ProblemN_to} columns? \code{NULL}
#'   (default) uses them when present.
#' @param date_format Format of the dates, e.g. \code{"dmy"}, \code{"ymd HMS"} or
#'   \code{"\%d/\%m/\%Y"}; \code{NULL} infers it and stops when dates are ambiguous.
#' @param by_camera One row per camera instead of per station.
#' @param all_cams_on A station works only while all its cameras work.
#' @param cameras_independent Cameras of a station add up (e.g. 2 trap-days per day).
#' @param occasion_start_time Hour of day at which days begin (column names then end in
#'   \code{"+12h"} as in camtrapR).
#' @param resolution_hours Bin width in hours (24 = days).
#' @param unit \code{"days"} (days of effort per bin) or \code{"fraction"} (of each bin).
#' @return A numeric matrix, rows named like camtrapR (\code{Station},
#'   \code{Station__SESS_s}, \code{Station__CAM_c}), columns the days.
#' @examples
#' stations <- data.frame(Station = c("A", "B"), utm_x = c(500000, 502000),
#'                        utm_y = c(5200000, 5200000),
#'                        Setup_date = c("2024-03-01", "2024-03-02"),
#'                        Retrieval_date = c("2024-03-20", "2024-03-21"),
#'                        Problem1_from = c("", "2024-03-10"), Problem1_to = c("", "2024-03-12"))
#' if (lynxid_available()) {
#'   camop <- camera_operation(stations)
#'   camop[, 1:5]
#' }
#' @export
camera_operation <- function(stations, station_col = "Station", x_col = "utm_x", y_col = "utm_y",
                             setup_col = "Setup_date", retrieval_col = "Retrieval_date",
                             camera_col = NULL, session_col = NULL, has_problems = NULL,
                             date_format = NULL, by_camera = FALSE, all_cams_on = FALSE,
                             cameras_independent = FALSE, occasion_start_time = 0,
                             resolution_hours = 24, unit = c("days", "fraction")) {
  unit <- match.arg(unit)
  eff <- py_lynxid("effort")
  st <- py_table_arg(stations, "stations", "local")
  opts <- station_options(station_col, x_col, y_col, setup_col, retrieval_col, camera_col, session_col,
                          has_problems, date_format, NULL)
  opts$covariate_cols <- NULL
  res <- py_call(do.call(eff$camera_operation, c(list(st, by_camera = by_camera, all_cams_on = all_cams_on,
                                                      cameras_independent = cameras_independent,
                                                      occasion_start_time = occasion_start_time,
                                                      resolution_hours = resolution_hours, unit = unit),
                                                 opts)))
  df <- py_frame_to_r(res$reset_index())
  m <- as.matrix(df[, -1, drop = FALSE])
  storage.mode(m) <- "double"
  rownames(m) <- df[[1]]
  colnames(m) <- names(df)[-1]
  m
}

# ---- capture histories ----------------------------------------------------------------------

#' Capture history for spatial and closed capture-recapture models
#'
#' Builds the capture history of individually identified animals from detections (the
#' output of \code{\link{identify}}, or a camtrapR record table) and a camtrapR station table,
#' as \code{camtrapR::spatialDetectionHistory} does -- with exact effort and every record
#' that is left out listed with its reason in \code{$issues}. The work is done by lynxid's
#' Python core.
#'
#' Occasions are \code{occasion_length} days long and start at \code{occasion_start_time}
#' o'clock of the first setup day (\code{day1 = "survey"}), of each station's setup day
#' (\code{"station"}) or of a date; occasions without effort anywhere are dropped, as in
#' camtrapR. A record belongs to the occasion with \code{start <= time < end}: unlike camtrapR,
#' a record at exactly 00:00:00 begins the new day's occasion. Records in an occasion in which
#' their station had no effort, before the first or after the last occasion, without
#' individual, time or known station are left out and reported.
#'
#' camtrapR's names: \code{occasion_length} = \code{occasionLength}, \code{day1} =
#' \code{day1}, \code{occasion_start_time} = \code{occasionStartTime}, \code{output} =
#' \code{output}, \code{buffer} = \code{buffer}, \code{max_days} = \code{maxNumberDays},
#' \code{species} = \code{species}, \code{tz} = \code{timeZone}, \code{time_format} =
#' \code{recordDateTimeFormat}, \code{station_col} = \code{stationCol}, \code{individual_col}
#' = \code{individualCol}, \code{time_col} = \code{recordDateTimeCol}, \code{species_col} =
#' \code{speciesCol}, \code{x_col}/\code{y_col} = \code{Xcol}/\code{Ycol},
#' \code{station_covariates} = \code{stationCovariateCols}, \code{min_delta} =
#' \code{minDeltaTime}, \code{remove_duplicates} = \code{removeDuplicateRecords}.
#'
#' @param detections Detections: a data frame (e.g. from \code{identify()}) or the path of a
#'   CSV / Parquet file. Columns are found by name (\code{station}/\code{Station},
#'   \code{timestamp}/\code{DateTimeOriginal}, \code{individual_id}/\code{Individual},
#'   \code{camera}/\code{Camera}); \code{POSIXct} times keep their time zone.
#' @param stations Station table (camtrapR's \code{CTtable}), data frame or file path.
#' @param occasion_length Days per occasion (fractions allowed).
#' @param day1 \code{"survey"}, \code{"station"} or a date \code{"YYYY-MM-DD"}.
#' @param occasion_start_time Hour of day occasions begin.
#' @param output \code{"binary"} (secr proximity detectors) or \code{"count"} (count detectors).
#' @param format What \code{$data} holds: \code{"secr"} (a \code{capthist} when secr is
#'   installed, else its ingredients), \code{"oscr"} (\code{edf}, \code{tdf}, \code{y3d} for
#'   \code{oSCR::data2oscr} / \code{make.scrFrame}), \code{"array"} (nimble/JAGS:
#'   \code{y[i,j,k]}, \code{effort}, \code{X}, with data augmentation to \code{augment_to}),
#'   \code{"closed"} (individual x occasion 0/1 matrix for Rcapture) or \code{"rmark"}
#'   (data frame with \code{ch} and \code{freq}).
#' @param species Use only this species (needs a species column).
#' @param tz Survey time zone, e.g. \code{"Europe/Zurich"}: local days and occasions follow
#'   it. \code{NULL}: the zone of \code{POSIXct} times, or of times with a UTC offset.
#' @param station_col Station column in both tables (default: found automatically in the
#'   detections, \code{"Station"} in the station table).
#' @param individual_col,time_col,species_col Columns of the detections.
#' @param time_format Format of text times, e.g. \code{"ymd HMS"}; default ISO 8601.
#' @param x_col,y_col,setup_col,retrieval_col,camera_col,session_col,has_problems,date_format
#'   Station table, as in \code{\link{camera_operation}}.
#' @param station_covariates Station covariate columns (become trap covariates).
#' @param all_cams_on,cameras_independent Several cameras per station, as in
#'   \code{\link{camera_operation}}.
#' @param buffer Days after each station's setup day before its first occasion.
#' @param max_days At most this many days per station.
#' @param drop_empty_occasions Drop occasions without effort at any station.
#' @param min_delta Minutes: keep only records this long after the last independent record
#'   of the same individual at the station (0 = all records).
#' @param delta_compared_to \code{"last_independent"} or \code{"last"} record.
#' @param remove_duplicates Drop records of the same individual, station and time.
#' @param unknown_stations \code{"error"} or \code{"exclude"} records at stations missing
#'   from the station table.
#' @param strict Stop if any record would be left out.
#' @param augment_to Data augmentation: number of rows M of \code{y} for \code{format = "array"}.
#' @return An object of class \code{lynxid_capture_history}: a list with \code{data} (the
#'   chosen format), \code{format}, \code{detections} (session, individual, occasion,
#'   detector, count), \code{usage} (per session a detector x occasion matrix of days of
#'   effort), \code{traps}, \code{occasions}, \code{individuals}, \code{issues} (row, stage,
#'   severity, reason), \code{records_not_used}, \code{summary}, \code{counts_by_occasion}
#'   and \code{settings}. It has \code{print}, \code{summary} and \code{plot} methods.
#' @seealso \code{\link{camera_operation}}, \code{\link{write_capture_history}},
#'   \code{\link{plot.lynxid_capture_history}}
#' @examples
#' stations <- data.frame(Station = c("A", "B"), utm_x = c(500000, 502000),
#'                        utm_y = c(5200000, 5200000),
#'                        Setup_date = c("2024-03-01", "2024-03-01"),
#'                        Retrieval_date = c("2024-03-11", "2024-03-11"))
#' detections <- data.frame(station = c("A", "B", "A"), individual_id = c("L1", "L1", "L2"),
#'                          timestamp = as.POSIXct(c("2024-03-02 21:10", "2024-03-05 03:40",
#'                                                   "2024-03-05 22:00"), tz = "Europe/Zurich"))
#' if (lynxid_available()) {
#'   ch <- capture_history(detections, stations, occasion_length = 5)
#'   ch
#'   summary(ch)
#'   ch$usage[[1]]
#'   closed <- capture_history(detections, stations, occasion_length = 5, format = "closed")
#'   closed$data
#' }
#' @export
capture_history <- function(detections, stations, occasion_length = 1, day1 = "survey",
                            occasion_start_time = 0, output = c("binary", "count"),
                            format = c("secr", "oscr", "array", "closed", "rmark"),
                            species = NULL, tz = NULL, station_col = NULL, individual_col = NULL,
                            time_col = NULL, species_col = NULL, time_format = NULL,
                            x_col = "utm_x", y_col = "utm_y", setup_col = "Setup_date",
                            retrieval_col = "Retrieval_date", camera_col = NULL, session_col = NULL,
                            has_problems = NULL, date_format = NULL, station_covariates = NULL,
                            all_cams_on = FALSE, cameras_independent = FALSE, buffer = 0,
                            max_days = NULL, drop_empty_occasions = TRUE, min_delta = 0,
                            delta_compared_to = c("last_independent", "last"),
                            remove_duplicates = FALSE, unknown_stations = c("error", "exclude"),
                            strict = FALSE, augment_to = NULL) {
  output <- match.arg(output)
  format <- match.arg(format)
  delta_compared_to <- match.arg(delta_compared_to)
  unknown_stations <- match.arg(unknown_stations)
  cap <- py_lynxid("capture")
  tcol <- find_time_col(detections, time_col)
  if (is.null(tz)) tz <- posix_zone(detections, tcol)
  det <- py_table_arg(detections, "detections", "offset")
  st <- py_table_arg(stations, "stations", "local")
  opts <- station_options(station_col, x_col, y_col, setup_col, retrieval_col, camera_col, session_col,
                          has_problems, date_format, station_covariates)
  args <- list(det, st, occasion_length = occasion_length, day1 = as.character(day1),
               occasion_start_time = occasion_start_time, buffer_days = as.integer(buffer),
               max_days = max_days, output = output, drop_empty_occasions = drop_empty_occasions,
               all_cams_on = all_cams_on, cameras_independent = cameras_independent,
               min_delta_minutes = min_delta, delta_compared_to = delta_compared_to,
               remove_duplicates = remove_duplicates, species = species, tz = tz,
               time_format = time_format, station_col = station_col, time_col = tcol,
               individual_col = individual_col, species_col = species_col,
               unknown_stations = unknown_stations, strict = strict, station_options = opts)
  ch <- py_call(do.call(cap$capture_history, args))
  x <- capture_history_from_py(ch)
  x$format <- format
  x$data <- format_data(ch, x, format, augment_to)
  x
}

capture_history_from_py <- function(ch) {
  b <- reticulate::import_builtins(convert = TRUE)
  sessions <- reticulate::py_to_r(ch$sessions)
  usage <- lapply(sessions, function(s) {
    u <- py_frame_to_r(ch$usage_matrix(s)$reset_index())
    m <- as.matrix(u[, -1, drop = FALSE])
    storage.mode(m) <- "double"
    rownames(m) <- u[[1]]
    m
  })
  names(usage) <- sessions
  cbo <- lapply(sessions, function(s) {
    t <- ch$counts_by_occasion(s)
    df <- py_frame_to_r(t$reset_index())
    m <- as.matrix(df[, -1, drop = FALSE])
    rownames(m) <- df[[1]]
    m
  })
  names(cbo) <- sessions
  rec <- ch$records
  not_used <- reticulate::py_get_item(rec, rec$status$ne("used"))
  settings <- from_py(ch$settings)
  tz <- settings$tz
  occ <- py_frame_to_r(ch$occasions, tz)
  structure(list(
    data = NULL, format = NULL,
    detections = py_frame_to_r(ch$detections),
    usage = usage,
    traps = py_frame_to_r(ch$traps, tz),
    occasions = occ,
    individuals = py_frame_to_r(ch$individuals),
    issues = py_frame_to_r(ch$issues),
    records_not_used = py_frame_to_r(not_used, tz),
    summary = py_frame_to_r(ch$summary()),
    counts_by_occasion = cbo,
    detector = reticulate::py_to_r(ch$detector_type),
    sessions = sessions,
    settings = settings,
    n_records = b$len(rec)
  ), class = "lynxid_capture_history", py = ch)
}

format_data <- function(ch, x, format, augment_to) {
  ex <- py_lynxid("export")
  one <- function(l) if (length(l) == 1) l[[1]] else l
  sess <- x$sessions
  switch(format,
    secr = secr_capthist(from_py(ex$secr_data(ch))),
    oscr = {
      d <- from_py(ex$oscr_data(ch))
      for (i in seq_along(d$y3d)) {
        ids <- x$individuals$individual[x$individuals$session == sess[i]]
        dimnames(d$y3d[[i]]) <- list(ids, rownames(x$usage[[i]]), colnames(x$usage[[i]]))
        dimnames(d$trap_operation[[i]]) <- dimnames(d$effort[[i]]) <- dimnames(x$usage[[i]])
      }
      names(d$tdf) <- names(d$y3d) <- names(d$trap_operation) <- names(d$effort) <- sess
      d$K <- stats::setNames(as.integer(unlist(d$K)), sess)
      d$sessions <- NULL
      d
    },
    array = {
      d <- from_py(ex$array_data(ch, augment_to = if (is.null(augment_to)) NULL else as.integer(augment_to)))
      d <- lapply(d, function(s) {
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
      })
      one(d)
    },
    closed = {
      m <- from_py(ex$closed_matrix(ch))
      per <- lapply(split(m, factor(m$session, levels = sess)), function(d) {
        mm <- as.matrix(d[, grepl("^o[0-9]+$", names(d)), drop = FALSE])
        storage.mode(mm) <- "integer"
        rownames(mm) <- d$individual
        mm
      })
      one(per)
    },
    rmark = {
      r <- from_py(ex$rmark_table(ch))
      r$ch <- as.character(r$ch)
      r
    })
}

# secr capthist via secr::make.capthist when secr is installed; otherwise its ingredients.
secr_capthist <- function(d) {
  sessions <- as.character(unlist(d$sessions))
  caps <- d$captures
  names(caps) <- c("Session", "ID", "Occasion", "Detector")
  usage <- lapply(sessions, function(s) {
    u <- d$usage[[s]]
    m <- as.matrix(u[, -1, drop = FALSE])
    storage.mode(m) <- "double"
    rownames(m) <- as.character(u[[1]])
    m
  })
  traps <- d$traps[sessions]
  names(usage) <- names(traps) <- sessions
  noccasions <- stats::setNames(as.integer(unlist(d$noccasions)[sessions]), sessions)
  covs <- unlist(d$covariates)
  if (!requireNamespace("secr", quietly = TRUE)) {
    return(structure(list(captures = caps, traps = traps, usage = usage, noccasions = noccasions,
                          detector = d$detector),
                     class = "lynxid_secr_data"))
  }
  trl <- lapply(sessions, function(s) {
    t <- traps[[s]]
    xy <- data.frame(x = t$x, y = t$y, row.names = t$detector)
    tr <- secr::read.traps(data = xy, detector = d$detector, binary.usage = FALSE)
    secr::usage(tr) <- usage[[s]][t$detector, , drop = FALSE]
    if (length(covs)) secr::covariates(tr) <- t[, covs, drop = FALSE]
    tr
  })
  names(trl) <- sessions
  empty <- unlist(d$empty_sessions)
  if (length(empty)) {
    caps <- rbind(caps, data.frame(Session = empty, ID = "NONE", Occasion = 1L,
                                   Detector = vapply(empty, function(s) traps[[s]]$detector[1], ""),
                                   stringsAsFactors = FALSE))
  }
  # make.capthist sorts session labels (numerically, else with the locale's sort()) and pairs
  # them with the traps list by position; a factor keeps lynxid's order, the order of 'trl'
  caps$Session <- factor(as.character(caps$Session), levels = sessions)
  if (length(sessions) == 1) {
    secr::make.capthist(caps, trl[[1]], fmt = "trapID", noccasions = noccasions[[1]])
  } else {
    secr::make.capthist(caps, trl, fmt = "trapID", noccasions = unname(noccasions))
  }
}

#' Write a capture history to files
#'
#' Writes the formats read by secr (\code{capt.txt}, \code{traps.txt} and
#' \code{read_secr.R}), oSCR, nimble/JAGS, Rcapture, RMark and Camtrap DP, plus
#' \code{summary.json}, \code{usage.csv} and \code{issues.csv}; the same files as the
#' command line \code{lynxid capture-history}.
#'
#' @param x A \code{lynxid_capture_history} from \code{\link{capture_history}} (in the same
#'   R session).
#' @param out Output folder.
#' @param formats Any of \code{"secr"}, \code{"oscr"}, \code{"nimble"}, \code{"closed"},
#'   \code{"rmark"}, \code{"camtrapdp"}, or \code{"all"}.
#' @param augment_to nimble/JAGS data augmentation (M).
#' @param crs Camtrap DP: the UTM zone of the coordinates, e.g. \code{"EPSG:32632"}.
#' @param scientific_name Camtrap DP: e.g. \code{"Lynx lynx"}.
#' @return The paths written, invisibly (a list by format).
#' @examples
#' \dontrun{
#' ch <- capture_history("detections.csv", "stations.csv", occasion_length = 5)
#' write_capture_history(ch, "ch", formats = c("secr", "oscr"))
#' }
#' @export
write_capture_history <- function(x, out, formats = "secr", augment_to = NULL, crs = NULL,
                                  scientific_name = NULL) {
  py <- attr(x, "py")
  if (is.null(py) || reticulate::py_is_null_xptr(py)) {
    stop("this capture history no longer has its Python side (saved and reloaded, or R restarted?); ",
         "build it again with capture_history()", call. = FALSE)
  }
  ex <- py_lynxid("export")
  res <- py_call(ex$write_formats(py, normalizePath(out, mustWork = FALSE), as.list(formats),
                                  augment_to = if (is.null(augment_to)) NULL else as.integer(augment_to),
                                  crs = crs, scientific_name = scientific_name))
  invisible(reticulate::py_to_r(res))
}

# ---- methods ------------------------------------------------------------------------------

#' @export
print.lynxid_capture_history <- function(x, ...) {
  cat("lynxid capture history (", x$detector, " detectors; format \"", x$format, "\")\n", sep = "")
  s <- x$summary
  for (i in seq_len(nrow(s))) {
    cat(sprintf("  session %s: %d individuals, %d detections, %d occasions x %d stations (%d used), %s trap-days\n",
                s$session[i], s$individuals[i], s$detections[i], s$occasions[i], s$stations[i],
                s$stations_used[i], format(round(s$effort_days[i], 2), nsmall = 0)))
  }
  st <- x$settings
  cat(sprintf("  occasions of %s day(s) from %s (start %sh)\n", st$occasion_length, st$day1, st$occasion_start_time))
  nu <- nrow(x$records_not_used)
  if (nu) {
    cat(sprintf("  %d of %d records not used: see $issues and $records_not_used\n", nu, x$n_records))
  }
  if (inherits(x$data, "lynxid_secr_data")) {
    cat("  (install the secr package for a capthist object; $data holds its ingredients)\n")
  }
  invisible(x)
}

#' @export
summary.lynxid_capture_history <- function(object, ...) {
  iss <- object$issues
  structure(list(sessions = object$summary, counts_by_occasion = object$counts_by_occasion,
                 usage_by_occasion = lapply(object$usage, function(u) rbind(min = apply(u, 2, min),
                                                                            max = apply(u, 2, max),
                                                                            total = colSums(u))),
                 detections_per_individual = if (nrow(object$detections)) {
                   stats::aggregate(count ~ session + individual, data = object$detections, FUN = sum)
                 } else data.frame(session = character(), individual = character(), count = numeric()),
                 issues = if (nrow(iss)) table(iss$severity) else table(character()),
                 detector = object$detector, settings = object$settings),
            class = "summary.lynxid_capture_history")
}

#' @export
print.summary.lynxid_capture_history <- function(x, ...) {
  cat("Capture history summary (", x$detector, " detectors)\n\n", sep = "")
  print(x$sessions, row.names = FALSE)
  for (s in names(x$counts_by_occasion)) {
    cat("\nSession ", s, ": counts by occasion\n", sep = "")
    print(x$counts_by_occasion[[s]])
    cat("\nUsage (days of effort) by occasion\n")
    print(round(x$usage_by_occasion[[s]], 3))
  }
  if (length(x$issues)) {
    cat("\nIssues: ", paste(names(x$issues), x$issues, sep = " ", collapse = ", "), "\n", sep = "")
  }
  invisible(x)
}

#' Plot a capture history
#'
#' @param x A \code{lynxid_capture_history}.
#' @param type \code{"stations"} (station map: size = detections, colour = individuals),
#'   \code{"effort"} (days of effort per station and occasion) or \code{"individuals"}
#'   (detections per individual, coloured by the number of stations it was seen at).
#' @param session Which session (default: the first).
#' @param ... Unused.
#' @return A \code{ggplot} object.
#' @examples
#' stations <- data.frame(Station = c("A", "B"), utm_x = c(500000, 502000),
#'                        utm_y = c(5200000, 5200000),
#'                        Setup_date = c("2024-03-01", "2024-03-01"),
#'                        Retrieval_date = c("2024-03-11", "2024-03-11"))
#' detections <- data.frame(station = c("A", "B", "A"), individual_id = c("L1", "L1", "L2"),
#'                          timestamp = c("2024-03-02 21:10:00", "2024-03-05 03:40:00",
#'                                        "2024-03-05 22:00:00"))
#' if (lynxid_available() && requireNamespace("ggplot2", quietly = TRUE)) {
#'   ch <- capture_history(detections, stations)
#'   plot(ch, "effort")
#' }
#' @export
plot.lynxid_capture_history <- function(x, type = c("stations", "effort", "individuals"),
                                        session = NULL, ...) {
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    stop("plotting needs the ggplot2 package: install.packages(\"ggplot2\")", call. = FALSE)
  }
  type <- match.arg(type)
  s <- if (is.null(session)) x$sessions[1] else as.character(session)
  if (!s %in% x$sessions) stop("no session ", s, "; sessions are ", paste(x$sessions, collapse = ", "), call. = FALSE)
  det <- x$detections[x$detections$session == s, , drop = FALSE]
  ggplot2 <- asNamespace("ggplot2")
  if (type == "stations") {
    tr <- x$traps[x$traps$session == s, , drop = FALSE]
    used <- rowSums(x$usage[[s]]) > 0
    n_det <- tapply(det$count, factor(det$detector, levels = tr$detector), sum)
    n_ind <- tapply(det$individual, factor(det$detector, levels = tr$detector), function(v) length(unique(v)))
    tr$detections <- ifelse(is.na(n_det), 0, n_det)
    tr$individuals <- ifelse(is.na(n_ind), 0, n_ind)
    tr$status <- ifelse(used[tr$detector], "operated", "no effort")
    ggplot2$ggplot(tr, ggplot2$aes(x = .data$x, y = .data$y)) +
      ggplot2$geom_point(ggplot2$aes(size = .data$detections, colour = .data$individuals, shape = .data$status)) +
      ggplot2$geom_text(ggplot2$aes(label = .data$detector), vjust = -1.2, size = 3) +
      ggplot2$scale_shape_manual(values = c(operated = 16, "no effort" = 4)) +
      ggplot2$scale_x_continuous(expand = ggplot2$expansion(mult = 0.15)) +
      ggplot2$scale_y_continuous(expand = ggplot2$expansion(mult = 0.15)) +
      ggplot2$coord_equal() + ggplot2$theme_minimal() +
      ggplot2$labs(x = "x (m)", y = "y (m)", size = "detections", colour = "individuals", shape = NULL,
                   title = paste0("Stations, session ", s))
  } else if (type == "effort") {
    effort_tile_plot(x$usage[[s]], xlab = "occasion", title = paste0("Effort (days), session ", s))   # plots.R
  } else {
    if (!nrow(det)) stop("no detections in session ", s, call. = FALSE)
    agg <- stats::aggregate(count ~ individual, data = det, FUN = sum)
    ns <- stats::aggregate(detector ~ individual, data = det, FUN = function(v) length(unique(v)))
    agg$stations <- ns$detector[match(agg$individual, ns$individual)]
    agg$individual <- factor(agg$individual, levels = agg$individual[order(agg$count)])
    ggplot2$ggplot(agg, ggplot2$aes(x = .data$individual, y = .data$count, fill = .data$stations)) +
      ggplot2$geom_col() +
      ggplot2$coord_flip() + ggplot2$theme_minimal() +
      ggplot2$labs(x = NULL, y = "detections", fill = "stations", title = paste0("Detections per individual, session ", s))
  }
}
