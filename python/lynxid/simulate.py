"""Simulate a camera-trap survey of individually marked cats, with rendered photos.

This is the project's own example data, demo and test fixture. It simulates the two halves
of a real survey, each in its own module:

* the *ecology* (:mod:`lynxid.sim_ecology`): ``N`` individuals with activity centres in a
  habitat around a grid of camera stations, detected per day with half-normal probability
  ``g0 * exp(-d^2 / (2 sigma^2))``; stations have setup/retrieval times and malfunction
  periods, and a detection only happens while the camera is working;
* the *photographs*: every detection becomes a burst of JPEGs rendered from the individual's
  own coat pattern (:mod:`lynxid.sim_animal`: a spot pattern per individual and per flank --
  left and right differ, as on a real lynx), in a random pose, scale, lighting (day colour or
  night infra-red), blur and partial occlusion, in front of the station's own cluttered scene
  (:mod:`lynxid.sim_photo`). The files carry EXIF ``DateTimeOriginal`` and sit in camtrapR's
  ``station/camera/`` folders.

Everything is deterministic from ``seed``. Alongside the images it writes
(:mod:`lynxid.sim_folder`) the truth (individuals, activity centres, detections with boxes,
events), a camtrapR-style station table, MegaDetector-style box files and a labelled
reference catalogue of the individuals "known from an earlier season".
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from .sim_animal import make_individual
from .sim_ecology import activity_centres, cameras, detection_events, habitat, individual_ids, station_table
from .sim_folder import SurveyFolder
from .sim_survey import SimulatedSurvey, SurveyConfig

__all__ = ["SurveyConfig", "SimulatedSurvey", "simulate_survey"]


def simulate_survey(out_dir, config: SurveyConfig | None = None, progress: bool = True,
                    **overrides) -> SimulatedSurvey:
    """Simulate a survey and write it to ``out_dir`` (see module docstring for the layout).

    ``overrides`` are :class:`SurveyConfig` fields, for convenience:
    ``simulate_survey("sim", n_individuals=20, seed=3)``.
    """
    cfg = config or SurveyConfig()
    if overrides:
        cfg = SurveyConfig(**{**asdict(cfg), **overrides})
    survey = SimulatedSurvey(Path(out_dir), cfg)
    survey.root.mkdir(parents=True, exist_ok=True)
    # one independent stream per part, so that changing one part leaves the others' draws alone
    s_pop, s_sta, s_det, s_img, s_cat, s_scene = np.random.SeedSequence(cfg.seed).spawn(6)

    # the ecology: stations, animals and when each passed a working camera
    stations = station_table(cfg, np.random.default_rng(s_sta))
    area = habitat(stations, cfg.sigma_m)
    ids = individual_ids(cfg.n_individuals)
    known = set(ids[: cfg.n_known])
    centres = activity_centres(area, cfg.n_individuals, np.random.default_rng(s_pop))
    events = detection_events(cfg, stations, centres, ids, np.random.default_rng(s_det))
    if cfg.max_detections is not None:
        events = events[: cfg.max_detections]

    # the photographs: each camera of a pair looks across the trail at its own scene
    individuals = {i: make_individual(i, sq) for i, sq in zip(ids, s_pop.spawn(cfg.n_individuals))}
    keys = [(st, cam) for st in stations.Station for cam in cameras(cfg)]
    folder = SurveyFolder(survey, individuals, known, dict(zip(keys, s_scene.spawn(len(keys)))),
                          np.random.default_rng(s_img))
    folder.photograph_events(events, progress)
    if cfg.inject_bad_files and folder.images:
        folder.add_bad_files()
    folder.photograph_catalogue(s_cat, progress)

    truth = pd.DataFrame(dict(individual=ids, x=centres[:, 0].round(1), y=centres[:, 1].round(1),
                              in_catalogue=[i in known for i in ids]))
    folder.write_tables(stations, truth, area)
    return survey
