"""Step 4: review the uncertain matches. Writes results/review.html (open it in a browser,
decide, "Download decisions.csv"); here a reviewer's decisions are simulated by confirming
the first animal, then they are applied by rerunning identification (features are cached).

    python examples/review.py [FOLDER]
"""
import datetime as dt

import pandas as pd

from _common import CATALOGUE, PROGRESS, RESULTS, SURVEY

import lynxid

page = lynxid.review_report(RESULTS, CATALOGUE, progress=PROGRESS)
print(f"review page: {page}")

# what the page's "Confirm" button writes for the first card
det = pd.read_parquet(RESULTS / "detections.parquet")
items = lynxid.review_items(det)
if len(items):
    first = items.iloc[0]
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    decisions = pd.DataFrame([dict(detection_id=d, event_id=first.event_id, file="", action="confirm",
                                   individual_id=first.individual_id or "", reviewer="example", timestamp=now,
                                   note="") for d in first.detection_ids])
    saved = lynxid.save_decisions(decisions, RESULTS)     # RESULTS/decisions.csv keeps every decision
    res = lynxid.identify(SURVEY / "images", CATALOGUE, megadetector=SURVEY / "megadetector.json", out=RESULTS,
                          progress=PROGRESS, decisions=saved)     # applies them
    print(f"decisions applied: {res.summary['review']}")
