"""The R <-> Python boundary, shared by every R front end (rpkg/R/convert.R is the other half).

reticulate 1.28 converts neither pandas >= 3 frames nor numpy >= 2 arrays, and writes R's NA
as the text "NA", -2147483648 or TRUE. So data cross as plain Python lists with explicit NA
masks: frames as ``{"__frame__": columns}``, arrays as ``{"__array__": values, ...}``.

It also routes Python's console output (tqdm progress bars, ``print``) through R's console
while an R call runs: reticulate 1.28 leaves ``sys.stdout``/``sys.stderr`` on the process's
file descriptors, which RStudio does not show.
"""
from __future__ import annotations

import sys
import threading

import numpy as np
import pandas as pd

__all__ = ["to_r_columns", "to_r", "from_r_columns", "RConsole", "redirect_streams", "restore_streams"]


def to_r_columns(df: pd.DataFrame) -> dict:
    """Columns as ``{name: {"kind", "values", "na"}}`` with plain lists. ``kind`` is ``int``,
    ``num``, ``bool``, ``str``, ``time`` (tz-naive: text ``YYYY-MM-DD HH:MM:SS``, local wall
    clock) or ``instant`` (tz-aware: seconds since 1970-01-01 UTC, with ``tz`` the zone's
    name and ``offset_minutes`` its UTC offset when fixed, so R rebuilds the same instants)."""
    out = {}
    for name in df.columns:
        col = df[name]
        na = col.isna().to_numpy(bool)
        dt = col.dtype
        extra = {}
        if isinstance(dt, pd.CategoricalDtype):
            col = col.astype(object)
            dt = col.dtype
        if pd.api.types.is_bool_dtype(dt):
            kind, values = "bool", col.fillna(False).to_numpy(bool)
        elif pd.api.types.is_integer_dtype(dt):
            v = col.to_numpy("float64", na_value=np.nan)
            small = len(v) == 0 or np.nanmax(np.abs(v), initial=0) < 2 ** 31 - 1
            kind, values = ("int", np.nan_to_num(v).astype(np.int32)) if small else ("num", v)
        elif pd.api.types.is_numeric_dtype(dt):
            kind, values = "num", col.to_numpy("float64", na_value=np.nan)
        elif isinstance(dt, pd.DatetimeTZDtype):
            utc = col.dt.tz_convert("UTC").dt.tz_localize(None)
            secs = (utc - pd.Timestamp("1970-01-01")).dt.total_seconds()
            kind, values = "instant", secs.fillna(0.0).to_numpy("float64")
            extra = {"tz": str(dt.tz), "offset_minutes": _fixed_offset_minutes(dt.tz)}
        elif pd.api.types.is_datetime64_any_dtype(dt):
            kind, values = "time", col.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("").to_numpy(object)
        else:
            kind, values = "str", col.astype(object).where(~na, "").astype(str).to_numpy(object)
        out[str(name)] = {"kind": kind, "values": values.tolist(), "na": na.tolist(), **extra}
    return out


def _fixed_offset_minutes(tz):
    """UTC offset in minutes of a fixed-offset zone (``UTC+01:00``), None for a named zone."""
    import datetime as _dt
    if isinstance(tz, _dt.timezone):
        return int(tz.utcoffset(None).total_seconds() // 60)
    name = str(tz)
    if name in ("UTC", "utc", "Etc/UTC", "Z"):
        return 0
    return None


def to_r(obj):
    """``obj`` with every DataFrame as ``{"__frame__": columns}`` and every ndarray as
    ``{"__array__": values in column-major order, "dim": shape, "kind": ...}``."""
    if isinstance(obj, pd.DataFrame):
        return {"__frame__": to_r_columns(obj)}
    if isinstance(obj, pd.Series):
        return to_r(obj.to_frame())
    if isinstance(obj, np.ndarray):
        kind = "int" if obj.dtype.kind in "iu" else "num" if obj.dtype.kind == "f" else \
            "bool" if obj.dtype.kind == "b" else "str"
        vals = obj.ravel(order="F")
        if kind == "str":
            vals = vals.astype(str)
        return {"__array__": vals.tolist(), "dim": list(obj.shape), "kind": kind}
    if isinstance(obj, dict):
        return {str(k): to_r(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_r(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def from_r_columns(cols: dict) -> pd.DataFrame:
    """The inverse for R data frames: ``{name: [values, na_mask]}`` -> DataFrame with NA."""
    data = {}
    for name, (values, na) in cols.items():
        v = pd.Series(np.atleast_1d(np.asarray(values)))
        na = np.atleast_1d(np.asarray(na, dtype=bool))
        if na.any():
            if v.dtype.kind == "b":
                v = v.astype("boolean")          # keeps NA; crosses back to R as logical NA
            elif v.dtype.kind in "iu":
                v = v.astype("float64")
            v = v.where(~na, None if v.dtype.kind in "OSU" or str(v.dtype) in ("str", "string") else np.nan)
        data[name] = v
    return pd.DataFrame(data)


# --------------------------------------------------------------------------------------
# console output through R
# --------------------------------------------------------------------------------------
class RConsole:
    """A text stream that hands what is written to an R function (``cat`` to R's console).

    Only the main thread may call into R; writes from other threads (a tqdm monitor, a
    worker's warning) go to the stream that was there before."""

    def __init__(self, write, fallback, tty: bool = True):
        self._write = write
        self._fallback = fallback
        self._tty = tty
        self.encoding = "utf-8"

    def write(self, text) -> int:
        if not text:
            return 0
        if threading.current_thread() is threading.main_thread():
            self._write(str(text))
        elif self._fallback is not None:
            self._fallback.write(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._tty

    def writable(self) -> bool:
        return True


def redirect_streams(write_stdout, write_stderr, tty: bool = True):
    """Send ``sys.stdout``/``sys.stderr`` to the given R functions until
    :func:`restore_streams` is called with the returned token. tqdm's monitor thread is
    switched off meanwhile: it would write from another thread."""
    from tqdm import tqdm
    token = (sys.stdout, sys.stderr, tqdm.monitor_interval)
    for s in token[:2]:
        try:
            s.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not stop the call
            pass
    tqdm.monitor_interval = 0
    sys.stdout = RConsole(write_stdout, token[0], tty)
    sys.stderr = RConsole(write_stderr, token[1], tty)
    return token


def restore_streams(token) -> None:
    from tqdm import tqdm
    sys.stdout, sys.stderr, tqdm.monitor_interval = token
