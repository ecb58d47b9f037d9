"""Writing a simulated survey's folder: each detection photographed by its station's cameras,
the reference catalogue, the broken files SD cards really hold, and the tables.

The layout (its paths are named by :class:`~lynxid.sim_survey.SimulatedSurvey`):
``images/<station>/<camera>/IMG_nnnn.JPG`` in camtrapR's folders, with EXIF times and (with
``flank_tags``) the flank each photo shows as an XMP tag ``flank|left`` / ``flank|right``, as
users tag flanks in digiKam or Timelapse (ingest reads it: the identified detections know it);
``catalogue/<individual>/<sighting>_<flank>.jpg``; ``stations.csv`` (a camtrapR station
table); ``megadetector.json`` and ``catalogue_megadetector.json`` (MegaDetector's batch
format, the true boxes with a few per cent of noise, as a detector's are); ``truth/*.csv``
and ``survey.json``. All photos of the survey come from one random stream in the order of
the events, so the same events give the same files.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage
from .sim_animal import FLANKS
from .sim_ecology import cameras_firing, is_night
from .sim_photo import jpeg_bytes, make_scene, render_individual_image
from .sim_survey import SimulatedSurvey

__all__ = ["SurveyFolder", "IMAGE_TRUTH_COLUMNS", "CATALOGUE_TRUTH_COLUMNS"]

IMAGE_TRUTH_COLUMNS = ["file", "station", "camera", "timestamp", "individual", "flank", "event", "night",
                       "bbox_x", "bbox_y", "bbox_w", "bbox_h", "in_catalogue"]
CATALOGUE_TRUTH_COLUMNS = ["file", "individual", "flank", "sighting", "bbox_x", "bbox_y", "bbox_w", "bbox_h"]
EVENT_TRUTH_COLUMNS = ["event", "individual", "station", "timestamp", "cameras"]
MD_INFO = {"format_version": "1.4", "detector": "lynxid simulator (true boxes, jittered)"}
MD_CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}


class SurveyFolder:
    """The folder as it is written: photos first, collecting the truth rows and MegaDetector
    entries that describe them, then the tables.

    ``individuals``: id -> :class:`~lynxid.sim_animal.Individual`; ``known``: the ids in the
    reference catalogue; ``scene_seeds``: (station, camera) -> the seed of that camera's
    scene; ``rng``: the stream of every survey photo (and of the broken files).
    """

    def __init__(self, survey: SimulatedSurvey, individuals: dict, known: set, scene_seeds: dict,
                 rng: np.random.Generator):
        self.survey, self.cfg = survey, survey.config
        self.individuals, self.known = individuals, known
        self.scene_seeds, self.rng = scene_seeds, rng
        self.scenes: dict = {}       # (station, camera) -> scene, drawn when first needed
        self._counters: dict = {}    # (station, camera) -> photos taken
        self.images: list = []       # truth rows, one per photo
        self.events: list = []       # truth rows, one per detection event
        self.megadetector: list = []
        self.bad_files: list = []
        self.catalogue: list = []
        self.catalogue_megadetector: list = []

    # ---- the survey's photos ----------------------------------------------------------
    def photograph_events(self, events: list, progress: bool = True) -> None:
        """Photograph each ``(time, individual, station, u)`` event; events are ``E0001``, ..."""
        from tqdm.auto import tqdm
        for ev_i, (t, ind_id, station, u) in enumerate(tqdm(events, desc="rendering survey", disable=not progress,
                                                            unit="event")):
            self._photograph_event(f"E{ev_i + 1:04d}", t, ind_id, station, u)

    def _photograph_event(self, ev_id: str, t: datetime, ind_id: str, station: str, u: float) -> None:
        """A burst from each camera that fires; camera B's clock runs up to 3 s after A's."""
        rng = self.rng
        fire = cameras_firing(self.cfg, u, rng)
        night = is_night(t)
        for cam, flank in fire:
            key = (station, cam)
            if key not in self.scenes:
                self.scenes[key] = make_scene(self.scene_seeds[key], self.cfg.image_size)
            t_cam = t + timedelta(seconds=int(rng.integers(0, 4)) if cam == "B" else 0)
            for b in range(int(rng.integers(self.cfg.burst[0], self.cfg.burst[1] + 1))):
                self._photo(key, flank, t_cam + timedelta(seconds=b), night, ind_id, ev_id)
        self.events.append(dict(event=ev_id, individual=ind_id, station=station, timestamp=t,
                                cameras="".join(c for c, _ in fire)))

    def _photo(self, key: tuple, flank: str, when: datetime, night: bool, ind_id: str, ev_id: str) -> None:
        station, cam = key
        rng = self.rng
        self._counters[key] = self._counters.get(key, 0) + 1
        rel = (Path(station) / cam / f"IMG_{self._counters[key]:04d}.JPG").as_posix()
        img, box = render_individual_image(self.individuals[ind_id], flank, self.scenes[key], rng, night=night)
        tags = [f"flank|{flank}"] if self.cfg.flank_tags else None
        storage.write_bytes(self.survey.images / rel,
                            jpeg_bytes(img, when, self.cfg.utc_offset, int(rng.integers(80, 93)), subjects=tags))
        self.images.append(dict(file=rel, station=station, camera=cam, timestamp=when, individual=ind_id,
                                flank=flank, event=ev_id, night=night, bbox_x=box[0], bbox_y=box[1],
                                bbox_w=box[2], bbox_h=box[3], in_catalogue=ind_id in self.known))
        conf = float(np.clip(rng.normal(0.9, 0.06), 0.5, 0.99))
        self.megadetector.append({"file": rel, "detections": [
            {"category": "1", "conf": round(conf, 3), "bbox": [round(v, 4) for v in _jitter(box, rng)]}]})

    def add_bad_files(self) -> None:
        """What SD cards really contain: empty, truncated and foreign files, and a photo without
        EXIF; beside the survey's first photo."""
        first = self.images[0]
        station, cam = first["station"], first["camera"]
        zero, truncated, foreign, no_exif = (f"{station}/{cam}/IMG_{9000 + k}.JPG" for k in range(1, 5))
        storage.write_bytes(self.survey.images / zero, b"")
        self.bad_files.append(dict(file=zero, problem="zero-byte file"))
        good = (self.survey.images / first["file"]).read_bytes()
        storage.write_bytes(self.survey.images / truncated, good[: len(good) // 3])
        self.bad_files.append(dict(file=truncated, problem="truncated JPEG"))
        storage.write_bytes(self.survey.images / foreign, b"This is not an image. Camera firmware log.\n")
        self.bad_files.append(dict(file=foreign, problem="not an image"))
        # a real photo whose EXIF was stripped by some tool: identifiable, but has no time
        img, box = render_individual_image(self.individuals[first["individual"]], first["flank"],
                                           self.scenes[(station, cam)], self.rng)
        storage.write_bytes(self.survey.images / no_exif, jpeg_bytes(img, None, None, 88))
        self.bad_files.append(dict(file=no_exif, problem="no EXIF date"))
        self.images.append({**first, "file": no_exif, "timestamp": None, "event": None,
                            "bbox_x": box[0], "bbox_y": box[1], "bbox_w": box[2], "bbox_h": box[3]})
        self.megadetector.append({"file": no_exif,
                                  "detections": [{"category": "1", "conf": 0.9, "bbox": [round(v, 4) for v in box]}]})
        self.megadetector.append({"file": truncated, "failure": "Failure image access"})

    # ---- the reference catalogue ------------------------------------------------------
    def photograph_catalogue(self, seed_seq: np.random.SeedSequence, progress: bool = True) -> None:
        """The known individuals, photographed elsewhere a season earlier, at four scenes.

        Each earlier sighting photographed both flanks (paired cameras), as in the survey:
        file names ``<sighting>_<flank>.jpg`` tell the sighting apart from the flank.
        """
        from tqdm.auto import tqdm
        rng = np.random.default_rng(seed_seq)
        scenes = [make_scene(sq, self.cfg.image_size) for sq in seed_seq.spawn(4)]
        start = datetime.fromisoformat(self.cfg.start_date)
        for ind_id in tqdm(sorted(self.known), desc="rendering catalogue", disable=not progress, unit="individual"):
            for n in range(self.cfg.catalogue_images_per_flank):
                night = rng.random() < 0.4
                when = start - timedelta(days=int(rng.integers(200, 500)), hours=float(rng.uniform(0, 24)))
                for k, flank in enumerate(FLANKS):
                    when = when + timedelta(seconds=k)
                    self._catalogue_photo(ind_id, n + 1, flank, when, night, scenes, rng)

    def _catalogue_photo(self, ind_id: str, sighting: int, flank: str, when: datetime, night: bool,
                         scenes: list, rng: np.random.Generator) -> None:
        rel = (Path(ind_id) / f"{sighting:02d}_{flank}.jpg").as_posix()
        scene = scenes[int(rng.integers(len(scenes)))]
        img, box = render_individual_image(self.individuals[ind_id], flank, scene, rng, night=night)
        storage.write_bytes(self.survey.catalogue_images / rel,
                            jpeg_bytes(img, when.replace(microsecond=0), self.cfg.utc_offset, 90))
        self.catalogue.append(dict(file=rel, individual=ind_id, flank=flank, sighting=sighting,
                                   bbox_x=box[0], bbox_y=box[1], bbox_w=box[2], bbox_h=box[3]))
        self.catalogue_megadetector.append({"file": rel, "detections": [
            {"category": "1", "conf": 0.95, "bbox": [round(v, 4) for v in _jitter(box, rng)]}]})

    # ---- the tables -------------------------------------------------------------------
    def write_tables(self, stations: pd.DataFrame, individuals: pd.DataFrame, habitat: tuple) -> None:
        """The station table, the truth tables, both MegaDetector files and ``survey.json``.

        Every truth table has explicit columns: a survey without a single detection still has
        readable (empty) tables.
        """
        survey, root = self.survey, self.survey.root
        survey.images.mkdir(exist_ok=True)
        survey.catalogue_images.mkdir(exist_ok=True)
        storage.write_table(_station_csv(stations), survey.stations_csv)
        truth = root / "truth"
        truth.mkdir(exist_ok=True)
        storage.write_table(individuals, truth / "individuals.csv")
        storage.write_table(pd.DataFrame(self.images, columns=IMAGE_TRUTH_COLUMNS), truth / "images.csv")
        storage.write_table(pd.DataFrame(self.events, columns=EVENT_TRUTH_COLUMNS), truth / "detections.csv")
        storage.write_table(pd.DataFrame(self.bad_files, columns=["file", "problem"]), truth / "bad_files.csv")
        storage.write_table(pd.DataFrame(self.catalogue, columns=CATALOGUE_TRUTH_COLUMNS), truth / "catalogue.csv")
        storage.write_json(survey.megadetector_json, _megadetector(self.megadetector))
        storage.write_json(survey.catalogue_megadetector_json, _megadetector(self.catalogue_megadetector))
        storage.write_json(root / "survey.json", {"config": asdict(self.cfg), "n_images": len(self.images),
                                                  "n_events": len(self.events), "n_bad_files": len(self.bad_files),
                                                  "habitat": list(habitat),
                                                  "time_zone": f"UTC{self.cfg.utc_offset}"})


def _station_csv(stations: pd.DataFrame) -> pd.DataFrame:
    """The station table with its times as camtrapR reads them (``YYYY-MM-DD HH:MM:SS``)."""
    out = stations.copy()
    for c in ("Setup_date", "Retrieval_date", "Problem1_from", "Problem1_to"):
        out[c] = [x.strftime("%Y-%m-%d %H:%M:%S") if x is not None and not pd.isna(x) else "" for x in out[c]]
    return out


def _megadetector(images: list) -> dict:
    return {"info": MD_INFO, "images": images, "detection_categories": MD_CATEGORIES}


def _jitter(box, rng):
    """A detector's box is never exact: a few per cent of noise on each side."""
    x, y, w, h = box
    dx0, dy0, dx1, dy1 = rng.normal(0, 0.03, 4)
    nx0 = np.clip(x + dx0 * w, 0, 1)
    ny0 = np.clip(y + dy0 * h, 0, 1)
    nx1 = np.clip(x + w + dx1 * w, 0, 1)
    ny1 = np.clip(y + h + dy1 * h, 0, 1)
    return [float(nx0), float(ny0), float(max(1e-3, nx1 - nx0)), float(max(1e-3, ny1 - ny0))]
