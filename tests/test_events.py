"""Events: photos of one passage at one station, chained by the time gap; units: what is
identified as one animal (the event, or each detection where an image holds several)."""
import numpy as np
import pandas as pd

from lynxid.events import DEFAULT_GAP_SECONDS, assign_events


def frame(rows):
    df = pd.DataFrame(rows, columns=["file", "station", "timestamp"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["detection_id"] = df["file"] + "#0"
    return df


T0 = pd.Timestamp("2025-02-01 20:00:00")


def at(s):
    return T0 + pd.Timedelta(seconds=s)


def test_gap_chaining_and_stations():
    det = frame([("a", "S1", at(0)), ("b", "S1", at(15)), ("c", "S1", at(30)), ("d", "S1", at(51)),
                 ("e", "S2", at(5)), ("f", "S2", at(25)), ("g", "S1", at(3600))])
    out = assign_events(det, gap_seconds=20)
    ev = dict(zip(out.file, out.event_id))
    # 0 -> 15 -> 30 chain (each step <= 20 s) although 0 -> 30 is more than the gap
    assert ev["a"] == ev["b"] == ev["c"]
    assert ev["d"] != ev["c"]                     # 21 s after the last photo
    assert ev["e"] == ev["f"] and ev["e"] != ev["a"]   # a gap of exactly 20 s chains; other station
    assert ev["g"] not in (ev["a"], ev["d"])
    assert out["event_id"].nunique() == 4
    assert out.file.tolist() == det.file.tolist()  # input order kept
    assert (out.unit_id == out.event_id).all()    # one box per image: the event is the unit
    assert DEFAULT_GAP_SECONDS == 20.0
    # a longer gap merges d into the first event
    out = assign_events(det, gap_seconds=30)
    assert out.set_index("file").loc[["a", "b", "c", "d"], "event_id"].nunique() == 1


def test_missing_time_or_station_are_events_of_their_own():
    det = frame([("a", "S1", at(0)), ("b", "S1", None), ("c", "S1", None), ("d", "S1", at(5)),
                 ("e", None, at(1)), ("f", None, at(2))])
    out = assign_events(det).set_index("file")
    assert out.loc["a", "event_id"] == out.loc["d", "event_id"]
    ids = out.loc[["b", "c", "e", "f"], "event_id"].tolist()
    assert len(set(ids)) == 4 and out.loc["a", "event_id"] not in ids


def test_time_zones_compare_instants():
    det = frame([("a", "S1", at(0)), ("b", "S1", at(10))])
    det["timestamp"] = [pd.Timestamp("2025-02-01 20:00:00", tz="+01:00"),
                        pd.Timestamp("2025-02-01 19:00:10", tz="UTC").tz_convert("+01:00")]
    out = assign_events(det)
    assert out.event_id.nunique() == 1
    det["timestamp"] = det["timestamp"].dt.tz_convert("Europe/Zurich")
    assert assign_events(det).event_id.nunique() == 1


def test_several_boxes_in_one_image_are_identified_one_by_one():
    det = frame([("a", "S1", at(0)), ("a", "S1", at(0)), ("b", "S1", at(2)), ("c", "S2", at(0))])
    det["detection_id"] = ["a#0", "a#1", "b#0", "c#0"]
    out = assign_events(det)
    assert out.event_id.iloc[0] == out.event_id.iloc[1] == out.event_id.iloc[2]
    # the whole event with two animals is split into per-detection units; the other is not
    assert out.unit_id.iloc[:3].nunique() == 3
    assert out.unit_id.iloc[0].endswith("/a#0") and out.unit_id.iloc[2].endswith("/b#0")
    assert out.unit_id.iloc[3] == out.event_id.iloc[3]


def test_empty_and_unsorted():
    out = assign_events(frame([]))
    assert out.empty and {"event_id", "unit_id"} <= set(out.columns)
    rng = np.random.default_rng(0)
    secs = np.sort(rng.choice(10_000, 40, replace=False))
    det = frame([(f"f{i}", "S1", at(int(s))) for i, s in enumerate(secs)])
    shuffled = det.sample(frac=1, random_state=1)
    a = assign_events(det).set_index("file").event_id
    b = assign_events(shuffled).set_index("file").event_id
    assert (a == b.loc[a.index]).all()
    expected = 1 + int((np.diff(secs) > 20).sum())
    assert a.nunique() == expected
