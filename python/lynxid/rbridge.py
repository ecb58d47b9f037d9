"""Python's way into R, through rpy2: R objects to pandas / numpy and back, ``.rds`` files,
and one clear error for whatever an R-backed path is missing.

The mirror of :mod:`lynxid.rinterop` (which R calls through reticulate): here Python starts R
in its own process, so that the command line and Python users can reach the R tools
ecologists trust (secr, camtrapR objects saved with ``saveRDS``) without writing files for
R by hand. lynxid works without R; only these paths need it, and each says what is missing
-- R itself, rpy2, or an R package -- and how to get it (:class:`RUnavailable`).

The conversions are written out here rather than left to rpy2's pandas converter, because
what must survive the crossing is exactly what that converter has changed between versions:
R's ``NA`` in every type (not NaN), factors, ``Date`` (calendar days) and ``POSIXct`` with
its time zone (the ``tzone`` attribute, an IANA name such as ``Asia/Kuching``; a time without
one is in R's session zone, as R shows it). Python -> R: naive date-times go as ``POSIXct``
in UTC (their wall-clock time, unchanged), ``datetime.date`` objects as ``Date``.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil

import numpy as np
import pandas as pd

from .storage import atomic_path

__all__ = ["RUnavailable", "robjects", "require_r_package", "r_package_available", "to_r", "from_r",
           "read_rds", "write_rds", "read_rds_table", "R_PACKAGE_HELP"]

INT_NA = -2147483648          # R's NA_integer_ and NA (logical) as stored
RPY2_HELP = ("install it with: pip install 'lynxid[r]' (or pip install 'rpy2>=3.5,<3.6'; rpy2 3.6 "
             "needs R 4.5 or newer)")
R_HELP = ("install R: on Debian/Ubuntu 'apt-get install r-base-core' (the project's 'make setup' does it), "
          "elsewhere from https://cran.r-project.org; or set R_HOME to an R installation")
R_PACKAGE_HELP = {
    "secr": "install.packages(\"secr\") in R (it needs a C++ compiler: on Debian 'apt-get install r-base-dev')",
    "camtrapR": "install.packages(\"camtrapR\") in R",
}


class RUnavailable(ValueError):
    """An R-backed path cannot run: R, rpy2 or an R package is missing. The message says
    which and how to install it; nothing else in lynxid needs them. A ValueError, as every
    "cannot give a result, here is why" in lynxid is (the command line: exit status 2)."""


_R = {}


def robjects():
    """``rpy2.robjects`` with R started; :class:`RUnavailable` saying what is missing."""
    if "ro" in _R:
        return _R["ro"]
    if not os.environ.get("R_HOME") and shutil.which("R") is None:
        raise RUnavailable(f"this needs R, which was not found (no 'R' on the PATH, R_HOME not set): {R_HELP}")
    try:
        import rpy2
    except ImportError:
        raise RUnavailable(f"this needs the Python package rpy2 to reach R, which is not installed: {RPY2_HELP}") \
            from None
    ld_path = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.robjects as ro
    except Exception as exc:         # an rpy2 built for another R fails when it loads libR
        raise RUnavailable(f"rpy2 {getattr(rpy2, '__version__', '?')} could not start R ({exc}). If rpy2 and R "
                           f"do not match: {RPY2_HELP}") from exc
    finally:
        # R's start-up puts its library paths (with the system's libpython) into this process's
        # environment: every Python started from here on (examples, Dask workers, forked fits
        # that exec) would then load the wrong libpython. This process's loader read the
        # variable at start and does not need it.
        if ld_path is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = ld_path
    _R["ro"] = ro
    _R["helpers"] = ro.r(_HELPERS)
    return ro


def _helper(name):
    robjects()
    return _R["helpers"].rx2(name)


# small R functions the conversions call (attributes are set and read on R's side)
_HELPERS = """
list(
  nan_as_na = function(x) { x[is.nan(x)] <- NA_real_; x },
  set_dim = function(x, d) { dim(x) <- d; x },
  posixct = function(x, tz) structure(x, class = c("POSIXct", "POSIXt"), tzone = tz),
  date = function(x) structure(x, class = "Date"),
  factor = function(codes, levels) { codes[codes < 1L] <- NA_integer_; structure(codes, levels = levels, class = "factor") },
  data_frame = function(cols, n, rn) structure(cols, class = "data.frame",
                                               row.names = if (is.null(rn)) .set_row_names(as.integer(n)) else rn),
  describe = function(x) list(class = class(x), type = typeof(x), tzone = attr(x, "tzone"), dim = dim(x),
                              names = names(x), dimnames = dimnames(x), levels = levels(x),
                              row_names = if (is.data.frame(x)) { rn <- attr(x, "row.names"); if (is.character(rn)) rn }),
  session_tz = function() {
    tz <- Sys.getenv("TZ")
    if (nzchar(tz)) return(sub("^:", "", tz))
    link <- Sys.readlink("/etc/localtime")
    if (nzchar(link) && grepl("zoneinfo/", link)) return(sub(".*zoneinfo/", "", link))
    if (file.exists("/etc/timezone")) return(trimws(readLines("/etc/timezone", n = 1L, warn = FALSE)))
    "UTC"
  },
  has = function(pkg) requireNamespace(pkg, quietly = TRUE)
)
"""


def r_package_available(name: str) -> bool:
    """Whether the R package is installed where rpy2's R looks (R unavailable: False)."""
    try:
        return bool(_helper("has")(name)[0])
    except RUnavailable:
        return False


def require_r_package(name: str, purpose: str) -> None:
    """:class:`RUnavailable` unless R has package ``name``; ``purpose`` says what needs it."""
    ro = robjects()
    if not bool(_helper("has")(name)[0]):
        lib = ", ".join(str(p) for p in ro.r(".libPaths()"))
        how = R_PACKAGE_HELP.get(name, f"install.packages(\"{name}\") in R")
        raise RUnavailable(f"{purpose} needs the R package {name}, which is not installed in this R "
                           f"(libraries: {lib}): {how}")


# --------------------------------------------------------------------------------------
# Python -> R
# --------------------------------------------------------------------------------------
def to_r(obj):
    """A Python object as an R object: DataFrame -> data.frame (index kept as row names
    unless it is the default 0..n-1), Series / 1-D arrays / lists of scalars -> vectors,
    arrays -> R arrays (same shape and element order), dict -> named list, None -> NULL,
    Categorical -> factor, tz-aware date-times -> POSIXct in their zone."""
    ro = robjects()
    if obj is None:
        return ro.NULL
    if isinstance(obj, pd.DataFrame):
        return _data_frame(obj)
    if isinstance(obj, dict):
        out = _unnamed_list(list(obj.values()))
        out.names = ro.StrVector([str(k) for k in obj])
        return out
    if isinstance(obj, (pd.Series, pd.Categorical, pd.Index)):
        return _vector(obj)
    if isinstance(obj, np.ndarray) and obj.ndim > 1:
        flat = _vector(np.asarray(obj).ravel(order="F"))
        return _helper("set_dim")(flat, ro.IntVector(list(obj.shape)))
    if isinstance(obj, (list, tuple)):
        if obj and all(_is_scalar(v) for v in obj) and len({_kind(v) for v in obj if v is not None}) <= 1:
            return _vector(pd.Series(list(obj), dtype=object).infer_objects())
        return _unnamed_list(obj)
    if _is_scalar(obj) or isinstance(obj, np.ndarray):
        return _vector(np.atleast_1d(obj) if isinstance(obj, np.ndarray) else pd.Series([obj]).infer_objects())
    raise TypeError(f"cannot hand a {type(obj).__name__} to R; use a DataFrame, array, list, dict or scalar")


def _unnamed_list(items):
    ro = robjects()
    out = ro.r["vector"]("list", len(items))
    for i, v in enumerate(items):
        out[i] = to_r(v)
    return out


def _is_scalar(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str, np.generic, _dt.date, pd.Timestamp))


def _kind(v) -> str:
    return "bool" if isinstance(v, (bool, np.bool_)) else "num" if isinstance(v, (int, float, np.number)) else \
        type(v).__name__


def _vector(values):
    """One column / vector: its dtype picks the R type, missing values become R's NA."""
    ro = robjects()
    if isinstance(values, pd.Index):
        values = pd.Series(values)
    if isinstance(values, pd.Categorical) or isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        cat = pd.Categorical(values)
        return _helper("factor")(ro.IntVector((cat.codes + 1).tolist()), ro.StrVector([str(c) for c in cat.categories]))
    s = pd.Series(values)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return _posixct(s.dt.tz_convert("UTC").dt.tz_localize(None), _zone_name(s.dt.tz))
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return _posixct(s, "UTC")
    kind = s.dtype.kind
    na = s.isna().to_numpy()
    if kind == "b" or str(s.dtype) == "boolean":
        return ro.BoolVector([ro.NA_Logical if m else bool(v) for v, m in zip(s.tolist(), na)])
    if kind in "iu" or str(s.dtype) in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32"):
        ints = s.astype("float64").to_numpy()
        if np.nanmax(np.abs(ints), initial=0) < 2**31 - 1:
            return ro.IntVector([ro.NA_Integer if m else int(v) for v, m in zip(ints, na)])
        return _helper("nan_as_na")(ro.FloatVector(ints))
    if kind == "f" or str(s.dtype) in ("Float32", "Float64"):
        return _helper("nan_as_na")(ro.FloatVector(s.astype("float64").to_numpy()))
    inferred = pd.api.types.infer_dtype(s, skipna=True)
    if inferred == "date":
        days = [ro.NA_Real if m else float((v - _dt.date(1970, 1, 1)).days) for v, m in zip(s.tolist(), na)]
        return _helper("date")(ro.FloatVector(days))
    if inferred in ("datetime", "datetime64"):
        return _vector(pd.to_datetime(s))
    if inferred == "boolean":
        return ro.BoolVector([ro.NA_Logical if m else bool(v) for v, m in zip(s.tolist(), na)])
    if inferred in ("integer", "floating", "mixed-integer-float"):
        return _vector(s.astype("float64"))
    return ro.StrVector([ro.NA_Character if m else str(v) for v, m in zip(s.tolist(), na)])


def _posixct(naive_utc: pd.Series, tz: str):
    ro = robjects()
    ns = naive_utc.astype("datetime64[ns]").to_numpy().view("i8").astype(float)
    ns[naive_utc.isna().to_numpy()] = np.nan
    return _helper("posixct")(_helper("nan_as_na")(ro.FloatVector(ns / 1e9)), tz)


def _zone_name(tz) -> str:
    """An R time-zone name for a pandas zone: IANA names as they are, fixed offsets of whole
    hours as Etc/GMT-h (POSIX signs: Etc/GMT-1 is UTC+01:00)."""
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if key:
        return str(key)
    off = pd.Timestamp("2000-01-01", tz=tz).utcoffset()
    hours = off.total_seconds() / 3600
    if hours == 0:
        return "UTC"
    if hours != int(hours):
        raise ValueError(f"time zone {tz}: R names only whole-hour fixed offsets; convert the times to an IANA zone "
                         "(e.g. Asia/Kolkata) first")
    return f"Etc/GMT{-int(hours):+d}"


def _data_frame(df: pd.DataFrame):
    ro = robjects()
    cols = ro.vectors.ListVector.from_length(df.shape[1])
    for j, c in enumerate(df.columns):
        cols[j] = _vector(df.iloc[:, j])
    cols.names = ro.StrVector([str(c) for c in df.columns])
    default = isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1
    rn = ro.NULL if default else ro.StrVector([str(i) for i in df.index])
    return _helper("data_frame")(cols, len(df), rn)


# --------------------------------------------------------------------------------------
# R -> Python
# --------------------------------------------------------------------------------------
def from_r(x):
    """An R object as Python: data.frame -> DataFrame (character row names as the index),
    a matrix with dimnames -> DataFrame, other arrays -> numpy arrays of their shape, named
    lists -> dict, unnamed lists -> list, vectors -> numpy arrays / pandas Series with NA
    kept (a length-1 vector without names -> a scalar), factors -> Categorical, Date ->
    ``datetime.date`` objects, POSIXct -> tz-aware times in its zone, NULL -> None."""
    ro = robjects()
    if x is ro.NULL or x is None:
        return None
    d = _describe(x)
    if "data.frame" in d["class"]:
        out = pd.DataFrame({n: _column(x[j], _describe(x[j])) for j, n in enumerate(d["names"] or [])})
        if d["row_names"] is not None:
            out.index = pd.Index(d["row_names"])
        return out
    if d["type"] == "list":
        items = [from_r(v) for v in x]
        names = d["names"]
        if names and all(names) and len(set(names)) == len(names):
            return dict(zip(names, items))
        return items
    if d["type"] not in ("double", "integer", "logical", "character"):
        raise TypeError(f"R objects of type {d['type']} (class {'/'.join(d['class'])}) are not converted; "
                        "convert them to a data frame, vector or list in R first")
    if d["dim"] is not None:
        return _array(x, d)
    col = _column(x, d)
    if len(col) == 1 and d["names"] is None:
        v = col.iloc[0]
        return None if pd.isna(v) else (v.item() if isinstance(v, np.generic) else v)
    if d["names"] is not None:
        col.index = pd.Index(d["names"])
        return col
    return col.to_numpy() if col.dtype.kind in "fiub" else col


def _describe(x) -> dict:
    raw = _helper("describe")(x)
    out = {}
    for name, v in zip(raw.names, raw):
        if v is robjects().NULL:
            out[name] = None
        elif name == "dim":
            out[name] = [int(i) for i in v]
        elif name == "dimnames":
            out[name] = [None if e is robjects().NULL else [str(s) for s in e] for e in v]
        elif name in ("class", "names", "levels", "row_names"):
            out[name] = [None if s is robjects().NA_Character else str(s) for s in v]
        else:
            out[name] = str(v[0]) if len(v) else None
    return out


def _column(x, d) -> pd.Series:
    cls, typ = d["class"], d["type"]
    if "factor" in cls:
        codes = _flat(x, np.int64)
        return pd.Series(pd.Categorical.from_codes(np.where(codes == INT_NA, -1, codes - 1), categories=d["levels"]))
    if "POSIXct" in cls:
        tz = d["tzone"] or _session_zone()
        secs = _flat(x, float)
        with np.errstate(invalid="ignore"):
            us = np.where(np.isfinite(secs), np.round(secs * 1e6), 0).astype(np.int64)
        t = pd.Series(pd.to_datetime(us, unit="us", utc=True)).astype("datetime64[ns, UTC]")
        t[~np.isfinite(secs)] = pd.NaT
        return t.dt.tz_convert(tz)
    if "Date" in cls:
        days = _flat(x, float)
        return pd.Series([None if not np.isfinite(v) else _dt.date(1970, 1, 1) + _dt.timedelta(days=int(v))
                          for v in days], dtype=object)
    if typ == "character":
        ro = robjects()
        return pd.Series([None if s is ro.NA_Character else str(s) for s in x], dtype=object)
    if typ in ("integer", "logical"):
        v = _flat(x, np.int64)
        na = v == INT_NA
        if typ == "logical":
            return pd.Series(v.astype(bool)) if not na.any() else \
                pd.Series(pd.array([None if m else bool(b) for b, m in zip(v, na)], dtype="boolean"))
        return pd.Series(v.astype(np.int32)) if not na.any() else pd.Series(pd.array(np.where(na, 0, v), dtype="Int64",
                                                                                     copy=True)).mask(na)
    return pd.Series(_flat(x, float))


def _flat(x, dtype) -> np.ndarray:
    """The vector's values in R's order (an array's column-major order)."""
    return np.asarray(x, dtype=dtype).ravel(order="F")


def _session_zone() -> str:
    """The zone R shows a POSIXct without ``tzone`` in: TZ, else the system's, else UTC."""
    if "session_tz" not in _R:
        tz = _helper("session_tz")()
        _R["session_tz"] = "UTC" if tz is robjects().NULL or tz[0] is robjects().NA_Character else str(tz[0])
    return _R["session_tz"]


def _array(x, d):
    flat = _column(x, {**d, "class": [c for c in d["class"] if c not in ("matrix", "array")]})
    values = flat.to_numpy() if flat.dtype.kind in "fiub" else flat.to_numpy(dtype=object)
    a = values.reshape(d["dim"], order="F")
    names = d["dimnames"]
    if a.ndim == 2 and names is not None:
        return pd.DataFrame(a, index=pd.Index(names[0]) if names[0] else None,
                            columns=names[1] if names[1] else None)
    return a


# --------------------------------------------------------------------------------------
# .rds files
# --------------------------------------------------------------------------------------
def read_rds(path):
    """An object saved with R's ``saveRDS`` (:func:`from_r`'s conversions)."""
    return from_r(_read_rds_r(path))


def _read_rds_r(path):
    ro = robjects()
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"R data file not found: {p}")
    try:
        return ro.r["readRDS"](p)
    except Exception as exc:
        raise ValueError(f"{p}: R's readRDS could not read it ({exc}); is it a file saved with saveRDS?") from exc


def read_rds_table(path, what: str = "table") -> pd.DataFrame:
    """A data frame saved with ``saveRDS`` (a camtrapR record table or station table, a tibble),
    with its row names dropped: lynxid's tables are read by column."""
    x = _read_rds_r(path)
    cls = list(_describe(x)["class"])
    if "data.frame" not in cls:
        raise ValueError(f"{path}: the {what} must be a data frame saved with saveRDS, but this is an R "
                         f"{'/'.join(cls)}; in R, as.data.frame() it and saveRDS() again")
    return from_r(x).reset_index(drop=True)


def write_rds(obj, path):
    """``obj`` (a Python object for :func:`to_r`, or an R object) saved as ``.rds`` for R's
    ``readRDS``, atomically: a reader never sees half a file."""
    ro = robjects()
    robj = obj if isinstance(obj, ro.RObject) or hasattr(obj, "__sexp__") else to_r(obj)
    with atomic_path(path) as tmp:
        ro.r["saveRDS"](robj, os.fspath(tmp))
    return path
