# Report figures with ggplot2 (the Python side draws the same ones with matplotlib:
# lynxid.plots). Each function returns a ggplot object, to print, save with
# ggplot2::ggsave() or extend with + theme(...).

need_ggplot2 <- function() {
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    stop("plotting needs the ggplot2 package: install.packages(\"ggplot2\")", call. = FALSE)
  }
}

read_table_arg <- function(x, what) {
  if (is.data.frame(x)) return(as.data.frame(x))
  if (is.character(x) && length(x) == 1 && file.exists(x)) return(utils::read.csv(x, stringsAsFactors = FALSE))
  stop(what, " must be a data frame or the path of a CSV file", call. = FALSE)
}

# One row per event and individual (photos of a burst count once); rejected and
# unidentified detections are left out.
detection_events <- function(x) {
  x <- as.data.frame(x)
  need <- c("individual_id", "station")
  miss <- setdiff(need, names(x))
  if (length(miss)) stop("detections lack the column(s) ", paste(miss, collapse = ", "), call. = FALSE)
  x <- x[!is.na(x$individual_id) & x$individual_id != "", , drop = FALSE]
  ev <- if ("event_id" %in% names(x)) x$event_id else seq_len(nrow(x))
  key <- paste(x$individual_id, ev, sep = "\r")
  first <- !duplicated(key)
  t <- if ("timestamp" %in% names(x)) x$timestamp else rep(NA, nrow(x))
  tmin <- if (inherits(t, "POSIXct")) {
    v <- tapply(as.numeric(t), key, min)
    as.POSIXct(v[key[first]], origin = "1970-01-01", tz = attr(t, "tzone") %||% "")
  } else t[first]
  data.frame(individual = x$individual_id[first], event = ev[first], station = x$station[first],
             time = tmin, is_new = if ("is_new" %in% names(x)) as.logical(x$is_new[first]) else FALSE,
             stringsAsFactors = FALSE)
}

#' Map of stations with the detections of each individual
#'
#' Stations are triangles; each individual is a colour, with a dot at every station where it
#' was detected (size: number of events) joined to the centre of its detections -- the
#' spatial recaptures an SCR model learns sigma from.
#'
#' @param detections Detections from \code{\link{identify}} (or any table with
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
#' if (requireNamespace("ggplot2", quietly = TRUE)) plot_stations(det, stations)
#' @export
plot_stations <- function(detections, stations, station_col = "Station", x_col = "utm_x", y_col = "utm_y") {
  need_ggplot2()
  st <- read_table_arg(stations, "stations")
  miss <- setdiff(c(station_col, x_col, y_col), names(st))
  if (length(miss)) {
    stop("station table has no column(s) ", paste(miss, collapse = ", "), " (it has ", paste(names(st), collapse = ", "),
         "); give station_col, x_col, y_col", call. = FALSE)
  }
  st <- data.frame(station = as.character(st[[station_col]]), x = as.numeric(st[[x_col]]), y = as.numeric(st[[y_col]]))
  ev <- detection_events(detections)
  ev <- ev[ev$station %in% st$station, , drop = FALSE]
  n <- stats::aggregate(list(n = rep(1, nrow(ev))), list(individual = ev$individual, station = ev$station), sum)
  span <- max(diff(range(st$x)), diff(range(st$y)), 1)
  # individuals at one station sit on a small circle around it, so none hides another
  n <- n[order(n$station, n$individual), , drop = FALSE]
  k <- stats::ave(seq_len(nrow(n)), n$station, FUN = seq_along) - 1
  m <- stats::ave(seq_len(nrow(n)), n$station, FUN = length)
  r <- ifelse(m > 1, 0.025 * span, 0)
  i <- match(n$station, st$station)
  n$x <- st$x[i] + r * cos(2 * pi * k / m)
  n$y <- st$y[i] + r * sin(2 * pi * k / m)
  cx <- tapply(n$x * n$n, n$individual, sum) / tapply(n$n, n$individual, sum)
  cy <- tapply(n$y * n$n, n$individual, sum) / tapply(n$n, n$individual, sum)
  n$cx <- cx[n$individual]
  n$cy <- cy[n$individual]
  tot <- tapply(n$n, n$individual, sum)
  n$label <- paste0(n$individual, " (", tot[n$individual], ")")
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
                                  length(unique(ev$individual)), nrow(ev)))
}

#' Capture timeline per individual
#'
#' One row per individual (in order of first detection), a mark per event, coloured by
#' station; hollow marks for individuals new to the catalogue.
#'
#' @param detections Detections from \code{\link{identify}}.
#' @return A \code{ggplot}.
#' @examples
#' det <- data.frame(individual_id = c("L1", "L1", "NEW-001"), station = c("A", "B", "A"),
#'                   event_id = c("EV1", "EV2", "EV3"), is_new = c(FALSE, FALSE, TRUE),
#'                   timestamp = as.POSIXct(c("2025-02-01 20:00", "2025-02-04 03:00",
#'                                            "2025-02-05 22:00"), tz = "Europe/Zurich"))
#' if (requireNamespace("ggplot2", quietly = TRUE)) plot_timeline(det)
#' @export
plot_timeline <- function(detections) {
  need_ggplot2()
  ev <- detection_events(detections)
  if (!inherits(ev$time, "POSIXct")) stop("detections need a POSIXct timestamp column (as from identify())", call. = FALSE)
  ev <- ev[!is.na(ev$time), , drop = FALSE]
  first <- tapply(as.numeric(ev$time), ev$individual, min)
  ev$individual <- factor(ev$individual, levels = rev(names(sort(first))))
  ev$status <- ifelse(ev$is_new, "new", "catalogue")
  ggplot2::ggplot(ev, ggplot2::aes(x = .data$time, y = .data$individual, colour = .data$station, shape = .data$status)) +
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
#' @param detections Detections from \code{\link{identify}}.
#' @param review_below The review threshold used (drawn as a line).
#' @return A \code{ggplot}.
#' @examples
#' det <- data.frame(event_id = c("EV1", "EV2", "EV3"), individual_id = c("L1", "L2", "NEW-001"),
#'                   is_new = c(FALSE, FALSE, TRUE), p_new = c(0.02, 0.3, 0.8),
#'                   candidates = c('[{"individual": "L1", "probability": 0.97}]',
#'                                  '[{"individual": "L2", "probability": 0.6}]',
#'                                  '[{"individual": "L1", "probability": 0.15}]'))
#' if (requireNamespace("ggplot2", quietly = TRUE)) plot_scores(det)
#' @export
plot_scores <- function(detections, review_below = 0.9) {
  need_ggplot2()
  x <- as.data.frame(detections)
  if (!"detection_id" %in% names(x)) x$detection_id <- as.character(seq_len(nrow(x)))
  if (!"event_id" %in% names(x)) x$event_id <- x$detection_id
  ct <- candidate_table(x)
  best <- if (nrow(ct)) tapply(ct$probability, ct$detection_id, max) else numeric()
  x$best <- ifelse(x$detection_id %in% names(best), best[x$detection_id], 0)
  new <- as.logical(x$is_new)
  if (all(c("decision", "machine_individual_id") %in% names(x))) {
    reviewed <- x$decision %in% c("confirmed", "reviewed", "rejected")
    new[reviewed] <- grepl("^NEW-", x$machine_individual_id[reviewed])   # the machine's own call: a provisional ID
  }
  id <- if ("machine_individual_id" %in% names(x)) x$machine_individual_id else x$individual_id
  key <- paste(x$event_id, ifelse(is.na(id), "", id), sep = "\r")
  first <- !duplicated(key)
  ev <- data.frame(call = ifelse(new, "called new", "called known")[first],
                   best = tapply(x$best, key, max)[key[first]], p_new = tapply(x$p_new, key, max)[key[first]])
  n <- table(factor(ev$call, levels = c("called known", "called new")))
  lab <- stats::setNames(paste0(names(n), " (", n, ")"), names(n))
  long <- rbind(data.frame(call = ev$call, measure = "probability of the best catalogue candidate", value = ev$best),
                data.frame(call = ev$call, measure = "P(new individual)", value = ev$p_new))
  long$measure <- factor(long$measure, levels = c("probability of the best catalogue candidate", "P(new individual)"))
  lines <- data.frame(measure = factor(c("probability of the best catalogue candidate", "P(new individual)"),
                                       levels = levels(long$measure)),
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
