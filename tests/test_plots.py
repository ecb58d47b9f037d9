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


def test_the_data_the_figures_draw_are_what_r_draws_too():
    """R's ggplot2 figures (rpkg/R/plots.R) draw these tables: events, not photos; the
    machine's own calls; the best candidate from the long candidate table or the JSON column."""
    from lynxid.results import candidate_table
    det = detections()
    ev = plots.detection_events(det)
    assert list(ev.columns) == ["individual_id", "event_id", "station", "timestamp", "is_new"]
    assert len(ev) == 4 and set(ev.event_id) == {"EV1", "EV2", "EV3", "EV4"}       # rejected EV5 left out
    assert ev.set_index("event_id").timestamp["EV1"] == pd.Timestamp("2025-02-01 20:00", tz="+01:00")

    m = plots.station_map_data(det, stations())
    p = m["points"].set_index(["individual_id", "station"])
    assert m["n_events"] == 4 and p.n.to_dict() == {("L1", "A"): 1, ("L1", "B"): 1, ("L2", "A"): 1,
                                                     ("NEW-001", "C"): 1}
    assert p.loc[("L1", "A"), "cx"] == pytest.approx((p.loc[("L1", "A"), "x"] + p.loc[("L1", "B"), "x"]) / 2)
    assert p.loc[("L1", "A"), "events"] == 2
    assert (p.loc[("L1", "A"), "x"], p.loc[("L2", "A"), "x"]) != (0.0, 0.0)     # two animals at A: side by side

    t = plots.timeline_data(det)
    assert t.sort_values("order").drop_duplicates("individual_id").individual_id.tolist() == ["L1", "L2", "NEW-001"]
    assert t.set_index("individual_id").status["NEW-001"] == "new"

    s = plots.score_data(det)
    assert len(s) == 5 and s.call.value_counts().to_dict() == {"known": 4, "new": 1}
    cands = candidate_table(det)
    s2 = plots.score_data(det.drop(columns="candidates"), cands)
    pd.testing.assert_frame_equal(s, s2)
    # a reviewed detection keeps the machine's call; text times from R (several offsets) parse
    rev = det.assign(machine_individual_id=det.individual_id, decision="known",
                     timestamp=det.timestamp.dt.tz_convert("Europe/Zurich").dt.strftime("%Y-%m-%dT%H:%M:%S%z"))
    rev.loc[rev.event_id == "EV4", ["individual_id", "decision", "is_new"]] = ["L9", "reviewed", True]
    assert plots.score_data(rev).call.value_counts().to_dict() == {"known": 4, "new": 1}
    assert plots.timeline_data(rev).timestamp.notna().all()


def test_capture_history_plot_data():
    from lynxid.capture import capture_history
    st = stations().assign(Setup_date="2025-02-01", Retrieval_date="2025-02-08")
    ch = capture_history(detections().dropna(subset=["individual_id"]), st, occasion_length=2, output="count")
    s = plots.capture_station_data(ch)
    assert s.detector.tolist() == ["A", "B", "C", "D"] and s.operated.all()
    assert s.detections.sum() == ch.detections["count"].sum()
    assert s.set_index("detector").individuals.to_dict() == {"A": 2, "B": 1, "C": 1, "D": 0}
    i = plots.capture_individual_data(ch)
    assert i.detections.is_monotonic_increasing and i.set_index("individual").stations["L1"] == 2
    with pytest.raises(ValueError, match="no session"):
        plots.capture_station_data(ch, "9")
