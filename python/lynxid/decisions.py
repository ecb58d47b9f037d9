"""A reviewer's decisions: read, saved and applied over the machine's calls.

* **the decisions file** (``decisions.csv`` in identify's output folder): one row per
  detection and decision, never rewritten, only appended to (:func:`save_decisions`); for
  each detection the latest decision counts. Keyed by ``detection_id`` (image file + box
  number), which is stable when identification is rerun, unlike event numbers;
* **applying them** (:func:`apply_decisions`): a reviewer's decision overrides the
  machine's. ``identification.identify`` applies the decisions it is given; the command
  line and R give it ``OUT/decisions.csv`` when it exists (:func:`find_decisions`).

The review report that produces decisions is ``review``; growing the catalogue with the
reviewed animals is ``enrol.add_reviewed_to_catalogue``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import storage

__all__ = ["ACTIONS", "DECISION_COLUMNS", "REVIEW_DECISIONS", "DECISIONS_FILE", "decisions_path", "find_decisions",
           "read_decisions", "latest_decisions", "save_decisions", "apply_decisions"]

ACTIONS = ("confirm", "reassign", "new", "reject")
DECISION_COLUMNS = ["detection_id", "event_id", "file", "action", "individual_id", "reviewer", "timestamp", "note"]
# values of identify's ``decision`` column set by a reviewer (the machine's are "known"/"new")
REVIEW_DECISIONS = ("confirmed", "reviewed", "rejected")
DECISIONS_FILE = "decisions.csv"


def decisions_path(results) -> Path:
    """The decisions file of an identify output folder."""
    return Path(results) / DECISIONS_FILE


def find_decisions(results) -> Path | None:
    """The decisions file of an identify output folder when there is one (None for no folder)."""
    if results is None:
        return None
    p = decisions_path(results)
    return p if p.exists() else None


def read_decisions(src, name: str | None = None) -> pd.DataFrame:
    """Read and check a decisions table (CSV / Parquet path or DataFrame).

    Required columns: ``detection_id`` and ``action`` (one of :data:`ACTIONS`); a
    ``reassign`` needs ``individual_id``. Missing optional columns are added empty. Errors
    name the file and row."""
    if isinstance(src, pd.DataFrame):
        d, name = src.copy(), name or "decisions table"
    else:
        name = name or str(src)
        d = storage.read_table(src, dtype=str, keep_default_na=False) if str(src).lower().endswith(".csv") \
            else storage.read_table(src)
    d.columns = [str(c).strip() for c in d.columns]
    missing = [c for c in ("detection_id", "action") if c not in d]
    if missing:
        raise ValueError(f"{name}: column(s) {', '.join(missing)} missing; a decisions file has the columns "
                         f"{', '.join(DECISION_COLUMNS)} (as downloaded from the review report)")
    for c in DECISION_COLUMNS:
        if c not in d:
            d[c] = ""
    d = d[DECISION_COLUMNS + [c for c in d.columns if c not in DECISION_COLUMNS]]
    for c in DECISION_COLUMNS:
        d[c] = d[c].astype(object).where(d[c].notna(), "").astype(str).str.strip()
    d["action"] = d["action"].str.lower()
    for i, r in enumerate(d.itertuples(index=False)):
        where = f"{name}, row {i + 1} (detection {r.detection_id!r})"
        if not r.detection_id:
            raise ValueError(f"{name}, row {i + 1}: detection_id is empty")
        if r.action not in ACTIONS:
            raise ValueError(f"{where}: action {r.action!r} is not one of {', '.join(ACTIONS)}")
        if r.action == "reassign" and not r.individual_id:
            raise ValueError(f"{where}: 'reassign' needs the individual_id to assign")
    return d.reset_index(drop=True)


def latest_decisions(d: pd.DataFrame) -> pd.DataFrame:
    """One row per detection: its latest decision (by ``timestamp``; rows without a time
    count as older, and among equal times the later row wins)."""
    if not len(d):
        return d.copy()
    t = pd.to_datetime(d["timestamp"], utc=True, errors="coerce", format="ISO8601")
    order = pd.DataFrame({"t": t.fillna(pd.Timestamp("1970-01-01", tz="UTC")), "i": np.arange(len(d))})
    idx = order.sort_values(["t", "i"], kind="mergesort").index
    return d.loc[idx].drop_duplicates("detection_id", keep="last").sort_index().reset_index(drop=True)


def save_decisions(new, target) -> Path:
    """Add decisions to the file ``target`` (or ``target/decisions.csv`` for a folder),
    keeping every earlier row: the file is the review's history, and the latest decision
    per detection is the one that counts. Identical rows are stored once."""
    target = Path(target)
    if target.is_dir() or not target.suffix:
        target = target / DECISIONS_FILE
    new = read_decisions(new) if not isinstance(new, pd.DataFrame) else read_decisions(new, "new decisions")
    old = read_decisions(target) if target.exists() else pd.DataFrame(columns=DECISION_COLUMNS)
    both = pd.concat([old, new], ignore_index=True)[DECISION_COLUMNS]
    both = both.drop_duplicates(ignore_index=True)
    return storage.write_table(both, target)


def apply_decisions(det: pd.DataFrame, decisions=None, *, known=(), new_prefix: str = "NEW-",
                    issues=None) -> tuple[pd.DataFrame, dict]:
    """Override the machine's identifications with a reviewer's decisions.

    Adds ``machine_individual_id`` (the machine's call) and ``reviewed_by`` to ``det``
    (always, so the table's columns do not depend on whether there are decisions). Per
    detection, its latest decision:

    * ``confirm``: the identity stays (the decision's ``individual_id`` if given, which wins
      should a rerun change the machine's mind); ``decision = "confirmed"``;
    * ``reassign``: the given ID with ``probability = 1``; ``decision = "reviewed"``;
    * ``new``: a new individual: the given ID, else the machine's provisional ID if the
      machine also called it new, else ``{new_prefix}R001, ...`` (one per event);
      ``decision = "reviewed"``;
    * ``reject``: no individual (not the species, unusable); ``decision = "rejected"``. The
      row stays in the table and is listed in ``issues``; capture histories leave it out.

    ``needs_review`` becomes False for reviewed detections. Decisions about detections that
    are not in ``det`` are reported in ``issues`` (a lynxid.ingest.Issues), never dropped
    from the decisions file."""
    det = det.copy()
    det["machine_individual_id"] = det["individual_id"]
    det["reviewed_by"] = pd.Series([None] * len(det), index=det.index, dtype=object)
    info = {"decisions": 0, "applied": 0, "confirmed": 0, "reassigned": 0, "new": 0, "rejected": 0,
            "unmatched": 0}
    if decisions is None or (isinstance(decisions, pd.DataFrame) and decisions.empty):
        return det, info
    d = latest_decisions(read_decisions(decisions))
    info["decisions"] = int(len(d))
    if not isinstance(decisions, pd.DataFrame):
        info["source"] = str(decisions)
    pos = pd.Series(np.arange(len(det)), index=det["detection_id"].astype(str))
    pos = pos[~pos.index.duplicated()]
    hit = d["detection_id"].isin(pos.index)
    for r in d[~hit].itertuples(index=False):
        info["unmatched"] += 1
        if issues is not None:
            issues.add(r.file or r.detection_id, "review",
                       f"reviewer decision '{r.action}' for detection {r.detection_id} matches no detection of "
                       "this run (file moved, renamed or no longer detected?); it is kept in the decisions file",
                       "warning")
    d = d[hit]
    cols = {"individual_id": object, "probability": float, "p_new": float, "is_new": bool, "needs_review": bool,
            "decision": object, "reviewed_by": object}
    v = {c: det[c].astype(t).to_numpy().copy() for c, t in cols.items()}
    known = set(map(str, known))
    provisional: dict = {}
    for r in d.itertuples(index=False):
        i = int(pos[r.detection_id])
        _apply_one(v, i, r, known, provisional, new_prefix, info)
        if r.action == "reject" and issues is not None:
            issues.add(det["file"].iat[i] if "file" in det else r.detection_id, "review",
                       f"rejected by reviewer {r.reviewer or '(unnamed)'}" + (f": {r.note}" if r.note else "")
                       + "; kept in the detections table without an individual, left out of capture histories",
                       "excluded")
    for c in cols:
        det[c] = v[c]
    return det, info


def _apply_one(v: dict, i: int, r, known: set, provisional: dict, new_prefix: str, info: dict) -> None:
    """One decision ``r`` on detection ``i`` of the columns ``v`` (see :func:`apply_decisions`)."""
    ind, prob, pnew, is_new, decision = (v[c] for c in ("individual_id", "probability", "p_new", "is_new", "decision"))
    given = r.individual_id or None
    if r.action == "confirm":
        if given and given != ind[i]:
            ind[i], prob[i] = given, 1.0
        decision[i] = "confirmed"
        is_new[i] = str(ind[i]) not in known
        info["confirmed"] += 1
    elif r.action == "reassign":
        ind[i], prob[i], decision[i] = given, 1.0, "reviewed"
        is_new[i] = given not in known
        pnew[i] = 1.0 if is_new[i] else 0.0
        info["reassigned"] += 1
    elif r.action == "new":
        if not given:
            if is_new[i] and ind[i]:
                given = ind[i]
            else:
                key = r.event_id or r.detection_id
                given = provisional.setdefault(key, f"{new_prefix}R{len(provisional) + 1:03d}")
        ind[i], prob[i], pnew[i], is_new[i], decision[i] = given, 1.0, 1.0, True, "reviewed"
        info["new"] += 1
    else:  # reject
        ind[i], is_new[i], decision[i] = None, False, "rejected"
        info["rejected"] += 1
    v["needs_review"][i] = False
    v["reviewed_by"][i] = r.reviewer or "reviewer"
    info["applied"] += 1
