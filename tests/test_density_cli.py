"""`lynxid density fit` from the command line: secr-style tables (checked against secr 5.5.0's
reference fits when ../shared/data/secr-reference is present), a folder written by the
capture-history export (read back from its secr files), and clear errors."""
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _scr_survey import capture_history_from_scr
from lynxid.cli import main
from lynxid.density import fit_density
from lynxid.export import write_formats
from lynxid.scr_data import read_capture_history_folder
from lynxid.scr_simulate import simulate_scr, trap_grid
from lynxid.storage import session_file

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
REF = SHARED / "secr-reference"
FOLDERS = sorted(p.parent.name for p in REF.glob("*/secr_fits.csv")) if REF.is_dir() else []


def _readme(folder):
    return dict(line.split(":", 1) for line in (REF / folder / "README.txt").read_text().splitlines() if ":" in line)


@pytest.mark.skipif(not FOLDERS, reason=f"secr reference data not found at {REF}")
@pytest.mark.parametrize("folder", FOLDERS or ["none"])
def test_tables_reproduce_secr(folder, tmp_path, capsys):
    """The first detection function of each reference set: the JSON's D, g0/lambda0, sigma, z,
    logLik and AIC are secr's (3 significant figures; SEs within 2 %), D per hectare."""
    ref = pd.read_csv(REF / folder / "secr_fits.csv")
    fn = ref.detectfn.iloc[0]
    ref = ref[ref.detectfn == fn].set_index("parameter")
    out = tmp_path / "fit.json"
    rc = main(["density", "fit", "--traps", str(REF / folder / "traps.csv"), "--captures",
               str(REF / folder / "captures.csv"), "--detector", _readme(folder)["detector"].strip(),
               "--mask", str(REF / folder / "mask.csv"), "--detectfn", fn, "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    got = json.loads(out.read_text())
    for p in ("D", "g0", "lambda0", "sigma", "z"):
        if p in ref.index:
            assert got[p]["estimate"] == pytest.approx(ref.loc[p, "estimate"], rel=5e-4), p
            assert got[p]["SE"] == pytest.approx(ref.loc[p, "SE"], rel=0.02), p
            assert got[p]["lcl"] == pytest.approx(ref.loc[p, "lcl"], rel=0.005), p
            assert got[p]["ucl"] == pytest.approx(ref.loc[p, "ucl"], rel=0.005), p
    assert got["logLik"] == pytest.approx(ref.loc["logLik", "estimate"], rel=5e-4)
    assert got["AIC"] == pytest.approx(ref.loc["AIC", "estimate"], abs=0.01)
    assert got["D_100km2"]["estimate"] == pytest.approx(got["D"]["estimate"] * 1e4)
    assert f"{got['D_100km2']['estimate']:.4g}" in text and "per 100 km²" in text


def _survey(seed=2, detector="proximity", sessions=1):
    """A small simulated survey with fractional and zero usage (days of effort)."""
    rng = np.random.default_rng(seed)
    traps = trap_grid(6, 6, 500)
    parts = []
    for s in range(sessions):
        usage = np.round(rng.choice([0, 0.5, 1, 1, 1, 2.5], size=(36, 8 + s)), 2)
        par = {"g0": 0.25, "lambda0": 0.3, "sigma": 400}
        fn = "HN" if detector == "proximity" else "HHN"
        d, _ = simulate_scr(traps, usage, 0.04, fn, par, 2000, detector, seed=seed + s, session=f"winter {s + 1}")
        parts += d.sessions
    return type(d)(parts, detector)


def test_capture_history_folder_gives_the_fit_of_the_capture_history(tmp_path, capsys):
    """A folder written by the capture-history export (IDs that need quoting, fractional and
    zero usage) is read back to the same data and the same fit as the CaptureHistory itself."""
    data = _survey()
    ch = capture_history_from_scr(data, detector_ids=lambda t: f"st {t}" if t in ("3", "14") else t,
                                  animal_ids=lambda a: f'L"{a}' if a == "2" else f"lynx {a}")
    write_formats(ch, tmp_path / "ch", formats=("secr",))
    back = read_capture_history_folder(tmp_path / "ch")
    s0, s1 = data.sessions[0], back.sessions[0]
    np.testing.assert_allclose(s1.usage, s0.usage)
    np.testing.assert_allclose(s1.xy, s0.xy)
    assert s1.n == s0.n and s1.count.sum() == s0.count.sum()
    assert "st 3" in s1.trap_ids and "L'2" in s1.animals            # as secr reads the files
    rc = main(["density", "fit", str(tmp_path / "ch"), "--detectfn", "HN", "--buffer", "2000", "--spacing", "100",
               "--json", str(tmp_path / "fit.json")])
    assert rc == 0
    got = json.loads((tmp_path / "fit.json").read_text())
    ref = fit_density(ch, "HN", buffer=2000, spacing=100)
    est = ref.estimates_dict()
    for p in ("D", "g0", "sigma"):
        assert got[p]["estimate"] == pytest.approx(est[p]["estimate"], rel=1e-6), p
        assert got[p]["SE"] == pytest.approx(est[p]["SE"], rel=1e-4), p
    assert got["logLik"] == pytest.approx(ref.logLik, abs=1e-6)
    assert got["detector"] == "proximity" and got["n"] == data.n and got["mask"]["winter 1"]["buffer"] == 2000
    assert set(got) >= {"D", "g0", "sigma", "logLik", "AIC", "D_100km2", "EN", "convergence"}
    text = capsys.readouterr().out
    assert "D (per 100 km²)" in text and "sigma (m)" in text and "converged" in text


def test_multi_session_count_folder(tmp_path, capsys):
    """Two sessions of different lengths (one trap file each) and count detectors; one density
    per session with --density-per-session."""
    data = _survey(seed=5, detector="count", sessions=2)
    ch = capture_history_from_scr(data)
    write_formats(ch, tmp_path / "ch", formats=("secr",))
    assert sorted(p.name for p in (tmp_path / "ch").glob("traps*.txt")) == \
        sorted(session_file("traps", s, 2, "txt") for s in ("winter 1", "winter 2"))
    back = read_capture_history_folder(tmp_path / "ch")
    assert [s.name for s in back.sessions] == ["winter 1", "winter 2"]
    assert [s.usage.shape[1] for s in back.sessions] == [8, 9]
    assert [int(s.count.sum()) for s in back.sessions] == [int(s.count.sum()) for s in data.sessions]
    rc = main(["density", "fit", str(tmp_path / "ch"), "--buffer", "2000", "--density-per-session",
               "--json", str(tmp_path / "fit.json")])
    assert rc == 0
    got = json.loads((tmp_path / "fit.json").read_text())
    assert got["npar"] == 4 and "lambda0" in got
    d1, d2 = (got["sessions"][s]["D"]["estimate"] for s in ("winter 1", "winter 2"))
    assert d1 != d2 and got["D"]["estimate"] == d1
    assert capsys.readouterr().out.count("session winter") == 2


def test_tables_without_usage_and_a_habitat_polygon(tmp_path):
    """secr-style tables written by hand: no usage columns (--occasions), a habitat polygon
    that cuts the mask, and the same fit as the Python API on the same tables."""
    data = _survey(seed=7)
    s = data.sessions[0]
    pd.DataFrame({"trapID": s.trap_ids, "x": s.xy[:, 0], "y": s.xy[:, 1]}).to_csv(tmp_path / "traps.csv", index=False)
    pd.DataFrame({"ID": np.array(s.animals)[s.animal], "occasion": s.occasion + 1,
                  "trapID": np.array(s.trap_ids)[s.trap]}).to_csv(tmp_path / "captures.csv", index=False)
    poly = pd.DataFrame({"x": [-2000, 1500, 1500, -2000], "y": [-2000, -2000, 4500, 4500]})
    poly.to_csv(tmp_path / "habitat.csv", index=False)
    rc = main(["density", "fit", "--traps", str(tmp_path / "traps.csv"), "--captures", str(tmp_path / "captures.csv"),
               "--occasions", "8", "--detectfn", "HN", "--buffer", "2000", "--spacing", "125",
               "--habitat", str(tmp_path / "habitat.csv"), "--json", str(tmp_path / "fit.json")])
    assert rc == 0
    got = json.loads((tmp_path / "fit.json").read_text())
    from lynxid.scr_data import read_secr_tables
    ref = fit_density(read_secr_tables(tmp_path / "traps.csv", tmp_path / "captures.csv", occasions=8), "HN",
                      buffer=2000, spacing=125, poly=poly.to_numpy(float))
    assert got["D"]["estimate"] == pytest.approx(ref.estimates_dict()["D"]["estimate"], rel=1e-6)
    full = fit_density(read_secr_tables(tmp_path / "traps.csv", tmp_path / "captures.csv", occasions=8), "HN",
                       buffer=2000, spacing=125)
    assert got["mask"]["1"]["points"] < len(full.sessions[0]["mask"])      # the polygon cut the mask


def test_errors_are_clear(tmp_path, capsys):
    rc = main(["density", "fit"])
    assert rc == 2 and "nothing to fit" in capsys.readouterr().err
    ch = capture_history_from_scr(_survey())
    write_formats(ch, tmp_path / "ch", formats=("secr",))
    rc = main(["density", "fit", str(tmp_path / "ch"), "--traps", "t.csv", "--captures", "c.csv"])
    assert rc == 2 and "not both" in capsys.readouterr().err
    rc = main(["density", "fit", str(tmp_path / "ch"), "--detector", "count"])
    assert rc == 2 and "records its own detector type" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    rc = main(["density", "fit", str(tmp_path / "empty")])
    assert rc == 2 and "lacks summary.json and capt.txt" in capsys.readouterr().err
    rc = main(["density", "fit", str(tmp_path / "nope")])
    assert rc == 2 and "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["density", "fit", str(tmp_path / "ch"), "--mask", "m.csv", "--buffer", "100"])
    assert "not allowed with argument" in capsys.readouterr().err
    caps = pd.DataFrame({"ID": [1, 1, 2], "occasion": [1, 2, 1], "trapID": ["A", "B", "Z"]})
    caps.to_csv(tmp_path / "c.csv", index=False)
    pd.DataFrame({"trapID": ["A", "B"], "x": [0, 100], "y": [0, 0]}).to_csv(tmp_path / "t.csv", index=False)
    rc = main(["density", "fit", "--traps", str(tmp_path / "t.csv"), "--captures", str(tmp_path / "c.csv"),
               "--buffer", "300"])
    assert rc == 2 and "not in the trap table" in capsys.readouterr().err


def test_warnings_reach_the_console_and_the_json(tmp_path, capsys):
    """A buffer too small for the animals' range: the fit's warning is printed and kept."""
    ch = capture_history_from_scr(_survey())
    write_formats(ch, tmp_path / "ch", formats=("secr",))
    rc = main(["density", "fit", str(tmp_path / "ch"), "--detectfn", "HN", "--buffer", "300", "--spacing", "100",
               "--json", str(tmp_path / "fit.json")])
    assert rc == 0
    assert "warning: session winter 1: the mask edge" in capsys.readouterr().err
    assert any("too close" in w for w in json.loads((tmp_path / "fit.json").read_text())["warnings"])
