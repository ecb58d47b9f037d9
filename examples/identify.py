"""Step 3: identify every photo of the survey against the catalogue.

    python examples/identify.py [FOLDER]
"""
from _common import CATALOGUE, PROGRESS, RESULTS, SURVEY

import lynxid

res = lynxid.identify(SURVEY / "images", CATALOGUE, megadetector=SURVEY / "megadetector.json", out=RESULTS,
                      progress=PROGRESS)
s = res.summary
print(f"{s['detections']} detections in {s['events']} events; {s['individuals']} individuals "
      f"({s['known_individuals']} known, {s['new_individuals']} new); {s['needs_review']} flagged for review")
print(res.issues[["file", "severity", "reason"]].to_string(index=False))
print(res.detections[["file", "timestamp", "individual_id", "probability", "p_new", "needs_review"]].head(8)
      .to_string(index=False))
