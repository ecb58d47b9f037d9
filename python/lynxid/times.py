"""Dates, times and time zones of station tables, record tables and camera clocks.

Every time lynxid computes with is a *naive local wall-clock time* in the survey's time zone
(camtrapR's ``timeZone``), in integer nanoseconds: camtrapR does its day and occasion
arithmetic on local days, so lynxid does too. This module is the one place that turns what
users write into such times:

* :func:`parse_datetimes` reads setup, retrieval and malfunction dates the way camtrapR's
  ``dateFormat`` does (strptime formats or lubridate orders; the order inferred when not
  given, and an error, never a guess, when two orders fit);
* :func:`parse_record_times` reads record times (camtrapR's ``recordDateTimeFormat``);
* both accept times that carry a UTC offset -- ``Z``, ``+01:00``, ``+0100`` or ``UTC``
  (:data:`TZ_SUFFIX`) -- and convert them to the survey zone; without a zone they keep their
  own single offset (:func:`offset_zone`), never UTC by default, so days follow the clock
  the times were written on;
* :func:`zone` turns ``"+01:00"`` / ``"UTC+0100"`` into a fixed-offset zone and passes IANA
  names (``"Europe/Zurich"``) through.
"""
from __future__ import annotations

import datetime as _dt
import re
from datetime import timedelta, timezone

import pandas as pd

__all__ = ["DAY_NS", "HOUR_NS", "TZ_SUFFIX", "zone", "offset_zone", "strptime_formats", "parse_datetimes",
           "parse_record_times", "as_datetimes"]

DAY_NS = 86_400_000_000_000
HOUR_NS = 3_600_000_000_000
# a time of day followed by a UTC offset: "Z", "+01:00", "+0100" or "UTC" (after a space or not)
TZ_SUFFIX = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}:?\d{2}|Z|UTC)$")
_UTC_WORD = re.compile(r"(?<=\d)\s*UTC$")
_OFFSET = re.compile(r"([+-]\d{2}:?\d{2}|Z)$")
_TIME_PART = re.compile(r"\d{1,2}:\d{2}")
_ORDER_TO_DATE = {"ymd": "%Y-%m-%d", "dmy": "%d-%m-%Y", "mdy": "%m-%d-%Y", "ydm": "%Y-%d-%m"}
_TIME_FORMATS = {"HMS": "%H:%M:%S", "HM": "%H:%M", "H": "%H"}
_RECORD_MISSING = ("", "NA", "NAT")       # what a record table writes for "no time"


def zone(tz):
    """A time zone pandas understands: fixed offsets (``"+01:00"``, ``"UTC+0100"``) as
    :class:`datetime.timezone`, anything else (IANA names, tzinfo objects) unchanged."""
    if not isinstance(tz, str):
        return tz
    m = re.fullmatch(r"(?:UTC)?([+-])(\d{2}):?(\d{2})", tz.strip())
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    return tz


def offset_zone(raw: pd.Series, name: str) -> str:
    """The zone of times written with a UTC offset when no survey zone is given: their one
    offset (days then follow that local clock, as for record times), never UTC by default."""
    offs = _utc_as_z(raw.dropna().astype(str)).str.extract(_OFFSET)[0].str.replace(":", "", regex=False)
    u = offs.dropna().unique()
    if len(u) > 1:
        raise ValueError(f"{name}: the times carry different UTC offsets ({', '.join(sorted(map(str, u))[:5])}), "
                         "e.g. summer and winter time; give the survey's time zone (tz='Europe/Zurich', camtrapR's "
                         "timeZone) so that days and occasions follow local time")
    off = u[0] if len(u) else "Z"
    return "UTC" if off in ("Z", "+0000") else f"{off[:3]}:{off[3:]}"


def strptime_formats(date_format: str) -> list[str]:
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


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _utc_as_z(s: pd.Series) -> pd.Series:
    """``... 10:00:00 UTC`` as ``... 10:00:00Z``: pandas' ISO 8601 parser reads the second only."""
    return s.str.replace(_UTC_WORD, "Z", regex=True)


def _separators(s: pd.Series) -> pd.Series:
    """One separator for all: 2009/04/02, 02.04.2009 and ISO's 'T' read as 2009-04-02 and ' '."""
    s = s.str.replace(r"(?<=\d)[T_](?=\d{1,2}:)", " ", regex=True)
    return s.str.replace(r"(?<=\d)[/.](?=\d)", "-", regex=True)


def _normalise(values: pd.Series) -> pd.Series:
    """Unify separators so that one format covers 2009/04/02, 2009-04-02, 02.04.2009, ISO 'T'."""
    s = _separators(values.astype("string").str.strip())
    return _utc_as_z(s.str.replace(r"\s+", " ", regex=True))


def _blank_as_na(s: pd.Series, markers=("", "NA", "NAN")) -> pd.Series:
    return s.where(s.notna() & ~s.str.upper().isin(markers), pd.NA)


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


def _all_midnight(t: pd.Series) -> bool:
    """Is every non-missing time exactly 00:00:00 (and one present)?"""
    t = pd.to_datetime(t, errors="coerce")
    ok = t.notna()
    return bool(ok.any()) and bool((t[ok] == t[ok].dt.normalize()).all())


def _to_local(t_utc: pd.Series, tz) -> pd.Series:
    """tz-aware times as naive wall-clock times of zone ``tz``."""
    return t_utc.dt.tz_convert(zone(tz)).dt.tz_localize(None).astype("datetime64[ns]")


# --------------------------------------------------------------------------------------
# station tables: dates or date-times, camtrapR's dateFormat
# --------------------------------------------------------------------------------------
def _objects_as_text(values: pd.Series, kind: str, tz) -> pd.Series:
    """Python date / datetime objects (e.g. from Excel or R) as text the parsers read; a
    column of midnights is a column of dates (camtrapR: noon), not setups at 00:00."""
    as_dates = kind in ("datetime", "datetime64") and _all_midnight(values)

    def conv(v):
        if isinstance(v, (_dt.datetime, pd.Timestamp)):
            ts = pd.Timestamp(v)
            if ts.tzinfo is not None:
                ts = (ts.tz_convert(zone(tz)) if tz else ts).tz_localize(None)
            return ts.strftime("%Y-%m-%d" if as_dates else "%Y-%m-%d %H:%M:%S")
        if isinstance(v, _dt.date):
            return v.strftime("%Y-%m-%d")
        return v
    return values.astype(object).map(conv)


def _with_format(s: pd.Series, present: pd.Series, date_format: str):
    full = strptime_formats(date_format)[0]
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


def _inferred_order(s: pd.Series, present: pd.Series, values: pd.Series, what: str):
    """The date order (ymd, dmy, mdy) that reads every value; an error if two read them
    differently (02/04/2009), because guessing would shift dates by months."""
    candidates = []
    for order, dfmt in _ORDER_TO_DATE.items():
        if order == "ydm":
            continue
        t, d_only = _parse_with(s, dfmt)
        candidates.append((int((present & t.isna()).sum()), order, t, d_only))
    fitting = [c for c in candidates if c[0] == 0]
    if len(fitting) > 1 and present.any():
        distinct = {tuple(c[2][present].values.tolist()) for c in fitting}
        if len(distinct) > 1:
            ex = values[present.to_numpy()].iloc[0]
            raise ValueError(f"{what}: the date format is ambiguous (e.g. {ex!r} fits "
                             f"{' and '.join(c[1] for c in fitting)}); pass date_format, e.g. 'dmy' "
                             "or '%d/%m/%Y' (camtrapR's dateFormat)")
    _, order, t, d_only = min(candidates, key=lambda c: c[0])
    return t, d_only & present, present & t.isna(), order


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
    none = pd.Series(False, index=idx)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        t = values.dt.tz_convert(zone(tz)) if tz else values
        return t.dt.tz_localize(None).astype("datetime64[ns]"), none, none.copy(), None
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        t = values.astype("datetime64[ns]")
        # a date column read as date-times (parse_dates, Excel, Parquet dates) is all midnights:
        # those are dates without a time of day (camtrapR: noon), not setups at 00:00
        return t, t.notna() & _all_midnight(t), none, None
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("date", "datetime", "datetime64", "mixed"):
        values = _objects_as_text(values, kind, tz)
    s = _blank_as_na(_normalise(values.where(values.notna(), None)))
    present = s.notna()
    if present.any() and s[present].str.contains(TZ_SUFFIX, regex=True).all():
        t = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
        return _to_local(t, tz or offset_zone(s, what)), none, present & t.isna(), "ISO8601"
    if date_format:
        return _with_format(s, present, date_format)
    return _inferred_order(s, present, values, what)


# --------------------------------------------------------------------------------------
# record tables: date-times, camtrapR's recordDateTimeFormat
# --------------------------------------------------------------------------------------
def _from_utc(t_utc: pd.Series, raw: pd.Series, tz, name):
    if tz is None:
        tz = offset_zone(raw, name)
    return _to_local(t_utc, tz), raw.notna() & t_utc.isna(), tz


def _typed_record_times(col: pd.Series, tz, name, time_format):
    """Record times that already are date-times (or Python objects without a time_format):
    None if they are to be read as text."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        t = col.dt.tz_convert(zone(tz)) if tz else col
        return t.dt.tz_localize(None).astype("datetime64[ns]"), pd.Series(False, index=col.index), tz or str(col.dt.tz)
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return col.astype("datetime64[ns]"), pd.Series(False, index=col.index), tz
    if pd.api.types.infer_dtype(col, skipna=True) in ("datetime", "date", "datetime64", "mixed") and not time_format:
        try:
            t = pd.to_datetime(col, utc=True, errors="raise")
            zones = {getattr(v, "tzinfo", None) is not None for v in col.dropna().head(1000)}
            if True in zones:
                return _from_utc(t, col.astype(str), tz, name)
            return pd.to_datetime(col, errors="coerce").astype("datetime64[ns]"), pd.Series(False, index=col.index), tz
        except (ValueError, TypeError):
            pass
    return None


def parse_record_times(col: pd.Series, time_format: str | None, tz: str | None, name: str):
    """Record times as naive local wall-clock ``datetime64[ns]`` in the survey zone.

    Returns ``(times, bad, zone_used)``. tz-aware values are converted to ``tz``; without
    ``tz`` they keep their own zone if it is one fixed offset (else: error, give tz). With
    ``time_format`` (camtrapR's ``recordDateTimeFormat``) every value must have it; without,
    ISO 8601 is read, and other text with the date order inferred as for station dates.
    """
    typed = _typed_record_times(col, tz, name, time_format)
    if typed is not None:
        return typed
    s = _blank_as_na(col.astype("string").str.strip(), _RECORD_MISSING)
    present = s.notna()
    if time_format:
        fmt = strptime_formats(time_format)[0]
        if " " not in fmt:
            raise ValueError(f"time_format {time_format!r} has no time of day; use e.g. '%Y-%m-%d %H:%M:%S' or 'ymd HMS'")
        t = pd.to_datetime(_separators(s), format=fmt, errors="coerce").astype("datetime64[ns]")
        return t, present & t.isna(), tz
    has_off = s[present].str.contains(TZ_SUFFIX, regex=True)
    if present.any() and has_off.all():
        s = _utc_as_z(s)
        return _from_utc(pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce"), s, tz, name)
    if has_off.any():
        raise ValueError(f"{name}: some times have a UTC offset and some do not (e.g. {s[present][~has_off.to_numpy()].iloc[0]!r}); "
                         "make them consistent")
    t = pd.to_datetime(s, format="ISO8601", errors="coerce")
    if (present & t.isna()).any():
        # not ISO (e.g. 07/05/2009 17:11): infer day/month order like camtrapR's formats
        t = parse_datetimes(s, None, None, what=name)[0]
    t = t.astype("datetime64[ns]")
    return t, present & t.isna(), tz


def as_datetimes(col: pd.Series) -> pd.Series:
    """Date-times for display and ordering (identify's ``timestamp`` as a table read from a
    file or from R gives it): as they are, or parsed from ISO 8601 text, unparseable ones
    missing; text with several UTC offsets (e.g. across a change to summer time) becomes UTC
    instants. Not for capture histories: :func:`parse_record_times` reads those."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    try:
        return pd.to_datetime(col, errors="coerce")
    except ValueError:
        return pd.to_datetime(col, errors="coerce", utc=True)
