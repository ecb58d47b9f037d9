# Methods for lynxid_capture_history objects (from capture_history() in capture.R): print,
# summary and plot.

#' @export
print.lynxid_capture_history <- function(x, ...) {
  cat("lynxid capture history (", x$detector, " detectors)\n", sep = "")
  s <- x$summary
  for (i in seq_len(nrow(s))) {
    cat(sprintf("  session %s: %d individuals, %d detections, %d occasions x %d stations (%d used), %s trap-days\n",
                s$session[i], s$individuals[i], s$detections[i], s$occasions[i], s$stations[i],
                s$stations_used[i], format(round(s$effort_days[i], 2), nsmall = 0)))
  }
  st <- x$settings
  cat(sprintf("  occasions of %s day(s) from %s (start %sh)\n", st$occasion_length, st$day1, st$occasion_start_time))
  if (!is.null(st$flank)) cat(sprintf("  %s flank only (flank = \"%s\")\n", st$flank, st$flank))
  nu <- nrow(x$records_not_used)
  if (nu) {
    cat(sprintf("  %d of %d records not used: see $issues and $records_not_used\n", nu, x$n_records))
  }
  cat("  as_capthist(), as_oscr(), as_nimble(), as_closed(), as_rmark() convert it; write_capture_history() writes it\n")
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
  ggplot2 <- asNamespace("ggplot2")
  bridge <- py_lynxid("rinterop")
  if (type == "stations") {
    tr <- from_py(py_call(bridge$capture_station_data(py_capture_history(x), s)))
    tr$status <- ifelse(tr$operated, "operated", "no effort")
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
    agg <- from_py(py_call(bridge$capture_individual_data(py_capture_history(x), s)))
    if (!nrow(agg)) stop("no detections in session ", s, call. = FALSE)
    agg$individual <- factor(agg$individual, levels = agg$individual)      # fewest detections first
    ggplot2$ggplot(agg, ggplot2$aes(x = .data$individual, y = .data$detections, fill = .data$stations)) +
      ggplot2$geom_col() +
      ggplot2$coord_flip() + ggplot2$theme_minimal() +
      ggplot2$labs(x = NULL, y = "detections", fill = "stations", title = paste0("Detections per individual, session ", s))
  }
}
