"""Capture histories for (spatial) capture-recapture, as camtrapR's ``spatialDetectionHistory``
builds them -- but exact, explicit about every record it leaves out, and fast.

:func:`capture_history` takes a detections / record table (lynxid's ``identify`` output or a
camtrapR record table, CSV, Parquet or DataFrame) and a station table
(:mod:`lynxid.stations`) and returns a :class:`CaptureHistory`: the detections per
individual x occasion x detector (station), the usage (days of effort) per detector x
occasion, the detector coordinates, the occasions and a table of every issue. The exporters
in :mod:`lynxid.export` write it for secr, oSCR, nimble/JAGS, Rcapture, RMark and Camtrap DP.

It runs in phases, one module each: the station table is read (:mod:`lynxid.stations`,
dates by :mod:`lynxid.times`) and its working time computed (:mod:`lynxid.effort`); the
occasion grid and usage are laid on it (:mod:`lynxid.occasions`); the records are read and
followed to their station, session and occasion (:mod:`lynxid.records`); what is left is
counted into the capture history here.

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
* ``flank="left"`` / ``"right"`` builds the capture history from that flank's detections
  only (:mod:`lynxid.flanks`), for surveys whose left and right flanks are not linked;
  ``None`` (default) uses every detection, flanks linked by identity.

Nothing is silently dropped: records without station, time or individual, at stations not in
the station table, before the first or after the last occasion, or in an occasion in which
their station had no effort, are left out *and listed* in ``CaptureHistory.issues`` (with the
row of the input table and the reason); ``strict=True`` turns any of them into an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .camtrapr import check_semantics
from .clocks import flag_clocks
from .effort import operating_intervals, working_periods
from .flanks import check_flank, keep_flank, record_flanks
from .issues_log import IssuesLog
from .occasions import OccasionGrid, occasion_grid
from .records import (RecordLog, assign_occasions, assign_units, check_cameras, drop_duplicates, keep_independent,
                      read_detections, record_media)
from .stations import StationTable, read_stations
from .tables import secr_order
from .time_shifts import keep_original_times, shift_records, shifts_source

__all__ = ["CaptureHistory", "capture_history"]

# capture_history's arguments recorded as given in CaptureHistory.settings (in this order)
SETTINGS = ("occasion_length", "day1", "occasion_start_time", "buffer_days", "max_days", "output",
            "drop_empty_occasions", "all_cams_on", "cameras_independent", "min_delta_minutes", "delta_compared_to",
            "remove_duplicates", "species", "semantics")


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
    settings : the arguments used (with camtrapR's names alongside); ``settings["flank"]``
        (also :attr:`flank`) says whether it is of one flank only.
    deployments : the cameras' working periods (:func:`lynxid.effort.working_periods`):
        ``deployment, station, camera, session, x, y, setup, retrieval, start, end`` + covariates.
    media : per input record, the photo it was seen in (:func:`lynxid.records.record_media`).

    ``deployments`` and ``media`` are what Camtrap DP needs beyond the capture history itself
    (deployments as working periods, observations with their photos); a capture history
    does not keep its inputs.
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
    deployments: pd.DataFrame | None = field(default=None, repr=False)
    media: pd.DataFrame | None = field(default=None, repr=False)

    # ---- access -------------------------------------------------------------------
    @property
    def sessions(self) -> list:
        return list(self.usage.keys())

    @property
    def flank(self) -> str | None:
        """``"left"`` / ``"right"``: of that flank's detections only; None: every detection."""
        return self.settings.get("flank")

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
            rows.append(dict(session=s, detector=self.detector_type, flank=self.flank,
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
        lines = [f"<CaptureHistory {self.detector_type}, {len(self.sessions)} session(s)"
                 + (f", {self.flank} flank only>" if self.flank else ">")]
        for r in self.summary().itertuples(index=False):
            lines.append(f"  session {r.session}: {r.individuals} individuals, {r.detections} detections, "
                         f"{r.occasions} occasions x {r.stations} stations ({r.stations_used} used), "
                         f"{r.effort_days:g} trap-days")
        left = int((self.records.status != "used").sum())
        if left:
            lines.append(f"  {left} record(s) not used: see the issues")
        return "\n".join(lines)


def capture_history(detections, stations, *, occasion_length: float = 1, day1: str = "survey",
                    occasion_start_time: float = 0, buffer_days: int = 0, max_days: float | None = None,
                    output: str = "binary", drop_empty_occasions: bool = True,
                    all_cams_on: bool = False, cameras_independent: bool = False,
                    min_delta_minutes: float = 0, delta_compared_to: str = "last_independent",
                    remove_duplicates: bool = False, species=None, tz: str | None = None, time_format: str | None = None,
                    station_col=None, time_col=None, individual_col=None, camera_col=None, species_col=None,
                    unknown_stations: str = "error", strict: bool = False, flank: str | None = None,
                    station_options: dict | None = None, semantics: str = "camtrapR", time_shifts=None) -> CaptureHistory:
    """Build a capture history from detections and a station table.

    Parameters (camtrapR's ``spatialDetectionHistory`` / ``cameraOperation`` names in brackets)
    ----------
    detections : path (CSV/Parquet) or DataFrame: lynxid ``identify`` output or a camtrapR
        record table [``recordTableIndividual``].
    stations : path, DataFrame or :class:`~lynxid.stations.StationTable` [``CTtable``];
        ``station_options`` go to :func:`~lynxid.stations.read_stations` (``station_col``,
        ``x_col``, ``y_col``, ``setup_col``, ``retrieval_col``, ``camera_col``,
        ``session_col``, ``has_problems``, ``date_format``, ``station_covariates``).
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
    flank : ``"left"`` / ``"right"``: only that flank's detections (column ``flank``), the rest left
        out and listed; None (default): every detection, flanks linked by identity (:mod:`lynxid.flanks`).
    semantics : ``"camtrapR"`` (default): camtrapR's rules, quirks included, so the result equals
        camtrapR's ``spatialDetectionHistory`` cell for cell (see :mod:`lynxid.camtrapr`);
        ``"exact"``: lynxid's exact time line (effort to the nanosecond, several cameras as the
        union of their working time, half-open occasions [start, end), each session's grid
        from its own first setup day).
    time_shifts : camtrapR time-shift table (:mod:`lynxid.time_shifts`) applied to the record times
        first (``records.time_original``: as read); suspect clocks are flagged (:mod:`lynxid.clocks`).
    """
    given = dict(locals())                   # the settings, recorded with the capture history
    _check_arguments(output, occasion_length, occasion_start_time, buffer_days, max_days, unknown_stations)
    camtrapr_rules = check_semantics(semantics) == "camtrapR"
    flank = check_flank(flank)
    issues = IssuesLog("row")
    st = read_stations(stations, tz=tz, **(station_options or {}))
    issues.extend(st.issues)
    rec, meta = read_detections(detections, station_col=station_col, time_col=time_col,
                                individual_col=individual_col, camera_col=camera_col, species_col=species_col,
                                species=species, time_format=time_format, tz=tz, log=issues)
    rec = shift_records(rec, time_shifts, issues, meta["source"])
    units = operating_intervals(st, all_cams_on=all_cams_on, cameras_independent=cameras_independent)
    grid = occasion_grid(st, units, occasion_length=occasion_length, day1=day1, occasion_start_time=occasion_start_time,
                         buffer_days=buffer_days, max_days=max_days, camtrapr_rules=camtrapr_rules, tz=meta["tz"],
                         all_cams_on=all_cams_on, cameras_independent=cameras_independent)
    log = _follow_records(rec, meta, grid, st, issues, flank, unknown_stations=unknown_stations,
                          cameras_independent=cameras_independent, remove_duplicates=remove_duplicates,
                          min_delta_minutes=min_delta_minutes, delta_compared_to=delta_compared_to,
                          day1=day1, buffer_days=buffer_days, max_days=max_days)
    flag_clocks(rec, st, issues)
    settings = {k: given[k] for k in SETTINGS} | dict(
        tz=meta["tz"], flank=flank, columns={k: meta[k] for k in ("station_col", "time_col", "individual_col",
                                                                  "camera_col", "species_col")},
        detections_source=meta["source"], stations_source=st.source, time_shifts=shifts_source(time_shifts))
    ch = _assemble(log, grid, st, issues, settings, media=record_media(meta["frame"]))
    if strict:
        _raise_if_left_out(ch.issues)
    return ch


def _follow_records(rec, meta, grid: OccasionGrid, st: StationTable, issues: IssuesLog, flank, *,
                    unknown_stations, cameras_independent, remove_duplicates, min_delta_minutes, delta_compared_to,
                    day1, buffer_days, max_days) -> RecordLog:
    """The records' phases, in camtrapR's order: the flank first (as camtrapR filters the
    species first), station and session, camera check, duplicates, temporal independence,
    occasion."""
    log = RecordLog(rec, meta["camera_col"] is not None, issues)
    if flank:
        keep_flank(log, record_flanks(meta["frame"], flank, meta["source"]), flank)
    assign_units(log, grid, unknown_stations, meta["source"])
    check_cameras(log, st)
    by_camera = bool(cameras_independent and meta["camera_col"] is not None)
    if remove_duplicates:
        drop_duplicates(log, by_camera)
    if min_delta_minutes and min_delta_minutes > 0:
        keep_independent(log, min_delta_minutes, delta_compared_to, by_camera)
    assign_occasions(log, grid, meta["tz"], day1=day1, buffer_days=buffer_days, max_days=max_days)
    return log


def _assemble(log: RecordLog, grid: OccasionGrid, st: StationTable, issues: IssuesLog, settings: dict,
              media: pd.DataFrame) -> CaptureHistory:
    """Drop the empty occasions, count the detections and put the capture history together."""
    kept = grid.kept_occasions(settings["drop_empty_occasions"], issues)
    occasion = _final_occasions(log, grid, kept)
    binary = settings["output"] == "binary"
    counts, individuals = _count_detections(log, grid, occasion, binary=binary)
    return CaptureHistory(detections=counts, usage=grid.usage_tables(kept), traps=_traps(grid, st),
                          occasions=grid.occasion_table(kept, settings["day1"], settings["occasion_length"]),
                          individuals=individuals,
                          records=keep_original_times(log.table(grid.unit_session, grid.sessions, occasion),
                                                      log.records),
                          issues=issues.table(), detector_type="proximity" if binary else "count", settings=settings,
                          deployments=working_periods(st), media=media)


def _check_arguments(output, occasion_length, occasion_start_time, buffer_days, max_days, unknown_stations):
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


def _raise_if_left_out(issues: pd.DataFrame):
    left = issues[issues.severity.isin(["excluded", "error"])]
    if len(left):
        lines = "\n".join(f"  row {r}: {m}" for r, m in zip(left.row.head(20), left.reason.head(20)))
        raise ValueError(f"strict=True: {len(left)} record(s) would be left out:\n{lines}")


def _final_occasions(log: RecordLog, grid: OccasionGrid, kept: dict) -> np.ndarray:
    """Each record's occasion once empty occasions are dropped (1-based; 0 = not used)."""
    renumber = np.full((len(grid.sessions), grid.max_occasions), -1, dtype=np.int64)
    for s, kp in kept.items():
        renumber[s, kp] = np.arange(len(kp))
    used = log.in_use()
    occasion = np.zeros(len(log), dtype=np.int64)
    occasion[used] = renumber[grid.unit_session[log.unit[used]], log.occasion[used]] + 1
    return occasion


def _count_cells(codes: list, sizes: list) -> tuple[list, np.ndarray]:
    """The distinct combinations of several integer codes (code ``i`` < ``sizes[i]``), in
    lexicographic order, and how often each occurs."""
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c, n in zip(codes, sizes):
        key = key * n + c
    cells, counts = np.unique(key, return_counts=True)
    out = []
    for n in reversed(sizes):
        out.append(cells % n)
        cells = cells // n
    return out[::-1], counts


def _count_detections(log: RecordLog, grid: OccasionGrid, occasion: np.ndarray, binary: bool):
    """The detections (session, individual, occasion, detector, count), sorted so, and the
    individuals of each session; individuals in secr's order, one code space for all sessions."""
    used = np.flatnonzero(occasion > 0)
    unit = log.unit[used]
    session = grid.unit_session[unit]
    used_ids = np.unique(log.individual_code[used])
    id_text = log.individuals[used_ids].astype(str)
    ordered = secr_order(id_text.tolist())
    rank_of_code = np.full(len(log.individuals) + 1, -1, dtype=np.int64)
    rank_of_code[used_ids] = pd.Index(ordered).get_indexer(id_text)
    # detectors are numbered within their session, in station-table order
    n_sessions, n_units = len(grid.sessions), len(grid.unit_session)
    detector_in_session = np.zeros(n_units, dtype=np.int64)
    for s in range(n_sessions):
        us = np.flatnonzero(grid.unit_session == s)
        detector_in_session[us] = np.arange(us.size)
    n_detectors = int(np.bincount(grid.unit_session).max())
    n_ids = max(len(ordered), 1)
    (cell_session, cell_individual, cell_occasion, cell_detector), count = _count_cells(
        [session, rank_of_code[log.individual_code[used]], occasion[used] - 1, detector_in_session[unit]],
        [n_sessions, n_ids, max(grid.max_occasions, 1), n_detectors])
    if binary:
        count = np.ones_like(count)
    unit_at = np.full((n_sessions, n_detectors), -1, dtype=np.int64)
    unit_at[grid.unit_session, detector_in_session] = np.arange(n_units)
    station_code, station_names = pd.factorize(pd.Series(grid.units.table.station.to_numpy(object), dtype=object))
    detections = pd.DataFrame({
        "session": pd.Categorical.from_codes(cell_session, categories=grid.sessions),
        "individual": pd.Categorical.from_codes(cell_individual, categories=ordered if ordered else []),
        "occasion": (cell_occasion + 1).astype(np.int64),
        "detector": pd.Categorical.from_codes(station_code[unit_at[cell_session, cell_detector]],
                                              categories=list(station_names)),
        "count": count.astype(np.int64)})
    pairs = np.unique(cell_session.astype(np.int64) * n_ids + cell_individual)
    individuals = pd.DataFrame({"session": np.asarray(grid.sessions, dtype=object)[pairs // n_ids],
                                "individual": np.asarray(ordered, dtype=object)[pairs % n_ids] if ordered else
                                np.array([], dtype=object)})
    return detections, individuals


def _traps(grid: OccasionGrid, st: StationTable) -> pd.DataFrame:
    """``session, detector, x, y, first_occasion_start`` and the station covariates."""
    ut = grid.units.table
    frames = []
    for s, name in enumerate(grid.sessions):
        us = np.flatnonzero(grid.unit_session == s)
        tr = pd.DataFrame({"session": name, "detector": ut.station.to_numpy()[us], "x": ut.x.to_numpy()[us],
                           "y": ut.y.to_numpy()[us], "first_occasion_start": pd.to_datetime(grid.origin[us])})
        if st.covariates:
            cov = st.deployments.drop_duplicates(["session", "station"]).set_index(["session", "station"])[st.covariates]
            tr = tr.join(cov, on=["session", "detector"])
        frames.append(tr)
    return pd.concat(frames, ignore_index=True)
