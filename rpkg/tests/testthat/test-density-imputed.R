# fit_density() on identify()'s results: density with identification error included (draws of
# the identities, Rubin's rules), the review order it ranks, and review_report() following it.
# On the small identified survey the other tests share (a copy: the fit writes into its folder).

test_that("fit_density(res, stations, imputations = K) combines the draws and ranks the units for review", {
  skip_without_python()
  run <- small_run()
  dir <- copy_dir(run$results)
  res <- read_results(dir)
  expect_false(is.null(res$posterior))
  fit <- fit_density(res, run$sim$stations, imputations = 6, occasion_length = 5, progress = FALSE)
  expect_s3_class(fit, "lynxid_density_imputed")
  expect_true(all(c("estimates", "hard", "draws", "review", "animals_detected", "settings", "files", "out") %in%
                    names(fit)))
  e <- fit$estimates
  expect_named(e, c("session", "estimate", "SE", "lcl", "ucl", "lcl_ids_certain", "ucl_ids_certain",
                    "share_identification", "df", "draws"))
  expect_equal(nrow(e), 1)
  expect_true(all(e$lcl <= e$lcl_ids_certain & e$lcl_ids_certain <= e$estimate &
                    e$estimate <= e$ucl_ids_certain & e$ucl_ids_certain <= e$ucl))
  expect_true(e$share_identification >= 0 && e$share_identification <= 1)
  expect_equal(e$draws, sum(is.na(fit$draws$error)))
  expect_equal(nrow(fit$draws), 6)
  expect_named(fit$hard, c("session", "estimate", "SE", "lcl", "ucl"))
  expect_true(fit$hard$lcl <= fit$hard$estimate && fit$hard$estimate <= fit$hard$ucl)
  expect_equal(sum(fit$animals_detected$counts), 6)
  # how many calls their own probabilities expect to be wrong, said with the estimate
  w <- fit$settings$expected_wrong_calls
  expect_true(is.numeric(w) && w >= 0 && w <= 1)
  expect_match(fit$text, "of them to be wrong", fixed = TRUE)
  expect_identical(as.data.frame(fit), e)
  # the review order: priority 1..n, best first, one row per unit not reviewed
  r <- rank_for_review(fit)
  expect_identical(r, fit$review)
  expect_named(r, c("priority", "unit_id", "event_id", "station", "individual_id", "probability", "p_other",
                    "variance_reduction", "share_reduction"))
  expect_gt(nrow(r), 0)
  expect_equal(r$priority, seq_len(nrow(r)))
  expect_false(is.unsorted(rev(r$variance_reduction)))
  expect_setequal(r$unit_id, unique(res$detections$unit_id[!is.na(res$detections$individual_id)]))
  # written beside identify's results, where review_report() finds it
  expect_equal(fit$out, dir)
  expect_true(file.exists(file.path(dir, "review_priority.csv")))
  expect_true(file.exists(file.path(dir, "density_imputed.json")))
  # the methods
  printed <- capture.output(print(fit))
  expect_match(printed[1], "identification error included")
  expect_true(any(grepl("hard calls only", printed)))
  expect_true(any(grepl("animals detected per draw", printed)))
  expect_true(any(grepl("Review order", capture.output(print(summary(fit))))))
  if (requireNamespace("ggplot2", quietly = TRUE)) expect_s3_class(plot(fit), "ggplot")
  expect_error(plot(fit, session = "nope"), "no session nope")
  # from identify's folder (Python reads the tables) the same draws give the same estimates
  again <- fit_density(dir, run$sim$stations, imputations = 6, occasion_length = 5, n_jobs = 1, out = FALSE,
                       progress = FALSE)
  expect_equal(again$estimates, e)
  expect_null(again$files)
})

test_that("review_report() shows the cards in the density fit's review order", {
  skip_without_python()
  run <- small_run()
  dir <- copy_dir(run$results)
  res <- read_results(dir)
  fit <- fit_density(res, run$sim$stations, imputations = 5, occasion_length = 5, progress = FALSE)
  ranks <- function(f) {
    html <- readChar(f, file.size(f), useBytes = TRUE)
    as.integer(regmatches(html, gregexpr('(?<="priority": )[0-9]+', html, perl = TRUE))[[1]])
  }
  ranked <- ranks(review_report(dir, run$cat, file = tempfile(fileext = ".html"), open = FALSE, progress = FALSE))
  todo <- res$detections[res$detections$needs_review | res$detections$is_new, ]
  cards <- unique(todo[, c("event_id", "individual_id")])
  expect_equal(length(ranked), sum(cards$event_id %in% fit$review$event_id))
  expect_gt(length(ranked), 0)
  expect_false(is.unsorted(ranked))
  expect_length(ranks(review_report(dir, run$cat, file = tempfile(fileext = ".html"), open = FALSE, progress = FALSE,
                                    priority = FALSE)), 0)
  expect_equal(ranks(review_report(dir, run$cat, file = tempfile(fileext = ".html"), open = FALSE, progress = FALSE,
                                   priority = fit)), ranked)
  expect_error(review_report(dir, run$cat, open = FALSE, priority = "x"), "priority must be")
})

test_that("fit_density() on identify's results says what it needs", {
  skip_without_python()
  res <- small_run()$res
  expect_error(fit_density(res), "needs the station table")
  expect_error(fit_density(res, small_run()$sim$stations, imputations = 5, engine = "secr"),
               "unknown argument\\(s\\) engine")
  expect_error(fit_density(tempdir(), small_run()$sim$stations), "no detections.parquet")
  expect_error(rank_for_review(res), "density fit with identification error")
})

test_that("fit_density(res, stations, pair_evidence = F) draws the identities inside the SCR model", {
  skip_without_python()
  run <- small_run()
  res <- read_results(copy_dir(run$results))
  expect_true(is.numeric(res$summary$catalogue_individuals))
  pe <- tempfile(fileext = ".json")
  writeLines('{"intercept": 2.0, "slope": 1.0, "pairs": {"same": 50, "different": 500}, "source": "measured"}', pe)
  fit <- fit_density(res, run$sim$stations, imputations = 4, occasion_length = 5, progress = FALSE, out = FALSE,
                     pair_evidence = pe)
  expect_identical(fit$settings$sampler, "latent")
  expect_match(fit$text, "inside the SCR model", fixed = TRUE)
  e <- fit$estimates
  expect_true(e$lcl <= e$estimate && e$estimate <= e$ucl)
  expect_error(fit_density(res, run$sim$stations, imputations = 4, occasion_length = 5, sampler = "latent",
                           progress = FALSE, out = FALSE), "needs pair_evidence")
  expect_error(fit_density(res, run$sim$stations, pair_evidence = "nope.json"), "no such file")
  expect_error(fit_density(res, run$sim$stations, sampler = "both"), "should be one of")
})
