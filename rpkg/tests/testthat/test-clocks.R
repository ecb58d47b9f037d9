# Camera clocks from R: check_clocks() and capture_history(time_shifts =) hand their
# arguments to Python (lynxid.clocks, lynxid.time_shifts) and bring the results back.

clock_stations <- function() {
  data.frame(Station = c("A", "B"), utm_x = c(500000, 502000), utm_y = c(5200000, 5200000),
             Setup_date = c("2017-03-01", "2017-03-01"), Retrieval_date = c("2017-04-10", "2017-04-10"),
             stringsAsFactors = FALSE)
}

# B's clock was reset: it read 2006-01-01 00:00 when set up on 2017-03-01 12:00
clock_detections <- function(reset = TRUE) {
  b <- c("2017-03-02 22:00:00", "2017-03-09 01:30:00", "2017-03-20 05:10:00")
  if (reset) b <- c("2006-01-02 10:00:00", "2006-01-08 13:30:00", "2006-01-19 17:10:00")
  data.frame(station = rep(c("A", "B"), each = 3), camera = "c1", individual_id = c("L1", "L2", "L1", "L1", "L2", "L2"),
             timestamp = c("2017-03-04 21:10:00", "2017-03-12 03:40:00", "2017-03-25 23:00:00", b),
             stringsAsFactors = FALSE)
}

test_that("check_clocks() flags the reset clock and suggests a shift; nothing is corrected", {
  skip_without_python()
  cl <- check_clocks(clock_detections(), clock_stations(), tz = "Europe/Paris")
  expect_s3_class(cl, "data.frame")
  expect_equal(cl$station, c("A", "B"))
  expect_equal(cl$flag, c("ok", "clock reset"))
  expect_equal(cl$n_outside, c(0, 3))
  expect_equal(cl$suggested_sign[2], "+")
  expect_equal(cl$suggested_timeshift[2], "11:1:27 2:0:0")     # its first record to the setup, 12:00
  expect_true(grepl("reset to its default date", cl$note[2]))
  expect_s3_class(cl$first_record, "POSIXct")
  shifts <- data.frame(Station = "B", camera = "c1", timeshift = cl$suggested_timeshift[2],
                       sign = cl$suggested_sign[2], stringsAsFactors = FALSE)
  expect_equal(check_clocks(clock_detections(), clock_stations(), time_shifts = shifts)$flag, c("ok", "ok"))
})

test_that("capture_history(time_shifts =) uses the corrected times and keeps the originals", {
  skip_without_python()
  shifts <- data.frame(Station = "B", camera = "c1", timeshift = "11:2:0 12:0:0", sign = "+",
                       stringsAsFactors = FALSE)
  ch <- capture_history(clock_detections(), clock_stations(), occasion_length = 7, time_shifts = shifts)
  ref <- capture_history(clock_detections(reset = FALSE), clock_stations(), occasion_length = 7)
  expect_equal(ch$detections, ref$detections)
  expect_equal(ch$usage, ref$usage)
  expect_true("time_original" %in% names(ch$records))
  expect_true(any(ch$issues$stage == "time shifts" & grepl("applied to 3 record", ch$issues$reason)))
  expect_false(any(ch$issues$stage == "clocks"))
  # without the shift the flag is in the issues and B's records are left out
  bad <- capture_history(clock_detections(), clock_stations(), occasion_length = 7)
  expect_true(any(bad$issues$stage == "clocks" & grepl("clock reset", bad$issues$reason)))
  expect_equal(nrow(bad$records_not_used), 3)
  # a bad shift row stops with the Python message, naming the row
  shifts$sign <- "x"
  expect_error(capture_history(clock_detections(), clock_stations(), time_shifts = shifts), "row 1: sign 'x'")
})
