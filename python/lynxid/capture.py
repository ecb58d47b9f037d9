"""Capture histories for (spatial) capture-recapture, as camtrapR's ``spatialDetectionHistory``
builds them -- but exact, explicit about every record it leaves out, and fast.

:func:`capture_history` takes a detections / record table (lynxid's ``identify`` output or a
camtrapR record table, CSV, Parquet or DataFrame) and a station table
(:mod:`lynxid.stations`) and returns a :class:`CaptureHistory`: the detections per
individual x occasion x detector (station), the usage (days of effort) per detector x
occasion, the detector coordinates, the occasions and a table of every issue. The exporters
in :mod:`lynxid.export` write it for secr, oSCR, nimble/JAGS, Rcapture, RMark and Camtrap DP.

How occasions are built (camtrapR's arguments in brackets):

* occasions are ``occasion_length`` days long [``occasionLength``], starting at
  ``occasion_start_time`` o'clock [``occasionStartTime``] of the first day: the setup day of
  the first station of the session (``day1="survey"``), each station's own setup day
  (``"station"``) or a given date [``day1``]; ``buffer_days`` [``buffer``] delays each
  station's first occasion, ``max_days`` [``maxNumberDays``] caps each station's days;
* usage is the working time per station and occasion (camtrapR's day values summed, or the
  exact time with ``semantics="exact"``, see :mod:`lynxid.effort`); occasions without effort at any station are dropped and the rest renumbered, as camtrapR
  does (``drop_empty_occasions``);
* a record belongs to occasion ``ceiling((t - start) / length)``, as in camtrapR: an occasion
  is ``(start, end]``, so a record at exactly 00:00:00 with daily occasions belongs to the day
  before. That and the rest of camtrapR's rules (day values rounded to 4 decimals, several
  cameras, records after their station's last day, one grid over sessions) are the default,
  ``semantics="camtrapR"`` (:mod:`lynxid.camtrapr` lists them); ``semantics="exact"`` uses
  lynxid's exact time line and half-open occasions ``[start, end)`` instead.
* ``output="binary"`` gives a *proximity* detector (0/1 per individual, occasion,
  station), ``"count"`` a *count* detector (number of records).

Nothing is silently dropped: records without station, time or individual, at stations not in
the station table, before the first or after the last occasion, or in an occasion in which
their station had no effort, are left out *and listed* in ``CaptureHistory.issues`` (with the
row of the input table and the reason); ``strict=True`` turns any of them into an error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
import numpy as np
import pandas as pd

from . import storage
from .camtrapr import check_semantics, day_grid, occasion_plan, operating_on, record_occasions, to_real
from .effort import bin_effort, day_floor, operating_intervals, sweep_intervals
from .stations import (DAY_NS, HOUR_NS, ProblemLog, StationTable, _formats_for, _offset_zone, _str_ids, _zone,
                       parse_datetimes, read_stations)

__all__ = ["CaptureHistory", "capture_history", "read_detections", "independent_records",
           "DETECTION_COLUMNS", "to_r_columns", "from_r_columns"]

# accepted column names, lynxid's own first, then camtrapR's
DETECTION_COLUMNS = {
    "station": ["station", "Station"],
    "time": ["timestamp", "DateTimeOriginal", "datetime", "DateTime", "date_time"],
    "individual": ["individual_id", "Individual", "individual", "individual_tag", "individualID"],
    "camera": ["camera", "Camera"],
    "species": ["species", "Species", "species_tag"],
}
_TZ_SUFFIX = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}:?\d{2}|Z)$")
_INT64_MAX = np.iinfo(np.int64).max


def _pick(cols, wanted, kind, required=True, name="detections"):
    if wanted is not None:
        if wanted not in cols:
            raise ValueError(f"{name}: {kind} column {wanted!r} not found; columns are: {', '.join(map(str, cols))}")
        return wanted
    for c in DETECTION_COLUMNS[kind]:
        if c in cols:
            return c
    low = {str(c).lower(): c for c in cols}
    for c in DETECTION_COLUMNS[kind]:
        if c.lower() in low:
            return low[c.lower()]
    if required:
        raise ValueError(f"{name}: no {kind} column found (looked for {', '.join(DETECTION_COLUMNS[kind])}); "
                         f"name it with {kind}_col=. Columns are: {', '.join(map(str, cols))}")
    return None


def _parse_record_times(col: pd.Series, time_format: str | None, tz: str | None, name: str):
    """Record times as naive local wall-clock ``datetime64[ns]`` in the survey zone.

    Returns (times, bad, zone_used). tz-aware values are converted to ``tz``; without ``tz``
    they keep their own zone if it is one fixed offset (else: error, give tz).
    """
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        t = col.dt.tz_convert(_zone(tz)) if tz else col
        return t.dt.tz_localize(None).astype("datetime64[ns]"), pd.Series(False, index=col.index), tz or str(col.dt.tz)
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return col.astype("datetime64[ns]"), pd.Series(False, index=col.index), tz
    kind = pd.api.types.infer_dtype(col, skipna=True)
    if kind in ("datetime", "date", "datetime64", "mixed") and not time_format:
        try:
            t = pd.to_datetime(col, utc=True, errors="raise")
            zones = {getattr(v, "tzinfo", None) is not None for v in col.dropna().head(1000)}
            if True in zones:
                return _from_utc(t, col.astype(str), tz, name)
            return pd.to_datetime(col, errors="coerce").astype("datetime64[ns]"), pd.Series(False, index=col.index), tz
        except (ValueError, TypeError):
            pass
    s = col.astype("string").str.strip()
    s = s.where(s.notna() & (s != "") & (s.str.upper() != "NA") & (s.str.upper() != "NAT"), pd.NA)
    present = s.notna()
    if time_format:
        fmt = _formats_for(time_format)[0]
        if " " not in fmt:
            raise ValueError(f"time_format {time_format!r} has no time of day; use e.g. '%Y-%m-%d %H:%M:%S' or 'ymd HMS'")
        norm = s.str.replace(r"(?<=\d)[T_](?=\d{1,2}:)", " ", regex=True).str.replace(r"(?<=\d)[/.](?=\d)", "-", regex=True)
        t = pd.to_datetime(norm, format=fmt, errors="coerce").astype("datetime64[ns]")
        return t, present & t.isna(), tz
    has_off = s[present].str.contains(_TZ_SUFFIX, regex=True)
    if present.any() and has_off.all():
        t = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")
        return _from_utc(t, s, tz, name)
    if has_off.any():
        raise ValueError(f"{name}: some times have a UTC offset and some do not (e.g. {s[present][~has_off.to_numpy()].iloc[0]!r}); "
                         "make them consistent")
    t = pd.to_datetime(s, format="ISO8601", errors="coerce")
    if (present & t.isna()).any():
        # not ISO (e.g. 07/05/2009 17:11): infer day/month order like camtrapR's formats
        t2, _, bad2, _ = parse_datetimes(s, None, None, what=name)
        t = t2
    t = t.astype("datetime64[ns]")
    return t, present & t.isna(), tz


def _from_utc(t_utc: pd.Series, raw: pd.Series, tz, name):
    if tz is None:
        tz = _offset_zone(raw, name)
    return (t_utc.dt.tz_convert(_zone(tz)).dt.tz_localize(None).astype("datetime64[ns]"),
            raw.notna() & t_utc.isna(), tz)


def read_detections(detections, *, station_col=None, time_col=None, individual_col=None, camera_col=None,
                    species_col=None, species=None, time_format=None, tz=None,
                    log: ProblemLog | None = None) -> tuple[pd.DataFrame, dict]:
    """Read a detections / record table into ``row, station, camera, individual, time``.

    Accepts lynxid's ``identify`` output (``station``, ``timestamp``, ``individual_id``,
    ``camera``) and camtrapR record tables (``Station``, ``DateTimeOriginal``, ``Individual``,
    ``Species``, ``Camera``) as they are; other names via the ``*_col`` arguments. ``species``
    keeps only that species (camtrapR ``species``, matched in ``species_col``). Times
    without a UTC offset are local wall-clock times in the survey zone ``tz`` (camtrapR
    ``timeZone``); times with an offset are converted to it. ``time_format`` is camtrapR's
    ``recordDateTimeFormat`` (default: ISO 8601 / inferred).

    Rows without station, time or individual are reported in ``log`` (severity
    ``excluded``) and flagged ``ok = False``; a time that cannot be read is an error.
    """
    log = log if log is not None else ProblemLog()
    if isinstance(detections, pd.DataFrame):
        df, name = detections, "detections"
    else:
        name = str(detections)
        df = storage.read_table(detections, dtype=str, keep_default_na=False) if str(detections).lower().endswith(
            (".csv", ".txt")) else storage.read_table(detections)
    cols = list(df.columns)
    sc = _pick(cols, station_col, "station", name=name)
    tc = _pick(cols, time_col, "time", name=name)
    ic = _pick(cols, individual_col, "individual", name=name)
    cc = _pick(cols, camera_col, "camera", required=False, name=name) if camera_col is not False else None
    spc = None
    if species is not None:
        spc = _pick(cols, species_col, "species", name=name)
    n = len(df)
    rows = np.arange(1, n + 1)
    out = pd.DataFrame({"row": rows})
    out["station"] = _str_ids(df[sc].reset_index(drop=True)).to_numpy()
    out["individual"] = _str_ids(df[ic].reset_index(drop=True)).to_numpy()
    out["camera"] = (_str_ids(df[cc].reset_index(drop=True)).to_numpy() if cc else pd.NA)
    t, bad, zone = _parse_record_times(df[tc].reset_index(drop=True), time_format, tz, name)
    if bad.any():
        b = np.flatnonzero(bad.to_numpy())
        raw = df[tc].reset_index(drop=True)
        lines = "\n".join(f"  row {rows[i]}: {raw.iloc[i]!r}" for i in b[:15])
        raise ValueError(f"{name}: {len(b)} time(s) in column {tc!r} cannot be read"
                         + (f" with time_format={time_format!r}" if time_format else
                            " (expected ISO 8601 such as 2025-02-03 19:30:00 or 2025-02-03T19:30:00+01:00; "
                            "give time_format, camtrapR's recordDateTimeFormat)") + f":\n{lines}")
    out["time"] = t.to_numpy()
    ok = np.ones(n, dtype=bool)
    if spc is not None:
        sp = df[spc].reset_index(drop=True).astype("string").str.strip()
        want = str(species).strip()
        is_sp = (sp == want).fillna(False).to_numpy(bool)
        if not is_sp.any():
            found = ", ".join(map(str, sp.dropna().unique()[:10]))
            raise ValueError(f"{name}: species {want!r} not found in column {spc!r} (found: {found})")
        if (~is_sp).any():
            log.add("-", "records", "info", f"{int((~is_sp).sum())} record(s) of other species than {want!r} "
                    f"(column {spc!r}) are not used")
        ok &= is_sp
        out["other_species"] = ~is_sp
    for col, what in (("station", f"station (column {sc!r})"), ("time", f"date/time (column {tc!r})"),
                      ("individual", f"individual ID (column {ic!r})")):
        miss = ok & pd.isna(out[col]).to_numpy()
        if miss.any():
            log.add(rows[miss], "records", "excluded", f"no {what}: not used")
        ok &= ~miss
    out["ok"] = ok
    meta = dict(source=name, station_col=sc, time_col=tc, individual_col=ic, camera_col=cc,
                species_col=spc, species=species, tz=zone, frame=df)
    return out, meta


# --------------------------------------------------------------------------------------
# temporal independence (camtrapR's minDeltaTime), vectorised
# --------------------------------------------------------------------------------------
def independent_records(group: np.ndarray, t_ns: np.ndarray, min_delta_minutes: float,
                        compared_to: str = "last_independent") -> np.ndarray:
    """Which records are independent events (camtrapR ``minDeltaTime`` /
    ``deltaTimeComparedTo``), per group (station x individual [x camera]).

    The first record of a group is independent; a later one is independent when at least
    ``min_delta_minutes`` have passed since the last *independent* record
    (``"last_independent"``) or since the last record (``"last"``). Records with exactly the
    same time are treated alike, as in camtrapR. Returns a boolean mask.
    """
    n = len(t_ns)
    if n == 0 or min_delta_minutes <= 0:
        return np.ones(n, dtype=bool)
    if compared_to not in ("last_independent", "last"):
        raise ValueError("compared_to must be 'last_independent' or 'last' (camtrapR's deltaTimeComparedTo)")
    delta = int(round(min_delta_minutes * 60e9))
    order = np.lexsort((t_ns, group))
    g, t = group[order].astype(np.int64), t_ns[order].astype(np.int64)
    # unique (group, time) pairs
    newpair = np.ones(n, dtype=bool)
    newpair[1:] = (g[1:] != g[:-1]) | (t[1:] != t[:-1])
    pair_id = np.cumsum(newpair) - 1
    ug, ut = g[newpair], t[newpair]
    m = len(ug)
    first_in_group = np.ones(m, dtype=bool)
    first_in_group[1:] = ug[1:] != ug[:-1]
    if compared_to == "last":
        indep = first_in_group.copy()
        indep[1:] |= (ut[1:] - ut[:-1]) >= delta
    else:
        # next[i] = first pair of the same group at least delta after pair i
        gstart = np.flatnonzero(first_in_group)
        gend = np.append(gstart[1:], m)
        grp_of = np.cumsum(first_in_group) - 1
        rel = ut - ut[gstart[grp_of]]                       # time since the group's first record
        # searchsorted per group on a monotone key: group offset + relative time
        span = int(rel.max()) + delta + 1
        if len(gstart) * float(span) < 9e18:
            key = grp_of.astype(np.int64) * span + rel
            nxt = np.searchsorted(key, key + delta, side="left")
        else:  # pragma: no cover - astronomically long spans: search group by group
            nxt = np.empty(m, dtype=np.int64)
            for a, b in zip(gstart, gend):
                nxt[a:b] = a + np.searchsorted(ut[a:b], ut[a:b] + delta, side="left")
        indep = np.zeros(m, dtype=bool)
        cur = gstart.copy()
        end_of = gend[grp_of]
        indep[cur] = True
        while cur.size:
            nx = nxt[cur]
            cur = nx[nx < end_of[cur]]
            indep[cur] = True
    res = np.empty(n, dtype=bool)
    res[order] = indep[pair_id]
    return res


# --------------------------------------------------------------------------------------
# the capture history
# --------------------------------------------------------------------------------------
@dataclass
class CaptureHistory:
    """A capture history with its usage, detectors, occasions and issues.

    Attributes
    ----------
    detections : long table ``session, individual, occasion, detector, count`` (one row per
        non-zero cell; ``count`` is 1 for binary/proximity output).
    usage : ``{session: DataFrame}`` days of effort, detector (rows) x occasion (``o1..oK``).
    traps : ``session, detector, x, y, first_occasion_start`` (+ station covariates).
    occasions : ``session, occasion, start, end`` (for ``day1="station"`` the dates differ
        by station: ``start``/``end`` are then days since each station's first occasion).
    individuals : ``session, individual`` in secr's order (numeric IDs numerically).
    records : every input row: ``row, session, station, individual, time, occasion, status,
        reason`` (``status``: used / excluded / filtered / ignored).
    issues : ``row, stage, severity, reason`` -- what was left out or looks wrong, and why.
    detector_type : ``"proximity"`` (binary) or ``"count"``.
    settings : the arguments used (with camtrapR's names alongside).
    """

    detections: pd.DataFrame
    usage: dict
    traps: pd.DataFrame
    occasions: pd.DataFrame
    individuals: pd.DataFrame
    records: pd.DataFrame
    issues: pd.DataFrame
    detector_type: str
    settings: dict = field(default_factory=dict)
    station_table: StationTable | None = field(default=None, repr=False)
    raw_detections: pd.DataFrame | None = field(default=None, repr=False)

    # ---- access -------------------------------------------------------------------
    @property
    def sessions(self) -> list:
        return list(self.usage.keys())

    def _sess(self, session):
        if session is None:
            if len(self.sessions) != 1:
                raise ValueError(f"several sessions ({', '.join(self.sessions)}): say which with session=")
            return self.sessions[0]
        session = str(session)
        if session not in self.usage:
            raise ValueError(f"no session {session!r}; sessions are {', '.join(self.sessions)}")
        return session

    def usage_matrix(self, session=None) -> pd.DataFrame:
        """Usage (days of effort) of one session: detectors x occasions."""
        return self.usage[self._sess(session)]

    def array(self, session=None, order: str = "ikj", augment_to: int | None = None,
              dtype=np.int32) -> np.ndarray:
        """Dense detection array of one session.

        ``order="ikj"``: individual x occasion x detector (secr's ``capthist``);
        ``"ijk"``: individual x detector x occasion (oSCR, nimble/JAGS ``y[i,j,k]``).
        ``augment_to`` appends all-zero rows up to M individuals (data augmentation).
        """
        s = self._sess(session)
        ind = self.individuals[self.individuals.session == s].individual.tolist()
        u = self.usage[s]
        J, K = u.shape
        n = len(ind)
        M = n if augment_to is None else int(augment_to)
        if M < n:
            raise ValueError(f"augment_to={M} is smaller than the {n} individuals detected")
        d = self.detections[self.detections.session == s]
        ii = pd.Index(ind).get_indexer(d.individual)
        jj = pd.Index(u.index).get_indexer(d.detector)
        kk = d.occasion.to_numpy() - 1
        if order == "ikj":
            a = np.zeros((M, K, J), dtype=dtype)
            a[ii, kk, jj] = d["count"].to_numpy()
        elif order == "ijk":
            a = np.zeros((M, J, K), dtype=dtype)
            a[ii, jj, kk] = d["count"].to_numpy()
        else:
            raise ValueError("order must be 'ikj' (secr) or 'ijk' (oSCR / nimble)")
        return a

    # ---- summaries ----------------------------------------------------------------
    def counts_by_occasion(self, session=None) -> pd.DataFrame:
        """secr's "Counts by occasion" table (n, u, f, M(t+1), losses, detections, detectors
        visited, detectors used), occasions as columns plus Total."""
        s = self._sess(session)
        u = self.usage[s]
        K = u.shape[1]
        d = self.detections[self.detections.session == s]
        occ = np.arange(1, K + 1)
        by_io = d.groupby(["individual", "occasion"], observed=True).size().reset_index()[["individual", "occasion"]]
        n_t = by_io.groupby("occasion").size().reindex(occ, fill_value=0).to_numpy()
        firsts = by_io.groupby("individual", observed=True).occasion.min()
        u_t = firsts.value_counts().reindex(occ, fill_value=0).to_numpy()
        nocc = by_io.groupby("individual", observed=True).size()
        f_t = nocc.value_counts().reindex(occ, fill_value=0).to_numpy()
        M = np.cumsum(u_t)
        det = d.groupby("occasion")["count"].sum().reindex(occ, fill_value=0).to_numpy()
        visited = d.groupby("occasion").detector.nunique().reindex(occ, fill_value=0).to_numpy()
        used = (u.to_numpy() > 0).sum(axis=0)
        tab = pd.DataFrame([n_t, u_t, f_t, M, np.zeros(K, dtype=int), det, visited, used],
                           index=["n", "u", "f", "M(t+1)", "losses", "detections", "detectors visited",
                                  "detectors used"], columns=[str(k) for k in occ])
        tab["Total"] = [n_t.sum(), u_t.sum(), f_t.sum(), M[-1] if K else 0, 0, det.sum(), visited.sum(), used.sum()]
        return tab

    def summary(self) -> pd.DataFrame:
        """One row per session: individuals, detections, occasions, detectors (stations)
        used, total effort (trap-days), records used / left out."""
        rows = []
        for s in self.sessions:
            u = self.usage[s]
            d = self.detections[self.detections.session == s]
            rec = self.records[self.records.session == s]
            rows.append(dict(session=s, detector=self.detector_type,
                             individuals=int(d.individual.nunique()), detections=int(d["count"].sum()),
                             occasions=u.shape[1], stations=u.shape[0],
                             stations_used=int((u.to_numpy().sum(axis=1) > 0).sum()),
                             stations_with_detections=int(d.detector.nunique()),
                             effort_days=float(u.to_numpy().sum()),
                             records_used=int((rec.status == "used").sum())))
        out = pd.DataFrame(rows)
        out.attrs["records_left_out"] = int((self.records.status != "used").sum())
        return out

    def __repr__(self):
        lines = [f"<CaptureHistory {self.detector_type}, {len(self.sessions)} session(s)>"]
        for r in self.summary().itertuples(index=False):
            lines.append(f"  session {r.session}: {r.individuals} individuals, {r.detections} detections, "
                         f"{r.occasions} occasions x {r.stations} stations ({r.stations_used} used), "
                         f"{r.effort_days:g} trap-days")
        left = int((self.records.status != "used").sum())
        if left:
            lines.append(f"  {left} record(s) not used: see the issues")
        return "\n".join(lines)

    # ---- export shortcuts -----------------------------------------------------------
    def write(self, out_dir, formats=("secr",), **kwargs) -> dict:
        """Write the chosen formats to ``out_dir`` (see :func:`lynxid.export.write_formats`)."""
        from .export import write_formats
        return write_formats(self, out_dir, formats, **kwargs)


def capture_history(detections, stations, *, occasion_length: float = 1, day1: str = "survey",
                    occasion_start_time: float = 0, buffer_days: int = 0, max_days: float | None = None,
                    output: str = "binary", drop_empty_occasions: bool = True,
                    all_cams_on: bool = False, cameras_independent: bool = False,
                    min_delta_minutes: float = 0, delta_compared_to: str = "last_independent",
                    remove_duplicates: bool = False, species=None, tz: str | None = None, time_format: str | None = None,
                    station_col=None, time_col=None, individual_col=None, camera_col=None, species_col=None,
                    unknown_stations: str = "error", strict: bool = False,
                    station_options: dict | None = None, semantics: str = "camtrapR") -> CaptureHistory:
    """Build a capture history from detections and a station table.

    Parameters (camtrapR's ``spatialDetectionHistory`` / ``cameraOperation`` names in brackets)
    ----------
    detections : path (CSV/Parquet) or DataFrame: lynxid ``identify`` output or a camtrapR
        record table [``recordTableIndividual``].
    stations : path, DataFrame or :class:`~lynxid.stations.StationTable` [``CTtable``];
        ``station_options`` go to :func:`~lynxid.stations.read_stations` (``station_col``,
        ``x_col``, ``y_col``, ``setup_col``, ``retrieval_col``, ``camera_col``,
        ``session_col``, ``has_problems``, ``date_format``, ``covariate_cols``).
    occasion_length : days per occasion [``occasionLength``] (fractions allowed, e.g. 0.5, with
        ``semantics="exact"``).
    day1 : ``"survey"``, ``"station"`` or a date ``"YYYY-MM-DD"`` [``day1``].
    occasion_start_time : hour of day occasions begin [``occasionStartTime``].
    buffer_days : days after each station's setup day before its first occasion [``buffer``].
    max_days : at most this many days per station [``maxNumberDays``].
    output : ``"binary"`` (secr ``proximity``) or ``"count"`` (secr ``count``) [``output``].
    drop_empty_occasions : drop occasions with no effort at any station (camtrapR always does).
    all_cams_on, cameras_independent : several cameras per station [``allCamsOn``,
        ``camerasIndependent``].
    min_delta_minutes, delta_compared_to : keep only independent records, per station and
        individual [``minDeltaTime``, ``deltaTimeComparedTo`` of ``recordTableIndividual``];
        0 = use every record as it is (like ``spatialDetectionHistory``). Records with the
        same time as an independent record count too (camtrapR's rule); see remove_duplicates.
    remove_duplicates : first drop records of the same individual at the same station (and
        camera, with ``cameras_independent``) with the same time, e.g. the twin images of a
        camera pair [``removeDuplicateRecords`` of ``recordTable``].
    species : keep this species only [``species``, ``speciesCol``].
    tz : survey time zone for local days [``timeZone``].
    time_format : format of the record times [``recordDateTimeFormat``].
    unknown_stations : ``"error"`` (default, like camtrapR) or ``"exclude"`` (leave out and
        report) for records at stations missing from the station table.
    strict : raise if any record would be left out.
    semantics : ``"camtrapR"`` (default): camtrapR's rules, quirks included, so the result equals
        camtrapR's ``spatialDetectionHistory`` cell for cell (see :mod:`lynxid.camtrapr`);
        ``"exact"``: lynxid's exact time line (effort to the nanosecond, several cameras as the
        union of their working time, half-open occasions [start, end), each session's grid
        from its own first setup day).
    """
    if output not in ("binary", "count"):
        raise ValueError("output must be 'binary' (proximity detectors) or 'count' (count detectors)")
    if not occasion_length or occasion_length <= 0:
        raise ValueError("occasion_length must be a positive number of days (camtrapR occasionLength)")
    if not 0 <= occasion_start_time < 24:
        raise ValueError("occasion_start_time must be an hour of day, 0 <= h < 24")
    if buffer_days and buffer_days < 0:
        raise ValueError("buffer_days must be >= 0")
    if max_days is not None and max_days <= 0:
        raise ValueError("max_days must be positive")
    if unknown_stations not in ("error", "exclude"):
        raise ValueError("unknown_stations must be 'error' or 'exclude'")
    camtrapr_rules = check_semantics(semantics) == "camtrapR"
    log = ProblemLog()
    st = read_stations(stations, tz=tz, **(station_options or {}))
    log.extend(st.issues)
    rec, meta = read_detections(detections, station_col=station_col, time_col=time_col,
                                individual_col=individual_col, camera_col=camera_col, species_col=species_col,
                                species=species, time_format=time_format, tz=tz, log=log)
    units = operating_intervals(st, all_cams_on=all_cams_on, cameras_independent=cameras_independent)
    ut = units.table
    n_units = len(ut)
    sess_list = st.sessions
    sess_code_of = {s: i for i, s in enumerate(sess_list)}
    u_sess = ut.session.map(sess_code_of).to_numpy()
    n_sess = len(sess_list)
    L = int(round(occasion_length * DAY_NS))
    h_ns = int(round(occasion_start_time * HOUR_NS))

    # ---- occasion grid per unit and usage -----------------------------------------------
    setup = ut.setup.to_numpy(np.int64)
    retr = ut.retrieval.to_numpy(np.int64)
    if day1 not in ("survey", "station"):
        try:
            d1 = pd.Timestamp(str(day1))
        except ValueError:
            raise ValueError(f"day1 must be 'survey', 'station' or a date like '2025-02-01', not {day1!r}") from None
        if buffer_days:
            raise ValueError("buffer_days works with day1='survey' or 'station' only (as camtrapR's buffer)")
        if int(d1.normalize().value) + h_ns >= retr.max():
            raise ValueError(f"day1 {day1} is after the last retrieval ({pd.Timestamp(retr.max())})")
    if camtrapr_rules:
        grid = day_grid(st, units.dep_unit, n_units, units.combined, occasion_start_time=occasion_start_time,
                        all_cams_on=all_cams_on, cameras_independent=cameras_independent)
        plan = occasion_plan(grid, occasion_length=occasion_length, day1=day1, buffer_days=buffer_days,
                             max_days=max_days, tz=meta["tz"])
        origin, usage_full, Kmax, L = plan.origin_local, plan.usage, plan.K, plan.length_ns
        K_sess = np.full(n_sess, Kmax, dtype=np.int64)
    else:
        origin, window_start, window_end, K_sess, usage_full = _exact_grid(
            units, u_sess, n_sess, L, h_ns, day1, buffer_days, max_days)
        Kmax = int(K_sess.max())

    # ---- records -> units (all on integer codes: no per-record Python) -----------------------
    STATUS = ["used", "excluded", "filtered"]
    REASONS = ["", "missing value (see issues)", "unknown station",
               "outside every session's deployment", "duplicate (remove_duplicates)",
               "not independent (min_delta_minutes)", "before the first occasion", "after the station's last day",
               "after the last occasion", "occasion without effort at the station", "other species"]
    n_rec = len(rec)
    valid = rec.ok.to_numpy().copy()
    status = np.where(valid, 0, 1).astype(np.int8)
    reason = np.where(valid, 0, 1).astype(np.int8)
    if "other_species" in rec:
        reason[rec["other_species"].to_numpy(bool)] = REASONS.index("other species")
    rows = rec.row.to_numpy()
    st_code, st_uniq = pd.factorize(rec.station)
    st_uniq = np.asarray(st_uniq, dtype=object)
    id_code, id_uniq = pd.factorize(rec.individual)
    id_uniq = np.asarray(id_uniq, dtype=object)
    has_cam = meta["camera_col"] is not None
    cam_code, cam_uniq = pd.factorize(rec.camera) if has_cam else (np.full(n_rec, -1), np.array([], dtype=object))
    cam_uniq = np.asarray(cam_uniq, dtype=object)
    r_time = rec.time.to_numpy("datetime64[ns]").view(np.int64)

    def stn(idx):
        return st_uniq[st_code[idx]]

    def set_status(idx, st_, why):
        status[idx] = st_
        reason[idx] = REASONS.index(why)
        valid[idx] = False

    unit_of = np.full(n_rec, -1, dtype=np.int64)
    uniq_known = pd.Index(st_uniq).isin(set(ut.station)) if len(st_uniq) else np.array([], dtype=bool)
    st_known = np.zeros(n_rec, dtype=bool)
    has_st = st_code >= 0
    st_known[has_st] = uniq_known[st_code[has_st]]
    unknown = valid & ~st_known
    if unknown.any():
        names = pd.Series(stn(np.flatnonzero(unknown))).value_counts()
        msg = ", ".join(f"{k!r} ({v} records)" for k, v in names.head(10).items())
        if unknown_stations == "error":
            ex = ", ".join(map(str, rows[unknown][:10]))
            raise ValueError(f"{meta['source']}: {int(unknown.sum())} record(s) at station(s) not in the station table: "
                             f"{msg}; rows {ex}{' ...' if unknown.sum() > 10 else ''}. Add the stations to the station "
                             "table, correct the names, or pass unknown_stations='exclude' (command line: --unknown-stations "
                             "exclude) to leave these records out (they are then listed in the issues).")
        idx = np.flatnonzero(unknown)
        log.add(rows[idx], "records", "excluded", ("station " + _q(stn(idx)) + " is not in the station table").to_numpy())
        set_status(idx, 1, "unknown station")
    if n_sess == 1:
        lut = pd.Series(ut.unit.to_numpy(), index=ut.station.to_numpy()).reindex(st_uniq).fillna(-1).to_numpy(np.int64)
        vi = np.flatnonzero(valid)
        unit_of[vi] = lut[st_code[vi]]
    else:
        code_of_station = pd.Series(np.arange(len(st_uniq)), index=st_uniq)
        uc = code_of_station.reindex(ut.station.to_numpy()).fillna(-1).to_numpy(np.int64)
        vi = np.flatnonzero(valid)
        cand = pd.DataFrame({"i": vi, "c": st_code[vi], "t": r_time[vi]}).merge(
            pd.DataFrame({"c": uc, "unit": ut.unit.to_numpy(), "a": day_floor(setup, h_ns),
                          "b": day_floor(retr - 1, h_ns) + DAY_NS, "sess": u_sess}), on="c")
        if camtrapr_rules:     # the session whose camera operation has a value on the record's date
            inside = operating_on(grid, cand.unit.to_numpy(), cand.t.to_numpy())
        else:                  # the session whose deployment (extended to whole days) holds the time
            inside = ((cand.t >= cand.a) & (cand.t < cand.b)).to_numpy()
        cand = cand[inside].sort_values(["i", "sess"])
        multi = cand.i.duplicated(keep=False)
        if multi.any():
            log.add(rows[cand[multi].i.unique()], "records", "warning",
                    "the time falls in two sessions of this station; the first is used")
        cand = cand.drop_duplicates("i")
        unit_of[cand.i.to_numpy()] = cand.unit.to_numpy()
        outside = np.flatnonzero(valid & (unit_of < 0))
        if outside.size:
            log.add(rows[outside], "records", "excluded",
                    ("taken at " + _ts(r_time[outside]) + " when station " + _q(stn(outside))
                     + " was not deployed in any session").to_numpy())
            set_status(outside, 1, "outside every session's deployment")

    # ---- camera IDs known? ----------------------------------------------------------------
    if st.has_cameras and has_cam:
        dep = st.deployments
        known_pairs = set(zip(dep.station.astype(str), dep.camera.astype(str)))
        ci = np.flatnonzero(valid & (cam_code >= 0))
        if ci.size:
            pair = st_code[ci].astype(np.int64) * max(len(cam_uniq), 1) + cam_code[ci]
            up, inv = np.unique(pair, return_inverse=True)
            ok_pair = np.array([(str(st_uniq[v // max(len(cam_uniq), 1)]), str(cam_uniq[v % max(len(cam_uniq), 1)]))
                                in known_pairs for v in up], dtype=bool)      # loop over distinct pairs only
            idx = ci[~ok_pair[inv]]
            if idx.size:
                log.add(rows[idx], "records", "warning",
                        ("camera " + pd.Series(cam_uniq[cam_code[idx]]).astype(str) + " is not listed for station "
                         + pd.Series(stn(idx)).astype(str) + " in the station table; the record counts for the station"
                         ).to_numpy())

    # ---- duplicates and temporal independence ------------------------------------------
    n_id = max(len(id_uniq), 1)
    n_cam = max(len(cam_uniq), 1)
    use_cam = bool(cameras_independent and has_cam)
    if remove_duplicates:
        vi = np.flatnonzero(valid)
        key = pd.DataFrame({"s": st_code[vi], "i": id_code[vi], "t": r_time[vi]})
        if use_cam:
            key["c"] = cam_code[vi]
        dup = vi[key.duplicated().to_numpy()]
        if dup.size:
            log.add(rows[dup], "records", "filtered", "same individual, station and time as an earlier record "
                    "(remove_duplicates, camtrapR removeDuplicateRecords)")
            set_status(dup, 2, "duplicate (remove_duplicates)")
    if min_delta_minutes and min_delta_minutes > 0:
        vi = np.flatnonzero(valid)
        gcode = st_code[vi].astype(np.int64) * n_id + id_code[vi]
        if use_cam:
            gcode = gcode * (n_cam + 1) + (cam_code[vi] + 1)
        ind = independent_records(pd.factorize(gcode)[0], r_time[vi], min_delta_minutes, delta_compared_to)
        drop = vi[~ind]
        if drop.size:
            log.add(rows[drop], "records", "filtered",
                    f"within {min_delta_minutes:g} min of the previous independent record of this individual at this "
                    f"station (min_delta_minutes, camtrapR minDeltaTime)")
            set_status(drop, 2, "not independent (min_delta_minutes)")

    # ---- occasions of records ---------------------------------------------------------
    vi = np.flatnonzero(valid)
    u_r = unit_of[vi]
    t_r = r_time[vi]
    if camtrapr_rules:
        oc = record_occasions(plan, u_r, to_real(t_r, meta["tz"]))
        k_r, before, after, beyond, zero = oc["k"], oc["before"], oc["after"], oc["beyond"], oc["no_effort"]
        last_day = plan.end
        if oc["at_origin"].any():
            log.add(rows[vi[oc["at_origin"]]], "records", "warning",
                    "taken at the very first instant of the occasion grid: camtrapR's ceiling() gives it occasion 0 "
                    "(spatialDetectionHistory stops with an error there); lynxid counts it in occasion 1")
    else:
        k_r = (t_r - origin[u_r]) // L
        last_day = day_floor(retr - 1, h_ns) + DAY_NS          # end of the retrieval day
        before = t_r < window_start[u_r]
        after = ~before & ((t_r >= window_end[u_r]) | (t_r >= last_day[u_r]))
        beyond = ~before & ~after & (k_r >= K_sess[u_sess[u_r]])
        zero = ~before & ~after & ~beyond & (usage_full[u_r, np.clip(k_r, 0, Kmax - 1)] <= 0)

    def exclude(mask, why, short):
        idx = vi[mask]
        if idx.size:
            log.add(rows[idx], "records", "excluded", why(idx))
            set_status(idx, 1, short)

    label = ut.station.to_numpy(object)
    exclude(before, lambda idx: ("taken at " + _ts(r_time[idx]) + ", before the first occasion at station "
                                 + _q(stn(idx)) + f" (day1={day1!r}"
                                 + (f", buffer_days={buffer_days}" if buffer_days else "") + ")").to_numpy(),
            "before the first occasion")
    exclude(after, lambda idx: ("taken at " + _ts(r_time[idx]) + ", after the last day of station " + _q(stn(idx))
                                + " (retrieved " + _ts(retr[unit_of[idx]]) + ")"
                                + (f" or after max_days={max_days}" if max_days is not None else "")).to_numpy(),
            "after the station's last day")
    exclude(beyond, lambda idx: ("taken at " + _ts(r_time[idx]) + ", after the last occasion (station "
                                 + _q(stn(idx)) + " retrieved " + _ts(retr[unit_of[idx]]) + ")").to_numpy(),
            "after the last occasion")
    k_of = np.zeros(n_rec, dtype=np.int64)
    k_of[vi] = k_r
    exclude(zero, lambda idx: ("taken at " + _ts(r_time[idx]) + " in occasion " + pd.Series(k_of[idx] + 1).astype(str)
                               + " (numbered before empty occasions are dropped), in which station " + _q(stn(idx))
                               + " had no effort (not deployed or not working)").to_numpy(),
            "occasion without effort at the station")
    good = ~(before | after | beyond | zero)
    # kept, but outside the exact working time (camera clock or station table wrong?)
    if good.any():
        wg, ws, we, _ = units.work
        wu_g, wu_s, wu_e = sweep_intervals(wg, ws, we, np.zeros(len(wg), dtype=np.int64), 1, lambda c, g: c[:, 0] >= 1)
        q = pd.DataFrame({"unit": u_r[good], "t": t_r[good], "i": vi[good]}).sort_values("t")
        iv = pd.DataFrame({"unit": wu_g, "t": wu_s, "e": wu_e}).sort_values("t")
        mm = pd.merge_asof(q, iv, on="t", by="unit", direction="backward")
        off = mm[~(mm.e > mm.t)]
        del q, iv, mm
        if len(off):
            log.add(rows[off.i.to_numpy()], "records", "warning",
                    ("taken at " + _ts(off.t.to_numpy()) + " when the station table says the camera(s) at "
                     + _q(label[off.unit.to_numpy()]) + " were not working (before setup, after retrieval or in a "
                     "Problem period); kept because the occasion has effort -- check the station table and the "
                     "camera clock").to_numpy())

    # ---- empty occasions -------------------------------------------------------------------
    occ_keep = {}
    for s in range(n_sess):
        us = np.flatnonzero(u_sess == s)
        Ks = int(K_sess[s])
        col_sum = usage_full[us, :Ks].sum(axis=0) if us.size else np.zeros(Ks)
        kp = np.flatnonzero(col_sum > 0) if drop_empty_occasions else np.arange(Ks)
        occ_keep[s] = kp
        if drop_empty_occasions and len(kp) < Ks:
            log.add("-", "occasions", "info", f"session {sess_list[s]}: {Ks - len(kp)} occasion(s) without effort at "
                    "any station dropped and the rest renumbered (drop_empty_occasions)")
    empty = [str(sess_list[s]) for s in range(n_sess) if not (usage_full[u_sess == s] > 0).any()]
    if empty:
        # secr would read such a session as one fully used occasion without captures, pulling a
        # shared density down; camtrapR drops it. Say so rather than guess which the user meant.
        raise ValueError(f"session(s) {', '.join(empty)} have no occasion with effort (day1 / buffer_days / "
                         "max_days leave nothing of them): remove their stations from the station table or "
                         "change day1")
    newk = np.full((n_sess, Kmax), -1, dtype=np.int64)
    for s, kp in occ_keep.items():
        newk[s, kp] = np.arange(len(kp))

    # ---- assemble ----------------------------------------------------------------------------
    gi = vi[good]
    del u_r, t_r, k_r, before, after, beyond, zero, good
    g_unit = unit_of[gi]
    g_sess = u_sess[g_unit]
    g_k = newk[g_sess, k_of[gi]]
    # individuals in secr's order (numeric IDs numerically), one code space for all sessions
    used_ids = np.unique(id_code[gi])
    ordered = _secr_order(id_uniq[used_ids].astype(str).tolist())
    rank_of_code = np.full(len(id_uniq) + 1, -1, dtype=np.int64)
    pos = pd.Index(ordered)
    rank_of_code[used_ids] = pos.get_indexer(id_uniq[used_ids].astype(str))
    g_ind = rank_of_code[id_code[gi]]
    # detector index within its session: units are in station-table order
    det_in_sess = np.zeros(n_units, dtype=np.int64)
    for s in range(n_sess):
        us = np.flatnonzero(u_sess == s)
        det_in_sess[us] = np.arange(us.size)
    J = int(np.bincount(u_sess).max())
    n_ord = max(len(ordered), 1)
    Kk = max(Kmax, 1)
    key = ((g_sess.astype(np.int64) * n_ord + g_ind) * Kk + g_k) * J + det_in_sess[g_unit]
    del g_sess, g_ind, g_unit
    ukey, cnt = np.unique(key, return_counts=True)        # sorted: session, individual, occasion, detector
    del key
    det_j = (ukey % J).astype(np.int32)
    ukey //= J
    occ_k = (ukey % Kk).astype(np.int32)
    ukey //= Kk
    ind_c = (ukey % n_ord).astype(np.int32)
    sess_c = (ukey // n_ord).astype(np.int32)
    del ukey
    if output == "binary":
        cnt = np.ones_like(cnt)
    unit_by = np.full((n_sess, J), -1, dtype=np.int64)
    unit_by[u_sess, det_in_sess] = np.arange(n_units)
    dunit = unit_by[sess_c, det_j]
    det_cats, det_code_of_unit = _unique_in_order(ut.station.to_numpy(object))
    detections = pd.DataFrame({
        "session": pd.Categorical.from_codes(sess_c, categories=sess_list),
        "individual": pd.Categorical.from_codes(ind_c, categories=ordered if ordered else []),
        "occasion": (occ_k + 1).astype(np.int64),
        "detector": pd.Categorical.from_codes(det_code_of_unit[dunit], categories=det_cats),
        "count": cnt.astype(np.int64)})
    # individuals per session, in secr's order
    pairs = np.unique(sess_c.astype(np.int64) * n_ord + ind_c)
    individuals = pd.DataFrame({"session": np.asarray(sess_list, dtype=object)[pairs // n_ord],
                                "individual": np.asarray(ordered, dtype=object)[pairs % n_ord] if ordered else
                                np.array([], dtype=object)})

    usage, occ_rows, trap_rows = {}, [], []
    for s in range(n_sess):
        us = np.flatnonzero(u_sess == s)
        kp = occ_keep[s]
        name = sess_list[s]
        usage[name] = pd.DataFrame(usage_full[np.ix_(us, kp)], index=pd.Index(ut.station.to_numpy()[us], name="detector"),
                                   columns=[f"o{i + 1}" for i in range(len(kp))])
        if day1 == "station":
            occ_rows.append(pd.DataFrame({"session": name, "occasion": np.arange(1, len(kp) + 1),
                                          "start": kp * occasion_length, "end": (kp + 1) * occasion_length}))
        else:
            o = int(origin[us[0]]) if us.size else 0
            occ_rows.append(pd.DataFrame({"session": name, "occasion": np.arange(1, len(kp) + 1),
                                          "start": pd.to_datetime(o + kp * L), "end": pd.to_datetime(o + (kp + 1) * L)}))
        tr = pd.DataFrame({"session": name, "detector": ut.station.to_numpy()[us], "x": ut.x.to_numpy()[us],
                           "y": ut.y.to_numpy()[us], "first_occasion_start": pd.to_datetime(origin[us])})
        if st.covariates:
            cov = st.deployments.drop_duplicates(["session", "station"]).set_index(["session", "station"])[st.covariates]
            tr = tr.join(cov, on=["session", "detector"])
        trap_rows.append(tr)
    occasions = pd.concat(occ_rows, ignore_index=True)
    traps = pd.concat(trap_rows, ignore_index=True)

    # per-record table
    rec_sess = np.where(unit_of >= 0, u_sess[np.maximum(unit_of, 0)], -1)
    rec_occ = np.zeros(n_rec, dtype=np.int64)
    rec_occ[gi] = g_k + 1
    occ_col = pd.array(rec_occ, dtype="Int64")
    occ_col[rec_occ <= 0] = pd.NA
    records = pd.DataFrame({"row": rows, "session": pd.Categorical.from_codes(rec_sess, categories=sess_list),
                            "station": rec.station, "camera": rec.camera, "individual": rec.individual,
                            "time": rec.time, "occasion": occ_col,
                            "status": pd.Categorical.from_codes(status, categories=STATUS),
                            "reason": pd.Categorical.from_codes(reason, categories=REASONS)})
    issues = log.table()
    settings = dict(occasion_length=occasion_length, day1=day1, occasion_start_time=occasion_start_time,
                    buffer_days=buffer_days, max_days=max_days, output=output,
                    drop_empty_occasions=drop_empty_occasions, all_cams_on=all_cams_on,
                    cameras_independent=cameras_independent, min_delta_minutes=min_delta_minutes,
                    delta_compared_to=delta_compared_to, remove_duplicates=remove_duplicates,
                    species=species, tz=meta["tz"], semantics=semantics,
                    columns={k: meta[k] for k in ("station_col", "time_col", "individual_col", "camera_col", "species_col")},
                    detections_source=meta["source"], stations_source=st.source)
    ch = CaptureHistory(detections=detections, usage=usage, traps=traps, occasions=occasions,
                        individuals=individuals, records=records, issues=issues,
                        detector_type="proximity" if output == "binary" else "count", settings=settings,
                        station_table=st, raw_detections=meta["frame"])
    if strict:
        left = issues[issues.severity.isin(["excluded", "error"])]
        if len(left):
            lines = "\n".join(f"  row {r}: {m}" for r, m in zip(left.row.head(20), left.reason.head(20)))
            raise ValueError(f"strict=True: {len(left)} record(s) would be left out:\n{lines}")
    return ch


def _exact_grid(units, u_sess, n_sess, L, h_ns, day1, buffer_days, max_days):
    """semantics="exact": each unit's occasion window, each session's grid from its first setup
    day (or the given date) and the exact working time per unit and occasion."""
    ut = units.table
    n_units = len(ut)
    setup = ut.setup.to_numpy(np.int64)
    retr = ut.retrieval.to_numpy(np.int64)
    if day1 in ("survey", "station"):
        window_start = day_floor(setup, h_ns) + int(buffer_days) * DAY_NS
    else:
        window_start = np.full(n_units, int(pd.Timestamp(str(day1)).normalize().value) + h_ns, dtype=np.int64)
    window_end = (window_start + int(round(max_days * DAY_NS)) if max_days is not None
                  else np.full(n_units, _INT64_MAX, dtype=np.int64))
    if day1 == "survey":      # one grid per session, from its first station's setup day
        first = np.full(n_sess, _INT64_MAX, dtype=np.int64)
        np.minimum.at(first, u_sess, window_start)
        origin = first[u_sess]
    else:                     # each station's own setup day, or the given date
        origin = window_start.copy()
    end_eff = np.minimum(retr, window_end)
    n_occ_unit = np.where(end_eff > origin, -((origin - end_eff) // L), 0)    # ceil
    K_sess = np.zeros(n_sess, dtype=np.int64)
    np.maximum.at(K_sess, u_sess, n_occ_unit)
    Kmax = int(K_sess.max()) if n_sess else 0
    if Kmax == 0:
        raise ValueError("no occasion has any effort: check day1, buffer_days and the station dates")
    wg, ws, we, ww = units.work
    ws2 = np.maximum(ws, window_start[wg])
    we2 = np.minimum(we, window_end[wg])
    keep = we2 > ws2
    usage_full = bin_effort(wg[keep], ws2[keep], we2[keep], ww[keep], origin, L, Kmax, n_units)
    usage_full[np.arange(Kmax)[None, :] >= K_sess[u_sess][:, None]] = 0.0     # beyond each session's K
    return origin, window_start, window_end, K_sess, usage_full


def _unique_in_order(values) -> tuple[list, np.ndarray]:
    codes, uniq = pd.factorize(pd.Series(values, dtype=object))
    return list(uniq), codes


def _ts(ns) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(ns, dtype=np.int64))).dt.strftime("%Y-%m-%d %H:%M:%S")


def _q(values) -> pd.Series:
    return "'" + pd.Series(np.asarray(values, dtype=object)).astype(str) + "'"


def _secr_order(ids: list) -> list:
    """secr sorts animal IDs numerically when all are numbers, else as text (make.capthist)."""
    try:
        return sorted(ids, key=lambda v: float(v))
    except ValueError:
        return sorted(ids)


# R interop lives in lynxid.rinterop (shared by every R front end); re-exported here for
# code written against the earlier location.
from .rinterop import from_r_columns, to_r, to_r_columns  # noqa: E402,F401
