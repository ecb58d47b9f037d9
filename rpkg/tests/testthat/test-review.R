# Review from R: the report, the decisions file, applying decisions (with and without
# rerunning identify), and growing the catalogue.

decision_rows <- function(det, event, action, id = "", reviewer = "ana") {
  d <- det[det$event_id == event, ]
  data.frame(detection_id = d$detection_id, event_id = event, file = d$file, action = action, individual_id = id,
             reviewer = reviewer, timestamp = "2025-03-01T10:00:00Z", note = "", stringsAsFactors = FALSE)
}

test_that("review_report() writes one self-contained page with a card per uncertain animal", {
  skip_without_python()
  run <- small_run()
  f <- review_report(run$res, run$cat, file = tempfile(fileext = ".html"), open = FALSE)
  html <- readChar(f, file.size(f), useBytes = TRUE)
  det <- run$res$detections
  todo <- det[det$needs_review | det$is_new, ]
  n_cards <- nrow(unique(todo[, c("event_id", "individual_id")]))
  expect_gt(n_cards, 0)
  expect_equal(lengths(regmatches(html, gregexpr('"key": "', html, fixed = TRUE))), n_cards)
  expect_false(grepl("https?://", html))
  expect_match(html, "data:image/jpeg;base64,", fixed = TRUE)
  expect_error(review_report(tempdir(), run$cat, open = FALSE), "no detections.parquet")
  expect_error(review_report(det, run$cat, open = FALSE), "not a table of detections")
})

test_that("decisions are saved, checked, and applied by identify() and apply_decisions() alike", {
  skip_without_python()
  run <- small_run()
  det <- run$res$detections
  res <- copy_dir(run$results)
  events <- unique(det$event_id[order(det$probability)])
  d <- rbind(decision_rows(det, events[1], "reject"),
             decision_rows(det, events[2], "reassign", "L99"),
             decision_rows(det, events[3], "confirm", det$individual_id[det$event_id == events[3]][1]))
  expect_error(save_decisions(transform(d, action = "maybe"), res), "row 1 .*'maybe' is not one of")
  save_decisions(d, res)
  save_decisions(d, res)                                     # saved twice: stored once
  expect_equal(nrow(read_decisions(res)), nrow(d))

  direct <- suppressMessages(apply_decisions(run$res, res, run$cat))
  expect_s3_class(direct, "lynxid_identification")
  rerun_res <- identify(run$sim$images, run$cat, megadetector = run$sim$megadetector, out = res, quiet = TRUE)
  rerun <- rerun_res$detections
  expect_equal(direct$detections, rerun)
  expect_equal(direct$summary$review, rerun_res$summary$review)
  expect_equal(suppressMessages(apply_decisions(det, res, run$cat)), rerun, ignore_attr = TRUE)   # a table in, a table out
  r1 <- rerun[rerun$event_id == events[1], ]
  expect_true(all(is.na(r1$individual_id) & r1$decision == "rejected" & r1$reviewed_by == "ana"))
  expect_true(all(r1$file %in% rerun_res$issues$file))   # rejected: reported
  r2 <- rerun[rerun$event_id == events[2], ]
  expect_true(all(r2$individual_id == "L99" & r2$probability == 1 & r2$decision == "reviewed" & r2$is_new))
  expect_equal(unique(r2$machine_individual_id), unique(det$individual_id[det$event_id == events[2]]))
  expect_true(all(rerun$decision[rerun$event_id == events[3]] == "confirmed"))
  expect_equal(rerun_res$summary$review$applied, nrow(d))
  if (requireNamespace("ggplot2", quietly = TRUE)) {        # scores plotted with the machine's own calls
    b <- ggplot2::ggplot_build(plot_scores(rerun_res))
    expect_equal(sum(b$data[[1]]$count), 2 * nrow(unique(det[, c("event_id", "individual_id")])))
  }
  # the rejected detections stay out of the capture history, with a reason
  ch <- capture_history(rerun_res, run$sim$stations, occasion_length = 5)
  rows <- which(rerun$event_id == events[1] & !is.na(rerun$timestamp))
  expect_true(all(rows %in% ch$records_not_used$row))
  # a decision for a photo that is gone is reported, not dropped
  ghost <- decision_rows(det, events[4], "confirm", "L01")
  ghost$detection_id <- "gone/IMG.JPG#0"
  expect_warning(apply_decisions(run$res, ghost, run$cat), "match no detection")

  # the catalogue grows from the reviewed animals (here: L99)
  cat_dir <- copy_dir(run$cat$path)
  cat2 <- suppressMessages(add_reviewed(cat_dir, res))
  expect_true("L99" %in% cat2$individuals)
  expect_equal(nrow(attr(cat2, "added")), nrow(r2) + sum(rerun$decision == "confirmed"))
})
