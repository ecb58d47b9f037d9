"""The camtrapR reference: cameraOperation + spatialDetectionHistory on camtrapR's leopard-cat
sample (occasionLength = 10, day1 = "survey", hasProblems = TRUE), matched cell for cell --
from camtrapR's record table and from the sample images themselves (EXIF + XMP tags).

The data live outside the repository (../shared/data/camtrapr-leopardcat, or
$LYNXID_SHARED_DATA/camtrapr-leopardcat); the tests skip when it is absent.
"""
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lynxid.capture import capture_history
from lynxid.effort import camera_operation

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
REF = SHARED / "camtrapr-leopardcat"
pytestmark = pytest.mark.skipif(not (REF / "camtraps.csv").exists(), reason=f"camtrapR reference data not found at {REF}")

SETTINGS = dict(occasion_length=10, day1="survey", tz="Asia/Kuching",
                station_options=dict(date_format="dmy", has_problems=True, x_col="utm_x", y_col="utm_y"))


def expected_cells(output):
    return pd.read_csv(REF / "expected" / f"capthist_{output}.csv", dtype={"individual": str})


def assert_matches_reference(ch, output):
    exp = expected_cells(output)
    a = ch.array()                                   # individual x occasion x detector
    ind = ch.individuals.individual.tolist()
    det = list(ch.usage_matrix().index)
    assert ind == ["1", "2", "3"] and det == ["StationA", "StationB", "StationC"]
    assert a.shape == (3, 5, 3)
    got = a[[ind.index(i) for i in exp.individual], exp.occasion.to_numpy() - 1, [det.index(s) for s in exp.station]]
    np.testing.assert_array_equal(got, exp.value.to_numpy())
    assert a.sum() == exp.value.sum()                # nothing outside the listed cells
    usage = pd.read_csv(REF / "expected" / f"usage_{output}.csv", index_col=0)
    np.testing.assert_array_equal(ch.usage_matrix().to_numpy(), usage.to_numpy())
    assert ch.detector_type == ("proximity" if output == "binary" else "count")
    # secr's printed summary: "Counts by occasion" and "Usage range by occasion"
    txt = (REF / "expected" / f"spatialDetectionHistory_{output}.txt").read_text()
    tab = ch.counts_by_occasion()
    for label in ["n", "u", "f", "M(t+1)", "losses", "detections", "detectors visited", "detectors used"]:
        m = re.search(rf"^{re.escape(label)}\s+([\d\s]+)$", txt, re.MULTILINE)
        assert m, label
        assert tab.loc[label].tolist() == [int(v) for v in m.group(1).split()], label
    u = ch.usage_matrix().to_numpy()
    rmin = re.search(r"^min\s+([\d.\s]+)$", txt, re.MULTILINE).group(1).split()
    rmax = re.search(r"^max\s+([\d.\s]+)$", txt, re.MULTILINE).group(1).split()
    np.testing.assert_array_equal(u.min(axis=0), [float(v) for v in rmin])
    np.testing.assert_array_equal(u.max(axis=0), [float(v) for v in rmax])
    xy = ch.traps[["x", "y"]].to_numpy()
    np.testing.assert_array_equal(xy, [[526000, 604000], [523000, 606000], [525000, 607050]])


def test_camera_operation_matches_camtrapr():
    co = camera_operation(REF / "camtraps.csv", date_format="dmy", has_problems=True)
    exp = pd.read_csv(REF / "expected" / "camera_operation.csv", index_col=0)
    assert list(co.columns) == list(exp.columns) and list(co.index) == list(exp.index)
    np.testing.assert_array_equal(co.to_numpy(), exp.to_numpy())      # NaN compare equal here


@pytest.mark.parametrize("output", ["binary", "count"])
def test_record_table_matches_camtrapr(output):
    ch = capture_history(REF / "recordTableIndividualSample.csv", REF / "camtraps.csv", output=output,
                         species="LeopardCat", **SETTINGS)
    assert_matches_reference(ch, output)
    assert len(ch.issues) == 0 and (ch.records.status == "used").all()


@pytest.fixture(scope="module")
def images():
    from lynxid.ingest import scan_images
    df, issues = scan_images(REF / "images", tz="Asia/Kuching", progress=False)
    assert len(issues) == 0
    return df


@pytest.mark.parametrize("output", ["binary", "count"])
def test_images_match_camtrapr(images, output):
    # camtrapR's sample record table was made from these images with minDeltaTime = 60
    ch = capture_history(images, REF / "camtraps.csv", output=output, individual_col="individual_tag",
                         species="Leopard Cat", species_col="species_tag", min_delta_minutes=60, **SETTINGS)
    assert_matches_reference(ch, output)
    used = set(ch.records.row[ch.records.status == "used"])
    used_files = {Path(f).name for f in images.file.iloc[sorted(r - 1 for r in used)]}
    rt = pd.read_csv(REF / "recordTableIndividualSample.csv")
    assert used_files == set(rt.FileName)                             # the same 21 records
    assert set(ch.issues.severity) == {"filtered"}


@pytest.mark.parametrize("output", ["binary", "count"])
def test_exported_files_match_camtrapr(output, tmp_path):
    from lynxid.export import write_formats
    ch = capture_history(REF / "recordTableIndividualSample.csv", REF / "camtraps.csv", output=output,
                         species="LeopardCat", **SETTINGS)
    write_formats(ch, tmp_path, "all", crs="EPSG:32650", scientific_name="Prionailurus bengalensis")
    exp = expected_cells(output)
    want = {(i, o, s): v for i, o, s, v in zip(exp.individual, exp.occasion, exp.station, exp.value) if v}
    usage = pd.read_csv(REF / "expected" / f"usage_{output}.csv", index_col=0)
    # secr: one captfile line per detection (count) or per detected cell (proximity)
    lines = [l.split() for l in (tmp_path / "capt.txt").read_text().splitlines() if not l.startswith("#")]
    got = pd.Series([(i, int(o), s) for _, i, o, s in lines]).value_counts().to_dict()
    assert got == want
    traps = [l.split() for l in (tmp_path / "traps.txt").read_text().splitlines() if not l.startswith("#")]
    assert [t[0] for t in traps] == list(usage.index)
    np.testing.assert_array_equal(np.array([[float(v) for v in t[3:]] for t in traps]), usage.to_numpy())
    # oSCR edf: the same detections; tdf: operation 1 where usage > 0
    edf = pd.read_csv(tmp_path / "oscr_edf.csv", dtype={"individual": str})
    assert pd.Series(list(zip(edf.individual, edf.occasion, edf.trap))).value_counts().to_dict() == want
    tdf = pd.read_csv(tmp_path / "oscr_tdf.csv", index_col=0)
    np.testing.assert_array_equal(tdf.filter(like="op.").to_numpy(), (usage.to_numpy() > 0).astype(int))
    # nimble: y[i,j,k]
    y = pd.read_csv(tmp_path / "nimble_y.csv")
    inds = pd.read_csv(tmp_path / "nimble_individuals.csv", dtype={"individual": str}).individual.tolist()
    tr = pd.read_csv(tmp_path / "nimble_traps.csv").detector.tolist()
    assert {(inds[i - 1], k, tr[j - 1]): v for i, j, k, v in y.values} == want
    # closed captures (Rcapture) and RMark: detected anywhere on the occasion
    closed = pd.read_csv(tmp_path / "closed_matrix.csv", dtype={"individual": str}).set_index("individual")
    seen = exp[exp.value > 0].groupby(["individual", "occasion"]).size()
    for ind in closed.index:
        assert [int((ind, k) in seen.index) for k in range(1, 6)] == closed.loc[ind].filter(regex=r"^o\d+$").tolist()
    rm = pd.read_csv(tmp_path / "rmark_ch.csv", dtype={"ch": str, "individual": str})
    assert rm.ch.tolist() == ["".join(map(str, closed.loc[i].filter(regex=r"^o\d+$").tolist())) for i in rm.individual]
    # Camtrap DP: one observation per record, deployments inside Sabah (UTM 50N)
    obs = pd.read_csv(tmp_path / "camtrap-dp" / "observations.csv")
    dep = pd.read_csv(tmp_path / "camtrap-dp" / "deployments.csv")
    assert len(obs) == 21 and set(obs.deploymentID) <= set(dep.deploymentID)
    assert dep.latitude.between(5.4, 5.6).all() and dep.longitude.between(117.1, 117.3).all()
