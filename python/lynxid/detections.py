"""The animals in a folder of photos: the photos read, then MegaDetector's boxes or whole images.

One place for what building a catalogue, identifying a survey, adapting the image model and
evaluating on a labelled dataset each start with: a labelled folder (a folder per individual,
at most one animal a photo) or a survey folder (stations and cameras), and, where a
MegaDetector batch-output file is given, its boxes above ``threshold``; without one, every
photo is one detection. Files that cannot be used go to the ``issues`` log.
"""
from __future__ import annotations

import pandas as pd

from .ingest import Issues, scan_catalogue, scan_images, whole_image_detections
from .megadetector import load_megadetector

__all__ = ["detections_of", "labelled_detections", "survey_detections", "DEFAULT_THRESHOLD"]

DEFAULT_THRESHOLD = 0.2


def detections_of(imgs: pd.DataFrame, megadetector=None, threshold: float = DEFAULT_THRESHOLD,
                  max_per_image: int | None = None, issues: Issues | None = None) -> pd.DataFrame:
    """Detections of the photos ``imgs`` (as ``ingest`` reads them): MegaDetector's boxes
    above ``threshold`` (at most ``max_per_image`` per photo, the most confident), or each
    whole image."""
    if not megadetector:
        return whole_image_detections(imgs)
    det, iss = load_megadetector(megadetector, imgs, threshold=threshold, max_per_image=max_per_image)
    if issues is not None:
        issues.extend(iss)
    return det


def labelled_detections(images, megadetector=None, threshold: float = DEFAULT_THRESHOLD,
                        issues: Issues | None = None) -> pd.DataFrame:
    """Detections of labelled photos (``ingest.scan_catalogue``: a folder per individual, or
    XMP tags), one animal a photo: MegaDetector's most confident box, or the whole image."""
    imgs, iss = scan_catalogue(images)
    if issues is not None:
        issues.extend(iss)
    return detections_of(imgs, megadetector, threshold, 1, issues)


def survey_detections(images, megadetector=None, threshold: float = DEFAULT_THRESHOLD, *, station_from: str = "auto",
                      tz: str | None = None, progress: bool = True,
                      issues: Issues | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(images read, detections)`` of a survey folder (``ingest.scan_images``): every
    MegaDetector box above ``threshold``, or the whole images. A folder without one readable
    image is an error that says where to point instead."""
    imgs, iss = scan_images(images, station_from=station_from, tz=tz, progress=progress)
    if issues is not None:
        issues.extend(iss)
    if len(imgs) == 0:
        raise ValueError(f"no readable images under {images} ({len(iss)} file(s) skipped, e.g. "
                         f"{'; '.join(iss['reason'].astype(str).head(2)) if len(iss) else 'none found'}): "
                         "point to the survey folder that holds the station folders")
    return imgs, detections_of(imgs, megadetector, threshold, None, issues)
