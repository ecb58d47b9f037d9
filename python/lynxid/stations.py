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
day and occasion arithmetic is done on them, as camtrapR does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import storage

__all__ = ["StationTable", "read_stations", "parse_datetimes", "ProblemLog", "DAY_NS"]

DAY_NS = 86_400_000_000_000
HOUR_NS = 3_600_000_000_000
_PROBLEM = re.compile(r"^problem[_.\s-]?(\d+)[_.\s-]?(from|to)$", re.IGNORECASE)
_TIME_PART = re.compile(r"\d{1,2}:\d{2}")
_TZ_SUFFIX = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}:?\d{2}|Z|UTC)$")
ISSUE_COLUMNS = ["row", "stage", "severity", "reason"]


class ProblemLog:
    """Collects row-level problems (``row, stage, severity, reason``).

    ``row`` counts the data rows of the input table from 1 (the first row under a CSV header
    is row 1, i.e. line 2 of the file); ``"-"`` marks a problem of the whole table.

    ``severity`` is ``error`` (raised together at the end of a step), ``warning`` (the data
    are used; check them), ``excluded`` (a record left out of the result, with the reason)
    or ``info``.
    """

    def __init__(self):
        self._frames: list[pd.DataFrame] = []

    def add(self, rows, stage: str, severity: str, reason):
        """Add one issue per row; ``rows`` and ``reason`` may be scalars or arrays."""
        rows = np.atleast_1d(np.asarray(rows, dtype=object))
        if rows.size == 0:
            return
        reason = np.broadcast_to(np.asarray(reason, dtype=object), rows.shape)
        self._frames.append(pd.DataFrame({"row": rows, "stage": stage, "severity": severity,
                                          "reason": reason}))

    def extend(self, other: "ProblemLog | pd.DataFrame | None"):
        if other is None:
            return
        df = other.table() if isinstance(other, ProblemLog) else other
        if len(df):
            self._frames.append(df[ISSUE_COLUMNS])

    def table(self) -> pd.DataFrame:
        if not self._frames:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in ISSUE_COLUMNS})
        return pd.concat(self._frames, ignore_index=True)

    def errors(self) -> pd.DataFrame:
        t = self.table()
        return t[t.severity == "error"]

    def raise_errors(self, what: str, max_lines: int = 25):
        err = self.errors()
        if len(err):
            lines = [f"  row {r}: {m}" if r not in (None, "", "-") else f"  {m}"
                     for r, m in zip(err.row, err.reason)]
            more = f"\n  ... and {len(lines) - max_lines} more" if len(lines) > max_lines else ""
            raise ValueError(f"{what}: {len(err)} problem(s) to fix:\n" + "\n".join(lines[:max_lines]) + more)


# --------------------------------------------------------------------------------------
# date parsing
# --------------------------------------------------------------------------------------
_ORDER_TO_DATE = {"ymd": "%Y-%m-%d", "dmy": "%d-%m-%Y", "mdy": "%m-%d-%Y", "ydm": "%Y-%d-%m"}
_TIME_FORMATS = {"HMS": "%H:%M:%S", "HM": "%H:%M", "H": "%H"}


def _normalise(values: pd.Series) -> pd.Series:
    """Unify separators so that one format covers 2009/04/02, 2009-04-02, 02.04.2009, ISO 'T'."""
    s = values.astype("string").str.strip()
    s = s.str.replace(r"(?<=\d)[T_](?=\d{1,2}:)", " ", regex=True)
    s = s.str.replace(r"(?<=\d)[/.](?=\d)", "-", regex=True)
    s = s.str.replace(r"\s+", " ", regex=True)
    return s


def _formats_for(date_format: str) -> list[str]:
    """strptime formats for a camtrapR ``dateFormat`` (strptime string or lubridate orders)."""
    f = date_format.strip()
    if "%" in f:
        g = re.sub(r"(?<=%[a-zA-Z])[/.](?=%)", "-", f).replace("T", " ")
        return [g]
    parts = f.split()
    order = parts[0].lower()
    if order not in _ORDER_TO_DATE:
        raise ValueError(f"date format {date_format!r} not understood: use a strptime format such as "
                         "'%d/%m/%Y' or lubridate orders such as 'dmy', 'ymd HMS' (camtrapR's dateFormat)")
    d = _ORDER_TO_DATE[order]
    if len(parts) == 1:
        return [d]
    t = _TIME_FORMATS.get(parts[1].upper())
    if t is None:
        raise ValueError(f"time part of date format {date_format!r} not understood (use HMS, HM or H)")
    return [f"{d} {t}"]


def _parse_with(s: pd.Series, date_fmt: str) -> tuple[pd.Series, pd.Series]:
    """Parse normalised strings whose date part has ``date_fmt``; the time part is optional
    per value (date-only values are flagged). Returns (datetime64[ns] series, date_only)."""
    has_time = s.str.contains(_TIME_PART, na=False)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    date_only = ~has_time & s.notna()
    if date_only.any():
        out[date_only] = pd.to_datetime(s[date_only], format=date_fmt, errors="coerce").astype("datetime64[ns]")
    if has_time.any():
        st = s[has_time]
        got = pd.Series(pd.NaT, index=st.index, dtype="datetime64[ns]")
        for tf in ("%H:%M:%S", "%H:%M", "%H:%M:%S.%f"):
            todo = got.isna()
            if not todo.any():
                break
            got[todo] = pd.to_datetime(st[todo], format=f"{date_fmt} {tf}", errors="coerce").astype("datetime64[ns]")
        out[has_time] = got
    return out, date_only


def _offset_zone(raw: pd.Series, name: str) -> str:
    """The zone of times written with a UTC offset when no survey zone is given: their one
    offset (days then follow that local clock, as for record times), never UTC by default."""
    offs = raw.dropna().astype(str).str.extract(r"([+-]\d{2}:?\d{2}|Z)$")[0].str.replace(":", "", regex=False)
    u = offs.dropna().unique()
    if len(u) > 1:
        raise ValueError(f"{name}: the times carry different UTC offsets ({', '.join(sorted(map(str, u))[:5])}), "
                         "e.g. summer and winter time; give the survey's time zone (tz='Europe/Zurich', camtrapR's "
                         "timeZone) so that days and occasions follow local time")
    off = u[0] if len(u) else "Z"
    return "UTC" if off in ("Z", "+0000") else f"{off[:3]}:{off[3:]}"


def _all_midnight(t: pd.Series) -> bool:
    """Is every non-missing time exactly 00:00:00 (and one present)?"""
    t = pd.to_datetime(t, errors="coerce")
    ok = t.notna()
    return bool(ok.any()) and bool((t[ok] == t[ok].dt.normalize()).all())


def parse_datetimes(values: pd.Series, date_format: str | None = None, tz: str | None = None,
                    what: str = "dates") -> tuple[pd.Series, pd.Series, pd.Series, str | None]:
    """Parse a column of dates / date-times the way camtrapR's ``dateFormat`` does.

    Returns ``(times, date_only, bad, used_format)``: ``times`` naive ``datetime64[ns]``
    (local wall-clock; tz-aware input is converted to ``tz`` first), ``date_only`` True where
    the value had no time of day, ``bad`` True where a non-empty value could not be parsed.
    Without ``date_format`` the order (year-month-day, day-month-year, month-day-year) is
    inferred from the values; if two orders fit every value (e.g. ``02/04/2009``) this raises
    and asks for ``date_format``, because guessing would shift dates by months.
    """
    values = pd.Series(values)
    idx = values.index
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        t = values.dt.tz_convert(_zone(tz)) if tz else values
        return (t.dt.tz_localize(None).astype("datetime64[ns]"), pd.Series(False, index=idx),
                pd.Series(False, index=idx), None)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        t = values.astype("datetime64[ns]")
        # a date column read as date-times (parse_dates, Excel, Parquet dates) is all midnights:
        # those are dates without a time of day (camtrapR: noon), not setups at 00:00
        return t, t.notna() & _all_midnight(t), pd.Series(False, index=idx), None
    # python date / datetime objects (e.g. from Excel or R)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("date", "datetime", "datetime64", "mixed"):
        import datetime as _dt
        as_dates = kind in ("datetime", "datetime64") and _all_midnight(values)

        def conv(v):
            if isinstance(v, (_dt.datetime, pd.Timestamp)):
                ts = pd.Timestamp(v)
                if ts.tzinfo is not None:
                    ts = (ts.tz_convert(_zone(tz)) if tz else ts).tz_localize(None)
                return ts.strftime("%Y-%m-%d" if as_dates else "%Y-%m-%d %H:%M:%S")
            if isinstance(v, _dt.date):
                return v.strftime("%Y-%m-%d")
            return v
        values = values.astype(object).map(conv)
    s = _normalise(values.where(values.notna(), None))
    s = s.where(s.notna() & (s != "") & (s.str.upper() != "NA") & (s.str.upper() != "NAN"), pd.NA)
    present = s.notna()
    # tz-aware strings (ISO with offset or Z)
    if present.any() and s[present].str.contains(_TZ_SUFFIX, regex=True).all():
        t = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
        bad = present & t.isna()
        t = t.dt.tz_convert(_zone(tz or _offset_zone(s, what)))
        return t.dt.tz_localize(None).astype("datetime64[ns]"), pd.Series(False, index=idx), bad, "ISO8601"
    if date_format:
        fmts = _formats_for(date_format)
        full = fmts[0]
        date_part = full.split(" ")[0]
        if " " in full:   # explicit time in the format: parse exactly
            t = pd.to_datetime(s, format=full, errors="coerce").astype("datetime64[ns]")
            # but allow date-only values in the same column (camtrapR would fail; we flag them)
            t2, d_only = _parse_with(s, date_part)
            t = t.where(t.notna(), t2)
            date_only = d_only & t.notna()
        else:
            t, date_only = _parse_with(s, date_part)
        return t, date_only & present, present & t.isna(), date_format
    candidates = []
    for order, dfmt in _ORDER_TO_DATE.items():
        if order == "ydm":
            continue
        t, d_only = _parse_with(s, dfmt)
        nbad = int((present & t.isna()).sum())
        candidates.append((nbad, order, t, d_only))
    fitting = [c for c in candidates if c[0] == 0]
    if len(fitting) > 1 and present.any():
        # the same dates under several orders?
        distinct = {tuple(c[2][present].values.tolist()) for c in fitting}
        if len(distinct) > 1:
            ex = values[present.to_numpy()].iloc[0]
            raise ValueError(f"{what}: the date format is ambiguous (e.g. {ex!r} fits "
                             f"{' and '.join(c[1] for c in fitting)}); pass date_format, e.g. 'dmy' "
                             "or '%d/%m/%Y' (camtrapR's dateFormat)")
    best = min(candidates, key=lambda c: c[0])
    t, d_only = best[2], best[3]
    return t, d_only & present, present & t.isna(), best[1]


def _zone(tz):
    from .ingest import _zone as z
    return z(tz) if isinstance(tz, str) else tz


# --------------------------------------------------------------------------------------
# the station table
# --------------------------------------------------------------------------------------
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
        return _session_order(self.deployments["session"].unique().tolist())

    def __repr__(self):
        d = self.deployments
        return (f"<StationTable {d.station.nunique()} stations, {len(d)} deployments, "
                f"{len(self.problems)} problem periods, {len(self.sessions)} session(s), "
                f"{d.setup.min()} .. {d.retrieval.max()}>")


def _session_order(labels: list) -> list:
    """secr's session order: numeric when every label is a number, else sorted as text."""
    labels = [str(x) for x in labels]
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


# how R (write.csv), pandas and databases write a missing value into a text file: an ID that
# reads "NA" is a record without an ID, not an individual called "NA"
_MISSING_TEXT = {"", "na", "nan", "<na>", "null", "none", "n/a"}


def _str_ids(col: pd.Series) -> pd.Series:
    """IDs as text: 12.0 (a float column with blanks) becomes '12'; blanks and R's/pandas'
    missing-value markers ("NA", "NaN", "NULL", ...) become NA."""
    if pd.api.types.is_float_dtype(col.dtype):
        ok = col.notna()
        if ok.any() and np.all(np.mod(col[ok].to_numpy(), 1) == 0):
            out = pd.Series(pd.NA, index=col.index, dtype="string")
            out[ok] = col[ok].astype("int64").astype(str)
            return out
    s = col.astype("string").str.strip()
    return s.where(s.notna() & ~s.str.lower().isin(_MISSING_TEXT), pd.NA)


def read_stations(source, *, station_col: str = "Station", x_col: str = "utm_x", y_col: str = "utm_y",
                  setup_col: str = "Setup_date", retrieval_col: str = "Retrieval_date",
                  camera_col: str | None = None, session_col: str | None = None,
                  has_problems: bool | None = None, date_format: str | None = None,
                  tz: str | None = None, covariate_cols=None) -> StationTable:
    """Read and validate a camtrapR-style station table (CSV, Parquet or DataFrame).

    Parameters mirror camtrapR's ``cameraOperation``: ``station_col`` (``stationCol``),
    ``setup_col`` (``setupCol``), ``retrieval_col`` (``retrievalCol``), ``camera_col``
    (``cameraCol``), ``session_col`` (``sessionCol``), ``has_problems`` (``hasProblems``;
    ``None`` = use ``ProblemN_from``/``ProblemN_to`` columns when present) and
    ``date_format`` (``dateFormat``: ``"%d/%m/%Y"``, ``"dmy"``, ``"ymd HMS"``, ...; ``None``
    infers it, and stops if the dates are ambiguous). ``x_col``/``y_col`` are ``Xcol``/``Ycol``:
    coordinates in metres of a projected CRS. ``covariate_cols`` are kept as station
    covariates (camtrapR ``stationCovariateCols``).
    """
    if isinstance(source, StationTable):
        return source
    if isinstance(source, pd.DataFrame):
        df, name = source.copy(), "station table"
    else:
        name = str(source)
        df = storage.read_table(source, dtype=str, keep_default_na=False) if str(source).lower().endswith(
            (".csv", ".txt")) else storage.read_table(source)
    df = df.reset_index(drop=True)
    log = ProblemLog()
    cols = list(df.columns)
    need = {"station_col": station_col, "x_col": x_col, "y_col": y_col, "setup_col": setup_col,
            "retrieval_col": retrieval_col}
    if camera_col:
        need["camera_col"] = camera_col
    if session_col:
        need["session_col"] = session_col
    covariate_cols = list(covariate_cols or [])
    missing = [f"{k}={v!r}" for k, v in need.items() if v not in cols]
    missing += [f"covariate {c!r}" for c in covariate_cols if c not in cols]
    if missing:
        raise ValueError(f"{name}: column(s) not found: {', '.join(missing)}. The table has: "
                         f"{', '.join(map(str, cols))}. Name the columns with station_col=, x_col=, y_col=, "
                         "setup_col=, retrieval_col= (command line: --station-col, --x-col, ...; camtrapR's "
                         "stationCol, Xcol, Ycol, setupCol, retrievalCol)."
                         + (" The table looks ';'-separated: save it as a comma-separated CSV."
                            if len(cols) == 1 and ";" in str(cols[0]) else ""))
    rows = np.arange(1, len(df) + 1)
    if len(df) == 0:
        raise ValueError(f"{name}: the station table has no rows")

    station = _str_ids(df[station_col])
    for r in rows[station.isna().to_numpy()]:
        log.add(r, "stations", "error", f"no station ID in column {station_col!r}")
    camera = _str_ids(df[camera_col]) if camera_col else pd.Series(pd.NA, index=df.index, dtype="string")
    if camera_col:
        for r in rows[camera.isna().to_numpy()]:
            log.add(r, "stations", "error", f"no camera ID in column {camera_col!r} (camera_col is set)")
    session = _str_ids(df[session_col]) if session_col else pd.Series("1", index=df.index, dtype="string")
    if session_col:
        for r in rows[session.isna().to_numpy()]:
            log.add(r, "stations", "error", f"no session in column {session_col!r}")

    # coordinates
    xy = {}
    for lab, c in (("x", x_col), ("y", y_col)):
        raw = df[c]
        v = pd.to_numeric(raw.astype("string").str.strip().str.replace(",", ".", regex=False)
                          if not pd.api.types.is_numeric_dtype(raw.dtype) else raw, errors="coerce")
        for r, val in zip(rows[v.isna().to_numpy()], raw[v.isna()]):
            log.add(r, "stations", "error", f"{lab} coordinate in {c!r} is missing or not a number ({val!r})")
        xy[lab] = v.astype(float)

    # dates: setup, retrieval, problems parsed together so they share one format
    prob_cols = {}
    for c in cols:
        m = _PROBLEM.match(str(c).strip())
        if m:
            prob_cols.setdefault(int(m.group(1)), {})[m.group(2).lower()] = c
    use_problems = bool(prob_cols) if has_problems is None else bool(has_problems)
    if has_problems and not prob_cols:
        raise ValueError(f"{name}: has_problems is set but there are no ProblemN_from / ProblemN_to columns "
                         f"(camtrapR's naming, e.g. Problem1_from, Problem1_to). Columns: {', '.join(map(str, cols))}")
    if prob_cols and not use_problems:
        log.add("-", "stations", "warning", f"the table has malfunction columns ({', '.join(str(v) for d in prob_cols.values() for v in d.values())}) "
                "but has_problems is False: they are ignored and the cameras count as working from setup to retrieval")
    for n, d in sorted(prob_cols.items()):
        if use_problems and len(d) != 2:
            raise ValueError(f"{name}: Problem{n} has only a '{next(iter(d))}' column; "
                             f"each malfunction needs Problem{n}_from and Problem{n}_to")
    date_cols = [setup_col, retrieval_col] + ([c for n in sorted(prob_cols) for c in (prob_cols[n].get("from"), prob_cols[n].get("to")) if c]
                                              if use_problems else [])
    stacked = pd.concat([df[c].astype(object) for c in date_cols], ignore_index=True)
    if any(isinstance(df[c].dtype, pd.DatetimeTZDtype) for c in date_cols):
        stacked = pd.concat([df[c] for c in date_cols], ignore_index=True)
    times, d_only, bad, used_fmt = parse_datetimes(stacked, date_format, tz, what=name)
    n = len(df)

    def part(i):
        sl = slice(i * n, (i + 1) * n)
        return (times.iloc[sl].reset_index(drop=True), d_only.iloc[sl].reset_index(drop=True),
                bad.iloc[sl].reset_index(drop=True))

    for i, c in enumerate(date_cols):
        _, _, b = part(i)
        for r, val in zip(rows[b.to_numpy()], df[c][b.to_numpy()]):
            log.add(r, "stations", "error", f"{c!r}: cannot read the date {val!r}"
                    + (f" with date_format={date_format!r}" if date_format else
                       f" (read the column as {used_fmt}; pass date_format, camtrapR's dateFormat)"))
    setup, setup_d, _ = part(0)
    retr, retr_d, _ = part(1)
    for lab, c, t in (("setup", setup_col, setup), ("retrieval", retrieval_col, retr)):
        blank = t.isna() & ~part(date_cols.index(c))[2]
        for r in rows[blank.to_numpy()]:
            log.add(r, "stations", "error", f"no {lab} date in {c!r}")
    # camtrapR >= 2.1: a date without time is taken as 12:00 noon
    setup = setup + pd.to_timedelta(np.where(setup_d, 12, 0), unit="h")
    retr = retr + pd.to_timedelta(np.where(retr_d, 12, 0), unit="h")
    order_bad = setup.notna() & retr.notna() & (retr <= setup)
    for r, s_, e_ in zip(rows[order_bad.to_numpy()], setup[order_bad], retr[order_bad]):
        log.add(r, "stations", "error", f"retrieval ({e_}) is not after setup ({s_})")
    now = pd.Timestamp.now()
    for lab, t in (("setup", setup), ("retrieval", retr)):
        odd = t.notna() & ((t > now + pd.Timedelta(days=1)) | (t < pd.Timestamp("1980-01-01")))
        for r, v in zip(rows[odd.to_numpy()], t[odd]):
            log.add(r, "stations", "warning", f"{lab} {v} is in the future or before 1980: check date_format")

    # duplicates
    key = pd.DataFrame({"station": station, "camera": camera.fillna(""), "session": session})
    dup = key.duplicated(keep=False) & station.notna()
    if dup.any():
        for _, g in key[dup].groupby(["station", "camera", "session"], sort=False):
            rr = ", ".join(str(x + 1) for x in g.index)
            what = "station" + ("/camera" if camera_col else "") + ("/session" if session_col else "")
            hint = "" if camera_col else " (several cameras per station? set camera_col, camtrapR's cameraCol)"
            if not session_col:
                hint += " (several seasons? set session_col, camtrapR's sessionCol)"
            first = g.iloc[0]
            label = "/".join([first.station] + ([first.camera] if camera_col else []) + ([first.session] if session_col else []))
            log.add(g.index[0] + 1, "stations", "error", f"duplicate {what} {label!r} in rows {rr}{hint}")

    # problems
    prob_rows = []
    if use_problems:
        for k, n_ in enumerate(sorted(prob_cols)):
            pf, pf_d, _ = part(2 + 2 * k)
            pt, pt_d, _ = part(3 + 2 * k)
            cf, ct = prob_cols[n_]["from"], prob_cols[n_]["to"]
            only_f = pf.notna() & pt.isna() & ~part(3 + 2 * k)[2]
            only_t = pt.notna() & pf.isna() & ~part(2 + 2 * k)[2]
            for r in rows[only_f.to_numpy()]:
                log.add(r, "stations", "error", f"{cf!r} is set but {ct!r} is empty")
            for r in rows[only_t.to_numpy()]:
                log.add(r, "stations", "error", f"{ct!r} is set but {cf!r} is empty")
            both = pf.notna() & pt.notna()
            if not both.any():
                continue
            start = pf.copy()
            end = pt + pd.to_timedelta(np.where(pt_d, 1, 0), unit="D")    # date-only: to the end of that day
            ok = both & setup.notna() & retr.notna()
            # a date-only problem on the setup / retrieval day starts / ends there (camtrapR)
            same_setup_day = ok & pf_d & (start.dt.normalize() == setup.dt.normalize())
            start[same_setup_day] = np.maximum(start[same_setup_day], setup[same_setup_day])
            same_retr_day = ok & pt_d & (pt.dt.normalize() == retr.dt.normalize())
            end[same_retr_day] = np.minimum(end[same_retr_day], retr[same_retr_day])
            inverted = both & (end <= start)
            for r, a, b in zip(rows[inverted.to_numpy()], df[cf][inverted.to_numpy()], df[ct][inverted.to_numpy()]):
                log.add(r, "stations", "error", f"Problem{n_} ends before it starts ({a} .. {b})")
            good = ok & ~inverted
            outside = good & ((end <= setup) | (start >= retr))
            for r, a, b in zip(rows[outside.to_numpy()], start[outside], end[outside]):
                log.add(r, "stations", "error", f"Problem{n_} ({a} .. {b}) lies entirely outside the operation "
                        "period (setup .. retrieval): wrong date or wrong row?")
            partial = good & ~outside & ((start < setup) | (end > retr))
            for r, a, b in zip(rows[partial.to_numpy()], start[partial], end[partial]):
                log.add(r, "stations", "warning", f"Problem{n_} ({a} .. {b}) extends beyond the operation period; "
                        "only the part between setup and retrieval counts")
            keep = good & ~outside
            if keep.any():
                prob_rows.append(pd.DataFrame({
                    "row": rows[keep.to_numpy()], "problem": n_,
                    "start": np.maximum(start[keep], setup[keep]).to_numpy(),
                    "end": np.minimum(end[keep], retr[keep]).to_numpy()}))
    problems = (pd.concat(prob_rows, ignore_index=True) if prob_rows else
                pd.DataFrame({"row": pd.Series([], dtype="int64"), "problem": pd.Series([], dtype="int64"),
                              "start": pd.Series([], dtype="datetime64[ns]"), "end": pd.Series([], dtype="datetime64[ns]")}))
    problems["start"] = problems["start"].astype("datetime64[ns]")
    problems["end"] = problems["end"].astype("datetime64[ns]")
    if len(problems) > 1:
        p = problems.sort_values(["row", "start"])
        prev_end = p.groupby("row")["end"].shift()
        ov = p[prev_end.notna() & (p.start < prev_end)]
        for r in ov.row.unique():
            log.add(int(r), "stations", "warning", "malfunction periods overlap; they are merged (the overlap "
                    "counts once -- camtrapR would subtract it twice)")

    log.raise_errors(f"{name}: cannot use the station table")

    dep = pd.DataFrame({"row": rows, "station": station.astype(str).to_numpy(),
                        "camera": camera.astype(object).where(camera.notna(), None).to_numpy(),
                        "session": session.astype(str).to_numpy(), "x": xy["x"].to_numpy(), "y": xy["y"].to_numpy(),
                        "setup": setup.to_numpy(), "retrieval": retr.to_numpy(),
                        "setup_date_only": setup_d.to_numpy(bool), "retrieval_date_only": retr_d.to_numpy(bool)})
    for c in covariate_cols:
        dep[c] = df[c].to_numpy()
    # cameras of one station should share coordinates
    g = dep.groupby(["session", "station"], sort=False)
    spread = (g.x.transform("max") - g.x.transform("min")) + (g.y.transform("max") - g.y.transform("min"))
    for (sess, st), sub in dep[spread > 0].groupby(["session", "station"], sort=False):
        log.add(int(sub.row.iloc[0]), "stations", "warning",
                f"cameras of station {st!r} have different coordinates (rows {', '.join(map(str, sub.row))}); "
                "the first row's coordinates are used for the station")
    first = g.x.transform("first"), g.y.transform("first")
    dep["x"], dep["y"] = first[0].to_numpy(), first[1].to_numpy()
    if (dep.x.abs() <= 180).all() and (dep.y.abs() <= 90).all():
        log.add("-", "stations", "warning", f"coordinates in {x_col!r}/{y_col!r} look like longitude/latitude "
                "degrees; spatial capture-recapture needs metres in a projected CRS (e.g. UTM)")
    if not camera_col and dep.station.duplicated().any():
        pass  # caught above as duplicates unless sessions
    return StationTable(deployments=dep, problems=problems, issues=log.table(), has_cameras=bool(camera_col),
                        has_sessions=bool(session_col), covariates=covariate_cols, source=name)
