"""A :class:`~lynxid.capture.CaptureHistory` as plain tables, and back.

:func:`capture_tables` gives everything a capture history holds -- its tables (detections,
usage, traps, occasions, individuals, records, issues, deployments, media), the detector type
and the settings -- and :func:`from_tables` builds the capture history again from them, so
that it writes the same files (:func:`lynxid.export.write_formats`) as the original.

The R package keeps these tables in its ``lynxid_capture_history`` object, which therefore
works without a live Python object (after ``saveRDS``/``readRDS`` or a restart of R). Tables
that went through R come back with R's types (integers as doubles, date-times as text,
categoricals as text); :func:`table_schema` records the exact pandas types (with the order of
categories, and the settings as JSON), and ``from_tables(..., schema=)`` restores them.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from .capture import CaptureHistory

__all__ = ["capture_tables", "table_schema", "from_tables", "TABLES"]

# the capture history's tables (usage, a dict of session -> detector x occasion frame, apart)
TABLES = ("detections", "traps", "occasions", "individuals", "records", "issues", "deployments", "media")


def capture_tables(ch: CaptureHistory) -> dict:
    """The capture history's tables, ``usage`` (session -> frame), ``detector_type`` and
    ``settings``: ``from_tables(**capture_tables(ch))`` is an equal capture history."""
    out = {name: getattr(ch, name) for name in TABLES}
    out.update(usage=dict(ch.usage), detector_type=ch.detector_type, settings=ch.settings)
    return out


def _column_spec(col: pd.Series) -> dict:
    dt = col.dtype
    if isinstance(dt, pd.CategoricalDtype):
        cats = dt.categories
        return {"dtype": "category", "categories": [v.item() if isinstance(v, np.generic) else v for v in cats],
                "categories_dtype": str(cats.dtype), "ordered": bool(dt.ordered)}
    if dt == object:                     # which missing value: None, pd.NA or NaN
        miss = col[col.isna()]
        na = "none" if not len(miss) or miss.iat[0] is None else "pd.NA" if miss.iat[0] is pd.NA else "nan"
        # text and whole numbers mixed (the issues' row: a number, or "-"): numbers come back as numbers
        present = col[col.notna()]
        ints = any(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in present)
        return {"dtype": "object", "na": na, "ints": ints}
    return {"dtype": str(dt)}


_MISSING = {"none": None, "pd.NA": pd.NA, "nan": np.nan}
_INT = re.compile(r"-?[0-9]+")


def table_schema(ch: CaptureHistory) -> str:
    """What :func:`from_tables` needs to restore tables that lost their pandas types on the
    way through R, as JSON text: per table its rows and each column's dtype (categories in
    their order), the usage frames' index name, the detector type and the settings."""
    tables = {}
    for name in TABLES:
        df = getattr(ch, name)
        if df is None:
            continue
        tables[name] = {"nrow": int(len(df)), "columns": [[str(c), _column_spec(df[c])] for c in df.columns]}
    first = next(iter(ch.usage.values()), None)
    return json.dumps({"version": 1, "tables": tables, "detector_type": ch.detector_type,
                       "usage_index": None if first is None else first.index.name,
                       "sessions": [str(s) for s in ch.usage],
                       "settings": json.dumps(ch.settings, default=str)})


def _as_list(v) -> list:
    """A list that crossed from R (where one element became a scalar and none ``None``)."""
    if v is None:
        return []
    if isinstance(v, (list, tuple, np.ndarray, pd.Index, pd.Series)):
        return list(v)
    return [v]


def _restore(col: pd.Series, spec: dict) -> pd.Series:
    dtype = spec["dtype"]
    if dtype == "category":
        cats = pd.Index(spec["categories"] or [], dtype=spec["categories_dtype"])
        values = col.astype(object).where(col.notna(), None)
        if cats.dtype.kind in "iufb":
            values = pd.to_numeric(values).astype(cats.dtype) if values.notna().all() else pd.to_numeric(values)
        return pd.Series(pd.Categorical(values, categories=cats, ordered=spec.get("ordered", False)), index=col.index)
    if dtype.startswith("datetime64"):
        if ", " in dtype:                                   # zone-aware: the instants, in their zone
            tz = dtype[dtype.index(", ") + 2:-1]
            t = col if pd.api.types.is_datetime64_any_dtype(col) else pd.to_datetime(col, utc=True, format="ISO8601")
            return t.dt.tz_convert(tz).astype(dtype)
        if not pd.api.types.is_datetime64_any_dtype(col):   # local wall clock: the text's first 19 characters
            col = pd.to_datetime(col.astype(object).map(lambda v: None if pd.isna(v) else str(v)[:19]),
                                 format="ISO8601")
        return col.astype(dtype)
    if dtype in ("int64", "int32", "Int64", "float64", "boolean"):
        return col.astype(dtype)
    if dtype == "bool":
        return col.astype(bool)
    if dtype == "str":
        return col.astype("str")
    out = col.astype(object)                                  # object columns, with their missing value
    if spec.get("ints"):
        out = out.map(lambda v: int(v) if isinstance(v, str) and _INT.fullmatch(v)
                      else int(v) if isinstance(v, float) and v.is_integer() else v).astype(object)
    out[out.isna()] = _MISSING[spec.get("na", "none")]
    return out


def _restore_table(df: pd.DataFrame | None, spec: dict | None) -> pd.DataFrame | None:
    if spec is None:
        return df
    if df is None or df.shape[1] == 0:
        df = pd.DataFrame(index=pd.RangeIndex(spec["nrow"]))
    out = pd.DataFrame(index=pd.RangeIndex(spec["nrow"]))
    for name, cspec in spec["columns"]:
        col = df[name].reset_index(drop=True) if name in df else pd.Series([None] * spec["nrow"], dtype=object)
        out[name] = _restore(col, cspec)
    return out


def _restore_usage(usage: dict, schema: dict) -> dict:
    """Usage frames: as they are, or from R (first column the detectors)."""
    out = {}
    for s in _as_list(schema["sessions"]):
        u = usage[s]
        if u.index.name is None and u.shape[1] and not pd.api.types.is_numeric_dtype(u.iloc[:, 0]):
            u = u.set_index(u.columns[0])
        out[s] = pd.DataFrame(u.to_numpy(dtype=float), index=pd.Index([str(v) for v in u.index], name=schema["usage_index"]),
                              columns=pd.Index([str(c) for c in u.columns]))
    return out


def from_tables(detections, usage, traps, occasions, individuals, records, issues, *, detector_type: str = None,
                settings: dict | None = None, deployments=None, media=None, schema: str | dict | None = None
                ) -> CaptureHistory:
    """A :class:`~lynxid.capture.CaptureHistory` from its tables (see :func:`capture_tables`).

    With ``schema`` (:func:`table_schema` of the original), the tables may have lost their
    pandas types (through R: integers as doubles, date-times as text, categoricals as text):
    they are restored, and ``detector_type`` and ``settings`` come from the schema."""
    frames = dict(detections=detections, traps=traps, occasions=occasions, individuals=individuals,
                  records=records, issues=issues, deployments=deployments, media=media)
    if schema is not None:
        sch = json.loads(schema) if isinstance(schema, str) else schema
        frames = {k: _restore_table(v, sch["tables"].get(k)) for k, v in frames.items()}
        usage = _restore_usage(usage, sch)
        detector_type = sch["detector_type"]
        settings = json.loads(sch["settings"])
    if detector_type not in ("proximity", "count"):
        raise ValueError(f"detector_type must be 'proximity' or 'count', not {detector_type!r}")
    return CaptureHistory(usage=dict(usage), detector_type=detector_type, settings=dict(settings or {}), **frames)
