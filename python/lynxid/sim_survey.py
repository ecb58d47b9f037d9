"""A simulated survey: the parameters it was simulated with and the folder it was written to.

:class:`SurveyConfig` is everything that decides a survey (with its ``seed``, the same
config gives the same folder, byte for byte); :class:`SimulatedSurvey` names the folder's
files and reads its truth tables back, so tests and the demo can score results against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import storage

__all__ = ["SurveyConfig", "SimulatedSurvey"]


@dataclass
class SurveyConfig:
    """Parameters of a simulated survey (defaults: a small, quick lynx survey)."""

    n_individuals: int = 12
    n_known: int = 8                 # individuals already in the reference catalogue
    grid_rows: int = 3
    grid_cols: int = 4
    spacing_m: float = 2500.0        # distance between neighbouring stations
    sigma_m: float = 2000.0          # half-normal scale of detection with distance
    g0: float = 0.12                 # daily detection probability at the activity centre
    n_days: int = 40                 # nominal days of operation per station
    start_date: str = "2025-02-01"
    utc_offset: str = "+01:00"       # camera clocks (written to EXIF OffsetTimeOriginal)
    malfunction_fraction: float = 0.25   # share of stations with a malfunction period
    paired_cameras: bool = True      # two cameras per station, one per flank
    p_both_cameras: float = 0.75     # chance that both cameras of a pair fire
    burst: tuple[int, int] = (1, 3)  # images per camera per event
    image_size: tuple[int, int] = (960, 720)
    catalogue_images_per_flank: int = 3   # earlier sightings per known individual, both flanks each
    inject_bad_files: bool = True    # add a zero-byte, a truncated, a non-image and an EXIF-less file
    flank_tags: bool = True          # survey photos carry an XMP flank|left / flank|right tag, as users tag them
    max_detections: int | None = None  # cap (keeps tests fast); extra detections are dropped from truth too
    seed: int = 1

    def __post_init__(self):
        if self.n_known > self.n_individuals:
            raise ValueError("n_known cannot exceed n_individuals")
        if self.grid_rows < 1 or self.grid_cols < 1:
            raise ValueError("the station grid needs at least one row and one column")



@dataclass
class SimulatedSurvey:
    """Paths and tables of a simulated survey on disk."""

    root: Path
    config: SurveyConfig

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def catalogue_images(self) -> Path:
        return self.root / "catalogue"

    @property
    def stations_csv(self) -> Path:
        return self.root / "stations.csv"

    @property
    def megadetector_json(self) -> Path:
        return self.root / "megadetector.json"

    @property
    def catalogue_megadetector_json(self) -> Path:
        return self.root / "catalogue_megadetector.json"

    def truth(self, name: str) -> pd.DataFrame:
        """One of the truth tables: ``individuals``, ``detections``, ``images`` or ``bad_files``."""
        return storage.read_table(self.root / "truth" / f"{name}.csv")

    @classmethod
    def load(cls, root) -> "SimulatedSurvey":
        root = Path(root)
        meta = storage.read_json(root / "survey.json")
        cfg = meta["config"]
        cfg["burst"] = tuple(cfg["burst"])
        cfg["image_size"] = tuple(cfg["image_size"])
        return cls(root, SurveyConfig(**cfg))
