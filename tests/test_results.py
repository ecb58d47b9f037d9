"""identify's results table: the candidates as a long table, one row per individual, and
reading an output folder back (what R's identify()/read_results() take from Python)."""
import json

import pandas as pd
import pytest

from lynxid import rinterop
from lynxid.results import CANDIDATE_COLUMNS, IdentifyResult, candidate_table, individual_table


def detections():
    cands = [[("L1", 0.91), ("L2", 0.05)], [], [("L2", 0.6)], [("L1", 0.3), ("L3", 0.2), ("L2", 0.1)]]
    return pd.DataFrame({
        "detection_id": ["a#0", "a#1", "b#0", "c#0"], "file": ["a", "a", "b", "c"], "path": ["/x/a", "/x/a", "/x/b", "/x/c"],
        "station": ["S1", "S1", "S2", "S1"], "event_id": ["E1", "E1", "E2", "E3"],
        "timestamp": pd.to_datetime(["2025-02-01 20:00", "2025-02-01 20:00", "2025-02-03 03:00", "2025-01-30 22:00"]
                                    ).tz_localize("+01:00"),
        "individual_id": ["L1", None, "L2", "NEW-001"], "is_new": [False, False, False, True],
        "candidates": [json.dumps([{"individual": i, "probability": p} for i, p in c]) for c in cands]})


def test_candidate_table_is_long_best_first():
    ct = candidate_table(detections())
    assert list(ct.columns) == CANDIDATE_COLUMNS
    assert ct.detection_id.tolist() == ["a#0", "a#0", "b#0", "c#0", "c#0", "c#0"]
    assert ct["rank"].tolist() == [1, 2, 1, 1, 2, 3] and ct["rank"].dtype == "int64"
    assert ct.individual_id.tolist()[:2] == ["L1", "L2"] and ct.probability.tolist()[0] == 0.91
    assert list(candidate_table(detections().drop(columns="event_id")).columns) == \
        [c for c in CANDIDATE_COLUMNS if c != "event_id"]
    with pytest.raises(ValueError, match="candidates"):
        candidate_table(detections().drop(columns="candidates"))


def test_individual_table():
    t = individual_table(detections())
    assert t.individual_id.tolist() == ["NEW-001", "L1", "L2"]            # by first detection
    row = t.set_index("individual_id").loc["L1"]
    assert (row.detections, row.events, row.stations, row.is_new) == (1, 1, 1, False)
    assert t.set_index("individual_id").is_new["NEW-001"]
    # text times from R with several offsets
    txt = detections().assign(timestamp=["2025-02-01T20:00:00+0100", None, "2025-07-03T03:00:00+0200",
                                         "2025-01-30T22:00:00+0100"])
    assert individual_table(txt).individual_id.tolist() == ["NEW-001", "L1", "L2"]


def test_result_read_back_and_crossing_to_r(tmp_path):
    res = IdentifyResult(detections(), pd.DataFrame({"file": ["bad.jpg"], "stage": ["decode"], "severity": ["excluded"],
                                                     "reason": ["truncated"]}), {"detections": 4})
    res.write(tmp_path)
    back = IdentifyResult.read(tmp_path)
    pd.testing.assert_frame_equal(back.detections, res.detections)
    assert back.summary["detections"] == 4 and back.issues.file.tolist() == ["bad.jpg"]
    pd.testing.assert_frame_equal(back.candidates, candidate_table(res.detections))
    parts = rinterop.identification_to_r(back)
    assert "candidates" not in parts["detections"]["__frame__"]            # in R: the long table instead
    assert parts["candidates"]["__frame__"]["individual_id"]["values"][0] == "L1"
    assert parts["summary"]["detections"] == 4
