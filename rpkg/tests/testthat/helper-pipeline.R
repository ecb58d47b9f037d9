# A small identified survey shared by the test files (built once per test run, ~30-60 s):
# simulate -> build_catalogue -> identify.
small_run <- local({
  run <- NULL
  function() {
    if (is.null(run)) {
      root <- tempfile("lynxid-run")
      sim <- simulate_survey(file.path(root, "survey"), n_individuals = 6, n_known = 4, n_days = 20,
                             max_detections = 8, seed = 4, progress = FALSE)
      cat <- build_catalogue(file.path(root, "catalogue"), sim$catalogue_images,
                             megadetector = sim$catalogue_megadetector, progress = FALSE)
      res <- identify(sim$images, cat, megadetector = sim$megadetector, out = file.path(root, "results"),
                      quiet = TRUE)
      run <<- list(root = root, sim = sim, cat = cat, res = res, results = file.path(root, "results"))
    }
    run
  }
})

# A private copy of a folder (results or catalogue) for tests that change it.
copy_dir <- function(from, to = tempfile()) {
  dir.create(to)
  file.copy(list.files(from, full.names = TRUE, all.files = TRUE, no.. = TRUE), to, recursive = TRUE)
  to
}

# The repository's examples/ folder (tests run inside R CMD check's copy of the package).
find_examples <- function() {
  d <- normalizePath(testthat::test_path("."), mustWork = FALSE)
  for (i in 1:8) {
    cand <- file.path(d, "examples")
    if (file.exists(file.path(cand, "capture_history.R"))) return(cand)
    d <- dirname(d)
  }
  ""
}
