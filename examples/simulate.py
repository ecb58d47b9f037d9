"""Step 1: simulate a small lynx survey (photos, stations, MegaDetector boxes, a catalogue of
known individuals and the truth) -- the project's own example data, made offline.

    python examples/simulate.py [FOLDER]
"""
from _common import PROGRESS, SURVEY

import lynxid

survey = lynxid.simulate_survey(SURVEY, n_individuals=6, n_known=4, n_days=20, max_detections=12, seed=4,
                                progress=PROGRESS)
print(f"{len(survey.truth('images'))} photos in {survey.images}")
print(f"stations: {survey.stations_csv}; boxes: {survey.megadetector_json}")
print(f"labelled photos of the known individuals: {survey.catalogue_images}")
