"""The demo's density step (lynxid.density_demo): the fit over the simulator's habitat and the
true density it is compared with."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from _scr_survey import capture_history_from_scr
from lynxid.density_demo import demo_density, density_line, habitat_mask
from lynxid.scr_data import SCRData, build_session
from lynxid.scr_simulate import simulate_scr, trap_grid


def _survey_json(folder, habitat, n, **config):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "survey.json").write_text(json.dumps({"config": {"n_individuals": n, **config}, "habitat": habitat}))
    return folder


def test_habitat_mask_tiles_the_rectangle():
    m = habitat_mask([0, 6400, 100, 3300])            # 64 x 32 cells of 100 m
    assert m.spacing == 100 and len(m) == 64 * 32
    assert m.x.min() == 50 and m.x.max() == 6350 and m.y.min() == 150 and m.y.max() == 3250
    assert m.area == pytest.approx(6400 * 3200 / 1e4)
    odd = habitat_mask([0, 6400, 0, 3330])              # 33.3 rows: 33 rows, centred
    assert odd.area == pytest.approx(6400 * 3330 / 1e4, rel=0.01)
    assert odd.y.min() > 0 and odd.y.max() < 3330
    with pytest.raises(ValueError, match="positive width"):
        habitat_mask([0, 0, 0, 10])


def test_estimate_beside_the_truth(tmp_path):
    """A survey simulated as the image simulator does it (animals only inside the habitat
    rectangle, daily detection, fractional usage): the truth is N / area and the interval
    covers it."""
    rng = np.random.default_rng(4)
    traps = trap_grid(4, 3, 2500, origin=(500_000, 5_200_000))
    usage = np.round(rng.choice([2.5, 5, 5, 5, 0], size=(12, 9)), 2)     # days per 5-day occasion
    data, truth = simulate_scr(traps, usage, 0.0006, "HN", {"g0": 0.12, "sigma": 2000}, 5000, seed=9)
    lo, hi = traps.min(0) - 5000, traps.max(0) + 5000
    survey = _survey_json(tmp_path / "survey", [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])], truth["N"])
    out = demo_density(capture_history_from_scr(data), survey)
    d = out["density"]
    assert d["truth"] == pytest.approx(truth["N"] / truth["area"] * 1e4)
    assert d["habitat_km2"] == pytest.approx(truth["area"] / 100)
    assert d["mask_km2"] == pytest.approx(d["habitat_km2"], rel=0.01)
    assert d["converged"] and d["animals_detected"] == data.n
    assert d["lcl"] < d["truth"] < d["ucl"], d
    assert abs(d["estimate"] / d["truth"] - 1) < 0.4, d
    assert d["parameters"]["sigma"]["lcl"] < 2000 < d["parameters"]["sigma"]["ucl"]
    json.dumps(out, allow_nan=False)                   # fits in demo_summary.json
    line = density_line(d)
    assert re.fullmatch(r"[\d.]+ per 100 km² \(95 % CI [\d.]+–[\d.]+\); truth [\d.]+", line), line
    assert f"truth {d['truth']:.3g}" in line


def test_not_estimable_is_reported_not_raised(tmp_path):
    traps = trap_grid(3, 3, 2500)
    det = {"animal": ["a", "b"], "occasion": [1, 2], "trap": ["1", "5"], "count": [1, 1]}
    s = build_session("1", [str(k + 1) for k in range(9)], traps, np.ones((9, 4)), pd.DataFrame(det), "proximity")
    survey = _survey_json(tmp_path / "survey", [-5000, 10000, -5000, 10000], 6, max_detections=10)
    d = demo_density(SCRData([s], "proximity"), survey)["density"]
    assert "no recaptures" in d["error"] and "estimate" not in d and "biased low" in d["note"]
    assert density_line(d).startswith("not estimable (no recaptures") and density_line(d).endswith("truth 2.67")


def test_reads_the_image_simulators_survey(tmp_path):
    """survey.json as simulate_survey writes it (a tiny survey: the photos are not needed)."""
    from lynxid.simulate import simulate_survey
    sv = simulate_survey(tmp_path / "sv", n_individuals=3, n_known=1, n_days=4, image_size=(160, 120),
                         catalogue_images_per_flank=1, inject_bad_files=False, progress=False, seed=3)
    meta = json.loads((tmp_path / "sv" / "survey.json").read_text())
    xmin, xmax, ymin, ymax = meta["habitat"]
    det = pd.DataFrame({"animal": ["x", "x"], "occasion": [1, 2], "trap": ["A", "B"], "count": 1})
    xy = [[xmin + 5000, ymin + 5000], [xmin + 7000, ymin + 5000]]      # any capture history will do
    data = SCRData([build_session("1", ["A", "B"], xy, np.ones((2, 3)), det, "proximity")], "proximity")
    d = demo_density(data, sv)["density"]
    assert d["truth"] == pytest.approx(3 / ((xmax - xmin) * (ymax - ymin) / 1e6) * 100)
    assert d["truth_individuals"] == len(sv.truth("individuals")) == 3
    with pytest.raises(FileNotFoundError, match="survey.json not found"):
        demo_density(data, tmp_path)
