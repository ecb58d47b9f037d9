# Choosing the Python side: LYNXID_VIRTUALENV is read when lynxid first needs Python, not only
# at library(lynxid). Each case runs in a fresh R process, because once Python is started in a
# session (as it is in this one) no other interpreter can be chosen.

# The virtual environment of the Python these tests run with (skips when there is none).
test_venv <- function() {
  skip_on_os("windows")   # the layout checked below is bin/python
  skip_without_python()
  python <- reticulate::py_config()$python
  venv <- dirname(dirname(python))
  if (!file.exists(file.path(venv, "pyvenv.cfg"))) {
    skip(paste0("the Python running these tests (", python, ") is not in a virtual environment"))
  }
  normalizePath(venv)
}

# Run `code` (lines of R) in a fresh Rscript with the lynxid these tests run (installed or
# loaded from source), without RETICULATE_PYTHON or LYNXID_VIRTUALENV, and without the
# folder of this session's Python on PATH (reticulate put it first; reticulate would find it
# there without being told); return its output.
run_fresh_r <- function(code, env = character()) {
  path <- getNamespaceInfo("lynxid", "path")
  load <- if (file.exists(file.path(path, "R", "zzz.R"))) {
    sprintf("suppressPackageStartupMessages(pkgload::load_all(%s, quiet = TRUE))", deparse(path))
  } else {
    sprintf("suppressPackageStartupMessages(library(lynxid, lib.loc = %s))", deparse(dirname(path)))
  }
  script <- tempfile("fresh", fileext = ".R")
  writeLines(c(load, code), script)
  saved <- Sys.getenv(c("RETICULATE_PYTHON", "LYNXID_VIRTUALENV"), unset = NA)
  Sys.unsetenv(names(saved))
  owd <- setwd(tempdir())   # away from the project's pyproject.toml, which reticulate would inspect
  on.exit({
    setwd(owd)
    for (v in names(saved)) if (!is.na(saved[[v]])) do.call(Sys.setenv, as.list(saved[v]))
  }, add = TRUE)
  libs <- paste0("R_LIBS=", shQuote(paste(.libPaths(), collapse = .Platform$path.sep)))
  path <- strsplit(Sys.getenv("PATH"), .Platform$path.sep, fixed = TRUE)[[1]]
  if (reticulate::py_available(initialize = FALSE)) {
    here <- normalizePath(dirname(reticulate::py_config()$python), mustWork = FALSE)
    path <- path[normalizePath(path, mustWork = FALSE) != here]
  }
  path <- paste0("PATH=", shQuote(paste(path, collapse = .Platform$path.sep)))
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), shQuote(script),
                                  env = c(libs, path, env), stdout = TRUE, stderr = TRUE))
  paste(out, collapse = "\n")
}

test_that("LYNXID_VIRTUALENV set after library(lynxid) is used", {
  venv <- test_venv()
  out <- run_fresh_r(c(
    "stopifnot(!reticulate::py_available(initialize = FALSE))",
    "before <- lynxid_available(initialize = FALSE)",
    sprintf("Sys.setenv(LYNXID_VIRTUALENV = %s)", deparse(venv)),
    "ok <- lynxid_available()",
    "cat('BEFORE=', isTRUE(before), '\\nAVAILABLE=', isTRUE(ok), '\\nREASON=', attr(ok, 'reason'),",
    "    '\\nPYTHON=', reticulate::py_config()$python, '\\n', sep = '')"))
  expect_match(out, "BEFORE=FALSE", fixed = TRUE)
  expect_match(out, "AVAILABLE=TRUE", fixed = TRUE)
  expect_true(paste0("PYTHON=", file.path(venv, "bin", "python")) %in% strsplit(out, "\n", fixed = TRUE)[[1]])
})

test_that("LYNXID_VIRTUALENV naming a missing folder says so, with the path", {
  skip_on_os("windows")
  missing <- file.path(tempdir(), "no-such-venv")
  out <- run_fresh_r(c(
    sprintf("Sys.setenv(LYNXID_VIRTUALENV = %s)", deparse(missing)),
    "ok <- lynxid_available()",
    "cat('AVAILABLE=', isTRUE(ok), '\\nREASON=', attr(ok, 'reason'), '\\n', sep = '')",
    "tryCatch(lynxid:::py_lynxid(), error = function(e) cat('ERROR=', conditionMessage(e), '\\n', sep = ''))"))
  expect_match(out, "AVAILABLE=FALSE", fixed = TRUE)
  expect_match(out, paste0("REASON=LYNXID_VIRTUALENV is set to ", missing, ", which does not exist"), fixed = TRUE)
  expect_match(out, "ERROR=lynxid's Python side is not set up: LYNXID_VIRTUALENV is set to", fixed = TRUE)
  expect_match(out, "install_lynxid()", fixed = TRUE)
})

test_that("a Python already started with another interpreter is reported: restart R", {
  venv <- test_venv()
  cfg <- readLines(file.path(venv, "pyvenv.cfg"))
  home <- trimws(sub("^home\\s*=", "", grep("^home\\s*=", cfg, value = TRUE)))
  base <- file.path(home, c("python3", "python"))
  base <- base[file.exists(base)]
  if (!length(home) || !length(base)) skip("the test environment's base interpreter is not found in pyvenv.cfg")
  out <- run_fresh_r(c(
    sprintf("reticulate::use_python(%s, required = TRUE)", deparse(base[[1]])),
    "if (!reticulate::py_available(initialize = TRUE)) { cat('NO-BASE-PYTHON\\n'); quit() }",
    "if (reticulate::py_module_available('lynxid')) { cat('BASE-HAS-LYNXID\\n'); quit() }",
    sprintf("Sys.setenv(LYNXID_VIRTUALENV = %s)", deparse(venv)),
    "ok <- lynxid_available()",
    "cat('AVAILABLE=', isTRUE(ok), '\\nREASON=', attr(ok, 'reason'), '\\n', sep = '')"))
  if (grepl("NO-BASE-PYTHON|BASE-HAS-LYNXID", out)) skip(paste("the base interpreter cannot serve here:", out))
  expect_match(out, "AVAILABLE=FALSE", fixed = TRUE)
  expect_match(out, "REASON=Python already runs in this R session with", fixed = TRUE)
  expect_match(out, "restart R", fixed = TRUE)
})

test_that("PyTorch and faiss use their own BLAS inside R, not R's", {
  # R's BLAS (Debian/Ubuntu: the reference libblas.so.3) is loaded first; without
  # lynxid's isolation libtorch_cpu's sgemm_ binds to it and matrix products run ~10x slower.
  skip_on_os(c("windows", "mac", "solaris"))
  venv <- test_venv()
  trace <- tempfile("bindings")
  out <- run_fresh_r(c(
    sprintf("Sys.setenv(LYNXID_VIRTUALENV = %s)", deparse(venv)),
    "invisible(lynxid:::py_lynxid('rinterop'))",
    "torch <- reticulate::import('torch')",
    "x <- torch$randn(64L, 64L); invisible(torch$mm(x, x))",
    "faiss <- reticulate::import('faiss'); np <- reticulate::import('numpy', convert = FALSE)",
    "index <- faiss$IndexFlatIP(16L); v <- np$random$rand(64L, 16L)$astype('float32')",
    "index$add(v); invisible(index$search(v, 3L))",
    "cat('DONE\\n')"), env = c("LD_DEBUG=bindings", paste0("LD_DEBUG_OUTPUT=", trace)))
  expect_match(out, "DONE", fixed = TRUE)
  files <- list.files(dirname(trace), paste0("^", basename(trace)), full.names = TRUE)
  if (!length(files)) skip("no LD_DEBUG output (not glibc)")
  on.exit(unlink(files), add = TRUE)
  lines <- unlist(lapply(files, function(f) grep("normal symbol `[sdcz](gemm|gemv|syrk|dot|axpy)_'",
                                                    readLines(f, warn = FALSE), value = TRUE)))
  from <- sub(".*binding file (\\S+) .*", "\\1", lines)
  to <- sub(".* to (\\S+) .*", "\\1", lines)
  pkg <- sub(".*/site-packages/([^/]+)/.*", "\\1", from)
  mine <- grepl("/site-packages/(torch|faiss)/", from)
  expect_true(any(mine & grepl("libtorch_cpu", from) & grepl("sgemm_", lines)))   # torch's sgemm_ was looked up
  expect_true(any(mine & grepl("libfaiss", from)))                                   # and faiss's
  # each resolved within its own package's libraries, not in R's BLAS
  own <- mapply(function(p, t) grepl(paste0("/site-packages/", p, "(/|\\.libs/|_cpu\\.libs/)"), t), pkg[mine], to[mine])
  expect_equal(unname(lines[mine][!own]), character())
})

test_that("R reaches Python through lynxid's public API and lynxid.rinterop only", {
  # which names R uses there: the top of R/python.R; tests/test_rinterop.py checks them
  expect_error(lynxid:::py_lynxid("export"), "public API or lynxid.rinterop")
})
