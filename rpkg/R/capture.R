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
               station_covariates = if (is.null(station_covariates)) NULL else as.list(station_covariates))
  opts
}

# ---- camera operation ---------------------------------------------------------------------

#' Camera operation matrix (camtrapR's cameraOperation)
#'
#' Effort per station (row) and day (column), from the station table: a setup or retrieval
#' given as a date counts as half a day (camtrapR: noon), one given with a time as the
#' fraction of the day; malfunction periods (\code{Problem1_from}, \code{Problem1_to}, ...)
#' are 0, days without a deployed camera \code{NA}. By default the values are camtrapR's,
#' quirks included (\code{semantics = "camtrapR"}): rounded to 4 decimals, two cameras set up
#' the same day count 1 for that day; \code{semantics = "exact"} gives the exact working time.
#'
#' The arguments mirror \code{camtrapR::cameraOperation}: \code{station_col}
#' (\code{stationCol}), \code{setup_col} (\code{setupCol}), \code{retrieval_col}
#' (\code{retrievalCol}), \code{camera_col} (\code{cameraCol}), \code{session_col}
#' (\code{sessionCol}), \code{has_problems} (\code{hasProblems}), \code{by_camera}
#' (\code{byCamera}), \code{all_cams_on} (\code{allCamsOn}), \code{cameras_independent}
#' (\code{camerasIndependent}), \code{date_format} (\code{dateFormat}) and
#' \code{occasion_start_time} (\code{occasionStartTime}). Difference on purpose: overlapping
#' problem periods are subtracted once (camtrapR subtracts them twice and stops).
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
#' @param semantics \code{"camtrapR"} (default): camtrapR's day values and rules for several
#'   cameras; \code{"exact"}: the exact working time, several cameras combined on the time
#'   line (union, intersection or sum), any \code{resolution_hours}.
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
                             resolution_hours = 24, unit = c("days", "fraction"),
                             semantics = c("camtrapR", "exact")) {
  unit <- match.arg(unit)
  semantics <- match.arg(semantics)
  api <- py_lynxid()
  st <- py_table_arg(stations, "stations", "local")
  opts <- station_options(station_col, x_col, y_col, setup_col, retrieval_col, camera_col, session_col,
                          has_problems, date_format, NULL)
  opts$station_covariates <- NULL
  res <- py_call(do.call(api$camera_operation, c(list(st, by_camera = by_camera, all_cams_on = all_cams_on,
                                                      cameras_independent = cameras_independent,
                                                      occasion_start_time = occasion_start_time,
                                                      resolution_hours = resolution_hours, unit = unit,
                                                      semantics = semantics),
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
#' \code{output}, \code{buffer_days} = \code{buffer}, \code{max_days} = \code{maxNumberDays},
#' \code{species} = \code{species}, \code{tz} = \code{timeZone}, \code{time_format} =
#' \code{recordDateTimeFormat}, \code{station_col} = \code{stationCol}, \code{individual_col}
#' = \code{individualCol}, \code{time_col} = \code{recordDateTimeCol}, \code{species_col} =
#' \code{speciesCol}, \code{x_col}/\code{y_col} = \code{Xcol}/\code{Ycol},
#' \code{station_covariates} = \code{stationCovariateCols}, \code{min_delta_minutes} =
#' \code{minDeltaTime}, \code{remove_duplicates} = \code{removeDuplicateRecords}. The same
#' names as lynxid's Python \code{capture_history()} and the command line's options
#' (\code{--buffer-days}, \code{--min-delta-minutes}, \code{--station-covariates}).
#'
#' The capture history is turned into what each program reads by \code{\link{as_capthist}}
#' (secr), \code{\link{as_oscr}}, \code{\link{as_nimble}} (nimble/JAGS),
#' \code{\link{as_closed}} (Rcapture) and \code{\link{as_rmark}}, and written to files by
#' \code{\link{write_capture_history}}. It keeps every table the Python side needs, so these
#' work after \code{saveRDS()}/\code{readRDS()} or in a new R session too.
#'
#' @section Deprecated:
#' \code{format =} (and \code{$data}) will be removed in the next release: use the converters.
#' \code{format = "secr"} is \code{as_capthist(ch)}, \code{"oscr"} \code{as_oscr(ch)},
#' \code{"array"} \code{as_nimble(ch, augment_to)}, \code{"closed"} \code{as_closed(ch)} and
#' \code{"rmark"} \code{as_rmark(ch)}; meanwhile \code{format} still fills \code{$data},
#' with a warning, and \code{ch$data} without it gives \code{as_capthist(ch)}, with a warning.
#'
#' @param detections Detections: the result of \code{\link{identify}}, a data frame or the
#'   path of a CSV / Parquet file. Columns are found by name (\code{station}/\code{Station},
#'   \code{timestamp}/\code{DateTimeOriginal}, \code{individual_id}/\code{Individual},
#'   \code{camera}/\code{Camera}); \code{POSIXct} times keep their time zone.
#' @param stations Station table (camtrapR's \code{CTtable}), data frame or file path.
#' @param occasion_length Days per occasion (fractions allowed with \code{semantics = "exact"}).
#' @param day1 \code{"survey"}, \code{"station"} or a date \code{"YYYY-MM-DD"}.
#' @param occasion_start_time Hour of day occasions begin.
#' @param output \code{"binary"} (secr proximity detectors) or \code{"count"} (count detectors).
#' @param format Deprecated (see the section): \code{NULL}, or one of \code{"secr"},
#'   \code{"oscr"}, \code{"array"}, \code{"closed"}, \code{"rmark"} to fill \code{$data} with
#'   that converter's result.
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
#' @param buffer_days Days after each station's setup day before its first occasion
#'   (camtrapR's \code{buffer}).
#' @param max_days At most this many days per station.
#' @param drop_empty_occasions Drop occasions without effort at any station.
#' @param min_delta_minutes Keep only records this many minutes after the last independent
#'   record of the same individual at the station (camtrapR's \code{minDeltaTime}; 0 = all
#'   records).
#' @param delta_compared_to \code{"last_independent"} or \code{"last"} record.
#' @param remove_duplicates Drop records of the same individual, station and time.
#' @param unknown_stations \code{"error"} or \code{"exclude"} records at stations missing
#'   from the station table.
#' @param strict Stop if any record would be left out.
#' @param semantics \code{"camtrapR"} (default): camtrapR's rules, quirks included, so the
#'   result equals \code{camtrapR::spatialDetectionHistory} cell for cell: day values rounded
#'   to 4 decimals, occasions \code{(start, end]} (a record at exactly 00:00:00 belongs to the
#'   day before), two cameras set up the same day count 1, records after their station's last
#'   day left out, one occasion grid over all sessions from the survey's first setup day.
#'   \code{"exact"}: lynxid's exact time line, occasions \code{[start, end)}, each session's
#'   grid from its own first setup day.
#' @param flank \code{"left"} or \code{"right"}: only the detections of that flank (column
#'   \code{flank}, as \code{\link{identify}} writes it from the photos' flank tags), for
#'   surveys whose left and right flanks are not linked to one animal; detections of the other
#'   flank or of no known flank are left out and listed in \code{$issues}. \code{NULL}
#'   (default): every detection, flanks linked by identity. Kept in \code{$settings$flank}.
#' @param augment_to Deprecated with \code{format = "array"}: see \code{\link{as_nimble}}.
#' @param time_shifts Cameras whose clock was wrong: a camtrapR time-shift table (data frame
#'   or CSV path with columns \code{Station}, \code{camera} (optional), \code{timeshift}
#'   \code{"Y:M:D h:m:s"} and \code{sign} \code{"+"}/\code{"-"}, the format of
#'   \code{camtrapR::timeShiftImages}), applied to the record times first; \code{$records}
#'   then keep the times as read in \code{time_original}. Suspicious clocks are listed in
#'   \code{$issues} (stage \code{"clocks"}) either way: see \code{\link{check_clocks}}.
#' @return An object of class \code{lynxid_capture_history}: a list with \code{detections}
#'   (session, individual, occasion, detector, count), \code{usage} (per session a detector x
#'   occasion matrix of days of effort), \code{traps}, \code{occasions}, \code{individuals},
#'   \code{records} (every input row: session, station, individual, time, occasion, status,
#'   reason), \code{records_not_used} (those not used), \code{issues} (row, stage, severity,
#'   reason), \code{deployments} (the cameras' working periods) and \code{media} (each
#'   record's photo), \code{summary}, \code{counts_by_occasion}, \code{detector},
#'   \code{sessions}, \code{settings}, \code{n_records} and \code{schema} (the Python types of
#'   the tables, for rebuilding the Python side). It has \code{print}, \code{summary} and
#'   \code{plot} methods.
#' @seealso \code{\link{as_capthist}}, \code{\link{write_capture_history}},
#'   \code{\link{camera_operation}}, \code{\link{plot.lynxid_capture_history}}
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
#'   as_closed(ch)
#' }
#' @export
capture_history <- function(detections, stations, occasion_length = 1, day1 = "survey",
                            occasion_start_time = 0, output = c("binary", "count"), format = NULL,
                            species = NULL, tz = NULL, station_col = NULL, individual_col = NULL,
                            time_col = NULL, species_col = NULL, time_format = NULL,
                            x_col = "utm_x", y_col = "utm_y", setup_col = "Setup_date",
                            retrieval_col = "Retrieval_date", camera_col = NULL, session_col = NULL,
                            has_problems = NULL, date_format = NULL, station_covariates = NULL,
                            all_cams_on = FALSE, cameras_independent = FALSE, buffer_days = 0,
                            max_days = NULL, drop_empty_occasions = TRUE, min_delta_minutes = 0,
                            delta_compared_to = c("last_independent", "last"),
                            remove_duplicates = FALSE, unknown_stations = c("error", "exclude"),
                            strict = FALSE, augment_to = NULL, semantics = c("camtrapR", "exact"),
                            flank = NULL, time_shifts = NULL) {
  output <- match.arg(output)
  semantics <- match.arg(semantics)
  if (!is.null(format)) format <- match.arg(format, c("secr", "oscr", "array", "closed", "rmark"))
  delta_compared_to <- match.arg(delta_compared_to)
  unknown_stations <- match.arg(unknown_stations)
  api <- py_lynxid()
  if (inherits(detections, "lynxid_identification")) detections <- detections$detections
  tcol <- find_time_col(detections, time_col)
  if (is.null(tz)) tz <- posix_zone(detections, tcol)
  det <- py_table_arg(detections, "detections", "offset")
  st <- py_table_arg(stations, "stations", "local")
  opts <- station_options(station_col, x_col, y_col, setup_col, retrieval_col, camera_col, session_col,
                          has_problems, date_format, station_covariates)
  args <- list(det, st, occasion_length = occasion_length, day1 = as.character(day1),
               occasion_start_time = occasion_start_time, buffer_days = as.integer(buffer_days),
               max_days = max_days, output = output, drop_empty_occasions = drop_empty_occasions,
               all_cams_on = all_cams_on, cameras_independent = cameras_independent,
               min_delta_minutes = min_delta_minutes, delta_compared_to = delta_compared_to,
               remove_duplicates = remove_duplicates, species = species, tz = tz,
               time_format = time_format, station_col = station_col, time_col = tcol,
               individual_col = individual_col, species_col = species_col,
               unknown_stations = unknown_stations, strict = strict, station_options = opts,
               semantics = semantics, flank = flank)
  if (!is.null(time_shifts)) args$time_shifts <- py_table_arg(time_shifts, "time_shifts", "local")
  ch <- py_call(do.call(api$capture_history, args))
  x <- capture_history_from_py(ch)
  if (!is.null(format)) {                       # deprecated: one release more
    new <- c(secr = "as_capthist(ch)", oscr = "as_oscr(ch)", array = "as_nimble(ch, augment_to)",
             closed = "as_closed(ch)", rmark = "as_rmark(ch)")[[format]]
    .Deprecated(msg = paste0("capture_history(format = \"", format, "\") is deprecated and will be removed: ",
                             "build the capture history, then convert it with ", new))
    x$data <- switch(format, secr = as_capthist(x), oscr = as_oscr(x), array = as_nimble(x, augment_to),
                     closed = as_closed(x), rmark = as_rmark(x))
    x$format <- format
  }
  x
}

# The Python capture history as R objects. Everything crosses in one call
# (lynxid.rinterop.capture_history_to_r): the usage and counts-by-occasion matrices as one
# numeric vector each, the tables column by column -- all the tables, so that the Python side
# can be rebuilt from this object alone (py_capture_history()).
capture_history_from_py <- function(ch) {
  parts <- reticulate::py_to_r(py_lynxid("rinterop")$capture_history_to_r(ch))
  sessions <- as.character(unlist(parts$sessions))
  settings <- rebuild(parts$settings)
  tz <- settings$tz
  usage <- lapply(parts$usage, function(m) {
    m <- rebuild(m)
    storage.mode(m) <- "double"
    m
  })
  cbo <- lapply(parts$counts_by_occasion, rebuild)
  names(usage) <- names(cbo) <- sessions
  records <- rebuild(parts$records, tz)
  not_used <- records[records$status != "used", , drop = FALSE]
  rownames(not_used) <- NULL
  structure(list(
    detections = rebuild(parts$detections),
    usage = usage,
    traps = rebuild(parts$traps, tz),
    occasions = rebuild(parts$occasions, tz),
    individuals = rebuild(parts$individuals),
    records = records,
    records_not_used = not_used,
    issues = rebuild(parts$issues),
    deployments = if (is.null(parts$deployments)) NULL else rebuild(parts$deployments, tz),
    media = if (is.null(parts$media)) NULL else rebuild(parts$media, tz),
    summary = rebuild(parts$summary),
    counts_by_occasion = cbo,
    detector = parts$detector,
    sessions = sessions,
    settings = settings,
    n_records = parts$n_records,
    schema = parts$schema
  ), class = "lynxid_capture_history", py = ch)
}

# The Python CaptureHistory of `x`: the one capture_history() made, while this R session has
# it; else rebuilt from the tables `x` keeps (after saveRDS/readRDS or a restart of R).
py_capture_history <- function(x) {
  if (!inherits(x, "lynxid_capture_history")) {
    stop("give a capture history from capture_history()", call. = FALSE)
  }
  py <- attr(x, "py")
  if (!is.null(py) && !reticulate::py_is_null_xptr(py)) return(py)
  if (is.null(x$schema)) {
    stop("this capture history was made by an older lynxid and has no Python side: build it again with ",
         "capture_history()", call. = FALSE)
  }
  tables <- c("detections", "traps", "occasions", "individuals", "records", "issues", "deployments", "media")
  parts <- lapply(stats::setNames(tables, tables), function(k) if (!is.null(x[[k]])) capture_table_to_py(x[[k]]))
  parts <- parts[!vapply(parts, is.null, TRUE)]
  parts$usage <- lapply(x$usage, function(m) {           # a named list: a dict session -> frame
    capture_table_to_py(data.frame(detector = rownames(m), m, check.names = FALSE, stringsAsFactors = FALSE))
  })
  parts$schema <- x$schema
  py_call(py_lynxid("rinterop")$capture_history_from_r(parts))
}

# A table of the capture history for Python: date-times as their wall clock with the UTC
# offset (the Python side restores its own types from the schema).
capture_table_to_py <- function(df) {
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  for (nm in names(df)) {
    v <- df[[nm]]
    if (inherits(v, "POSIXt")) {
      tz <- attr(as.POSIXct(v), "tzone")
      df[[nm]] <- ifelse(is.na(v), NA_character_,
                         format(v, "%Y-%m-%dT%H:%M:%S%z", tz = if (is.null(tz)) "" else tz[1]))
    }
  }
  r_to_pandas(df)
}

#' Write a capture history to files
#'
#' Writes the formats read by secr (\code{capt.txt}, \code{traps.txt} and
#' \code{read_secr.R}), oSCR, nimble/JAGS, Rcapture, RMark and Camtrap DP, plus
#' \code{summary.json}, \code{usage.csv} and \code{issues.csv}; the same files as the
#' command line \code{lynxid capture-history}. Works from the R object alone: after
#' \code{saveRDS()}/\code{readRDS()} or in a new R session as well.
#'
#' secr's \code{read.traps} cannot read trap covariate values with blanks, \code{/},
#' \code{#} or quotes (it splits the covariates at white space after removing the quotes),
#' so the trap files hold them with those characters replaced by \code{_}
#' (\code{"forest edge"} as \code{forest_edge}); \code{trap_covariates.csv} holds the exact
#' values, and \code{read_secr.R} puts them back into the capthist after reading.
#'
#' @param x A \code{lynxid_capture_history} from \code{\link{capture_history}}.
#' @param out Output folder.
#' @param formats Any of \code{"secr"}, \code{"oscr"}, \code{"nimble"}, \code{"closed"},
#'   \code{"rmark"}, \code{"camtrapdp"}, or \code{"all"}.
#' @param augment_to nimble/JAGS data augmentation (M); \code{NULL} (default):
#'   \code{max(5 n, n + 1)} per session, as \code{\link{as_nimble}}.
#' @param crs Camtrap DP: the UTM zone of the coordinates, e.g. \code{"EPSG:32632"}.
#' @param scientific_name Camtrap DP: e.g. \code{"Lynx lynx"}.
#' @return The paths written, invisibly (a list by format).
#' @examples
#' \dontrun{
#' ch <- capture_history("detections.csv", "stations.csv", occasion_length = 5)
#' write_capture_history(ch, "ch", formats = c("secr", "oscr"))
#' saveRDS(ch, "ch.rds")
#' # later, in another R session:
#' write_capture_history(readRDS("ch.rds"), "ch", formats = "nimble")
#' }
#' @export
write_capture_history <- function(x, out, formats = "secr", augment_to = NULL, crs = NULL,
                                  scientific_name = NULL) {
  py <- py_capture_history(x)
  api <- py_lynxid()
  res <- py_call(api$write_capture_history(py, normalizePath(out, mustWork = FALSE), as.list(formats),
                                           augment_to = if (is.null(augment_to)) NULL else as.integer(augment_to),
                                           crs = crs, scientific_name = scientific_name))
  invisible(reticulate::py_to_r(res))
}

# The converters (as_capthist(), as_oscr(), as_nimble(), as_closed(), as_rmark()): see
# capture_formats.R; print, summary and plot methods: capture_methods.R.
