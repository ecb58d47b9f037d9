# The runnable examples must not rot: run one R example against the shared small survey.

test_that("examples/capture_history.R runs on identify() results", {
  skip_without_python()
  ex <- find_examples()
  if (!nzchar(ex)) {
    if (identical(Sys.getenv("LYNXID_REQUIRE_PYTHON"), "1")) stop("examples/ not found above ", getwd())
    skip("examples/ folder not found (running outside the repository)")
  }
  run <- small_run()
  old <- Sys.getenv("LYNXID_EXAMPLE_DIR")
  on.exit(Sys.setenv(LYNXID_EXAMPLE_DIR = old))
  Sys.setenv(LYNXID_EXAMPLE_DIR = run$root)
  out <- capture.output(source(file.path(ex, "capture_history.R"), local = new.env(), echo = FALSE))
  expect_true(file.exists(file.path(run$root, "capture_history", "capt.txt")))
  expect_true(file.exists(file.path(run$root, "capture_history", "traps.txt")))
})
