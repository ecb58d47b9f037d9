"""`lynxid capture-history` and `lynxid camera-operation` from the command line."""
import json

import pandas as pd
import pytest

from lynxid.cli import main


@pytest.fixture
def files(tmp_path):
    st = pd.DataFrame(dict(Station=["A", "B"], utm_x=[500000.0, 502000.0], utm_y=[5200000.0, 5201000.0],
                           Setup_date=["01/01/2020", "02/01/2020"], Retrieval_date=["05/01/2020", "06/01/2020"],
                           Problem1_from=["", "03/01/2020"], Problem1_to=["", "03/01/2020"]))
    rec = pd.DataFrame({"station": ["A", "B", "B", "A"], "individual_id": ["L1", "L1", "L2", None],
                        "timestamp": ["2020-01-01T20:00:00+01:00", "2020-01-03T20:00:00+01:00",
                                      "2020-01-04T02:00:00+01:00", "2020-01-02T02:00:00+01:00"],
                        "camera": ["A", "A", "B", "A"]})
    st.to_csv(tmp_path / "stations.csv", index=False)
    rec.to_parquet(tmp_path / "detections.parquet")
    return tmp_path


def test_capture_history_command(files, capsys):
    out = files / "ch"
    rc = main(["capture-history", str(files / "detections.parquet"), "--stations", str(files / "stations.csv"),
               "--out", str(out), "--date-format", "dmy", "--format", "secr,rmark", "--output", "count"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "2 individuals, 2 detections" in text and "excluded" in text
    capt = [l.split() for l in (out / "capt.txt").read_text().splitlines() if not l.startswith("#")]
    # B was broken on Jan 3 (date-only Problem: the whole day), so L1's record there is left out
    assert capt == [["1", "L1", "1", "A"], ["1", "L2", "4", "B"]]
    iss = pd.read_csv(out / "issues.csv")
    assert set(iss.row) == {2, 4}
    assert (out / "rmark_ch.csv").exists() and not (out / "oscr_edf.csv").exists()
    summ = json.loads((out / "summary.json").read_text())
    assert summ["settings"]["tz"] == "+01:00" and summ["records"] == {"used": 2, "excluded": 2}
    notused = pd.read_csv(out / "records_not_used.csv")
    assert sorted(notused.row) == [2, 4]


def test_capture_history_errors_are_clear(files, capsys):
    rc = main(["capture-history", str(files / "detections.parquet"), "--stations", str(files / "stations.csv"),
               "--out", str(files / "x")])
    assert rc == 2
    assert "ambiguous" in capsys.readouterr().err
    rc = main(["capture-history", str(files / "nope.csv"), "--stations", str(files / "stations.csv"),
               "--out", str(files / "x"), "--date-format", "dmy"])
    assert rc == 2 and "not found" in capsys.readouterr().err
    rc = main(["capture-history", str(files / "detections.parquet"), "--stations", str(files / "stations.csv"),
               "--out", str(files / "x"), "--date-format", "dmy", "--strict"])
    assert rc == 2 and "strict=True" in capsys.readouterr().err


def test_help_names_camtrapr_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["capture-history", "--help"])
    h = capsys.readouterr().out
    for name in ["occasionLength", "day1", "occasionStartTime", "hasProblems", "dateFormat", "timeZone",
                 "stationCol", "individualCol", "recordDateTimeCol", "recordDateTimeFormat", "species", "buffer",
                 "maxNumberDays", "minDeltaTime", "deltaTimeComparedTo", "removeDuplicateRecords", "cameraCol",
                 "sessionCol", "allCamsOn", "camerasIndependent", "Xcol", "Ycol", "setupCol", "retrievalCol",
                 "stationCovariateCols", "output"]:
        assert f"({name}" in h, name


def test_options_are_spelled_as_the_python_and_r_arguments(files):
    """--buffer-days, --min-delta-minutes, --station-covariates: the names of capture_history()'s
    arguments in Python and R (buffer_days, min_delta_minutes, station_covariates)."""
    import inspect

    from lynxid.capture import capture_history
    from lynxid.stations import read_stations
    st = pd.read_csv(files / "stations.csv").assign(habitat=["forest", "meadow"])
    st.to_csv(files / "stations_cov.csv", index=False)
    out = files / "spelled"
    rc = main(["capture-history", str(files / "detections.parquet"), "--stations", str(files / "stations_cov.csv"),
               "--out", str(out), "--date-format", "dmy", "--buffer-days", "1", "--min-delta-minutes", "30",
               "--station-covariates", "habitat"])
    assert rc == 0
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["buffer_days"] == 1 and settings["min_delta_minutes"] == 30
    assert "habitat" in (out / "traps.txt").read_text()
    assert {"buffer_days", "min_delta_minutes"} <= set(inspect.signature(capture_history).parameters)
    assert "station_covariates" in inspect.signature(read_stations).parameters


def test_camera_operation_command(files):
    rc = main(["camera-operation", str(files / "stations.csv"), "--out", str(files / "camop.csv"), "--date-format", "dmy"])
    assert rc == 0
    co = pd.read_csv(files / "camop.csv", index_col=0)
    assert co.loc["B"].tolist()[:4] == [pytest.approx(v, nan_ok=True) for v in [float("nan"), 0.5, 0, 1]]
    assert co.loc["A"].tolist()[0] == 0.5
