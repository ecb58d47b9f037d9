"""Station tables: camtrapR's conventions, and every malformed row named in the error."""
import numpy as np
import pandas as pd
import pytest

from lynxid.stations import read_stations
from lynxid.times import parse_datetimes


def table(**over):
    base = dict(Station=["A", "B"], utm_x=[500000.0, 502000.0], utm_y=[5200000.0, 5200000.0],
                Setup_date=["2020-01-01", "2020-01-02"], Retrieval_date=["2020-01-10", "2020-01-11"])
    base.update(over)
    return pd.DataFrame(base)


def test_date_only_is_noon_and_datetime_is_exact():
    st = read_stations(table(Setup_date=["2020-01-01", "2020-01-02 09:30:00"]))
    d = st.deployments
    assert d.setup.iloc[0] == pd.Timestamp("2020-01-01 12:00")
    assert d.setup.iloc[1] == pd.Timestamp("2020-01-02 09:30")
    assert d.retrieval.iloc[0] == pd.Timestamp("2020-01-10 12:00")
    assert list(d.setup_date_only) == [True, False]
    assert len(st.problems) == 0 and len(st.issues) == 0


@pytest.mark.parametrize("fmt", ["dmy", "%d/%m/%Y", None])
def test_day_month_year(fmt):
    st = read_stations(table(Setup_date=["02/04/2009", "13/04/2009"], Retrieval_date=["14/05/2009", "16/05/2009"]),
                       date_format=fmt)
    assert st.deployments.setup.iloc[0] == pd.Timestamp("2009-04-02 12:00")
    assert st.deployments.retrieval.iloc[1] == pd.Timestamp("2009-05-16 12:00")


def test_ambiguous_dates_ask_for_the_format():
    with pytest.raises(ValueError, match="ambiguous.*date_format"):
        read_stations(table(Setup_date=["02/04/2009", "03/04/2009"], Retrieval_date=["05/06/2009", "06/06/2009"]))
    st = read_stations(table(Setup_date=["02/04/2009", "03/04/2009"], Retrieval_date=["05/06/2009", "06/06/2009"]),
                       date_format="mdy")
    assert st.deployments.setup.iloc[0] == pd.Timestamp("2009-02-04 12:00")


def test_lubridate_orders_with_time():
    st = read_stations(table(Setup_date=["2020/01/01 08:00:00", "2020/01/02 10:15:00"]), date_format="ymd HMS")
    assert st.deployments.setup.iloc[1] == pd.Timestamp("2020-01-02 10:15")


def test_unreadable_date_names_row():
    with pytest.raises(ValueError, match=r"row 2: 'Setup_date': cannot read the date '2020-13-45'"):
        read_stations(table(Setup_date=["2020-01-01", "2020-13-45"]))


def test_missing_column_lists_columns():
    with pytest.raises(ValueError, match=r"x_col='utm_x'.*The table has: Station, X"):
        read_stations(pd.DataFrame({"Station": ["A"], "X": [1], "utm_y": [2], "Setup_date": ["2020-01-01"],
                                    "Retrieval_date": ["2020-01-05"]}))


def test_duplicate_station_names_rows():
    t = table(Station=["A", "A"])
    with pytest.raises(ValueError, match=r"duplicate station 'A' in rows 1, 2.*camera_col"):
        read_stations(t)


def test_retrieval_before_setup_names_row():
    with pytest.raises(ValueError, match=r"row 2: retrieval .* is not after setup"):
        read_stations(table(Retrieval_date=["2020-01-10", "2019-12-30"]))


def test_missing_coordinate_and_station():
    with pytest.raises(ValueError) as e:
        read_stations(table(Station=["A", None], utm_x=[1.0, np.nan]))
    assert "row 2: no station ID" in str(e.value) and "row 2: x coordinate" in str(e.value)


def test_problem_periods_date_only_cover_whole_days():
    st = read_stations(table(Problem1_from=["2020-01-03", ""], Problem1_to=["2020-01-04", ""]))
    p = st.problems
    assert len(p) == 1 and p.row.iloc[0] == 1
    assert p.start.iloc[0] == pd.Timestamp("2020-01-03") and p.end.iloc[0] == pd.Timestamp("2020-01-05")


def test_problem_until_retrieval_day_stops_at_retrieval():
    st = read_stations(table(Problem1_from=["2020-01-08", ""], Problem1_to=["2020-01-10", ""]))
    assert st.problems.end.iloc[0] == pd.Timestamp("2020-01-10 12:00")   # camtrapR: capped at retrieval
    assert len(st.issues) == 0


def test_problem_errors_name_rows():
    with pytest.raises(ValueError) as e:
        read_stations(table(Problem1_from=["2020-01-05", "2020-01-05"], Problem1_to=["", "2020-01-03"],
                            Problem2_from=["2021-01-01", ""], Problem2_to=["2021-01-02", ""]))
    msg = str(e.value)
    assert "row 1: 'Problem1_from' is set but 'Problem1_to' is empty" in msg
    assert "row 2: Problem1 ends before it starts" in msg
    assert "row 1: Problem2" in msg and "entirely outside the operation period" in msg


def test_problem_partly_outside_is_a_warning_and_cut():
    st = read_stations(table(Problem1_from=["2020-01-08 00:00:00", ""], Problem1_to=["2020-01-12 00:00:00", ""]))
    w = st.issues
    assert (w.severity == "warning").sum() == 1 and w.row.iloc[0] == 1 and "beyond the operation period" in w.reason.iloc[0]
    assert st.problems.end.iloc[0] == pd.Timestamp("2020-01-10 12:00")


def test_overlapping_problems_warned():
    st = read_stations(table(Problem1_from=["2020-01-03", ""], Problem1_to=["2020-01-05", ""],
                             Problem2_from=["2020-01-04", ""], Problem2_to=["2020-01-06", ""]))
    assert any("overlap" in r for r in st.issues.reason)


def test_problem_columns_ignored_only_with_warning():
    st = read_stations(table(Problem1_from=["2020-01-03", ""], Problem1_to=["2020-01-04", ""]), has_problems=False)
    assert len(st.problems) == 0
    assert any("ignored" in r for r in st.issues.reason)
    with pytest.raises(ValueError, match="no ProblemN_from"):
        read_stations(table(), has_problems=True)


def test_cameras_and_sessions():
    t = pd.DataFrame(dict(Station=["A", "A", "B", "A"], Camera=["c1", "c2", "c1", "c1"], session=[1, 1, 1, 2],
                          utm_x=[1e5, 1e5 + 3, 2e5, 1e5], utm_y=[1e6] * 4,
                          Setup_date=["2020-01-01"] * 3 + ["2021-01-01"],
                          Retrieval_date=["2020-02-01"] * 3 + ["2021-02-01"]))
    st = read_stations(t, camera_col="Camera", session_col="session")
    assert st.has_cameras and st.has_sessions and st.sessions == ["1", "2"]
    assert len(st.stations) == 3
    assert any("different coordinates" in r for r in st.issues.reason)
    with pytest.raises(ValueError, match="duplicate station/camera/session 'A/c1/1' in rows 1, 5"):
        read_stations(pd.concat([t, t.iloc[[0]]], ignore_index=True), camera_col="Camera", session_col="session")


def test_lonlat_coordinates_warned():
    st = read_stations(table(utm_x=[8.5, 8.6], utm_y=[47.3, 47.4]))
    assert any("longitude/latitude" in r for r in st.issues.reason)


def test_tz_aware_input_converted():
    t, d_only, bad, _ = parse_datetimes(pd.Series(["2020-01-01T23:30:00Z", "2020-01-02T10:00:00+01:00"]), tz="Europe/Zurich")
    assert list(t) == [pd.Timestamp("2020-01-02 00:30"), pd.Timestamp("2020-01-02 10:00")]
    assert not d_only.any() and not bad.any()


def test_csv_file(tmp_path):
    p = tmp_path / "st.csv"
    table().to_csv(p, index=False)
    st = read_stations(p)
    assert list(st.deployments.station) == ["A", "B"]
    assert st.source == str(p)
