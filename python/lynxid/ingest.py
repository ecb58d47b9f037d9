"""Read camera-trap image folders: files, stations, cameras, EXIF times, XMP tags (MegaDetector
boxes: :mod:`lynxid.megadetector`).

Supported layouts (camtrapR's conventions):

* ``root/<station>/<image>`` and ``root/<station>/<camera>/<image>`` (``station_from="folder"``);
* flat folders of renamed files ``Station__YYYY-MM-DD__HH-MM-SS(n).JPG`` (camtrapR's
  ``imageRename``; ``station_from="filename"``);
* labelled catalogues as ``root/<individual>/<image>`` or with camtrapR-style XMP
  ``HierarchicalSubject`` tags ``individual|ID``.

Nothing is silently dropped: every file that cannot be used lands in an *issues* table
(``file``, ``stage``, ``reason``) that travels with the results.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from .times import zone

__all__ = ["IMAGE_EXTENSIONS", "Issues", "walk_files", "read_exif_time", "read_xmp_subjects", "parse_flank",
           "scan_images", "scan_catalogue", "whole_image_detections",
           "localize_times"]

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
XMP_NS = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "lr": "http://ns.adobe.com/lightroom/1.0/"}
_RENAMED = re.compile(r"^(?P<station>.+?)__(?:(?P<camera>.+?)__)?(?P<date>\d{4}-\d{2}-\d{2})__(?P<time>\d{2}-\d{2}-\d{2})")
_FLANK = re.compile(r"(?:^|[^a-z])(left|right)", re.IGNORECASE)


@dataclass
class Issues:
    """Collects excluded files and problems, with the stage and the reason."""

    rows: list = field(default_factory=list)

    def add(self, file, stage: str, reason: str, severity: str = "excluded"):
        self.rows.append({"file": str(file), "stage": stage, "severity": severity, "reason": reason})

    def extend(self, other: "Issues | pd.DataFrame | None"):
        if other is None:
            return
        if isinstance(other, Issues):
            self.rows.extend(other.rows)
        else:
            self.rows.extend(other.to_dict("records"))

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["file", "stage", "severity", "reason"])

    def __len__(self):
        return len(self.rows)


# --------------------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------------------
def read_exif_time(img: Image.Image) -> tuple[datetime | None, str | None]:
    """EXIF ``DateTimeOriginal`` (camera wall-clock) and ``OffsetTimeOriginal`` if present."""
    try:
        exif = img.getexif()
    except Exception:
        return None, None
    sub = exif.get_ifd(0x8769) if exif else {}
    raw = sub.get(0x9003) or sub.get(0x9004) or exif.get(0x0132)
    offset = sub.get(0x9011)
    if not raw:
        return None, None
    raw = str(raw).strip().strip("\x00")
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M"):
        try:
            return datetime.strptime(raw[:19], fmt), (str(offset).strip("\x00").strip() if offset else None)
        except ValueError:
            continue
    return None, None


def read_xmp_subjects(path: str | Path, data: bytes | None = None) -> list[str]:
    """The XMP ``lr:hierarchicalSubject`` entries, e.g. ``['Species|Lynx', 'individual|B12']``."""
    if data is None:
        with open(path, "rb") as fh:
            data = fh.read(512 * 1024)  # XMP sits in APP1 near the start of a JPEG
    i = data.find(b"<x:xmpmeta")
    j = data.find(b"</x:xmpmeta>")
    if i < 0 or j < 0:
        return []
    try:
        root = ET.fromstring(data[i:j + len(b"</x:xmpmeta>")].decode("utf-8", "replace"))
    except ET.ParseError:
        return []
    out = []
    for node in root.iter(f"{{{XMP_NS['lr']}}}hierarchicalSubject"):
        out.extend((li.text or "").strip() for li in node.iter(f"{{{XMP_NS['rdf']}}}li"))
    return [s for s in out if s]


def tag_value(subjects: list[str], tag: str, delimiter: str = "|") -> str | None:
    """Value of ``tag`` in hierarchical subjects (camtrapR's ``metadataHierarchyDelimitor``)."""
    for s in subjects:
        parts = s.split(delimiter)
        if len(parts) >= 2 and parts[0].strip().lower() == tag.lower():
            return parts[-1].strip()
    return None


def parse_flank(name: str) -> str | None:
    """``left``/``right`` from a file name or tag (``L12_left_1.jpg``, ``124_leftphoto.jpg``,
    ``Amber_Right_Face.jpg``); None when the name does not say."""
    m = _FLANK.search(name)
    return m.group(1).lower() if m else None


_FLANK_WORDS = {"left": "left", "l": "left", "links": "left", "gauche": "left", "izquierdo": "left",
                "izquierda": "left", "sinistro": "left", "lewy": "left",
                "right": "right", "r": "right", "rechts": "right", "droite": "right", "droit": "right",
                "derecho": "right", "derecha": "right", "destro": "right", "prawy": "right"}
_NO_FLANK = {"", "unknown", "na", "n/a", "none", "both", "unclear", "?", "-", "front", "back", "head"}


def flank_from_tag(value: str | None, rel: str, issues: "Issues") -> str | None:
    """A flank tag's value as ``left``/``right``/None. Only those two are matched on: any other
    value would be a third "flank" compatible with neither side, so it counts as unknown
    (compatible with both), and values we do not recognise are reported."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in _FLANK_WORDS:
        return _FLANK_WORDS[v]
    if v not in _NO_FLANK:
        issues.add(rel, "scan", f"flank tag '{value}' not understood (expected left or right): flank treated as "
                   "unknown", "warning")
    return None


def localize_times(naive: pd.Series, offsets: pd.Series, tz: str | None) -> tuple[pd.Series, str]:
    """Turn camera wall-clock times into time-zone-aware times in the survey's zone.

    ``tz`` (an IANA name such as ``"Europe/Zurich"`` or a fixed offset ``"+01:00"``) says in
    which zone the camera clocks ran. Without it, each image's EXIF ``OffsetTimeOriginal`` is
    used when the camera wrote one (cameras that follow daylight saving write ``+01:00`` in
    winter and ``+02:00`` in summer), else UTC (camtrapR's default); the result is expressed in
    the most common offset. Times that do not exist or are ambiguous in ``tz`` (daylight-saving
    changes) become NaT and are reported by the caller.
    """
    ts = pd.to_datetime(naive, errors="coerce")
    if tz is None:
        offs = offsets.dropna()
        tz = offs.mode().iloc[0] if len(offs) else "UTC"
        if ts.dt.tz is None and offs.nunique() > 1:
            survey_zone = zone(tz)
            out = ts.dt.tz_localize(survey_zone)
            for off, idx in offs.groupby(offs).groups.items():
                out.loc[idx] = ts.loc[idx].dt.tz_localize(zone(off)).dt.tz_convert(survey_zone)
            return out, tz
    survey_zone = zone(tz)
    if ts.dt.tz is not None:
        return ts.dt.tz_convert(survey_zone), tz
    return ts.dt.tz_localize(survey_zone, ambiguous="NaT", nonexistent="NaT"), tz


# --------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------
def walk_files(root: Path, recursive=True):
    """Files below ``root`` in a stable order, following folder links (a survey assembled
    from links to SD-card copies is common), each real folder visited once."""
    if not recursive:
        yield from sorted(p for p in root.glob("*") if p.is_file() and not p.name.startswith("."))
        return
    seen = set()
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        out.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
    yield from sorted(out)


def scan_images(root, station_from: str = "auto", tz: str | None = None,
                individual_tag: str = "individual", species_tag: str = "Species",
                delimiter: str = "|", progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """List the survey's images with station, camera, time and any XMP tags.

    Reads only headers (cheap); a file whose pixels are damaged is caught later, when it is
    decoded. Returns ``(images, issues)``; ``images`` has columns ``file`` (relative to
    ``root``), ``path``, ``station``, ``camera``, ``timestamp`` (tz-aware), ``width``,
    ``height``, ``individual_tag``, ``species_tag``, ``flank_tag``.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    issues = Issues()
    rows = []
    files = list(walk_files(root))
    for p in tqdm(files, desc="reading image headers", disable=not progress, unit="file"):
        rel = p.relative_to(root).as_posix()
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            if p.suffix.lower() not in {".json", ".csv", ".txt", ".xmp", ".db", ".ini"}:
                issues.add(rel, "scan", f"not an image extension ({p.suffix or 'none'}); skipped", "skipped")
            continue
        if p.stat().st_size == 0:
            issues.add(rel, "scan", "zero-byte file (copy from the SD card failed?)")
            continue
        try:
            with Image.open(p) as im:
                when, offset = read_exif_time(im)
                w, h = _oriented_size(im)
                xmp = im.info.get("xmp")   # PIL has read the XMP segment already: no second read
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            issues.add(rel, "scan", f"not a readable image: {exc.__class__.__name__}: {exc}")
            continue
        station, camera, fn_time = _station_camera(rel, station_from)
        if when is None and fn_time is not None:
            when = fn_time
        subj = read_xmp_subjects(p, data=xmp) if xmp else []
        ind = tag_value(subj, individual_tag, delimiter)
        flank_t = tag_value(subj, "flank", delimiter)
        rows.append(dict(file=rel, path=str(p.resolve()), station=station, camera=camera,
                         exif_time=when, utc_offset=offset, width=w, height=h,
                         individual_tag=ind, species_tag=tag_value(subj, species_tag, delimiter),
                         flank_tag=(flank_from_tag(flank_t, rel, issues) if flank_t else parse_flank(p.name))))
    cols = ["file", "path", "station", "camera", "exif_time", "utc_offset", "width", "height",
            "individual_tag", "species_tag", "flank_tag"]
    df = pd.DataFrame(rows, columns=cols)
    if len(df):
        naive = pd.to_datetime(df.pop("exif_time"), errors="coerce")
        df["timestamp"], used_zone = localize_times(naive, df["utc_offset"], tz)
        df.attrs["time_zone"] = used_zone
        lost = df.timestamp.isna()
        for rel, t in zip(df.loc[lost & naive.notna(), "file"], naive[lost & naive.notna()]):
            issues.add(rel, "scan", f"camera time {t} does not exist or is ambiguous in time zone {used_zone} "
                       "(a daylight-saving change): the image is identified but cannot enter a capture "
                       "history; if the camera clocks ignore daylight saving, give their fixed offset as "
                       "the time zone (e.g. '+01:00')", "warning")
        for rel in df.loc[lost & naive.isna(), "file"]:
            issues.add(rel, "scan", "no usable EXIF DateTimeOriginal: the image is identified but cannot "
                       "enter a capture history (fix the camera time, e.g. with exiftool)", "warning")
        for rel in df.loc[df.station.isna(), "file"]:
            issues.add(rel, "scan", "station unknown: put images in station folders or use camtrapR's "
                       "Station__date__time names", "warning")
    else:
        df["timestamp"] = pd.Series([], dtype="datetime64[ns, UTC]")
        df.pop("exif_time")
    return df, issues.table()


def _oriented_size(im: Image.Image) -> tuple[int, int]:
    w, h = im.size
    try:
        if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            return h, w
    except Exception:
        pass
    return w, h


def _station_camera(rel: str, station_from: str):
    parts = rel.split("/")
    m = _RENAMED.match(parts[-1])
    fn_time = None
    if m:
        try:
            fn_time = datetime.strptime(m.group("date") + " " + m.group("time"), "%Y-%m-%d %H-%M-%S")
        except ValueError:
            fn_time = None
    if station_from == "filename" or (station_from == "auto" and m and len(parts) <= 2):
        if not m:
            return None, None, None
        return m.group("station"), m.group("camera"), fn_time
    if station_from in ("folder", "auto"):
        if len(parts) == 1:
            return None, None, fn_time
        if len(parts) == 2:
            return parts[0], None, fn_time
        return parts[-3], parts[-2], fn_time
    raise ValueError(f"station_from must be 'auto', 'folder' or 'filename', not {station_from!r}")


def scan_catalogue(root, layout: str = "auto", individual_tag: str = "individual",
                   delimiter: str = "|") -> tuple[pd.DataFrame, pd.DataFrame]:
    """List labelled reference images: ``root/<individual>/<image>`` or XMP-tagged files.

    Returns ``(images, issues)`` with ``file``, ``path``, ``individual``, ``flank``
    (``left``/``right`` from the name or an XMP ``flank|...`` tag, else None) and ``sighting``
    (the part of the file name before the first ``_``, used to keep photos of one sighting
    from vouching for each other in evaluation and calibration).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"catalogue folder not found: {root}")
    issues = Issues()
    rows = []
    for p in walk_files(root):
        rel = p.relative_to(root).as_posix()
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if p.stat().st_size == 0:
            issues.add(rel, "catalogue", "zero-byte file")
            continue
        parts = rel.split("/")
        ind = None
        if layout in ("auto", "xmp") and p.suffix.lower() in (".jpg", ".jpeg"):
            subj = read_xmp_subjects(p)
            ind = tag_value(subj, individual_tag, delimiter)
            fl = tag_value(subj, "flank", delimiter)
        else:
            fl = None
        if ind is None and layout in ("auto", "folders") and len(parts) >= 2:
            ind = parts[-2]
        if ind is None:
            issues.add(rel, "catalogue", "no individual: put the image in a folder named after the individual "
                       f"or tag it '{individual_tag}{delimiter}ID'")
            continue
        prefix = p.stem.split("_")[0]
        # "124_leftphoto.jpg": sighting 124. A name that starts with the individual's own ID
        # ("Amber_Left_Face.jpg") says nothing about sightings: each photo is its own then.
        sighting = f"{ind}/{p.stem}" if prefix.lower() == str(ind).lower() or prefix == p.stem else f"{ind}/{prefix}"
        rows.append(dict(file=rel, path=str(p.resolve()), individual=str(ind),
                         flank=(flank_from_tag(fl, rel, issues) if fl else parse_flank(p.name)), sighting=sighting))
    df = pd.DataFrame(rows, columns=["file", "path", "individual", "flank", "sighting"])
    return _sightings_from_times(df, issues), issues.table()


SIGHTING_GAP_HOURS = 1.0


def _sightings_from_times(df: pd.DataFrame, issues: Issues) -> pd.DataFrame:
    """Where file names say nothing about sightings -- all of an individual's photos share one
    prefix ("IMG_0001.JPG", ...) or none do -- photos taken within ``SIGHTING_GAP_HOURS`` of
    each other (EXIF DateTimeOriginal) form a sighting. Without times, an individual whose
    photos all count as one sighting is reported: it cannot be used to calibrate."""
    for ind, idx in df.groupby("individual").groups.items():
        if len(idx) < 2:
            continue
        n_s = df.loc[idx, "sighting"].nunique()
        if 1 < n_s < len(idx):
            continue                                    # the names group photos: keep them
        times = []
        for path in df.loc[idx, "path"]:
            try:
                with Image.open(path) as im:
                    times.append(read_exif_time(im)[0])
            except Exception:
                times.append(None)
        if all(t is not None for t in times):
            order = np.argsort(np.array(times, dtype="datetime64[s]"))
            t_sorted = np.array(times, dtype="datetime64[s]")[order]
            gaps = np.diff(t_sorted).astype("timedelta64[s]").astype(float) > SIGHTING_GAP_HOURS * 3600
            cluster = np.empty(len(idx), int)
            cluster[order] = np.concatenate([[0], np.cumsum(gaps)])
            # named by when it began, not by its rank: photos added to a catalogue later are
            # read on their own, and their first occasion is not the first addition's
            starts = t_sorted[np.concatenate([[True], gaps])]
            df.loc[idx, "sighting"] = [f"{ind}/t{starts[c]}" for c in cluster]
        elif n_s == 1:
            issues.add(str(ind), "catalogue", f"all {len(idx)} photos of {ind} are one sighting (file names "
                       f"before '_' are all {df.loc[idx[0], 'sighting'].split('/', 1)[1]!r}, no EXIF times): none "
                       "can confirm another, so they serve as references but not to calibrate; if they come from "
                       "different occasions, name them '<sighting>_<anything>.jpg' (e.g. 2024-03-01a_left.jpg)",
                       "warning")
    return df


# --------------------------------------------------------------------------------------
# detections
# --------------------------------------------------------------------------------------
def whole_image_detections(images: pd.DataFrame) -> pd.DataFrame:
    """Without a detector's boxes, each image is one detection covering the whole frame."""
    det = images.copy()
    det["bbox_x"], det["bbox_y"], det["bbox_w"], det["bbox_h"] = 0.0, 0.0, 1.0, 1.0
    det["det_conf"] = np.nan
    det["detection_id"] = det["file"] + "#0"
    return det

