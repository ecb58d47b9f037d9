"""Camera-trap station tables in camtrapR's conventions, parsed and validated.

A station table has one row per station (or per camera, or per station and session):

=====================  ==============================================================
column (camtrapR name)  meaning
=====================  ==============================================================
``Station``             station ID (camtrapR ``stationCol``)
``utm_x``, ``utm_y``    coordinates in metres of a projected CRS (``Xcol``, ``Ycol``)
``Setup_date``          setup date or date-time (``setupCol``)
``Retrieval_date``      retrieval date or date-time (``retrievalCol``)
``ProblemN_from/_to``   malfunction periods, any number N (``hasProblems = TRUE``)
``Camera`` (optional)   camera ID, several cameras per station (``cameraCol``)
``Session`` (optional)  session / season (``sessionCol``)
=====================  ==============================================================

Dates follow camtrapR (since 2.1): a setup or retrieval given as a *date only* is taken as
12:00 noon, so the setup and retrieval days count as half days; a date-time is used exactly.
A problem period given as dates runs from 00:00 of its first day to the end of its last day
(cut at setup and retrieval). Nothing is silently dropped or guessed: an ambiguous date
format, a duplicate station, a retrieval before setup, a malfunction outside the operation
period, ... each stops with an error naming the rows, or (where the data can still be used
exactly) becomes a warning in :attr:`StationTable.issues`.

Times are local wall-clock times in the survey's time zone (camtrapR's ``timeZone``): all
day and occasion arithmetic is done on them, as camtrapR does (:mod:`lynxid.times` reads
them; :mod:`lynxid.issues_log` collects the problems).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .issues_log import IssuesLog
from .tables import read_user_table, secr_order, text_ids
from .times import parse_datetimes

__all__ = ["StationTable", "read_stations"]

_PROBLEM = re.compile(r"^problem[_.\s-]?(\d+)[_.\s-]?(from|to)$", re.IGNORECASE)


@dataclass
class StationTable:
    """A parsed, validated station table.

    Attributes
    ----------
    deployments : one row per input row (a camera deployment): ``row`` (1-based row of the
        input table), ``station``, ``camera``, ``session``, ``x``, ``y``, ``setup``,
        ``retrieval`` (naive local ``datetime64[ns]``), ``setup_date_only``,
        ``retrieval_date_only`` and any covariate columns.
    problems : malfunction periods, one row each: ``row``, ``problem`` (N of ProblemN),
        ``start``, ``end`` (half-open ``[start, end)``), already cut to the deployment.
    issues : warnings found while reading (``row, stage, severity, reason``).
    """

    deployments: pd.DataFrame
    problems: pd.DataFrame
    issues: pd.DataFrame
    has_cameras: bool = False
    has_sessions: bool = False
    covariates: list = field(default_factory=list)
    source: str = "<table>"

    @property
    def stations(self) -> pd.DataFrame:
        """One row per station (and session): ``session, station, x, y`` + covariates."""
        cols = ["session", "station", "x", "y"] + list(self.covariates)
        return self.deployments.drop_duplicates(["session", "station"])[cols].reset_index(drop=True)

    @property
    def sessions(self) -> list:
        return secr_order(self.deployments["session"].unique().tolist())

    def __repr__(self):
        d = self.deployments
        return (f"<StationTable {d.station.nunique()} stations, {len(d)} deployments, "
                f"{len(self.problems)} problem periods, {len(self.sessions)} session(s), "
                f"{d.setup.min()} .. {d.retrieval.max()}>")


def read_stations(source, *, station_col: str = "Station", x_col: str = "utm_x", y_col: str = "utm_y",
                  setup_col: str = "Setup_date", retrieval_col: str = "Retrieval_date",
                  camera_col: str | None = None, session_col: str | None = None,
                  has_problems: bool | None = None, date_format: str | None = None,
                  tz: str | None = None, station_covariates=None) -> StationTable:
    """Read and validate a camtrapR-style station table (CSV, Parquet or DataFrame).

    Parameters mirror camtrapR's ``cameraOperation``: ``station_col`` (``stationCol``),
    ``setup_col`` (``setupCol``), ``retrieval_col`` (``retrievalCol``), ``camera_col``
    (``cameraCol``), ``session_col`` (``sessionCol``), ``has_problems`` (``hasProblems``;
    ``None`` = use ``ProblemN_from``/``ProblemN_to`` columns when present) and
    ``date_format`` (``dateFormat``: ``"%d/%m/%Y"``, ``"dmy"``, ``"ymd HMS"``, ...; ``None``
    infers it, and stops if the dates are ambiguous). ``x_col``/``y_col`` are ``Xcol``/``Ycol``:
    coordinates in metres of a projected CRS. ``station_covariates``: columns kept as
    station covariates (camtrapR ``stationCovariateCols``).
    """
    if isinstance(source, StationTable):
        return source
    df, name = read_user_table(source, "station table")
    df = df.reset_index(drop=True)
    covariates = list(station_covariates or [])
    _check_columns(df, name, dict(station_col=station_col, x_col=x_col, y_col=y_col, setup_col=setup_col,
                                  retrieval_col=retrieval_col, camera_col=camera_col, session_col=session_col),
                   covariates)
    if len(df) == 0:
        raise ValueError(f"{name}: the station table has no rows")
    log = IssuesLog("row")
    rows = np.arange(1, len(df) + 1)
    station, camera, session = _ids(df, rows, station_col, camera_col, session_col, log)
    xy = _coordinates(df, rows, x_col, y_col, log)
    prob_cols = _problem_columns(df, name, has_problems, log)
    dates = _DateColumns(df, rows, [setup_col, retrieval_col] + [c for pair in prob_cols.values() for c in pair],
                         date_format, tz, name, log)
    setup, retr = _operation_period(dates, setup_col, retrieval_col, log)
    _duplicates(station, camera, session, camera_col, session_col, log)
    problems = _problem_periods(dates, prob_cols, setup, retr, log)
    log.raise_errors(f"{name}: cannot use the station table")

    dep = pd.DataFrame({"row": rows, "station": station.astype(str).to_numpy(),
                        "camera": camera.astype(object).where(camera.notna(), None).to_numpy(),
                        "session": session.astype(str).to_numpy(), "x": xy["x"].to_numpy(), "y": xy["y"].to_numpy(),
                        "setup": setup.to_numpy(), "retrieval": retr.to_numpy(),
                        "setup_date_only": dates.date_only(setup_col).to_numpy(bool),
                        "retrieval_date_only": dates.date_only(retrieval_col).to_numpy(bool)})
    for c in covariates:
        dep[c] = df[c].to_numpy()
    _station_coordinates(dep, x_col, y_col, log)
    return StationTable(deployments=dep, problems=problems, issues=log.table(), has_cameras=bool(camera_col),
                        has_sessions=bool(session_col), covariates=covariates, source=name)


# --------------------------------------------------------------------------------------
# the parts of read_stations
# --------------------------------------------------------------------------------------
def _check_columns(df: pd.DataFrame, name: str, named: dict, covariates: list):
    cols = list(df.columns)
    need = {k: v for k, v in named.items() if v or k not in ("camera_col", "session_col")}
    missing = [f"{k}={v!r}" for k, v in need.items() if v not in cols]
    missing += [f"covariate {c!r}" for c in covariates if c not in cols]
    if missing:
        raise ValueError(f"{name}: column(s) not found: {', '.join(missing)}. The table has: "
                         f"{', '.join(map(str, cols))}. Name the columns with station_col=, x_col=, y_col=, "
                         "setup_col=, retrieval_col= (command line: --station-col, --x-col, ...; camtrapR's "
                         "stationCol, Xcol, Ycol, setupCol, retrievalCol)."
                         + (" The table looks ';'-separated: save it as a comma-separated CSV."
                            if len(cols) == 1 and ";" in str(cols[0]) else ""))


def _ids(df, rows, station_col, camera_col, session_col, log: IssuesLog):
    """Station, camera and session IDs as text; a missing one is an error."""
    station = text_ids(df[station_col])
    for r in rows[station.isna().to_numpy()]:
        log.add(r, "stations", "error", f"no station ID in column {station_col!r}")
    camera = text_ids(df[camera_col]) if camera_col else pd.Series(pd.NA, index=df.index, dtype="string")
    if camera_col:
        for r in rows[camera.isna().to_numpy()]:
            log.add(r, "stations", "error", f"no camera ID in column {camera_col!r} (camera_col is set)")
    session = text_ids(df[session_col]) if session_col else pd.Series("1", index=df.index, dtype="string")
    if session_col:
        for r in rows[session.isna().to_numpy()]:
            log.add(r, "stations", "error", f"no session in column {session_col!r}")
    return station, camera, session


def _coordinates(df, rows, x_col, y_col, log: IssuesLog) -> dict:
    """x and y as numbers (a decimal comma read as a point); a missing one is an error."""
    xy = {}
    for lab, c in (("x", x_col), ("y", y_col)):
        raw = df[c]
        v = pd.to_numeric(raw.astype("string").str.strip().str.replace(",", ".", regex=False)
                          if not pd.api.types.is_numeric_dtype(raw.dtype) else raw, errors="coerce")
        for r, val in zip(rows[v.isna().to_numpy()], raw[v.isna()]):
            log.add(r, "stations", "error", f"{lab} coordinate in {c!r} is missing or not a number ({val!r})")
        xy[lab] = v.astype(float)
    return xy


def _problem_columns(df, name, has_problems, log: IssuesLog) -> dict:
    """``{N: (ProblemN_from column, ProblemN_to column)}`` of the malfunction periods used."""
    cols = list(df.columns)
    found = {}
    for c in cols:
        m = _PROBLEM.match(str(c).strip())
        if m:
            found.setdefault(int(m.group(1)), {})[m.group(2).lower()] = c
    use = bool(found) if has_problems is None else bool(has_problems)
    if has_problems and not found:
        raise ValueError(f"{name}: has_problems is set but there are no ProblemN_from / ProblemN_to columns "
                         f"(camtrapR's naming, e.g. Problem1_from, Problem1_to). Columns: {', '.join(map(str, cols))}")
    if found and not use:
        log.add("-", "stations", "warning", f"the table has malfunction columns ({', '.join(str(v) for d in found.values() for v in d.values())}) "
                "but has_problems is False: they are ignored and the cameras count as working from setup to retrieval")
        return {}
    for n, d in sorted(found.items()):
        if len(d) != 2:
            raise ValueError(f"{name}: Problem{n} has only a '{next(iter(d))}' column; "
                             f"each malfunction needs Problem{n}_from and Problem{n}_to")
    return {n: (found[n]["from"], found[n]["to"]) for n in sorted(found)}


class _DateColumns:
    """Setup, retrieval and problem columns parsed together, so that they share one format;
    an unreadable value is an error naming its row."""

    def __init__(self, df, rows, columns: list, date_format, tz, name, log: IssuesLog):
        self.n, self.columns, self.df = len(df), columns, df
        stacked = pd.concat([df[c].astype(object) for c in columns], ignore_index=True)
        if any(isinstance(df[c].dtype, pd.DatetimeTZDtype) for c in columns):
            stacked = pd.concat([df[c] for c in columns], ignore_index=True)
        self.times, self.d_only, self.bad, used_fmt = parse_datetimes(stacked, date_format, tz, what=name)
        for c in columns:
            b = self.unreadable(c).to_numpy()
            for r, val in zip(rows[b], df[c][b]):
                log.add(r, "stations", "error", f"{c!r}: cannot read the date {val!r}"
                        + (f" with date_format={date_format!r}" if date_format else
                           f" (read the column as {used_fmt}; pass date_format, camtrapR's dateFormat)"))

    def _part(self, series, column):
        i = self.columns.index(column)
        return series.iloc[i * self.n:(i + 1) * self.n].reset_index(drop=True)

    def time(self, column) -> pd.Series:
        return self._part(self.times, column)

    def date_only(self, column) -> pd.Series:
        return self._part(self.d_only, column)

    def unreadable(self, column) -> pd.Series:
        return self._part(self.bad, column)

    def raw(self, column) -> pd.Series:
        """The values as written in the table."""
        return self.df[column]

    def blank(self, column) -> pd.Series:
        """No value at all (an unreadable one is reported as such)."""
        return self.time(column).isna() & ~self.unreadable(column)


def _operation_period(dates: _DateColumns, setup_col, retrieval_col, log: IssuesLog):
    """Setup and retrieval times (a date without time is 12:00 noon, camtrapR >= 2.1)."""
    rows = np.arange(1, dates.n + 1)
    for lab, c in (("setup", setup_col), ("retrieval", retrieval_col)):
        for r in rows[dates.blank(c).to_numpy()]:
            log.add(r, "stations", "error", f"no {lab} date in {c!r}")
    setup = dates.time(setup_col) + pd.to_timedelta(np.where(dates.date_only(setup_col), 12, 0), unit="h")
    retr = dates.time(retrieval_col) + pd.to_timedelta(np.where(dates.date_only(retrieval_col), 12, 0), unit="h")
    order_bad = setup.notna() & retr.notna() & (retr <= setup)
    for r, s_, e_ in zip(rows[order_bad.to_numpy()], setup[order_bad], retr[order_bad]):
        log.add(r, "stations", "error", f"retrieval ({e_}) is not after setup ({s_})")
    now = pd.Timestamp.now()
    for lab, t in (("setup", setup), ("retrieval", retr)):
        odd = t.notna() & ((t > now + pd.Timedelta(days=1)) | (t < pd.Timestamp("1980-01-01")))
        for r, v in zip(rows[odd.to_numpy()], t[odd]):
            log.add(r, "stations", "warning", f"{lab} {v} is in the future or before 1980: check date_format")
    return setup, retr


def _duplicates(station, camera, session, camera_col, session_col, log: IssuesLog):
    """The same station (camera, session) twice is an error naming the rows."""
    key = pd.DataFrame({"station": station, "camera": camera.fillna(""), "session": session})
    dup = key.duplicated(keep=False) & station.notna()
    if not dup.any():
        return
    what = "station" + ("/camera" if camera_col else "") + ("/session" if session_col else "")
    hint = "" if camera_col else " (several cameras per station? set camera_col, camtrapR's cameraCol)"
    if not session_col:
        hint += " (several seasons? set session_col, camtrapR's sessionCol)"
    for _, g in key[dup].groupby(["station", "camera", "session"], sort=False):
        rr = ", ".join(str(x + 1) for x in g.index)
        first = g.iloc[0]
        label = "/".join([first.station] + ([first.camera] if camera_col else []) + ([first.session] if session_col else []))
        log.add(g.index[0] + 1, "stations", "error", f"duplicate {what} {label!r} in rows {rr}{hint}")


def _problem_periods(dates: _DateColumns, prob_cols: dict, setup, retr, log: IssuesLog) -> pd.DataFrame:
    """The malfunction periods, cut to the operation period: ``row, problem, start, end``."""
    parts = [_problem_period(dates, n, cf, ct, setup, retr, log) for n, (cf, ct) in prob_cols.items()]
    parts = [p for p in parts if p is not None]
    problems = (pd.concat(parts, ignore_index=True) if parts else
                pd.DataFrame({"row": pd.Series([], dtype="int64"), "problem": pd.Series([], dtype="int64"),
                              "start": pd.Series([], dtype="datetime64[ns]"), "end": pd.Series([], dtype="datetime64[ns]")}))
    problems["start"] = problems["start"].astype("datetime64[ns]")
    problems["end"] = problems["end"].astype("datetime64[ns]")
    if len(problems) > 1:
        p = problems.sort_values(["row", "start"])
        prev_end = p.groupby("row")["end"].shift()
        for r in p[prev_end.notna() & (p.start < prev_end)].row.unique():
            log.add(int(r), "stations", "warning", "malfunction periods overlap; they are merged (the overlap "
                    "counts once -- camtrapR would subtract it twice)")
    return problems


def _problem_period(dates: _DateColumns, n, cf, ct, setup, retr, log: IssuesLog) -> pd.DataFrame | None:
    """ProblemN: date-only periods run from 00:00 of the first to the end of the last day,
    except on the setup / retrieval day, where they start / end there (camtrapR)."""
    rows = np.arange(1, dates.n + 1)
    pf, pf_d, pt, pt_d = dates.time(cf), dates.date_only(cf), dates.time(ct), dates.date_only(ct)
    for r in rows[(pf.notna() & dates.blank(ct)).to_numpy()]:
        log.add(r, "stations", "error", f"{cf!r} is set but {ct!r} is empty")
    for r in rows[(pt.notna() & dates.blank(cf)).to_numpy()]:
        log.add(r, "stations", "error", f"{ct!r} is set but {cf!r} is empty")
    both = pf.notna() & pt.notna()
    if not both.any():
        return None
    start = pf.copy()
    end = pt + pd.to_timedelta(np.where(pt_d, 1, 0), unit="D")    # date-only: to the end of that day
    ok = both & setup.notna() & retr.notna()
    same_setup_day = ok & pf_d & (start.dt.normalize() == setup.dt.normalize())
    start[same_setup_day] = np.maximum(start[same_setup_day], setup[same_setup_day])
    same_retr_day = ok & pt_d & (pt.dt.normalize() == retr.dt.normalize())
    end[same_retr_day] = np.minimum(end[same_retr_day], retr[same_retr_day])
    inverted = both & (end <= start)
    for r, a, b in zip(rows[inverted.to_numpy()], dates.raw(cf)[inverted.to_numpy()], dates.raw(ct)[inverted.to_numpy()]):
        log.add(r, "stations", "error", f"Problem{n} ends before it starts ({a} .. {b})")
    good = ok & ~inverted
    outside = good & ((end <= setup) | (start >= retr))
    for r, a, b in zip(rows[outside.to_numpy()], start[outside], end[outside]):
        log.add(r, "stations", "error", f"Problem{n} ({a} .. {b}) lies entirely outside the operation "
                "period (setup .. retrieval): wrong date or wrong row?")
    partial = good & ~outside & ((start < setup) | (end > retr))
    for r, a, b in zip(rows[partial.to_numpy()], start[partial], end[partial]):
        log.add(r, "stations", "warning", f"Problem{n} ({a} .. {b}) extends beyond the operation period; "
                "only the part between setup and retrieval counts")
    keep = good & ~outside
    if not keep.any():
        return None
    return pd.DataFrame({"row": rows[keep.to_numpy()], "problem": n,
                         "start": np.maximum(start[keep], setup[keep]).to_numpy(),
                         "end": np.minimum(end[keep], retr[keep]).to_numpy()})


def _station_coordinates(dep: pd.DataFrame, x_col, y_col, log: IssuesLog):
    """One position per station: the first camera's (warned when its cameras differ); and a
    warning when the coordinates look like degrees rather than metres."""
    g = dep.groupby(["session", "station"], sort=False)
    spread = (g.x.transform("max") - g.x.transform("min")) + (g.y.transform("max") - g.y.transform("min"))
    for (sess, st), sub in dep[spread > 0].groupby(["session", "station"], sort=False):
        log.add(int(sub.row.iloc[0]), "stations", "warning",
                f"cameras of station {st!r} have different coordinates (rows {', '.join(map(str, sub.row))}); "
                "the first row's coordinates are used for the station")
    dep["x"], dep["y"] = g.x.transform("first").to_numpy(), g.y.transform("first").to_numpy()
    if (dep.x.abs() <= 180).all() and (dep.y.abs() <= 90).all():
        log.add("-", "stations", "warning", f"coordinates in {x_col!r}/{y_col!r} look like longitude/latitude "
                "degrees; spatial capture-recapture needs metres in a projected CRS (e.g. UTM)")
