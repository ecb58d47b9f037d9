"""Write a :class:`~lynxid.capture.CaptureHistory` for the programs ecologists fit models in.

=========================  ===============================================================
format                     files (in the output folder)
=========================  ===============================================================
``secr``                   ``capt.txt`` (``Session ID Occasion Detector``) and
                           ``traps.txt`` / ``traps_<session>.txt`` (``Detector X Y usage...``),
                           text files for ``secr::read.capthist`` (``read_secr.R`` has the call)
``oscr``                   ``oscr_edf.csv`` (session, individual, occasion, trap),
                           ``oscr_tdf_<session>.csv`` (trap, X, Y, trap operation 1/0 per
                           occasion), ``oscr_effort_<session>.csv``; ``read_oscr.R``
``nimble``                 ``nimble_y.csv`` (non-zero ``y[i,j,k]``), ``nimble_y2d.csv``
                           (``y[i,j]`` summed over occasions), ``nimble_traps.csv``,
                           ``nimble_effort.csv``, ``nimble_operation.csv``,
                           ``nimble_constants.json`` (M with data augmentation, J, K, ...)
``closed``                 ``closed_matrix.csv`` (individual x occasion 0/1, for Rcapture)
``rmark``                  ``rmark_ch.csv`` (``ch``, ``freq``) and ``rmark.inp`` (MARK input)
``camtrapdp``              ``camtrap-dp/`` with ``datapackage.json``, ``deployments.csv``,
                           ``media.csv``, ``observations.csv`` (``individualID``)
=========================  ===============================================================

Every write is atomic (:mod:`lynxid.storage`). Alongside the formats, ``write_formats``
writes ``summary.json`` (settings and counts) and ``issues.csv`` (every record left out or
questionable, with its row and the reason).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage
from .capture import CaptureHistory

__all__ = ["FORMATS", "write_formats", "write_secr", "write_oscr", "write_nimble", "write_closed",
           "write_rmark", "write_camtrap_dp", "utm_to_lonlat", "closed_matrix", "rmark_table",
           "secr_captures", "secr_traps_text", "secr_data", "oscr_data", "array_data"]

FORMATS = ("secr", "oscr", "nimble", "closed", "rmark", "camtrapdp")


def _num(x) -> str:
    """A number as short exact-enough text (up to 10 significant digits, no trailing zeros)."""
    return f"{x:.10g}"


def _tok(v) -> str:
    """A whitespace-separated field for secr's read.table: quoted when it would split."""
    s = str(v)
    if s == "" or re.search(r"[\s#\"']", s):
        return '"' + s.replace('"', "'") + '"'
    return s


def _session_file(base: str, session: str, n_sessions: int, ext: str) -> str:
    if n_sessions == 1:
        return f"{base}.{ext}"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(session))
    if safe != str(session):
        # "a b" and "a_b" would share a file: a label changed for the file system gets a tag of its own
        import hashlib
        safe += "-" + hashlib.sha1(str(session).encode("utf-8")).hexdigest()[:6]
    return f"{base}_{safe}.{ext}"


# --------------------------------------------------------------------------------------
# secr
# --------------------------------------------------------------------------------------
def secr_captures(ch: CaptureHistory) -> pd.DataFrame:
    """The captures as ``secr::make.capthist`` wants them: ``Session, ID, Occasion, Detector``;
    a count detector gets one row per detection (secr adds them up), a proximity detector one
    row per individual, occasion and detector. Text columns are categoricals."""
    d = ch.detections
    rep = d["count"].to_numpy() if ch.detector_type == "count" else np.ones(len(d), dtype=np.int64)
    out = {}
    for name, col in (("Session", "session"), ("ID", "individual"), ("Occasion", "occasion"), ("Detector", "detector")):
        v = d[col]
        if isinstance(v.dtype, pd.CategoricalDtype):
            out[name] = pd.Categorical.from_codes(np.repeat(v.cat.codes.to_numpy(), rep), categories=v.cat.categories)
        else:
            out[name] = np.repeat(v.to_numpy(), rep)
    return pd.DataFrame(out)


def _token_column(col: pd.Series) -> np.ndarray:
    """A column as secr text tokens (UTF-8 byte strings), quoting only the distinct values."""
    def enc(values):
        return np.array([_tok(c).encode("utf-8") for c in values], dtype=object).astype(bytes)
    if isinstance(col.dtype, pd.CategoricalDtype):
        return enc(col.cat.categories)[col.cat.codes.to_numpy()]        # per category, not per row
    if pd.api.types.is_numeric_dtype(col.dtype):
        return col.to_numpy().astype(bytes)
    codes, uniq = pd.factorize(col)
    return enc(uniq)[codes]


def _write_lines(fh, cap: pd.DataFrame, chunk: int = 200_000):
    """Captfile lines in chunks (bounded memory), assembled with numpy byte-string ops."""
    for a in range(0, len(cap), chunk):
        part = cap.iloc[a:a + chunk]
        line = _token_column(part.Session)
        for c in ("ID", "Occasion", "Detector"):
            line = np.char.add(np.char.add(line, b" "), _token_column(part[c]))
        fh.write(b"\n".join(line.tolist()) + b"\n")


def secr_traps_text(ch: CaptureHistory, session, covariates: list | None = None) -> str:
    """The trap file of one session: ``Detector X Y usage_1 ... usage_K [/ covariates]``."""
    u = ch.usage_matrix(session)
    tr = ch.traps[ch.traps.session == str(session)].set_index("detector").loc[u.index]
    covariates = covariates if covariates is not None else _trap_covariates(ch)
    lines = []
    X = tr.x.to_numpy()
    Y = tr.y.to_numpy()
    U = u.to_numpy()
    for j, det in enumerate(u.index):
        line = " ".join([_tok(det), _num(X[j]), _num(Y[j])] + [_num(v) for v in U[j]])
        if covariates:
            line += " / " + " ".join(_tok(tr[c].iloc[j]) for c in covariates)
        lines.append(line)
    return "\n".join(lines) + "\n"


def _trap_covariates(ch):
    return [c for c in ch.traps.columns if c not in ("session", "detector", "x", "y", "first_occasion_start")]


def _header(ch: CaptureHistory, what: str) -> str:
    s = ch.settings
    return (f"# {what}\n# written by lynxid from {s.get('detections_source')} and {s.get('stations_source')}\n"
            f"# occasion_length={s.get('occasion_length')} day1={s.get('day1')} "
            f"occasion_start_time={s.get('occasion_start_time')} output={s.get('output')} "
            f"detector={ch.detector_type} tz={s.get('tz')}\n")


def write_secr(ch: CaptureHistory, out_dir) -> dict:
    """Write ``capt.txt`` and the trap file(s) for ``secr::read.capthist`` (DENSITY format).

    The usage (days of effort per detector and occasion) follows the coordinates as
    numbers, so read them with ``binary.usage = FALSE`` (``read_secr.R`` has the exact call).
    Sessions without any capture get secr's ``NONE`` line so that they are kept.
    """
    out = Path(out_dir)
    sessions = ch.sessions
    cap = secr_captures(ch)
    have = set(cap.Session.unique()) if len(cap) else set()
    with storage.atomic_path(out / "capt.txt") as tmp, open(tmp, "wb") as fh:
        fh.write(_header(ch, "secr capture file (captfile): Session ID Occasion Detector").encode("utf-8"))
        _write_lines(fh, cap)
        for s in sessions:
            if s not in have:
                u = ch.usage_matrix(s)
                fh.write(f"{_tok(s)} NONE 1 {_tok(u.index[0])}\n".encode("utf-8"))
    files = {"captfile": out / "capt.txt"}
    trapfiles = []
    covs = _trap_covariates(ch)
    for s in sessions:
        name = _session_file("traps", s, len(sessions), "txt")
        hdr = _header(ch, f"secr trap file (trapfile), session {s}: Detector X Y then usage (days of effort) "
                          f"per occasion o1..o{ch.usage_matrix(s).shape[1]}"
                      + (f", then / {' '.join(covs)}" if covs else ""))
        storage.write_text(out / name, hdr + secr_traps_text(ch, s, covs))
        trapfiles.append(name)
    files["trapfiles"] = [str(out / t) for t in trapfiles]
    covarg = f",\n                    trapcovnames = c({', '.join(repr(c) for c in covs)})" if covs else ""
    if len(trapfiles) == 1:
        tf, order = f'"{trapfiles[0]}"', ""
    else:
        # secr matches trap files to sessions by position after sorting the session labels
        # (numerically when they are all numbers, else R's sort(), which depends on the
        # locale): order the files the same way in R rather than trusting Python's order
        named = ", ".join(f'"{str(s)}" = "{t}"' for s, t in zip(sessions, trapfiles))
        order = (f"trapfiles <- c({named})\n"
                 "lv <- names(trapfiles)\n"
                 "lv <- if (all(!is.na(suppressWarnings(as.numeric(lv))))) lv[order(as.numeric(lv))] else sort(lv)\n")
        tf = "trapfiles[lv]"
    script = (f"# Read the lynxid capture history into secr (run in this folder).\n"
              f"library(secr)\n{order}"
              f"ch <- read.capthist(\"capt.txt\", {tf},\n"
              f"                    detector = \"{ch.detector_type}\", fmt = \"trapID\",\n"
              f"                    binary.usage = FALSE, noncapt = \"NONE\"{covarg})\n"
              f"summary(ch)\n"
              f"# usage(traps(ch)) holds the days of effort per detector and occasion\n")
    files["script"] = str(storage.write_text(out / "read_secr.R", script))
    files["captfile"] = str(files["captfile"])
    return files


# --------------------------------------------------------------------------------------
# oSCR
# --------------------------------------------------------------------------------------
def write_oscr(ch: CaptureHistory, out_dir) -> dict:
    """oSCR's encounter data file (edf) and trap deployment files (tdf), for ``data2oscr``.

    ``oscr_edf.csv``: ``session`` (1..S), ``individual``, ``occasion``, ``trap`` -- one row
    per detection (counts repeated; ``data2oscr(remove.extracaps = TRUE)`` makes them binary).
    ``oscr_tdf_<session>.csv``: ``trap, X, Y`` then one 1/0 column per occasion (trap
    operation: 1 where the station had any effort). The exact effort in days is in
    ``oscr_effort_<session>.csv`` (e.g. as a trap covariate).
    """
    out = Path(out_dir)
    sessions = ch.sessions
    sidx = {s: i + 1 for i, s in enumerate(sessions)}
    cap = secr_captures(ch)
    edf = pd.DataFrame({"session": cap.Session.map(sidx).astype("int64"), "individual": cap.ID,
                        "occasion": cap.Occasion, "trap": cap.Detector, "session_label": cap.Session})
    files = {"edf": str(storage.write_table(edf, out / "oscr_edf.csv"))}
    tdfs, K = [], []
    for s in sessions:
        u = ch.usage_matrix(s)
        tr = ch.traps[ch.traps.session == s].set_index("detector").loc[u.index]
        op = (u.to_numpy() > 0).astype(int)
        tdf = pd.concat([pd.DataFrame({"trap": u.index, "X": tr.x.to_numpy(), "Y": tr.y.to_numpy()}),
                         pd.DataFrame(op, columns=[f"op.{k + 1}" for k in range(op.shape[1])])], axis=1)
        name = _session_file("oscr_tdf", s, len(sessions), "csv")
        storage.write_table(tdf, out / name)
        eff = u.reset_index()
        storage.write_table(eff, out / _session_file("oscr_effort", s, len(sessions), "csv"))
        tdfs.append(name)
        K.append(u.shape[1])
    files["tdf"] = [str(out / t) for t in tdfs]
    script = ("# Read the lynxid capture history into oSCR (run in this folder).\n"
              "library(oSCR)\n"
              "edf <- read.csv(\"oscr_edf.csv\", stringsAsFactors = FALSE)\n"
              f"tdf <- list({', '.join(f'read.csv({t!r}, check.names = FALSE)' for t in tdfs)})\n".replace("'", '"') +
              "data <- data2oscr(edf, tdf = tdf, sess.col = 1, id.col = 2, occ.col = 3, trap.col = 4,\n"
              f"                  K = c({', '.join(map(str, K))}), ntraps = sapply(tdf, nrow))\n"
              "sf <- data$scrFrame\n")
    files["script"] = str(storage.write_text(out / "read_oscr.R", script))
    return files


# --------------------------------------------------------------------------------------
# nimble / JAGS
# --------------------------------------------------------------------------------------
def write_nimble(ch: CaptureHistory, out_dir, augment_to: int | None = None) -> dict:
    """Data for a Bayesian SCR model in nimble or JAGS, per session.

    ``nimble_y.csv``: the non-zero cells ``i, j, k, y`` of ``y[i,j,k]`` (1-based; rows
    ``n+1..M`` are the all-zero augmented individuals); ``nimble_y2d.csv``: ``y[i,j]``
    summed over occasions; ``nimble_traps.csv``: ``j, detector, x, y``;
    ``nimble_effort.csv``: days of effort J x K; ``nimble_operation.csv``: 1/0 J x K;
    ``nimble_constants.json``: ``M, n, J, K``, occasions and ``K_j`` (occasions each trap
    operated: the binomial size for ``y[i,j]``). ``augment_to`` is M (default 5 n).
    """
    out = Path(out_dir)
    files = {}
    consts = {}
    for s in ch.sessions:
        n1 = len(ch.sessions)
        u = ch.usage_matrix(s)
        inds = ch.individuals[ch.individuals.session == s].individual.tolist()
        n = len(inds)
        M = int(augment_to) if augment_to is not None else max(5 * n, n + 1)
        if M < n:
            raise ValueError(f"augment_to={M} is smaller than the {n} individuals detected in session {s}")
        d = ch.detections[ch.detections.session == s]
        i = pd.Index(inds).get_indexer(d.individual) + 1
        j = pd.Index(u.index).get_indexer(d.detector) + 1
        y = pd.DataFrame({"i": i, "j": j, "k": d.occasion.to_numpy(), "y": d["count"].to_numpy()})
        y2 = y.groupby(["i", "j"], as_index=False)["y"].sum()
        tr = ch.traps[ch.traps.session == s].set_index("detector").loc[u.index]
        traps = pd.DataFrame({"j": np.arange(1, len(u) + 1), "detector": u.index, "x": tr.x.to_numpy(),
                              "y": tr.y.to_numpy()})
        pre = "nimble" if n1 == 1 else f"nimble_{re.sub(r'[^A-Za-z0-9._-]+', '_', s)}"
        storage.write_table(y, out / f"{pre}_y.csv")
        storage.write_table(y2, out / f"{pre}_y2d.csv")
        storage.write_table(traps, out / f"{pre}_traps.csv")
        storage.write_table(pd.DataFrame({"i": np.arange(1, n + 1), "individual": inds}), out / f"{pre}_individuals.csv")
        storage.write_table(u.reset_index(), out / f"{pre}_effort.csv")
        storage.write_table(pd.DataFrame((u.to_numpy() > 0).astype(int), index=u.index, columns=u.columns).reset_index(),
                            out / f"{pre}_operation.csv")
        c = dict(session=s, M=M, n=n, J=int(u.shape[0]), K=int(u.shape[1]),
                 K_j=[int(v) for v in (u.to_numpy() > 0).sum(axis=1)],
                 detector=ch.detector_type, occasion_length_days=ch.settings.get("occasion_length"),
                 y="y[i,j,k]: detections of individual i at trap j on occasion k (rows n+1..M are zeros); "
                   "nimble_y.csv lists the non-zero cells",
                 effort="effort[j,k] days (nimble_effort.csv); operation[j,k] 1/0 (nimble_operation.csv)")
        storage.write_json(out / f"{pre}_constants.json", c)
        consts[s] = c
        files[s] = str(out / f"{pre}_constants.json")
    return files


# --------------------------------------------------------------------------------------
# closed capture-recapture: Rcapture and RMark
# --------------------------------------------------------------------------------------
def closed_matrix(ch: CaptureHistory) -> pd.DataFrame:
    """Individual x occasion 0/1 matrix (detected anywhere), with ``session`` and
    ``individual`` columns: Rcapture's capture-history matrix."""
    frames = []
    for s in ch.sessions:
        K = ch.usage_matrix(s).shape[1]
        inds = ch.individuals[ch.individuals.session == s].individual.tolist()
        d = ch.detections[ch.detections.session == s]
        m = np.zeros((len(inds), K), dtype=np.int64)
        m[pd.Index(inds).get_indexer(d.individual), d.occasion.to_numpy() - 1] = 1
        f = pd.DataFrame(m, columns=[f"o{k + 1}" for k in range(K)])
        f.insert(0, "individual", inds)
        f.insert(0, "session", s)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def rmark_table(ch: CaptureHistory) -> pd.DataFrame:
    """RMark's data frame: ``ch`` (the 0/1 history as text), ``freq`` (1), ``individual``,
    ``session`` (a grouping variable when there are several sessions). Occasions a session
    does not have (sessions of different lengths) are ".", MARK's code for "not sampled",
    never 0 ("sampled, not detected"), which would bias p and N."""
    m = closed_matrix(ch)
    occ = [c for c in m.columns if re.fullmatch(r"o\d+", c)]
    ch_str = (m[occ].apply(lambda col: col.map(lambda v: "." if pd.isna(v) else str(int(v)))).agg("".join, axis=1)
              if len(m) else pd.Series([], dtype=object))
    return pd.DataFrame({"ch": ch_str, "freq": 1, "individual": m.individual, "session": m.session})


def write_closed(ch: CaptureHistory, out_dir) -> dict:
    """``closed_matrix.csv`` for Rcapture (``closedp(X[, -(1:2)])``); with sessions of different
    lengths a session's missing occasions are empty cells (NA): analyse one session at a time."""
    return {"closed": str(storage.write_table(closed_matrix(ch), Path(out_dir) / "closed_matrix.csv"))}


def write_rmark(ch: CaptureHistory, out_dir) -> dict:
    """``rmark_ch.csv`` (read with ``colClasses = c(ch = "character")`` so leading zeros stay)
    and ``rmark.inp`` (MARK's encounter-history input: ``/* ID */ 0101 1;``)."""
    out = Path(out_dir)
    t = rmark_table(ch)
    files = {"rmark_csv": str(storage.write_table(t, out / "rmark_ch.csv"))}
    lines = [f"/* {i} session {s} */ {h} 1;" for i, s, h in zip(t.individual, t.session, t.ch)]
    files["rmark_inp"] = str(storage.write_text(out / "rmark.inp", "\n".join(lines) + "\n"))
    return files


# --------------------------------------------------------------------------------------
# Camtrap DP
# --------------------------------------------------------------------------------------
def utm_to_lonlat(easting, northing, zone: int, south: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 UTM -> (longitude, latitude) in degrees (Krueger series to n^3, about 1 mm)."""
    a, f = 6378137.0, 1 / 298.257223563
    n = f / (2 - f)
    A = a / (1 + n) * (1 + n ** 2 / 4 + n ** 4 / 64)
    beta = [n / 2 - 2 / 3 * n ** 2 + 37 / 96 * n ** 3, 1 / 48 * n ** 2 + 1 / 15 * n ** 3, 17 / 480 * n ** 3]
    delta = [2 * n - 2 / 3 * n ** 2 - 2 * n ** 3, 7 / 3 * n ** 2 - 8 / 5 * n ** 3, 56 / 15 * n ** 3]
    k0 = 0.9996
    E = np.asarray(easting, dtype=float) - 500000.0
    N = np.asarray(northing, dtype=float) - (10_000_000.0 if south else 0.0)
    xi = N / (k0 * A)
    eta = E / (k0 * A)
    xp, ep = xi.copy(), eta.copy()
    for j, b in enumerate(beta, start=1):
        xp = xp - b * np.sin(2 * j * xi) * np.cosh(2 * j * eta)
        ep = ep - b * np.cos(2 * j * xi) * np.sinh(2 * j * eta)
    chi = np.arcsin(np.sin(xp) / np.cosh(ep))
    lat = chi.copy()
    for j, d in enumerate(delta, start=1):
        lat = lat + d * np.sin(2 * j * chi)
    lon0 = math.radians(zone * 6 - 183)
    lon = lon0 + np.arctan2(np.sinh(ep), np.cos(xp))
    return np.degrees(lon), np.degrees(lat)


def _parse_crs(crs) -> tuple[int, bool]:
    s = str(crs).strip().upper().replace(" ", "")
    m = re.fullmatch(r"(?:EPSG:)?32([67])(\d{2})", s)
    if m:
        return int(m.group(2)), m.group(1) == "7"
    m = re.fullmatch(r"UTM(?:ZONE)?(\d{1,2})([NS])", s)
    if m:
        return int(m.group(1)), m.group(2) == "S"
    raise ValueError(f"crs {crs!r}: give a WGS84 UTM zone as 'EPSG:326NN' / 'EPSG:327NN' or 'UTM 33N', or put "
                     "'latitude' and 'longitude' columns in the station table (as covariate_cols)")


def _iso(ns, tz) -> pd.Series:
    from .stations import _zone
    t = pd.Series(pd.to_datetime(np.asarray(ns, dtype=np.int64)))
    # Camtrap DP requires every time: a wall-clock time in the hour repeated when clocks go back
    # is taken as its first (summer-time) occurrence, one in the skipped hour moves forward
    t = t.dt.tz_localize(_zone(tz), ambiguous=np.ones(len(t), dtype=bool), nonexistent="shift_forward")
    return t.map(lambda v: v.isoformat() if not pd.isna(v) else "")


def write_camtrap_dp(ch: CaptureHistory, out_dir, *, crs=None, scientific_name: str | None = None,
                     title: str = "lynxid camera-trap survey", contributors: list | None = None) -> dict:
    """A Camera Trap Data Package (Camtrap DP 1.0) in ``out_dir/camtrap-dp``.

    Deployments are the working periods of each camera: a deployment with a malfunction is
    split in two at the Problem period (camtrapR's ``readcamtrapDP`` reads such gaps back as
    Problems). Media are the image files, observations one per record with
    ``individualID``. Coordinates need ``crs`` (a WGS84 UTM zone) or ``latitude`` /
    ``longitude`` station covariates; times need the survey time zone (``tz`` of the capture
    history).
    """
    from .effort import operating_intervals
    st = ch.station_table
    raw = ch.raw_detections
    if st is None or raw is None:
        raise ValueError("this capture history does not carry its inputs; build it with capture_history()")
    tz = ch.settings.get("tz")
    if not tz:
        raise ValueError("Camtrap DP needs times with a UTC offset: give the survey time zone (tz=, camtrapR's timeZone)")
    out = Path(out_dir) / "camtrap-dp"
    issues = []
    dep = st.deployments.reset_index(drop=True)
    units = operating_intervals(st, by_camera=True)
    g, s_, e_, _ = units.work
    # coordinates
    if "latitude" in dep.columns and "longitude" in dep.columns:
        lat, lon = pd.to_numeric(dep.latitude, errors="coerce").to_numpy(), pd.to_numeric(dep.longitude, errors="coerce").to_numpy()
    elif crs is not None:
        zone, south = _parse_crs(crs)
        lon, lat = utm_to_lonlat(dep.x.to_numpy(), dep.y.to_numpy(), zone, south)
    else:
        lat = lon = np.full(len(dep), np.nan)
        issues.append("no crs and no latitude/longitude columns: deployments.csv has empty latitude/longitude, "
                      "which Camtrap DP requires; pass crs='EPSG:326NN'")
    part = pd.Series(g).groupby(g).cumcount().to_numpy() + 1
    nparts = np.bincount(g, minlength=len(dep))[g]
    base = dep.station.astype(str).to_numpy(object)[g]
    if st.has_cameras:
        base = base + "_" + dep.camera.astype(str).to_numpy(object)[g]
    if st.has_sessions:
        base = base + "_s" + dep.session.astype(str).to_numpy(object)[g]
    dep_id = np.where(nparts > 1, base + "_" + part.astype(str), base)
    deployments = pd.DataFrame({
        "deploymentID": dep_id, "locationID": dep.station.to_numpy(object)[g],
        "locationName": dep.station.to_numpy(object)[g], "latitude": np.round(lat[g], 6), "longitude": np.round(lon[g], 6),
        "deploymentStart": _iso(s_, tz).to_numpy(), "deploymentEnd": _iso(e_, tz).to_numpy(),
        "cameraID": dep.camera.to_numpy(object)[g] if st.has_cameras else None,
        "deploymentGroups": ("session:" + dep.session.astype(str).to_numpy(object)[g]) if st.has_sessions else None,
        "deploymentComments": np.where(nparts > 1, "working period " + part.astype(str) + " of " + nparts.astype(str)
                                       + " (split at malfunction periods of the station table)", None)})
    storage.write_table(deployments, out / "deployments.csv")

    # records -> deployment working periods
    rec = ch.records
    # every identified record of the focal species is an observation (effort or not); records
    # of other species are not: they would be written under the focal scientificName
    okrec = rec[rec.station.notna() & rec.time.notna() & rec.individual.notna() & (rec.reason != "other species")]
    dep_key = pd.DataFrame({"unit": g, "start": s_, "end": e_, "deploymentID": dep_id,
                            "station": dep.station.to_numpy(object)[g],
                            "camera": dep.camera.astype(object).to_numpy()[g],
                            "session": dep.session.to_numpy(object)[g]})
    r = okrec[["row", "station", "camera", "session", "time", "individual"]].copy()
    r["t"] = r.time.to_numpy("datetime64[ns]").view(np.int64)
    if st.has_cameras:
        # a record without a camera (a table with none) is matched to whichever camera of its
        # station was working: the station's deployments are added under the station alone
        no_cam = r.camera.isna().to_numpy()
        r["_k"] = np.where(no_cam, r.station.astype(str), r.station.astype(str) + "\x1f" + r.camera.astype(str))
        by_station = dep_key.assign(_k=dep_key.station.astype(str))
        dep_key["_k"] = dep_key.station.astype(str) + "\x1f" + dep_key.camera.astype(str)
        if no_cam.any():
            dep_key = pd.concat([dep_key, by_station], ignore_index=True)
            issues.append(f"{int(no_cam.sum())} observation(s) have no camera: each is attached to a working "
                          "deployment of its station")
    else:
        r["_k"] = r.station.astype(str)
        dep_key["_k"] = dep_key.station.astype(str)
    r = r.sort_values("t")
    dk = dep_key.sort_values("start")
    m = pd.merge_asof(r, dk[["start", "end", "deploymentID", "_k"]], left_on="t", right_on="start", by="_k",
                      direction="backward")
    inside = m.end > m.t
    nearest = pd.merge_asof(r, dk[["start", "deploymentID", "_k"]], left_on="t", right_on="start", by="_k",
                            direction="nearest")
    m["deploymentID"] = np.where(inside, m.deploymentID, nearest.deploymentID.to_numpy())
    if (~inside).any():
        issues.append(f"{int((~inside).sum())} observation(s) fall outside every working period of their camera; "
                      "they are attached to the nearest deployment")
    nodep = m.deploymentID.isna()
    if nodep.any():
        issues.append(f"{int(nodep.sum())} observation(s) have no deployment (their station/camera is not in the "
                      "station table) and are left out")
        m = m[~nodep]
    m = m.sort_values("row")
    rawr = raw.reset_index(drop=True).iloc[m.row.to_numpy() - 1]
    def col(*names):
        for c in names:
            if c in rawr.columns:
                return rawr[c].to_numpy()
        return None
    path = col("path", "Directory")
    fname = col("file", "FileName")
    if fname is not None and path is not None and "Directory" in rawr.columns and "FileName" in rawr.columns:
        fpath = (pd.Series(rawr.Directory.astype(str).to_numpy()) + "/" + pd.Series(rawr.FileName.astype(str).to_numpy())).to_numpy()
    elif fname is not None:
        fpath = fname.astype(str)
    else:
        fpath = None
    ts = _iso(m.t.to_numpy(), tz).to_numpy()
    if fpath is not None:
        media_key = pd.Series(fpath).astype(str)
        codes, uniq = pd.factorize(media_key)
        media_id = np.array([f"m{c + 1}" for c in range(len(uniq))], dtype=object)[codes]
        first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
        media = pd.DataFrame({"mediaID": media_id[first], "deploymentID": m.deploymentID.to_numpy()[first],
                              "captureMethod": "activityDetection", "timestamp": ts[first],
                              "filePath": np.asarray(uniq, dtype=object), "filePublic": "false",
                              "fileName": [Path(p).name for p in uniq], "fileMediatype": "image/jpeg"})
    else:
        media_id = np.full(len(m), None, dtype=object)
        media = pd.DataFrame(columns=["mediaID", "deploymentID", "captureMethod", "timestamp", "filePath",
                                      "filePublic", "fileName", "fileMediatype"])
        issues.append("the detections have no file names: media.csv is empty and observations are event-level")
    storage.write_table(media, out / "media.csv")
    species = scientific_name or ch.settings.get("species")
    ev = col("event_id")
    prob = col("probability")
    obs = pd.DataFrame({
        "observationID": ["o" + str(x) for x in m.row.to_numpy()], "deploymentID": m.deploymentID.to_numpy(),
        "mediaID": media_id, "eventID": ev if ev is not None else None,
        "eventStart": ts, "eventEnd": ts,
        "observationLevel": "media" if fpath is not None else "event", "observationType": "animal",
        "scientificName": species, "count": 1, "individualID": m.individual.to_numpy(),
        "bboxX": col("bbox_x"), "bboxY": col("bbox_y"), "bboxWidth": col("bbox_w"), "bboxHeight": col("bbox_h"),
        "classificationMethod": "machine" if prob is not None else "human",
        "classifiedBy": "lynxid" if prob is not None else None,
        "classificationProbability": prob})
    storage.write_table(obs, out / "observations.csv")
    tstart = str(pd.Timestamp(dep.setup.min()).date())
    tend = str(pd.Timestamp(dep.retrieval.max()).date())
    okl = ~np.isnan(lat)
    spatial = ({"type": "Polygon", "coordinates": [[[float(np.min(lon[okl])), float(np.min(lat[okl]))],
                                                    [float(np.max(lon[okl])), float(np.min(lat[okl]))],
                                                    [float(np.max(lon[okl])), float(np.max(lat[okl]))],
                                                    [float(np.min(lon[okl])), float(np.max(lat[okl]))],
                                                    [float(np.min(lon[okl])), float(np.min(lat[okl]))]]]}
               if okl.any() else None)
    schema = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/{}-table-schema.json"
    pkg = {
        "profile": "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/camtrap-dp-profile.json",
        "name": re.sub(r"[^a-z0-9._-]+", "-", title.lower()).strip("-"),
        "title": title,
        "created": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "contributors": contributors or [{"title": "to be completed", "role": "contact"}],
        "project": {"title": title, "samplingDesign": "targeted", "captureMethod": ["activityDetection"],
                    "individualAnimals": True, "observationLevel": ["media"] if fpath is not None else ["event"]},
        "spatial": spatial, "temporal": {"start": tstart, "end": tend},
        "taxonomic": [{"scientificName": species}] if species else [],
        "resources": [{"name": n, "path": f"{n}.csv", "profile": "tabular-data-resource", "format": "csv",
                       "mediatype": "text/csv", "encoding": "utf-8", "schema": schema.format(n)}
                      for n in ("deployments", "media", "observations")],
    }
    if contributors is None:
        issues.append("datapackage.json: fill in 'contributors' (required by Camtrap DP)")
    storage.write_json(out / "datapackage.json", pkg)
    return {"camtrapdp": str(out), "issues": issues}


# --------------------------------------------------------------------------------------
# in-memory forms (what the R package turns into R objects)
# --------------------------------------------------------------------------------------
def secr_data(ch: CaptureHistory) -> dict:
    """Everything ``secr::make.capthist`` needs: ``captures`` (Session, ID, Occasion,
    Detector; text columns), per session ``traps`` (detector, x, y, covariates) and ``usage``
    (``detector`` column, then one column of days per occasion), ``noccasions``, the ``detector`` type and the ``sessions`` in
    secr's order (``empty_sessions`` have no capture and need secr's ``noncapt`` row)."""
    cap = secr_captures(ch)
    cap = pd.DataFrame({c: (cap[c].astype(str).to_numpy(object) if c != "Occasion" else cap[c].to_numpy())
                        for c in cap.columns})
    covs = _trap_covariates(ch)
    traps, usage, K = {}, {}, {}
    for s in ch.sessions:
        u = ch.usage_matrix(s)
        tr = ch.traps[ch.traps.session == s].set_index("detector").loc[u.index]
        traps[s] = pd.DataFrame({"detector": list(u.index), "x": tr.x.to_numpy(), "y": tr.y.to_numpy(),
                                 **{c: tr[c].to_numpy() for c in covs}})
        usage[s] = u.reset_index()
        K[s] = int(u.shape[1])
    have = set(cap.Session) if len(cap) else set()
    return {"captures": cap, "traps": traps, "usage": usage, "noccasions": K, "detector": ch.detector_type,
            "sessions": list(ch.sessions), "empty_sessions": [s for s in ch.sessions if s not in have],
            "covariates": covs}


def oscr_data(ch: CaptureHistory) -> dict:
    """oSCR's inputs in memory: ``edf`` (session 1..S, individual, occasion, trap), per
    session ``tdf`` (trap, X, Y, op.1..op.K), ``y3d`` (n x J x K counts), ``trap_operation``
    (J x K 1/0), ``effort`` (J x K days) and ``K``."""
    sessions = ch.sessions
    sidx = {s: i + 1 for i, s in enumerate(sessions)}
    cap = secr_captures(ch)
    edf = pd.DataFrame({"session": cap.Session.astype(str).map(sidx).astype("int64").to_numpy(),
                        "individual": cap.ID.astype(str).to_numpy(object), "occasion": cap.Occasion.to_numpy(),
                        "trap": cap.Detector.astype(str).to_numpy(object)})
    tdf, y3d, op_l, eff_l, K = [], [], [], [], []
    for s in sessions:
        u = ch.usage_matrix(s)
        tr = ch.traps[ch.traps.session == s].set_index("detector").loc[u.index]
        op = (u.to_numpy() > 0).astype(int)
        tdf.append(pd.concat([pd.DataFrame({"trap": list(u.index), "X": tr.x.to_numpy(), "Y": tr.y.to_numpy()}),
                              pd.DataFrame(op, columns=[f"op.{k + 1}" for k in range(op.shape[1])])], axis=1))
        y3d.append(ch.array(s, order="ijk"))
        op_l.append(op)
        eff_l.append(u.to_numpy())
        K.append(int(u.shape[1]))
    return {"edf": edf, "tdf": tdf, "y3d": y3d, "trap_operation": op_l, "effort": eff_l, "K": K,
            "sessions": sessions}


def array_data(ch: CaptureHistory, augment_to: int | None = None) -> dict:
    """Per session, the data of a Bayesian SCR model (nimble / JAGS): ``y`` (M x J x K,
    data-augmented with zero rows), ``y2d`` (M x J, summed over occasions), ``effort`` and
    ``operation`` (J x K), ``X`` (J x 2 coordinates), ``K_j``, ``M, n, J, K``, ``individuals``
    (the first n rows of y) and ``detectors``."""
    out = {}
    for s in ch.sessions:
        u = ch.usage_matrix(s)
        inds = ch.individuals[ch.individuals.session == s].individual.tolist()
        n = len(inds)
        M = int(augment_to) if augment_to is not None else n
        y = ch.array(s, order="ijk", augment_to=M)
        tr = ch.traps[ch.traps.session == s].set_index("detector").loc[u.index]
        op = (u.to_numpy() > 0).astype(int)
        out[s] = {"y": y, "y2d": y.sum(axis=2), "effort": u.to_numpy(), "operation": op,
                  "X": np.column_stack([tr.x.to_numpy(), tr.y.to_numpy()]), "K_j": op.sum(axis=1),
                  "M": M, "n": n, "J": int(u.shape[0]), "K": int(u.shape[1]), "individuals": inds,
                  "detectors": list(u.index), "occasions": list(u.columns), "detector": ch.detector_type}
    return out


# --------------------------------------------------------------------------------------
def write_formats(ch: CaptureHistory, out_dir, formats=("secr",), *, augment_to=None, crs=None,
                  scientific_name=None) -> dict:
    """Write each of ``formats`` (see :data:`FORMATS`, or ``"all"``) plus ``summary.json``,
    ``issues.csv`` and ``records_not_used.csv`` to ``out_dir``; returns what was written."""
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    formats = list(FORMATS) if "all" in formats else list(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)} or 'all'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for f in formats:
        if f == "secr":
            written[f] = write_secr(ch, out)
        elif f == "oscr":
            written[f] = write_oscr(ch, out)
        elif f == "nimble":
            written[f] = write_nimble(ch, out, augment_to=augment_to)
        elif f == "closed":
            written[f] = write_closed(ch, out)
        elif f == "rmark":
            written[f] = write_rmark(ch, out)
        elif f == "camtrapdp":
            written[f] = write_camtrap_dp(ch, out, crs=crs, scientific_name=scientific_name)
    summ = ch.summary()
    storage.write_json(out / "summary.json", {
        "settings": ch.settings, "detector": ch.detector_type,
        "sessions": summ.to_dict("records"),
        "counts_by_occasion": {s: ch.counts_by_occasion(s).to_dict() for s in ch.sessions},
        "records": {k: int(v) for k, v in ch.records.status.value_counts().items() if v},
        "issues": {k: int(v) for k, v in ch.issues.severity.value_counts().items() if v}, "files": written})
    storage.write_table(ch.issues, out / "issues.csv")
    storage.write_table(ch.records[ch.records.status != "used"], out / "records_not_used.csv")
    for s in ch.sessions:
        storage.write_table(ch.usage_matrix(s).reset_index(), out / _session_file("usage", s, len(ch.sessions), "csv"))
    return written
