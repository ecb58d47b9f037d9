# Tests that need the Python side call skip_without_python(). Under `make test`
# LYNXID_REQUIRE_PYTHON=1 is set, and a missing Python side is then an error, not a skip,
# so CI can never pass by skipping.
skip_without_python <- function() {
  ok <- lynxid::lynxid_available()
  if (!isTRUE(ok)) {
    if (identical(Sys.getenv("LYNXID_REQUIRE_PYTHON"), "1")) {
      stop("LYNXID_REQUIRE_PYTHON=1 but lynxid's Python side is not available: ", attr(ok, "reason"))
    }
    testthat::skip(paste("lynxid's Python side is not set up:", attr(ok, "reason")))
  }
}
