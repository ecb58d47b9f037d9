# identify() and friends against the real Python side, on a small simulated survey.

documented_columns <- c("detection_id", "file", "path", "station", "camera", "timestamp", "bbox_x", "bbox_y",
                        "bbox_w", "bbox_h", "det_conf", "flank", "event_id", "individual_id", "probability",
                        "p_new", "is_new", "candidates", "needs_review", "decision", "machine_individual_id",
                        "reviewed_by")

test_that("identify() returns one documented row per detection, with R types", {
  skip_without_python()
  run <- small_run()
  det <- run$det
  expect_s3_class(det, "data.frame")
  expect_equal(names(det), documented_columns)
  truth <- read.csv(run$sim$truth$images)
  expect_equal(nrow(det), nrow(truth))                      # every simulated photo (one animal each)
  expect_setequal(det$file, truth$file)
  expect_s3_class(det$timestamp, "POSIXct")
  expect_equal(attr(det$timestamp, "tzone"), "Etc/GMT-1")   # the cameras' +01:00 (EXIF OffsetTimeOriginal)
  t1 <- truth$timestamp[match(det$file[1], truth$file)]
  expect_equal(format(det$timestamp[1], "%Y-%m-%d %H:%M:%S"), substr(t1, 1, 19))
  expect_equal(sum(is.na(det$timestamp)), 1)               # the photo without EXIF: kept, no time
  expect_type(det$probability, "double")
  expect_true(all(det$probability >= 0 & det$probability <= 1))
  expect_type(det$is_new, "logical")
  expect_type(det$needs_review, "logical")
  expect_true(all(det$decision %in% c("known", "new")))
  expect_equal(det$is_new, det$decision == "new")
  expect_true(all(grepl("^NEW-", det$individual_id[det$is_new])))
  expect_true(all(det$individual_id[!det$is_new] %in% run$cat$individuals))
  expect_true(all(is.na(det$reviewed_by)))
  iss <- attr(det, "issues")
  expect_setequal(iss$reason[iss$severity == "excluded"] != "", TRUE)
  bad <- read.csv(run$sim$truth$bad_files)
  expect_true(all(bad$file %in% iss$file))                  # nothing silently dropped
  s <- attr(det, "summary")
  expect_equal(s$detections, nrow(det))
  expect_equal(s$new_individuals, length(unique(det$individual_id[det$is_new])))
  # read back from the folder: the same table
  back <- read_results(run$results)
  expect_equal(as.data.frame(back), as.data.frame(det), ignore_attr = TRUE)
})

test_that("candidate_table() unpacks the candidates, best first", {
  skip_without_python()
  det <- small_run()$det
  ct <- candidate_table(det)
  expect_equal(names(ct), c("detection_id", "event_id", "rank", "individual", "probability"))
  expect_true(all(table(ct$detection_id) <= 3))
  top <- ct[ct$rank == 1, ]
  known <- det[!det$is_new, ]
  expect_equal(top$individual[match(known$detection_id, top$detection_id)], known$individual_id)
  expect_equal(top$probability[match(known$detection_id, top$detection_id)], known$probability, tolerance = 1e-4)
  expect_true(all(diff(ct$probability[ct$detection_id == ct$detection_id[1]]) <= 0))
})

test_that("the identify() output goes straight into capture_history() and survey_accuracy()", {
  skip_without_python()
  run <- small_run()
  ch <- capture_history(run$det, run$sim$stations, occasion_length = 5)
  expect_s3_class(ch, "lynxid_capture_history")
  expect_equal(ch$settings$tz, "Etc/GMT-1")
  expect_setequal(ch$detections$individual, unique(run$det$individual_id[!is.na(run$det$timestamp)]))
  expect_true(any(grepl("no date/time", ch$issues$reason)))   # the EXIF-less photo, reported
  acc <- survey_accuracy(run$det, run$sim)
  expect_true(acc$accuracy > 0.5 && acc$accuracy <= 1)
  expect_true(acc$ari <= 1)
})

test_that("catalogue objects print what a user needs", {
  skip_without_python()
  run <- small_run()
  out <- capture.output(print(run$cat))
  expect_match(out[2], "4 individuals, 24 reference photos")
  expect_match(out[3], "known called correctly [0-9]+ %")
  expect_equal(catalogue(run$cat$path)$individuals, run$cat$individuals)
  expect_error(build_catalogue(run$cat$path, run$sim$catalogue_images), "already exists.*add_to_catalogue")
  expect_error(build_catalogue(tempfile("cat"), run$sim$catalogue_images, metric = "sometimes"), "should be one of")
})

test_that("a MegaDetector file made for another folder is an R error that says so (issue #19)", {
  skip_without_python()
  run <- small_run()
  md <- tempfile(fileext = ".json")
  writeLines('{"images": [{"file": "D:\\\\cams\\\\ST01\\\\IMG_0001.JPG", "detections": []}]}', md)
  expect_error(identify(run$sim$images, run$cat, megadetector = md, quiet = TRUE),
               "MegaDetector file .* has no entry for any of the [0-9]+ image\\(s\\).*IMG_0001.*Run MegaDetector",
               class = "lynxid_error")
  expect_error(build_catalogue(tempfile("cat"), run$sim$catalogue_images, megadetector = md),
               "has no entry for any of the [0-9]+ image", class = "lynxid_error")
})

test_that("the identify() message counts the photos the MegaDetector file does not list", {
  s <- list(images_read = 5, files_with_issues = 2, detections = 3, events = 2, individuals = 1,
            known_individuals = 1, new_individuals = 0, needs_review = 0,
            megadetector = list(file = "md.json", images = 5, images_without_entry = 2))
  expect_match(format_identify_summary(s), "2 of 5 images have no entry in the MegaDetector file md.json")
  s$megadetector$images_without_entry <- 0
  expect_false(grepl("MegaDetector", format_identify_summary(s)))
  s$megadetector <- NULL
  expect_false(grepl("MegaDetector", format_identify_summary(s)))
})

test_that("run_demo() runs the main job and returns the identified detections", {
  skip_without_python()
  out <- tempfile("demo")
  printed <- capture.output(det <- run_demo(out, quiet = TRUE, n_individuals = 3, n_known = 2, n_days = 6))
  expect_true(any(grepl("lynxid demo: summary", printed)))
  expect_equal(names(det), documented_columns)
  expect_true(file.exists(file.path(out, "capture_history", "capt.txt")))
  expect_equal(attr(det, "summary")$detections, nrow(det))
})

test_that("library(lynxid) masks neither utils::demo nor anything but graphics::identify", {
  exported <- getNamespaceExports("lynxid")
  expect_false("demo" %in% exported)
  attached <- c("base", "utils", "stats", "graphics", "grDevices", "methods")
  masked <- Filter(function(p) any(exported %in% getNamespaceExports(p)), attached)
  expect_equal(masked, "graphics")
  expect_equal(intersect(exported, getNamespaceExports("graphics")), "identify")
})
