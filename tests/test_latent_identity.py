"""The latent-identity sampler (identities drawn inside the SCR model) and the pair evidence it reads."""
import json

import numpy as np
import pandas as pd
import pytest

from lynxid import IdentitySampler, LatentIdentitySampler, PairEvidence
from lynxid.posterior import NEW_ANSWER


# ---------------------------------------------------------------------- pair evidence
def _pairs(n_same=2000, n_diff=20000, seed=0):
    """Pairs whose logit(p) is N(2, 1) for one animal and N(-2, 1) for two: the true log
    likelihood ratio at logit(p) = x is 4 x."""
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(2, 1, n_same), rng.normal(-2, 1, n_diff)]
    return 1 / (1 + np.exp(-x)), np.arange(len(x)) < n_same


def test_pair_evidence_recovers_the_likelihood_ratio_whatever_the_mix():
    p, same = _pairs()
    pe = PairEvidence().fit(p, same, 0.5)
    assert pe.slope_ == pytest.approx(4.0, abs=0.4) and pe.intercept_ == pytest.approx(0.0, abs=0.3)
    # ten times more different pairs: the same map (the two kinds are weighed equally)
    p2, same2 = _pairs(2000, 2000, seed=1)
    pe2 = PairEvidence().fit(p2, same2, 0.5)
    assert pe2.slope_ == pytest.approx(4.0, abs=0.4) and pe2.intercept_ == pytest.approx(0.0, abs=0.3)
    # stated against the calibrator's base rate: the same pairs from a calibrator of base rate
    # 0.2 give the same ratios (true log LR 4 logit(p) = 4 (x + logit(0.2)))
    pe3 = PairEvidence().fit(p, same, 0.2)
    assert pe3.intercept_ == pytest.approx(4 * np.log(0.25), abs=0.5) and pe3.slope_ == pytest.approx(pe.slope_, abs=0.05)
    x = np.array([0.01, 0.3, 0.9])
    assert pe3.log_lr(x, 0.2) == pytest.approx(pe.log_lr(x, 0.5), abs=0.1)
    base = PairEvidence.from_base_rate()
    assert base.log_lr(np.array([0.1]), 0.1)[0] == pytest.approx(0.0, abs=1e-9) and not base.measured
    with pytest.raises(ValueError, match="base rate"):
        PairEvidence().fit(p, same, 1.0)


def test_pair_evidence_round_trips_and_reads_an_evaluate_report(tmp_path):
    p, same = _pairs()
    pe = PairEvidence().fit(p, same, 0.3)
    back = PairEvidence.read(pe.write(tmp_path / "pe.json"))
    assert (back.intercept_, back.slope_, back.pairs_) == (pe.intercept_, pe.slope_, pe.pairs_)
    report = {"open_set": {"new_pairs": [[round(float(a), 5), bool(b)] for a, b in zip(p, same)],
                           "pair_base_rate": 0.3}}
    (tmp_path / "eval.json").write_text(json.dumps(report))
    assert PairEvidence.read(tmp_path / "eval.json").slope_ == pytest.approx(pe.slope_, abs=0.01)
    report["open_set"]["pair_evidence"] = {"intercept": 1.0, "slope": 2.0, "pairs": {}, "source": "measured"}
    (tmp_path / "eval2.json").write_text(json.dumps(report))
    assert PairEvidence.read(tmp_path / "eval2.json").slope_ == 2.0


def test_pair_evidence_refuses_too_few_pairs_and_other_files(tmp_path):
    p, same = _pairs(5, 500)
    with pytest.raises(ValueError, match="at least 20 pairs of each kind, not 5 of one animal"):
        PairEvidence().fit(p, same, 0.5)
    (tmp_path / "x.json").write_text(json.dumps({"open_set": {"new_pairs": [[0.5, True]], "pair_base_rate": 0.2}}))
    with pytest.raises(ValueError, match="x.json: pair evidence needs"):
        PairEvidence.read(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="lynxid evaluate --out"):
        PairEvidence.read(tmp_path / "y.json")


def test_evaluate_reports_the_pair_evidence():
    from lynxid.openset_evaluation import format_open_set, pair_evidence_of
    p, same = _pairs()
    pe = pair_evidence_of([[float(a), bool(b)] for a, b in zip(p, same)], 0.5)
    assert pe["slope"] == pytest.approx(4.0, abs=0.4)
    assert pair_evidence_of([[0.9, True], [0.1, False]], 0.5) is None
    o = {"known_individuals": 3, "unknown_individuals": 3, "BAKS": 1, "BAUS": 1, "gmean": 1, "ari_new": 1,
         "pair_evidence": pe, "new_pairs": []}
    assert any("log LR = " in line for line in format_open_set(o))


# ---------------------------------------------------------------------- the sampler
T0 = pd.Timestamp("2025-03-01 20:00")


def _design(units, traps, xy, days=30.0, cells=41, half=30000.0):
    """One session: every unit captured at its trap, traps at ``xy`` (m), a square mask."""
    g = np.linspace(-half, half, cells)
    mx, my = np.meshgrid(g, g)
    mask = np.c_[mx.ravel(), my.ravel()]
    xy = np.asarray(xy, float)
    return {"1": {"units": np.asarray(units, object), "trap": np.asarray(traps), "effort": np.full(len(xy), days),
                  "d2": ((mask[:, None] - xy[None]) ** 2).sum(-1), "xy": xy, "spacing": g[1] - g[0]}}


def _table(units, stations, answers, hours_apart=24.0):
    """Detections (one per unit) and the posterior: ``answers[u]`` = {answer: probability}."""
    det = pd.DataFrame([dict(detection_id=f"d{u}", unit_id=u, event_id=u, station=s, file=f"{u}.jpg",
                             timestamp=T0 + pd.Timedelta(hours=hours_apart * k), individual_id=max(a, key=a.get),
                             is_new=max(a, key=a.get) == NEW_ANSWER, probability=max(a.values()), reviewed_by=None)
                        for k, (u, s, a) in enumerate(zip(units, stations, answers))])
    det.loc[det["is_new"], "individual_id"] = "NEW-001"
    rows = []
    for u, a in zip(units, answers):
        cands = [(k, v) for k, v in a.items() if k != NEW_ANSWER]
        rows += [(u, r + 1, k, v) for r, (k, v) in enumerate(cands)] + [(u, 0, NEW_ANSWER, a.get(NEW_ANSWER, 0.0))]
    return det, pd.DataFrame(rows, columns=["unit_id", "rank", "answer", "probability"])


def _anchored(extra_units, extra_xy, extra_answers):
    """Ten sure catalogue animals, each caught four times within a kilometre (sigma is then
    about 500 m), and the ``extra`` units at their own traps."""
    rng = np.random.default_rng(5)
    units, traps, xy, st, ans = [], [], [], [], []
    for a in range(10):
        centre = rng.uniform(-15000, 15000, 2)
        for k in range(4):
            xy.append(centre + rng.normal(0, 500, 2))
            units.append(f"A{a}-{k}"), traps.append(len(xy) - 1), st.append(f"S{len(xy)}")
            ans.append({f"C{a}": 0.999, NEW_ANSWER: 0.001})
    for u, p, a in zip(extra_units, extra_xy, extra_answers):
        xy.append(p)
        units.append(u), traps.append(len(xy) - 1), st.append(f"S{len(xy)}"), ans.append(a)
    det, post = _table(units, st, ans)
    return det, post, _design(units, traps, xy)


def _draws_of(det, post, pairs, design, n=60, size=20, pe=None, seed=0):
    pe = pe or PairEvidence.from_dict({"intercept": 0.0, "slope": 1.0})
    s = LatentIdentitySampler(seed=seed, burn=30, thin=2).fit(det, post, pairs, design, size, pe)
    d = s.sample(n)
    return d.set_index(det["unit_id"]).iloc[:, 1:], s


def test_two_captures_far_apart_are_rarely_one_animal():
    # u1 and u2 each: catalogue animal X or new, even odds; 20 km apart, sigma about 500 m.
    # Drawn independently they are both X in a quarter of the draws; with the SCR model hardly ever
    amb = {"X": 0.5, NEW_ANSWER: 0.5}
    det, post, design = _anchored(["u1", "u2"], [(-10000, 0), (10000, 0)], [amb, amb])
    d, s = _draws_of(det, post, None, design)
    both_x = ((d.loc["u1"] == "X") & (d.loc["u2"] == "X")).mean()
    one = (d.loc["u1"] == d.loc["u2"]).mean()
    ind = IdentitySampler(seed=0).fit(det, post, None).sample(400).set_index(det["unit_id"]).iloc[:, 1:]
    assert ((ind.loc["u1"] == "X") & (ind.loc["u2"] == "X")).mean() > 0.15
    assert both_x < 0.05 and one < 0.05
    # the anchors hold sigma far below the 20 km between u1 and u2 (about 2 km here: the
    # mask's 1.5 km cells blur their 500 m spread)
    assert s.trace_["sigma"].median() < 5000
    # the sure animals keep their names in every draw
    assert (d.loc["A3-2"] == "C3").all()
    # the same two units a kilometre apart: one animal X as often as the evidence allows
    det2, post2, design2 = _anchored(["u1", "u2"], [(-500, 0), (500, 0)], [amb, amb])
    d2, _ = _draws_of(det2, post2, None, design2)
    assert ((d2.loc["u1"] == "X") & (d2.loc["u2"] == "X")).mean() > 0.15


def test_pair_evidence_groups_new_units():
    new = {"X": 0.0, NEW_ANSWER: 1.0}
    det, post, design = _anchored(["n1", "n2"], [(0, 0), (300, 0)], [new, new])
    pe = PairEvidence.from_dict({"intercept": 0.0, "slope": 1.0})
    strong = pd.DataFrame({"unit_a": ["n1"], "unit_b": ["n2"], "p_same": [0.9999], "base_rate": [0.5]})
    weak = strong.assign(p_same=1e-4)
    d_strong, _ = _draws_of(det, post, strong, design, pe=pe)
    d_weak, _ = _draws_of(det, post, weak, design, pe=pe)
    assert (d_strong.loc["n1"] == d_strong.loc["n2"]).mean() > 0.9
    assert (d_weak.loc["n1"] == d_weak.loc["n2"]).mean() < 0.1
    assert all(str(v).startswith("NEW*") for v in d_strong.loc["n1"])


def test_rules_hold_reviewed_fixed_and_cannot_link():
    amb = {"X": 0.5, "Y": 0.5, NEW_ANSWER: 0.0}
    det, post, design = _anchored(["u1", "u2", "r"], [(0, 0), (200, 0), (100, 0)], [amb, amb, amb])
    # u1 and u2 at two stations five minutes apart: never one animal; r reviewed as Y
    det.loc[det["unit_id"] == "u2", "timestamp"] = det.loc[det["unit_id"] == "u1", "timestamp"].iloc[0] \
        + pd.Timedelta(minutes=5)
    det.loc[det["unit_id"] == "r", ["individual_id", "reviewed_by"]] = ["Y", "ana"]
    d, _ = _draws_of(det, post, None, design)
    assert not (d.loc["u1"] == d.loc["u2"]).any()
    assert (d.loc["r"] == "Y").all()
    assert set(d.loc["u1"]) == {"X", "Y"}


def test_units_in_no_session_are_drawn_and_the_format_is_the_independent_samplers():
    amb = {"X": 0.6, NEW_ANSWER: 0.4}
    det, post, design = _anchored(["u1", "out"], [(0, 0), (100, 0)], [amb, amb])
    keep = design["1"]["units"] != "out"
    design["1"]["units"], design["1"]["trap"] = design["1"]["units"][keep], design["1"]["trap"][keep]
    d = LatentIdentitySampler(seed=1, burn=5, thin=1).fit(
        det, post, None, design, 20, PairEvidence.from_dict({"intercept": 0, "slope": 1})).sample(80)
    ind = IdentitySampler(seed=1).fit(det, post, None).sample(3)
    assert list(d.columns) == ["detection_id"] + [f"draw_{k}" for k in range(1, 81)]
    assert list(d["detection_id"]) == list(ind["detection_id"])
    outside = d.set_index(det["unit_id"]).loc["out"].iloc[1:]
    assert (outside == "X").mean() == pytest.approx(0.6, abs=0.15)


def test_the_sampler_refuses_what_it_cannot_use():
    det, post, design = _anchored([], [], [])
    pe = PairEvidence.from_dict({"intercept": 0, "slope": 1})
    with pytest.raises(ValueError, match="posterior"):
        LatentIdentitySampler().fit(det, None, None, design, 10, pe)
    with pytest.raises(ValueError, match="thin"):
        LatentIdentitySampler(thin=0).fit(det, post, None, design, 10, pe)


# ---------------------------------------------------------------------- through fit_density_imputed
def test_density_with_the_latent_sampler(small_run, tmp_path):
    from lynxid import IdentifyResult, fit_density_imputed
    from lynxid.cli import main
    res = IdentifyResult.read(small_run.results)
    assert res.summary["catalogue_individuals"] == 4
    p, same = _pairs()
    pe_file = PairEvidence().fit(p, same, 0.5).write(tmp_path / "pe.json")
    kw = dict(imputations=4, n_jobs=1, progress=False, occasion_length=5, unknown_stations="exclude",
              detectfn="HN", buffer=6000)
    with pytest.raises(ValueError, match="needs pair_evidence.*lynxid evaluate"):
        fit_density_imputed(res, small_run.survey.stations_csv, sampler="latent", **kw)
    fit = fit_density_imputed(res, small_run.survey.stations_csv, pair_evidence=pe_file, **kw)
    assert fit.settings["sampler"] == "latent" and len(fit.settings["sampler_trace"]) == 4
    e = fit.estimates.iloc[0]
    assert e["lcl"] <= e["estimate"] <= e["ucl"] and "inside the SCR model" in fit.summary()
    no_size = IdentifyResult(res.detections, res.issues, {}, posterior=res.posterior, unit_pairs=res.unit_pairs)
    with pytest.raises(ValueError, match="catalogue_size"):
        fit_density_imputed(no_size, small_run.survey.stations_csv, pair_evidence=pe_file, **kw)
    out = tmp_path / "cli"
    rc = main(["density", "fit", str(small_run.results), "--stations", str(small_run.survey.stations_csv),
               "--imputations", "3", "--jobs", "1", "--occasion-length", "5", "--unknown-stations", "exclude",
               "--detectfn", "HN", "--buffer", "6000", "--pair-evidence", str(pe_file), "--out", str(out)])
    assert rc == 0
    assert json.loads((out / "density_imputed.json").read_text())["settings"]["sampler"] == "latent"


def test_conflict_lists_agree_with_the_pairwise_rule():
    rng = np.random.default_rng(3)
    n = 60
    det = pd.DataFrame({"detection_id": [f"d{i}" for i in range(n)], "unit_id": [f"U{i // 2}" for i in range(n)],
                        "individual_id": "L1", "station": rng.choice(["A", "B", "C"], n),
                        "file": [f"f{rng.integers(0, 40)}.jpg" for _ in range(n)],
                        "timestamp": T0 + pd.to_timedelta(rng.integers(0, 600, n), unit="min")})
    det.loc[det["unit_id"] == "U3", "timestamp"] = pd.NaT
    U = IdentitySampler().fit(det, None, None).units_
    lists = U.conflict_lists(block=7)
    for u in range(len(U.ids)):
        want = [v for v in range(len(U.ids)) if v != u and U.conflict(u, [v])]
        assert lists[u].tolist() == want


def test_a_degenerate_hard_fit_is_no_start_for_the_draws():
    # a hard fit whose sigma sits far beyond the mask (the likelihood's plateau): the draws'
    # optimizer would stay there, so they start from the grid instead
    from lynxid.density_imputation import draw_start, on_plateau
    from lynxid.mask import Mask

    class Fit:
        def __init__(self, sigma):
            self.sigma = sigma

        def detection_parameters(self):
            return {"g0": 0.01, "sigma": self.sigma}

    masks = {"1": Mask(np.array([0.0, 30000.0]), np.array([0.0, 40000.0]), 1000.0)}
    start, limit = draw_start(Fit(1.8e10), masks)
    assert start is None and limit == pytest.approx(50000.0)
    start, _ = draw_start(Fit(2500.0), masks)
    assert start == {"g0": 0.01, "sigma": 2500.0}
    assert on_plateau(Fit(6e4), limit) and not on_plateau(Fit(3e3), limit)
