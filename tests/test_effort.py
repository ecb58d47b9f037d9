"""Camera operation against hand-computed matrices: camtrapR's rules (the default) and the
exact time line (semantics="exact")."""
import numpy as np
import pandas as pd
import pytest

from lynxid.effort import camera_operation

nan = np.nan
EXACT = dict(semantics="exact")


def one(setup, retr, **extra):
    d = dict(Station=["A"], utm_x=[5e5], utm_y=[5.2e6], Setup_date=[setup], Retrieval_date=[retr])
    d.update({k: [v] for k, v in extra.items()})
    return pd.DataFrame(d)


def test_date_only_half_days():
    co = camera_operation(one("2020-01-01", "2020-01-04"))
    assert list(co.columns) == ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"]
    np.testing.assert_array_equal(co.loc["A"].to_numpy(), [0.5, 1, 1, 0.5])


def test_exact_times_exact():
    co = camera_operation(one("2020-01-01 06:00:00", "2020-01-03 18:00:00"), **EXACT)
    np.testing.assert_allclose(co.loc["A"].to_numpy(), [0.75, 1, 0.75])
    co = camera_operation(one("2020-01-01 09:30:00", "2020-01-02 00:00:00"), **EXACT)   # retrieval at midnight
    assert list(co.columns) == ["2020-01-01"]
    np.testing.assert_allclose(co.to_numpy(), [[14.5 / 24]])


def test_problem_days_and_times():
    co = camera_operation(one("2020-01-01", "2020-01-06", Problem1_from="2020-01-03", Problem1_to="2020-01-03"))
    np.testing.assert_array_equal(co.loc["A"].to_numpy(), [0.5, 1, 0, 1, 1, 0.5])
    co = camera_operation(one("2020-01-01 00:00:00", "2020-01-04 00:00:00",
                              Problem1_from="2020-01-02 12:00:00", Problem1_to="2020-01-03 06:00:00"))
    np.testing.assert_allclose(co.loc["A"].to_numpy(), [1, 0.5, 0.75, nan])    # camtrapR: retrieval day NA


def test_overlapping_problems_subtracted_once():
    co = camera_operation(one("2020-01-01 00:00:00", "2020-01-03 00:00:00",
                              Problem1_from="2020-01-01 06:00:00", Problem1_to="2020-01-01 18:00:00",
                              Problem2_from="2020-01-01 12:00:00", Problem2_to="2020-01-02 06:00:00"), **EXACT)
    # broken 06:00 day 1 .. 06:00 day 2 = 18 h on day 1 + 6 h on day 2 (camtrapR: 12 h + 12 h twice)
    np.testing.assert_allclose(co.loc["A"].to_numpy(), [0.25, 0.75])


def test_not_deployed_is_nan():
    t = pd.DataFrame(dict(Station=["A", "B"], utm_x=[5e5, 5.1e5], utm_y=[5.2e6] * 2,
                          Setup_date=["2020-01-01", "2020-01-03"], Retrieval_date=["2020-01-03", "2020-01-05"]))
    co = camera_operation(t)
    np.testing.assert_array_equal(co.to_numpy(), [[0.5, 1, 0.5, nan, nan], [nan, nan, 0.5, 1, 0.5]])


def test_occasion_start_time_labels_and_values():
    co = camera_operation(one("2020-01-01 00:00:00", "2020-01-03 00:00:00"), occasion_start_time=12, **EXACT)
    # days run noon to noon: [Dec 31 12:00, Jan 1 12:00) holds 12 h of effort
    assert list(co.columns) == ["2019-12-31+12h", "2020-01-01+12h", "2020-01-02+12h"]
    np.testing.assert_allclose(co.loc["A"].to_numpy(), [0.5, 1, 0.5])


def test_hourly_bins():
    # bins stay aligned to the day (00:00, 01:00, ...); hours before setup are NaN
    co = camera_operation(one("2020-01-01 10:30:00", "2020-01-01 13:00:00"), resolution_hours=1, unit="fraction", **EXACT)
    assert list(co.columns) == [f"2020-01-01 {h:02d}:00" for h in range(13)]
    np.testing.assert_allclose(co.loc["A"].to_numpy(), [nan] * 10 + [0.5, 1, 1])
    co = camera_operation(one("2020-01-01 10:30:00", "2020-01-01 13:00:00"), resolution_hours=6, **EXACT)
    assert list(co.columns) == ["2020-01-01 00:00", "2020-01-01 06:00", "2020-01-01 12:00"]
    np.testing.assert_allclose(co.loc["A"].to_numpy(), [nan, 1.5 / 24, 1 / 24])


@pytest.fixture
def two_cameras():
    # camera c1 works all of Jan 1-3; c2 is set up at 18:00 on Jan 1 and is broken on Jan 2 from 00:00 to 12:00
    return pd.DataFrame(dict(Station=["A", "A"], Camera=["c1", "c2"], utm_x=[5e5] * 2, utm_y=[5.2e6] * 2,
                             Setup_date=["2020-01-01 00:00:00", "2020-01-01 18:00:00"],
                             Retrieval_date=["2020-01-04 00:00:00", "2020-01-04 00:00:00"],
                             Problem1_from=["", "2020-01-02 00:00:00"], Problem1_to=["", "2020-01-02 12:00:00"]))


def test_cameras_by_camera(two_cameras):
    co = camera_operation(two_cameras, camera_col="Camera", by_camera=True, **EXACT)
    assert list(co.index) == ["A__CAM_c1", "A__CAM_c2"]
    np.testing.assert_allclose(co.to_numpy(), [[1, 1, 1], [0.25, 0.5, 1]])


def test_cameras_union_independent_intersection(two_cameras):
    union = camera_operation(two_cameras, camera_col="Camera", **EXACT)
    np.testing.assert_allclose(union.to_numpy(), [[1, 1, 1]])
    indep = camera_operation(two_cameras, camera_col="Camera", cameras_independent=True, **EXACT)
    np.testing.assert_allclose(indep.to_numpy(), [[1.25, 1.5, 2]])
    allon = camera_operation(two_cameras, camera_col="Camera", all_cams_on=True, **EXACT)
    np.testing.assert_allclose(allon.to_numpy(), [[0.25, 0.5, 1]])
    allon_ind = camera_operation(two_cameras, camera_col="Camera", all_cams_on=True, cameras_independent=True, **EXACT)
    np.testing.assert_allclose(allon_ind.to_numpy(), [[0.5, 1, 2]])


def test_sessions_row_names():
    t = pd.DataFrame(dict(Station=["A", "A"], season=["2019", "2020"], utm_x=[5e5] * 2, utm_y=[5.2e6] * 2,
                          Setup_date=["2020-01-01", "2020-01-03"], Retrieval_date=["2020-01-02", "2020-01-04"]))
    co = camera_operation(t, session_col="season")
    assert list(co.index) == ["A__SESS_2019", "A__SESS_2020"]
    np.testing.assert_array_equal(co.to_numpy(), [[0.5, 0.5, nan, nan], [nan, nan, 0.5, 0.5]])


def test_bad_arguments():
    with pytest.raises(ValueError, match="occasion_start_time"):
        camera_operation(one("2020-01-01", "2020-01-04"), occasion_start_time=24)
    with pytest.raises(ValueError, match="resolution_hours"):
        camera_operation(one("2020-01-01", "2020-01-04"), resolution_hours=7)


def test_camtrapr_day_values_are_closed_intervals_rounded():
    # camtrapR: overlap of [setup, retrieval - 1 s] with [day, day + 1 d - 1 s], rounded to 4 decimals
    co = camera_operation(one("2020-01-01 06:00:00", "2020-01-03 18:00:00"))
    np.testing.assert_array_equal(co.loc["A"].to_numpy(), [0.75, 1, 0.75])
    co = camera_operation(one("2020-01-01 09:30:00", "2020-01-02 00:00:00"))   # retrieval at midnight
    assert list(co.columns) == ["2020-01-01", "2020-01-02"]                    # its day is a column, NA
    np.testing.assert_array_equal(co.to_numpy(), [[0.6042, nan]])


def test_camtrapr_noon_start_time_and_problems():
    co = camera_operation(one("2020-01-01", "2020-01-04"), occasion_start_time=12)
    # a date-only retrieval gets 1 s more with occasionStartTime 12: its day reads 0, not NA
    assert list(co.columns) == ["2020-01-01+12h", "2020-01-02+12h", "2020-01-03+12h", "2020-01-04+12h"]
    np.testing.assert_array_equal(co.loc["A"].to_numpy(), [1, 1, 1, 0])
    co = camera_operation(one("2020-01-01", "2020-01-04"), occasion_start_time=6)
    np.testing.assert_array_equal(co.loc["A"].to_numpy(), [0.75, 1, 1, 0.25])
    co = camera_operation(one("2020-01-01 00:00:00", "2020-01-03 00:00:00",
                              Problem1_from="2020-01-01 06:00:00", Problem1_to="2020-01-01 18:00:00",
                              Problem2_from="2020-01-01 12:00:00", Problem2_to="2020-01-02 06:00:00"))
    np.testing.assert_array_equal(co.loc["A"].to_numpy(), [0.25, 0.75, nan])   # overlaps merged


def test_camtrapr_two_cameras(two_cameras):
    # date-times: the cameras' mean (camerasIndependent = FALSE), sum, min, ...
    co = camera_operation(two_cameras, camera_col="Camera")
    np.testing.assert_array_equal(co.to_numpy(), [[0.625, 0.75, 1, nan]])
    co = camera_operation(two_cameras, camera_col="Camera", cameras_independent=True)
    np.testing.assert_array_equal(co.to_numpy(), [[1.25, 1.5, 2, nan]])
    co = camera_operation(two_cameras, camera_col="Camera", all_cams_on=True)
    np.testing.assert_array_equal(co.to_numpy(), [[0.25, 0.5, 1, nan]])
    co = camera_operation(two_cameras, camera_col="Camera", all_cams_on=True, cameras_independent=True)
    np.testing.assert_array_equal(co.to_numpy(), [[0.5, 1, 2, nan]])


def test_camtrapr_two_cameras_set_up_the_same_day():
    # issue 19, cause 3: dates only, camerasIndependent = FALSE: "1 if at least 1 camera was
    # operational" -- two half days add up to 1; the exact union is 0.5
    t = pd.DataFrame(dict(Station=["A", "A"], Camera=["c1", "c2"], utm_x=[0.0, 0.0], utm_y=[0.0, 0.0],
                          Setup_date=["2024-03-01", "2024-03-01"], Retrieval_date=["2024-03-05", "2024-03-04"]))
    co = camera_operation(t, camera_col="Camera")
    np.testing.assert_array_equal(co.to_numpy(), [[1, 1, 1, 1, 0.5]])         # 03-04: 0.5 + 1 -> 1
    np.testing.assert_array_equal(camera_operation(t, camera_col="Camera", **EXACT).to_numpy(), [[0.5, 1, 1, 1, 0.5]])
    np.testing.assert_array_equal(camera_operation(t, camera_col="Camera", cameras_independent=True).to_numpy(),
                                  [[1, 2, 2, 1.5, 0.5]])
    np.testing.assert_array_equal(camera_operation(t, camera_col="Camera", all_cams_on=True).to_numpy(),
                                  [[0, 1, 1, 0, 0]])                          # all(c(0.5, NA) == 1) is FALSE in R


def test_semantics_checked():
    with pytest.raises(ValueError, match="semantics"):
        camera_operation(one("2020-01-01", "2020-01-04"), semantics="camtrapr3")
    with pytest.raises(ValueError, match="resolution_hours=24"):
        camera_operation(one("2020-01-01", "2020-01-04"), resolution_hours=6)
