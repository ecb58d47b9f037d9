"""The R <-> Python boundary, shared by every R front end (rpkg/R/convert.R is the other half).

reticulate 1.28 converts neither pandas >= 3 frames nor numpy >= 2 arrays, and writes R's NA
as the text "NA", -2147483648 or TRUE. So data cross as plain Python lists with explicit NA
masks: frames as ``{"__frame__": columns}``, arrays as ``{"__array__": values, ...}``.

It also routes Python's console output (tqdm progress bars, ``print``) through R's console
while an R call runs: reticulate 1.28 leaves ``sys.stdout``/``sys.stderr`` on the process's
file descriptors, which RStudio does not show.

And it keeps R's BLAS away from the libraries that bring their own
(:func:`isolate_native_libraries`): inside R, PyTorch's matrix products otherwise run on the
BLAS R was linked with, on Debian/Ubuntu the unoptimised reference BLAS.
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pandas as pd

__all__ = ["to_r_columns", "to_r", "matrix_to_r", "capture_history_to_r", "capture_history_from_r",
           "identification_to_r", "density_fit_to_r", "density_imputed_to_r", "scr_data_to_r",
           "call_recording_warnings", "from_r_columns", "RConsole", "redirect_streams", "restore_streams", "R_HELPERS"]

# The R package reaches Python through two modules only: ``lynxid`` (the public API, its
# ``_API``) and this one. The Python names R needs that are not public come from here: this
# module's own functions and these, under their own names, imported on first use (this
# module stays light: R imports it before torch, see isolate_native_libraries).
R_HELPERS = {
    "view": ("export", "view"),                                  # as_oscr(), as_nimble(), ...
    "trap_covariates": ("export", "trap_covariates"),
    "station_map_data": ("plots", "station_map_data"),            # the ggplot2 figures' data
    "timeline_data": ("plots", "timeline_data"),
    "score_data": ("plots", "score_data"),
    "capture_station_data": ("plots", "capture_station_data"),
    "capture_individual_data": ("plots", "capture_individual_data"),
    "individual_table": ("results", "individual_table"),          # summary() of an identification
    "describe_calibration": ("openset", "describe_calibration"),  # print() of a catalogue
    "find_decisions": ("decisions", "find_decisions"),
    "latest_decisions": ("decisions", "latest_decisions"),
    "Issues": ("ingest", "Issues"),
    "read_table": ("storage", "read_table"),
    "format_summary": ("demo", "format_summary"),
    "from_capture_history": ("scr_data", "from_capture_history"),
    "Mask": ("mask", "Mask"),
    "detection_function": ("density_result", "detection_function"),
    "detection_probability": ("density_result", "detection_probability"),
}


def __getattr__(name: str):
    if name in R_HELPERS:
        import importlib
        module, attr = R_HELPERS[name]
        value = getattr(importlib.import_module(f"lynxid.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lynxid.rinterop' has no attribute {name!r}")


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
        if isinstance(dt, pd.CategoricalDtype) and _text_dtype(dt.categories.dtype):
            # text categories (the detections' session, individual, detector): each category
            # is made text once, not once per row -- the same values as the general path below
            cats = np.append(np.asarray(dt.categories.astype(str), dtype=object), "")
            out[str(name)] = {"kind": "str", "values": cats[col.cat.codes.to_numpy()].tolist(), "na": na.tolist()}
            continue
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


def _text_dtype(dt) -> bool:
    return dt == object or isinstance(dt, pd.StringDtype)


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


def matrix_to_r(df: pd.DataFrame, kind: str) -> dict:
    """A frame of numbers (rows and columns named) as one R matrix: ``to_r``'s array form
    plus ``dimnames``. A usage matrix of 200 stations x 365 days then crosses as one vector,
    not as 366 columns that R has to assemble into a data frame first."""
    dtype = np.float64 if kind == "num" else np.int32
    out = to_r(np.ascontiguousarray(df.to_numpy(dtype=dtype)))
    out["kind"] = kind
    out["dimnames"] = [[str(v) for v in df.index], [str(v) for v in df.columns]]
    return out


def capture_history_to_r(ch) -> dict:
    """Everything R's ``capture_history()`` keeps of a :class:`~lynxid.capture.CaptureHistory`,
    in one crossing (every separate call through reticulate costs time): the per-session
    ``usage`` (days) and ``counts_by_occasion`` matrices, the tables (all of
    :func:`lynxid.capture_tables.capture_tables`, so that R can rebuild the capture history
    without this object: :func:`capture_history_from_r`), the summary, the settings and the
    ``schema`` (:func:`lynxid.capture_tables.table_schema`)."""
    from .capture_tables import TABLES, table_schema
    sessions = [str(s) for s in ch.sessions]
    tables = {name: getattr(ch, name) for name in TABLES if getattr(ch, name) is not None}
    return {"sessions": sessions,
            "usage": [matrix_to_r(ch.usage_matrix(s), "num") for s in sessions],
            "counts_by_occasion": [matrix_to_r(ch.counts_by_occasion(s), "int") for s in sessions],
            **to_r({**tables, "summary": ch.summary(), "settings": ch.settings}),
            "detector": ch.detector_type, "n_records": len(ch.records), "schema": table_schema(ch)}


def capture_history_from_r(parts: dict):
    """The :class:`~lynxid.capture.CaptureHistory` again from what R's object keeps: its
    tables (pandas frames from R), ``usage`` (session -> frame, detectors in the first
    column) and the ``schema`` that restores their types
    (:func:`lynxid.capture_tables.from_tables`)."""
    from .capture_tables import from_tables
    p = dict(parts)
    return from_tables(p.pop("detections"), p.pop("usage"), p.pop("traps"), p.pop("occasions"), p.pop("individuals"),
                       p.pop("records"), p.pop("issues"), deployments=p.pop("deployments", None),
                       media=p.pop("media", None), schema=p.pop("schema"))


def identification_to_r(res) -> dict:
    """What R's ``identify()`` and ``read_results()`` keep of an
    :class:`~lynxid.results.IdentifyResult`, in one crossing: the detections (without the
    JSON ``candidates`` column), the candidates as a long table
    (:func:`lynxid.results.candidate_table`), the issues, the summary, and ``posterior`` and
    ``unit_pairs`` (what identities are drawn from; None for results of an earlier lynxid),
    so that R's ``fit_density(res, stations, imputations = K)`` rebuilds the result from the R
    object alone (``IdentifyResult(detections, issues, summary, posterior=, unit_pairs=)``)."""
    det = res.detections
    return to_r({"detections": det.drop(columns=["candidates"], errors="ignore"), "candidates": res.candidates,
                 "issues": res.issues, "summary": res.summary, "posterior": res.posterior,
                 "unit_pairs": res.unit_pairs})


def density_imputed_to_r(fit) -> dict:
    """What R's ``fit_density(res, stations, imputations = K)`` keeps of a
    :class:`~lynxid.density_imputation.ImputedDensity`, in one crossing: the combined
    ``estimates``, the hard-call fit as a table (``hard``: session, estimate, SE, lcl, ucl),
    the ``draws``, the ``review`` order (``review_priority.PRIORITY_COLUMNS``), the animals
    detected per draw, the settings and the printed ``summary``."""
    from .review_priority import PRIORITY_COLUMNS
    hard = pd.DataFrame([{"session": str(s), **v} for s, v in fit.hard.items() if v],
                        columns=["session", "estimate", "SE", "lcl", "ucl"])
    review = fit.review if fit.review is not None else pd.DataFrame(columns=PRIORITY_COLUMNS)
    return to_r({"estimates": fit.estimates, "hard": hard, "draws": fit.draws, "review": review,
                 "animals_detected": fit.animals_detected(), "settings": fit.settings, "summary": fit.summary()})


def density_fit_to_r(fit) -> dict:
    """What R's ``fit_density()`` keeps of a :class:`~lynxid.density_result.DensityFit`, in one
    crossing: the estimates and link-scale coefficients, their covariance, the fit's figures,
    and per session the mask (with its spacing and buffer) and the detectors with their total
    usage (what p.(x) needs)."""
    masks, traps = [], []
    for s in fit.sessions:
        m = s["mask"]
        masks.append(pd.DataFrame({"session": s["name"], "x": m.x, "y": m.y}))
        xy, U = np.asarray(s["traps"], float), np.asarray(s["usage"], float).reshape(len(s["traps"]), -1)
        traps.append(pd.DataFrame({"session": s["name"], "x": xy[:, 0], "y": xy[:, 1], "usage": U.sum(axis=1)}))
    conv = fit.convergence
    return to_r({"estimates": fit.predict(), "coefficients": fit.coef().reset_index(names="parameter"),
                 "vcov": np.asarray(fit.vcov, float), "names": list(fit.names), "det_names": list(fit.det_names),
                 "detectfn": fit.detectfn, "detector": fit.detector, "D_per_session": bool(fit.D_per_session),
                 "logLik": float(fit.logLik), "AIC": float(fit.AIC), "AICc": float(fit.AICc), "npar": int(fit.npar),
                 "n": int(fit.n), "seconds": float(fit.seconds), "sessions": [s["name"] for s in fit.sessions],
                 "convergence": {"converged": bool(conv["converged"]), "message": str(conv.get("message", "")),
                                 "problems": [str(p) for p in conv.get("problems", [])]},
                 "buffer_check": pd.DataFrame(fit.buffer_check, columns=["session", "buffer", "relative_bias",
                                                                          "suggested_buffer"]),
                 "mask": pd.concat(masks, ignore_index=True), "traps": pd.concat(traps, ignore_index=True),
                 "mask_spacing": [float(s["mask"].spacing) for s in fit.sessions],
                 "mask_buffer": [s["mask"].buffer for s in fit.sessions]})


def scr_data_to_r(data) -> dict:
    """An :class:`~lynxid.scr_data.SCRData` as the tables secr's ``make.capthist`` is built
    from (R's ``fit_density(engine = "secr")``): per session the detectors (``detector, x,
    y``), the usage matrix and the captures (``ID, Occasion, Detector, count``), so that secr
    fits exactly the data lynxid fits."""
    sessions = []
    for s in data.sessions:
        u = pd.DataFrame(s.usage, index=s.trap_ids, columns=[str(k + 1) for k in range(s.usage.shape[1])])
        sessions.append({"name": s.name, "usage": matrix_to_r(u, "num"), **to_r({
            "traps": pd.DataFrame({"detector": s.trap_ids, "x": s.xy[:, 0], "y": s.xy[:, 1]}),
            "captures": pd.DataFrame({"ID": np.asarray(s.animals, dtype=object)[s.animal].astype(str),
                                      "Occasion": s.occasion + 1,
                                      "Detector": np.asarray(s.trap_ids, dtype=object)[s.trap].astype(str),
                                      "count": s.count})})})
    return {"detector": data.detector, "sessions": sessions}


def call_recording_warnings(fn, *args, **kwargs) -> dict:
    """``fn(*args, **kwargs)`` with the Python warnings it gives recorded, for R to raise as R
    warnings (reticulate shows Python warnings, if at all, as text on the console)."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = fn(*args, **kwargs)
    return {"value": value, "warnings": [str(w.message) for w in caught]}


def from_r_columns(cols: dict) -> pd.DataFrame:
    """The inverse for R data frames: ``{name: [values, na_mask]}`` -> DataFrame with NA."""
    data = {}
    for name, (values, na) in cols.items():
        if isinstance(values, list) and values and isinstance(values[0], str):
            v = pd.Series(values)                # text: the same Series, without a fixed-width copy first
        else:
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


# --------------------------------------------------------------------------------------
# native libraries inside R
# --------------------------------------------------------------------------------------
# Packages whose shared libraries carry their own BLAS and call it through exported names
# (sgemm_, dgemm_, ...): PyTorch (MKL inside libtorch_cpu), faiss and OpenCV (OpenBLAS).
ISOLATED_LIBRARIES = ("torch", "faiss", "cv2")


class _DeepBindFinder:
    """Imports the named top-level packages with ``RTLD_DEEPBIND`` added to the dlopen flags,
    so that their shared libraries resolve symbols among themselves before the process's
    global ones. Every other import is left to the usual finders."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.names:
            return None
        import importlib.machinery
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None                  # not found on sys.path: the other finders decide
        loader = spec.loader             # a fresh loader for this module: patched for it alone
        for name in ("create_module", "exec_module"):
            method = getattr(loader, name, None)
            if method is not None:
                setattr(loader, name, _with_deepbind(method))
        return spec


def _with_deepbind(method):
    def call(*args, **kwargs):
        flags = sys.getdlopenflags()
        sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
        try:
            return method(*args, **kwargs)
        finally:
            sys.setdlopenflags(flags)
    return call


def isolate_native_libraries(names=ISOLATED_LIBRARIES) -> list:
    """Load ``names`` (default: torch, faiss, cv2) so that their own BLAS serves their calls.

    In a process started by R, R's BLAS (libblas.so.3, on Debian/Ubuntu the reference
    implementation) is loaded first and its global symbols win: libtorch_cpu's calls to
    ``sgemm_`` land there instead of in its own MKL, and PyTorch's matrix products run about
    ten times slower than under ``python`` (faiss's and OpenCV's OpenBLAS likewise). Importing
    these packages with ``RTLD_DEEPBIND`` makes their libraries look up symbols in their own
    dependencies first. Call it before they are imported (the R package does so when it first
    loads lynxid); a package imported earlier keeps its binding and is returned, so the caller
    can say so. A no-op where the platform has no ``RTLD_DEEPBIND`` (macOS, Windows, musl),
    whose linkers do not let one library's symbols replace another's this way."""
    if not hasattr(os, "RTLD_DEEPBIND") or not hasattr(sys, "setdlopenflags"):
        return []
    already = [n for n in names if n in sys.modules]
    todo = [n for n in names if n not in sys.modules]
    if todo and not any(isinstance(f, _DeepBindFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _DeepBindFinder(todo))
    return already
