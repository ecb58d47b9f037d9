"""Dates, times and time zones (lynxid.times): one reading of UTC offsets for station and
record tables."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lynxid.capture import capture_history
from lynxid.stations import read_stations
from lynxid.times import TZ_SUFFIX, parse_datetimes, parse_record_times, zone


def stations(setup, retrieval):
    return pd.DataFrame(dict(Station=["A", "B"], utm_x=[500000.0, 502000.0], utm_y=[5200000.0, 5201000.0],
                             Setup_date=setup, Retrieval_date=retrieval))


@pytest.mark.parametrize("suffix", ["Z", " UTC", "UTC", "+00:00", "+0000", " +00:00"])
def test_every_utc_suffix_is_one_suffix(suffix):
    assert TZ_SUFFIX.search(f"2024-01-01 10:00:00{suffix}")
    t, bad, tz = parse_record_times(pd.Series([f"2024-01-01 10:00:00{suffix}"]), None, None, "records")
    assert not bad.any() and tz == "UTC" and t.iloc[0] == pd.Timestamp("2024-01-01 10:00:00")


def test_station_table_with_utc_suffix():
    """'... UTC' was recognised as an offset and then not read (pandas' ISO 8601 parser only
    knows 'Z'): every such date was an error."""
    st = read_stations(stations(["2020-01-01 12:00:00 UTC"] * 2, ["2020-01-05 12:00:00 UTC"] * 2))
    assert list(st.deployments.setup) == [pd.Timestamp("2020-01-01 12:00")] * 2
    st = read_stations(stations(["2020-01-01 12:00:00 UTC"] * 2, ["2020-01-05 12:00:00 UTC"] * 2), tz="Europe/Zurich")
    assert list(st.deployments.retrieval) == [pd.Timestamp("2020-01-05 13:00")] * 2


def test_record_table_with_utc_suffix():
    st = stations(["2020-01-01 12:00:00 UTC"] * 2, ["2020-01-05 12:00:00 UTC"] * 2)
    rec = pd.DataFrame({"station": ["A", "B"], "individual_id": ["1", "2"],
                        "timestamp": ["2020-01-02 10:00:00 UTC", "2020-01-03 23:30:00 UTC"]})
    ch = capture_history(rec, st)
    assert ch.settings["tz"] == "UTC"
    assert sorted(zip(ch.detections.individual, ch.detections.occasion)) == [("1", 2), ("2", 3)]
    ch = capture_history(rec, st, tz="Europe/Zurich")      # 23:30 UTC is 00:30 the next day in Zurich
    assert sorted(zip(ch.detections.individual, ch.detections.occasion)) == [("1", 2), ("2", 4)]


def test_offsets_without_colon_and_mixed_forms():
    t, bad, tz = parse_record_times(pd.Series(["2020-01-02T10:00:00+0100", "2020-01-02 11:00:00+01:00"]),
                                    None, None, "records")
    assert tz == "+01:00" and not bad.any() and t.tolist() == [pd.Timestamp("2020-01-02 10:00"),
                                                               pd.Timestamp("2020-01-02 11:00")]
    with pytest.raises(ValueError, match="different UTC offsets"):
        parse_datetimes(pd.Series(["2020-01-02 10:00:00 UTC", "2020-07-02 10:00:00+02:00"]))


def test_zone():
    assert zone("+01:00") == dt.timezone(dt.timedelta(hours=1))
    assert zone("UTC-0230") == dt.timezone(-dt.timedelta(hours=2, minutes=30))
    assert zone("Europe/Zurich") == "Europe/Zurich" and zone(None) is None
    t = parse_datetimes(pd.Series(["2020-06-01T10:00:00Z"]), tz="Europe/Zurich")[0]
    assert t.to_numpy().astype("datetime64[ns]")[0] == np.datetime64("2020-06-01T12:00:00")
