"""MegaDetector batch output: the animals' boxes in a folder's images.

The file's paths are matched to the images' paths relative to the folder, ignoring case,
``\\`` versus ``/`` and a leading ``./``; MegaDetector may have been run on a parent folder
or on another machine (``D:\\survey\\S1\\IMG_0001.JPG``), so a path also matches on its tail
(``S1/IMG_0001.JPG``). A file in which no image of the folder is found is an error, not a
run with no detections: it was made for another folder. A file that lists only some of the
images is used, with a :class:`MegaDetectorWarning` (the other images have no detections, as
if empty). Images the file does not list, entries that match no image (normal for a file
made on a parent folder), failed images and images without an animal box are all reported
in the issues table.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from .ingest import Issues

__all__ = ["load_megadetector", "MegaDetectorWarning", "NOT_IN_FILE"]

# the issues' reason for an image the MegaDetector file does not list
NOT_IN_FILE = "image not in the MegaDetector file (run MegaDetector on the whole folder)"
BOX_COLUMNS = ["detection_id", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "det_conf"]
N_EXAMPLES = 3


class MegaDetectorWarning(UserWarning):
    """The MegaDetector file lists only some of the images: the others get no detections."""


def load_megadetector(json_path, images: pd.DataFrame, threshold: float = 0.2,
                      categories=("animal",), max_per_image: int | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Detections from a MegaDetector batch-output file (``[x, y, w, h]`` boxes, normalised).

    Each box of an allowed category at or above ``threshold`` becomes a detection. Images
    with no such box, images MegaDetector failed on, images the file does not list and
    entries of the file that are not in ``images`` are all reported in the returned issues
    table. Raises ``ValueError`` when the file lists none of ``images`` (it was made for
    another folder), with examples of the paths on both sides; warns
    (:class:`MegaDetectorWarning`) when it lists only some of them.

    The detections' ``attrs["megadetector"]`` holds the counts: ``file``, ``entries``,
    ``images``, ``matched``, ``images_without_entry`` and ``entries_without_image``.
    """
    json_path = Path(json_path)
    entries, cats = _read(json_path)
    allowed = {k for k, v in cats.items() if v in categories}
    matched, unmatched = _match(entries, images)
    if len(images) and not matched:
        raise ValueError(_no_match_message(json_path, entries, images))
    issues = Issues()
    for entry in unmatched:
        issues.add(entry.get("file", "?"), "detect", "listed in the MegaDetector file but not found among the images",
                   "warning")
    rows = []
    for entry, idx in matched:
        rows.extend(_boxes(entry, images, idx, allowed, threshold, max_per_image, issues))
    seen = {idx for _, idx in matched}
    missing = [i for i in range(len(images)) if i not in seen]
    for i in missing:
        issues.add(images["file"].iat[i], "detect", NOT_IN_FILE, "skipped")
    det = pd.DataFrame(rows, columns=list(images.columns) + BOX_COLUMNS)
    det.attrs["megadetector"] = {"file": str(json_path), "entries": len(entries), "images": int(len(images)),
                                 "matched": len(seen), "images_without_entry": len(missing),
                                 "entries_without_image": len(unmatched)}
    if missing:
        # the run goes on (a partly processed folder is common), but not quietly
        warnings.warn(f"{len(missing)} of {len(images)} images have no entry in the MegaDetector file {json_path}, "
                      f"so no detections (e.g. {_quoted(images['file'].iloc[missing[:N_EXAMPLES]])}; each is listed in "
                      "the issues): run MegaDetector on the whole folder", MegaDetectorWarning, stacklevel=2)
    return det, issues.table()


def _read(json_path: Path) -> tuple[list, dict]:
    """The file's image entries and its detection categories (id -> name)."""
    try:
        md = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"could not read MegaDetector file {json_path}: {exc}") from exc
    if not isinstance(md, dict) or not isinstance(md.get("images"), list):
        raise ValueError(f"{json_path} is not MegaDetector batch output (no 'images' list)")
    cats = md.get("detection_categories", {"1": "animal", "2": "person", "3": "vehicle"})
    return md["images"], cats


def _match(entries: list, images: pd.DataFrame) -> tuple[list, list]:
    """([(entry, image index)], [entries that match no image])."""
    by_rel = {_norm(r): i for i, r in enumerate(images["file"])}
    matched, unmatched = [], []
    for entry in entries:
        key = _norm(str(entry.get("file", "")) if isinstance(entry, dict) else "")
        idx = by_rel.get(key)
        if idx is None:
            idx = _suffix_match(key, by_rel)
        if idx is None:
            unmatched.append(entry if isinstance(entry, dict) else {"file": repr(entry)})
        else:
            matched.append((entry, idx))
    return matched, unmatched


def _boxes(entry: dict, images: pd.DataFrame, idx: int, allowed: set, threshold: float, max_per_image, issues: Issues):
    """The detection rows of one matched entry (its problems go to ``issues``)."""
    rel = images["file"].iat[idx]
    if entry.get("failure"):
        issues.add(rel, "detect", f"MegaDetector failed on this image: {entry['failure']}")
        return []
    dets = [d for d in entry.get("detections") or [] if d.get("category") in allowed]
    keep = sorted((d for d in dets if float(d.get("conf", 0)) >= threshold), key=lambda d: -float(d["conf"]))
    if max_per_image:
        keep = keep[:max_per_image]
    if not keep:
        best = max((float(d.get("conf", 0)) for d in dets), default=0.0)
        issues.add(rel, "detect", f"no animal box at or above conf {threshold} (best {best:.2f})", "skipped")
        return []
    rows = []
    for k, d in enumerate(keep):
        x, y, w, h = (float(v) for v in d["bbox"])
        row = images.iloc[idx].to_dict()
        row.update(detection_id=f"{rel}#{k}", bbox_x=x, bbox_y=y, bbox_w=w, bbox_h=h, det_conf=float(d["conf"]))
        rows.append(row)
    return rows


def _no_match_message(json_path: Path, entries: list, images: pd.DataFrame) -> str:
    """Why a file that lists none of the images is refused, with paths from both sides."""
    files = [str(e.get("file", "?")) if isinstance(e, dict) else repr(e) for e in entries[:N_EXAMPLES]]
    listed = (f"it lists {len(entries)} image(s), e.g. {_quoted(files)}" if entries
              else "it lists no images at all")
    root = _folder_of(images)
    here = f"under {root}" if root else "given"
    ex = _quoted(images["file"].iloc[:N_EXAMPLES])
    return (f"MegaDetector file {json_path} has no entry for any of the {len(images)} image(s) {here}, so there "
            f"would be no detections: {listed}; the images are e.g. {ex}. The file seems made for another folder "
            "(paths are matched on their end, so a parent folder or Windows paths are fine). Run MegaDetector on "
            "this folder and give its output file, or check that the folder given is the one the file was made for.")


def _quoted(paths) -> str:
    return ", ".join(f"'{p}'" for p in paths)


def _folder_of(images: pd.DataFrame) -> str | None:
    """The folder the images' relative ``file`` paths start from, when ``path`` shows it."""
    if "path" not in images or not len(images):
        return None
    path, rel = str(images["path"].iat[0]), str(images["file"].iat[0])
    if rel and path.replace("\\", "/").endswith("/" + rel.replace("\\", "/")):
        return path[:len(path) - len(rel) - 1]
    return None


def _norm(p: str) -> str:
    return p.replace("\\", "/").lstrip("./").lower()


def _suffix_match(key: str, by_rel: dict):
    """MegaDetector may have been run on a parent folder: match on the path's tail, the
    longest tail first (a dictionary look-up per folder level, not a scan of all images)."""
    parts = key.split("/")
    for k in range(1, len(parts)):
        idx = by_rel.get("/".join(parts[k:]))
        if idx is not None:
            return idx
    return None
