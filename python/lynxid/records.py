"""Records (detections of identified animals) on their way into a capture history.

:func:`read_detections` reads lynxid's ``identify`` output or a camtrapR record table;
:class:`RecordLog` then follows every record through the phases of
:func:`lynxid.capture.capture_history` -- its station and session (:func:`assign_units`),
camtrapR's duplicate and independence filters (:func:`drop_duplicates`,
:func:`keep_independent`), its occasion (:func:`assign_occasions`) -- and keeps, for each
record left out, the reason, so that ``CaptureHistory.records`` and ``.issues`` can say what
happened to every row of the input. Everything runs on integer codes, never a Python loop
per record: surveys have hundreds of thousands of them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import sweep_intervals
from .issues_log import IssuesLog
from .occasions import OccasionGrid
from .stations import StationTable
from .tables import read_user_table, text_ids
from .times import parse_record_times

__all__ = ["DETECTION_COLUMNS", "pick_column", "read_detections", "independent_records", "RecordLog", "assign_units",
           "check_cameras", "drop_duplicates", "keep_independent", "assign_occasions", "record_media", "STATUS",
           "REASONS"]

# accepted column names, lynxid's own first, then camtrapR's
DETECTION_COLUMNS = {
    "station": ["station", "Station"],
    "time": ["timestamp", "DateTimeOriginal", "datetime", "DateTime", "date_time"],
    "individual": ["individual_id", "Individual", "individual", "individual_tag", "individualID"],
    "camera": ["camera", "Camera"],
    "species": ["species", "Species", "species_tag"],
}
STATUS = ["used", "excluded", "filtered"]
REASONS = ["", "missing value (see issues)", "unknown station",
           "outside every session's deployment", "duplicate (remove_duplicates)",
           "not independent (min_delta_minutes)", "before the first occasion", "after the station's last day",
           "after the last occasion", "occasion without effort at the station", "other species", "other flank",
           "flank unknown"]


def pick_column(cols, wanted, kind, required=True, name="detections", candidates=None, hint=None):
    """The column of ``kind`` among ``cols``: ``wanted`` if given (it must exist), else the first
    of ``candidates[kind]`` (default :data:`DETECTION_COLUMNS`) present, exactly then ignoring
    case; None when not required and absent. ``hint`` ends the error (default: name it with
    ``<kind>_col=``)."""
    candidates = DETECTION_COLUMNS if candidates is None else candidates
    if wanted is not None:
        if wanted not in cols:
            raise ValueError(f"{name}: {kind} column {wanted!r} not found; columns are: {', '.join(map(str, cols))}")
        return wanted
    for c in candidates[kind]:
        if c in cols:
            return c
    low = {str(c).lower(): c for c in cols}
    for c in candidates[kind]:
        if c.lower() in low:
            return low[c.lower()]
    if required:
        raise ValueError(f"{name}: no {kind} column found (looked for {', '.join(candidates[kind])}); "
                         f"{hint or f'name it with {kind}_col='}. Columns are: {', '.join(map(str, cols))}")
    return None


def _species_filter(df, spc, species, name, log: IssuesLog) -> np.ndarray:
    sp = df[spc].reset_index(drop=True).astype("string").str.strip()
    want = str(species).strip()
    is_sp = (sp == want).fillna(False).to_numpy(bool)
    if not is_sp.any():
        found = ", ".join(map(str, sp.dropna().unique()[:10]))
        raise ValueError(f"{name}: species {want!r} not found in column {spc!r} (found: {found})")
    if (~is_sp).any():
        log.add("-", "records", "info", f"{int((~is_sp).sum())} record(s) of other species than {want!r} "
                f"(column {spc!r}) are not used")
    return is_sp


def read_detections(detections, *, station_col=None, time_col=None, individual_col=None, camera_col=None,
                    species_col=None, species=None, time_format=None, tz=None,
                    log: IssuesLog | None = None) -> tuple[pd.DataFrame, dict]:
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
    log = log if log is not None else IssuesLog("row")
    df, name = read_user_table(detections, "detections")
    cols = list(df.columns)
    sc = pick_column(cols, station_col, "station", name=name)
    tc = pick_column(cols, time_col, "time", name=name)
    ic = pick_column(cols, individual_col, "individual", name=name)
    cc = pick_column(cols, camera_col, "camera", required=False, name=name) if camera_col is not False else None
    spc = pick_column(cols, species_col, "species", name=name) if species is not None else None
    rows = np.arange(1, len(df) + 1)
    out = pd.DataFrame({"row": rows})
    out["station"] = text_ids(df[sc].reset_index(drop=True)).to_numpy()
    out["individual"] = text_ids(df[ic].reset_index(drop=True)).to_numpy()
    out["camera"] = (text_ids(df[cc].reset_index(drop=True)).to_numpy() if cc else pd.NA)
    raw = df[tc].reset_index(drop=True)
    t, bad, zone = parse_record_times(raw, time_format, tz, name)
    if bad.any():
        b = np.flatnonzero(bad.to_numpy())
        lines = "\n".join(f"  row {rows[i]}: {raw.iloc[i]!r}" for i in b[:15])
        raise ValueError(f"{name}: {len(b)} time(s) in column {tc!r} cannot be read"
                         + (f" with time_format={time_format!r}" if time_format else
                            " (expected ISO 8601 such as 2025-02-03 19:30:00 or 2025-02-03T19:30:00+01:00; "
                            "give time_format, camtrapR's recordDateTimeFormat)") + f":\n{lines}")
    out["time"] = t.to_numpy()
    ok = np.ones(len(df), dtype=bool)
    if spc is not None:
        is_sp = _species_filter(df, spc, species, name, log)
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


_MEDIA_COLUMNS = ("event_id", "probability", "bbox_x", "bbox_y", "bbox_w", "bbox_h")


def record_media(frame: pd.DataFrame) -> pd.DataFrame:
    """Per record (row of the input, in order), the photo it was seen in, as far as the table
    says: ``file_path`` (camtrapR's ``Directory``/``FileName``, or lynxid's ``file``),
    ``event_id``, ``probability`` and the box ``bbox_x, bbox_y, bbox_w, bbox_h`` -- only the
    columns the input has. Camtrap DP's media and observations are written from them."""
    df = frame.reset_index(drop=True)
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    if "Directory" in df.columns and "FileName" in df.columns:
        out["file_path"] = (pd.Series(df.Directory.astype(str).to_numpy()) + "/"
                            + pd.Series(df.FileName.astype(str).to_numpy())).to_numpy()
    else:
        name = next((c for c in ("file", "FileName") if c in df.columns), None)
        if name is not None:
            out["file_path"] = df[name].to_numpy().astype(str).astype(object)
    for c in _MEDIA_COLUMNS:
        if c in df.columns:
            out[c] = df[c].to_numpy()
    return out


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
    first_in_group = np.ones(len(ug), dtype=bool)
    first_in_group[1:] = ug[1:] != ug[:-1]
    if compared_to == "last":
        indep = first_in_group.copy()
        indep[1:] |= (ut[1:] - ut[:-1]) >= delta
    else:
        indep = _chain_from_first(ut, first_in_group, delta)
    res = np.empty(n, dtype=bool)
    res[order] = indep[pair_id]
    return res


def _chain_from_first(ut: np.ndarray, first_in_group: np.ndarray, delta: int) -> np.ndarray:
    """"last_independent": from each group's first record, jump to the first record at least
    ``delta`` later, and so on -- all groups at once, one jump per round."""
    m = len(ut)
    gstart = np.flatnonzero(first_in_group)
    gend = np.append(gstart[1:], m)
    grp_of = np.cumsum(first_in_group) - 1
    rel = ut - ut[gstart[grp_of]]                       # time since the group's first record
    # next[i] = first pair of the same group at least delta after pair i: searchsorted on a
    # monotone key (group offset + relative time)
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
    return indep


# --------------------------------------------------------------------------------------
# what becomes of each record
# --------------------------------------------------------------------------------------
class RecordLog:
    """Every record of the input with its unit (station, or station and session), its
    occasion and, once left out, its status and reason; left-out records are also reported,
    with the full message, in ``issues``. Stations, individuals and cameras are held as
    integer codes (``station_code``, ``individual_code``, ``camera_code``; -1 = missing)."""

    def __init__(self, records: pd.DataFrame, has_camera: bool, issues: IssuesLog):
        self.records = records
        self.issues = issues
        self.row = records.row.to_numpy()
        self.valid = records.ok.to_numpy().copy()
        self.status = np.where(self.valid, 0, 1).astype(np.int8)
        self.reason = np.where(self.valid, 0, 1).astype(np.int8)
        if "other_species" in records:
            self.reason[records["other_species"].to_numpy(bool)] = REASONS.index("other species")
        self.station_code, stations = pd.factorize(records.station)
        self.stations = np.asarray(stations, dtype=object)
        self.individual_code, individuals = pd.factorize(records.individual)
        self.individuals = np.asarray(individuals, dtype=object)
        if has_camera:
            self.camera_code, cameras = pd.factorize(records.camera)
        else:
            self.camera_code, cameras = np.full(len(records), -1), np.array([], dtype=object)
        self.cameras = np.asarray(cameras, dtype=object)
        self.time = records.time.to_numpy("datetime64[ns]").view(np.int64)
        self.unit = np.full(len(records), -1, dtype=np.int64)
        self.occasion = np.zeros(len(records), dtype=np.int64)     # 0-based, before empty ones are dropped

    def __len__(self):
        return len(self.row)

    def in_use(self) -> np.ndarray:
        """Indices of the records not (yet) left out."""
        return np.flatnonzero(self.valid)

    def station_of(self, idx) -> np.ndarray:
        return self.stations[self.station_code[idx]]

    def leave_out(self, idx, status: str, reason: str, severity: str, message):
        """Leave records ``idx`` out (``status`` excluded / filtered) with a short ``reason``
        for the records table and a ``message`` (one, or one per record) for the issues."""
        if len(idx):
            self.issues.add(self.row[idx], "records", severity, message)
            self.status[idx] = STATUS.index(status)
            self.reason[idx] = REASONS.index(reason)
            self.valid[idx] = False

    def table(self, unit_session: np.ndarray, sessions: list, occasion_number: np.ndarray) -> pd.DataFrame:
        """``row, session, station, camera, individual, time, occasion, status, reason``:
        ``occasion_number`` is each record's final occasion (1-based; 0 = none)."""
        rec = self.records
        session = np.where(self.unit >= 0, unit_session[np.maximum(self.unit, 0)], -1)
        occasion = pd.array(occasion_number, dtype="Int64")
        occasion[occasion_number <= 0] = pd.NA
        return pd.DataFrame({"row": self.row, "session": pd.Categorical.from_codes(session, categories=sessions),
                             "station": rec.station, "camera": rec.camera, "individual": rec.individual,
                             "time": rec.time, "occasion": occasion,
                             "status": pd.Categorical.from_codes(self.status, categories=STATUS),
                             "reason": pd.Categorical.from_codes(self.reason, categories=REASONS)})


def _ts(ns) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(ns, dtype=np.int64))).dt.strftime("%Y-%m-%d %H:%M:%S")


def _q(values) -> pd.Series:
    return "'" + pd.Series(np.asarray(values, dtype=object)).astype(str) + "'"


# --------------------------------------------------------------------------------------
# the phases
# --------------------------------------------------------------------------------------
def _leave_out_unknown_stations(log: RecordLog, known: set, unknown_stations: str, source: str):
    has_station = log.station_code >= 0
    is_known = pd.Index(log.stations).isin(known) if len(log.stations) else np.array([], dtype=bool)
    station_known = np.zeros(len(log), dtype=bool)
    station_known[has_station] = is_known[log.station_code[has_station]]
    unknown = log.valid & ~station_known
    if not unknown.any():
        return
    idx = np.flatnonzero(unknown)
    if unknown_stations == "error":
        names = pd.Series(log.station_of(idx)).value_counts()
        msg = ", ".join(f"{k!r} ({v} records)" for k, v in names.head(10).items())
        ex = ", ".join(map(str, log.row[unknown][:10]))
        raise ValueError(f"{source}: {int(unknown.sum())} record(s) at station(s) not in the station table: "
                         f"{msg}; rows {ex}{' ...' if unknown.sum() > 10 else ''}. Add the stations to the station "
                         "table, correct the names, or pass unknown_stations='exclude' (command line: --unknown-stations "
                         "exclude) to leave these records out (they are then listed in the issues).")
    log.leave_out(idx, "excluded", "unknown station", "excluded",
                  ("station " + _q(log.station_of(idx)) + " is not in the station table").to_numpy())


def assign_units(log: RecordLog, grid: OccasionGrid, unknown_stations: str, source: str):
    """Each record's unit: its station's, or with several sessions the unit of the session
    in which the station was out at the record's time (:meth:`OccasionGrid.deployed_at`).
    Records at stations not in the station table are an error or (``unknown_stations=
    "exclude"``) left out."""
    ut = grid.units.table
    _leave_out_unknown_stations(log, set(ut.station), unknown_stations, source)
    vi = log.in_use()
    if len(grid.sessions) == 1:
        lut = pd.Series(ut.unit.to_numpy(), index=ut.station.to_numpy()).reindex(log.stations)
        log.unit[vi] = lut.fillna(-1).to_numpy(np.int64)[log.station_code[vi]]
        return
    code_of_station = pd.Series(np.arange(len(log.stations)), index=log.stations)
    unit_code = code_of_station.reindex(ut.station.to_numpy()).fillna(-1).to_numpy(np.int64)
    cand = pd.DataFrame({"i": vi, "c": log.station_code[vi], "t": log.time[vi]}).merge(
        pd.DataFrame({"c": unit_code, "unit": ut.unit.to_numpy(), "sess": grid.unit_session}), on="c")
    cand = cand[grid.deployed_at(cand.unit.to_numpy(), cand.t.to_numpy())].sort_values(["i", "sess"])
    multi = cand.i.duplicated(keep=False)
    if multi.any():
        log.issues.add(log.row[cand[multi].i.unique()], "records", "warning",
                       "the time falls in two sessions of this station; the first is used")
    cand = cand.drop_duplicates("i")
    log.unit[cand.i.to_numpy()] = cand.unit.to_numpy()
    outside = np.flatnonzero(log.valid & (log.unit < 0))
    log.leave_out(outside, "excluded", "outside every session's deployment", "excluded",
                  ("taken at " + _ts(log.time[outside]) + " when station " + _q(log.station_of(outside))
                   + " was not deployed in any session").to_numpy())


def check_cameras(log: RecordLog, stations: StationTable):
    """Warn about records whose camera the station table does not list for their station."""
    if not stations.has_cameras or len(log.cameras) == 0:
        return
    dep = stations.deployments
    known_pairs = set(zip(dep.station.astype(str), dep.camera.astype(str)))
    ci = np.flatnonzero(log.valid & (log.camera_code >= 0))
    if not ci.size:
        return
    n_cam = max(len(log.cameras), 1)
    pair = log.station_code[ci].astype(np.int64) * n_cam + log.camera_code[ci]
    up, inv = np.unique(pair, return_inverse=True)
    ok_pair = np.array([(str(log.stations[v // n_cam]), str(log.cameras[v % n_cam])) in known_pairs
                        for v in up], dtype=bool)      # loop over distinct pairs only
    idx = ci[~ok_pair[inv]]
    if idx.size:
        log.issues.add(log.row[idx], "records", "warning",
                       ("camera " + pd.Series(log.cameras[log.camera_code[idx]]).astype(str)
                        + " is not listed for station " + pd.Series(log.station_of(idx)).astype(str)
                        + " in the station table; the record counts for the station").to_numpy())


def drop_duplicates(log: RecordLog, by_camera: bool):
    """camtrapR's ``removeDuplicateRecords``: one record per individual, station (camera) and time."""
    vi = log.in_use()
    key = pd.DataFrame({"s": log.station_code[vi], "i": log.individual_code[vi], "t": log.time[vi]})
    if by_camera:
        key["c"] = log.camera_code[vi]
    log.leave_out(vi[key.duplicated().to_numpy()], "filtered", "duplicate (remove_duplicates)", "filtered",
                  "same individual, station and time as an earlier record (remove_duplicates, camtrapR "
                  "removeDuplicateRecords)")


def keep_independent(log: RecordLog, min_delta_minutes: float, compared_to: str, by_camera: bool):
    """camtrapR's ``minDeltaTime``: leave out records too close to the previous independent
    one of the same individual at the same station (camera)."""
    vi = log.in_use()
    group = log.station_code[vi].astype(np.int64) * max(len(log.individuals), 1) + log.individual_code[vi]
    if by_camera:
        group = group * (max(len(log.cameras), 1) + 1) + (log.camera_code[vi] + 1)
    independent = independent_records(pd.factorize(group)[0], log.time[vi], min_delta_minutes, compared_to)
    log.leave_out(vi[~independent], "filtered", "not independent (min_delta_minutes)", "filtered",
                  f"within {min_delta_minutes:g} min of the previous independent record of this individual at this "
                  f"station (min_delta_minutes, camtrapR minDeltaTime)")


def assign_occasions(log: RecordLog, grid: OccasionGrid, tz, *, day1, buffer_days, max_days):
    """Each record's occasion (``log.occasion``); records before their station's first
    occasion, after its last day or the last occasion, or in an occasion without effort at
    their station, are left out, each with its reason."""
    vi = log.in_use()
    unit, t = log.unit[vi], log.time[vi]
    where = grid.locate(unit, t, tz)
    if where["at_origin"].any():
        log.issues.add(log.row[vi[where["at_origin"]]], "records", "warning",
                       "taken at the very first instant of the occasion grid: camtrapR's ceiling() gives it occasion 0 "
                       "(spatialDetectionHistory stops with an error there); lynxid counts it in occasion 1")
    log.occasion[vi] = where["k"]
    retrieval = grid.units.table.retrieval.to_numpy(np.int64)

    def leave_out(mask, reason, message):
        idx = vi[mask]
        if idx.size:
            log.leave_out(idx, "excluded", reason, "excluded", ("taken at " + _ts(log.time[idx]) + message(idx)).to_numpy())

    leave_out(where["before"], "before the first occasion",
              lambda idx: ", before the first occasion at station " + _q(log.station_of(idx)) + f" (day1={day1!r}"
              + (f", buffer_days={buffer_days}" if buffer_days else "") + ")")
    leave_out(where["after"], "after the station's last day",
              lambda idx: ", after the last day of station " + _q(log.station_of(idx)) + " (retrieved "
              + _ts(retrieval[log.unit[idx]]) + ")" + (f" or after max_days={max_days}" if max_days is not None else ""))
    leave_out(where["beyond"], "after the last occasion",
              lambda idx: ", after the last occasion (station " + _q(log.station_of(idx)) + " retrieved "
              + _ts(retrieval[log.unit[idx]]) + ")")
    leave_out(where["no_effort"], "occasion without effort at the station",
              lambda idx: " in occasion " + pd.Series(log.occasion[idx] + 1).astype(str)
              + " (numbered before empty occasions are dropped), in which station " + _q(log.station_of(idx))
              + " had no effort (not deployed or not working)")
    good = ~(where["before"] | where["after"] | where["beyond"] | where["no_effort"])
    _warn_outside_working_time(log, grid, vi[good])


def _warn_outside_working_time(log: RecordLog, grid: OccasionGrid, idx: np.ndarray):
    """Kept, but outside the exact working time: the camera clock or the station table is wrong?"""
    if not idx.size:
        return
    unit, start, stop, _ = grid.units.work
    unit, start, stop = sweep_intervals(unit, start, stop, np.zeros(len(unit), dtype=np.int64), 1,
                                        lambda c, g: c[:, 0] >= 1)
    records = pd.DataFrame({"unit": log.unit[idx], "t": log.time[idx], "i": idx}).sort_values("t")
    working = pd.DataFrame({"unit": unit, "t": start, "e": stop}).sort_values("t")
    off = pd.merge_asof(records, working, on="t", by="unit", direction="backward")
    off = off[~(off.e > off.t)]
    if len(off):
        label = grid.units.table.station.to_numpy(object)
        log.issues.add(log.row[off.i.to_numpy()], "records", "warning",
                       ("taken at " + _ts(off.t.to_numpy()) + " when the station table says the camera(s) at "
                        + _q(label[off.unit.to_numpy()]) + " were not working (before setup, after retrieval or in a "
                        "Problem period); kept because the occasion has effort -- check the station table and the "
                        "camera clock").to_numpy())
