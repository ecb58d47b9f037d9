"""Step 6: how good was the identification? Against the simulator's truth, and by
leave-one-out on a labelled folder-per-individual dataset (here the catalogue photos).

    python examples/evaluate.py [FOLDER]
"""
import pandas as pd

from _common import PROGRESS, RESULTS, SURVEY

import lynxid

det = pd.read_parquet(RESULTS / "detections.parquet")
acc = lynxid.survey_accuracy(det, pd.read_csv(SURVEY / "truth" / "images.csv"))
print(f"survey: {acc['accuracy']:.1%} of detections correctly identified, known {acc['known_accuracy']:.1%}, "
      f"new called new {acc['new_recall']:.1%}, ARI {acc['ari']:.3f}")
rep = lynxid.evaluate_dataset(SURVEY / "catalogue", megadetector=SURVEY / "catalogue_megadetector.json", methods=("global",),
                              progress=PROGRESS)
print(lynxid.format_evaluation(rep))
