# Benchmark: capture histories from R (lynxid::capture_history) against lynxid's Python API.
#
# Rerun from the repository root, with the R package installed and reticulate pointed at the
# project's virtual environment (about a minute on 2 cores):
#
#   RETICULATE_PYTHON=.venv/bin/python Rscript benchmarks/r_capture_speed.R          # results/r_capture_speed.*
#   RETICULATE_PYTHON=.venv/bin/python Rscript benchmarks/r_capture_speed.R --quick  # smoke test
#
# Why: R users reach the same Python core, so the R front end should cost little on top of it
# (the target: R within 2x of the Python API). The survey is camtrapR's benchmark size: 50,000
# records of 300 individuals at 200 stations, 1-day occasions over about a year (stations set
# up over the first 10 days at random times, each with a habitat covariate; records uniform in
# time over each station's deployment). Everything runs in ONE R process: the Python API is
# called on pandas frames read from the same tables (so its time has no R <-> Python
# conversion), R's capture_history() on the R data frames, the two in alternation. Times are
# medians of `reps` runs after one warm-up run.

args <- commandArgs(trailingOnly = TRUE)
quick <- "--quick" %in% args
reps <- if (quick) 3L else 11L
n_st <- if (quick) 20L else 200L
n_days <- if (quick) 30L else 365L
n_ind <- if (quick) 30L else 300L
n_rec <- if (quick) 2000L else 50000L

suppressPackageStartupMessages(library(lynxid))
if (!isTRUE(lynxid_available())) stop("lynxid's Python side is not available: set RETICULATE_PYTHON=.venv/bin/python")

# ---- the survey (deterministic) ---------------------------------------------------------
set.seed(1)
start <- as.POSIXct("2024-01-01 00:00:00", tz = "UTC")
setup <- start + sample.int(10L * 86400L, n_st, replace = TRUE)
retr <- setup + n_days * 86400 - sample.int(86400L, n_st, replace = TRUE)
fmt <- function(t) format(t, "%Y-%m-%d %H:%M:%S", tz = "UTC")
idx <- seq_len(n_st) - 1L
stations <- data.frame(Station = sprintf("S%04d", idx), utm_x = 500000 + 2000 * (idx %% 25),
                       utm_y = 5200000 + 2000 * (idx %/% 25), Setup_date = fmt(setup),
                       Retrieval_date = fmt(retr),
                       habitat = c("forest", "forest edge", "open")[idx %% 3 + 1], stringsAsFactors = FALSE)
st <- sample.int(n_st, n_rec, replace = TRUE)
span <- as.numeric(difftime(retr, setup, units = "secs"))[st]
when <- setup[st] + floor(stats::runif(n_rec) * span)
records <- data.frame(Station = stations$Station[st],
                      Individual = paste0("L", sample.int(n_ind, n_rec, replace = TRUE)),
                      DateTimeOriginal = fmt(when), stringsAsFactors = FALSE)

work <- file.path("benchmarks", "_work", "r_capture_speed")
dir.create(work, recursive = TRUE, showWarnings = FALSE)
utils::write.csv(stations, file.path(work, "stations.csv"), row.names = FALSE)
utils::write.csv(records, file.path(work, "records.csv"), row.names = FALSE)

median_time <- function(f) {
  f()                                                   # warm-up (imports, caches)
  stats::median(vapply(seq_len(reps), function(i) {
    gc(FALSE)
    system.time(f())[["elapsed"]]
  }, 0))
}

# ---- Python API (in this process, no R data crossing) -------------------------------------
reticulate::py_run_string(sprintf(paste(
  "import time, pandas as pd",
  "from lynxid.capture import capture_history as _ch",
  "_st = pd.read_csv(%s, dtype=str)",
  "_st = _st.assign(utm_x=_st.utm_x.astype(float), utm_y=_st.utm_y.astype(float))",
  "_rec = pd.read_csv(%s, dtype=str)",
  "def _run():",
  "    return _ch(_rec, _st, occasion_length=1, tz='UTC', output='binary', station_col='Station',",
  "               individual_col='Individual', time_col='DateTimeOriginal',",
  "               station_options=dict(station_covariates=['habitat']))",
  "def _timed_run():",
  "    t0 = time.perf_counter(); _run(); return time.perf_counter() - t0",
  "py_detections = int(_run().detections['count'].sum())",
  sep = "\n"), shQuote(file.path(work, "stations.csv")), shQuote(file.path(work, "records.csv"))))

# ---- R: lynxid::capture_history() and its secr capthist (as_capthist) ---------------------
build_r <- function() {
  lynxid::capture_history(records, stations, occasion_length = 1, tz = "UTC",
                          station_col = "Station", individual_col = "Individual",
                          time_col = "DateTimeOriginal", station_covariates = "habitat")
}
run_r <- function() {
  ch <- build_r()
  list(ch = ch, capthist = lynxid::as_capthist(ch))
}
# Python and R in alternation, so both see the same load of a shared machine; the ratio is
# taken per round
invisible(run_r())
rounds <- t(vapply(seq_len(reps), function(i) {
  gc(FALSE)
  tp <- reticulate::py_eval("_timed_run()")
  gc(FALSE)
  tr <- system.time(run_r())[["elapsed"]]
  c(py = tp, r = tr)
}, c(py = 0, r = 0)))
t_py <- stats::median(rounds[, "py"])
t_r <- stats::median(rounds[, "r"])
ratio <- stats::median(rounds[, "r"] / rounds[, "py"])
x <- build_r()
py_ch <- attr(x, "py")
t_objects <- median_time(function() lynxid:::capture_history_from_py(py_ch))
t_capthist <- median_time(function() lynxid::as_capthist(x))
saved <- x
attr(saved, "py") <- NULL                               # as after saveRDS/readRDS: rebuilt from the tables
t_rebuild <- median_time(function() lynxid:::py_capture_history(saved))
secr_installed <- requireNamespace("secr", quietly = TRUE)
t_make <- NA
if (secr_installed) {                                   # secr's own make.capthist, for comparison
  old <- options(lynxid.secr_builder = "make.capthist")
  t_make <- median_time(function() lynxid::as_capthist(x))
  options(old)
}
r_detections <- sum(x$detections$count)
if (r_detections != reticulate::py$py_detections) {
  stop("R and Python disagree: ", r_detections, " vs ", reticulate::py$py_detections, " detections")
}

rows <- data.frame(
  what = c("Python API `lynxid.capture.capture_history` (pandas in)",
           "R `lynxid::as_capthist(lynxid::capture_history())` (data frames in, R objects out)",
           "  of which: Python result -> R objects, every table (`capture_history_from_py`)",
           paste0("  of which: the secr part (`as_capthist()`: ",
                  if (secr_installed) "secr capthist" else "secr not installed: its ingredients", ")"),
           "  the same with secr's make.capthist (`options(lynxid.secr_builder = \"make.capthist\")`)",
           "the Python side rebuilt from the R object alone (after saveRDS/readRDS; `py_capture_history`)"),
  seconds = c(t_py, t_r, t_objects, t_capthist, t_make, t_rebuild))
rows$ratio <- c(NA, ratio, NA, NA, NA, NA)
rows <- rows[!is.na(rows$seconds), ]
sz <- sprintf("%s records, %s individuals, %s stations, %s days, 1-day occasions",
              format(n_rec, big.mark = ","), n_ind, n_st, n_days)
md <- c(
  "# Capture histories from R vs the Python API",
  "",
  sprintf("Measured %s on %s, %s CPUs, %s, reticulate %s, Python %s. Survey: %s (%d detections). secr installed: %s.",
          format(Sys.time(), "%Y-%m-%d %H:%M"), R.version$platform, parallel::detectCores(),
          R.version.string, as.character(utils::packageVersion("reticulate")),
          reticulate::py_config()$version, sz, r_detections, if (secr_installed) "yes" else "no"),
  "Rerun: `RETICULATE_PYTHON=.venv/bin/python Rscript benchmarks/r_capture_speed.R`.",
  "",
  "| step | median time | R / Python |",
  "|---|---|---|",
  sprintf("| %s | %.3f s | %s |", rows$what, rows$seconds,
          ifelse(is.na(rows$ratio), "", sprintf("%.2fx", rows$ratio))),
  "",
  sprintf(paste("Medians of %d runs after one warm-up, all in one R process; the Python API and R's",
                "capture_history() run in alternation and R / Python is the median of the per-round",
                "ratios (range %.2f-%.2fx)."), reps, min(rounds[, "r"] / rounds[, "py"]),
          max(rounds[, "r"] / rounds[, "py"])))
name <- if (quick) "r_capture_speed_quick" else "r_capture_speed"
writeLines(md, file.path("benchmarks", "results", paste0(name, ".md")))
if (requireNamespace("jsonlite", quietly = TRUE)) {
  jsonlite::write_json(list(survey = sz, detections = r_detections, secr_installed = secr_installed,
                            rounds_seconds = as.data.frame(rounds), python_median_s = t_py, r_median_s = t_r,
                            r_over_python = ratio, capture_history_from_py_s = t_objects,
                            secr_part_s = t_capthist, make_capthist_s = t_make, rebuild_from_r_s = t_rebuild,
                            reps = reps),
                       file.path("benchmarks", "results", paste0(name, ".json")), auto_unbox = TRUE,
                       digits = 6, pretty = TRUE, na = "null")
}
cat(md, sep = "\n")
