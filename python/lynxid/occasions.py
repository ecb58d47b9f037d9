"""The occasion grid of a capture history: where each station's occasions start, how many
each session has, and the usage (days of effort) of every station in every occasion.

Two sets of rules (``semantics``). ``"camtrapR"`` lays camtrapR's grid on its day matrix
(:mod:`lynxid.camtrapr` holds those rules); ``"exact"`` lays lynxid's own on the exact time
line of :mod:`lynxid.effort`: each station's first occasion starts at ``occasion_start_time``
of its setup day (plus ``buffer_days``) or of ``day1``, each session's grid starts at its
first station's (``day1="survey"``), occasions are half-open ``[start, end)`` and the usage is
the exact working time in each. Records are placed on either grid by :meth:`OccasionGrid.locate`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .camtrapr import DayGrid, OccasionPlan, day_grid, occasion_plan, operating_on, record_occasions, to_real
from .effort import Units, bin_effort, day_floor
from .issues_log import IssuesLog
from .stations import StationTable
from .times import DAY_NS, HOUR_NS

__all__ = ["OccasionGrid", "occasion_grid", "check_day1"]

_INT64_MAX = np.iinfo(np.int64).max


@dataclass
class OccasionGrid:
    """The occasions of every unit (station, or station and session).

    ``origin`` (local ns) is where occasion 1 of each unit starts; ``n_occasions`` the
    occasions of each session (``sessions[unit_session[u]]`` is unit ``u``'s session);
    ``usage`` the days of effort, units x occasions (the longest session's), 0 beyond a
    session's own; ``length_ns`` one occasion. The rest is what :meth:`locate` needs:
    camtrapR's ``day_grid`` and ``plan``, or the exact ``window_start``/``window_end`` of
    each unit (records outside are left out).
    """

    units: Units
    sessions: list
    unit_session: np.ndarray
    origin: np.ndarray
    n_occasions: np.ndarray
    usage: np.ndarray
    length_ns: int
    start_ns: int
    day_grid: DayGrid | None = None
    plan: OccasionPlan | None = None
    window_start: np.ndarray | None = None
    window_end: np.ndarray | None = None

    @property
    def camtrapr(self) -> bool:
        return self.plan is not None

    @property
    def max_occasions(self) -> int:
        return self.usage.shape[1]

    def deployed_at(self, unit: np.ndarray, t_local: np.ndarray) -> np.ndarray:
        """Was the unit out at these times? A record of a station with several sessions goes
        to the session for which this holds: camtrapR's camera operation has a value on the
        record's date, or (exact) the deployment extended to whole days holds the time."""
        if self.camtrapr:
            return operating_on(self.day_grid, unit, t_local)
        ut = self.units.table
        first_day = day_floor(ut.setup.to_numpy(np.int64), self.start_ns)
        after_last_day = day_floor(ut.retrieval.to_numpy(np.int64) - 1, self.start_ns) + DAY_NS
        return (t_local >= first_day[unit]) & (t_local < after_last_day[unit])

    def locate(self, unit: np.ndarray, t_local: np.ndarray, tz) -> dict:
        """Each record's occasion ``k`` (0-based, before empty occasions are dropped) and why it
        is left out: ``before`` its station's first occasion, ``after`` its last day,
        ``beyond`` the last occasion, ``no_effort`` (an occasion without effort at the
        station); ``at_origin`` marks records at camtrapR's grid's first instant."""
        if self.camtrapr:
            return record_occasions(self.plan, unit, to_real(t_local, tz))
        retrieval = self.units.table.retrieval.to_numpy(np.int64)
        k = (t_local - self.origin[unit]) // self.length_ns
        end_of_last_day = day_floor(retrieval - 1, self.start_ns) + DAY_NS
        before = t_local < self.window_start[unit]
        after = ~before & ((t_local >= self.window_end[unit]) | (t_local >= end_of_last_day[unit]))
        beyond = ~before & ~after & (k >= self.n_occasions[self.unit_session[unit]])
        no_effort = ~before & ~after & ~beyond & (self.usage[unit, np.clip(k, 0, self.max_occasions - 1)] <= 0)
        return dict(k=k, before=before, after=after, beyond=beyond, no_effort=no_effort,
                    at_origin=np.zeros(len(k), dtype=bool))

    def kept_occasions(self, drop_empty: bool, log: IssuesLog) -> dict:
        """Per session, the occasions kept: all, or (``drop_empty``, as camtrapR) those with
        effort at some station, renumbered. A session without any effort is an error."""
        kept = {}
        for s, name in enumerate(self.sessions):
            us = np.flatnonzero(self.unit_session == s)
            K = int(self.n_occasions[s])
            col_sum = self.usage[us, :K].sum(axis=0) if us.size else np.zeros(K)
            kept[s] = np.flatnonzero(col_sum > 0) if drop_empty else np.arange(K)
            if drop_empty and len(kept[s]) < K:
                log.add("-", "occasions", "info", f"session {name}: {K - len(kept[s])} occasion(s) without effort at "
                        "any station dropped and the rest renumbered (drop_empty_occasions)")
        empty = [str(name) for s, name in enumerate(self.sessions) if not (self.usage[self.unit_session == s] > 0).any()]
        if empty:
            # secr would read such a session as one fully used occasion without captures, pulling a
            # shared density down; camtrapR drops it. Say so rather than guess which the user meant.
            raise ValueError(f"session(s) {', '.join(empty)} have no occasion with effort (day1 / buffer_days / "
                             "max_days leave nothing of them): remove their stations from the station table or "
                             "change day1")
        return kept

    def usage_tables(self, kept: dict) -> dict:
        """``{session: usage}``: days of effort, detector (rows) x kept occasion (``o1..oK``)."""
        stations = self.units.table.station.to_numpy()
        out = {}
        for s, name in enumerate(self.sessions):
            us = np.flatnonzero(self.unit_session == s)
            out[name] = pd.DataFrame(self.usage[np.ix_(us, kept[s])], index=pd.Index(stations[us], name="detector"),
                                     columns=[f"o{i + 1}" for i in range(len(kept[s]))])
        return out

    def occasion_table(self, kept: dict, day1, occasion_length) -> pd.DataFrame:
        """``session, occasion, start, end``: dates, or with ``day1="station"`` (each station its
        own dates) days since each station's first occasion."""
        rows = []
        for s, name in enumerate(self.sessions):
            us = np.flatnonzero(self.unit_session == s)
            kp = kept[s]
            n = np.arange(1, len(kp) + 1)
            if day1 == "station":
                rows.append(pd.DataFrame({"session": name, "occasion": n, "start": kp * occasion_length,
                                          "end": (kp + 1) * occasion_length}))
            else:
                o = int(self.origin[us[0]]) if us.size else 0
                rows.append(pd.DataFrame({"session": name, "occasion": n, "start": pd.to_datetime(o + kp * self.length_ns),
                                          "end": pd.to_datetime(o + (kp + 1) * self.length_ns)}))
        return pd.concat(rows, ignore_index=True)


def check_day1(day1, buffer_days, start_ns: int, last_retrieval_ns: int):
    """``day1`` is ``"survey"``, ``"station"`` or a date before the last retrieval."""
    if day1 in ("survey", "station"):
        return
    try:
        d1 = pd.Timestamp(str(day1))
    except ValueError:
        raise ValueError(f"day1 must be 'survey', 'station' or a date like '2025-02-01', not {day1!r}") from None
    if buffer_days:
        raise ValueError("buffer_days works with day1='survey' or 'station' only (as camtrapR's buffer)")
    if int(d1.normalize().value) + start_ns >= last_retrieval_ns:
        raise ValueError(f"day1 {day1} is after the last retrieval ({pd.Timestamp(last_retrieval_ns)})")


def occasion_grid(stations: StationTable, units: Units, *, occasion_length: float, day1, occasion_start_time: float,
                  buffer_days: int, max_days: float | None, camtrapr_rules: bool, tz=None,
                  all_cams_on: bool = False, cameras_independent: bool = False) -> OccasionGrid:
    """The occasion grid and usage of every unit of ``units`` (see the module docstring)."""
    ut = units.table
    sessions = stations.sessions
    unit_session = ut.session.map({s: i for i, s in enumerate(sessions)}).to_numpy()
    start_ns = int(round(occasion_start_time * HOUR_NS))
    check_day1(day1, buffer_days, start_ns, ut.retrieval.to_numpy(np.int64).max())
    common = dict(units=units, sessions=sessions, unit_session=unit_session, start_ns=start_ns)
    if camtrapr_rules:
        grid = day_grid(stations, units.dep_unit, len(ut), units.combined, occasion_start_time=occasion_start_time,
                        all_cams_on=all_cams_on, cameras_independent=cameras_independent)
        plan = occasion_plan(grid, occasion_length=occasion_length, day1=day1, buffer_days=buffer_days,
                             max_days=max_days, tz=tz)
        return OccasionGrid(origin=plan.origin_local, n_occasions=np.full(len(sessions), plan.K, dtype=np.int64),
                            usage=plan.usage, length_ns=plan.length_ns, day_grid=grid, plan=plan, **common)
    return _exact_grid(int(round(occasion_length * DAY_NS)), day1, buffer_days, max_days, **common)


def _exact_grid(length_ns, day1, buffer_days, max_days, *, units, sessions, unit_session, start_ns) -> OccasionGrid:
    """semantics="exact": each unit's occasion window, each session's grid from its first setup
    day (or the given date) and the exact working time per unit and occasion."""
    ut = units.table
    n_units, n_sessions = len(ut), len(sessions)
    if day1 in ("survey", "station"):
        window_start = day_floor(ut.setup.to_numpy(np.int64), start_ns) + int(buffer_days) * DAY_NS
    else:
        window_start = np.full(n_units, int(pd.Timestamp(str(day1)).normalize().value) + start_ns, dtype=np.int64)
    window_end = (window_start + int(round(max_days * DAY_NS)) if max_days is not None
                  else np.full(n_units, _INT64_MAX, dtype=np.int64))
    if day1 == "survey":      # one grid per session, from its first station's setup day
        first = np.full(n_sessions, _INT64_MAX, dtype=np.int64)
        np.minimum.at(first, unit_session, window_start)
        origin = first[unit_session]
    else:                     # each station's own setup day, or the given date
        origin = window_start.copy()
    end = np.minimum(ut.retrieval.to_numpy(np.int64), window_end)
    occasions_of_unit = np.where(end > origin, -((origin - end) // length_ns), 0)    # ceil
    n_occasions = np.zeros(n_sessions, dtype=np.int64)
    np.maximum.at(n_occasions, unit_session, occasions_of_unit)
    K = int(n_occasions.max()) if n_sessions else 0
    if K == 0:
        raise ValueError("no occasion has any effort: check day1, buffer_days and the station dates")
    unit, start, stop, weight = units.work
    start = np.maximum(start, window_start[unit])
    stop = np.minimum(stop, window_end[unit])
    keep = stop > start
    usage = bin_effort(unit[keep], start[keep], stop[keep], weight[keep], origin, length_ns, K, n_units)
    usage[np.arange(K)[None, :] >= n_occasions[unit_session][:, None]] = 0.0     # beyond each session's K
    return OccasionGrid(units=units, sessions=sessions, unit_session=unit_session, origin=origin,
                        n_occasions=n_occasions, usage=usage, length_ns=length_ns, start_ns=start_ns,
                        window_start=window_start, window_end=window_end)
