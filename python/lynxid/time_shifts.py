"""Camera clocks put right: camtrapR's time-shift tables applied to record times.

A camera whose clock is wrong (not set after the batteries were changed, set to the wrong
year, left on winter time) takes every photo at a time off by the same amount. camtrapR
corrects that in the photos' EXIF with ``timeShiftImages``; lynxid reads the same table and
corrects the record times as they are read, leaving the photos alone and keeping each
record's original time (``time_original``), so that a correction can be audited and undone.
Nothing is corrected unless the user gives the shift: :mod:`lynxid.clocks` flags suspicious
cameras and suggests a shift, it never applies one.

The table (CSV, Parquet or DataFrame) has one row per station, or per station and camera:

=================  ============================================================================
column (camtrapR)  meaning
=================  ============================================================================
``Station``        station ID (``stationCol``)
``camera``         camera ID (``cameraCol``; optional, blank: every camera of the station)
``timeshift``      ``"Y:M:D h:m:s"``: years:months:days hours:minutes:seconds, six whole
                   numbers >= 0 and one space (``timeShiftColumn``), e.g. ``"11:0:0 0:0:0"``
                   (11 years) or ``"0:0:0 5:30:0"`` (five and a half hours)
``sign``           ``"+"`` moves the times later (the clock lagged behind), ``"-"`` earlier
                   (it ran ahead) (``timeShiftSignColumn``)
=================  ============================================================================

As ExifTool does for camtrapR, the shift is worked out on the first record of each row's
camera(s) -- years and months as calendar steps (:class:`pandas.DateOffset`: a month from
31 January is the end of February), then days, hours, minutes, seconds -- and that time
difference is added to every one of its records: a wrong clock is off by a constant, and
the records keep their spacing.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .issues_log import IssuesLog
from .records import pick_column
from .tables import read_user_table, text_ids
from .times import parse_record_times

__all__ = ["SHIFT_COLUMNS", "TimeShiftWarning", "read_time_shifts", "parse_shift", "shift_delta", "shift_text",
           "shift_times", "shift_records", "keep_original_times", "shifts_source", "apply_time_shifts"]

# accepted column names of a time-shift table: camtrapR's sample table first
SHIFT_COLUMNS = {"station": ["Station", "station"], "camera": ["camera", "Camera"],
                 "timeshift": ["timeshift", "timeShift", "time_shift"], "sign": ["sign", "timeshift_sign"]}
_SHIFT = re.compile(r"^(\d+):(\d+):(\d+) (\d+):(\d+):(\d+)$")
_FORMAT_HELP = ("write it as 'Y:M:D h:m:s' (years:months:days hours:minutes:seconds, six whole numbers >= 0, one "
                "space; e.g. '11:0:0 0:0:0' or '0:0:0 5:30:0'; camtrapR's timeShiftImages format) and put the "
                "direction in the sign column")


class TimeShiftWarning(UserWarning):
    """A time-shift row that shifted nothing (no record at its station / camera)."""


def parse_shift(text) -> tuple:
    """``"Y:M:D h:m:s"`` as six ints; ValueError saying what is wrong."""
    s = "" if text is None or (not isinstance(text, str) and pd.isna(text)) else str(text).strip()
    m = _SHIFT.match(s)
    if m:
        return tuple(int(v) for v in m.groups())
    if re.match(r"^[-+\d:\s]+$", s) and "-" in s:
        raise ValueError(f"timeshift {s!r} has a negative number: {_FORMAT_HELP} ('+' or '-')")
    raise ValueError(f"timeshift {s!r} is not in camtrapR's format: {_FORMAT_HELP}")


def shift_delta(anchor, parts, sign: str) -> pd.Timedelta:
    """The time difference a shift makes at ``anchor``: years and months as calendar steps,
    then days, hours, minutes and seconds (so it depends on the anchor only through Y and M)."""
    y, mo, d, h, mi, s = parts
    k = 1 if sign == "+" else -1
    anchor = pd.Timestamp(anchor)
    moved = anchor + pd.DateOffset(years=k * y, months=k * mo) if (y or mo) else anchor
    return (moved - anchor) + k * pd.Timedelta(days=d, hours=h, minutes=mi, seconds=s)


def shift_text(anchor, delta) -> tuple[str, str]:
    """``(timeshift, sign)`` in camtrapR's format that moves ``anchor`` by ``delta``: in
    years, months and days when that is exact, else in days (whole seconds)."""
    from dateutil.relativedelta import relativedelta

    delta = pd.Timedelta(delta).round("s")
    sign = "-" if delta < pd.Timedelta(0) else "+"
    a = pd.Timestamp(anchor).to_pydatetime()
    rd = relativedelta(a + delta.to_pytimedelta(), a)
    k = -1 if sign == "-" else 1
    parts = tuple(k * int(v) for v in (rd.years, rd.months, rd.days, rd.hours, rd.minutes, rd.seconds))
    if min(parts) >= 0 and shift_delta(anchor, parts, sign) == delta:
        return f"{parts[0]}:{parts[1]}:{parts[2]} {parts[3]}:{parts[4]}:{parts[5]}", sign
    secs = int(abs(delta).total_seconds())
    d, r = divmod(secs, 86400)
    return f"0:0:{d} {r // 3600}:{r % 3600 // 60}:{r % 60}", sign


def read_time_shifts(source, *, station_col=None, camera_col=None, timeshift_col=None, sign_col=None) -> pd.DataFrame:
    """Read and check a camtrapR time-shift table (CSV, Parquet or DataFrame).

    Returns one row per input row: ``row`` (1-based data row), ``station``, ``camera`` (NA:
    every camera of the station), ``timeshift``, ``sign`` and ``parts`` (the six numbers).
    Every bad row is reported at once, by row number, with what to write instead.
    """
    if isinstance(source, pd.DataFrame) and {"row", "parts"} <= set(source.columns):
        return source                                     # already read
    df, name = read_user_table(source, "time-shift table")
    df = df.reset_index(drop=True)
    cols = list(df.columns)
    shift = dict(name=name, candidates=SHIFT_COLUMNS,
                 hint="a time-shift table has columns Station, camera (optional), timeshift and sign, as "
                      "camtrapR's timeShiftTable")
    sc = pick_column(cols, station_col, "station", **shift)
    cc = pick_column(cols, camera_col, "camera", False, **shift) if camera_col is not False else None
    tc = pick_column(cols, timeshift_col, "timeshift", **shift)
    gc = pick_column(cols, sign_col, "sign", **shift)
    rows = np.arange(1, len(df) + 1)
    out = pd.DataFrame({"row": rows, "station": text_ids(df[sc]).to_numpy(),
                        "camera": text_ids(df[cc]).to_numpy() if cc else pd.NA,
                        "timeshift": df[tc].astype("string").str.strip().to_numpy(),
                        "sign": df[gc].astype("string").str.strip().to_numpy()})
    log = IssuesLog("row")
    parts = []
    for r, st, ts, sg in zip(rows, out.station, out.timeshift, out.sign):
        if pd.isna(st):
            log.add(r, "time shifts", "error", f"no station (column {sc!r})")
        try:
            parts.append(parse_shift(ts))
        except ValueError as e:
            parts.append(None)
            log.add(r, "time shifts", "error", f"column {tc!r}: {e}")
        if sg not in ("+", "-"):
            log.add(r, "time shifts", "error", f"sign {sg!r} (column {gc!r}) must be '+' (move the times later: the "
                    "clock lagged behind) or '-' (earlier: it ran ahead)")
    out["parts"] = parts
    _check_overlaps(out, log)
    log.raise_errors(f"{name}: cannot use the time-shift table")
    return out


def _check_overlaps(t: pd.DataFrame, log: IssuesLog):
    """Two rows for the same station and camera, or one for a whole station and one for a
    camera of it, would shift the same records twice."""
    key = t.station.astype(str) + "\x00" + t.camera.astype("string").fillna("").astype(str)
    for k, grp in t.groupby(key, sort=False):
        if len(grp) > 1:
            log.add(grp.row.iloc[1:], "time shifts", "error", f"the same station and camera as row {grp.row.iloc[0]}: "
                    "give one shift per camera")
    whole = t[t.camera.isna()]
    for r, s in zip(whole.row, whole.station):
        cams = t[(t.station == s) & t.camera.notna()]
        if len(cams):
            log.add(r, "time shifts", "error", f"shifts every camera of station {s!r}, but row(s) "
                    f"{', '.join(map(str, cams.row))} shift camera(s) of it too: give either one row for the station "
                    "or one per camera")


def shift_times(station, camera, time, shifts: pd.DataFrame, source: str = "detections"):
    """Apply a read time-shift table to record times (naive local ``datetime64[ns]``).

    Returns ``(shifted times, applied shift per record ("" where none), report)``; the report
    has per shift row its ``n_records`` and the ``shift`` (Timedelta) applied.
    """
    station = pd.Series(np.asarray(station, dtype=object)).astype("string")
    camera = pd.Series(np.asarray(camera, dtype=object)).astype("string")
    t = pd.Series(pd.to_datetime(np.asarray(time, dtype="datetime64[ns]")))
    out, label = t.copy(), np.full(len(t), "", dtype=object)
    report = shifts[["row", "station", "camera", "timeshift", "sign"]].copy()
    report["n_records"] = 0
    report["shift"] = pd.Series(pd.NaT, index=report.index, dtype="timedelta64[ns]")
    if shifts.camera.notna().any() and camera.isna().all() and len(t):
        r = shifts.row[shifts.camera.notna()].iloc[0]
        raise ValueError(f"time-shift table row {r} names a camera, but {source} has no camera column: give the "
                         "camera column (camera_col=, --camera-col) or shift whole stations (leave camera blank)")
    for i, sh in enumerate(shifts.itertuples(index=False)):
        hit = (station == sh.station).fillna(False).to_numpy(bool)
        if not pd.isna(sh.camera):
            hit &= (camera == sh.camera).fillna(False).to_numpy(bool)
        times = t[hit].dropna()
        if times.empty:
            continue
        delta = shift_delta(times.min(), sh.parts, sh.sign)
        out[hit] = t[hit] + delta
        label[hit] = f"{sh.sign}{sh.timeshift}"
        report.iloc[i, report.columns.get_loc("n_records")] = int(hit.sum())
        report.iloc[i, report.columns.get_loc("shift")] = delta
    return out.to_numpy("datetime64[ns]"), label, report


def _where(sh) -> str:
    return f"station {sh.station!r}" + ("" if pd.isna(sh.camera) else f", camera {sh.camera!r}")


def shift_records(rec: pd.DataFrame, time_shifts, log: IssuesLog, source: str = "detections") -> pd.DataFrame:
    """The records of :func:`lynxid.records.read_detections` with their times shifted
    (``time``) and the times as read kept (``time_original``); each shift applied is an
    ``info`` line of ``log``, a shift row matching no record a ``warning``."""
    if time_shifts is None:
        return rec
    shifts = read_time_shifts(time_shifts)
    new, label, report = shift_times(rec.station, rec.camera, rec.time, shifts, source)
    rec = rec.copy()
    rec.insert(rec.columns.get_loc("time") + 1, "time_original", rec["time"].to_numpy())
    rec["time"] = new
    for sh in report.itertuples(index=False):
        if sh.n_records:
            log.add("-", "time shifts", "info", f"time-shift row {sh.row} ({_where(sh)}): {sh.sign}{sh.timeshift} "
                    f"applied to {sh.n_records} record(s) ({'+' if sh.shift >= pd.Timedelta(0) else '-'}"
                    f"{abs(sh.shift)})")
        else:
            log.add("-", "time shifts", "warning", f"time-shift row {sh.row} ({_where(sh)}) matches no record of "
                    f"{source}: nothing shifted -- check the station and camera names")
    return rec


def keep_original_times(records: pd.DataFrame, rec: pd.DataFrame) -> pd.DataFrame:
    """A capture history's records table with ``time_original`` after ``time`` when the
    times were shifted (``rec`` from :func:`shift_records`, row for row)."""
    if "time_original" in rec:
        records.insert(records.columns.get_loc("time") + 1, "time_original", rec.time_original.to_numpy())
    return records


def shifts_source(time_shifts) -> str | None:
    """What the settings keep of a time-shift table: its path, or that one was given."""
    if time_shifts is None:
        return None
    return "<table>" if isinstance(time_shifts, pd.DataFrame) else str(time_shifts)


def apply_time_shifts(detections, time_shifts, *, station_col=None, time_col=None, camera_col=None,
                      time_format=None, tz=None) -> pd.DataFrame:
    """A detections / record table with camera clocks corrected by a camtrapR time-shift table.

    Returns a copy in which the time column holds the corrected times (naive local
    date-times, in the zone ``tz`` or the times' own UTC offset, which ``.attrs["tz"]``
    gives), ``<time column>_original`` the values as they were, and ``time_shift`` the shift
    applied to each row (``""``: none). ``.attrs["time_shifts"]`` says, per row of the
    time-shift table (a dict each), how many records it shifted (``n_records``) and by how
    much (``shift``); a row that matches no
    record gives a :class:`TimeShiftWarning`. :func:`lynxid.capture.capture_history` does
    the same with ``time_shifts=``.
    """
    df, name = read_user_table(detections, "detections")
    df = df.reset_index(drop=True).copy()
    cols = list(df.columns)
    sc, tc = pick_column(cols, station_col, "station", name=name), pick_column(cols, time_col, "time", name=name)
    cc = pick_column(cols, camera_col, "camera", False, name=name)
    t, bad, zone = parse_record_times(df[tc], time_format, tz, name)
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad.to_numpy())[:10])
        raise ValueError(f"{name}: times in column {tc!r} cannot be read (rows {rows}); give time_format")
    shifts = read_time_shifts(time_shifts)
    camera = text_ids(df[cc]).to_numpy() if cc else np.full(len(df), pd.NA, dtype=object)
    new, label, report = shift_times(text_ids(df[sc]).to_numpy(), camera, t.to_numpy(), shifts, name)
    df.insert(cols.index(tc) + 1, f"{tc}_original", df[tc].to_numpy())
    df[tc], df["time_shift"] = new, label
    for sh in report[report.n_records == 0].itertuples(index=False):
        warnings.warn(f"time-shift row {sh.row} ({_where(sh)}) matches no record of {name}: nothing shifted",
                      TimeShiftWarning, stacklevel=2)
    df.attrs.update(tz=zone, time_shifts=report.astype(object).where(report.notna(), None).to_dict("records"))
    return df
