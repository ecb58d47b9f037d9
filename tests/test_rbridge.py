"""Python -> R and back through rpy2 (lynxid.rbridge), the .rds hand-over (lynxid.capthist),
camtrapR objects saved with saveRDS, and fit_density(engine="secr").

CI has R (Debian r-base-core) and rpy2 (make setup installs lynxid[r]) but neither secr nor
camtrapR: the conversions are checked against base R itself; what needs secr or camtrapR
runs where they are installed and is skipped with the reason otherwise."""
import datetime as dt
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import lynxid
from lynxid import rbridge

try:
    rbridge.robjects()
    R_OK, R_WHY = True, ""
except rbridge.RUnavailable as exc:
    R_OK, R_WHY = False, str(exc)

needs_r = pytest.mark.skipif(not R_OK, reason=f"R through rpy2 is not available here: {R_WHY}")


def r(code):
    return rbridge.robjects().r(code)


def need_package(name):
    if not rbridge.r_package_available(name):
        pytest.skip(f"the R package {name} is not installed in this R ({rbridge.R_PACKAGE_HELP[name]})")


def stations():
    return pd.DataFrame(dict(Station=["A", "B", "C"], utm_x=[500000.0, 502000.0, 504000.0],
                             utm_y=[5200000.0, 5201000.0, 5200000.0], Setup_date=["2020-01-01"] * 3,
                             Retrieval_date=["2020-01-09", "2020-01-09", "2020-01-07"], habitat=["w", "o", "w"]))


def records():
    rows = [("A", "2020-01-01 20:00:00", "1"), ("B", "2020-01-03 02:00:00", "1"), ("A", "2020-01-05 23:00:00", "2"),
            ("C", "2020-01-02 21:00:00", "2"), ("B", "2020-01-06 04:00:00", "3")]
    return pd.DataFrame(rows, columns=["Station", "DateTimeOriginal", "Individual"])


def small_history():
    return lynxid.capture_history(records(), stations(), occasion_length=2, station_options=dict(
        station_covariates=["habitat"]))


# --------------------------------------------------------------------------------------
# what is missing is said, and how to get it
# --------------------------------------------------------------------------------------
def test_missing_rpy2_is_named_with_how_to_install(tmp_path):
    # a Python where rpy2 cannot be imported: the error names rpy2 and the extra
    code = ("import sys; sys.modules['rpy2'] = None\n"
            "from lynxid import rbridge\n"
            "try:\n    rbridge.robjects()\nexcept rbridge.RUnavailable as e:\n    print('MSG', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "MSG" in out and "rpy2" in out and "lynxid[r]" in out


def test_missing_r_is_named(monkeypatch):
    monkeypatch.setattr(rbridge, "_R", {})
    monkeypatch.delenv("R_HOME", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(rbridge.RUnavailable, match="needs R, which was not found.*r-base-core"):
        rbridge.robjects()


@needs_r
def test_missing_r_package_is_named_with_install_packages():
    with pytest.raises(rbridge.RUnavailable, match=r"needs the R package noSuchPkgLynxid.*install.packages"):
        rbridge.require_r_package("noSuchPkgLynxid", "this test")
    assert not rbridge.r_package_available("noSuchPkgLynxid")
    assert rbridge.r_package_available("stats")


@needs_r
def test_starting_r_leaves_pythons_started_later_working():
    # R's start-up sets LD_LIBRARY_PATH (with the system's libpython) in this process; a
    # Python started afterwards (an example, a Dask worker) must still import ssl
    rbridge.robjects()
    r = subprocess.run([sys.executable, "-c", "import ssl"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-500:]


# --------------------------------------------------------------------------------------
# conversions, checked by base R
# --------------------------------------------------------------------------------------
@needs_r
def test_data_frame_to_r_types_na_names_dates_and_zones():
    df = pd.DataFrame({"x": [1.5, np.nan, 3.0], "n": pd.array([1, None, 3], dtype="Int64"), "s": ["a", None, "c"],
                       "b": [True, False, True], "f": pd.Categorical(["u", "v", None], categories=["v", "u"]),
                       "t": pd.to_datetime(["2020-03-29 01:30", "2020-03-29 03:30", None]).tz_localize("Europe/Zurich"),
                       "d": [dt.date(2020, 1, 1), None, dt.date(2021, 2, 3)]})
    x = rbridge.to_r(df)
    f = r("""function(x) list(dim = dim(x), names = names(x), classes = vapply(x, function(v) class(v)[1], ""),
                             nas = vapply(x, function(v) sum(is.na(v)), 0), sum = sum(x$x, na.rm = TRUE),
                             isnan = sum(is.nan(x$x)), levels = levels(x$f), tz = attr(x$t, "tzone"),
                             t = format(x$t, "%Y-%m-%d %H:%M:%S %Z"), d = format(x$d))""")
    got = rbridge.from_r(f(x))
    assert list(got["dim"]) == [3, 7]
    assert list(got["names"]) == list(df.columns)
    assert list(got["classes"]) == ["numeric", "integer", "character", "logical", "factor", "POSIXct", "Date"]
    assert list(got["nas"]) == [1, 1, 1, 0, 1, 1, 1]
    assert got["sum"] == 4.5 and got["isnan"] == 0          # NA, not NaN
    assert list(got["levels"]) == ["v", "u"] and got["tz"] == "Europe/Zurich"
    assert list(got["t"])[:2] == ["2020-03-29 01:30:00 CET", "2020-03-29 03:30:00 CEST"]
    assert list(got["d"]) == ["2020-01-01", None, "2021-02-03"]


@needs_r
def test_r_objects_to_python():
    df = rbridge.from_r(r("""data.frame(id = c("01", NA, "3"), k = c(2L, NA, 4L), v = c(0.5, NA, 2),
        ok = c(TRUE, NA, FALSE), sp = factor(c("lynx", "fox", "lynx")),
        t = as.POSIXct(c("2009-04-21 00:40:00", NA, "2009-05-01 23:59:59"), tz = "Asia/Kuching"),
        day = as.Date(c("2009-04-21", "2009-04-22", NA)), stringsAsFactors = FALSE)"""))
    assert df.shape == (3, 7)
    assert df.id.tolist() == ["01", None, "3"]
    assert df.k.isna().tolist() == [False, True, False] and int(df.k.sum()) == 6
    assert np.isnan(df.v[1]) and df.v.sum() == 2.5
    assert df.ok.isna().tolist() == [False, True, False]
    assert list(df.sp.cat.categories) == ["fox", "lynx"] and df.sp.tolist() == ["lynx", "fox", "lynx"]
    assert str(df.t.dt.tz) == "Asia/Kuching"
    assert df.t[0] == pd.Timestamp("2009-04-21 00:40:00", tz="Asia/Kuching") and pd.isna(df.t[1])
    assert df.day.tolist() == [dt.date(2009, 4, 21), dt.date(2009, 4, 22), None]
    a = rbridge.from_r(r("array(1:24, c(2, 3, 4))"))
    assert a.shape == (2, 3, 4) and a[1, 2, 3] == 24 and a[1, 0, 0] == 2      # R's element order kept
    m = rbridge.from_r(r('matrix(c(1, NA, 0.5, 1), 2, dimnames = list(c("A", "B"), c("2020-01-01", "2020-01-02")))'))
    assert list(m.index) == ["A", "B"] and list(m.columns) == ["2020-01-01", "2020-01-02"]
    assert np.isnan(m.loc["B", "2020-01-01"]) and m.loc["A", "2020-01-02"] == 0.5
    lst = rbridge.from_r(r('list(detector = "proximity", K = 5L, v = c(a = 1, b = 2), nothing = NULL)'))
    assert lst["detector"] == "proximity" and lst["K"] == 5 and lst["v"]["b"] == 2 and lst["nothing"] is None


@needs_r
def test_arrays_and_lists_cross_with_shape_and_sums():
    a = np.arange(60, dtype=float).reshape(3, 4, 5)
    x = rbridge.to_r({"a": a, "k": "count", "ids": ["x", "y"]})
    f = r("function(x) list(dim = dim(x$a), s = sum(x$a), el = x$a[3, 4, 5], el2 = x$a[2, 1, 3], k = x$k, n = length(x$ids))")
    got = rbridge.from_r(f(x))
    assert list(got["dim"]) == [3, 4, 5] and got["s"] == a.sum()
    assert got["el"] == a[2, 3, 4] and got["el2"] == a[1, 0, 2]
    assert got["k"] == "count" and got["n"] == 2


@needs_r
def test_round_trip_through_rds(tmp_path):
    df = pd.DataFrame({"station": ["A", "B"], "effort": [1.0, np.nan], "n": [3, 4],
                       "t": pd.to_datetime(["2021-06-01 12:00:00", "2021-06-02 13:30:15"]).tz_localize("America/Denver"),
                       "day": [dt.date(2021, 6, 1), dt.date(2021, 6, 2)]})
    path = tmp_path / "x.rds"
    lynxid.write_rds(df, path)
    back = lynxid.read_rds(path)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert str(back.t.dt.tz) == "America/Denver"
    # and R reads what was written, with the zone
    got = rbridge.from_r(r(f'function() {{ x <- readRDS("{path}"); list(tz = attr(x$t, "tzone"), '
                           'h = format(x$t[2], "%H:%M:%S"), cls = class(x$day)) }')())
    assert got["tz"] == "America/Denver" and got["h"] == "13:30:15" and got["cls"] == "Date"


# --------------------------------------------------------------------------------------
# camtrapR objects saved with saveRDS
# --------------------------------------------------------------------------------------
def _save_camtrapr_like(tmp_path):
    """A camtrapR-style record table (POSIXct in the survey zone, factors) and CTtable."""
    rec = tmp_path / "recordTable.rds"
    st = tmp_path / "CTtable.rds"
    r(f"""function() {{
      rt <- data.frame(Station = factor(c("A", "B", "A", "C", "B")), Species = "lynx",
                       DateTimeOriginal = as.POSIXct(c("2020-01-01 20:00:00", "2020-01-03 02:00:00",
                         "2020-01-05 23:00:00", "2020-01-02 21:00:00", "2020-01-06 04:00:00"), tz = "Europe/Zurich"),
                       Individual = c("1", "1", "2", "2", "3"), stringsAsFactors = FALSE)
      saveRDS(rt, "{rec}")
      ct <- data.frame(Station = c("A", "B", "C"), utm_x = c(500000, 502000, 504000), utm_y = c(5200000, 5201000, 5200000),
                       Setup_date = as.Date("2020-01-01"), Retrieval_date = as.Date(c("2020-01-09", "2020-01-09", "2020-01-07")))
      saveRDS(ct, "{st}")
    }}""")()
    return rec, st


@needs_r
def test_record_table_and_station_table_from_rds_give_the_csv_result(tmp_path):
    rec, st = _save_camtrapr_like(tmp_path)
    from_rds = lynxid.capture_history(rec, st, occasion_length=2)
    from_csv = lynxid.capture_history(records(), stations().drop(columns="habitat"), occasion_length=2, tz="Europe/Zurich")
    assert from_rds.settings["tz"] == "Europe/Zurich"
    pd.testing.assert_frame_equal(from_rds.detections, from_csv.detections)
    pd.testing.assert_frame_equal(from_rds.usage_matrix(), from_csv.usage_matrix())
    # another survey zone: the POSIXct instants are converted, not relabelled
    shifted = lynxid.capture_history(rec, st, occasion_length=2, tz="UTC")
    assert (shifted.records.time.iloc[0] - from_rds.records.time.iloc[0]) == pd.Timedelta(hours=-1)


@needs_r
def test_rds_that_is_not_a_data_frame_is_refused_by_name(tmp_path):
    p = tmp_path / "m.rds"
    r(f'function() saveRDS(matrix(1:4, 2), "{p}")')()
    with pytest.raises(ValueError, match=r"m.rds: the detections must be a data frame.*matrix"):
        lynxid.capture_history(p, stations())


@needs_r
def test_camera_operation_rds_read_and_checked(tmp_path):
    from lynxid.camera_operation_check import check_camera_operation
    ours = lynxid.camera_operation(stations())
    p = tmp_path / "camop.rds"
    lynxid.write_rds(ours.to_numpy(), p)               # a bare matrix has no names: refused
    with pytest.raises(ValueError, match="camera operation matrix .* with row and column names"):
        lynxid.read_camera_operation(p)
    r(f'function(m, rn, cn) {{ dimnames(m) <- list(rn, cn); saveRDS(m, "{p}") }}')(
        rbridge.to_r(ours.to_numpy()), rbridge.to_r(list(ours.index)), rbridge.to_r(list(ours.columns)))
    got = lynxid.read_camera_operation(p)
    pd.testing.assert_frame_equal(got, ours, check_names=True, check_freq=False)
    assert np.isnan(got.loc["C", "2020-01-09"]) and got.loc["A", "2020-01-01"] == 0.5
    check_camera_operation(p, stations())                 # the same: no error
    r(f'function() {{ m <- readRDS("{p}"); m["B", "2020-01-04"] <- 0; saveRDS(m, "{p}") }}')()
    with pytest.raises(ValueError, match=r"(?s)differs .* in 1 cell.*station B, day 2020-01-04: given 0, lynxid 1"):
        check_camera_operation(p, stations())


@needs_r
def test_camtrapr_camera_operation_equals_lynxids(tmp_path):
    need_package("camtrapR")
    ct = stations().drop(columns="habitat")
    camop = rbridge.robjects().r("camtrapR::cameraOperation")(
        rbridge.to_r(ct), stationCol="Station", setupCol="Setup_date", retrievalCol="Retrieval_date",
        hasProblems=False, dateFormat="ymd")
    p = tmp_path / "camop.rds"
    rbridge.write_rds(camop, p)
    pd.testing.assert_frame_equal(lynxid.read_camera_operation(p), lynxid.camera_operation(ct), check_freq=False)


# --------------------------------------------------------------------------------------
# the hand-over: capthist.rds, or its ingredients
# --------------------------------------------------------------------------------------
@needs_r
def test_to_rds_without_secr_writes_the_ingredients_with_a_note(tmp_path):
    if rbridge.r_package_available("secr"):
        pytest.skip("secr is installed here: to_rds writes the capthist itself (tested below)")
    ch = small_history()
    w = lynxid.to_rds(ch, tmp_path / "capthist.rds")
    assert w["kind"] == "ingredients" and "make.capthist" in w["note"]
    got = rbridge.from_r(r(f"""function() {{ x <- readRDS("{tmp_path / 'capthist.rds'}")
        list(cls = class(x), names = names(x), ncap = nrow(x$captures), ids = sort(unique(x$captures$ID)),
             usage = sum(x$usage[[1]]), udim = dim(x$usage[[1]]), det = rownames(x$usage[[1]]),
             traps = names(x$traps[[1]]), K = unlist(x$noccasions), detector = x$detector) }}""")())
    assert got["cls"] == "lynxid_secr_data"
    assert list(got["names"]) == ["captures", "traps", "usage", "noccasions", "detector", "note"]
    assert got["ncap"] == int(ch.detections["count"].sum())
    assert list(got["ids"]) == ["1", "2", "3"]
    assert got["usage"] == pytest.approx(float(ch.usage_matrix().to_numpy().sum()))
    assert list(got["udim"]) == list(ch.usage_matrix().shape) and list(got["det"]) == ["A", "B", "C"]
    assert list(got["traps"]) == ["detector", "x", "y", "habitat"]
    assert int(np.atleast_1d(got["K"])[0]) == ch.usage_matrix().shape[1] and got["detector"] == "proximity"
    with pytest.raises(rbridge.RUnavailable, match="secr"):
        lynxid.as_capthist(ch, require_secr=True)


@needs_r
def test_to_rds_with_secr_writes_a_capthist(tmp_path):
    need_package("secr")
    ch = small_history()
    w = lynxid.to_rds(ch, tmp_path / "capthist.rds")
    assert w["kind"] == "capthist"
    got = rbridge.from_r(r(f"""function() {{ x <- readRDS("{tmp_path / 'capthist.rds'}")
        list(dim = dim(x), n = sum(x), usage = sum(secr::usage(secr::traps(x))), cov = names(secr::covariates(secr::traps(x))),
             det = secr::detector(secr::traps(x))[1]) }}""")())
    n_ind, K = ch.individuals.shape[0], ch.usage_matrix().shape[1]
    assert list(got["dim"]) == [n_ind, K, 3] and got["n"] == int(ch.detections["count"].sum())
    assert got["usage"] == pytest.approx(float(ch.usage_matrix().to_numpy().sum()))
    assert list(np.atleast_1d(got["cov"])) == ["habitat"] and got["det"] == "proximity"


# --------------------------------------------------------------------------------------
# fit_density(engine = "secr")
# --------------------------------------------------------------------------------------
def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine must be one of lynxid, secr"):
        lynxid.fit_density(small_history(), "HN", buffer=5000, engine="SECR")


@needs_r
def test_secr_engine_without_secr_says_so_before_fitting():
    if rbridge.r_package_available("secr"):
        pytest.skip("secr is installed here: the engine itself is tested below")
    with pytest.raises(rbridge.RUnavailable, match=r"fit_density\(engine=\"secr\"\) needs the R package secr"):
        lynxid.fit_density(small_history(), "HN", buffer=5000, engine="secr")


@needs_r
@pytest.mark.parametrize("fn,par,detector", [("HN", {"g0": 0.25, "sigma": 280}, "proximity"),
                                             ("HHN", {"lambda0": 0.3, "sigma": 250}, "count")])
def test_secr_engine_equals_lynxid_engine(fn, par, detector):
    need_package("secr")
    from lynxid.scr_simulate import simulate_scr, trap_grid
    usage = np.where(np.random.default_rng(1).random((36, 6)) < 0.2, 0.5, 1.0)      # fractional usage
    data, _ = simulate_scr(trap_grid(6, 6, 200), usage, 0.1, fn, par, 1200, detector, seed=5)
    ours = lynxid.fit_density(data, fn, buffer=1200, spacing=60)
    theirs = lynxid.fit_density(data, fn, buffer=1200, spacing=60, engine="secr")
    assert theirs.engine == "secr" and theirs.convergence["converged"]
    assert len(theirs.sessions[0]["mask"]) == len(ours.sessions[0]["mask"])
    a, b = ours.predict().set_index("parameter"), theirs.predict().set_index("parameter")
    np.testing.assert_allclose(b.estimate, a.estimate, rtol=1e-3)
    np.testing.assert_allclose(b.SE, a.SE, rtol=1e-2)
    assert theirs.logLik == pytest.approx(ours.logLik, abs=1e-3)


def test_cli_engine_secr_without_it_exits_2_with_the_reason(tmp_path, capsys):
    from lynxid.cli import main
    if R_OK and rbridge.r_package_available("secr"):
        pytest.skip("secr is installed here")
    rc = main(["density", "fit", str(tmp_path), "--engine", "both", "--buffer", "5000"])
    err = capsys.readouterr().err
    assert rc == 2 and ("secr" in err or "rpy2" in err or "needs R" in err)
