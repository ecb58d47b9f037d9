# fit_density() from R: lynxid's engine against secr 5.5.0's reference fits (when
# ../shared/data/secr-reference is present), on a capture history simulated here (always),
# the methods, the errors, and engine = "secr" (when secr is installed).

find_secr_reference <- function() {
  env <- Sys.getenv("LYNXID_SHARED_DATA")
  if (nzchar(env)) return(file.path(env, "secr-reference"))
  d <- normalizePath(testthat::test_path("."), mustWork = FALSE)
  for (i in 1:8) {
    cand <- file.path(d, "shared", "data", "secr-reference")
    if (file.exists(file.path(cand, "README.md"))) return(cand)
    d <- dirname(d)
  }
  ""
}

reference_tables <- function(folder) {
  info <- readLines(file.path(folder, "README.txt"))
  detector <- trimws(sub("^detector:", "", grep("^detector:", info, value = TRUE)))
  list(traps = file.path(folder, "traps.csv"), captures = file.path(folder, "captures.csv"), detector = detector)
}

# A month of camera trapping simulated in R: 16 stations (set up and retrieved at noon, so the
# first and last day count half), 40 animals around them, daily half-normal detection.
simulated_capture_history <- function(seed = 3) {
  set.seed(seed)
  g <- expand.grid(col = 0:3, row = 0:3)
  stations <- data.frame(Station = sprintf("S%02d", seq_len(nrow(g))), utm_x = 500000 + 1500 * g$col,
                         utm_y = 5200000 + 1500 * g$row, Setup_date = "2024-03-01", Retrieval_date = "2024-03-31",
                         stringsAsFactors = FALSE)
  n <- 40
  cx <- stats::runif(n, 500000 - 4000, 504500 + 4000)
  cy <- stats::runif(n, 5200000 - 4000, 5204500 + 4000)
  d2 <- outer(cx, stations$utm_x, "-")^2 + outer(cy, stations$utm_y, "-")^2
  p <- 0.08 * exp(-d2 / (2 * 1200^2))
  rows <- list()
  for (day in 1:30) {
    hit <- which(matrix(stats::runif(length(p)) < p, nrow = n), arr.ind = TRUE)
    if (nrow(hit)) {
      rows[[day]] <- data.frame(station = stations$Station[hit[, 2]], individual_id = sprintf("L%02d", hit[, 1]),
                                timestamp = sprintf("2024-03-%02d 20:00:00", day), stringsAsFactors = FALSE)
    }
  }
  capture_history(do.call(rbind, rows), stations, occasion_length = 5, tz = "UTC")
}

test_that("lynxid's engine reproduces secr's reference fits", {
  skip_without_python()
  ref <- find_secr_reference()
  skip_if(!nzchar(ref) || !dir.exists(ref), "secr reference data not found (../shared/data/secr-reference)")
  for (folder in list.dirs(ref, recursive = FALSE)) {
    fits <- utils::read.csv(file.path(folder, "secr_fits.csv"))
    fn <- fits$detectfn[1]
    fits <- fits[fits$detectfn == fn, ]
    fit <- fit_density(reference_tables(folder), detectfn = fn, mask = utils::read.csv(file.path(folder, "mask.csv")))
    expect_true(fit$convergence$converged)
    got <- fit$estimates
    for (p in intersect(c("D", "g0", "lambda0", "sigma", "z"), fits$parameter)) {
      r <- fits[fits$parameter == p, ]
      g <- got[got$parameter == p, ]
      expect_equal(g$estimate, r$estimate, tolerance = 5e-4, label = paste(basename(folder), fn, p))
      expect_equal(g$SE, r$SE, tolerance = 0.02, label = paste(basename(folder), fn, p, "SE"))
    }
    expect_equal(fit$logLik, fits$estimate[fits$parameter == "logLik"], tolerance = 5e-4)
    expect_equal(AIC(fit), fits$estimate[fits$parameter == "AIC"], tolerance = 1e-4)
  }
})

test_that("a capture history fits, and the methods agree with each other", {
  skip_without_python()
  ch <- simulated_capture_history()
  expect_true(any(ch$usage[[1]] %% 1 != 0))                  # half days: fractional usage
  fit <- fit_density(ch, detectfn = "HN", buffer = 5000, spacing = 250)
  expect_s3_class(fit, "lynxid_density")
  expect_true(fit$convergence$converged)
  est <- fit$estimates
  D <- est[est$parameter == "D", ]
  expect_equal(est$estimate[est$parameter == "D_100km2"], D$estimate * 1e4)
  expect_equal(est$estimate[est$parameter == "EN"], D$estimate * fit$mask_info$area_ha)
  truth <- 40 / ((4500 + 8000)^2 / 1e4)                     # animals per hectare in the simulated region
  expect_true(D$lcl < truth && truth < D$ucl)
  expect_equal(rownames(coef(fit)), c("D", "g0", "sigma"))
  expect_equal(exp(coef(fit)["D", "beta"]), D$estimate)
  ci <- confint(fit)
  expect_equal(unname(ci["sigma", ]), unlist(est[est$parameter == "sigma", c("lcl", "ucl")], use.names = FALSE))
  ci90 <- confint(fit, c("D", "sigma"), level = 0.9)
  expect_equal(rownames(ci90), c("D", "sigma"))
  expect_true(all(ci90[, 1] > ci[c("D", "sigma"), 1] & ci90[, 2] < ci[c("D", "sigma"), 2]))
  expect_equal(dim(vcov(fit)), c(3L, 3L))
  expect_equal(AIC(fit), fit$AIC)
  expect_equal(attr(logLik(fit), "df"), 3)
  pts <- predict(fit, newdata = data.frame(x = c(502000, 530000), y = c(5202000, 5202000)))
  expect_true(pts$pdot[1] > 0.9 && pts$pdot[2] < 1e-6)
  expect_equal(pts$D, rep(D$estimate, 2))
  expect_output(print(fit), "D_100km2")
  expect_output(print(summary(fit)), "Buffer check")
})

test_that("the capture history and secr-style tables of the same data give the same fit", {
  skip_without_python()
  ch <- simulated_capture_history()
  u <- ch$usage[[1]]
  traps <- data.frame(trapID = rownames(u), x = ch$traps$x[match(rownames(u), ch$traps$detector)],
                      y = ch$traps$y[match(rownames(u), ch$traps$detector)])
  traps <- cbind(traps, stats::setNames(as.data.frame(unname(u)), paste0("usage_", seq_len(ncol(u)))))
  d <- ch$detections
  caps <- data.frame(ID = d$individual, occasion = d$occasion, trapID = d$detector)
  a <- fit_density(ch, detectfn = "HN", buffer = 5000, spacing = 250)
  b <- fit_density(list(traps = traps, captures = caps), detectfn = "HN", buffer = 5000, spacing = 250)
  expect_equal(b$estimates, a$estimates, tolerance = 1e-6)
  expect_equal(b$logLik, a$logLik, tolerance = 1e-8)
})

test_that("plots draw the detection function and the surface, with and without ggplot2", {
  skip_without_python()
  fit <- fit_density(simulated_capture_history(), detectfn = "HN", buffer = 5000, spacing = 250)
  sigma <- fit$estimates$estimate[fit$estimates$parameter == "sigma"]
  g0 <- fit$estimates$estimate[fit$estimates$parameter == "g0"]
  pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  curve <- lynxid:::plot_detection(fit, gg = FALSE)              # base graphics
  expect_equal(curve$value[1], g0, tolerance = 1e-10)
  expect_equal(stats::approx(curve$distance, curve$value, sigma)$y, g0 * exp(-0.5), tolerance = 1e-3)
  surf <- lynxid:::plot_surface(fit, NULL, "pdot", gg = FALSE)
  expect_equal(nrow(surf), fit$mask_info$points)
  expect_true(all(surf$pdot >= 0 & surf$pdot <= 1))
  skip_if_not_installed("ggplot2")
  expect_s3_class(plot(fit, "detection"), "ggplot")
  expect_s3_class(plot(fit, "surface", fill = "D"), "ggplot")
})

test_that("errors and warnings are clear", {
  skip_without_python()
  ch <- simulated_capture_history()
  expect_error(fit_density(ch, buffer = 100, mask = data.frame(x = 0, y = 0)), "not both")
  expect_error(fit_density(data.frame(a = 1)), "capture history from capture_history")
  expect_error(fit_density(ch, detector = "count", buffer = 5000), "has proximity detectors")
  expect_error(fit_density(ch, detectfn = "XX"), "should be one of")
  expect_warning(fit_density(ch, detectfn = "HN", buffer = 1000, spacing = 250), "too close")
  traps <- data.frame(trapID = c("A", "B"), x = c(0, 100), y = c(0, 0))
  unknown <- data.frame(ID = c(1, 1), occasion = 1:2, trapID = c("A", "Z"))
  expect_error(fit_density(list(traps = traps, captures = unknown), buffer = 300), "not in the trap table",
               class = "lynxid_error")
  expect_error(fit_density(list(traps = traps, captures = data.frame(ID = 1:2, occasion = 1:2, trapID = c("A", "B"))),
                           buffer = 300), "no recaptures")
})

test_that("the secr engine's data and results take lynxid's shapes (no secr needed)", {
  skip_without_python()
  traps <- data.frame(trapID = c("A", "B", "C"), x = c(0, 500, 1000), y = 0, usage_1 = c(1, 0.5, 1),
                      usage_2 = c(1, 1, 0))
  caps <- data.frame(ID = c("a", "a", "b"), occasion = c(1, 2, 1), trapID = c("A", "B", "C"), count = c(3, 1, 2))
  data <- lynxid:::density_data(list(traps = traps, captures = caps, detector = "count"), NULL, NULL)
  parts <- lynxid:::scr_parts(data)
  expect_equal(attr(parts, "detector"), "count")
  ing <- lynxid:::scr_ingredients(parts, "count")
  expect_equal(nrow(ing$captures), 6L)                          # one row per detection, as secr adds them up
  expect_equal(as.vector(table(ing$captures$Detector)[c("A", "B", "C")]), c(3, 1, 2))
  expect_equal(unname(ing$usage[["1"]]), unname(as.matrix(traps[, c("usage_1", "usage_2")])))
  expect_equal(rownames(ing$usage[["1"]]), c("A", "B", "C"))
  expect_equal(ing$traps[["1"]]$x, c(0, 500, 1000))
  pr <- data.frame(link = "log", estimate = c(0.002, 0.1, 800), SE.estimate = c(5e-4, 0.01, 40),
                   lcl = c(0.001, 0.08, 700), ucl = c(0.004, 0.12, 900), row.names = c("D", "lambda0", "sigma"))
  est <- lynxid:::secr_estimates(pr, "1", area = 1000)
  expect_equal(est$parameter, c("D", "D_100km2", "lambda0", "sigma", "EN"))
  expect_equal(est$estimate, c(0.002, 20, 0.1, 800, 2))
  expect_equal(est$SE[c(2, 5)], c(5, 0.5))
  expect_equal(est$ucl[5], 4)
})

test_that("engine = 'secr' without secr says how to install it", {
  skip_if(requireNamespace("secr", quietly = TRUE), "secr is installed: the comparison below runs instead")
  skip_without_python()
  expect_error(fit_density(simulated_capture_history(), buffer = 5000, engine = "secr"),
               "secr package, which is not installed.*install.packages\\(\"secr\"\\)")
})

test_that("engine = 'secr' fits the same model to the same data", {
  skip_if_not(requireNamespace("secr", quietly = TRUE), "secr is not installed: engine = \"secr\" not compared")
  skip_without_python()
  ch <- simulated_capture_history()                          # proximity, fractional usage
  a <- fit_density(ch, detectfn = "HN", buffer = 5000, spacing = 250)
  b <- fit_density(ch, detectfn = "HN", buffer = 5000, spacing = 250, engine = "secr")
  expect_s3_class(b$secr, "secr")
  expect_equal(b$mask_info$points, a$mask_info$points)
  for (p in c("D", "g0", "sigma")) {
    expect_equal(b$estimates$estimate[b$estimates$parameter == p], a$estimates$estimate[a$estimates$parameter == p],
                 tolerance = 1e-3, label = p)
    expect_equal(b$estimates$SE[b$estimates$parameter == p], a$estimates$SE[a$estimates$parameter == p],
                 tolerance = 0.02, label = paste(p, "SE"))
  }
  expect_equal(b$logLik, a$logLik, tolerance = 1e-4)
  ref <- find_secr_reference()
  if (nzchar(ref) && dir.exists(file.path(ref, "simulated-count"))) {
    tabs <- reference_tables(file.path(ref, "simulated-count"))
    m <- utils::read.csv(file.path(ref, "simulated-count", "mask.csv"))
    x <- fit_density(tabs, "HHN", mask = m)
    y <- fit_density(tabs, "HHN", mask = m, engine = "secr")
    expect_equal(y$estimates$estimate, x$estimates$estimate, tolerance = 1e-3)
    expect_equal(y$logLik, x$logLik, tolerance = 1e-4)
  }
})
