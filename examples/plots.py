"""Report figures: station map, capture timeline, effort heatmap and score distribution,
saved as PNG in FOLDER/figures.

    python examples/plots.py [FOLDER]
"""
from _common import RESULTS, SURVEY, WORK

import lynxid

out = WORK / "figures"
det = RESULTS / "detections.parquet"
lynxid.plot_stations(det, SURVEY / "stations.csv", path=out / "stations.png")
lynxid.plot_timeline(det, path=out / "timeline.png")
lynxid.plot_effort(lynxid.camera_operation(SURVEY / "stations.csv"), path=out / "effort.png")
lynxid.plot_scores(det, path=out / "scores.png")
print(f"figures written to {out}")
