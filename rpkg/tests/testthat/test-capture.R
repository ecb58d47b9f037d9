# Camera operation and capture histories from R (the logic is in Python; these tests check
# what arrives in R, against hand-computed values and camtrapR's reference).

small_stations <- function() {
  data.frame(Station = c("A", "B"), utm_x = c(500000, 502000), utm_y = c(5200000, 5201000),
             Setup_date = as.Date(c("2024-03-01", "2024-03-02")),
             Retrieval_date = c("2024-03-05 00:00:00", "2024-03-06 18:00:00"),
             Problem1_from = c(NA, "2024-03-04"), Problem1_to = c(NA, "2024-03-04"),
             habitat = c("forest", "meadow"), stringsAsFactors = FALSE)
}

# shaped like identify()'s output: one row per detection, tz-aware times
identify_like <- function() {
  data.frame(detection_id = paste0("d", 1:7),
             file = c("A/IMG1.JPG", "A/IMG2.JPG", "B/IMG1.JPG", "B/IMG2.JPG", "A/IMG3.JPG", "B/IMG3.JPG",
                      "A/IMG4.JPG"),
             station = c("A", "A", "B", "B", "A", NA, "A"),
             camera = "c1",
             timestamp = as.POSIXct(c("2024-03-01 20:00", "2024-03-01 20:05", "2024-03-03 02:00",
                                      "2024-03-04 10:00", "2024-03-04 23:30", "2024-03-03 02:00",
                                      "2024-03-05 10:00"),
                                    tz = "Europe/Zurich"),
             individual_id = c("L1", "L1", "L2", "L2", NA, "L1", "L1"),
             probability = c(0.9, 0.8, 0.95, 0.7, 0.4, 0.9, 0.9),
             stringsAsFactors = FALSE)
}

find_shared <- function() {
  env <- Sys.getenv("LYNXID_SHARED_DATA")
  if (nzchar(env)) return(file.path(env, "camtrapr-leopardcat"))
  d <- normalizePath(testthat::test_path("."), mustWork = FALSE)
  for (i in 1:8) {
    cand <- file.path(d, "shared", "data", "camtrapr-leopardcat")
    if (file.exists(file.path(cand, "camtraps.csv"))) return(cand)
    d <- dirname(d)
  }
  ""
}

test_that("camera_operation gives camtrapR's matrix with half days, 0 and NA", {
  skip_without_python()
  co <- camera_operation(small_stations())
  expect_equal(rownames(co), c("A", "B"))
  expect_equal(colnames(co), c("2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05", "2024-03-06"))
  # A: Date setup = noon (0.5), retrieval at 00:00 on Mar 5 (no effort that day -> NA)
  expect_equal(unname(co["A", ]), c(0.5, 1, 1, 1, NA, NA))
  # B: setup noon Mar 2, broken all of Mar 4, retrieved 18:00 Mar 6
  expect_equal(unname(co["B", ]), c(NA, 0.5, 1, 0, 1, 0.75))
  co12 <- camera_operation(small_stations(), occasion_start_time = 12)
  expect_equal(colnames(co12)[1], "2024-03-01+12h")
})

test_that("capture_history works end to end from identify() output, and converts to every format", {
  skip_without_python()
  det <- identify_like()
  st <- small_stations()
  ch <- capture_history(det, st, occasion_length = 2, output = "count", station_covariates = "habitat")
  expect_s3_class(ch, "lynxid_capture_history")
  expect_equal(ch$settings$tz, "Europe/Zurich")          # taken from the POSIXct times
  # occasions of 2 days from Mar 1: [1-2] [3-4] [5-6]
  expect_equal(unname(ch$usage[[1]]), rbind(c(1.5, 2, 0), c(0.5, 1, 1.75)))
  d <- ch$detections
  expect_equal(d$individual, c("L1", "L2"))
  expect_equal(d$occasion, c(1, 2))
  expect_equal(d$detector, c("A", "B"))
  # row 4: B was declared broken on Mar 4, but its occasion (Mar 3-4) has effort: kept, with a warning
  expect_equal(d$count, c(2, 2))
  expect_true(any(ch$issues$row == 4 & ch$issues$severity == "warning" & grepl("not working", ch$issues$reason)))
  # no individual (5), no station (6), A already retrieved on Mar 5 (7): left out and reported
  expect_setequal(ch$records_not_used$row, c(5, 6, 7))
  expect_true(any(ch$issues$row == 7 & grepl("after the last day of station .A.", ch$issues$reason)))
  expect_true(any(grepl("no individual ID", ch$issues$reason)))
  expect_true(any(grepl("no station", ch$issues$reason)))
  expect_false("NA" %in% ch$detections$detector)        # R's NA never becomes a station "NA"
  expect_equal(ch$traps$habitat, c("forest", "meadow"))

  ch2 <- capture_history(det, st, occasion_length = 2)
  a <- as_nimble(ch2, augment_to = 5)
  expect_equal(dim(a$y), c(5, 2, 3))
  expect_equal(a$y["L1", "A", "o1"], 1L)                # binary by default
  expect_equal(sum(a$y), 2)
  expect_equal(a$K_j, c(A = 2L, B = 3L))
  expect_equal(a$X[, "x"], c(A = 500000, B = 502000))

  o <- as_oscr(capture_history(det, st, occasion_length = 2, output = "count"))
  expect_equal(o$edf$trap, c("A", "A", "B", "B"))
  expect_equal(names(o$tdf[[1]]), c("trap", "X", "Y", "op.1", "op.2", "op.3"))
  expect_equal(unname(as.matrix(o$tdf[[1]][, 4:6])), rbind(c(1L, 1L, 0L), c(1L, 1L, 1L)))
  expect_equal(dim(o$y3d[[1]]), c(2, 2, 3))             # n x J x K
  expect_equal(o$y3d[[1]]["L1", "A", "o1"], 2L)

  cl <- as_closed(ch2)
  expect_equal(cl, matrix(c(1L, 0L, 0L, 1L, 0L, 0L), 2, dimnames = list(c("L1", "L2"), c("o1", "o2", "o3"))))
  rm <- as_rmark(ch2)
  expect_equal(rm$ch, c("100", "010"))                  # leading zeros kept

  s <- as_capthist(ch2)
  if (requireNamespace("secr", quietly = TRUE)) {
    expect_s3_class(s, "capthist")
    expect_equal(dim(s), c(2, 3, 2))
  } else {
    expect_s3_class(s, "lynxid_secr_data")
    expect_equal(s$captures$Detector, c("A", "B"))
    expect_equal(s$noccasions, c(`1` = 3L))
  }
})

test_that("as_nimble() has the nimble files' M: augment_to, by default max(5 n, n + 1)", {
  skip_without_python()
  ch <- capture_history(identify_like(), small_stations(), occasion_length = 2)
  a <- as_nimble(ch)
  expect_equal(a$n, 2)
  expect_equal(a$M, 10)
  expect_equal(dim(a$y), c(10L, 2L, 3L))
  expect_equal(rownames(a$y), c("L1", "L2", paste0("aug", 1:8)))
  skip_if_not_installed("jsonlite")
  dir <- tempfile("lynxid-nimble")
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  for (m in list(NULL, 4L)) {
    write_capture_history(ch, dir, "nimble", augment_to = m)
    expect_equal(jsonlite::read_json(file.path(dir, "nimble_constants.json"))$M, as_nimble(ch, augment_to = m)$M)
  }
  expect_error(as_nimble(identify_like()), "as_nimble\\(\\) needs a capture history from capture_history")
})

test_that("format = and ch$data still work for one release, with a warning that names the converter", {
  skip_without_python()
  ch <- capture_history(identify_like(), small_stations(), occasion_length = 2)
  expect_false("data" %in% names(ch))
  expect_warning(old <- capture_history(identify_like(), small_stations(), occasion_length = 2, format = "closed"),
                 "format = \"closed\"\\) is deprecated.*as_closed\\(ch\\)")
  expect_identical(old$data, as_closed(ch))
  expect_warning(old <- capture_history(identify_like(), small_stations(), occasion_length = 2, format = "array",
                                        augment_to = 4), "as_nimble\\(ch, augment_to\\)")
  expect_identical(old$data, as_nimble(ch, augment_to = 4))
  expect_warning(d <- ch$data, "ch\\$data is deprecated.*as_capthist\\(ch\\)")
  expect_identical(d, as_capthist(ch))
  expect_error(capture_history(identify_like(), small_stations(), format = "nimble"), "should be one of")
})

test_that("the capture history works from the R object alone: saveRDS, then a fresh R process writes the same files", {
  skip_without_python()
  st <- small_stations()
  st$elev <- c(1500L, 1720L)
  det <- identify_like()
  det$event_id <- paste0("E", seq_len(nrow(det)))
  ch <- capture_history(det, st, occasion_length = 2, output = "count", station_covariates = c("habitat", "elev"),
                        unknown_stations = "exclude")
  root <- tempfile("lynxid-rds")
  dir.create(root)
  on.exit(unlink(root, recursive = TRUE), add = TRUE)
  write_capture_history(ch, file.path(root, "out"), "all", crs = "EPSG:32632", scientific_name = "Lynx lynx")
  file.rename(file.path(root, "out"), file.path(root, "live"))
  rds <- file.path(root, "ch.rds")
  saveRDS(ch, rds)
  # a new R process: no Python object, only what the R object holds
  script <- file.path(root, "write.R")
  writeLines(c(sprintf("ch <- readRDS(%s)", deparse(rds)),
               "stopifnot(is.null(attr(ch, 'py')) || reticulate::py_is_null_xptr(attr(ch, 'py')))",
               sprintf("lynxid::write_capture_history(ch, %s, 'all', crs = 'EPSG:32632', scientific_name = 'Lynx lynx')",
                       deparse(file.path(root, "out"))),
               "cat('closed:', paste(lynxid::as_closed(ch), collapse = ''), '\\n')"), script)
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", shQuote(script)),
                                  stdout = TRUE, stderr = TRUE))
  expect_null(attr(out, "status"), info = paste(out, collapse = "\n"))
  if (!is.null(attr(out, "status"))) return(invisible())
  expect_true(any(grepl(paste("closed:", paste(as_closed(ch), collapse = "")), out, fixed = TRUE)))
  files <- sort(list.files(file.path(root, "live"), recursive = TRUE))
  expect_equal(sort(list.files(file.path(root, "out"), recursive = TRUE)), files)
  expect_true(all(c("capt.txt", "oscr_edf.csv", "nimble_y.csv", "closed_matrix.csv", "rmark_ch.csv",
                    "records_not_used.csv", "camtrap-dp/observations.csv") %in% files))
  read <- function(dir, f) {
    x <- readLines(file.path(root, dir, f), warn = FALSE)
    if (basename(f) == "datapackage.json") x <- x[!grepl('"created"', x)]     # the clock's
    x
  }
  for (f in files) expect_identical(read("out", f), read("live", f), info = f)
  # and in this session too, without the Python object
  back <- readRDS(rds)
  attr(back, "py") <- NULL
  expect_identical(as_rmark(back), as_rmark(ch))
  expect_identical(as_capthist(back), as_capthist(ch))
  expect_equal(reticulate::py_to_r(lynxid:::density_data(back, NULL, NULL)$detector), ch$detector)
})

test_that("the capture history crossing in one call is what each part gives on its own", {
  skip_without_python()
  ch <- capture_history(identify_like(), small_stations(), occasion_length = 2, output = "count",
                        station_covariates = "habitat")
  py <- attr(ch, "py")
  tz <- ch$settings$tz
  as_matrix <- function(df) {                            # a frame of numbers, first column the row names
    m <- as.matrix(df[, -1, drop = FALSE])
    rownames(m) <- df[[1]]
    m
  }
  u <- as_matrix(lynxid:::py_frame_to_r(py$usage_matrix("1")$reset_index()))
  storage.mode(u) <- "double"
  expect_identical(ch$usage[["1"]], u)
  cbo <- lynxid:::py_frame_to_r(py$counts_by_occasion("1")$reset_index())
  expect_identical(ch$counts_by_occasion[["1"]], as_matrix(cbo))
  expect_identical(ch$detections, lynxid:::py_frame_to_r(py$detections))
  expect_identical(ch$traps, lynxid:::py_frame_to_r(py$traps, tz))
  expect_identical(ch$occasions, lynxid:::py_frame_to_r(py$occasions, tz))
  expect_identical(ch$summary, lynxid:::py_frame_to_r(py$summary()))
  expect_identical(ch$settings, lynxid:::from_py(py$settings))
  expect_identical(ch$n_records, 7L)
  expect_identical(ch$records, lynxid:::py_frame_to_r(py$records, tz))
  expect_identical(ch$records_not_used$row, c(5L, 6L, 7L))
  expect_identical(ch$deployments, lynxid:::py_frame_to_r(py$deployments, tz))
})

test_that("secr's ingredients built in R are lynxid.export.secr_data()'s", {
  skip_without_python()
  st <- data.frame(Station = c("A", "B", "A", "B"), yr = c("2019", "2019", "2020", "2020"), utm_x = c(0, 100, 0, 100),
                   utm_y = 1e6, Setup_date = c("2019-01-01", "2019-01-01", "2020-01-01", "2020-01-01"),
                   Retrieval_date = c("2019-01-03", "2019-01-03", "2020-01-04", "2020-01-04"),
                   hab = c("forest edge", NA, "x", "y"), elev = c(1.5, 2, NA, 4))
  det <- data.frame(station = c("B", "A", "B"), individual_id = c("m1", "10", "m1"),
                    timestamp = c("2019-01-02 08:00:00", "2019-01-01 10:00:00", "2019-01-02 09:00:00"))
  for (out in c("binary", "count")) {
    ch <- capture_history(det, st, session_col = "yr", station_covariates = c("hab", "elev"), output = out)
    d <- lynxid:::from_py(reticulate::import("lynxid.export", convert = FALSE)$secr_data(attr(ch, "py")))
    r <- lynxid:::secr_ingredients(ch, unlist(d$covariates))
    expect_identical(r$captures, d$captures)
    expect_identical(r$traps, d$traps)
    expect_identical(r$usage, lapply(d$usage, function(u) {
      m <- as.matrix(u[, -1, drop = FALSE])
      storage.mode(m) <- "double"
      rownames(m) <- u[[1]]
      m
    }))
    expect_identical(r$noccasions, c(`2019` = 3L, `2020` = 4L))
    expect_identical(r$empty_sessions, unlist(d$empty_sessions))
    expect_equal(nrow(r$captures), if (out == "count") 3 else 2)
    if (!requireNamespace("secr", quietly = TRUE)) {
      expect_identical(unclass(as_capthist(ch)), r[c("captures", "traps", "usage", "noccasions", "detector")])
    }
  }
})

test_that("the capthist filled from indices is the one secr::make.capthist builds", {
  skip_without_python()
  skip_if_not_installed("secr")
  st <- small_stations()
  ms <- data.frame(Station = c("A", "B", "A", "B"), yr = c("2019", "2019", "2020", "2020"), utm_x = c(0, 100, 0, 100),
                   utm_y = 1e6, Setup_date = c("2019-01-01", "2019-01-01", "2020-01-01", "2020-01-01"),
                   Retrieval_date = c("2019-01-03", "2019-01-03", "2020-01-04", "2020-01-04"))
  ids <- data.frame(station = c("A", "B", "A", "B"), individual_id = c("10", "9", "010", "2"),
                    timestamp = c("2024-03-02 10:00:00", "2024-03-02 11:00:00", "2024-03-03 10:00:00",
                                  "2024-03-04 10:00:00"))
  cases <- list(list(identify_like(), st, occasion_length = 2, output = "count", station_covariates = "habitat"),
                list(identify_like(), st, occasion_length = 2),
                list(ids, st, output = "count"),
                list(data.frame(station = "B", timestamp = "2019-01-02 08:00:00", individual_id = "m1"), ms,
                     session_col = "yr"))
  on.exit(options(lynxid.secr_builder = NULL), add = TRUE)
  for (args in cases) {
    options(lynxid.secr_builder = NULL)
    direct <- as_capthist(do.call(capture_history, args))
    options(lynxid.secr_builder = "make.capthist")
    expect_identical(direct, as_capthist(do.call(capture_history, args)))
  }
})

test_that("print, summary and plot", {
  skip_without_python()
  ch <- capture_history(identify_like(), small_stations(), occasion_length = 2)
  out <- capture.output(print(ch))
  expect_true(any(grepl("2 individuals, 2 detections, 3 occasions x 2 stations", out)))
  expect_true(any(grepl("3 of 7 records not used", out)))
  sm <- summary(ch)
  expect_s3_class(sm, "summary.lynxid_capture_history")
  expect_equal(unname(sm$counts_by_occasion[[1]]["detections", ]), c(1, 1, 0, 2))
  expect_true(any(grepl("counts by occasion", capture.output(print(sm)))))
  skip_if_not_installed("ggplot2")
  for (type in c("stations", "effort", "individuals")) {
    p <- plot(ch, type)
    expect_s3_class(p, "ggplot")
    expect_silent(ggplot2::ggplot_build(p))
  }
})

test_that("bad input stops with the Python message", {
  skip_without_python()
  st <- small_stations()
  st$Station[2] <- "A"
  expect_error(capture_history(identify_like(), st), "duplicate station 'A' in rows 1, 2", class = "lynxid_error")
  det <- identify_like()
  det$station[1] <- "Z"
  expect_error(capture_history(det, small_stations()), "not in the station table", class = "lynxid_error")
  ch <- capture_history(det, small_stations(), unknown_stations = "exclude")
  expect_true(1 %in% ch$records_not_used$row)
})

test_that("secr text files follow secr's read.capthist / read.traps formats", {
  skip_without_python()
  ch <- capture_history(identify_like(), small_stations(), occasion_length = 2, output = "count")
  dir <- tempfile("lynxid-ch")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  write_capture_history(ch, dir, c("secr", "oscr", "rmark"))
  # read them as secr does: white space separated, '#' comments, first trap column = row names
  capt <- utils::read.table(file.path(dir, "capt.txt"), comment.char = "#",
                            colClasses = c("character", "character", "integer", "character"))
  expect_equal(unname(as.list(capt[1, ])), list("1", "L1", 1L, "A"))
  expect_equal(nrow(capt), 4)                          # count detector: one line per detection
  tr <- utils::read.table(file.path(dir, "traps.txt"), row.names = 1, comment.char = "#")
  expect_equal(rownames(tr), c("A", "B"))
  expect_equal(unname(as.matrix(tr[, 3:5])), unname(ch$usage[[1]]))
  script <- readLines(file.path(dir, "read_secr.R"))
  expect_true(any(grepl("binary.usage = FALSE", script)))
  rm <- utils::read.csv(file.path(dir, "rmark_ch.csv"), colClasses = c(ch = "character"))
  expect_equal(rm$ch, c("100", "010"))
  skip_if_not_installed("secr")
  old <- setwd(dir)
  on.exit(setwd(old), add = TRUE)
  ch2 <- secr::read.capthist("capt.txt", "traps.txt", detector = "count", binary.usage = FALSE)
  direct <- as_capthist(capture_history(identify_like(), small_stations(), occasion_length = 2, output = "count"))
  expect_equal(unclass(ch2)[, , ], unclass(direct)[, , ], ignore_attr = TRUE)
  expect_equal(unname(secr::usage(secr::traps(ch2))), unname(secr::usage(secr::traps(direct))))
})

test_that("camtrapR's leopard-cat capthist is reproduced cell for cell", {
  skip_without_python()
  ref <- find_shared()
  skip_if(!nzchar(ref), "camtrapR reference data not found (set LYNXID_SHARED_DATA)")
  for (out in c("binary", "count")) {
    ch <- capture_history(file.path(ref, "recordTableIndividualSample.csv"), file.path(ref, "camtraps.csv"),
                          occasion_length = 10, day1 = "survey", output = out, species = "LeopardCat",
                          tz = "Asia/Kuching", date_format = "dmy", has_problems = TRUE)
    exp <- utils::read.csv(file.path(ref, "expected", paste0("capthist_", out, ".csv")),
                           colClasses = c(individual = "character"))
    y <- as_nimble(ch)$y                                     # individual x detector x occasion
    got <- y[cbind(exp$individual, exp$station, paste0("o", exp$occasion))]
    expect_equal(as.numeric(got), exp$value)
    expect_equal(sum(y), sum(exp$value))
    usage <- utils::read.csv(file.path(ref, "expected", paste0("usage_", out, ".csv")), row.names = 1)
    expect_equal(ch$usage[[1]], as.matrix(usage))
  }
  co <- camera_operation(file.path(ref, "camtraps.csv"), date_format = "dmy", has_problems = TRUE)
  exp <- as.matrix(utils::read.csv(file.path(ref, "expected", "camera_operation.csv"), row.names = 1,
                                   check.names = FALSE))
  expect_equal(co, exp)
})

test_that("a capture history without any usable detection still has every format", {
  skip_without_python()
  st <- data.frame(Station = "A", utm_x = 5e5, utm_y = 5.2e6, Setup_date = "2020-01-01", Retrieval_date = "2020-01-05")
  det <- data.frame(station = "A", timestamp = "2020-02-01 10:00:00", individual_id = "x")
  ch <- capture_history(det, st)
  expect_equal(nrow(ch$detections), 0)
  expect_equal(dim(ch$usage[[1]]), c(1L, 5L))
  for (f in list(as_capthist, as_oscr, as_nimble, as_closed, as_rmark)) expect_false(is.null(f(ch)))
  expect_equal(dim(as_closed(ch)), c(0L, 5L))
  # no individual: M = max(5 n, n + 1) = 1 augmented row, as the nimble files say
  expect_equal(dim(as_nimble(ch)$y), c(1L, 1L, 5L))
  expect_output(print(summary(ch)), "detectors used")
})

test_that("semantics: camtrapR's rules by default, the exact time line on request", {
  skip_without_python()
  # two cameras set up the same day (dates only, camerasIndependent = FALSE): camtrapR counts
  # the setup day 1.0, the exact union of their working time is 0.5
  st <- data.frame(Station = c("A", "A"), Camera = c("c1", "c2"), utm_x = c(0, 0), utm_y = c(0, 0),
                   Setup_date = c("2024-03-01", "2024-03-01"), Retrieval_date = c("2024-03-05", "2024-03-05"))
  expect_equal(unname(camera_operation(st, camera_col = "Camera")[1, ]), c(1, 1, 1, 1, 1))
  expect_equal(unname(camera_operation(st, camera_col = "Camera", semantics = "exact")[1, ]),
               c(0.5, 1, 1, 1, 0.5))
  # a record at exactly 00:00:00 belongs to the day before (camtrapR's ceiling())
  det <- data.frame(station = "A", individual_id = "L1", timestamp = "2024-03-03 00:00:00")
  ch <- capture_history(det, st, camera_col = "Camera", tz = "UTC")
  expect_equal(ch$detections$occasion, 2)
  ex <- capture_history(det, st, camera_col = "Camera", tz = "UTC", semantics = "exact")
  expect_equal(ex$detections$occasion, 3)
  expect_equal(unname(ex$usage[[1]][1, ]), c(0.5, 1, 1, 1, 0.5))
  expect_error(capture_history(det, st, semantics = "camtrapr"), "should be one of")
})
