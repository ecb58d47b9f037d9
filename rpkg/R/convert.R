# The R <-> Python data boundary, shared by every R front end; the Python half is
# lynxid.rinterop. reticulate 1.28 converts neither pandas >= 3 frames nor numpy >= 2 arrays
# and writes R's NA as the text "NA", -2147483648 or TRUE, so data cross as plain lists with
# explicit NA masks.

# R data frame -> pandas, keeping NA as missing.
r_to_pandas <- function(x) {
  cols <- lapply(x, function(v) {
    na <- is.na(v)
    if (is.integer(v)) v <- as.double(v)
    else if (!is.logical(v) && !is.numeric(v)) v <- as.character(v)
    if (any(na) && (is.logical(v) || is.character(v))) v[na] <- if (is.logical(v)) FALSE else ""
    list(v, na)
  })
  py_lynxid("rinterop")$from_r_columns(reticulate::r_to_py(cols))
}

# Python results -> R: lynxid.rinterop.to_r() turns frames and arrays into plain lists that
# are rebuilt here. Naive date-times arrive as wall-clock text and become POSIXct in `tz` when
# R knows that zone (else they stay text); zone-aware ones arrive as instants and become
# POSIXct in `tz`, else in their own zone.
from_py <- function(pyobj, tz = NULL) {
  x <- if (inherits(pyobj, "python.builtin.object")) {
    reticulate::py_to_r(py_lynxid("rinterop")$to_r(pyobj))
  } else pyobj
  rebuild(x, tz)
}

py_frame_to_r <- function(pdf, tz = NULL) from_py(pdf, tz)

rebuild <- function(x, tz = NULL) {
  if (!is.list(x)) return(x)
  if ("__frame__" %in% names(x)) return(columns_to_frame(x[["__frame__"]], tz))
  if ("__array__" %in% names(x)) {
    v <- typed(x[["__array__"]], x$kind)
    d <- as.integer(unlist(x$dim))
    if (length(d) <= 1) return(v)
    dn <- if (is.null(x$dimnames)) NULL else lapply(x$dimnames, function(n) as.character(unlist(n)))
    return(array(v, dim = d, dimnames = dn))
  }
  lapply(x, rebuild, tz = tz)
}

typed <- function(v, kind) {
  v <- unlist(v)
  if (is.null(v)) v <- switch(kind, int = integer(), num = , instant = numeric(), bool = logical(), character())
  v
}

columns_to_frame <- function(cols, tz = NULL) {
  out <- lapply(cols, function(col) {
    v <- typed(col$values, col$kind)
    na <- as.logical(unlist(col$na))
    if (col$kind == "time") {
      v[na] <- NA_character_
      if (!is.null(tz) && tz %in% olson_names()) v <- as.POSIXct(v, tz = tz, format = "%Y-%m-%d %H:%M:%S")
    } else if (col$kind == "instant") {
      v[na] <- NA
      v <- as.POSIXct(as.numeric(v), origin = "1970-01-01", tz = r_zone(tz, col$tz, col$offset_minutes))
    } else if (length(na)) {
      v[na] <- NA
    }
    v
  })
  if (!length(out)) return(data.frame())
  as.data.frame(out, stringsAsFactors = FALSE, check.names = FALSE)
}

# R's time zone names, read once per R session: OlsonNames() lists the zoneinfo folder on
# every call (tens of milliseconds), and every date-time column coming back asks for it.
olson_names <- local({
  zones <- NULL
  function() {
    if (is.null(zones)) zones <<- OlsonNames()
    zones
  }
})

# An R time zone for a Python one: the caller's zone if R knows it, a named zone as it is,
# a whole-hour fixed offset as "Etc/GMT-1" (POSIX sign: east of Greenwich is minus), else UTC.
r_zone <- function(tz, py_tz = NULL, offset_minutes = NULL) {
  zones <- olson_names()
  if (!is.null(tz) && tz %in% zones) return(tz)
  if (!is.null(py_tz) && py_tz %in% zones) return(py_tz)
  if (!is.null(offset_minutes) && length(offset_minutes) && offset_minutes %% 60 == 0) {
    h <- offset_minutes %/% 60
    return(if (h == 0) "UTC" else sprintf("Etc/GMT%+d", -h))
  }
  "UTC"
}

# A data frame as the user gets it: a plain data.frame (whatever else is installed), row names
# 1..n.
as_user_frame <- function(df) {
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  rownames(df) <- NULL
  df
}

# A Python path (or string) as R text.
py_path <- function(x) as.character(reticulate::py_str(x))
