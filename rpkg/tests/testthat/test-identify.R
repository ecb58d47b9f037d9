# identify() and friends against the real Python side, on a small simulated survey.

documented_columns <- c("detection_id", "file", "path", "station", "camera", "timestamp", "bbox_x", "bbox_y",
                        "bbox_w", "bbox_h", "det_conf", "flank", "event_id", "unit_id", "individual_id", "probability",
                        "p_new", "is_new", "needs_review", "decision", "model", "machine_individual_id",
                        "reviewed_by")

test_that("identify() returns a lynxid_identification: one documented row per detection, with R types", {
  skip_without_python()
  run <- small_run()
  res <- run$res
  expect_s3_class(res, "lynxid_identification")
  expect_named(res, c("detections", "candidates", "summary", "issues", "out", "catalogue", "posterior",
                      "unit_pairs"))
  expect_named(res$posterior, c("unit_id", "rank", "answer", "probability"))
  expect_true(all(res$detections$unit_id %in% res$posterior$unit_id))
  expect_equal(res$out, normalizePath(run$results))
  expect_equal(res$catalogue, run$cat$path)
  det <- res$detections
  expect_identical(class(det), "data.frame")                # whatever else is installed
  expect_identical(as.data.frame(res), det)
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
  iss <- res$issues
  expect_identical(class(iss), "data.frame")
  expect_setequal(iss$reason[iss$severity == "excluded"] != "", TRUE)
  bad <- read.csv(run$sim$truth$bad_files)
  expect_true(all(bad$file %in% iss$file))                  # nothing silently dropped
  s <- res$summary
  expect_equal(s$detections, nrow(det))
  expect_equal(s$new_individuals, length(unique(det$individual_id[det$is_new])))
  # read back from the folder: the same object
  back <- read_results(run$results)
  expect_s3_class(back, "lynxid_identification")
  expect_equal(back$detections, det)
  expect_equal(back$candidates, res$candidates)
  expect_equal(back$issues, res$issues)
  expect_equal(back$summary[setdiff(names(s), "files")], s[setdiff(names(s), "files")])
  expect_equal(back$catalogue, res$catalogue)
  expect_equal(back$posterior, res$posterior)
  expect_equal(back$unit_pairs, res$unit_pairs)
  # the old data-frame habits get a pointer, not NULL
  expect_error(res$individual_id, "res\\$detections\\$individual_id|x\\$detections\\$individual_id")
})

test_that("print, summary, plot, as.data.frame and as_tibble of an identification", {
  skip_without_python()
  res <- small_run()$res
  det <- res$detections
  out <- capture.output(print(res))
  expect_match(out[1], sprintf("lynxid identification: .*%d detections in %d events", nrow(det),
                               length(unique(det$event_id))))
  expect_true(any(grepl("written to", out)))
  sm <- summary(res)
  expect_s3_class(sm, "summary.lynxid_identification")
  ids <- unique(det$individual_id[!is.na(det$individual_id)])
  expect_setequal(sm$individuals$individual_id, ids)
  i1 <- sm$individuals[1, ]
  rows <- det[!is.na(det$individual_id) & det$individual_id == i1$individual_id, ]
  expect_equal(i1$detections, nrow(rows))
  expect_equal(i1$events, length(unique(rows$event_id)))
  expect_equal(i1$stations, length(unique(rows$station)))
  expect_equal(i1$is_new, any(rows$is_new))
  expect_false(is.unsorted(as.numeric(sm$individuals$first), na.rm = TRUE))   # in order of first detection
  expect_s3_class(sm$individuals$first, "POSIXct")
  expect_equal(as.numeric(sm$individuals$first[1]), min(as.numeric(det$timestamp), na.rm = TRUE))
  expect_equal(sum(sm$decisions), nrow(det))
  expect_true(any(grepl("Individuals", capture.output(print(sm)))))
  skip_if_not_installed("ggplot2")
  expect_s3_class(plot(res), "ggplot")
  expect_s3_class(plot(res, "timeline"), "ggplot")
  expect_error(plot(res, "stations"), "needs the station table")
  expect_s3_class(plot(res, "stations", stations = small_run()$sim$stations), "ggplot")
  skip_if_not_installed("tibble")
  tb <- tibble::as_tibble(res)
  expect_s3_class(tb, "tbl_df")
  expect_equal(as.data.frame(tb), det)
})

test_that("the candidates come from Python as a long table, best first", {
  skip_without_python()
  res <- small_run()$res
  det <- res$detections
  ct <- res$candidates
  expect_identical(candidate_table(res), ct)
  expect_equal(names(ct), c("detection_id", "event_id", "rank", "individual_id", "probability"))
  expect_type(ct$rank, "integer")
  expect_true(all(table(ct$detection_id) <= 3))
  expect_true(all(ct$detection_id %in% det$detection_id))
  top <- ct[ct$rank == 1, ]
  known <- det[!det$is_new, ]
  expect_equal(top$individual_id[match(known$detection_id, top$detection_id)], known$individual_id)
  expect_equal(top$probability[match(known$detection_id, top$detection_id)], known$probability, tolerance = 1e-4)
  expect_true(all(diff(ct$probability[ct$detection_id == ct$detection_id[1]]) <= 0))
  # detections.csv keeps them as JSON: candidate_table() reads that too (in Python)
  csv <- utils::read.csv(file.path(res$out, "detections.csv"), stringsAsFactors = FALSE)
  from_csv <- candidate_table(csv)
  expect_equal(from_csv[order(from_csv$detection_id, from_csv$rank), ], ct[order(ct$detection_id, ct$rank), ],
               ignore_attr = TRUE)
  expect_error(candidate_table(det), "lacks the column\\(s\\) candidates")
})

test_that("the identify() output goes straight into capture_history() and survey_accuracy()", {
  skip_without_python()
  run <- small_run()
  ch <- capture_history(run$res, run$sim$stations, occasion_length = 5)
  expect_s3_class(ch, "lynxid_capture_history")
  expect_equal(ch$settings$tz, "Etc/GMT-1")
  det <- run$res$detections
  expect_setequal(ch$detections$individual, unique(det$individual_id[!is.na(det$timestamp)]))
  expect_equal(capture_history(det, run$sim$stations, occasion_length = 5)$detections, ch$detections)
  expect_true(any(grepl("no date/time", ch$issues$reason)))   # the EXIF-less photo, reported
  acc <- survey_accuracy(run$res, run$sim)
  expect_true(acc$accuracy > 0.5 && acc$accuracy <= 1)
  expect_true(acc$ari <= 1)
  expect_equal(survey_accuracy(det, run$sim), acc)
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

test_that("the identify() message says when lynxid's default model decided", {
  s <- list(images_read = 5, files_with_issues = 0, detections = 3, events = 2, individuals = 1,
            known_individuals = 1, new_individuals = 0, needs_review = 0, model = "default")
  expect_match(format_identify_summary(s), "decided by lynxid's default identification model")
  s$model <- "catalogue"
  expect_false(grepl("default", format_identify_summary(s)))
})

test_that("run_demo() runs the main job and returns the identified detections", {
  skip_without_python()
  out <- tempfile("demo")
  printed <- capture.output(res <- run_demo(out, quiet = TRUE, n_individuals = 3, n_known = 2, n_days = 6))
  expect_true(any(grepl("lynxid demo: summary", printed)))
  expect_s3_class(res, "lynxid_identification")
  expect_equal(names(res$detections), documented_columns)
  expect_true(file.exists(file.path(out, "capture_history", "capt.txt")))
  expect_equal(res$summary$detections, nrow(res$detections))
  expect_equal(res$demo$detections, nrow(res$detections))
})

test_that("library(lynxid) masks neither utils::demo nor anything but graphics::identify", {
  exported <- getNamespaceExports("lynxid")
  expect_false("demo" %in% exported)
  attached <- c("base", "utils", "stats", "graphics", "grDevices", "methods")
  masked <- Filter(function(p) any(exported %in% getNamespaceExports(p)), attached)
  expect_equal(masked, "graphics")
  expect_equal(intersect(exported, getNamespaceExports("graphics")), "identify")
})
