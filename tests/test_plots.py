"""Report figures: each returns a matplotlib Figure, draws what it was given, saves a PNG."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lynxid import plots


def detections():
    ev = [("EV1", "L1", "A", "2025-02-01 20:00", False, 0.95), ("EV2", "L1", "B", "2025-02-03 03:00", False, 0.7),
          ("EV3", "L2", "A", "2025-02-04 22:00", False, 0.9), ("EV4", "NEW-001", "C", "2025-02-05 05:00", True, 0.2),
          ("EV5", None, "C", "2025-02-06 05:00", False, 0.5)]       # rejected: no individual
    rows = []
    for e, ind, st, t, new, p in ev:
        for k in range(2):                                            # a burst of two photos per event
            rows.append(dict(detection_id=f"{e}-{k}", event_id=e, individual_id=ind, station=st,
                             timestamp=pd.Timestamp(t, tz="+01:00") + pd.Timedelta(seconds=k), is_new=new,
                             probability=p if not new else 0.8, p_new=0.8 if new else 1 - p,
                             candidates=json.dumps([{"individual": "L1", "probability": p}])))
    return pd.DataFrame(rows)


def stations():
    return pd.DataFrame({"Station": ["A", "B", "C", "D"], "utm_x": [0.0, 2000, 4000, 6000],
                         "utm_y": [0.0, 0, 1500, 1500]})


def test_station_map(tmp_path):
    fig = plots.station_map(detections(), stations(), path=tmp_path / "map.png")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["station", "L1 (2)", "L2 (1)", "NEW-001 (1)"]     # events, not photos; rejected not drawn
    assert Image.open(tmp_path / "map.png").size[0] > 500
    with pytest.raises(ValueError, match="no column 'X'"):
        plots.station_map(detections(), stations(), x_col="X")


def test_capture_timeline(tmp_path):
    fig = plots.capture_timeline(detections(), path=tmp_path / "t.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["L1", "L2", "NEW-001"]   # by first detection
    n_marks = sum(len(c.get_offsets()) for c in ax.collections)
    assert n_marks == 4
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_effort_heatmap_from_camera_operation_and_capture_history(tmp_path):
    from lynxid.capture import capture_history
    from lynxid.effort import camera_operation
    st = stations().assign(Setup_date=["2025-02-01", "2025-02-01", "2025-02-02", "2025-02-01"],
                           Retrieval_date=["2025-02-08", "2025-02-08", "2025-02-08", "2025-02-05"])
    co = camera_operation(st)
    fig = plots.effort_heatmap(co, path=tmp_path / "e.png")
    img = fig.axes[0].get_images()[0].get_array()
    assert img.shape == co.shape and img.mask[2, 0] and img[3, 6] is np.ma.masked   # not deployed: grey
    assert f"{np.nansum(co.to_numpy()):.1f} trap-days" in fig.axes[0].get_title()
    ch = capture_history(detections().dropna(subset=["individual_id"]), st, occasion_length=2)
    fig2 = plots.effort_heatmap(ch)
    assert fig2.axes[0].get_images()[0].get_array().shape == ch.usage_matrix().shape
    # a CSV with station names in the first column, as written by the CLI
    co.to_csv(tmp_path / "co.csv")
    assert plots.effort_heatmap(tmp_path / "co.csv").axes[0].get_images()[0].get_array().shape == co.shape


def test_score_distribution(tmp_path):
    fig = plots.score_distribution(detections(), path=tmp_path / "s.png")
    left, right = fig.axes[:2]
    # one count per event (5 events, bursts counted once), split by the machine's call
    heights = sum(p.get_height() for p in left.patches)
    assert heights == 5
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["called known (4)", "called new (1)"]
    assert plots.best_candidate_probability(detections()).tolist()[:2] == [0.95, 0.95]
