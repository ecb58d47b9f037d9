.onLoad <- function(libname, pkgname) {
  # Prefer lynxid's environment when the user has not chosen a Python (RETICULATE_PYTHON or
  # an earlier use_python()); a hint to reticulate, so another package that starts Python
  # first starts this one. Never start Python here. LYNXID_VIRTUALENV is read again when
  # lynxid first needs Python (choose_python()), so setting it after library(lynxid) works.
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) return(invisible())
  py <- tryCatch(lynxid_env_python(), error = function(e) NA_character_)
  if (!is.na(py)) {
    try(reticulate::use_python(py, required = FALSE), silent = TRUE)
  } else if (!nzchar(Sys.getenv("LYNXID_VIRTUALENV")) &&
             isTRUE(tryCatch(reticulate::virtualenv_exists("r-lynxid"), error = function(e) FALSE))) {
    try(reticulate::use_virtualenv("r-lynxid", required = FALSE), silent = TRUE)
  }
}

.onAttach <- function(libname, pkgname) {
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) return(invisible())
  py <- tryCatch(lynxid_env_python(), error = function(e) e)
  if (inherits(py, "error")) {
    packageStartupMessage("lynxid: ", conditionMessage(py))
  } else if (is.na(py) && !isTRUE(tryCatch(reticulate::virtualenv_exists("r-lynxid"), error = function(e) FALSE))) {
    packageStartupMessage("lynxid: the Python side is not set up yet: ", setup_advice(), ".")
  }
}
