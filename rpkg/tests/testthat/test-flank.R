# capture_history(flank = ): a capture history from one flank only (the filter is Python's;
# these tests check that the argument reaches it and what arrives in R).

flank_stations <- function() {
  data.frame(Station = c("A", "B"), utm_x = c(500000, 502000), utm_y = c(5200000, 5201000),
             Setup_date = "2024-03-01 00:00:00", Retrieval_date = "2024-03-05 00:00:00",
             stringsAsFactors = FALSE)
}

# rows 1-5: left, right, no flank, left, right
flank_detections <- function() {
  data.frame(station = c("A", "A", "B", "B", "B"), individual_id = c("L1", "L1", "L2", "L2", "L3"),
             timestamp = as.POSIXct(c("2024-03-01 20:00", "2024-03-02 20:00", "2024-03-02 21:00",
                                      "2024-03-03 20:00", "2024-03-04 02:00"), tz = "Europe/Zurich"),
             flank = c("left", "right", NA, "left", "right"), stringsAsFactors = FALSE)
}

test_that("capture_history(flank = 'left') keeps the left flank's detections and lists the others", {
  skip_without_python()
  ch <- capture_history(flank_detections(), flank_stations(), flank = "left")
  expect_equal(ch$settings$flank, "left")
  expect_equal(unique(ch$summary$flank), "left")
  expect_equal(sort(unique(ch$detections$individual)), c("L1", "L2"))
  expect_equal(sum(ch$detections$count), 2)
  nu <- ch$records_not_used
  expect_equal(sort(nu$row), c(2, 3, 5))
  expect_equal(as.character(nu$reason[order(nu$row)]), c("other flank", "flank unknown", "other flank"))
  expect_equal(sort(as.integer(ch$issues$row)), c(2L, 3L, 5L))     # issue rows are text ("-": no row)
  expect_output(print(ch), "left flank only")
  right <- capture_history(flank_detections(), flank_stations(), flank = "right")
  expect_equal(sort(unique(right$detections$individual)), c("L1", "L3"))
})

test_that("flank = NULL is every detection, and a wrong flank is a clear error", {
  skip_without_python()
  linked <- capture_history(flank_detections(), flank_stations())
  expect_null(linked$settings$flank)
  expect_equal(sum(linked$detections$count), 5)
  expect_equal(nrow(linked$records_not_used), 0)
  expect_error(capture_history(flank_detections(), flank_stations(), flank = "top"), "'left' or 'right'")
  det <- flank_detections()
  det$flank <- NULL
  expect_error(capture_history(det, flank_stations(), flank = "left"), "needs a 'flank' column")
})
