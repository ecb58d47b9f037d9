"""Report figures: station map, capture timeline, effort heatmap and score distribution,
saved as PNG in FOLDER/figures.

    python examples/plots.py [FOLDER]
"""
from _common import RESULTS, SURVEY, WORK

from lynxid import plots
from lynxid.effort import camera_operation

out = WORK / "figures"
det = RESULTS / "detections.parquet"
plots.station_map(det, SURVEY / "stations.csv", path=out / "stations.png")
plots.capture_timeline(det, path=out / "timeline.png")
plots.effort_heatmap(camera_operation(SURVEY / "stations.csv"), path=out / "effort.png")
plots.score_distribution(det, path=out / "scores.png")
print(f"figures written to {out}")
