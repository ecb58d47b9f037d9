"""A small identified survey shared by the review, plot and example tests (built once per
test process: simulate -> catalogue -> identify, about half a minute)."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SmallRun:
    root: Path
    survey: object        # lynxid.simulate.SimulatedSurvey
    catalogue: Path
    results: Path         # identify's output folder
    result: object        # lynxid.results.IdentifyResult


@functools.lru_cache(maxsize=None)
def small_run() -> SmallRun:
    from lynxid.enrol import build_catalogue
    from lynxid.identification import identify
    from lynxid.simulate import simulate_survey

    root = Path(tempfile.mkdtemp(prefix="lynxid-small-run-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    survey = simulate_survey(root / "survey", n_individuals=6, n_known=4, n_days=20, max_detections=12, seed=4,
                             progress=False)
    build_catalogue(root / "catalogue", survey.catalogue_images, megadetector=survey.catalogue_megadetector_json,
                    progress=False)
    res = identify(survey.images, root / "catalogue", megadetector=survey.megadetector_json,
                   out=root / "results", progress=False)
    return SmallRun(root, survey, root / "catalogue", root / "results", res)


def copy_results(run: SmallRun, dest: Path) -> Path:
    """A private copy of the identify output (with its feature cache) to rerun into."""
    shutil.copytree(run.results, dest)
    return dest


def textured_photos(root: Path, files, seed: int = 0) -> Path:
    """Small textured JPEGs at ``root/<file>`` (no EXIF time), for tests of what lynxid does
    with the folder rather than with the animals in it."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(root / f)
    return root
