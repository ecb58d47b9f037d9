"""Capture histories on small hand-computed surveys, and end to end on a simulated survey."""
import numpy as np
import pandas as pd
import pytest

from lynxid.capture import capture_history
from lynxid.records import independent_records


def stations(**over):
    d = dict(Station=["A", "B"], utm_x=[500000.0, 502000.0], utm_y=[5200000.0, 5201000.0],
             Setup_date=["2020-01-01 00:00:00", "2020-01-01 00:00:00"],
             Retrieval_date=["2020-01-05 00:00:00", "2020-01-05 00:00:00"])
    d.update(over)
    return pd.DataFrame(d)


def records(rows):
    return pd.DataFrame(rows, columns=["station", "timestamp", "individual_id"])


def cells(ch, session=None):
    """{(individual, occasion, detector): count}"""
    d = ch.detections if session is None else ch.detections[ch.detections.session == session]
    return {(i, o, s): c for i, o, s, c in zip(d.individual, d.occasion, d.detector, d["count"])}


def test_occasion_boundaries_are_half_open():
    # 00:00:00 of Jan 2 begins occasion 2 (camtrapR's ceiling() would put it in occasion 1)
    rec = records([("A", "2020-01-01 23:59:59", "x"), ("A", "2020-01-02 00:00:00", "y"),
                   ("B", "2020-01-01 00:00:00", "x")])
    ch = capture_history(rec, stations(), semantics="exact")
    assert cells(ch) == {("x", 1, "A"): 1, ("y", 2, "A"): 1, ("x", 1, "B"): 1}
    assert ch.usage_matrix().to_numpy().tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]


def test_two_day_occasions_usage_and_counts():
    st = stations(Setup_date=["2020-01-01", "2020-01-02"], Retrieval_date=["2020-01-05", "2020-01-06"])
    rec = records([("A", "2020-01-01 18:00:00", "1"), ("A", "2020-01-02 03:00:00", "1"),
                   ("B", "2020-01-05 20:00:00", "2"), ("A", "2020-01-04 01:00:00", "2")])
    ch = capture_history(rec, st, occasion_length=2, output="count")
    # survey starts Jan 1: occasions [1-2], [3-4], [5-6]
    # A: set up Jan 1 noon, retrieved Jan 5 noon; B: Jan 2 noon .. Jan 6 noon
    np.testing.assert_allclose(ch.usage_matrix().to_numpy(), [[1.5, 2, 0.5], [0.5, 2, 1.5]])
    assert cells(ch) == {("1", 1, "A"): 2, ("2", 2, "A"): 1, ("2", 3, "B"): 1}
    assert ch.detector_type == "count"
    bin_ = capture_history(rec, st, occasion_length=2, output="binary")
    assert cells(bin_)[("1", 1, "A")] == 1 and bin_.detector_type == "proximity"
    assert list(ch.occasions.start) == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-03"), pd.Timestamp("2020-01-05")]


def test_day1_station_and_date():
    st = stations(Setup_date=["2020-01-01", "2020-01-03"], Retrieval_date=["2020-01-05", "2020-01-07"])
    rec = records([("B", "2020-01-03 20:00:00", "1"), ("A", "2020-01-02 08:00:00", "1")])
    ch = capture_history(rec, st, occasion_length=2, day1="station")
    # each station's own occasions: A [Jan1-2][3-4][5], B [Jan3-4][5-6][7]
    np.testing.assert_allclose(ch.usage_matrix().to_numpy(), [[1.5, 2, 0.5], [1.5, 2, 0.5]])
    assert cells(ch) == {("1", 1, "A"): 1, ("1", 1, "B"): 1}
    ch = capture_history(rec, st, occasion_length=2, day1="2020-01-03")
    # occasions from Jan 3: [3-4] [5-6] [7]; A's record on Jan 2 comes before day1 -> left out, reported
    np.testing.assert_allclose(ch.usage_matrix().to_numpy(), [[2, 0.5, 0], [1.5, 2, 0.5]])
    assert cells(ch) == {("1", 1, "B"): 1}
    ex = ch.issues[ch.issues.severity == "excluded"]
    assert list(ex.row) == [2] and "before the first occasion" in ex.reason.iloc[0]
    with pytest.raises(ValueError, match="day1"):
        capture_history(rec, st, day1="2021-01-01")


def test_occasion_start_time():
    rec = records([("A", "2020-01-01 11:00:00", "1"), ("A", "2020-01-01 13:00:00", "2")])
    ch = capture_history(rec, stations(), occasion_start_time=12, semantics="exact")
    # nights from noon to noon: first occasion [Dec 31 12:00, Jan 1 12:00) has 12 h of effort
    np.testing.assert_allclose(ch.usage_matrix().to_numpy()[0], [0.5, 1, 1, 1, 0.5])
    assert cells(ch) == {("1", 1, "A"): 1, ("2", 2, "A"): 1}


def test_zero_effort_records_reported_not_silent():
    st = stations(Problem1_from=["2020-01-02 00:00:00", ""], Problem1_to=["2020-01-03 00:00:00", ""])
    rec = records([("A", "2020-01-02 10:00:00", "1"), ("A", "2020-01-03 10:00:00", "1"),
                   ("A", None, "1"), ("B", "2020-01-02 10:00:00", None)])
    ch = capture_history(rec, st)
    assert cells(ch) == {("1", 3, "A"): 1}
    iss = ch.issues.set_index("row")
    assert "had no effort" in iss.loc[1, "reason"] and iss.loc[1, "severity"] == "excluded"
    assert "no date/time" in iss.loc[3, "reason"]
    assert "no individual ID" in iss.loc[4, "reason"]
    assert list(ch.records.status) == ["excluded", "used", "excluded", "excluded"]
    with pytest.raises(ValueError, match="strict=True: 3 record"):
        capture_history(rec, st, strict=True)


def test_records_outside_exact_operation_kept_with_warning():
    # date-only setup = noon; a record at 08:00 on the setup day falls in a cell with effort 0.5
    st = stations(Setup_date=["2020-01-01", "2020-01-01"], Retrieval_date=["2020-01-05", "2020-01-05"])
    ch = capture_history(records([("A", "2020-01-01 08:00:00", "1")]), st)
    assert cells(ch) == {("1", 1, "A"): 1}
    w = ch.issues[ch.issues.severity == "warning"]
    assert list(w.row) == [1] and "not working" in w.reason.iloc[0]


def test_records_after_retrieval_excluded():
    ch = capture_history(records([("A", "2020-01-06 10:00:00", "1"), ("A", "2020-01-02 10:00:00", "1")]), stations())
    ex = ch.issues[ch.issues.severity == "excluded"]
    assert list(ex.row) == [1] and "after the last day of station 'A'" in ex.reason.iloc[0]


def test_camtrapr_midnight_belongs_to_the_day_before():
    # issue 19, cause 2: camtrapR's ceiling(): occasions are (start, end]
    rec = records([("A", "2020-01-01 23:59:59", "x"), ("A", "2020-01-02 00:00:00", "y"),
                   ("A", "2020-01-03 00:00:01", "z"), ("B", "2020-01-01 00:00:00", "x")])
    ch = capture_history(rec, stations())
    assert cells(ch) == {("x", 1, "A"): 1, ("y", 1, "A"): 1, ("z", 3, "A"): 1, ("x", 1, "B"): 1}
    # the grid's very first instant is occasion 0 for camtrapR (spatialDetectionHistory stops): kept in 1, said
    w = ch.issues[ch.issues.severity == "warning"]
    assert list(w.row) == [4] and "occasion 0" in w.reason.iloc[0]
    ch3 = capture_history(rec, stations(), occasion_length=2)
    assert cells(ch3) == {("x", 1, "A"): 1, ("y", 1, "A"): 1, ("z", 2, "A"): 1, ("x", 1, "B"): 1}


def test_camtrapr_occasion_start_time_drops_the_part_before_the_first_column():
    # camtrapR's day columns start on the first setup date + h: the 12 h before noon of a
    # station set up at 00:00 fall in a column that does not exist, and a record then is out
    rec = records([("A", "2020-01-01 11:00:00", "1"), ("A", "2020-01-01 13:00:00", "2"),
                   ("A", "2020-01-02 12:00:00", "3")])
    ch = capture_history(rec, stations(), occasion_start_time=12)
    np.testing.assert_array_equal(ch.usage_matrix().to_numpy()[0], [1, 1, 1, 0.5])
    assert cells(ch) == {("2", 1, "A"): 1, ("3", 1, "A"): 1}
    assert ch.records.status.tolist() == ["excluded", "used", "used"]


def test_camtrapr_record_after_its_station_retrieval_day_is_left_out():
    # issue 19, cause 1: A runs 03-01..03-08, B 03-01..03-20, 10-day occasions; a record at A on
    # 03-09 is in occasion 1, which has effort at A -- camtrapR drops it, and so does lynxid
    st = pd.DataFrame(dict(Station=["A", "B"], utm_x=[0.0, 1000.0], utm_y=[0.0, 0.0],
                           Setup_date=["2024-03-01", "2024-03-01"], Retrieval_date=["2024-03-08", "2024-03-20"]))
    rec = records([("A", "2024-03-09 10:00:00", "L1"), ("A", "2024-03-08 18:00:00", "L2")])
    for semantics in ("camtrapR", "exact"):
        ch = capture_history(rec, st, occasion_length=10, semantics=semantics)
        assert cells(ch) == {("L2", 1, "A"): 1}
        ex = ch.issues[ch.issues.severity == "excluded"]
        assert list(ex.row) == [1] and "after the last day of station 'A'" in ex.reason.iloc[0]
    # the retrieval day after the retrieval time (noon for a date) stays, as in camtrapR
    assert "not working" in ch.issues[ch.issues.severity == "warning"].reason.iloc[0]


def test_camtrapr_two_cameras_same_setup_day_usage():
    # issue 19, cause 3: camerasIndependent = FALSE, dates only: setup and retrieval days count 1.0
    st = pd.DataFrame(dict(Station=["A", "A", "B"], Camera=["c1", "c2", "c1"], utm_x=[0.0, 0.0, 900.0],
                           utm_y=[0.0] * 3, Setup_date=["2024-03-01"] * 3, Retrieval_date=["2024-03-05"] * 3))
    rec = records([("A", "2024-03-02 10:00:00", "L1")])
    opts = dict(station_options=dict(camera_col="Camera"), occasion_length=3)
    np.testing.assert_array_equal(capture_history(rec, st, **opts).usage_matrix().to_numpy(), [[3, 2], [2.5, 1.5]])
    np.testing.assert_array_equal(capture_history(rec, st, semantics="exact", **opts).usage_matrix().to_numpy(),
                                  [[2.5, 1.5], [2.5, 1.5]])


def test_camtrapr_one_grid_over_sessions():
    # issue 19, cause 4: day1 = "survey" lays one grid from the survey's first setup day;
    # sessions 1-29 Jan and 5 Mar - 2 Apr 2024, 7-day occasions
    st = pd.DataFrame(dict(Station=["A", "B", "A", "B"], session=["1", "1", "2", "2"],
                           utm_x=[0.0, 1000.0, 0.0, 1000.0], utm_y=[0.0] * 4,
                           Setup_date=["2024-01-01", "2024-01-01", "2024-03-05", "2024-03-05"],
                           Retrieval_date=["2024-01-29", "2024-01-29", "2024-04-02", "2024-04-02"]))
    rec = records([("A", "2024-01-03 10:00:00", "L1"), ("A", "2024-03-06 10:00:00", "L1"),
                   ("B", "2024-03-11 00:00:00", "L2"), ("B", "2024-03-04 10:00:00", "L2")])
    opts = dict(station_options=dict(session_col="session"), occasion_length=7)
    ch = capture_history(rec, st, **opts)
    np.testing.assert_array_equal(ch.usage_matrix("2").to_numpy(), [[5.5, 7, 7, 7, 1.5]] * 2)
    occ2 = ch.occasions[ch.occasions.session == "2"]
    assert occ2.start.iloc[0] == pd.Timestamp("2024-03-04")
    assert cells(ch, "2") == {("L1", 1, "A"): 1, ("L2", 1, "B"): 1}       # 03-11 00:00 closes occasion 1
    assert "not deployed in any session" in ch.issues.set_index("row").loc[4, "reason"]
    exact = capture_history(rec, st, semantics="exact", **opts)
    np.testing.assert_array_equal(exact.usage_matrix("2").to_numpy(), [[6.5, 7, 7, 7, 0.5]] * 2)
    assert exact.occasions[exact.occasions.session == "2"].start.iloc[0] == pd.Timestamp("2024-03-05")


def test_camtrapr_rounds_date_time_effort_to_4_decimals():
    st = stations(Setup_date=["2020-01-01 08:00:00", "2020-01-01 00:00:00"],
                  Retrieval_date=["2020-01-03 10:00:00", "2020-01-03 00:00:00"])
    ch = capture_history(records([("A", "2020-01-02 10:00:00", "1")]), st)
    np.testing.assert_array_equal(ch.usage_matrix().to_numpy(), [[0.6667, 1, 0.4167], [1, 1, 0]])
    exact = capture_history(records([("A", "2020-01-02 10:00:00", "1")]), st, semantics="exact")
    np.testing.assert_allclose(exact.usage_matrix().to_numpy()[0], [16 / 24, 1, 10 / 24])


def test_unknown_station_error_or_exclude():
    rec = records([("A", "2020-01-02 10:00:00", "1"), ("Z", "2020-01-02 10:00:00", "1")])
    with pytest.raises(ValueError, match=r"station\(s\) not in the station table: 'Z' \(1 records\); rows 2"):
        capture_history(rec, stations())
    ch = capture_history(rec, stations(), unknown_stations="exclude")
    assert cells(ch) == {("1", 2, "A"): 1}
    assert ch.issues.row.tolist() == [2] and "not in the station table" in ch.issues.reason.iloc[0]


def test_empty_occasions_dropped_and_renumbered():
    st = stations(Problem1_from=["2020-01-02 00:00:00", "2020-01-02 00:00:00"],
                  Problem1_to=["2020-01-03 00:00:00", "2020-01-03 00:00:00"])
    rec = records([("A", "2020-01-03 10:00:00", "1")])
    ch = capture_history(rec, st)
    assert ch.usage_matrix().shape == (2, 3)
    assert cells(ch) == {("1", 2, "A"): 1}
    assert list(ch.occasions.start) == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-03"), pd.Timestamp("2020-01-04")]
    keep = capture_history(rec, st, drop_empty_occasions=False)
    assert keep.usage_matrix().shape == (2, 4) and cells(keep) == {("1", 3, "A"): 1}


def test_buffer_and_max_days():
    rec = records([("A", "2020-01-01 10:00:00", "1"), ("A", "2020-01-02 10:00:00", "2"),
                   ("A", "2020-01-04 10:00:00", "3")])
    ch = capture_history(rec, stations(), buffer_days=1, max_days=2)
    np.testing.assert_allclose(ch.usage_matrix().to_numpy(), [[1, 1], [1, 1]])
    assert cells(ch) == {("2", 1, "A"): 1}
    reasons = ch.issues.set_index("row").reason
    assert "before the first occasion" in reasons[1] and "after max_days" in reasons[3]


def test_individual_order_is_secrs():
    rec = records([("A", "2020-01-02 10:00:00", "10"), ("A", "2020-01-02 11:00:00", "9"),
                   ("A", "2020-01-02 12:00:00", "2")])
    assert capture_history(rec, stations()).individuals.individual.tolist() == ["2", "9", "10"]
    rec["individual_id"] = ["b", "a", "C"]
    assert capture_history(rec, stations()).individuals.individual.tolist() == ["C", "a", "b"]


def test_camtrapr_column_names_and_species():
    rec = pd.DataFrame({"Station": ["A", "A", "B"], "Species": ["Lynx", "Fox", "Lynx"],
                        "Individual": [1, 2, 3], "DateTimeOriginal": ["2020-01-02 10:00:00"] * 3})
    ch = capture_history(rec, stations(), species="Lynx")
    assert cells(ch) == {("1", 2, "A"): 1, ("3", 2, "B"): 1}
    assert any("other species" in r for r in ch.issues.reason)
    with pytest.raises(ValueError, match="species 'Cat' not found"):
        capture_history(rec, stations(), species="Cat")


def test_time_zones():
    rec = pd.DataFrame({"station": ["A", "A"], "individual_id": ["1", "2"],
                        "timestamp": ["2020-01-01T23:30:00+00:00", "2020-01-01T22:30:00+00:00"]})
    ch = capture_history(rec, stations(), tz="Europe/Zurich")       # 00:30 and 23:30 local
    assert cells(ch) == {("2", 1, "A"): 1, ("1", 2, "A"): 1}
    ch = capture_history(rec, stations())                            # no tz: the data's own zone (UTC)
    assert cells(ch) == {("1", 1, "A"): 1, ("2", 1, "A"): 1}
    mixed = rec.assign(timestamp=["2020-01-01T23:30:00+01:00", "2020-07-01T22:30:00+02:00"])
    with pytest.raises(ValueError, match="different UTC offsets"):
        capture_history(mixed, stations())
    bad = rec.assign(timestamp=["2020-01-01 23:30:00", "yesterday"])
    with pytest.raises(ValueError, match=r"row 2: 'yesterday'"):
        capture_history(bad, stations())


def test_independence_filter_semantics():
    m = 60e9
    t = (np.array([0, 40, 70, 130, 130]) * m).astype(np.int64)
    g = np.zeros(5, dtype=np.int64)
    assert independent_records(g, t, 60, "last_independent").tolist() == [True, False, True, True, True]
    assert independent_records(g, t, 60, "last").tolist() == [True, False, False, True, True]
    # groups are separate, input order does not matter
    g2 = np.array([1, 0, 1, 0, 1])
    t2 = (np.array([0, 0, 30, 61, 59]) * m).astype(np.int64)
    assert independent_records(g2, t2, 60).tolist() == [True, True, False, True, False]
    assert independent_records(g2, t2, 0).all()


def test_min_delta_in_capture_history():
    rec = records([("A", "2020-01-02 10:00:00", "1"), ("A", "2020-01-02 10:20:00", "1"),
                   ("B", "2020-01-02 10:20:00", "1"), ("A", "2020-01-02 11:30:00", "1")])
    ch = capture_history(rec, stations(), output="count", min_delta_minutes=60)
    assert cells(ch) == {("1", 2, "A"): 2, ("1", 2, "B"): 1}
    f = ch.issues[ch.issues.severity == "filtered"]
    assert list(f.row) == [2]


def test_sessions_from_station_table():
    st = pd.DataFrame(dict(Station=["A", "B", "A"], season=["2", "2", "10"], utm_x=[5e5, 5.02e5, 5e5],
                           utm_y=[5.2e6] * 3, Setup_date=["2020-01-01", "2020-01-01", "2021-01-01"],
                           Retrieval_date=["2020-01-04", "2020-01-04", "2021-01-03"]))
    rec = records([("A", "2020-01-02 10:00:00", "1"), ("A", "2021-01-02 10:00:00", "1"),
                   ("B", "2020-06-01 10:00:00", "2")])
    ch = capture_history(rec, st, station_options=dict(session_col="season"))
    assert ch.sessions == ["2", "10"]                    # secr orders numeric sessions numerically
    assert cells(ch, "2") == {("1", 2, "A"): 1} and cells(ch, "10") == {("1", 2, "A"): 1}
    assert ch.usage_matrix("10").shape == (1, 3)
    ex = ch.issues[ch.issues.severity == "excluded"]
    assert list(ex.row) == [3] and "not deployed in any session" in ex.reason.iloc[0]
    assert ch.summary().individuals.tolist() == [1, 1]


def test_cameras_independent_usage():
    st = pd.DataFrame(dict(Station=["A", "A"], Camera=["c1", "c2"], utm_x=[5e5] * 2, utm_y=[5.2e6] * 2,
                           Setup_date=["2020-01-01 00:00:00"] * 2, Retrieval_date=["2020-01-03 00:00:00"] * 2))
    rec = records([("A", "2020-01-01 10:00:00", "1")])
    u1 = capture_history(rec, st, station_options=dict(camera_col="Camera")).usage_matrix().to_numpy()
    u2 = capture_history(rec, st, cameras_independent=True, station_options=dict(camera_col="Camera")).usage_matrix().to_numpy()
    np.testing.assert_allclose(u1, [[1, 1]])
    np.testing.assert_allclose(u2, [[2, 2]])


def test_array_orders_and_augmentation():
    rec = records([("B", "2020-01-03 10:00:00", "1"), ("A", "2020-01-01 10:00:00", "2")])
    ch = capture_history(rec, stations())
    a = ch.array()
    assert a.shape == (2, 4, 2) and a[0, 2, 1] == 1 and a[1, 0, 0] == 1 and a.sum() == 2
    b = ch.array(order="ijk", augment_to=5)
    assert b.shape == (5, 2, 4) and b[0, 1, 2] == 1 and b[2:].sum() == 0
    with pytest.raises(ValueError, match="smaller than"):
        ch.array(augment_to=1)


def test_counts_by_occasion_like_secr():
    rec = records([("A", "2020-01-01 10:00:00", "1"), ("B", "2020-01-01 11:00:00", "1"),
                   ("A", "2020-01-03 10:00:00", "2"), ("A", "2020-01-03 11:00:00", "1")])
    t = capture_history(rec, stations(), output="count").counts_by_occasion()
    assert t.loc["n"].tolist() == [1, 0, 2, 0, 3]
    assert t.loc["u"].tolist() == [1, 0, 1, 0, 2]
    assert t.loc["f"].tolist() == [1, 1, 0, 0, 2]
    assert t.loc["detections"].tolist() == [2, 0, 2, 0, 4]
    assert t.loc["detectors visited"].tolist() == [2, 0, 1, 0, 3]
    assert t.loc["detectors used"].tolist() == [2, 2, 2, 2, 8]


# --------------------------------------------------------------------------------------
# end to end against the simulator's truth
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from lynxid.simulate import simulate_survey
    return simulate_survey(tmp_path_factory.mktemp("sim"), n_individuals=6, n_known=3, max_detections=30,
                           image_size=(480, 360), progress=False, seed=3)


def test_simulated_events_match_truth(sim):
    truth = sim.truth("detections")
    ch = capture_history(truth, sim.stations_csv, individual_col="individual", output="count")
    assert (ch.records.status == "used").all(), ch.issues
    got = ch.detections.groupby(["individual", "detector"])["count"].sum().to_dict()
    want = truth.groupby(["individual", "station"]).size().to_dict()
    assert got == want
    # occasion = calendar day since the first setup
    first = pd.Timestamp(pd.read_csv(sim.stations_csv).Setup_date.min()).normalize()
    days = (pd.to_datetime(truth.timestamp) - first).dt.days + 1
    assert sorted(zip(truth.individual, days, truth.station)) == sorted(
        zip(*[np.repeat(ch.detections[c].to_numpy(), ch.detections["count"]) for c in ("individual", "occasion", "detector")]))


def test_simulated_images_collapse_to_events(sim):
    images = sim.truth("images")
    truth = sim.truth("detections")
    # paired cameras fire in the same second: drop those twins first, then keep independent events
    ch = capture_history(images, sim.stations_csv, individual_col="individual", output="count",
                         min_delta_minutes=30, remove_duplicates=True)
    got = ch.detections.groupby(["individual", "detector"])["count"].sum().to_dict()
    assert got == truth.groupby(["individual", "station"]).size().to_dict()
    timed = images.timestamp.notna()
    assert (ch.issues.severity == "filtered").sum() == timed.sum() - len(truth)
    # images without a time (the simulator's EXIF-less photo) are reported, not dropped silently
    excl = ch.issues[ch.issues.severity == "excluded"]
    assert sorted(excl.row) == sorted(np.flatnonzero(~timed.to_numpy()) + 1)
    assert all("no date/time" in r for r in excl.reason)
    same_second = capture_history(images, sim.stations_csv, individual_col="individual", output="count",
                                  min_delta_minutes=30)
    assert same_second.detections["count"].sum() > len(truth)   # camtrapR's tie rule keeps the twins


def test_r_interop_round_trip():
    from lynxid.rinterop import from_r_columns, to_r, to_r_columns
    df = pd.DataFrame({"a": [1.5, None], "s": ["x", None], "n": [1, 2], "c": pd.Categorical(["u", None]),
                       "t": pd.to_datetime(["2020-01-01 10:00", None]), "i": pd.array([3, None], dtype="Int64")})
    cols = to_r_columns(df)
    assert cols["s"] == {"kind": "str", "values": ["x", ""], "na": [False, True]}
    assert cols["t"]["values"] == ["2020-01-01 10:00:00", ""] and cols["t"]["kind"] == "time"
    assert cols["i"] == {"kind": "int", "values": [3, 0], "na": [False, True]}
    r = to_r({"m": np.arange(6).reshape(2, 3), "f": df[["n"]], "l": [np.int64(4)]})
    assert r["m"] == {"__array__": [0, 3, 1, 4, 2, 5], "dim": [2, 3], "kind": "int"}   # column-major, as R
    assert r["f"]["__frame__"]["n"]["values"] == [1, 2] and r["l"] == [4]
    # R's NA arrives as "NA" / -2147483648 / TRUE plus a mask: the mask wins
    back = from_r_columns({"s": [["x", "NA"], [False, True]], "n": [[1.0, -2147483648.0], [False, True]],
                           "b": [[True, True], [False, True]]})
    assert back.s.isna().tolist() == [False, True] and back.n.isna().tolist() == [False, True]
    assert back.b.isna().tolist() == [False, True]
    one = from_r_columns({"s": ["solo", False], "x": [2.5, False]})     # a one-row R data frame
    assert one.values.tolist() == [["solo", 2.5]]


def test_date_typed_station_columns_are_dates():
    """Setup/retrieval read as date-times at midnight (parse_dates, Excel, Parquet dates) are
    dates: half days at both ends as with date strings, not a full first day and no last."""
    import datetime as dt
    typed = stations(Setup_date=pd.to_datetime(["2020-01-01", "2020-01-02"]),
                     Retrieval_date=pd.to_datetime(["2020-01-05", "2020-01-06"]))
    text = stations(Setup_date=["2020-01-01", "2020-01-02"], Retrieval_date=["2020-01-05", "2020-01-06"])
    objects = typed.assign(Setup_date=[dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2)],
                           Retrieval_date=[dt.datetime(2020, 1, 5), dt.datetime(2020, 1, 6)]).astype(object)
    rec = records([("A", "2020-01-05 03:00:00", "1")])
    want = capture_history(rec, text)
    assert want.usage_matrix().to_numpy().tolist()[0] == [0.5, 1, 1, 1, 0.5, 0]
    for st in (typed, objects):
        ch = capture_history(rec, st)
        np.testing.assert_array_equal(ch.usage_matrix().to_numpy(), want.usage_matrix().to_numpy())
        assert cells(ch) == {("1", 5, "A"): 1}


def test_missing_value_markers_are_not_individuals():
    """R's write.csv writes NA for an unidentified animal: such records are excluded and
    reported, never one pseudo-individual called "NA"."""
    rec = records([("A", "2020-01-02 10:00:00", "NA"), ("B", "2020-01-02 10:00:00", "NaN"),
                   ("A", "2020-01-03 10:00:00", "7")])
    ch = capture_history(rec, stations())
    assert cells(ch) == {("7", 3, "A"): 1}
    iss = ch.issues.set_index("row")
    assert "no individual ID" in iss.loc[1, "reason"] and "no individual ID" in iss.loc[2, "reason"]


def test_session_without_occasions_is_an_error():
    """day1 after a whole session: an error naming it, not a zero-occasion session that secr
    would read as one occasion of full effort without captures."""
    st = stations(Session=["1", "2"], Setup_date=["2020-01-01", "2020-03-01"],
                  Retrieval_date=["2020-01-05", "2020-03-05"])
    rec = records([("B", "2020-03-02 10:00:00", "1")])
    with pytest.raises(ValueError, match=r"session\(s\) 1 have no occasion"):
        capture_history(rec, st, day1="2020-02-15", station_options=dict(session_col="Session"))


def test_station_times_with_offsets_keep_their_local_clock():
    """Without tz=, station times written with +01:00 are read on that clock, like record
    times (they were read as UTC: setup 12:00+01:00 became 11:00)."""
    st = stations(Setup_date=["2020-01-01T12:00:00+01:00"] * 2, Retrieval_date=["2020-01-05T12:00:00+01:00"] * 2)
    rec = records([("A", "2020-01-01T11:30:00+01:00", "1"), ("A", "2020-01-01T12:30:00+01:00", "2")])
    ch = capture_history(rec, st)
    np.testing.assert_allclose(ch.usage_matrix().to_numpy()[0], [0.5, 1, 1, 1, 0.5])
    w = ch.issues[ch.issues.severity == "warning"]
    assert 1 in set(w.row) and 2 not in set(w.row)      # 11:30 is before the 12:00 setup
