"""Detection: run an animal detector over a folder of photos and write MegaDetector's
batch-output JSON (format 1.4), the file Timelapse, AddaxAI and :mod:`lynxid.megadetector` read.

The run is made for SD cards of tens of thousands of photos: images are read and detected in
batches, with a progress bar; every ``checkpoint_every`` images the results so far are written
atomically beside the output (``<out>.checkpoint.json``), so a run that is interrupted (a
power cut, Ctrl-C) continues where it stopped when started again; a finished output file is
reused, and only photos it does not list are detected (photos added to the folder later). A
photo that cannot be read, or on which the detector fails, is written with MegaDetector's
``failure`` field and the run goes on: one bad file never costs the others.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PIL import Image, ImageOps

from .detectors import DETECTION_CATEGORIES, Detector, load_detector
from .ingest import IMAGE_EXTENSIONS, walk_files
from .storage import read_json, write_json

__all__ = ["detect_animals", "image_files", "checkpoint_path", "detector_name", "FORMAT_VERSION"]

FORMAT_VERSION = "1.4"
DECODE_SIZE = 1280     # JPEGs are decoded at a reduced scale no smaller than this (boxes are normalised)


def image_files(folder) -> list[str]:
    """The images below ``folder`` as paths relative to it (``/``-separated), in the order and
    with the rules of :func:`lynxid.ingest.scan_images` (folder links followed, hidden files
    and folders skipped), so the JSON's ``file`` entries match what identify reads."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    return [p.relative_to(root).as_posix() for p in walk_files(root)
            if p.suffix.lower() in IMAGE_EXTENSIONS]


def checkpoint_path(out) -> Path:
    """Where an unfinished run keeps its results: ``detections.json`` -> ``detections.checkpoint.json``."""
    out = Path(out)
    return out.with_name(out.stem + ".checkpoint" + (out.suffix or ".json"))


def detector_name(detector, weights=None) -> str:
    """The name written as ``info.detector`` (known before the model is loaded, so that a
    finished file can be reused without the detector's package)."""
    if not isinstance(detector, str):
        return detector.name
    if detector.lower() == "megadetector":
        w = str(weights or "MDV5A")
        return Path(w).name if Path(w).suffix else w.upper()
    return Path(detector).name


def detect_animals(folder, out, detector="megadetector", *, weights=None, device: str | None = None,
                   batch_size: int = 8, checkpoint_every: int = 100, progress: bool = True) -> dict:
    """Detect animals in every image below ``folder``; write MegaDetector batch output to ``out``.

    ``detector``: "megadetector" (the ``megadetector`` package; ``weights`` a model name such
    as "MDV5A" or a local weights file), a YOLO-style TorchScript file, or any object with the
    :class:`~lynxid.detectors.Detector` protocol. ``device``: "cpu", "cuda", ... (default:
    CUDA when present). Results already in ``out`` or in its checkpoint (same detector) are
    kept and their images not detected again. Returns counts: ``file``, ``images``,
    ``detected`` (this run), ``reused``, ``failed``, ``with_animal``, ``detector``.
    """
    if batch_size < 1 or checkpoint_every < 1:
        raise ValueError("batch size and checkpoint interval must be at least 1")
    folder, out = Path(folder), Path(out)
    files = image_files(folder)
    name = detector_name(detector, weights)
    done = _previous_results(out, name)
    todo = [f for f in files if f not in done]
    if todo:
        det = detector if isinstance(detector, Detector) else load_detector(detector, weights, device)
        _run(folder, todo, det, done, out, name, batch_size, checkpoint_every, progress, len(files))
    entries = [done[f] for f in files if f in done]
    write_json(out, _batch_output(entries, name))
    checkpoint_path(out).unlink(missing_ok=True)
    failed = sum(1 for e in entries if e.get("failure"))
    animal = sum(1 for e in entries if any(d.get("category") == "1" for d in e.get("detections") or []))
    return {"file": str(out), "images": len(files), "detected": len(todo), "reused": len(files) - len(todo),
            "failed": failed, "with_animal": animal, "detector": name}


def _run(folder: Path, todo: list, det: Detector, done: dict, out: Path, name: str, batch_size: int,
         checkpoint_every: int, progress: bool, total: int) -> None:
    """Detect ``todo`` in batches into ``done`` (file -> entry), checkpointing as it goes and
    on an interruption (then re-raised)."""
    from tqdm.auto import tqdm
    since = 0
    bar = tqdm(total=total, initial=total - len(todo), desc="detecting animals", unit="image", disable=not progress)
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            for entry in _detect_batch(folder, batch, det):
                done[entry["file"]] = entry
            bar.update(len(batch))
            since += len(batch)
            if since >= checkpoint_every:
                write_json(checkpoint_path(out), _batch_output(list(done.values()), name))
                since = 0
    except BaseException:
        # Ctrl-C or a crash: what was detected is kept, the next run goes on from there
        if since:
            write_json(checkpoint_path(out), _batch_output(list(done.values()), name))
        raise
    finally:
        bar.close()


def _detect_batch(folder: Path, batch: list, det: Detector) -> list[dict]:
    """The entries of one batch: the readable images detected together (one by one where the
    batch fails, so that the failure is pinned to its image), the others as failures."""
    entries, images, rels = [], [], []
    for rel in batch:
        try:
            images.append(_load(folder / rel))
            rels.append(rel)
        except Exception as exc:       # any decoder error: recorded, the batch goes on
            entries.append({"file": rel, "detections": None,
                            "failure": f"image could not be read: {exc.__class__.__name__}: {exc}"})
    if images:
        try:
            found = det.detect(images)
        except Exception:
            found = None
        if found is None or len(found) != len(images):
            found = [_one(det, im) for im in images]
        for rel, boxes in zip(rels, found):
            if isinstance(boxes, str):
                entries.append({"file": rel, "detections": None, "failure": boxes})
            else:
                entries.append({"file": rel, "detections": sorted(boxes, key=lambda d: -d["conf"])})
    return entries


def _one(det: Detector, im: Image.Image):
    """One image's boxes, or the failure's text."""
    try:
        return det.detect([im])[0]
    except Exception as exc:
        return f"detector failed on this image: {exc.__class__.__name__}: {exc}"


def _load(path: Path) -> Image.Image:
    """The photo upright (EXIF orientation applied) in RGB, JPEGs decoded at a reduced scale."""
    with Image.open(path) as im:
        im.draft("RGB", (DECODE_SIZE, DECODE_SIZE))
        im = ImageOps.exif_transpose(im)
        return im.convert("RGB")


def _previous_results(out: Path, name: str) -> dict:
    """file -> entry from a finished output and an unfinished run's checkpoint, when made by
    the same detector (a different detector's results are never mixed in: an error says so)."""
    done: dict = {}
    for path in (out, checkpoint_path(out)):
        if not path.exists():
            continue
        try:
            md = read_json(path)
            entries, info = md["images"], md.get("info") or {}
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise ValueError(f"{path} exists but is not readable MegaDetector output ({exc}); delete it or choose "
                             "another output file") from exc
        if info.get("detector") != name:
            raise ValueError(f"{path} was made by detector {info.get('detector')!r}, not {name!r}; delete it (and "
                             f"{checkpoint_path(out).name}) to detect again, or choose another output file")
        done.update({e["file"]: e for e in entries if isinstance(e, dict) and "file" in e})
    return done


def _batch_output(entries: list, name: str) -> dict:
    """MegaDetector's batch-output layout (format 1.4)."""
    return {"images": entries, "detection_categories": dict(DETECTION_CATEGORIES),
            "info": {"detector": name, "format_version": FORMAT_VERSION,
                     "detection_completion_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                     "detector_metadata": {}, "generator": "lynxid detect"}}
