"""What an identification run gives and leaves in its output folder.

``detections.csv`` and ``detections.parquet`` (one row per detection; the Parquet file also
holds each image's absolute ``path``, which the review report and the catalogue's reviewed
additions need), ``issues.csv`` (files not used, and why) and ``summary.json`` (counts).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import storage

__all__ = ["IdentifyResult", "read_detections", "DETECTION_COLUMNS"]

# identify's detections table, before a reviewer's decisions add ``machine_individual_id`` and
# ``reviewed_by``
DETECTION_COLUMNS = ["detection_id", "file", "path", "station", "camera", "timestamp", "bbox_x", "bbox_y", "bbox_w",
                     "bbox_h", "det_conf", "flank", "event_id", "individual_id", "probability", "p_new", "is_new",
                     "candidates", "needs_review", "decision"]


@dataclass
class IdentifyResult:
    """``detections`` (one row per detection), ``issues`` (files not used) and ``summary``;
    ``files``: what :meth:`write` wrote."""
    detections: pd.DataFrame
    issues: pd.DataFrame
    summary: dict
    files: dict = field(default_factory=dict)

    def write(self, out) -> dict:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        det = self.detections.drop(columns=["path"], errors="ignore")
        self.files["detections_csv"] = str(storage.write_table(det, out / "detections.csv"))
        self.files["detections_parquet"] = str(storage.write_table(self.detections, out / "detections.parquet"))
        self.files["issues_csv"] = str(storage.write_table(self.issues, out / "issues.csv"))
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
