"""Write a :class:`~lynxid.capture.CaptureHistory` for the programs ecologists fit models in.

=========================  ===============================================================
format                     files (in the output folder)
=========================  ===============================================================
``secr``                   ``capt.txt`` (``Session ID Occasion Detector``) and
                           ``traps.txt`` / ``traps_<session>.txt`` (``Detector X Y usage...``),
                           text files for ``secr::read.capthist`` (``read_secr.R`` has the call),
                           ``trap_covariates.csv`` (station covariates, exact)
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

:data:`WRITERS` maps each format to its writer, :data:`VIEWS` each in-memory form (what the R
package turns into R objects with ``as_capthist()``, ``as_oscr()``, ``as_nimble()``,
``as_closed()`` and ``as_rmark()``) to its builder; writer and view are built from the same helpers, so a file and its
in-memory form cannot disagree. Every write is atomic (:mod:`lynxid.storage`). Alongside the
formats, :func:`write_formats` writes ``summary.json`` (settings and counts) and
``issues.csv`` (every record left out or questionable, with its row and the reason).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage
from .camtrap_dp import utm_to_lonlat, write_camtrap_dp
from .capture import CaptureHistory
from .secr_files import secr_captures, secr_traps_text, trap_covariates, write_secr

__all__ = ["FORMATS", "WRITERS", "VIEWS", "write_formats", "view", "write_secr", "write_oscr", "write_nimble",
           "write_closed", "write_rmark", "write_camtrap_dp", "utm_to_lonlat", "closed_matrix", "rmark_table",
           "secr_captures", "secr_traps_text", "secr_data", "trap_covariates", "oscr_data", "array_data",
           "nimble_data", "default_augmentation"]


# --------------------------------------------------------------------------------------
# oSCR
# --------------------------------------------------------------------------------------
def _oscr_edf(ch: CaptureHistory) -> pd.DataFrame:
    """oSCR's encounter data: ``session`` (1..S), ``individual``, ``occasion``, ``trap``."""
    sidx = {s: i + 1 for i, s in enumerate(ch.sessions)}
    cap = secr_captures(ch)
    return pd.DataFrame({"session": cap.Session.astype(str).map(sidx).astype("int64").to_numpy(),
                         "individual": cap.ID.astype(str).to_numpy(object), "occasion": cap.Occasion.to_numpy(),
                         "trap": cap.Detector.astype(str).to_numpy(object)})


def _oscr_tdf(ch: CaptureHistory, session) -> pd.DataFrame:
    """oSCR's trap deployment file of one session: ``trap, X, Y`` and trap operation 1/0
    (any effort) per occasion, ``op.1 .. op.K``."""
    u = ch.usage_matrix(session)
    tr = ch.traps[ch.traps.session == session].set_index("detector").loc[u.index]
    op = (u.to_numpy() > 0).astype(int)
    return pd.concat([pd.DataFrame({"trap": list(u.index), "X": tr.x.to_numpy(), "Y": tr.y.to_numpy()}),
                      pd.DataFrame(op, columns=[f"op.{k + 1}" for k in range(op.shape[1])])], axis=1)


def write_oscr(ch: CaptureHistory, out_dir) -> dict:
    """oSCR's encounter data file (edf) and trap deployment files (tdf), for ``data2oscr``.

    ``oscr_edf.csv``: ``session`` (1..S), ``individual``, ``occasion``, ``trap`` -- one row
    per detection (counts repeated; ``data2oscr(remove.extracaps = TRUE)`` makes them binary)
    and the ``session_label``. ``oscr_tdf_<session>.csv``: ``trap, X, Y`` then one 1/0 column
    per occasion (trap operation: 1 where the station had any effort). The exact effort in
    days is in ``oscr_effort_<session>.csv`` (e.g. as a trap covariate).
    """
    out = Path(out_dir)
    sessions = ch.sessions
    edf = _oscr_edf(ch)
    edf["session_label"] = np.asarray(sessions, dtype=object)[edf.session.to_numpy() - 1]
    files = {"edf": str(storage.write_table(edf, out / "oscr_edf.csv"))}
    tdfs, K = [], []
    for s in sessions:
        name = storage.session_file("oscr_tdf", s, len(sessions), "csv")
        storage.write_table(_oscr_tdf(ch, s), out / name)
        u = ch.usage_matrix(s)
        storage.write_table(u.reset_index(), out / storage.session_file("oscr_effort", s, len(sessions), "csv"))
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
def default_augmentation(n: int) -> int:
    """M, the rows of ``y`` with data augmentation, when ``augment_to`` is not given:
    ``max(5 n, n + 1)`` for ``n`` individuals detected in the session. Five times n is a
    common starting point (check after fitting that the posterior of N stays well below M;
    if not, give a larger ``augment_to``); n + 1 keeps a row to augment when n is 0 or 1."""
    return max(5 * int(n), int(n) + 1)


def nimble_data(ch: CaptureHistory, session, augment_to: int | None = None, *, dense: bool = True) -> dict:
    """One session's data for a Bayesian SCR model (nimble / JAGS), the single source of M
    for :func:`write_nimble` and :func:`array_data` (R's ``as_nimble()``): M is
    ``augment_to``, by default :func:`default_augmentation`.

    Returns ``M, n, J, K``, ``individuals`` (the first n rows of y), ``detectors``,
    ``occasions``, ``effort`` and ``operation`` (J x K days and 1/0), ``X`` (J x 2
    coordinates), ``K_j`` (occasions each trap operated) and the ``detector`` type; with
    ``dense`` also ``y`` (M x J x K, rows n+1..M all zero) and ``y2d`` (M x J, summed over
    occasions), else ``cells``, the non-zero ``i, j, k, y`` (1-based), which is all a file
    needs (a dense y of 1,500 x 200 x 365 would take 440 MB).
    """
    s = str(session)
    u = ch.usage_matrix(s)
    inds = ch.individuals[ch.individuals.session == s].individual.tolist()
    n = len(inds)
    M = default_augmentation(n) if augment_to is None else int(augment_to)
    if M < n:
        raise ValueError(f"augment_to={M} is smaller than the {n} individuals detected in session {s}")
    if dense:
        y = ch.array(s, order="ijk", augment_to=M)
        out = {"y": y, "y2d": y.sum(axis=2)}
    else:
        d = ch.detections[ch.detections.session == s]
        out = {"cells": pd.DataFrame({"i": pd.Index(inds).get_indexer(d.individual) + 1,
                                      "j": pd.Index(u.index).get_indexer(d.detector) + 1,
                                      "k": d.occasion.to_numpy(), "y": d["count"].to_numpy()})}
    tr = ch.traps[ch.traps.session == s].set_index("detector").loc[u.index]
    op = (u.to_numpy() > 0).astype(int)
    out.update({"effort": u.to_numpy(), "operation": op, "X": np.column_stack([tr.x.to_numpy(), tr.y.to_numpy()]),
                "K_j": op.sum(axis=1), "M": M, "n": n, "J": int(u.shape[0]), "K": int(u.shape[1]),
                "individuals": inds, "detectors": list(u.index), "occasions": list(u.columns),
                "detector": ch.detector_type})
    return out


def write_nimble(ch: CaptureHistory, out_dir, augment_to: int | None = None) -> dict:
    """Data for a Bayesian SCR model in nimble or JAGS, per session (:func:`nimble_data`).

    ``nimble_y.csv``: the non-zero cells ``i, j, k, y`` of ``y[i,j,k]`` (1-based; rows
    ``n+1..M`` are the all-zero augmented individuals); ``nimble_y2d.csv``: ``y[i,j]``
    summed over occasions; ``nimble_traps.csv``: ``j, detector, x, y``;
    ``nimble_effort.csv``: days of effort J x K; ``nimble_operation.csv``: 1/0 J x K;
    ``nimble_constants.json``: ``M, n, J, K``, occasions and ``K_j`` (occasions each trap
    operated: the binomial size for ``y[i,j]``). ``augment_to`` is M (default
    ``max(5 n, n + 1)``, :func:`default_augmentation`, as in R's ``as_nimble()``).
    """
    out = Path(out_dir)
    files = {}
    for s in ch.sessions:
        nd = nimble_data(ch, s, augment_to, dense=False)
        u = ch.usage_matrix(s)
        y = nd["cells"]
        y2 = y.groupby(["i", "j"], as_index=False)["y"].sum()
        traps = pd.DataFrame({"j": np.arange(1, nd["J"] + 1), "detector": u.index, "x": nd["X"][:, 0],
                              "y": nd["X"][:, 1]})
        pre = "nimble" if len(ch.sessions) == 1 else f"nimble_{re.sub(r'[^A-Za-z0-9._-]+', '_', s)}"
        storage.write_table(y, out / f"{pre}_y.csv")
        storage.write_table(y2, out / f"{pre}_y2d.csv")
        storage.write_table(traps, out / f"{pre}_traps.csv")
        storage.write_table(pd.DataFrame({"i": np.arange(1, nd["n"] + 1), "individual": nd["individuals"]}),
                            out / f"{pre}_individuals.csv")
        storage.write_table(u.reset_index(), out / f"{pre}_effort.csv")
        storage.write_table(pd.DataFrame(nd["operation"], index=u.index, columns=u.columns).reset_index(),
                            out / f"{pre}_operation.csv")
        c = dict(session=s, M=nd["M"], n=nd["n"], J=nd["J"], K=nd["K"], K_j=[int(v) for v in nd["K_j"]],
                 detector=ch.detector_type, occasion_length_days=ch.settings.get("occasion_length"),
                 y="y[i,j,k]: detections of individual i at trap j on occasion k (rows n+1..M are zeros); "
                   "nimble_y.csv lists the non-zero cells",
                 effort="effort[j,k] days (nimble_effort.csv); operation[j,k] 1/0 (nimble_operation.csv)")
        storage.write_json(out / f"{pre}_constants.json", c)
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
# in-memory forms (what the R package turns into R objects)
# --------------------------------------------------------------------------------------
def secr_data(ch: CaptureHistory) -> dict:
    """Everything ``secr::make.capthist`` needs (R's ``as_capthist()`` builds the same from the
    detections it already holds, rpkg/R/secr.R, and its tests compare the two): ``captures`` (Session, ID, Occasion,
    Detector; text columns), per session ``traps`` (detector, x, y, covariates) and ``usage``
    (``detector`` column, then one column of days per occasion), ``noccasions``, the ``detector`` type and the ``sessions`` in
    secr's order (``empty_sessions`` have no capture and need secr's ``noncapt`` row)."""
    cap = secr_captures(ch)
    cap = pd.DataFrame({c: (cap[c].astype(str).to_numpy(object) if c != "Occasion" else cap[c].to_numpy())
                        for c in cap.columns})
    covs = trap_covariates(ch)
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
    """oSCR's inputs in memory (the tables :func:`write_oscr` writes): ``edf`` (session 1..S,
    individual, occasion, trap), per session ``tdf`` (trap, X, Y, op.1..op.K), ``y3d`` (n x J
    x K counts), ``trap_operation`` (J x K 1/0), ``effort`` (J x K days) and ``K``."""
    sessions = ch.sessions
    tdf, y3d, op_l, eff_l, K = [], [], [], [], []
    for s in sessions:
        u = ch.usage_matrix(s)
        tdf.append(_oscr_tdf(ch, s))
        y3d.append(ch.array(s, order="ijk"))
        op_l.append((u.to_numpy() > 0).astype(int))
        eff_l.append(u.to_numpy())
        K.append(int(u.shape[1]))
    return {"edf": _oscr_edf(ch), "tdf": tdf, "y3d": y3d, "trap_operation": op_l, "effort": eff_l, "K": K,
            "sessions": sessions}


def array_data(ch: CaptureHistory, augment_to: int | None = None) -> dict:
    """Per session, :func:`nimble_data` with the dense ``y`` (M x J x K, data-augmented with
    zero rows; M = ``augment_to``, by default ``max(5 n, n + 1)`` as in :func:`write_nimble`)
    and ``y2d`` (M x J), ``effort`` and ``operation`` (J x K), ``X`` (J x 2 coordinates),
    ``K_j``, ``M, n, J, K``, ``individuals`` (the first n rows of y) and ``detectors``."""
    return {s: nimble_data(ch, s, augment_to) for s in ch.sessions}


# --------------------------------------------------------------------------------------
# the registries
# --------------------------------------------------------------------------------------
WRITERS = {"secr": write_secr, "oscr": write_oscr, "nimble": write_nimble, "closed": write_closed,
           "rmark": write_rmark, "camtrapdp": write_camtrap_dp}
FORMATS = tuple(WRITERS)
VIEWS = {"secr": secr_data, "oscr": oscr_data, "nimble": array_data, "closed": closed_matrix, "rmark": rmark_table}


def view(ch: CaptureHistory, fmt: str, **options):
    """A capture history in memory in the form one program reads (see :data:`VIEWS`; the
    same tables the files of :data:`WRITERS` hold, under the same names); ``options`` go to
    the view (``augment_to`` for ``"nimble"``)."""
    if fmt not in VIEWS:
        raise ValueError(f"unknown view {fmt!r}; choose from {', '.join(VIEWS)}")
    return VIEWS[fmt](ch, **options)


def write_formats(ch: CaptureHistory, out_dir, formats=("secr",), *, augment_to=None, crs=None,
                  scientific_name=None) -> dict:
    """Write each of ``formats`` (see :data:`FORMATS`, or ``"all"``) plus ``summary.json``,
    ``issues.csv``, ``records_not_used.csv`` and the usage to ``out_dir``; returns what was
    written. ``augment_to`` goes to nimble, ``crs`` and ``scientific_name`` to Camtrap DP."""
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    formats = list(FORMATS) if "all" in formats else list(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)} or 'all'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = {"nimble": dict(augment_to=augment_to), "camtrapdp": dict(crs=crs, scientific_name=scientific_name)}
    written = {f: WRITERS[f](ch, out, **options.get(f, {})) for f in formats}
    summ = ch.summary()
    storage.write_json(out / "summary.json", {
        "settings": ch.settings, "detector": ch.detector_type, "flank": ch.flank,
        "sessions": summ.to_dict("records"),
        "counts_by_occasion": {s: ch.counts_by_occasion(s).to_dict() for s in ch.sessions},
        "records": {k: int(v) for k, v in ch.records.status.value_counts().items() if v},
        "issues": {k: int(v) for k, v in ch.issues.severity.value_counts().items() if v}, "files": written})
    storage.write_table(ch.issues, out / "issues.csv")
    storage.write_table(ch.records[ch.records.status != "used"], out / "records_not_used.csv")
    for s in ch.sessions:
        storage.write_table(ch.usage_matrix(s).reset_index(),
                            out / storage.session_file("usage", s, len(ch.sessions), "csv"))
    return written
