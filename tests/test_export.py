"""Every exporter on a small hand-computed survey.

secr's text formats (``?read.capthist``, ``?read.traps``): the capture file has one line
per detection, ``Session ID Occasion Detector``, white-space separated, ``#`` comments; the
trap file has ``Detector X Y`` then the usage per occasion (read with ``binary.usage =
FALSE`` for non-binary effort) and optionally ``/`` and covariates; both are read with
``read.table`` (so quoted fields may contain blanks). The helper below reads them the same way.
"""
import json
import math
import shlex
import shutil
import subprocess

import pandas as pd
import pytest

from lynxid.capture import capture_history
from lynxid.export import (closed_matrix, rmark_table, utm_to_lonlat, write_camtrap_dp, write_formats, write_nimble,
                           write_oscr, write_rmark, write_secr)


def read_table_like_r(path):
    """R's read.table(sep = "", comment.char = "#", quote = "\\"'"): fields per line."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0] if not line.lstrip().startswith('"') else line
        if line.strip():
            out.append(shlex.split(line))
    return out


@pytest.fixture
def survey():
    st = pd.DataFrame(dict(Station=["A", "Trail 1"], utm_x=[500000.0, 502000.5], utm_y=[5200000.0, 5201000.0],
                           Setup_date=["2020-01-01 00:00:00", "2020-01-01 12:00:00"],
                           Retrieval_date=["2020-01-05 00:00:00", "2020-01-05 00:00:00"],
                           Problem1_from=["", "2020-01-02 00:00:00"], Problem1_to=["", "2020-01-03 00:00:00"],
                           habitat=["forest", "open"]))
    rec = pd.DataFrame({"station": ["A", "A", "Trail 1", "A"],
                        "timestamp": ["2020-01-01 10:00:00", "2020-01-01 11:00:00", "2020-01-03 10:00:00",
                                      "2020-01-04 09:00:00"],
                        "individual_id": ["1", "1", "2", "2"],
                        "file": ["a1.jpg", "a2.jpg", "t1.jpg", "a3.jpg"]})
    return rec, st


def build(survey, **kw):
    rec, st = survey
    return capture_history(rec, st, tz="+01:00", station_options=dict(station_covariates=["habitat"]), **kw)


def test_secr_count_files(survey, tmp_path):
    ch = build(survey, output="count")
    files = write_secr(ch, tmp_path)
    capt = read_table_like_r(tmp_path / "capt.txt")
    assert capt == [["1", "1", "1", "A"], ["1", "1", "1", "A"], ["1", "2", "3", "Trail 1"], ["1", "2", "4", "A"]]
    traps = read_table_like_r(tmp_path / "traps.txt")
    # usage: A works Jan 1-4 fully; Trail 1 from noon Jan 1, broken all of Jan 2
    assert traps == [["A", "500000", "5200000", "1", "1", "1", "1", "/", "forest"],
                     ["Trail 1", "502000.5", "5201000", "0.5", "0", "1", "1", "/", "open"]]
    script = (tmp_path / "read_secr.R").read_text()
    assert 'read.capthist("capt.txt", "traps.txt"' in script and 'detector = "count"' in script
    assert "binary.usage = FALSE" in script and 'trapcovnames = c("habitat")' in script
    assert files["trapfiles"] == [str(tmp_path / "traps.txt")]
    header = (tmp_path / "capt.txt").read_text().splitlines()[0]
    assert header.startswith("#")


def test_secr_proximity_is_binary(survey, tmp_path):
    ch = build(survey, output="binary")
    write_secr(ch, tmp_path)
    capt = read_table_like_r(tmp_path / "capt.txt")
    assert capt == [["1", "1", "1", "A"], ["1", "2", "3", "Trail 1"], ["1", "2", "4", "A"]]
    assert 'detector = "proximity"' in (tmp_path / "read_secr.R").read_text()


def test_secr_multisession_with_empty_session(tmp_path):
    st = pd.DataFrame(dict(Station=["A", "B", "A", "B"], yr=["2019", "2019", "2020", "2020"], utm_x=[0.0, 100, 0, 100],
                           utm_y=[1e6] * 4, Setup_date=["2019-01-01", "2019-01-01", "2020-01-01", "2020-01-01"],
                           Retrieval_date=["2019-01-03", "2019-01-03", "2020-01-04", "2020-01-04"]))
    rec = pd.DataFrame({"station": ["B"], "timestamp": ["2019-01-02 08:00:00"], "individual_id": ["m1"]})
    ch = capture_history(rec, st, station_options=dict(session_col="yr"))
    write_secr(ch, tmp_path)
    capt = read_table_like_r(tmp_path / "capt.txt")
    assert capt == [["2019", "m1", "2", "B"], ["2020", "NONE", "1", "A"]]
    t19 = read_table_like_r(tmp_path / "traps_2019.txt")
    t20 = read_table_like_r(tmp_path / "traps_2020.txt")
    assert t19 == [["A", "0", "1000000", "0.5", "1", "0.5"], ["B", "100", "1000000", "0.5", "1", "0.5"]]
    assert [r[3:] for r in t20] == [["0.5", "1", "1", "0.5"]] * 2
    assert 'trapfiles <- c("2019" = "traps_2019.txt", "2020" = "traps_2020.txt")' in \
        (tmp_path / "read_secr.R").read_text()


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R not installed")
def test_read_secr_pairs_trap_files_with_sessions_as_secr_sorts_them(tmp_path):
    """secr sorts session labels (R's sort(): "a" before "B" in most locales, while Python
    puts "B" first) and pairs trap files by position: read_secr.R must order them in R."""
    st = pd.DataFrame(dict(Station=["A", "A"], ses=["B", "a"], utm_x=[0.0, 0.0], utm_y=[1e6] * 2,
                           Setup_date=["2019-01-01", "2020-01-01"], Retrieval_date=["2019-01-03", "2020-01-05"]))
    rec = pd.DataFrame({"station": ["A"], "timestamp": ["2019-01-02 08:00:00"], "individual_id": ["m1"]})
    ch = capture_history(rec, st, station_options=dict(session_col="ses"))
    write_secr(ch, tmp_path)
    script = (tmp_path / "read_secr.R").read_text()
    setup = script.split("ch <- read.capthist")[0].replace("library(secr)", "")
    r = subprocess.run(["Rscript", "-e", setup + 'cat(lv, unname(trapfiles[lv]), sep = "\\n")'],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lv, files = r.stdout.split()[:2], r.stdout.split()[2:]
    want = sorted(["B", "a"], key=str.lower) if lv[0].lower() == "a" else ["B", "a"]   # C locale sorts "B" first
    assert lv == want
    for s, f in zip(lv, files):         # each session's file holds that session's usage
        k = len(read_table_like_r(tmp_path / f)[0]) - 3
        assert k == (3 if s == "B" else 5), (s, f)


def test_oscr(survey, tmp_path):
    ch = build(survey, output="count")
    write_oscr(ch, tmp_path)
    edf = pd.read_csv(tmp_path / "oscr_edf.csv", dtype={"individual": str})
    assert edf[["session", "individual", "occasion", "trap"]].values.tolist() == [
        [1, "1", 1, "A"], [1, "1", 1, "A"], [1, "2", 3, "Trail 1"], [1, "2", 4, "A"]]
    tdf = pd.read_csv(tmp_path / "oscr_tdf.csv")
    assert list(tdf.columns) == ["trap", "X", "Y", "op.1", "op.2", "op.3", "op.4"]
    assert tdf[["op.1", "op.2", "op.3", "op.4"]].values.tolist() == [[1, 1, 1, 1], [1, 0, 1, 1]]
    eff = pd.read_csv(tmp_path / "oscr_effort.csv")
    assert eff.iloc[1, 1:].tolist() == [0.5, 0, 1, 1]
    assert "K = c(4)" in (tmp_path / "read_oscr.R").read_text()
    y = ch.array(order="ijk")                         # oSCR's n x J x K
    assert y.shape == (2, 2, 4) and y[0, 0, 0] == 2 and y[1, 1, 2] == 1 and y[1, 0, 3] == 1


def test_nimble(survey, tmp_path):
    ch = build(survey, output="binary")
    write_nimble(ch, tmp_path, augment_to=10)
    y = pd.read_csv(tmp_path / "nimble_y.csv")
    assert y.values.tolist() == [[1, 1, 1, 1], [2, 2, 3, 1], [2, 1, 4, 1]]
    y2 = pd.read_csv(tmp_path / "nimble_y2d.csv")
    assert y2.values.tolist() == [[1, 1, 1], [2, 1, 1], [2, 2, 1]]
    c = json.loads((tmp_path / "nimble_constants.json").read_text())
    assert (c["M"], c["n"], c["J"], c["K"], c["K_j"]) == (10, 2, 2, 4, [4, 3])
    op = pd.read_csv(tmp_path / "nimble_operation.csv", index_col=0)
    assert op.values.tolist() == [[1, 1, 1, 1], [1, 0, 1, 1]]
    with pytest.raises(ValueError, match="smaller than"):
        write_nimble(ch, tmp_path, augment_to=1)


def test_nimble_M_is_the_same_in_files_and_in_memory(survey, tmp_path):
    """R's as_nimble() (array_data, the "nimble" view) and the nimble files give the same M:
    augment_to, by default max(5 n, n + 1)."""
    from lynxid.export import array_data
    ch = build(survey, output="count")
    for augment_to, want in ((None, 10), (7, 7)):          # n = 2 individuals
        write_nimble(ch, tmp_path, augment_to=augment_to)
        c = json.loads((tmp_path / "nimble_constants.json").read_text())
        a = array_data(ch, augment_to=augment_to)["1"]
        assert c["M"] == a["M"] == a["y"].shape[0] == want
        assert c["K_j"] == a["K_j"].tolist() and (c["n"], c["J"], c["K"]) == (a["n"], a["J"], a["K"])
    st = pd.DataFrame(dict(Station=["A"], utm_x=[0.0], utm_y=[0.0], Setup_date=["2020-01-01"],
                           Retrieval_date=["2020-01-05"]))
    none = capture_history(pd.DataFrame({"station": ["A"], "timestamp": ["2020-02-01 10:00:00"],
                                         "individual_id": ["x"]}), st)
    write_nimble(none, tmp_path)
    assert json.loads((tmp_path / "nimble_constants.json").read_text())["M"] == array_data(none)["1"]["M"] == 1
    with pytest.raises(ValueError, match="smaller than the 2 individuals detected in session 1"):
        array_data(ch, augment_to=1)


def test_closed_and_rmark(tmp_path):
    st = pd.DataFrame(dict(Station=["A"], utm_x=[0.0], utm_y=[0.0], Setup_date=["2020-01-01 00:00:00"],
                           Retrieval_date=["2020-01-05 00:00:00"]))
    rec = pd.DataFrame({"station": ["A", "A", "A"], "individual_id": ["x", "y", "y"],
                        "timestamp": ["2020-01-04 10:00:00", "2020-01-01 10:00:00", "2020-01-01 12:00:00"]})
    ch = capture_history(rec, st, output="count")
    m = closed_matrix(ch)
    assert m.values.tolist() == [["1", "x", 0, 0, 0, 1], ["1", "y", 1, 0, 0, 0]]
    r = rmark_table(ch)
    assert r.ch.tolist() == ["0001", "1000"] and r.freq.tolist() == [1, 1]
    write_rmark(ch, tmp_path)
    assert (tmp_path / "rmark.inp").read_text().splitlines() == ["/* x session 1 */ 0001 1;", "/* y session 1 */ 1000 1;"]
    back = pd.read_csv(tmp_path / "rmark_ch.csv", dtype={"ch": str})
    assert back.ch.tolist() == ["0001", "1000"]


def _forward_utm(lon, lat, zone):
    """Independent forward UTM (Krueger) to check the inverse."""
    a, f = 6378137.0, 1 / 298.257223563
    n = f / (2 - f)
    A = a / (1 + n) * (1 + n ** 2 / 4 + n ** 4 / 64)
    al = [n / 2 - 2 / 3 * n ** 2 + 5 / 16 * n ** 3, 13 / 48 * n ** 2 - 3 / 5 * n ** 3, 61 / 240 * n ** 3]
    phi, lam = math.radians(lat), math.radians(lon - (zone * 6 - 183))
    e2n = 2 * math.sqrt(n) / (1 + n)
    t = math.sinh(math.atanh(math.sin(phi)) - e2n * math.atanh(e2n * math.sin(phi)))
    xi, eta = math.atan2(t, math.cos(lam)), math.atanh(math.sin(lam) / math.sqrt(1 + t * t))
    E = eta + sum(a_ * math.cos(2 * j * xi) * math.sinh(2 * j * eta) for j, a_ in enumerate(al, 1))
    N = xi + sum(a_ * math.sin(2 * j * xi) * math.cosh(2 * j * eta) for j, a_ in enumerate(al, 1))
    return 500000 + 0.9996 * A * E, 0.9996 * A * N


def test_utm_inverse():
    lon, lat = utm_to_lonlat([500000.0], [0.0], 33)
    assert abs(lon[0] - 15) < 1e-12 and abs(lat[0]) < 1e-12
    lon, lat = utm_to_lonlat(630084, 4833438, 17)      # CN Tower (the classic UTM example)
    assert abs(lon - (-79.387139)) < 2e-5 and abs(lat - 43.642567) < 2e-5
    for lo, la, z in [(8.54, 47.37, 32), (117.2, 5.48, 50), (20.1, 68.3, 34)]:
        e, nn = _forward_utm(lo, la, z)
        blo, bla = utm_to_lonlat(e, nn, z)
        assert abs(blo - lo) < 1e-7 and abs(bla - la) < 1e-7        # 1e-7 degrees ~ 1 cm
    e, nn = _forward_utm(-65.0, -33.0, 20)
    blo, bla = utm_to_lonlat(e, nn + 10_000_000, 20, south=True)
    assert abs(blo + 65) < 1e-7 and abs(bla + 33) < 1e-7


def test_camtrap_dp(survey, tmp_path):
    ch = build(survey, output="count")
    res = write_camtrap_dp(ch, tmp_path, crs="EPSG:32632", scientific_name="Lynx lynx")
    d = tmp_path / "camtrap-dp"
    dep = pd.read_csv(d / "deployments.csv")
    # Trail 1 is split at its malfunction into two working periods
    assert dep.deploymentID.tolist() == ["A", "Trail 1_1", "Trail 1_2"]
    assert dep.deploymentStart.tolist() == ["2020-01-01T00:00:00+01:00", "2020-01-01T12:00:00+01:00",
                                            "2020-01-03T00:00:00+01:00"]
    assert dep.deploymentEnd.tolist()[1] == "2020-01-02T00:00:00+01:00"
    assert dep.latitude.between(46, 48).all() and dep.longitude.between(8, 10).all()
    obs = pd.read_csv(d / "observations.csv", dtype={"individualID": str})
    assert obs.individualID.tolist() == ["1", "1", "2", "2"]
    assert obs.deploymentID.tolist() == ["A", "A", "Trail 1_2", "A"]
    assert obs.scientificName.unique().tolist() == ["Lynx lynx"]
    media = pd.read_csv(d / "media.csv")
    assert media.fileName.tolist() == ["a1.jpg", "a2.jpg", "t1.jpg", "a3.jpg"]
    assert set(obs.mediaID) == set(media.mediaID)
    pkg = json.loads((d / "datapackage.json").read_text())
    assert [r["name"] for r in pkg["resources"]] == ["deployments", "media", "observations"]
    assert pkg["project"]["individualAnimals"] is True and pkg["temporal"] == {"start": "2020-01-01", "end": "2020-01-05"}
    assert any("contributors" in i for i in res["issues"])
    with pytest.raises(ValueError, match="crs"):
        write_camtrap_dp(ch, tmp_path, crs="EPSG:4326")


def test_write_formats_all(survey, tmp_path):
    ch = build(survey, output="count")
    w = write_formats(ch, tmp_path, "all", crs="UTM 32N")
    assert set(w) == {"secr", "oscr", "nimble", "closed", "rmark", "camtrapdp"}
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["sessions"][0]["individuals"] == 2 and s["sessions"][0]["detections"] == 4
    assert s["settings"]["occasion_length"] == 1
    assert (tmp_path / "issues.csv").exists() and (tmp_path / "usage.csv").exists()
    with pytest.raises(ValueError, match="unknown format"):
        write_formats(ch, tmp_path, ["secr", "distance"])


def test_in_memory_forms(survey):
    from lynxid.export import array_data, oscr_data, secr_data
    ch = build(survey, output="count")
    sd = secr_data(ch)
    assert sd["captures"].values.tolist() == [["1", "1", 1, "A"], ["1", "1", 1, "A"], ["1", "2", 3, "Trail 1"],
                                              ["1", "2", 4, "A"]]
    assert sd["noccasions"] == {"1": 4} and sd["empty_sessions"] == [] and sd["covariates"] == ["habitat"]
    assert sd["usage"]["1"].iloc[1].tolist() == ["Trail 1", 0.5, 0.0, 1.0, 1.0]
    od = oscr_data(ch)
    assert od["edf"].trap.tolist() == ["A", "A", "Trail 1", "A"] and od["K"] == [4]
    assert od["y3d"][0].shape == (2, 2, 4) and od["trap_operation"][0].tolist() == [[1, 1, 1, 1], [1, 0, 1, 1]]
    ad = array_data(ch, augment_to=6)["1"]
    assert ad["y"].shape == (6, 2, 4) and ad["y2d"].tolist()[:2] == [[2, 0], [1, 1]]
    assert ad["K_j"].tolist() == [4, 3] and (ad["M"], ad["n"], ad["J"], ad["K"]) == (6, 2, 2, 4)


def test_secr_non_ascii_names(tmp_path):
    st = pd.DataFrame(dict(Station=["Ölberg"], utm_x=[0.0], utm_y=[0.0], Setup_date=["2020-01-01 00:00:00"],
                           Retrieval_date=["2020-01-03 00:00:00"]))
    rec = pd.DataFrame({"station": ["Ölberg"], "individual_id": ["Lüchs 1"], "timestamp": ["2020-01-02 10:00:00"]})
    write_secr(capture_history(rec, st), tmp_path)
    assert read_table_like_r(tmp_path / "capt.txt") == [["1", "Lüchs 1", "2", "Ölberg"]]
    assert read_table_like_r(tmp_path / "traps.txt") == [["Ölberg", "0", "0", "1", "1"]]


def test_no_usable_detection_still_writes_every_format(tmp_path):
    st = pd.DataFrame(dict(Station=["A"], utm_x=[500000.0], utm_y=[5200000.0], Setup_date=["2020-01-01"],
                           Retrieval_date=["2020-01-05"]))
    rec = pd.DataFrame({"station": ["A"], "timestamp": ["2020-02-01 10:00:00"], "individual_id": ["x"]})
    ch = capture_history(rec, st, tz="Europe/Zurich")
    assert len(ch.detections) == 0 and ch.usage_matrix().shape == (1, 5)
    write_formats(ch, tmp_path, "all", crs="UTM 32N")
    assert read_table_like_r(tmp_path / "capt.txt") == [["1", "NONE", "1", "A"]]     # secr's noncapt line
    assert pd.read_csv(tmp_path / "rmark_ch.csv").empty and pd.read_csv(tmp_path / "oscr_edf.csv").empty
    assert json.loads((tmp_path / "nimble_constants.json").read_text())["n"] == 0


def test_rmark_sessions_of_different_lengths_are_not_padded_with_zeros():
    st = pd.DataFrame(dict(Station=["A", "A"], yr=["2019", "2020"], utm_x=[0.0, 0.0], utm_y=[1e6] * 2,
                           Setup_date=["2019-01-01", "2020-01-01"], Retrieval_date=["2019-01-03", "2020-01-05"]))
    rec = pd.DataFrame({"station": ["A", "A"], "timestamp": ["2019-01-02 08:00:00", "2020-01-04 08:00:00"],
                        "individual_id": ["m1", "m2"]})
    ch = capture_history(rec, st, station_options=dict(session_col="yr"))
    t = rmark_table(ch).set_index("individual")
    assert t.loc["m1", "ch"] == "010.." and t.loc["m2", "ch"] == "00010"
    m = closed_matrix(ch).set_index("individual")
    assert m.loc["m1", ["o4", "o5"]].isna().all() and m.loc["m2", "o4"] == 1


def test_camtrap_dp_leaves_out_other_species(tmp_path):
    st = pd.DataFrame(dict(Station=["A"], utm_x=[500000.0], utm_y=[5200000.0], Setup_date=["2020-01-01"],
                           Retrieval_date=["2020-01-05"]))
    rec = pd.DataFrame({"Station": ["A", "A"], "Species": ["Lynx lynx", "Felis silvestris"], "Individual": ["L3", "W1"],
                        "DateTimeOriginal": ["2020-01-02 10:00:00", "2020-01-03 10:00:00"]})
    ch = capture_history(rec, st, species="Lynx lynx", tz="Europe/Zurich")
    assert list(ch.records.reason) == ["", "other species"]
    write_camtrap_dp(ch, tmp_path, crs="EPSG:32632")
    obs = pd.read_csv(tmp_path / "camtrap-dp" / "observations.csv")
    assert obs.individualID.tolist() == ["L3"] and obs.scientificName.tolist() == ["Lynx lynx"]


def test_camtrap_dp_times_are_never_empty_at_clock_changes():
    from lynxid.camtrap_dp import _iso
    ns = pd.to_datetime(["2024-10-27 02:30:00", "2024-03-31 02:30:00"]).values.astype("datetime64[ns]").astype("int64")
    assert _iso(ns, "Europe/Zurich").tolist() == ["2024-10-27T02:30:00+02:00", "2024-03-31T03:00:00+02:00"]


def test_camtrap_dp_records_without_camera_at_multi_camera_stations(tmp_path):
    st = pd.DataFrame(dict(Station=["A", "A"], Camera=["c1", "c2"], utm_x=[500000.0] * 2, utm_y=[5200000.0] * 2,
                           Setup_date=["2020-01-01", "2020-01-01"], Retrieval_date=["2020-01-05", "2020-01-05"]))
    rec = pd.DataFrame({"Station": ["A", "A"], "Individual": ["L1", "L2"],
                        "DateTimeOriginal": ["2020-01-02 10:00:00", "2020-01-03 10:00:00"]})
    ch = capture_history(rec, st, tz="Europe/Zurich", station_options=dict(camera_col="Camera"))
    res = write_camtrap_dp(ch, tmp_path, crs="EPSG:32632", scientific_name="Lynx lynx")
    assert any("2 observation(s) have no camera" in i for i in res["issues"])
    obs = pd.read_csv(tmp_path / "camtrap-dp" / "observations.csv")
    dep = pd.read_csv(tmp_path / "camtrap-dp" / "deployments.csv")
    assert obs.individualID.tolist() == ["L1", "L2"]
    assert set(obs.deploymentID) <= set(dep.deploymentID)


def test_session_labels_that_look_alike_get_their_own_files():
    from lynxid.storage import session_file as _session_file
    names = {_session_file("traps", s, 3, "txt") for s in ("a b", "a_b", "a/b")}
    assert len(names) == 3 and "traps_a_b.txt" in names
    assert _session_file("traps", "2019", 2, "txt") == "traps_2019.txt"
