# Report figures with ggplot2 (the Python side draws the same ones with matplotlib:
# lynxid.plots). What each figure shows -- events, positions, the machine's calls -- comes from
# lynxid.plots' data functions, the ones the matplotlib figures are drawn from; R only draws.
# Each function returns a ggplot object, to print, save with ggplot2::ggsave() or extend with
# + theme(...).

need_ggplot2 <- function() {
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    stop("plotting needs the ggplot2 package: install.packages(\"ggplot2\")", call. = FALSE)
  }
}

# A Python plot-data function on the detections (and more), its result in R.
plot_data <- function(fun, detections, ...) {
  bridge <- py_lynxid("rinterop")
  from_py(py_call(bridge[[fun]](py_detections(detections), ...)), tz = detections_zone(detections))
}

#' Map of stations with the detections of each individual
#'
#' Stations are triangles; each individual is a colour, with a dot at every station where it
#' was detected (size: number of events) joined to the centre of its detections -- the
#' spatial recaptures an SCR model learns sigma from.
#'
#' @param detections The result of \code{\link{identify}} (or a table with
#'   \code{individual_id}, \code{station} and optionally \code{event_id}).
#' @param stations Station table (camtrapR's \code{CTtable}): data frame or CSV path.
#' @param station_col,x_col,y_col Its station ID and coordinate (metres) columns.
#' @return A \code{ggplot}.
#' @seealso \code{\link{plot_timeline}}, \code{\link{plot_effort}}, \code{\link{plot_scores}}
#' @examples
#' stations <- data.frame(Station = c("A", "B", "C"), utm_x = c(0, 2000, 4000),
#'                        utm_y = c(0, 0, 1500))
#' det <- data.frame(individual_id = c("L1", "L1", "L2", "L1"), station = c("A", "B", "B", "A"),
#'                   event_id = c("EV1", "EV2", "EV3", "EV4"))
#' if (lynxid_available() && requireNamespace("ggplot2", quietly = TRUE)) plot_stations(det, stations)
#' @export
plot_stations <- function(detections, stations, station_col = "Station", x_col = "utm_x", y_col = "utm_y") {
  need_ggplot2()
  d <- plot_data("station_map_data", detections, py_table_arg(stations, "stations", "local"),
                 station_col = station_col, x_col = x_col, y_col = y_col)
  st <- d$stations
  n <- d$points
  if (!nrow(n)) n <- data.frame(individual_id = character(), station = character(), n = integer(), x = numeric(),
                                y = numeric(), cx = numeric(), cy = numeric(), events = integer())
  n$label <- paste0(n$individual_id, " (", n$events, ")")
  ggplot2::ggplot() +
    ggplot2::geom_segment(data = n, ggplot2::aes(x = .data$cx, y = .data$cy, xend = .data$x, yend = .data$y,
                                                 colour = .data$label), alpha = 0.6) +
    ggplot2::geom_point(data = st, ggplot2::aes(x = .data$x, y = .data$y), shape = 2, size = 3, colour = "grey35") +
    ggplot2::geom_text(data = st, ggplot2::aes(x = .data$x, y = .data$y, label = .data$station), vjust = 2.2,
                       size = 2.6, colour = "grey30") +
    ggplot2::geom_point(data = n, ggplot2::aes(x = .data$x, y = .data$y, size = .data$n, fill = .data$label),
                        shape = 21, colour = "black", stroke = 0.3) +
    ggplot2::scale_size_area(max_size = 7, name = "events") +
    ggplot2::guides(colour = "none", fill = ggplot2::guide_legend(override.aes = list(size = 3))) +
    ggplot2::coord_equal() + ggplot2::theme_minimal() + ggplot2::theme(plot.title.position = "plot") +
    ggplot2::labs(x = paste(x_col, "(m)"), y = paste(y_col, "(m)"), fill = "individual (events)",
                  title = sprintf("Detections per individual: %d individuals, %d events",
                                  length(unique(n$individual_id)), as.integer(d$n_events)))
}

#' Capture timeline per individual
#'
#' One row per individual (in order of first detection), a mark per event, coloured by
#' station; hollow marks for individuals new to the catalogue.
#'
#' @param detections The result of \code{\link{identify}} (or a detections table).
#' @return A \code{ggplot}.
#' @examples
#' det <- data.frame(individual_id = c("L1", "L1", "NEW-001"), station = c("A", "B", "A"),
#'                   event_id = c("EV1", "EV2", "EV3"), is_new = c(FALSE, FALSE, TRUE),
#'                   timestamp = as.POSIXct(c("2025-02-01 20:00", "2025-02-04 03:00",
#'                                            "2025-02-05 22:00"), tz = "Europe/Zurich"))
#' if (lynxid_available() && requireNamespace("ggplot2", quietly = TRUE)) plot_timeline(det)
#' @export
plot_timeline <- function(detections) {
  need_ggplot2()
  ev <- plot_data("timeline_data", detections)
  if (!nrow(ev)) stop("no detection with an individual and a time to draw", call. = FALSE)
  if (!inherits(ev$timestamp, "POSIXct")) {          # times without a zone: drawn as the clock shows them
    ev$timestamp <- as.POSIXct(ev$timestamp, tz = "UTC", format = "%Y-%m-%d %H:%M:%S")
  }
  levels <- unique(ev$individual_id[order(ev$order)])
  ev$individual_id <- factor(ev$individual_id, levels = rev(levels))
  ggplot2::ggplot(ev, ggplot2::aes(x = .data$timestamp, y = .data$individual_id, colour = .data$station,
                                   shape = .data$status)) +
    ggplot2::geom_point(size = 2.6, stroke = 1.1) +
    ggplot2::scale_shape_manual(values = c(catalogue = 16, new = 1), name = NULL) +
    ggplot2::theme_minimal() +
    ggplot2::labs(x = NULL, y = NULL, colour = "station",
                  title = "Capture timeline (filled: catalogue individual, hollow: new)")
}

#' Effort heatmap: station x occasion
#'
#' @param x A camera operation matrix from \code{\link{camera_operation}} (stations x days) or
#'   a \code{lynxid_capture_history} (its usage: stations x occasions).
#' @param session For a capture history: which session (default: the first).
#' @return A \code{ggplot}: days of effort per cell; grey where no camera was deployed,
#'   0 where it was deployed but not working.
#' @examples
#' m <- matrix(c(0.5, 1, 1, NA, 1, 0, 1, 0.5), nrow = 2, byrow = TRUE,
#'             dimnames = list(c("A", "B"), c("2025-02-01", "2025-02-02", "2025-02-03", "2025-02-04")))
#' if (requireNamespace("ggplot2", quietly = TRUE)) plot_effort(m)
#' @export
plot_effort <- function(x, session = NULL) {
  need_ggplot2()
  if (inherits(x, "lynxid_capture_history")) return(plot(x, "effort", session = session))
  if (is.data.frame(x)) {
    rn <- x[[1]]
    x <- as.matrix(x[, -1, drop = FALSE])
    rownames(x) <- rn
  }
  if (!is.matrix(x)) stop("x must be a camera operation matrix or a capture history", call. = FALSE)
  effort_tile_plot(x, xlab = "day", title = sprintf("Effort: %.1f trap-days at %d stations (grey: not deployed)",
                                                     sum(x, na.rm = TRUE), nrow(x)))
}

# Shared by plot_effort() and plot.lynxid_capture_history(type = "effort").
effort_tile_plot <- function(u, xlab, title) {
  need_ggplot2()
  cols <- if (is.null(colnames(u))) as.character(seq_len(ncol(u))) else colnames(u)
  rows <- if (is.null(rownames(u))) as.character(seq_len(nrow(u))) else rownames(u)
  df <- data.frame(station = factor(rep(rows, ncol(u)), levels = rev(rows)),
                   column = factor(rep(cols, each = nrow(u)), levels = cols), effort = as.vector(u))
  step <- max(1, ncol(u) %/% 12)
  ggplot2::ggplot(df, ggplot2::aes(x = .data$column, y = .data$station, fill = .data$effort)) +
    ggplot2::geom_tile() +
    ggplot2::scale_fill_viridis_c(name = "days", na.value = "grey85", limits = c(0, max(1, u, na.rm = TRUE))) +
    ggplot2::scale_x_discrete(breaks = cols[seq(1, length(cols), by = step)]) +
    ggplot2::theme_minimal() +
    ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 45, hjust = 1), panel.grid = ggplot2::element_blank()) +
    ggplot2::labs(x = xlab, y = NULL, title = title)
}

#' Score distribution of animals called known and new
#'
#' Per event, the probability of the best catalogue candidate and the probability that the
#' animal is new, split by the machine's call. Well separated histograms mean clear
#' decisions; the middle is what the review report is for.
#'
#' @param detections The result of \code{\link{identify}} (its \code{$candidates} give the best
#'   candidate), or a detections table with the JSON \code{candidates} column of
#'   \code{detections.csv}.
#' @param review_below The review threshold used (drawn as a line).
#' @return A \code{ggplot}.
#' @examples
#' det <- data.frame(event_id = c("EV1", "EV2", "EV3"), individual_id = c("L1", "L2", "NEW-001"),
#'                   is_new = c(FALSE, FALSE, TRUE), p_new = c(0.02, 0.3, 0.8),
#'                   candidates = c('[{"individual": "L1", "probability": 0.97}]',
#'                                  '[{"individual": "L2", "probability": 0.6}]',
#'                                  '[{"individual": "L1", "probability": 0.15}]'))
#' if (lynxid_available() && requireNamespace("ggplot2", quietly = TRUE)) plot_scores(det)
#' @export
plot_scores <- function(detections, review_below = 0.9) {
  need_ggplot2()
  cand <- if (inherits(detections, "lynxid_identification")) r_to_pandas(detections$candidates) else NULL
  ev <- plot_data("score_data", detections, cand)
  ev$call <- paste("called", ev$call)
  n <- table(factor(ev$call, levels = c("called known", "called new")))
  lab <- stats::setNames(paste0(names(n), " (", n, ")"), names(n))
  measures <- c("probability of the best catalogue candidate", "P(new individual)")
  long <- rbind(data.frame(call = ev$call, measure = measures[1], value = ev$best),
                data.frame(call = ev$call, measure = measures[2], value = ev$p_new))
  long$measure <- factor(long$measure, levels = measures)
  lines <- data.frame(measure = factor(measures, levels = measures),
                      x = c(if (is.null(review_below)) NA else review_below, NA))
  ggplot2::ggplot(long, ggplot2::aes(x = .data$value, fill = .data$call)) +
    ggplot2::geom_histogram(binwidth = 0.05, boundary = 0, colour = "white") +
    ggplot2::geom_vline(data = lines[!is.na(lines$x), ], ggplot2::aes(xintercept = .data$x), linetype = "dashed",
                        colour = "grey30") +
    ggplot2::facet_wrap(~measure) +
    ggplot2::scale_fill_manual(values = c("called known" = "#2e7d32", "called new" = "#6a1b9a"), labels = lab,
                               name = NULL) +
    ggplot2::coord_cartesian(xlim = c(0, 1)) +
    ggplot2::theme_minimal() + ggplot2::theme(legend.position = "top") +
    ggplot2::labs(x = NULL, y = "events", title = sprintf("Identification scores of %d events", nrow(ev)))
}
