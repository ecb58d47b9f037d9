"""Camera clocks: wrong clocks flagged per camera with a suggested shift (lynxid.clocks), and
camtrapR time-shift tables applied to the record times (lynxid.time_shifts), on a simulated
survey of paired cameras whose true times are known."""
import numpy as np
import pandas as pd
import pytest

from lynxid import apply_time_shifts, capture_history, check_clocks, read_time_shifts
from lynxid.cli import main
from lynxid.time_shifts import TimeShiftWarning, shift_delta, shift_text

SETUP, RETRIEVAL = "2017-03-01", "2017-04-10"       # date only: 12:00 noon, as camtrapR


def survey(seed=3, n_stations=5, n_individuals=6, passes=14):
    """Stations with two cameras each (one per flank) photographing the same passes of
    lynx at the same instants (a few seconds apart): the true record table."""
    rng = np.random.default_rng(seed)
    stations = pd.DataFrame({"Station": [f"S{i}" for i in range(n_stations)],
                             "utm_x": 500000.0 + 2000 * np.arange(n_stations), "utm_y": 5200000.0,
                             "Setup_date": SETUP, "Retrieval_date": RETRIEVAL})
    rows = []
    start = pd.Timestamp(SETUP) + pd.Timedelta(days=1)
    for s in stations.Station:
        for _ in range(passes):
            t = (start + pd.Timedelta(hours=float(rng.uniform(0, 37 * 24)))).round("s")
            ind = f"L{rng.integers(n_individuals)}"
            for cam in ("c1", "c2"):
                rows.append((s, cam, t + pd.Timedelta(seconds=int(rng.integers(0, 20))), ind))
    det = pd.DataFrame(rows, columns=["station", "camera", "timestamp", "individual_id"])
    return det.sort_values("timestamp", kind="stable").reset_index(drop=True), stations


def clock(det, station, camera, delta):
    """``det`` with one camera's clock off by ``delta`` (its photos read true time + delta)."""
    bad = det.copy()
    m = (bad.station == station) & (bad.camera == camera)
    bad.loc[m, "timestamp"] = bad.loc[m, "timestamp"] + delta
    return bad


def row_of(table, station, camera):
    return table[(table.station == station) & (table.camera == camera)].iloc[0]


# a clock reset to 2006-01-01 00:00 when the camera was set up on 2017-03-01 12:00
RESET = pd.Timestamp("2006-01-01 00:00") - pd.Timestamp("2017-03-01 12:00")


def test_reset_clock_is_flagged_and_the_suggestion_puts_it_in_its_deployment():
    det, st = survey()
    bad = clock(det, "S2", "c1", RESET)
    table = check_clocks(bad, st)
    assert len(table) == 10
    r = row_of(table, "S2", "c1")
    assert r.flag == "clock reset" and r.n_outside == r.n_records == 14
    assert "reset to its default date" in r.note and "2006" in r.note
    # the first record goes to the setup (12:00, the date-only setup): an exact shift
    first = bad[(bad.station == "S2") & (bad.camera == "c1")].timestamp.min()
    assert shift_delta(first, tuple(map(int, r.suggested_timeshift.replace(" ", ":").split(":"))),
                       r.suggested_sign) == pd.Timestamp("2017-03-01 12:00") - first
    assert (table.drop(index=r.name).flag == "ok").all()
    # applying the suggestion clears the flag
    sugg = pd.DataFrame({"Station": ["S2"], "camera": ["c1"], "timeshift": [r.suggested_timeshift],
                         "sign": [r.suggested_sign]})
    assert (check_clocks(bad, st, time_shifts=sugg).flag == "ok").all()


def test_the_flag_is_in_the_capture_history_issues_and_the_true_shift_restores_it():
    det, st = survey()
    bad = clock(det, "S2", "c1", RESET)
    ch_bad = capture_history(bad, st)
    clocks = ch_bad.issues[ch_bad.issues.stage == "clocks"]
    assert len(clocks) == 1 and "station 'S2', camera 'c1': clock reset" in clocks.reason.iloc[0]
    assert (ch_bad.records.status != "used").sum() == 14
    # the field notes say: the clock read 2006-01-01 00:00 at setup, 2017-03-01 12:00
    shifts = pd.DataFrame({"Station": ["S2"], "camera": ["c1"], "timeshift": ["11:2:0 12:0:0"], "sign": ["+"]})
    ch = capture_history(bad, st, time_shifts=shifts)
    ref = capture_history(det, st)
    pd.testing.assert_frame_equal(ch.detections, ref.detections)
    pd.testing.assert_frame_equal(ch.usage_matrix(), ref.usage_matrix())
    assert (ch.records.status == "used").all()
    pd.testing.assert_series_equal(ch.records.time, ref.records.time)
    assert (ch.records.time_original.to_numpy() == pd.to_datetime(bad.timestamp).to_numpy()).all()
    assert not (ch.issues.stage == "clocks").any()
    info = ch.issues[ch.issues.stage == "time shifts"].reason.tolist()
    assert len(info) == 1 and "+11:2:0 12:0:0 applied to 14 record(s)" in info[0]
    assert ch.settings["time_shifts"] == "<table>"


def test_wrong_year_suggests_whole_years():
    det, st = survey()
    bad = clock(det, "S1", "c2", pd.Timestamp("2016-03-01") - pd.Timestamp("2017-03-01"))
    r = row_of(check_clocks(bad, st), "S1", "c2")
    assert r.flag == "outside deployment"
    assert (r.suggested_timeshift, r.suggested_sign) == ("1:0:0 0:0:0", "+")
    # and one year ahead
    ahead = clock(det, "S1", "c2", pd.Timestamp("2018-03-01") - pd.Timestamp("2017-03-01"))
    r = row_of(check_clocks(ahead, st), "S1", "c2")
    assert (r.suggested_timeshift, r.suggested_sign) == ("1:0:0 0:0:0", "-")


def test_a_clock_hours_off_its_twin_is_flagged_and_the_shift_restores_the_capture_history():
    det, st = survey()
    bad = clock(det, "S3", "c2", -pd.Timedelta(hours=5))           # 5 hours behind
    table = check_clocks(bad, st)
    r = row_of(table, "S3", "c2")
    assert r.flag == "off from the other camera"
    assert (r.suggested_timeshift, r.suggested_sign) == ("0:0:0 5:0:0", "+")
    assert "behind" in r.note and "'c1'" in r.note
    assert row_of(table, "S3", "c1").flag == "ok"
    shifts = pd.DataFrame({"Station": ["S3"], "camera": ["c2"], "timeshift": ["0:0:0 5:0:0"], "sign": ["+"]})
    kw = dict(occasion_length=1, camera_col="camera", output="count")
    ch = capture_history(bad, st, time_shifts=shifts, **kw)
    ref = capture_history(det, st, **kw)
    pd.testing.assert_frame_equal(ch.detections, ref.detections)
    # without the shift some of its records land in other occasions
    assert not capture_history(bad, st, **kw).detections.equals(ref.detections)


def test_a_burst_of_one_camera_alone_is_not_an_offset_clock():
    # the demo's station S12 (its times, moved into this deployment): camera A photographed a
    # passage B missed, three frames in a row, all nearest to one later photo of B; counted
    # once, no twin offset is seen
    a = ["03-02 22:22:59", "03-05 04:17:16", "03-05 04:17:17", "03-05 04:17:18", "03-05 05:39:10"]
    b = ["02-20 19:34:32", "02-25 05:41:53", "02-25 05:41:54", "02-25 05:41:55", "03-02 22:23:02",
         "03-02 22:23:03", "03-02 22:23:04", "03-04 19:57:40", "03-05 05:39:13", "03-05 05:39:14", "03-05 05:39:15"]
    det = pd.DataFrame({"station": "S1", "camera": ["A"] * len(a) + ["B"] * len(b),
                        "timestamp": [pd.Timestamp(f"2017-{x}") + pd.Timedelta(days=10) for x in a + b],
                        "individual_id": "L1"})
    _, st = survey(n_stations=2)
    assert (check_clocks(det, st).flag == "ok").all()


def test_both_signs_and_whole_stations():
    det = pd.DataFrame({"Station": ["A", "A", "B", "C"], "Camera": ["1", "2", "1", "1"],
                        "DateTimeOriginal": ["2017-03-05 10:00:00", "2017-03-05 10:00:00", "2017-03-06 08:30:00",
                                             "2017-03-07 00:00:00"]})
    shifts = pd.DataFrame({"Station": ["A", "B"], "camera": ["2", ""], "timeshift": ["0:0:1 2:30:15", "0:0:0 1:0:0"],
                           "sign": ["-", "+"]})
    out = apply_time_shifts(det, shifts)
    assert out.DateTimeOriginal.tolist() == [pd.Timestamp("2017-03-05 10:00:00"), pd.Timestamp("2017-03-04 07:29:45"),
                                             pd.Timestamp("2017-03-06 09:30:00"), pd.Timestamp("2017-03-07 00:00:00")]
    assert out.DateTimeOriginal_original.tolist() == det.DateTimeOriginal.tolist()
    assert out.time_shift.tolist() == ["", "-0:0:1 2:30:15", "+0:0:0 1:0:0", ""]
    assert [r["n_records"] for r in out.attrs["time_shifts"]] == [1, 1]


def test_years_and_months_are_calendar_steps_worked_out_on_the_first_record():
    det = pd.DataFrame({"station": "A", "timestamp": ["2016-01-31 10:00:00", "2016-02-05 10:00:00"]})
    one_month = pd.DataFrame({"Station": ["A"], "timeshift": ["0:1:0 0:0:0"], "sign": ["+"]})
    out = apply_time_shifts(det, one_month)
    # 31 January + 1 month = 29 February 2016 (leap year); the same 29 days for every record
    assert out.timestamp.tolist() == [pd.Timestamp("2016-02-29 10:00"), pd.Timestamp("2016-03-05 10:00")]
    back = apply_time_shifts(pd.DataFrame({"station": "A", "timestamp": ["2016-02-29 10:00:00"]}),
                             pd.DataFrame({"Station": ["A"], "timeshift": ["1:0:0 0:0:0"], "sign": ["-"]}))
    assert back.timestamp.tolist() == [pd.Timestamp("2015-02-28 10:00")]
    years = apply_time_shifts(pd.DataFrame({"station": "A", "timestamp": ["2006-01-01 00:00:00"]}),
                              pd.DataFrame({"Station": ["A"], "timeshift": ["11:2:0 12:0:0"], "sign": ["+"]}))
    assert years.timestamp.tolist() == [pd.Timestamp("2017-03-01 12:00")]
    # shift_text writes a time difference back in the format, exactly
    a = pd.Timestamp("2006-01-06 11:01:44")
    d = pd.Timestamp("2017-03-01 12:00") - a
    ts, sign = shift_text(a, d)
    assert sign == "+" and shift_delta(a, tuple(map(int, ts.replace(" ", ":").split(":"))), sign) == d
    assert shift_text(a, -pd.Timedelta(hours=5)) == ("0:0:0 5:0:0", "-")


def test_bad_shift_rows_are_named():
    bad = pd.DataFrame({"Station": ["A", "B", "C", "D", "", "A"],
                        "timeshift": ["0:0:0 1:0:0", "11:0:0", "-1:0:0 0:0:0", "0:0:0 1:0:0", "0:0:0 1:0:0",
                                      "0:0:0 2:0:0"],
                        "sign": ["+", "+", "+", "x", "+", "+"]})
    with pytest.raises(ValueError) as e:
        read_time_shifts(bad)
    msg = str(e.value)
    assert "row 2: column 'timeshift': timeshift '11:0:0' is not in camtrapR's format" in msg
    assert "row 3" in msg and "negative number" in msg
    assert "row 4: sign 'x'" in msg
    assert "row 5: no station" in msg
    assert "row 6: the same station and camera as row 1" in msg
    assert "\n  row 1:" not in msg
    with pytest.raises(ValueError, match="no timeshift column"):
        read_time_shifts(pd.DataFrame({"Station": ["A"], "shift": ["0:0:0 1:0:0"], "sign": ["+"]}))
    # a camera in the shift table, none in the detections
    with pytest.raises(ValueError, match="row 1 names a camera, but detections has no camera column"):
        apply_time_shifts(pd.DataFrame({"station": ["A"], "timestamp": ["2017-03-05 10:00:00"]}),
                          pd.DataFrame({"Station": ["A"], "camera": ["1"], "timeshift": ["0:0:0 1:0:0"], "sign": ["+"]}))


def test_a_shift_row_matching_nothing_is_reported():
    det, st = survey(n_stations=2, passes=4)
    shifts = pd.DataFrame({"Station": ["S9"], "camera": ["c1"], "timeshift": ["0:0:0 1:0:0"], "sign": ["+"]})
    ch = capture_history(det, st, time_shifts=shifts)
    w = ch.issues[(ch.issues.stage == "time shifts") & (ch.issues.severity == "warning")]
    assert len(w) == 1 and "matches no record" in w.reason.iloc[0]
    with pytest.warns(TimeShiftWarning, match="row 1 .*S9.* matches no record"):
        apply_time_shifts(det, shifts)


def test_without_a_station_table_cameras_far_from_the_survey_are_flagged():
    det, _ = survey()
    bad = clock(det, "S0", "c1", pd.Timestamp("2006-03-01") - pd.Timestamp("2017-03-01"))
    table = check_clocks(bad)
    assert list(table.flag[table.flag != "ok"]) == ["far from the survey"]
    r = row_of(table, "S0", "c1")
    assert (r.suggested_timeshift, r.suggested_sign) == ("11:0:0 0:0:0", "+")


def test_partly_outside_and_unknown_station():
    det, st = survey(n_stations=3)
    late = det.copy()
    m = (late.station == "S1") & (late.camera == "c1")
    late.loc[late.index[m][-1], "timestamp"] = pd.Timestamp("2017-06-01 10:00")     # one stray record
    late = pd.concat([late, pd.DataFrame({"station": ["X"], "camera": ["c1"], "timestamp": [pd.Timestamp("2017-03-05")],
                                          "individual_id": ["L1"]})], ignore_index=True)
    table = check_clocks(late, st)
    r = row_of(table, "S1", "c1")
    assert r.flag == "partly outside deployment" and r.n_outside == 1 and pd.isna(r.suggested_timeshift)
    assert row_of(table, "X", "c1").flag == "unknown station"


def test_cli_clocks_and_capture_history_with_time_shifts(tmp_path, capsys):
    det, st = survey()
    bad = clock(det, "S2", "c1", RESET)
    bad.to_csv(tmp_path / "detections.csv", index=False)
    st.to_csv(tmp_path / "stations.csv", index=False)
    assert main(["clocks", str(tmp_path), "--stations", str(tmp_path / "stations.csv")]) == 0
    out = capsys.readouterr().out
    assert "10 camera(s), 1 flagged" in out and "clock reset" in out
    saved = pd.read_csv(tmp_path / "clock_check.csv")
    assert saved.flag.tolist().count("clock reset") == 1
    pd.DataFrame({"Station": ["S2"], "camera": ["c1"], "timeshift": ["11:2:0 12:0:0"],
                  "sign": ["+"]}).to_csv(tmp_path / "shifts.csv", index=False)
    assert main(["capture-history", str(tmp_path / "detections.csv"), "--stations", str(tmp_path / "stations.csv"),
                 "--out", str(tmp_path / "ch"), "--time-shifts", str(tmp_path / "shifts.csv")]) == 0
    out = capsys.readouterr().out
    assert "applied to 14 record(s)" in out
    assert main(["capture-history", str(tmp_path / "detections.csv"), "--stations", str(tmp_path / "stations.csv"),
                 "--out", str(tmp_path / "ch0"), "--unknown-stations", "exclude"]) == 0
    assert "clock: station 'S2', camera 'c1': clock reset" in capsys.readouterr().out
