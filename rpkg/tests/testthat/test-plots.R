# ggplot2 figures: built from identify()'s result, they draw what lynxid.plots' data functions
# give (the data of the matplotlib figures too).

test_that("the four report figures build from identify() output", {
  skip_without_python()
  skip_if_not_installed("ggplot2")
  run <- small_run()
  res <- run$res
  det <- res$detections
  events <- unique(det[!is.na(det$individual_id), c("event_id", "individual_id", "station")])

  p <- plot_stations(res, run$sim$stations)
  expect_s3_class(p, "ggplot")
  b <- ggplot2::ggplot_build(p)
  pts <- b$data[[4]]                                          # individual x station dots
  expect_equal(nrow(pts), nrow(unique(events[, c("individual_id", "station")])))
  expect_equal(sum(pts$size > 0), nrow(pts))
  expect_equal(nrow(b$data[[2]]), nrow(read.csv(run$sim$stations)))   # every station drawn
  expect_match(p$labels$title, sprintf("%d individuals, %d events", length(unique(events$individual_id)),
                                       nrow(events)))
  expect_error(plot_stations(res, run$sim$stations, x_col = "X"), "no column.*X")
  expect_equal(ggplot2::ggplot_build(plot_stations(det, run$sim$stations))$data[[4]], pts)   # the table alike

  p <- plot_timeline(res)
  b <- ggplot2::ggplot_build(p)
  timed <- unique(det[!is.na(det$timestamp) & !is.na(det$individual_id), c("event_id", "individual_id")])
  expect_equal(nrow(b$data[[1]]), nrow(timed))
  expect_s3_class(p$data$timestamp, "POSIXct")
  expect_equal(attr(p$data$timestamp, "tzone"), attr(det$timestamp, "tzone"))
  first <- tapply(as.numeric(p$data$timestamp), as.character(p$data$individual_id), min)
  expect_equal(rev(levels(p$data$individual_id)), names(sort(first)))        # top row: seen first

  co <- camera_operation(run$sim$stations)
  b <- ggplot2::ggplot_build(plot_effort(co))
  expect_equal(nrow(b$data[[1]]), length(co))
  expect_equal(sum(is.na(b$data[[1]]$fill) | b$data[[1]]$fill == "grey85"), sum(is.na(co)))
  ch <- capture_history(res, run$sim$stations, occasion_length = 5)
  expect_s3_class(plot_effort(ch), "ggplot")

  p <- plot_scores(res)
  b <- ggplot2::ggplot_build(p)
  n_events <- nrow(unique(det[, c("event_id", "individual_id")]))
  expect_equal(sum(b$data[[1]]$count), 2 * n_events)         # both panels count every event once
  # the best candidate's probability is what the candidates table says
  best <- tapply(res$candidates$probability, res$candidates$event_id, max)
  known <- p$data[p$data$measure == "probability of the best catalogue candidate", ]
  expect_true(all(round(known$value, 4) %in% round(best, 4)))
})

test_that("the capture history's figures count what the Python side counts", {
  skip_without_python()
  skip_if_not_installed("ggplot2")
  run <- small_run()
  ch <- capture_history(run$res, run$sim$stations, occasion_length = 5)
  d <- ch$detections
  p <- plot(ch, "stations")
  expect_equal(sum(p$data$detections), sum(d$count))
  expect_equal(p$data$individuals[match(d$detector[1], p$data$detector)],
               length(unique(d$individual[d$detector == d$detector[1]])))
  p <- plot(ch, "individuals")
  expect_equal(sort(as.character(p$data$individual)), sort(unique(d$individual)))
  expect_false(is.unsorted(p$data$detections))
})
