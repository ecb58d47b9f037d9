"""Camera operation (trapping effort): which station worked when, exactly.

The core is interval arithmetic on the station table, all in integer nanoseconds of local
wall-clock time, fully vectorised:

1. each deployment (a camera at a station) works from setup to retrieval, minus the union of
   its malfunction periods (overlapping problems count once);
2. several cameras at a station combine as camtrapR's ``allCamsOn`` /
   ``camerasIndependent`` say -- but computed exactly on the time line: "at least one camera
   works" is the *union* of the cameras' working time, "all cameras work" the
   *intersection*, and independent cameras add up;
3. the working time is cut into bins (days, or occasions) by exact overlap, so a camera set
   up at 09:30 contributes 0.6042 of that day, one set up on a date (taken as noon) 0.5.

:func:`camera_operation` returns camtrapR's ``cameraOperation`` matrix: station x day, the
days of effort per cell (fractions on partial days), 0 while broken, NaN while not deployed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .camtrapr import check_semantics, day_grid
from .intervals import sweep_intervals
from .stations import StationTable, read_stations
from .times import DAY_NS, HOUR_NS

__all__ = ["camera_operation", "operating_intervals", "working_periods", "bin_effort", "day_floor",
           "Units"]


# --------------------------------------------------------------------------------------
# interval algebra
# --------------------------------------------------------------------------------------
def bin_effort(unit: np.ndarray, start: np.ndarray, end: np.ndarray, weight: np.ndarray,
               origin: np.ndarray, width: int, n_bins: int, n_units: int) -> np.ndarray:
    """Days of effort per unit x bin: the exact overlap of intervals with the bins.

    Bin ``k`` of unit ``u`` is ``[origin[u] + k*width, origin[u] + (k+1)*width)`` (ns).
    Intervals outside ``0 .. n_bins-1`` are cut off. Returns ``(n_units, n_bins)`` float64.
    """
    out_len = n_units * n_bins
    if len(unit) == 0 or n_bins <= 0:
        return np.zeros((n_units, max(n_bins, 0)))
    o = origin[unit]
    k0 = np.maximum((start - o) // width, 0)
    k1 = np.minimum((end - 1 - o) // width, n_bins - 1)
    keep = k1 >= k0
    unit, start, end, weight, o, k0, k1 = (a[keep] for a in (unit, start, end, weight, o, k0, k1))
    n = (k1 - k0 + 1).astype(np.int64)
    total = int(n.sum())
    rep = np.repeat(np.arange(len(n)), n)
    first = np.cumsum(n) - n
    k = k0[rep] + (np.arange(total) - first[rep])
    lo = o[rep] + k * width
    ov = np.minimum(end[rep], lo + width) - np.maximum(start[rep], lo)
    flat = unit[rep] * n_bins + k
    eff = np.bincount(flat, weights=ov.astype(np.float64) * weight[rep], minlength=out_len)
    return (eff / DAY_NS).reshape(n_units, n_bins)


class Units:
    """The effort units (stations, or cameras) with their working and deployed intervals.

    ``table`` has one row per unit: ``unit`` (0..n-1), ``session``, ``station``, ``camera``,
    ``x``, ``y``, ``n_cameras``, ``setup``, ``retrieval`` (ns), ``label`` (camtrapR's row
    name: ``Station``, ``Station__SESS_s``, ``Station__CAM_c``, ``Station__SESS_s__CAM_c``).
    ``work`` = (unit, start, end, weight) intervals of effort; ``deployed`` = (unit, start,
    end) intervals when at least one camera was out (NaN elsewhere in camera operation).
    ``dep_unit`` gives the unit of each deployment (row of ``stations.deployments``) and
    ``combined`` says whether several cameras were merged into one station unit.
    """

    def __init__(self, table, work, deployed, dep_unit, combined=False):
        self.table = table
        self.work = work
        self.deployed = deployed
        self.dep_unit = dep_unit
        self.combined = combined

    def __len__(self):
        return len(self.table)


def operating_intervals(stations: StationTable, by_camera: bool = False, all_cams_on: bool = False,
                        cameras_independent: bool = False) -> Units:
    """Working time of every station (or camera) as exact intervals (see module docstring).

    ``by_camera``, ``all_cams_on`` and ``cameras_independent`` are camtrapR's ``byCamera``,
    ``allCamsOn`` and ``camerasIndependent``. With one camera per station they do nothing.
    """
    dep = stations.deployments.reset_index(drop=True)
    setup = dep.setup.to_numpy("datetime64[ns]").view("i8")
    retr = dep.retrieval.to_numpy("datetime64[ns]").view("i8")
    nd = len(dep)
    # 1) per deployment: [setup, retrieval) minus the union of its problems
    pr = stations.problems
    row_to_dep = pd.Series(np.arange(nd), index=dep.row.to_numpy())
    pd_idx = row_to_dep.loc[pr.row.to_numpy()].to_numpy() if len(pr) else np.array([], dtype=np.int64)
    grp = np.concatenate([np.arange(nd), pd_idx]).astype(np.int64)
    st = np.concatenate([setup, pr.start.to_numpy("datetime64[ns]").view("i8")]) if len(pr) else setup
    en = np.concatenate([retr, pr.end.to_numpy("datetime64[ns]").view("i8")]) if len(pr) else retr
    ch = np.concatenate([np.zeros(nd, dtype=np.int64), np.ones(len(pd_idx), dtype=np.int64)])
    dg, ds, de = sweep_intervals(grp, st, en, ch, 2, lambda c, g: (c[:, 0] > 0) & (c[:, 1] == 0))

    if by_camera or not stations.has_cameras:
        table = dep[["session", "station", "camera", "x", "y"]].copy()
        table["n_cameras"] = 1
        table["setup"], table["retrieval"] = setup, retr
        labels = table.station.astype(str)
        if stations.has_sessions:
            labels = labels + "__SESS_" + table.session.astype(str)
        if stations.has_cameras:
            labels = labels + "__CAM_" + table.camera.astype(str)
        table["label"] = labels.to_numpy()
        table.insert(0, "unit", np.arange(nd))
        work = (dg, ds, de, np.ones(len(dg)))
        deployed = (np.arange(nd, dtype=np.int64), setup, retr)
        return Units(table.reset_index(drop=True), work, deployed, np.arange(nd, dtype=np.int64))

    # 2) cameras -> stations
    key = dep.session.astype(str) + "\x1f" + dep.station.astype(str)
    codes, uniq = pd.factorize(key, sort=False)
    nu = len(uniq)
    table = pd.DataFrame({"unit": np.arange(nu)})
    fi = pd.Series(np.arange(nd)).groupby(codes).first().to_numpy()
    table["session"] = dep.session.to_numpy()[fi]
    table["station"] = dep.station.to_numpy()[fi]
    table["camera"] = None
    table["x"] = dep.x.to_numpy()[fi]
    table["y"] = dep.y.to_numpy()[fi]
    ncam = np.bincount(codes, minlength=nu)
    table["n_cameras"] = ncam
    table["setup"] = pd.Series(setup).groupby(codes).min().to_numpy()
    table["retrieval"] = pd.Series(retr).groupby(codes).max().to_numpy()
    labels = table.station.astype(str)
    if stations.has_sessions:
        labels = labels + "__SESS_" + table.session.astype(str)
    table["label"] = labels.to_numpy()
    ug = codes[dg]
    if all_cams_on:
        wg, ws, we = sweep_intervals(ug, ds, de, np.zeros(len(ug), dtype=np.int64), 1,
                            lambda c, g: c[:, 0] >= ncam[g])
        w = ncam[wg].astype(float) if cameras_independent else np.ones(len(wg))
    elif cameras_independent:
        o = np.lexsort((ds, ug))
        wg, ws, we, w = ug[o], ds[o], de[o], np.ones(len(ug))
    else:
        wg, ws, we = sweep_intervals(ug, ds, de, np.zeros(len(ug), dtype=np.int64), 1, lambda c, g: c[:, 0] >= 1)
        w = np.ones(len(wg))
    pg, ps, pe = sweep_intervals(codes.astype(np.int64), setup, retr, np.zeros(nd, dtype=np.int64), 1,
                        lambda c, g: c[:, 0] >= 1)
    return Units(table, (wg, ws, we, w), (pg, ps, pe), codes.astype(np.int64), combined=True)


def working_periods(stations: StationTable) -> pd.DataFrame:
    """Every camera's working periods: its deployment (a row of the station table) from setup
    to retrieval, cut at its malfunctions -- what Camtrap DP calls deployments.

    One row per period: ``deployment`` (0-based row of ``stations.deployments``), ``station``,
    ``camera`` (None without a camera column), ``session`` (None without a session column),
    ``x``, ``y``, the deployment's ``setup`` and ``retrieval``, the period's ``start`` and
    ``end`` (``datetime64[ns]``, half-open) and the station covariates. A deployment broken
    from setup to retrieval keeps one row, with ``start`` and ``end`` NaT.
    """
    dep = stations.deployments.reset_index(drop=True)
    unit, start, end, _ = operating_intervals(stations, by_camera=True).work
    idle = np.setdiff1d(np.arange(len(dep)), unit)
    nat = np.full(len(idle), np.iinfo(np.int64).min, dtype=np.int64)
    unit = np.concatenate([unit, idle]).astype(np.int64)
    cols = ["station", "camera", "session", "x", "y", "setup", "retrieval"] + list(stations.covariates)
    out = dep[cols].iloc[unit].reset_index(drop=True)
    out.insert(0, "deployment", unit)
    if not stations.has_sessions:
        out["session"] = None
    out.insert(8, "start", np.concatenate([start, nat]).view("datetime64[ns]"))
    out.insert(9, "end", np.concatenate([end, nat]).view("datetime64[ns]"))
    return out


def day_floor(t_ns: np.ndarray, start_ns: int) -> np.ndarray:
    """Start of the day-bin (days beginning at ``start_ns`` after midnight) containing t."""
    return ((t_ns - start_ns) // DAY_NS) * DAY_NS + start_ns


def camera_operation(stations, *, by_camera: bool = False, all_cams_on: bool = False,
                     cameras_independent: bool = False, occasion_start_time: float = 0,
                     resolution_hours: float = 24, unit: str = "days", semantics: str = "camtrapR",
                     **read_kwargs) -> pd.DataFrame:
    """camtrapR's ``cameraOperation`` matrix: effort per station (row) and day (column).

    Parameters
    ----------
    stations : a :class:`~lynxid.stations.StationTable`, a DataFrame or a path (CSV/Parquet);
        ``read_kwargs`` (``station_col=``, ``date_format=``, ``camera_col=``, ...) go to
        :func:`~lynxid.stations.read_stations`.
    by_camera, all_cams_on, cameras_independent : camtrapR's ``byCamera``, ``allCamsOn``,
        ``camerasIndependent`` (only matter with ``camera_col``).
    occasion_start_time : hour of day at which the days begin (camtrapR ``occasionStartTime``);
        column names then read ``"2009-04-02+12h"`` as in camtrapR.
    resolution_hours : bin width, 24 for days (camtrapR's only choice); e.g. 1 for hourly bins.
    unit : ``"days"`` -- values are days of effort (a full day = 1, a full hour = 1/24);
        ``"fraction"`` -- values are the fraction of the bin (a full hour = 1).
    semantics : ``"camtrapR"`` (default): camtrapR's day values, rounded to 4 decimals, its
        rules for several cameras (two cameras set up the same day: 1, not 0.5) and its
        columns from the first setup date (:mod:`lynxid.camtrapr`); ``"exact"``: the exact
        working time per bin (any ``resolution_hours``).

    Returns
    -------
    DataFrame indexed by camtrapR's row names (``Station``, ``Station__SESS_s``,
    ``Station__CAM_c``) with one column per bin: the effort (fractional on setup and
    retrieval days: 0.5 when only the date is known, exact when the time is), 0 while the
    camera(s) were broken, NaN while none was deployed. ``df.attrs`` holds the settings.
    """
    st = read_stations(stations, **read_kwargs)
    if not 0 <= occasion_start_time < 24:
        raise ValueError("occasion_start_time must be an hour of day, 0 <= h < 24 (camtrapR occasionStartTime)")
    if resolution_hours <= 0 or 24 % resolution_hours and resolution_hours < 24:
        raise ValueError("resolution_hours must divide a day (e.g. 24, 12, 6, 1, 0.5)")
    if unit not in ("days", "fraction"):
        raise ValueError("unit must be 'days' or 'fraction'")
    units = operating_intervals(st, by_camera=by_camera, all_cams_on=all_cams_on,
                                cameras_independent=cameras_independent)
    settings = dict(occasion_start_time=occasion_start_time, resolution_hours=resolution_hours, unit=unit,
                    by_camera=by_camera, all_cams_on=all_cams_on, cameras_independent=cameras_independent,
                    semantics=check_semantics(semantics))
    if semantics == "camtrapR":
        if resolution_hours != 24:
            raise ValueError("camtrapR's camera operation has days only: resolution_hours=24, or semantics='exact'")
        grid = day_grid(st, units.dep_unit, len(units), units.combined, occasion_start_time=occasion_start_time,
                        all_cams_on=all_cams_on, cameras_independent=cameras_independent)
        names = grid.dates().strftime("%Y-%m-%d")
        if occasion_start_time:
            names = [f"{d}+{occasion_start_time:g}h" for d in names]
        out = pd.DataFrame(grid.values, index=pd.Index(units.table.label.to_numpy(), name="station"),
                           columns=list(names))
        out.attrs.update(settings, first_bin=str(grid.dates()[0] + pd.Timedelta(grid.h_ns, "ns")))
        return out
    h_ns = int(round(occasion_start_time * HOUR_NS))
    width = int(round(resolution_hours * HOUR_NS))
    t0 = int(day_floor(np.array([units.table.setup.min()]), h_ns)[0])
    last = int(units.table.retrieval.max()) - 1
    n_bins = int((last - t0) // width) + 1
    n = len(units)
    origin = np.full(n, t0, dtype=np.int64)
    wg, ws, we, w = units.work
    eff = bin_effort(wg, ws, we, w, origin, width, n_bins, n)
    pg, ps, pe = units.deployed
    dep = bin_effort(pg, ps, pe, np.ones(len(pg)), origin, width, n_bins, n)
    eff[dep <= 0] = np.nan
    if unit == "fraction":
        eff = eff * (24.0 / resolution_hours)
    starts = pd.to_datetime(t0 + np.arange(n_bins, dtype=np.int64) * width)
    if resolution_hours == 24:
        names = starts.strftime("%Y-%m-%d")
        if occasion_start_time:
            hh = f"{occasion_start_time:g}"
            names = [f"{(s - pd.Timedelta(hours=occasion_start_time)).strftime('%Y-%m-%d')}+{hh}h" for s in starts]
    else:
        names = starts.strftime("%Y-%m-%d %H:%M")
    out = pd.DataFrame(eff, index=pd.Index(units.table.label.to_numpy(), name="station"), columns=list(names))
    out.attrs.update(settings, first_bin=str(starts[0]) if n_bins else None)
    return out
