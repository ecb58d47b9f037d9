#' lynxid: identify individual animals in camera-trap photos and build capture histories
#'
#' From folders of camera-trap photos to capture histories: \code{\link{build_catalogue}} of
#' the individuals you know, \code{\link{identify}} the animals in a season's photos,
#' \code{\link{review_report}} for the uncertain matches, then \code{\link{camera_operation}}
#' and \code{\link{capture_history}}, converted for secr, oSCR, nimble/JAGS, Rcapture and RMark by
#' \code{\link{as_capthist}} and its siblings or written to files by \code{\link{write_capture_history}}.
#' \code{\link{run_demo}} runs it all on a simulated survey; \code{vignette("lynxid")} walks
#' through a season. The image analysis runs in Python (see \code{\link{install_lynxid}}).
#'
#' @section Masking:
#' \code{library(lynxid)} masks one function: \code{graphics::identify} (labelling points
#' clicked in a plot), because lynxid's main function is called \code{\link{identify}}. Use
#' \code{graphics::identify()} for the graphics one, and \code{?lynxid::identify} for the help
#' of lynxid's.
#'
#' @section Python:
#' lynxid needs a Python environment with the \code{lynxid} Python package. Point it at one
#' that exists (no download) with \code{Sys.setenv(LYNXID_VIRTUALENV = "/path/to/lynxid/.venv")}
#' (a virtual environment's folder or name) or \code{RETICULATE_PYTHON} (a Python), before
#' lynxid first starts Python -- after \code{library(lynxid)} is fine, or in
#' \code{~/.Renviron}; or make one with \code{\link{install_lynxid}} (downloads 1-5 GB).
#' \code{\link{lynxid_available}} says whether it is ready, and why not.
#' @keywords internal
"_PACKAGE"
