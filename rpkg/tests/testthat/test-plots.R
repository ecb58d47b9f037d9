# ggplot2 figures: built from identify()'s output, they draw what they are given.

test_that("the four report figures build from identify() output", {
  skip_without_python()
  skip_if_not_installed("ggplot2")
  run <- small_run()
  det <- run$det
  events <- unique(det[!is.na(det$individual_id), c("event_id", "individual_id", "station")])

  p <- plot_stations(det, run$sim$stations)
  expect_s3_class(p, "ggplot")
  b <- ggplot2::ggplot_build(p)
  pts <- b$data[[4]]                                          # individual x station dots
  expect_equal(nrow(pts), nrow(unique(events[, c("individual_id", "station")])))
  expect_equal(sum(pts$size > 0), nrow(pts))
  expect_equal(nrow(b$data[[2]]), nrow(read.csv(run$sim$stations)))   # every station drawn
  expect_error(plot_stations(det, run$sim$stations, x_col = "X"), "no column.*X")

  p <- plot_timeline(det)
  b <- ggplot2::ggplot_build(p)
  timed <- unique(det[!is.na(det$timestamp) & !is.na(det$individual_id), c("event_id", "individual_id")])
  expect_equal(nrow(b$data[[1]]), nrow(timed))

  co <- camera_operation(run$sim$stations)
  b <- ggplot2::ggplot_build(plot_effort(co))
  expect_equal(nrow(b$data[[1]]), length(co))
  expect_equal(sum(is.na(b$data[[1]]$fill) | b$data[[1]]$fill == "grey85"), sum(is.na(co)))
  ch <- capture_history(det, run$sim$stations, occasion_length = 5)
  expect_s3_class(plot_effort(ch), "ggplot")

  p <- plot_scores(det)
  b <- ggplot2::ggplot_build(p)
  n_events <- nrow(unique(det[, c("event_id", "individual_id")]))
  expect_equal(sum(b$data[[1]]$count), 2 * n_events)         # both panels count every event once
})
