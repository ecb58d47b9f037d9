"""camtrapR's rules, reproduced: the day grid of ``cameraOperation`` and the occasions of
``spatialDetectionHistory`` (camtrapR 3.0), quirks included.

Why a second set of rules beside :mod:`lynxid.effort`'s exact interval arithmetic: users check
lynxid's capture histories against camtrapR's cell for cell, and every usage value enters the
secr likelihood. camtrapR works on a matrix of calendar days, and its answer differs from the
exact one in ways that are documented choices of camtrapR, so they are the default
(``semantics="camtrapR"``); ``semantics="exact"`` keeps lynxid's exact answer:

1. A camera's effort on a day is the overlap of the closed intervals [setup, retrieval - 1 s]
   and [day + h, day + h + 1 d - 1 s] in days, rounded to 4 decimals (``h`` =
   occasionStartTime). A date without time is 12:00, and with h = 12 a retrieval date gets
   1 s more, so its day reads 0 instead of NA. The day columns start on the first setup
   *date*, so with h > 12 the part of the first setup day before h is lost.
2. Several cameras at a station (``camerasIndependent = FALSE``, dates only): the station's day
   is 1 when the cameras' values add up to 1 or more, so two cameras set up the same day give
   1.0 (exact: 0.5); with date-times it is the cameras' mean. ``allCamsOn``: 1 only on days
   every camera has 1, so setup and retrieval days are 0. Independent cameras add up.
3. A record belongs to occasion ``ceiling((t - start) / length)``: occasions are (start, end],
   so a record at exactly 00:00:00 belongs to the day before (exact: [start, end)).
4. Records before 00:00 (+ h, + buffer) of their station's first day in the matrix, or after
   23:59:59 of its last day (or after ``maxNumberDays``), are left out; between those, a record
   in an occasion without effort at its station is left out.
5. ``day1 = "survey"`` lays one grid from the first setup day of the whole survey, sessions
   included (exact: each session's grid starts on its own first setup day); each session then
   keeps the occasions in which one of its stations has effort.
6. In a multi-session survey a record belongs to the session in which its station's camera
   operation has a value on the record's date.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .intervals import sweep_intervals
from .stations import StationTable
from .times import DAY_NS, HOUR_NS

__all__ = ["SEMANTICS", "check_semantics", "DayGrid", "day_grid", "OccasionPlan", "occasion_plan",
           "operating_on", "record_occasions"]

SEMANTICS = ("camtrapR", "exact")
SEC_NS = 1_000_000_000


def check_semantics(semantics: str) -> str:
    if semantics not in SEMANTICS:
        raise ValueError(f"semantics must be 'camtrapR' (camtrapR's rules, the default) or 'exact' "
                         f"(lynxid's exact time line), not {semantics!r}")
    return semantics


def whole(value, what: str, camtrapr_name: str) -> int:
    """camtrapR counts occasions in whole days and starts them on whole hours."""
    if float(value) != int(round(float(value))):
        raise ValueError(f"{what}={value}: camtrapR's {camtrapr_name} is a whole number; use a whole number "
                         "or semantics='exact' (lynxid's exact time line allows fractions)")
    return int(round(float(value)))


def effort_as_fraction(stations: StationTable) -> bool:
    """camtrapR's ``effortAsFraction``: the station table gives times of day, not dates only."""
    d = stations.deployments
    return not (bool(d.setup_date_only.all()) and bool(d.retrieval_date_only.all()))


# --------------------------------------------------------------------------------------
# the day grid (cameraOperation)
# --------------------------------------------------------------------------------------
@dataclass
class DayGrid:
    """camtrapR's camera operation matrix: ``values`` (units x days; NaN = not deployed) whose
    column ``j`` is the day ``day0 + j`` (local midnight, ns), running from ``+ h_ns``."""

    values: np.ndarray
    day0: int
    h_ns: int

    def dates(self) -> pd.DatetimeIndex:
        return pd.to_datetime(self.day0 + np.arange(self.values.shape[1], dtype=np.int64) * DAY_NS)


def _day_cells(start, end_closed, day0, h_ns, n_days):
    """(index, column, overlap ns) of closed intervals with the closed days [d+h, d+h+1d-1s];
    touching intervals overlap by 0 (lubridate's int_overlaps), disjoint ones give no cell."""
    base = day0 + h_ns
    j0 = np.maximum((start - base) // DAY_NS, 0)
    j1 = np.minimum((end_closed - base) // DAY_NS, n_days - 1)
    n = np.where(j1 >= j0, j1 - j0 + 1, 0).astype(np.int64)
    rep = np.repeat(np.arange(len(n)), n)
    col = j0[rep] + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    lo = base + col * DAY_NS
    ov = np.minimum(end_closed[rep], lo + DAY_NS - SEC_NS) - np.maximum(start[rep], lo)
    ok = ov >= 0
    return rep[ok], col[ok], ov[ok]


def _merged_problems(stations: StationTable, dep_index: pd.Series):
    """Malfunction periods per deployment, overlaps merged (camtrapR would subtract them twice)."""
    pr = stations.problems
    d = dep_index.loc[pr.row.to_numpy()].to_numpy()
    return sweep_intervals(d, pr.start.to_numpy("datetime64[ns]").view("i8"), pr.end.to_numpy("datetime64[ns]").view("i8"),
                           np.zeros(len(d), dtype=np.int64), 1, lambda c, g: c[:, 0] >= 1)


def day_grid(stations: StationTable, dep_unit: np.ndarray, n_units: int, combined: bool, *,
             occasion_start_time: int = 0, all_cams_on: bool = False,
             cameras_independent: bool = False) -> DayGrid:
    """camtrapR's ``cameraOperation`` values for the units of :func:`lynxid.effort.operating_intervals`
    (``dep_unit``: the unit of each deployment; ``combined``: cameras merged into stations)."""
    dep = stations.deployments.reset_index(drop=True)
    frac = effort_as_fraction(stations)
    h_ns = whole(occasion_start_time, "occasion_start_time", "occasionStartTime") * HOUR_NS
    setup = dep.setup.to_numpy("datetime64[ns]").view("i8")
    retr = dep.retrieval.to_numpy("datetime64[ns]").view("i8")
    day0 = int(setup.min() // DAY_NS * DAY_NS)
    n_days = int(retr.max() // DAY_NS * DAY_NS - day0) // DAY_NS + 1
    end = retr + (SEC_NS if (not frac and h_ns == 12 * HOUR_NS) else 0) - SEC_NS
    r, c, ov = _day_cells(setup, end, day0, h_ns, n_days)
    cam = np.full((len(dep), n_days), np.nan)
    cam[r, c] = ov
    pd_, ps, pe = _merged_problems(stations, pd.Series(np.arange(len(dep)), index=dep.row.to_numpy()))
    if len(pd_):
        # camtrapR's problem interval is [from, to - 1 s], a date-only "to" being the day's last second
        r, c, ov = _day_cells(ps, pe - (2 if not frac else 1) * SEC_NS, day0, h_ns, n_days)
        r = pd_[r]
        cut = np.bincount(r * n_days + c, weights=ov.astype(float), minlength=len(dep) * n_days)
        cam -= cut.reshape(len(dep), n_days)
    cam = round_like_r(np.maximum(cam, 0) / DAY_NS, 4)
    values = _combine_cameras(cam, dep_unit, n_units, frac, all_cams_on, cameras_independent) if combined else cam
    return DayGrid(values=values, day0=day0, h_ns=h_ns)


def round_like_r(x: np.ndarray, digits: int) -> np.ndarray:
    """R's ``round(x, digits)`` (R >= 4.0): the nearer of the two candidates as doubles, ties
    to even. numpy's round (x * 10^d, then rint) differs on some exact fractions of a day,
    e.g. 540 s = 0.00625 d: R 0.0063, numpy 0.0062."""
    p = 10.0 ** digits
    a = np.abs(x)
    lo = np.floor(a * p)
    hi = np.ceil(a * p)
    d_lo, d_hi = a - lo / p, hi / p - a
    up = (d_hi < d_lo) | ((d_hi == d_lo) & (lo % 2 == 1))
    return np.sign(x) * np.where(up, hi, lo) / p


def _combine_cameras(cam, dep_unit, n_units, frac, all_cams_on, independent):
    """camtrapR's ``aggregate`` of rounded camera values into station values (see module doc)."""
    order = np.argsort(dep_unit, kind="stable")
    x, u = cam[order], dep_unit[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    cnt = np.diff(np.r_[starts, len(u)]).astype(float)[:, None] * np.ones((1, cam.shape[1]))
    isn = np.isnan(x)
    nn = cnt - np.add.reduceat(isn, starts, axis=0)
    s = np.add.reduceat(np.where(isn, 0.0, x), starts, axis=0)
    ones = np.add.reduceat(x == 1, starts, axis=0)
    if not all_cams_on:
        v = s if independent else (s / np.maximum(nn, 1) if frac else np.minimum(s, 1.0))
        v[nn == 0] = np.nan
    elif frac:
        with np.errstate(invalid="ignore"):
            mn = np.fmin.reduceat(x, starts, axis=0)
        v = np.where(ones == cnt, cnt, mn * cnt) if independent else mn
        v[nn < cnt] = np.nan
    else:
        v = np.where(ones == cnt, cnt if independent else 1.0, 0.0)
        v[(nn < cnt) & (nn == ones)] = np.nan          # all(c(NA, 1) == 1) is NA in R
    out = np.full((n_units, cam.shape[1]), np.nan)
    out[u[starts]] = v
    return out


# --------------------------------------------------------------------------------------
# occasions (spatialDetectionHistory)
# --------------------------------------------------------------------------------------
def to_real(naive_ns: np.ndarray, tz) -> np.ndarray:
    """Local wall-clock ns as elapsed ns (UTC): camtrapR's difftime counts real seconds, so a
    daylight-saving change shifts occasion boundaries by an hour, as there."""
    a = np.asarray(naive_ns, dtype=np.int64)
    if tz is None or not isinstance(tz, str) or tz.upper() in ("UTC", "Z", "GMT") or tz[:1] in "+-":
        return a
    ok = a != np.iinfo(np.int64).max
    out = a.copy()
    idx = pd.DatetimeIndex(a[ok].view("datetime64[ns]"))
    loc = idx.tz_localize(tz, ambiguous=np.ones(len(idx), dtype=bool), nonexistent="shift_forward")
    out[ok] = loc.tz_convert("UTC").tz_localize(None).asi8
    return out


@dataclass
class OccasionPlan:
    """Per unit: ``start``/``end`` (real ns; records outside are left out), ``origin`` (real ns
    from which occasions count; ``origin_local`` the same as local time), ``usage`` (units x
    K days, 0 where camtrapR has NA) and ``K`` (occasions of the common grid)."""

    start: np.ndarray
    end: np.ndarray
    origin: np.ndarray
    origin_local: np.ndarray
    usage: np.ndarray
    K: int
    length_ns: int


def occasion_plan(grid: DayGrid, *, occasion_length: int, day1: str, buffer_days: int = 0,
                  max_days: float | None = None, tz=None) -> OccasionPlan:
    """camtrapR's ``createDateRangeTable``, ``adjustCameraOperationMatrix`` and
    ``calculateTrappingEffort``: the occasion grid and the usage of every unit."""
    v = grid.values
    n_units, n_days = v.shape
    L = whole(occasion_length, "occasion_length", "occasionLength")
    has = ~np.isnan(v)
    if not has.any(axis=1).all():
        raise ValueError("a station has no day of camera operation in camtrapR's day grid (a deployment shorter "
                         "than a day with occasion_start_time > 12?): use semantics='exact'")
    first = has.argmax(axis=1)
    last = n_days - 1 - has[:, ::-1].argmax(axis=1)
    day_of = grid.day0 + np.arange(n_days, dtype=np.int64) * DAY_NS
    cam_min, cam_max = day_of[first], day_of[last]
    B = int(buffer_days) * DAY_NS
    if day1 in ("survey", "station"):
        start_day = cam_min + B
    else:
        start_day = np.full(n_units, int(pd.Timestamp(str(day1)).normalize().value), dtype=np.int64)
    start = to_real(start_day, tz) + grid.h_ns
    end_local = cam_max + DAY_NS - SEC_NS
    if max_days is not None:
        cap_day = start_day if day1 in ("survey", "station") else np.full(n_units, cam_min.min() + B)
        end_local = np.minimum(end_local, cap_day + grid.h_ns + int(round(float(max_days))) * DAY_NS - SEC_NS)
    end = to_real(end_local, tz)
    end_day = end_local // DAY_NS * DAY_NS
    # adjustCameraOperationMatrix: NA before the first and after the last day of each unit
    # (its off-by-one leaves the matrix's final column when the last kept day is the one before)
    col_start = (start_day - grid.day0) // DAY_NS
    col_end = (end_day - grid.day0) // DAY_NS
    j = np.arange(n_days)[None, :]
    blank_end = (j > col_end[:, None]) & ~((col_end + 2 == n_days)[:, None] & (j == n_days - 1))
    adj = np.where((j < col_start[:, None]) | blank_end, np.nan, v)
    if day1 == "station":
        offset, origin_local = col_start, start_day + grid.h_ns
        origin = start
        width = int((col_end - col_start).max()) + 1
    else:
        c0 = int(col_start.min())
        offset = np.full(n_units, c0)
        origin_local = np.full(n_units, grid.day0 + c0 * DAY_NS + grid.h_ns)
        origin = np.full(n_units, start.min())
        width = int(col_end.max()) - c0 + 1
    K = -(-width // L)
    cols = offset[:, None] + np.arange(K * L)[None, :]
    inside = (cols >= 0) & (cols < n_days)
    aligned = np.where(inside, adj[np.arange(n_units)[:, None], np.clip(cols, 0, n_days - 1)], np.nan)
    per = aligned.reshape(n_units, K, L)
    usage = np.nansum(per, axis=2)                       # all-NA or all-0 occasions: NA -> 0
    return OccasionPlan(start=start, end=end, origin=origin, origin_local=origin_local, usage=usage, K=K,
                        length_ns=L * DAY_NS)


def operating_on(grid: DayGrid, unit: np.ndarray, t_local: np.ndarray) -> np.ndarray:
    """Does the unit's camera operation have a value on the record's date? camtrapR gives a
    record the session in which this holds (``assignSessionIDtoRecordTable``)."""
    col = (t_local // DAY_NS * DAY_NS - grid.day0) // DAY_NS
    n_days = grid.values.shape[1]
    ok = (col >= 0) & (col < n_days)
    return ok & ~np.isnan(grid.values[unit, np.clip(col, 0, n_days - 1)])


def record_occasions(plan: OccasionPlan, unit: np.ndarray, t_real: np.ndarray) -> dict:
    """Each record's occasion (0-based) and why it is left out: ``before`` its station's first
    occasion, ``after`` its last day (or max_days), ``beyond`` the grid, ``no_effort`` (camtrapR's
    effort 0/NA); ``at_origin`` marks records at the grid's first instant, which camtrapR's
    ceiling() puts in occasion 0 (spatialDetectionHistory stops there; lynxid uses occasion 1)."""
    before = t_real < plan.start[unit]
    after = ~before & (t_real > plan.end[unit])
    m = -((plan.origin[unit] - t_real) // plan.length_ns)          # ceiling
    at_origin = ~before & ~after & (m == 0)
    m = np.maximum(m, 1)
    beyond = ~before & ~after & (m > plan.K)
    k = np.clip(m - 1, 0, plan.K - 1)
    no_effort = ~before & ~after & ~beyond & (plan.usage[unit, k] <= 0)
    return dict(k=k, before=before, after=after, beyond=beyond, no_effort=no_effort, at_origin=at_origin)
