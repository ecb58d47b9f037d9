# The R <-> Python boundary: data, errors, console output, and the bundled Python package.

test_that("frames cross with NA in every column type, and instants keep their zone", {
  skip_without_python()
  pd <- reticulate::import("pandas", convert = FALSE)
  df <- pd$DataFrame(reticulate::dict(
    n = c(1.5, NaN), s = reticulate::r_to_py(list("a", NULL)), b = c(TRUE, FALSE),
    i = pd$array(list(3L, NULL), dtype = "Int64"),
    t = pd$to_datetime(list("2025-02-02 05:19:02+01:00", NULL)),
    z = pd$to_datetime(list("2025-07-01 12:00:00", "2025-01-01 12:00:00"))$tz_localize("Europe/Zurich")))
  x <- lynxid:::from_py(df)
  expect_equal(x$n, c(1.5, NA))
  expect_equal(x$s, c("a", NA))
  expect_equal(x$i, c(3L, NA))
  expect_s3_class(x$t, "POSIXct")
  expect_equal(attr(x$t, "tzone"), "Etc/GMT-1")                 # "+01:00" as R knows it
  expect_equal(format(x$t[1], "%Y-%m-%d %H:%M:%S %z"), "2025-02-02 05:19:02 +0100")
  expect_true(is.na(x$t[2]))
  expect_equal(attr(x$z, "tzone"), "Europe/Zurich")
  expect_equal(format(x$z, "%H:%M %Z"), c("12:00 CEST", "12:00 CET"))
  # the caller's zone wins when R knows it: same instants
  y <- lynxid:::from_py(df, tz = "UTC")
  expect_equal(format(y$t[1], "%H:%M:%S", tz = "UTC"), "04:19:02")

  back <- lynxid:::from_py(lynxid:::r_to_pandas(data.frame(a = c(NA, 2L), s = c("x", NA), l = c(NA, TRUE))))
  expect_equal(back$a, c(NA, 2))
  expect_equal(back$s, c("x", NA))
  expect_equal(back$l, c(NA, TRUE))
})

test_that("Python errors become R conditions with the Python message", {
  skip_without_python()
  err <- tryCatch(lynxid:::py_call(reticulate::py_run_string(
    "raise ValueError('stations.csv row 3: no setup date; fill in Setup_date')")), error = function(e) e)
  expect_s3_class(err, "lynxid_error")
  expect_equal(conditionMessage(err), "stations.csv row 3: no setup date; fill in Setup_date")
  err <- tryCatch(lynxid:::py_call(reticulate::py_run_string("raise KeyError('x')")), error = function(e) e)
  expect_match(conditionMessage(err), "[Python KeyError]", fixed = TRUE)
  # the R wrappers check their inputs first, naming the R function to use
  expect_error(identify(tempfile(), tempdir()), "images folder not found")
  expect_error(catalogue(tempdir()), "catalogue.json missing.*build_catalogue")
})

test_that("Python's progress bars and prints reach R's console", {
  skip_without_python()
  msg <- capture.output(type = "message", out <- capture.output(lynxid:::py_call(reticulate::py_run_string(
    "from tqdm.auto import tqdm\nprint('hello from Python')\nfor _ in tqdm(range(5), desc='working'): pass"))))
  expect_equal(out, "hello from Python")
  expect_match(paste(msg, collapse = ""), "working: 100%.*5/5")
  # and afterwards Python's streams are its own again
  expect_equal(capture.output(reticulate::py_run_string("import sys; sys.stdout.write('')")), character())
  expect_false(grepl("RConsole", reticulate::py_eval("type(__import__('sys').stdout).__name__")))
})

test_that("install_lynxid finds the bundled wheel and says what to do without one", {
  whl <- lynxid:::bundled_wheel()
  if (identical(Sys.getenv("LYNXID_REQUIRE_PYTHON"), "1")) {
    expect_match(basename(whl), "^lynxid-.*-py3-none-any\\.whl$")   # `make rpkg` bundles it
  }
  d <- tempfile("wheels")
  dir.create(d)
  expect_equal(lynxid:::bundled_wheel(d), "")
  file.create(file.path(d, c("lynxid-0.1.0-py3-none-any.whl", "README")))
  expect_equal(basename(lynxid:::bundled_wheel(d)), "lynxid-0.1.0-py3-none-any.whl")
  expect_error(install_lynxid(source = ""), "No lynxid Python package found to install")
  expect_error(install_lynxid(source = file.path(d, "nope.whl")), "not found.*nope.whl")
})
