"""What an identification run gives and leaves in its output folder.

``detections.csv`` and ``detections.parquet`` (one row per detection; the Parquet file also
holds each image's absolute ``path``, which the review report and the catalogue's reviewed
additions need), ``issues.csv`` (files not used, and why, and warnings on what was used:
``severity``), ``summary.json`` (counts: ``files_with_issues`` the files not used, ``issues``
the rows of issues.csv by severity), and
``posterior.parquet`` / ``unit_pairs.parquet`` (what identities are drawn from: ``posterior``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import storage
from .times import as_datetimes

__all__ = ["IdentifyResult", "read_detections", "candidate_table", "individual_table", "DETECTION_COLUMNS",
           "CANDIDATE_COLUMNS"]

# identify's detections table, before a reviewer's decisions add ``machine_individual_id`` and
# ``reviewed_by``; ``model``: which identification model decided, "catalogue" (the catalogue's own)
# or "default" (lynxid's default model, while the catalogue cannot fit its own)
DETECTION_COLUMNS = ["detection_id", "file", "path", "station", "camera", "timestamp", "bbox_x", "bbox_y", "bbox_w",
                     "bbox_h", "det_conf", "flank", "event_id", "unit_id", "individual_id", "probability", "p_new", "is_new",
                     "candidates", "needs_review", "decision", "model"]
# what identification uncertainty is drawn from (``posterior``), each written as NAME.parquet
UNCERTAINTY_TABLES = ("posterior", "unit_pairs")
# candidate_table's columns: one row per detection and catalogue candidate, best first
CANDIDATE_COLUMNS = ["detection_id", "event_id", "rank", "individual_id", "probability"]


@dataclass
class IdentifyResult:
    """``detections`` (one row per detection), ``issues`` (files not used) and ``summary``;
    ``posterior`` and ``unit_pairs``: what identification uncertainty is drawn from
    (``posterior``; None for results written before lynxid wrote them); ``files``: what
    :meth:`write` wrote."""
    detections: pd.DataFrame
    issues: pd.DataFrame
    summary: dict
    files: dict = field(default_factory=dict)
    posterior: pd.DataFrame | None = None
    unit_pairs: pd.DataFrame | None = None

    @property
    def candidates(self) -> pd.DataFrame:
        """The candidates of every detection as a long table (:func:`candidate_table`)."""
        return candidate_table(self.detections)

    @classmethod
    def read(cls, out) -> "IdentifyResult":
        """The result an identification run wrote to ``out`` (``detections.parquet``,
        ``issues.csv``, ``summary.json``; the latter two may be missing)."""
        det, root = read_detections(out)
        iss = root / "issues.csv"
        issues = storage.read_table(iss) if iss.exists() else pd.DataFrame(columns=["file", "stage", "severity",
                                                                                     "reason"])
        sj = root / "summary.json"
        extra = {k: storage.read_table(root / f"{k}.parquet") if (root / f"{k}.parquet").exists() else None
                 for k in UNCERTAINTY_TABLES}
        return cls(det, issues, storage.read_json(sj) if sj.exists() else {}, **extra)

    def write(self, out) -> dict:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        det = self.detections.drop(columns=["path"], errors="ignore")
        self.files["detections_csv"] = str(storage.write_table(det, out / "detections.csv"))
        self.files["detections_parquet"] = str(storage.write_table(self.detections, out / "detections.parquet"))
        self.files["issues_csv"] = str(storage.write_table(self.issues, out / "issues.csv"))
        for k in UNCERTAINTY_TABLES:
            if getattr(self, k) is not None:
                self.files[k] = str(storage.write_table(getattr(self, k), out / f"{k}.parquet"))
        self.summary["files"] = self.files
        self.files["summary_json"] = str(storage.write_json(out / "summary.json", self.summary))
        return self.files


def read_detections(results) -> tuple[pd.DataFrame, Path | None]:
    """``(detections, output folder)`` of an identify output folder (its
    ``detections.parquet``), a Parquet file, or a table (folder None)."""
    if isinstance(results, pd.DataFrame):
        return results.copy(), None
    root = Path(results)
    p = root / "detections.parquet" if root.is_dir() else root
    if not p.exists():
        raise FileNotFoundError(f"no identification results at {root} (detections.parquet missing); "
                                "run identify with out= (command line: --out) first")
    det = storage.read_table(p)
    if "path" not in det:
        raise ValueError(f"{p} has no 'path' column (image locations); use identify's detections.parquet, "
                         "not detections.csv")
    return det, (root if root.is_dir() else root.parent)


def candidate_table(detections) -> pd.DataFrame:
    """The top catalogue candidates the machine weighed for each detection, one row per
    detection and candidate (best first): ``detection_id``, ``event_id`` (when the table has
    it), ``rank`` (1 = best), ``individual_id`` and ``probability``. ``detections`` is
    identify's table (its ``candidates`` column holds them as JSON) or an output folder."""
    det = detections if isinstance(detections, pd.DataFrame) else read_detections(detections)[0]
    if "candidates" not in det or "detection_id" not in det:
        missing = [c for c in ("detection_id", "candidates") if c not in det]
        raise ValueError(f"the detections lack the column(s) {', '.join(missing)}: give identify's table")
    ids = det["detection_id"].astype(str).tolist()
    events = det["event_id"].tolist() if "event_id" in det else [None] * len(det)
    rows = []
    for d, e, c in zip(ids, events, det["candidates"].tolist()):
        lst = json.loads(c) if isinstance(c, str) and c else []
        for k, x in enumerate(lst, start=1):
            rows.append((d, e, k, str(x["individual"]), float(x["probability"])))
    out = pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)
    out["rank"] = out["rank"].astype("int64")
    out["probability"] = out["probability"].astype("float64")
    return out if "event_id" in det else out.drop(columns="event_id")


def individual_table(detections) -> pd.DataFrame:
    """One row per identified individual: ``individual_id``, ``is_new`` (not in the
    catalogue), ``detections``, ``events`` (passages), ``stations``, and the ``first`` and
    ``last`` time it was seen; rejected and unidentified detections are left out. In order
    of first detection."""
    det = detections if isinstance(detections, pd.DataFrame) else read_detections(detections)[0]
    d = det[det["individual_id"].notna() & (det["individual_id"].astype(str) != "")].copy()
    d["individual_id"] = d["individual_id"].astype(str)
    ev = d["event_id"] if "event_id" in d else pd.Series(range(len(d)), index=d.index)
    t = as_datetimes(d["timestamp"]) if "timestamp" in d else pd.Series(pd.NaT, index=d.index)
    d = d.assign(_event=ev.astype(str), _t=t, _new=d["is_new"].astype(bool) if "is_new" in d else False)
    g = d.groupby("individual_id", sort=False)
    out = pd.DataFrame({"is_new": g["_new"].max(), "detections": g.size(), "events": g["_event"].nunique(),
                        "stations": g["station"].nunique() if "station" in d else 0,
                        "first": g["_t"].min(), "last": g["_t"].max()}).reset_index()
    out = out.sort_values(["first", "individual_id"], na_position="last", kind="stable").reset_index(drop=True)
    return out.astype({"is_new": bool, "detections": "int64", "events": "int64", "stations": "int64"})
