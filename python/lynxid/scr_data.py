"""Spatial capture-recapture data as the density fit uses it: per session, the detectors
(x, y), their usage per occasion and who was detected where and when.

Three ways in: :func:`from_capture_history` takes lynxid's :class:`~lynxid.capture.CaptureHistory`,
:func:`read_secr_tables` takes secr-style tables (a trap table with ``trapID, x, y,
usage_1..K`` and a capture table with ``ID, occasion, trapID``), the form the secr-reference
data and most published surveys come in, and :func:`read_capture_history_folder` reads back
the folder ``lynxid capture-history`` wrote (its secr files). Both check the data the way a fit needs it checked,
because secr quietly ignores some of these mistakes and the estimate is then wrong without
saying so: a capture at a detector missing from the trap table, an occasion beyond the usage
columns, or an animal detected where and when its detector was not working are errors that
name the animal, occasion and detector.
"""
from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .storage import session_file
from .tables import secr_order

__all__ = ["SCRData", "SCRSession", "from_capture_history", "read_secr_tables", "read_capture_history_folder",
           "DETECTORS"]

DETECTORS = ("proximity", "count")
_SHOW = 5          # offending rows named in an error message


@dataclass
class SCRSession:
    """One session: ``usage`` is detectors x occasions (days of effort or 0/1); the detections
    are parallel arrays of animal index (into ``animals``), detector index, occasion index
    (0-based) and count."""

    name: str
    trap_ids: list
    xy: np.ndarray
    usage: np.ndarray
    animals: list
    animal: np.ndarray
    trap: np.ndarray
    occasion: np.ndarray
    count: np.ndarray

    @property
    def n(self) -> int:
        """Number of animals detected."""
        return len(self.animals)

    def log_multinomial(self, collapsed: bool = False) -> float:
        """log(n! / prod n_w!) over the distinct capture histories w (secr's ``logmultinom``):
        animals with identical histories are interchangeable. ``collapsed``: histories summed
        over occasions (animal x detector counts), as secr's default fit sees them."""
        from scipy.special import gammaln
        if self.n == 0:
            return 0.0
        cells = {}
        for a, k, s, c in zip(self.animal, self.trap, self.occasion, self.count):
            key = (int(k),) if collapsed else (int(s), int(k))
            cells.setdefault(int(a), Counter())[key] += int(c)
        hist = [tuple(sorted(cells.get(i, Counter()).items())) for i in range(self.n)]
        mult = np.array(list(Counter(hist).values()), dtype=float)
        return float(gammaln(self.n + 1) - gammaln(mult + 1).sum())

    def detections_per_animal(self) -> np.ndarray:
        return np.bincount(self.animal, weights=self.count, minlength=self.n)

    def traps_per_animal(self) -> np.ndarray:
        pairs = np.unique(np.column_stack([self.animal, self.trap]), axis=0) if self.n else np.zeros((0, 2), int)
        return np.bincount(pairs[:, 0].astype(int), minlength=self.n)


@dataclass
class SCRData:
    """The sessions of a survey and their detector type (``"proximity"`` or ``"count"``)."""

    sessions: list
    detector: str

    @property
    def n(self) -> int:
        return int(sum(s.n for s in self.sessions))

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([dict(session=s.name, detector=self.detector, animals=s.n,
                                  detections=int(s.count.sum()), detectors=len(s.trap_ids),
                                  occasions=s.usage.shape[1], effort=float(s.usage.sum()))
                             for s in self.sessions])


def _fail(what: str, rows: pd.DataFrame, advice: str):
    shown = rows.head(_SHOW).to_dict("records")
    more = f" (and {len(rows) - _SHOW} more)" if len(rows) > _SHOW else ""
    raise ValueError(f"{what}: {shown}{more}. {advice}")


def build_session(name, trap_ids, xy, usage, det: pd.DataFrame, detector: str) -> SCRSession:
    """Check one session and put it in the fit's form. ``det`` has columns ``animal, occasion
    (1-based), trap, count``."""
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}, not {detector!r}")
    trap_ids = [str(t) for t in trap_ids]
    if len(set(trap_ids)) != len(trap_ids):
        dup = pd.Series(trap_ids)[pd.Series(trap_ids).duplicated()].unique().tolist()
        raise ValueError(f"session {name}: detector IDs repeated in the trap table: {dup[:_SHOW]}")
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    usage = np.asarray(usage, dtype=float).reshape(len(trap_ids), -1)
    if not np.all(np.isfinite(xy)):
        raise ValueError(f"session {name}: detector coordinates must be finite numbers (x, y missing?)")
    if not np.all(np.isfinite(usage)) or (usage < 0).any():
        raise ValueError(f"session {name}: usage must be finite and not negative")
    S = usage.shape[1]
    det = det.copy()
    det["trap"] = det["trap"].astype(str)
    det["animal"] = det["animal"].astype(str)
    known = det.trap.isin(trap_ids)
    if not known.all():
        _fail(f"session {name}: captures at detectors not in the trap table", det.loc[~known],
              "Add the detectors to the trap table or correct the trapID of these captures.")
    occ = pd.to_numeric(det.occasion, errors="coerce")
    bad = occ.isna() | (occ != np.round(occ)) | (occ < 1)
    if bad.any():
        _fail(f"session {name}: occasions must be whole numbers from 1", det.loc[bad], "Correct the occasion column.")
    beyond = occ > S
    if beyond.any():
        _fail(f"session {name}: captures on occasions beyond the {S} usage column(s) of the trap table",
              det.loc[beyond], f"The trap table has usage for occasions 1..{S}: add usage columns or correct "
              "the occasion of these captures.")
    cnt = pd.to_numeric(det["count"], errors="coerce")
    if cnt.isna().any() or (cnt != np.round(cnt)).any() or (cnt < 1).any():
        _fail(f"session {name}: counts must be whole numbers of at least 1", det.loc[cnt.isna() | (cnt < 1)],
              "Correct the count column.")
    k = pd.Index(trap_ids).get_indexer(det.trap)
    s = occ.to_numpy(int) - 1
    off = usage[k, s] <= 0
    if off.any():
        _fail(f"session {name}: animals detected on an occasion their detector was not working (usage 0)",
              det.loc[off, ["animal", "occasion", "trap"]],
              "Either the usage is wrong (the detector worked: give it effort on that occasion) or the "
              "capture is (wrong detector, occasion or animal); secr would silently ignore such captures.")
    g = pd.DataFrame({"animal": det.animal.to_numpy(), "k": k, "s": s, "c": cnt.to_numpy(int)})
    g = g.groupby(["animal", "k", "s"], sort=False, as_index=False)["c"].sum()
    if detector == "proximity" and (g.c > 1).any():
        warnings.warn(f"session {name}: {int((g.c > 1).sum())} animal x detector x occasion cell(s) with more "
                      "than one detection: proximity detectors are binary, counted once (use detector='count' "
                      "to model the number of detections)", stacklevel=3)
        g["c"] = 1
    animals = secr_order(pd.unique(g.animal).tolist())
    a = pd.Index(animals).get_indexer(g.animal)
    return SCRSession(str(name), trap_ids, xy, usage, animals, a.astype(np.int64), g.k.to_numpy(np.int64),
                      g.s.to_numpy(np.int64), g.c.to_numpy(np.int64))


def from_capture_history(ch) -> SCRData:
    """The sessions of a lynxid :class:`~lynxid.capture.CaptureHistory` (usage in days)."""
    sessions = []
    for name in ch.sessions:
        u = ch.usage_matrix(name)
        tr = ch.traps[ch.traps.session.astype(str) == str(name)].set_index("detector")
        ids = [str(t) for t in u.index]
        tr.index = tr.index.astype(str)
        missing = [t for t in ids if t not in tr.index]
        if missing:
            raise ValueError(f"session {name}: detectors without coordinates in the trap table: {missing[:_SHOW]}")
        d = ch.detections[ch.detections.session.astype(str) == str(name)]
        det = pd.DataFrame({"animal": d.individual.astype(str).to_numpy(), "occasion": d.occasion.to_numpy(),
                            "trap": d.detector.astype(str).to_numpy(), "count": d["count"].to_numpy()})
        sessions.append(build_session(name, ids, tr.loc[ids, ["x", "y"]].to_numpy(float), u.to_numpy(float),
                                      det, ch.detector_type))
    return SCRData(sessions, ch.detector_type)


def _table(t, what) -> pd.DataFrame:
    if isinstance(t, pd.DataFrame):
        return t.copy()
    p = Path(t)
    if not p.exists():
        raise FileNotFoundError(f"{what} file not found: {p}")
    return pd.read_csv(p, dtype=str if what == "captures" else None)


def _col(df, names, what, required=True):
    low = {c.lower(): c for c in df.columns}
    for n in names:
        if n.lower() in low:
            return low[n.lower()]
    if required:
        raise ValueError(f"the {what} table needs a column {names[0]!r} (or {', '.join(names[1:])}); "
                         f"it has {list(df.columns)}")
    return None


def read_secr_tables(traps, captures, detector: str = "proximity", occasions: int | None = None) -> SCRData:
    """Read secr-style tables (paths or DataFrames).

    ``traps``: ``trapID, x, y`` and optionally ``usage_1..usage_K`` (effort per occasion; 1/0
    or days) and a ``session`` column for traps that differ between sessions. Without usage
    columns every detector works on every occasion (``occasions``, by default the last one
    with a capture). ``captures``: ``ID, occasion, trapID``, optionally ``session`` (secr's
    ``Session``) and ``count``; for count detectors an animal counted n times at a detector on
    an occasion has n rows or ``count = n``.
    """
    tr, cp = _table(traps, "traps"), _table(captures, "captures")
    t_id = _col(tr, ["trapID", "detector", "trap", "ID"], "traps")
    tx, ty = _col(tr, ["x"], "traps"), _col(tr, ["y"], "traps")
    t_sess = _col(tr, ["session"], "traps", required=False)
    c_id = _col(cp, ["ID", "animal", "individual"], "captures")
    c_occ = _col(cp, ["occasion"], "captures")
    c_trap = _col(cp, ["trapID", "detector", "trap"], "captures")
    c_sess = _col(cp, ["session"], "captures", required=False)
    c_cnt = _col(cp, ["count"], "captures", required=False)
    ucols = sorted([c for c in tr.columns if c.lower().startswith("usage_")], key=lambda c: int(c.split("_")[1]))
    det = pd.DataFrame({"animal": cp[c_id].astype(str), "occasion": cp[c_occ], "trap": cp[c_trap].astype(str),
                        "count": cp[c_cnt] if c_cnt else 1,
                        "session": cp[c_sess].astype(str) if c_sess else "1"})
    if t_sess:
        names = list(dict.fromkeys(tr[t_sess].astype(str).tolist() + det.session.tolist()))
    else:
        names = list(dict.fromkeys(det.session.tolist())) or ["1"]
    sessions = []
    for name in names:
        t = tr[tr[t_sess].astype(str) == name] if t_sess else tr
        d = det[det.session == name]
        if t_sess and len(t) == 0:
            raise ValueError(f"session {name}: captures but no detectors in the trap table for this session")
        if ucols:
            u = t[ucols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
            if np.isnan(u).any():
                raise ValueError(f"session {name}: usage columns must be numbers (found empty or text cells)")
        else:
            occ = pd.to_numeric(det.occasion, errors="coerce")
            K = occasions if occasions is not None else int(np.nanmax(occ)) if len(occ) else 1
            u = np.ones((len(t), K))
        sessions.append(build_session(name, t[t_id].astype(str).tolist(), t[[tx, ty]].to_numpy(float), u,
                                      d.drop(columns="session"), detector))
    return SCRData(sessions, detector)


# --------------------------------------------------------------------------------------
# a folder written by `lynxid capture-history`
# --------------------------------------------------------------------------------------
_FIELD = re.compile(r'"([^"]*)"|(#)|([^\s"#]+)')


def _fields(line: str) -> list:
    """The fields of one line of secr's text files as R's ``read.table`` splits them: white
    space separates, ``"..."`` quotes (lynxid writes no other quoting), ``#`` starts a comment."""
    out = []
    for m in _FIELD.finditer(line):
        if m.group(2):
            break
        out.append(m.group(1) if m.group(1) is not None else m.group(3))
    return out


def read_capture_history_folder(folder) -> SCRData:
    """The capture history in a folder written by ``lynxid capture-history`` (or R's
    ``write_capture_history``) with the secr format, the default: ``capt.txt`` (session, animal,
    occasion, detector), one trap file per session (detector, x, y, days of effort per occasion)
    and ``summary.json`` (the detector type and the sessions in order).

    These are the files secr's ``read.capthist`` reads (``read_secr.R``), so lynxid and secr fit
    the same data; the usage is read as written, to 10 significant digits.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"capture-history folder not found: {folder}")
    need = [n for n in ("summary.json", "capt.txt") if not (folder / n).exists()]
    if need:
        raise ValueError(f"{folder} lacks {' and '.join(need)}: give a folder written by 'lynxid capture-history' "
                         "with the secr format (the default, --format secr), or secr-style tables with --traps "
                         "and --captures")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    detector = summary.get("detector")
    names = [str(r["session"]) for r in summary.get("sessions", [])]
    if detector not in DETECTORS or not names:
        raise ValueError(f"{folder / 'summary.json'} does not name the detector type and sessions "
                         "(not written by 'lynxid capture-history'?)")
    rows = [f for f in (_fields(line) for line in (folder / "capt.txt").read_text(encoding="utf-8").splitlines()) if f]
    bad = [r for r in rows if len(r) != 4]
    if bad:
        raise ValueError(f"{folder / 'capt.txt'}: lines must have 4 fields (session, ID, occasion, detector); "
                         f"found {bad[:_SHOW]}")
    cap = pd.DataFrame(rows, columns=["session", "ID", "occasion", "trapID"])
    cap = cap[cap.ID != "NONE"]                     # secr's marker of a session without captures
    unknown = sorted(set(cap.session) - set(names))
    if unknown:
        raise ValueError(f"capt.txt has captures in session(s) {unknown[:_SHOW]} that summary.json does not list")
    sessions = []
    for name in names:
        path = folder / session_file("traps", name, len(names), "txt")
        if not path.exists():
            raise ValueError(f"session {name}: trap file {path.name} missing from {folder}")
        ids, xy, usage = _read_trap_file(path)
        d = cap[cap.session == name]
        det = pd.DataFrame({"animal": d.ID, "occasion": d.occasion, "trap": d.trapID, "count": 1})
        sessions.append(build_session(name, ids, xy, usage, det, detector))
    return SCRData(sessions, detector)


def _read_trap_file(path: Path):
    """Detector IDs, coordinates and usage of one trap file (station covariates, after ``/``,
    are not needed by the fit)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = _fields(line)
        if f:
            rows.append(f[:f.index("/", 3)] if "/" in f[3:] else f)    # station covariates follow "/"
    if not rows:
        raise ValueError(f"{path}: no detectors")
    widths = {len(r) for r in rows}
    if len(widths) != 1 or min(widths) < 4:
        raise ValueError(f"{path}: every line needs the detector, x, y and the same number of usage values")
    try:
        values = np.array([r[1:] for r in rows], dtype=float)
    except ValueError:
        raise ValueError(f"{path}: coordinates and usage must be numbers") from None
    return [r[0] for r in rows], values[:, :2], values[:, 2:]
