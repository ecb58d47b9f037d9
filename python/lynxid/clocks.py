"""Camera clocks checked: which cameras' record times cannot be right, and what shift would
put them right.

A camera whose clock is wrong moves every one of its records by the same amount: a clock
reset to its default date after the batteries were out (photos of a 2017 survey dated
2006-01-01 on), the wrong year, summer time, or hours off its twin at the same station. The
capture history then loses those records (outside their station's deployment) or, worse,
puts them in the wrong occasion. camtrapR leaves finding them to the user; lynxid looks, per
camera (station and camera):

* records outside the station's deployment, setup to retrieval of the station table as
  camtrapR's ``cameraOperation`` reads it (a date without time covers that whole day) --
  all of them (``"outside deployment"``, or ``"clock reset"`` when the first record is in
  the first days of a January, a camera's usual default date), or some
  (``"partly outside deployment"``); records in a Problem period are counted too;
* without a station table (or for a station missing from it): records far from the
  survey's bulk (``"far from the survey"``, e.g. another year);
* at a station with several cameras photographing the same passages: a camera whose
  records come a constant time before or after its twin's (``"off from the other camera"``,
  a clock hours off that stays within the deployment).

For each it says what it saw and, when one constant shift explains it, suggests that shift
in camtrapR's time-shift format (:mod:`lynxid.time_shifts`) -- whole years when they fit,
else the shift that puts the first record at the setup (a reset clock starts when the
camera is set up) -- but applies nothing: the user checks and gives the shifts
(``time_shifts=``), as camtrapR leaves ``timeShiftImages`` to the user.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .issues_log import IssuesLog
from .records import DETECTION_COLUMNS, read_detections
from .stations import StationTable, read_stations
from .tables import read_user_table
from .time_shifts import shift_delta, shift_records, shift_text

__all__ = ["CLOCK_COLUMNS", "camera_clocks", "flag_clocks", "check_clocks"]

CLOCK_COLUMNS = ["station", "camera", "n_records", "n_outside", "n_in_problem", "first_record", "last_record",
                 "setup", "retrieval", "flag", "suggested_timeshift", "suggested_sign", "note"]
RESET_DAYS = 7            # a reset clock runs from 1 January 00:00 of its default year
PAIR_TOLERANCE = pd.Timedelta(minutes=5)
PAIR_MIN_OFFSET = pd.Timedelta(minutes=10)
_DAY = pd.Timedelta(days=1)


def _ts(t) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%d %H:%M")


def _usable(rec: pd.DataFrame) -> pd.DataFrame:
    """Records with a station and a time (of the species asked for): their clocks can be judged."""
    ok = rec.station.notna().to_numpy(bool) & rec.time.notna().to_numpy(bool)
    if "other_species" in rec:
        ok &= ~rec.other_species.to_numpy(bool)
    r = rec.loc[ok, ["station", "camera", "time"]].reset_index(drop=True)
    r["i"] = np.arange(len(r))
    return r


def _windows(st: StationTable) -> pd.DataFrame:
    """The deployments as time windows: a date without time covers its whole day."""
    d = st.deployments
    start = d.setup.where(~d.setup_date_only, d.setup.dt.normalize())
    end = d.retrieval.where(~d.retrieval_date_only, d.retrieval.dt.normalize() + _DAY)
    return pd.DataFrame({"dep_row": d.row.to_numpy(), "station": d.station.astype(str).to_numpy(),
                         "wcamera": d.camera.astype("string").fillna("").astype(str).to_numpy(),
                         "start": start.to_numpy(), "end": end.to_numpy(), "setup": d.setup.to_numpy(),
                         "retrieval": d.retrieval.to_numpy()})


def _applicable(r: pd.DataFrame, win: pd.DataFrame) -> pd.DataFrame:
    """Each record with each window of its station -- its own camera's only, when the
    station table lists that camera there."""
    m = r.merge(win, on="station")
    m["own"] = m.camera == m.wcamera
    has_own = m.groupby("i").own.transform("any")
    return m[m.own | ~has_own]


def _membership(r: pd.DataFrame, st: StationTable):
    """Per record: ``inside`` a deployment of its station (camera), ``in_problem``, and the
    applicable windows."""
    m = _applicable(r, _windows(st))
    within = (m.start <= m.time) & (m.time < m.end)
    inside = np.zeros(len(r), dtype=bool)
    inside[m.i[within].unique()] = True
    in_problem = np.zeros(len(r), dtype=bool)
    if len(st.problems):
        p = m[within].merge(st.problems[["row", "start", "end"]].rename(
            columns={"row": "dep_row", "start": "pstart", "end": "pend"}), on="dep_row")
        in_problem[p.i[(p.pstart <= p.time) & (p.time < p.pend)].unique()] = True
    return inside, in_problem, m


def _all_inside(times, wins: pd.DataFrame) -> bool:
    t = np.asarray(times, dtype="datetime64[ns]")[:, None]
    return bool(((wins.start.to_numpy()[None, :] <= t) & (t < wins.end.to_numpy()[None, :])).any(axis=1).all())


def _looks_reset(first: pd.Timestamp, setup: pd.Timestamp) -> bool:
    new_year = pd.Timestamp(year=first.year, month=1, day=1)
    return first - new_year < pd.Timedelta(days=RESET_DAYS) and first < setup - pd.Timedelta(days=30)


def _suggest(times: pd.Series, wins: pd.DataFrame, reset: bool):
    """``(timeshift, sign, how)`` of a constant shift that puts every record in a deployment,
    or ``(None, None, why not)``."""
    first, last = times.iloc[0], times.iloc[-1]
    w = wins.iloc[int(np.argmin(np.abs((wins.setup - first).dt.total_seconds().to_numpy())))]
    if not reset:
        dy = w.setup.year - first.year
        for k in sorted({dy - 1, dy, dy + 1} - {0}, key=abs):
            d = shift_delta(first, (abs(k), 0, 0, 0, 0, 0), "+" if k > 0 else "-")
            if _all_inside(times + d, wins):
                return (*shift_text(first, d), f"a clock {abs(k)} year(s) {'behind' if k > 0 else 'ahead'}")
    if last - first > w.retrieval - w.setup:
        return None, None, "its records span more time than the deployment: no single shift fits"
    d = w.setup - first if first < w.start else w.retrieval - last
    if not _all_inside(times + d, wins):
        return None, None, "no single shift puts all its records in the deployment"
    how = "the first record at the setup" if first < w.start else "the last record at the retrieval"
    return (*shift_text(first, d), how)


def _judge(times: pd.Series, wins: pd.DataFrame, n_out: int) -> dict:
    """Flag, note and suggestion for one camera with a deployment in the station table."""
    n, first, last = len(times), times.iloc[0], times.iloc[-1]
    span = f"{_ts(wins.setup.min())} .. {_ts(wins.retrieval.max())}"
    if n_out == 0:
        return dict(flag="ok", note="")
    reset = _looks_reset(first, wins.setup.min())
    if n_out < n:
        note = f"{n_out} of {n} records fall outside its deployment ({span})"
        if reset:
            return dict(flag="partly outside deployment", note=note + f"; records from {_ts(first)} on look like a "
                        "clock reset to its default date during the deployment: shift those photos' times (their own "
                        "station/camera row) or check the station table")
        ts, sign, how = _suggest(times, wins, False)
        near = times.iloc[0] >= wins.start.min() - 2 * _DAY and times.iloc[-1] <= wins.end.max() + 2 * _DAY
        if ts is not None and near:
            return dict(flag="partly outside deployment", suggested_timeshift=ts, suggested_sign=sign,
                        note=note + f" by less than two days: the station table's dates or a clock hours off? "
                        f"'{sign}{ts}' would put them in ({how}), a lower bound of the clock's error")
        return dict(flag="partly outside deployment", note=note + ": check the station table and the camera clock")
    ts, sign, how = _suggest(times, wins, reset)
    note = f"all {n} records ({_ts(first)} .. {_ts(last)}) fall outside its deployment ({span})"
    if reset:
        note += f"; the first is in the first days of {first.year}: the clock looks reset to its default date"
    note += f"; suggested time shift '{sign}{ts}' ({how})" if ts is not None else f"; {how}"
    return dict(flag="clock reset" if reset else "outside deployment", suggested_timeshift=ts,
                suggested_sign=sign, note=note)


def _far(times: pd.Series, center: pd.Timestamp, far_days: float) -> dict | None:
    """Flag a camera without deployment whose records are far from the survey's bulk."""
    med = times.iloc[len(times) // 2]
    if abs(med - center) <= pd.Timedelta(days=far_days):
        return None
    note = (f"its records ({_ts(times.iloc[0])} .. {_ts(times.iloc[-1])}) are far from the survey's "
            f"(middle {_ts(center)})")
    k = int(round((center - med) / pd.Timedelta(days=365.25)))
    out = dict(flag="far from the survey", note=note)
    if k:
        d = shift_delta(times.iloc[0], (abs(k), 0, 0, 0, 0, 0), "+" if k > 0 else "-")
        if abs(med + d - center) <= pd.Timedelta(days=far_days):
            ts, sign = shift_text(times.iloc[0], d)
            out.update(suggested_timeshift=ts, suggested_sign=sign,
                       note=note + f"; suggested time shift '{sign}{ts}' (the survey's year)")
    return out


def _pair_offset(times: pd.Series, ref: pd.Series):
    """Median offset of ``ref``'s nearest records (within a day) to ``times``, and how many
    pairs agree with it to PAIR_TOLERANCE; None if too few pairs. Each record of ``ref`` is
    paired once, with its closest record of ``times``: a burst one camera took of a passage
    the other missed would otherwise pair every photo with the same record and count as
    agreeing pairs (the demo's twin cameras, hours apart by that alone)."""
    a = pd.DataFrame({"t": times.to_numpy()}).sort_values("t")
    b = pd.DataFrame({"t": ref.to_numpy(), "tr": ref.to_numpy()}).sort_values("t")
    m = pd.merge_asof(a, b, on="t", direction="nearest", tolerance=_DAY).dropna()
    m = m.assign(gap=(m.tr - m.t).abs()).sort_values("gap", kind="stable").drop_duplicates("tr")
    if len(m) < 3:
        return None
    diff = m.tr - m.t
    med = diff.median().round("s")
    return med, int(((diff - med).abs() <= PAIR_TOLERANCE).sum()), len(m)


def _check_pairs(table: pd.DataFrame, times_of):
    """Cameras off their twin at the same station (the camera with most records is the
    reference); ``times_of(row)``: a camera's sorted times."""
    for station, grp in table[table.camera.notna()].groupby("station"):
        if len(grp) < 2:
            continue
        ref = grp.sort_values(["n_outside", "n_records"], ascending=[True, False]).index[0]
        for j in grp.index.drop(ref):
            if table.at[j, "flag"] not in ("ok", "partly outside deployment"):
                continue
            got = _pair_offset(times_of(j), times_of(ref))
            if got is None or abs(got[0]) < PAIR_MIN_OFFSET or got[1] < 0.6 * got[2]:
                continue
            med, agree, n = got
            ts, sign = shift_text(times_of(j).iloc[0], med)
            rc = table.at[ref, "camera"]
            table.loc[j, ["flag", "suggested_timeshift", "suggested_sign"]] = ["off from the other camera", ts, sign]
            later = med > pd.Timedelta(0)
            table.at[j, "note"] = (f"its records come {abs(med)} {'before' if later else 'after'} those "
                                   f"of camera {rc!r} at the same station ({agree} of {n} nearest pairs agree to "
                                   f"{PAIR_TOLERANCE.seconds // 60} min): its clock looks "
                                   f"{'behind' if later else 'ahead'}; if camera {rc!r}'s is right, "
                                   f"suggested time shift '{sign}{ts}'" + ("; " + table.at[j, "note"]
                                                                          if table.at[j, "note"] else ""))


def _camera_windows(win: pd.DataFrame, station: str, camera: str) -> pd.DataFrame:
    """The deployments that apply to one camera: its own rows of the station table when it has
    any, else every row of its station (as :func:`_applicable` pairs them with records)."""
    w = win[win.station == station]
    own = w[w.wcamera == camera]
    return own if len(own) else w


class _Cameras:
    """The records' cameras (station and camera): ``cam`` (each record's), ``keys``, ``n``
    (records each), and ``order`` (the records by camera, then time; camera k's are
    ``order[start[k]:start[k] + n[k]]``), so a camera's times are a slice, not a group."""

    def __init__(self, r: pd.DataFrame):
        # codes through the few distinct values: a million records' strings are slow to convert
        (sc, su), (cc, cu) = (pd.factorize(r[c], use_na_sentinel=False) for c in ("station", "camera"))
        su = ["" if pd.isna(u) else str(u) for u in su]
        cu = ["" if pd.isna(u) else str(u) for u in cu]
        pair = np.unique(sc.astype(np.int64) * len(cu) + cc, return_inverse=True)
        keys = [(su[v // len(cu)], cu[v % len(cu)]) for v in pair[0]]
        rank = np.empty(len(keys), dtype=np.int64)
        rank[sorted(range(len(keys)), key=keys.__getitem__)] = np.arange(len(keys))
        self.cam, self.keys = rank[pair[1]], sorted(keys)
        self.t = r["time"]
        self.t_ns = self.t.to_numpy(dtype="datetime64[ns]")
        self.order = np.lexsort((self.t_ns.view("i8"), self.cam))
        self.n = np.bincount(self.cam, minlength=len(self.keys))
        self.start = np.concatenate([[0], np.cumsum(self.n)[:-1]]).astype(int)

    def rows(self, k: int) -> np.ndarray:
        return self.order[self.start[k]:self.start[k] + self.n[k]]

    def times(self, k: int) -> pd.Series:
        return self.t.iloc[self.rows(k)].reset_index(drop=True)


def _inside_one_window(cams: _Cameras, win: pd.DataFrame, problems: pd.DataFrame):
    """:func:`_membership`'s ``(inside, in_problem)`` without joining every record to its
    windows, for the usual station table where each camera has one deployment (None
    otherwise): it runs in every capture history, and the join costs more than the capture
    history itself."""
    n_own, n_station = win.groupby(["station", "wcamera"]).size(), win.groupby("station").size()
    own = dict(zip(zip(win.station, win.wcamera), zip(win.start, win.end, win.dep_row)))
    by_station = dict(zip(win.station, zip(win.start, win.end, win.dep_row)))
    lo = np.full(len(cams.keys), np.datetime64("NaT"), dtype="datetime64[ns]")
    hi, dep = lo.copy(), np.full(len(cams.keys), -1, dtype=np.int64)
    for k, (s, c) in enumerate(cams.keys):
        if (s, c) in own and n_own[(s, c)] == 1:
            lo[k], hi[k], dep[k] = own[(s, c)]
        elif s in by_station and (s, c) not in own and n_station[s] == 1:
            lo[k], hi[k], dep[k] = by_station[s]
        elif s in by_station:
            return None                                   # several deployments: the general join
    t = cams.t_ns
    inside = (lo[cams.cam] <= t) & (t < hi[cams.cam])
    in_problem = np.zeros(len(t), dtype=bool)
    for d, a, b in zip(problems["row"], problems["start"].to_numpy("datetime64[ns]"),
                       problems["end"].to_numpy("datetime64[ns]")):
        for k in np.flatnonzero(dep == d):
            i = cams.rows(k)
            in_problem[i] |= inside[i] & (a <= t[i]) & (t[i] < b)
    return inside, in_problem


def _spans(win: pd.DataFrame, by) -> dict:
    """``{key: (first setup, last retrieval)}`` of the windows grouped ``by``."""
    a = win.groupby(by).agg(setup=("setup", "min"), retrieval=("retrieval", "max"))
    return dict(zip(a.index, zip(a.setup, a.retrieval)))


def camera_clocks(rec: pd.DataFrame, stations: StationTable | None = None, *, far_days: float = 180) -> pd.DataFrame:
    """One row per camera (station and camera) of ``rec`` (``station, camera, time`` as
    :func:`~lynxid.records.read_detections` gives them): :data:`CLOCK_COLUMNS`.

    Runs inside every capture history, so the records are sorted once and only the cameras
    that need a closer look (records outside their deployment, a station missing, a twin
    camera) get their times as a series of their own."""
    r = _usable(rec)
    if r.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in CLOCK_COLUMNS})
    cams = _Cameras(r)
    cam, keys, n = cams.cam, cams.keys, cams.n
    win = _windows(stations) if stations is not None else None
    if win is None:
        inside, in_problem = np.ones(len(r), bool), np.zeros(len(r), bool)
    else:
        inside, in_problem = (_inside_one_window(cams, win, stations.problems)
                              or _membership(r.assign(station=r.station.astype(str),
                                                      camera=r.camera.astype("string").fillna("").astype(str)),
                                             stations)[:2])
    n_out, n_prob = (np.bincount(cam, weights=x.astype(float), minlength=len(keys)) for x in (~inside, in_problem))
    times_of, t, ends = cams.times, r["time"], cams.order[cams.start + n - 1]
    first, last, middle = t.iloc[cams.order[cams.start]], t.iloc[ends], t.iloc[cams.order[cams.start + n // 2]]
    centre = middle.sort_values().iloc[len(middle) // 2]
    known = set(win.station) if win is not None else set()
    # each camera's deployment span without a table per camera: its own rows', else its station's
    span_own, span_station = ({}, {}) if win is None else (_spans(win, ["station", "wcamera"]), _spans(win, "station"))
    rows = []
    for k, (s, c) in enumerate(keys):
        row = dict(station=s, camera=c or None, n_records=int(n[k]), n_outside=0, n_in_problem=int(n_prob[k]),
                   first_record=pd.NaT, last_record=pd.NaT, setup=pd.NaT, retrieval=pd.NaT, flag="ok",
                   suggested_timeshift=None, suggested_sign=None, note="")
        if win is not None and s in known:
            setup, retrieval = span_own.get((s, c)) or span_station[s]
            row.update(setup=setup, retrieval=retrieval, n_outside=int(n_out[k]))
            if row["n_outside"]:
                row.update(_judge(times_of(k), _camera_windows(win, s, c), row["n_outside"]))
        else:
            if win is not None:
                row.update(flag="unknown station", n_outside=int(n[k]), note="the station is not in the station table")
            if abs(middle.iloc[k] - centre) > pd.Timedelta(days=far_days):
                far = _far(times_of(k), centre, far_days)
                far["note"] = "; ".join(x for x in (row["note"], far["note"]) if x)
                row.update(far)
        rows.append(row)
    table = pd.DataFrame(rows, columns=CLOCK_COLUMNS)
    table["first_record"], table["last_record"] = first.reset_index(drop=True), last.reset_index(drop=True)
    _check_pairs(table, times_of)
    return table


def flag_clocks(rec: pd.DataFrame, stations: StationTable | None, log: IssuesLog) -> pd.DataFrame:
    """:func:`camera_clocks`, with one ``warning`` per flagged camera in ``log`` (stage
    ``clocks``); records at unknown stations are the capture history's to report."""
    table = camera_clocks(rec, stations)
    for s, c, f, note in zip(table.station, table.camera, table.flag, table.note):
        if f not in ("ok", "unknown station"):
            where = f"station {s!r}" + (f", camera {c!r}" if c else "")
            log.add("-", "clocks", "warning", f"{where}: {f}: {note} (check the camera clock; give shifts with "
                    "time_shifts= / --time-shifts, camtrapR's timeShiftImages format)")
    return table


def check_clocks(detections, stations=None, *, time_shifts=None, station_col=None, time_col=None, camera_col=None,
                 species=None, species_col=None, time_format=None, tz=None, station_options: dict | None = None,
                 far_days: float = 180) -> pd.DataFrame:
    """Check every camera's clock against its station's deployment (and its twin camera).

    ``detections``: lynxid ``identify`` output or a camtrapR record table (path or
    DataFrame; an individual column is not needed); ``stations``: the station table (path,
    DataFrame or :class:`~lynxid.stations.StationTable`, read with ``station_options``), or
    None to compare the cameras with the survey's bulk only. ``time_shifts``: a camtrapR
    time-shift table applied first, to check a correction. Returns one row per camera
    (:data:`CLOCK_COLUMNS`): ``flag`` (``"ok"`` or what looks wrong), ``note`` (what was seen)
    and, when one constant shift explains it, ``suggested_timeshift`` / ``suggested_sign``
    (camtrapR's ``timeshift`` / ``sign``); nothing is corrected. ``.attrs["issues"]`` lists
    the issues (as dicts ``row, stage, severity, reason``), as ``capture_history`` logs them.
    """
    df, name = read_user_table(detections, "detections")
    low = {str(c).lower() for c in df.columns}
    if not any(c.lower() in low for c in DETECTION_COLUMNS["individual"]):
        detections = df.assign(individual_id="?")       # clocks do not need identities
    log = IssuesLog("row")
    st = read_stations(stations, tz=tz, **(station_options or {})) if stations is not None else None
    rec, _ = read_detections(detections, station_col=station_col, time_col=time_col, camera_col=camera_col,
                                species_col=species_col, species=species, time_format=time_format, tz=tz, log=log)
    rec = shift_records(rec, time_shifts, log, name)
    table = flag_clocks(rec, st, log)
    table.attrs["issues"] = log.records()
    return table
