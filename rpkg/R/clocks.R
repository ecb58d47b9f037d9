# Camera clocks: an R front end to lynxid.clocks (the checks and the suggested shifts are
# made in Python; here R data are handed over and the table comes back as a data frame).

#' Check the camera clocks against the deployments
#'
#' A camera whose clock is wrong (reset to its default date after the batteries were out,
#' set to the wrong year, hours off) moves all its records by the same amount, and the
#' capture history then loses them or puts them in the wrong occasions. \code{check_clocks()}
#' looks at every camera (station and camera): records outside the station's deployment
#' (setup to retrieval, as \code{camtrapR::cameraOperation} reads the station table; a date
#' without time covers the whole day), a first record in the first days of a January (a
#' clock reset to its default date), records a constant time before or after those of the
#' other camera at the same station, and, without a station table, records far from the
#' survey's bulk. When one constant shift explains what it sees, it suggests that shift in
#' the format of \code{camtrapR::timeShiftImages}. Nothing is corrected: check the
#' suggestion, put it in a time-shift table and give that to \code{\link{capture_history}}
#' (\code{time_shifts}).
#'
#' @param detections Detections (\code{\link{identify}}'s result or its \code{$detections})
#'   or a camtrapR record table: a data frame or a CSV / Parquet path. No individual column
#'   is needed.
#' @param stations Station table, as in \code{\link{capture_history}}; \code{NULL}: compare
#'   the cameras with the survey's bulk only.
#' @param time_shifts A camtrapR time-shift table (see \code{\link{capture_history}}) to
#'   apply first, to check a correction.
#' @param tz Survey time zone; \code{NULL}: the zone of \code{POSIXct} times.
#' @param station_col,time_col,species_col,time_format,species Detections, as in
#'   \code{\link{capture_history}}.
#' @param x_col,y_col,setup_col,retrieval_col,camera_col,session_col,has_problems,date_format
#'   Station table, as in \code{\link{camera_operation}}.
#' @param far_days Cameras without a deployment: flag those whose records are this many days
#'   from the survey's middle.
#' @return A data frame, one row per camera: \code{station}, \code{camera},
#'   \code{n_records}, \code{n_outside} (outside the deployment), \code{n_in_problem} (in a
#'   Problem period), \code{first_record}, \code{last_record}, \code{setup},
#'   \code{retrieval}, \code{flag} (\code{"ok"}, \code{"clock reset"}, \code{"outside
#'   deployment"}, \code{"partly outside deployment"}, \code{"off from the other camera"},
#'   \code{"far from the survey"} or \code{"unknown station"}), \code{suggested_timeshift}
#'   and \code{suggested_sign} (camtrapR's \code{timeshift} and \code{sign}) and \code{note}
#'   (what was seen).
#' @seealso \code{\link{capture_history}} (\code{time_shifts}), \code{\link{camera_operation}}
#' @examples
#' stations <- data.frame(Station = c("A", "B"), utm_x = c(500000, 502000),
#'                        utm_y = c(5200000, 5200000),
#'                        Setup_date = c("2017-03-01", "2017-03-01"),
#'                        Retrieval_date = c("2017-04-10", "2017-04-10"))
#' detections <- data.frame(station = c("A", "A", "B", "B"), individual_id = "L1",
#'                          timestamp = c("2017-03-04 21:10:00", "2017-03-20 03:40:00",
#'                                        "2006-01-02 22:00:00", "2006-01-09 01:30:00"))
#' if (lynxid_available()) {
#'   clocks <- check_clocks(detections, stations)
#'   clocks[, c("station", "flag", "suggested_timeshift", "suggested_sign")]
#'   shifts <- data.frame(Station = "B", timeshift = clocks$suggested_timeshift[2],
#'                        sign = clocks$suggested_sign[2])
#'   check_clocks(detections, stations, time_shifts = shifts)$flag
#' }
#' @export
check_clocks <- function(detections, stations = NULL, time_shifts = NULL, tz = NULL, station_col = NULL,
                         time_col = NULL, species_col = NULL, time_format = NULL, species = NULL,
                         x_col = "utm_x", y_col = "utm_y", setup_col = "Setup_date",
                         retrieval_col = "Retrieval_date", camera_col = NULL, session_col = NULL,
                         has_problems = NULL, date_format = NULL, far_days = 180) {
  api <- py_lynxid()
  if (inherits(detections, "lynxid_identification")) detections <- detections$detections
  tcol <- find_time_col(detections, time_col)
  if (is.null(tz)) tz <- posix_zone(detections, tcol)
  det <- py_table_arg(detections, "detections", "offset")
  st <- if (is.null(stations)) NULL else py_table_arg(stations, "stations", "local")
  opts <- station_options(station_col, x_col, y_col, setup_col, retrieval_col, camera_col, session_col,
                          has_problems, date_format, NULL)
  opts$station_covariates <- NULL
  shifts <- if (is.null(time_shifts)) NULL else py_table_arg(time_shifts, "time_shifts", "local")
  res <- py_call(api$check_clocks(det, st, time_shifts = shifts, time_col = tcol, species_col = species_col,
                                  species = species, time_format = time_format, tz = tz,
                                  station_options = opts, far_days = far_days))
  py_frame_to_r(res, tz)
}
