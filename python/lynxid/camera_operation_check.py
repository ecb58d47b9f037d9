"""A camera-operation matrix made elsewhere -- camtrapR's ``cameraOperation``, saved with
``saveRDS`` or written as CSV -- read, and checked cell for cell against the one lynxid
computes from the station table.

Why a check and not an input: lynxid's capture history takes its effort from the station
table (:mod:`lynxid.effort`, camtrapR's rules by default), so a camtrapR user who brings
``camop.rds`` (``lynxid capture-history ... --camera-operation camop.rds``) learns whether
both tools see the same effort -- the matrix is camtrapR's view of the same station table,
and a difference (a hand-edited matrix, other ``Problem`` columns, another
``occasionStartTime``) changes every usage value in the likelihood, so it stops with the
cells that differ instead of passing unnoticed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import storage

__all__ = ["read_camera_operation", "compare_camera_operation", "check_camera_operation"]

TOLERANCE = 1e-4           # camtrapR rounds day values to 4 decimals
_SHOW = 15


def read_camera_operation(source) -> pd.DataFrame:
    """A camera-operation matrix as :func:`lynxid.effort.camera_operation` returns it: one row
    per station (camtrapR's row names, ``Station__CAM_c`` / ``Station__SESS_s`` included), one
    column per day named as camtrapR names it (``2009-04-02``, ``2009-04-02+12h``), NaN where
    no camera was deployed. ``source``: ``.rds`` (R's ``saveRDS`` of the matrix; needs R and
    rpy2), CSV / Parquet with the station in the first column, or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        m, name = source, "camera operation"
    elif str(source).lower().endswith(".rds"):
        from .rbridge import read_rds
        m, name = read_rds(source), str(source)
        if not isinstance(m, pd.DataFrame):
            raise ValueError(f"{source}: expected camtrapR's camera operation matrix (stations x days, with row and "
                             f"column names), found {type(m).__name__}; save the result of cameraOperation() itself")
    else:
        name = str(source)
        m = storage.read_table(Path(source))
        m = m.set_index(m.columns[0])
    out = m.copy()
    out.index = pd.Index([str(i) for i in out.index], name="station")
    out.columns = [str(c) for c in out.columns]
    bad = [c for c in out.columns if not pd.api.types.is_numeric_dtype(out[c])]
    if bad:
        raise ValueError(f"{name}: camera operation values must be numbers (days of effort, NA while not deployed); "
                         f"column(s) {bad[:5]} are not")
    out = out.astype(float)
    out.attrs["source"] = name
    return out


def compare_camera_operation(given: pd.DataFrame, computed: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """The cells where two camera-operation matrices differ: ``station, day, given, lynxid``
    (a station or day missing from one side is listed with NaN there). Equal: no rows."""
    rows = [dict(station=s, day="(all)", given=np.nan if s not in given.index else float(np.nansum(given.loc[s])),
                 lynxid=np.nan if s not in computed.index else float(np.nansum(computed.loc[s])))
            for s in given.index.symmetric_difference(computed.index)]
    rows += [dict(station="(all)", day=d, given=np.nan if d not in given.columns else float(np.nansum(given[d])),
                  lynxid=np.nan if d not in computed.columns else float(np.nansum(computed[d])))
             for d in pd.Index(given.columns).symmetric_difference(pd.Index(computed.columns))]
    st = given.index.intersection(computed.index)
    days = pd.Index(given.columns).intersection(pd.Index(computed.columns))
    a = given.loc[st, days].to_numpy(float)
    b = computed.loc[st, days].to_numpy(float)
    differ = (np.isnan(a) != np.isnan(b)) | (np.abs(np.nan_to_num(a) - np.nan_to_num(b)) > tolerance)
    for i, j in zip(*np.nonzero(differ)):
        rows.append(dict(station=st[i], day=days[j], given=a[i, j], lynxid=b[i, j]))
    return pd.DataFrame(rows, columns=["station", "day", "given", "lynxid"])


def check_camera_operation(source, stations, **camera_operation_kwargs) -> pd.DataFrame:
    """Read ``source`` (:func:`read_camera_operation`) and compare it with lynxid's camera
    operation of ``stations`` (camtrapR's rules; ``by_camera`` read off the row names, the
    other settings as given). Returns the matrix read; a ValueError lists the cells that
    differ."""
    from .effort import camera_operation
    given = read_camera_operation(source)
    by_camera = bool(given.index.str.contains("__CAM_", regex=False).any())
    kw = dict(camera_operation_kwargs, by_camera=by_camera, semantics="camtrapR")
    computed = camera_operation(stations, **kw)
    diff = compare_camera_operation(given, computed)
    if len(diff):
        shown = "\n".join(f"  station {r.station}, day {r.day}: given {r.given:g}, lynxid {r.lynxid:g}"
                          for r in diff.head(_SHOW).itertuples())
        more = f"\n  ... and {len(diff) - _SHOW} more" if len(diff) > _SHOW else ""
        raise ValueError(f"{given.attrs['source']}: the camera operation differs from the one lynxid computes from the "
                         f"station table (camtrapR's rules) in {len(diff)} cell(s):\n{shown}{more}\nlynxid takes the effort "
                         "from the station table: make it say what the matrix says (setup/retrieval dates, Problem "
                         "columns, --occasion-start-time, --all-cams-on, --cameras-independent), or leave out "
                         "--camera-operation")
    return given
