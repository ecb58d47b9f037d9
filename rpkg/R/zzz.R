.onLoad <- function(libname, pkgname) {
  # Use lynxid's own virtual environment when it exists and the user has not chosen a
  # Python (RETICULATE_PYTHON or an earlier use_python()); never start Python here.
  if (!nzchar(Sys.getenv("RETICULATE_PYTHON")) &&
      isTRUE(tryCatch(reticulate::virtualenv_exists(lynxid_envname()), error = function(e) FALSE))) {
    try(reticulate::use_virtualenv(lynxid_envname(), required = FALSE), silent = TRUE)
  }
}

.onAttach <- function(libname, pkgname) {
  if (!nzchar(Sys.getenv("RETICULATE_PYTHON")) &&
      !isTRUE(tryCatch(reticulate::virtualenv_exists(lynxid_envname()), error = function(e) FALSE))) {
    packageStartupMessage("lynxid: the Python side is not set up yet; run install_lynxid() once, then restart R.")
  }
}
