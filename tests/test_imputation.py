"""Identification uncertainty carried forward: the calibrated posterior, the identity sampler,
Rubin's rules and the review order (synthetic tables; the pipeline is in test_identify_e2e)."""
import math

import numpy as np
import pandas as pd
import pytest

from lynxid import IdentitySampler, rank_for_review
from lynxid.density_imputation import rubin
from lynxid.posterior import NEW_ANSWER
from lynxid.reported import NEW, ReportedProbability


def _reported(slope=0.5, intercept=0.2):
    r = ReportedProbability()
    r.maps = {"map": "logistic", "all": {"slope": slope, "intercept": intercept}, "decisions": 100}
    return r


def test_posterior_sums_to_one_and_reports_the_mapped_decision():
    rep = _reported()
    pk, p_new = np.array([0.7, 0.2, 0.05]), 0.05
    out, out_new = rep.posterior(pk, p_new, 0)
    assert out.sum() + out_new == pytest.approx(1.0)
    assert out[0] == pytest.approx(rep.predict(np.array([0.7]), np.array([False]))[0])
    # the others keep their proportions
    assert out[1] / out[2] == pytest.approx(0.2 / 0.05)
    assert out_new / out[2] == pytest.approx(1.0)
    # a "new" decision: P(new) is the mapped one
    out, out_new = rep.posterior(pk, 0.8, NEW)
    assert out_new == pytest.approx(rep.predict(np.array([0.8]), np.array([True]))[0])
    assert out.sum() + out_new == pytest.approx(1.0)


def test_posterior_of_a_sure_model_spreads_what_the_map_takes_away():
    out, out_new = _reported(0.2, 0.0).posterior(np.array([1.0, 0.0]), 0.0, 0)
    assert out[0] < 1 and out[1] == pytest.approx(out_new) and out[1] > 0
    assert out.sum() + out_new == pytest.approx(1.0)


def _survey(n_units=4, stations=("A", "B", "C", "D"), minutes_apart=600):
    """One detection per unit, each at its own station, far apart in time unless told."""
    t0 = pd.Timestamp("2025-03-01 20:00")
    rows = [dict(detection_id=f"d{u}", unit_id=f"U{u}", event_id=f"U{u}", station=stations[u % len(stations)],
                 timestamp=t0 + pd.Timedelta(minutes=minutes_apart * u), file=f"f{u}.jpg", individual_id="L1",
                 is_new=False, probability=0.5, reviewed_by=None) for u in range(n_units)]
    return pd.DataFrame(rows)


def _posterior(rows):
    return pd.DataFrame(rows, columns=["unit_id", "rank", "answer", "probability"])


def test_draws_follow_the_posterior():
    det = _survey(1)
    post = _posterior([("U0", 1, "L1", 0.6), ("U0", 2, "L2", 0.3), ("U0", 0, NEW_ANSWER, 0.1)])
    pairs = pd.DataFrame({"unit_a": [], "unit_b": [], "p_same": []})
    d = IdentitySampler(seed=3).fit(det, post, pairs).sample(3000)
    vals = d.iloc[0, 1:].to_numpy(object)
    assert np.mean(vals == "L1") == pytest.approx(0.6, abs=0.03)
    assert np.mean(vals == "L2") == pytest.approx(0.3, abs=0.03)
    assert np.mean([str(v).startswith("NEW*") for v in vals]) == pytest.approx(0.1, abs=0.02)
    # below the floor, never new: L1 2/3, L2 1/3
    post.loc[post["answer"] == NEW_ANSWER, "probability"] = 0.005
    vals = IdentitySampler(seed=3).fit(det, post, pairs).sample(3000).iloc[0, 1:].to_numpy(object)
    assert np.mean(vals == "L1") == pytest.approx(2 / 3, abs=0.03)
    assert not any(str(v).startswith("NEW*") for v in vals)


def test_new_units_join_with_the_pairwise_probability():
    det = _survey(2)
    post = _posterior([("U0", 1, "L1", 0.0), ("U0", 0, NEW_ANSWER, 1.0),
                       ("U1", 1, "L1", 0.0), ("U1", 0, NEW_ANSWER, 1.0)])
    pairs = pd.DataFrame({"unit_a": ["U0"], "unit_b": ["U1"], "p_same": [0.3]})
    d = IdentitySampler(seed=1).fit(det, post, pairs).sample(4000)
    same = (d.iloc[0, 1:] == d.iloc[1, 1:]).mean()
    assert same == pytest.approx(0.3, abs=0.03)
    assert all(str(v).startswith("NEW*") for v in d.iloc[:, 1:].to_numpy().ravel())


def test_a_unit_drawn_new_joins_the_known_animal_its_photos_match():
    # U0 is surely L1; U1 the catalogue could not place (new), but it matches U0 strongly:
    # it is L1 in most draws rather than one more animal
    det = _survey(2)
    post = _posterior([("U0", 1, "L1", 1.0), ("U0", 0, NEW_ANSWER, 0.0),
                       ("U1", 1, "L2", 0.0), ("U1", 0, NEW_ANSWER, 1.0)])
    strong = pd.DataFrame({"unit_a": ["U0"], "unit_b": ["U1"], "p_same": [0.99], "base_rate": [0.5]})
    d = IdentitySampler(seed=2).fit(det, post, strong).sample(2000)
    assert (d.iloc[0, 1:] == "L1").all()
    assert (d.iloc[1, 1:] == "L1").mean() == pytest.approx(0.99, abs=0.01)
    # no evidence between them: U1 stays an animal of its own
    none = strong.iloc[:0]
    d = IdentitySampler(seed=2).fit(det, post, none).sample(200)
    assert all(str(v).startswith("NEW*") for v in d.iloc[1, 1:])


def test_cannot_link_keeps_a_name_from_two_places_at_once():
    det = _survey(2, minutes_apart=5)          # two stations five minutes apart
    post = _posterior([("U0", 1, "L1", 0.9), ("U0", 2, "L2", 0.1), ("U0", 0, NEW_ANSWER, 0.0),
                       ("U1", 1, "L1", 0.9), ("U1", 2, "L2", 0.1), ("U1", 0, NEW_ANSWER, 0.0)])
    d = IdentitySampler(seed=0).fit(det, post, None).sample(500)
    assert not (d.iloc[0, 1:] == d.iloc[1, 1:]).any()
    # both at one station: allowed
    det2 = _survey(2, stations=("A",), minutes_apart=5)
    d2 = IdentitySampler(seed=0).fit(det2, post, None).sample(500)
    assert (d2.iloc[0, 1:] == d2.iloc[1, 1:]).mean() > 0.7


def test_reviewed_detections_are_fixed_and_rejected_ones_left_out():
    det = _survey(3)
    det.loc[0, ["individual_id", "reviewed_by"]] = ["L2", "ana"]
    det.loc[1, ["individual_id", "reviewed_by"]] = [None, "ana"]
    post = _posterior([(f"U{u}", 1, "L1", 0.5) for u in range(3)] + [(f"U{u}", 2, "L2", 0.5) for u in range(3)]
                      + [(f"U{u}", 0, NEW_ANSWER, 0.0) for u in range(3)])
    d = IdentitySampler(seed=0).fit(det, post, None).sample(200)
    assert (d.iloc[0, 1:] == "L2").all()
    assert d.iloc[1, 1:].isna().all()
    assert set(d.iloc[2, 1:]) == {"L1", "L2"}


def test_every_detection_of_a_unit_gets_one_animal():
    det = pd.concat([_survey(1)] * 3, ignore_index=True)
    det["detection_id"] = ["a", "b", "c"]
    det["flank"] = ["left", "right", "left"]
    post = _posterior([("U0", 1, "L1", 0.5), ("U0", 2, "L2", 0.5), ("U0", 0, NEW_ANSWER, 0.0)])
    d = IdentitySampler(seed=0).fit(det, post, None).sample(100)
    assert (d.iloc[:, 1:].nunique(axis=0) == 1).all()


def test_without_a_posterior_the_draws_are_the_hard_calls():
    det = _survey(2)
    d = IdentitySampler().fit(det, None, None).sample(5)
    assert (d.iloc[:, 1:] == "L1").all().all()


def test_rubin_rules_by_hand():
    q, u = np.log([4.0, 5.0, 6.0]), np.array([0.04, 0.05, 0.06])
    r = rubin(q, u)
    W, B = 0.05, np.var(q, ddof=1)
    T = W + (1 + 1 / 3) * B
    assert r["T"] == pytest.approx(T)
    assert r["share_identification"] == pytest.approx((1 + 1 / 3) * B / T)
    assert r["estimate"] == pytest.approx(math.exp(q.mean()))
    assert r["lcl"] < r["lcl_ids_certain"] < r["estimate"] < r["ucl_ids_certain"] < r["ucl"]
    same = rubin(np.log([5.0] * 4), np.full(4, 0.05))
    assert same["share_identification"] == 0 and same["lcl"] == pytest.approx(same["lcl_ids_certain"])


def test_review_order_puts_the_unit_that_moves_d_first():
    det = _survey(3)
    det["is_new"] = [False, False, True]
    det["individual_id"] = ["L1", "L2", "NEW-001"]
    K = 40
    rng = np.random.default_rng(0)
    swap = rng.random(K) < 0.5                 # unit 2 new or L1 in half the draws: that moves D
    draws = pd.DataFrame({"detection_id": det["detection_id"],
                          **{f"draw_{k + 1}": ["L1", "L2" if rng.random() < 0.8 else "L3",
                                               "L1" if swap[k] else "NEW*001"] for k in range(K)}})
    log_d = pd.Series(np.where(swap, 1.0, 1.5) + rng.normal(0, 0.01, K), index=draws.columns[1:])
    out = rank_for_review(det, draws, log_d, known=["L1", "L2", "L3"], total_variance=0.1)
    assert list(out["unit_id"][:2]) == ["U2", "U1"]
    assert out["priority"].tolist() == [1, 2, 3]
    assert out.loc[0, "p_other"] == pytest.approx(swap.mean())
    assert out.loc[0, "share_reduction"] > out.loc[1, "share_reduction"]


# ---------------------------------------------------------------- on a real identify run
def test_identify_writes_a_posterior_that_matches_the_detections(small_run):
    from lynxid.results import IdentifyResult
    res = IdentifyResult.read(small_run.results)
    post, det = res.posterior, res.detections
    assert set(det["unit_id"]) == set(post["unit_id"])
    sums = post.groupby("unit_id")["probability"].sum()
    assert np.allclose(sums, 1.0, atol=1e-6)
    # the probability shown is the decided answer's posterior
    for r in det.drop_duplicates("unit_id").itertuples():
        p = post[post.unit_id == r.unit_id]
        answer = NEW_ANSWER if r.is_new else r.machine_individual_id
        assert p.loc[p.answer == answer, "probability"].iat[0] == pytest.approx(r.probability, abs=1e-4)
    pairs = res.unit_pairs
    assert ((pairs["p_same"] >= 0) & (pairs["p_same"] <= 1)).all()
    assert (pairs["unit_a"] < pairs["unit_b"]).all()


def test_density_with_imputations_from_the_command_line(small_run, tmp_path):
    import json

    from lynxid.cli import main
    out = tmp_path / "mi"
    rc = main(["density", "fit", str(small_run.results), "--stations", str(small_run.survey.stations_csv),
               "--imputations", "6", "--jobs", "1", "--occasion-length", "5", "--unknown-stations", "exclude",
               "--detectfn", "HN", "--buffer", "6000", "--out", str(out)])
    assert rc == 0
    got = json.loads((out / "density_imputed.json").read_text())
    e = got["estimates"][0]
    assert e["lcl"] <= e["lcl_ids_certain"] <= e["estimate"] <= e["ucl_ids_certain"] <= e["ucl"]
    assert 0 <= e["share_identification"] <= 1 and e["draws"] + sum(d["error"] is not None for d in got["draws"]) == 6
    order = pd.read_csv(out / "review_priority.csv")
    assert order["priority"].tolist() == list(range(1, len(order) + 1))
    assert order["variance_reduction"].is_monotonic_decreasing


def test_review_cards_follow_the_review_order(small_run):
    from lynxid.results import read_detections
    from lynxid.review import review_items
    det, _ = read_detections(small_run.results)
    plain = review_items(det, "all")
    events = plain["event_id"].tolist()[::-1]          # any order other than least certain first
    prio = pd.DataFrame({"event_id": events, "priority": range(1, len(events) + 1),
                         "share_reduction": np.linspace(0.3, 0.0, len(events))})
    ranked = review_items(det, "all", prio)
    assert ranked["event_id"].tolist()[:len(set(events))] == list(dict.fromkeys(events))
    assert ranked["priority"].notna().all()


def test_uncertain_calls_are_counted_and_cautioned():
    """The share of calls their own probabilities expect to be wrong (a reviewed one counts as
    right) is reported with the imputed density, and above the caution level the summary
    says not to trust D as it is."""
    from lynxid.density_imputation import WRONG_CALLS_CAUTION, ImputedDensity, expected_wrong_calls
    det = pd.DataFrame({"probability": [0.9, 0.5, np.nan, 0.2], "reviewed_by": [None, None, None, "me"]})
    assert expected_wrong_calls(det) == pytest.approx((0.1 + 0.5 + 0.0) / 3)
    assert expected_wrong_calls(pd.DataFrame({"station": ["A"]})) is None
    est = pd.DataFrame([{"session": "1", "estimate": 3.0, "SE": 0.3, "lcl": 2.0, "ucl": 4.0, "lcl_ids_certain": 2.5,
                         "ucl_ids_certain": 3.5, "share_identification": 0.3, "df": 10.0, "draws": 1}])
    draws = pd.DataFrame({"draw": ["draw_1"], "session": ["1"], "D": [3.0], "SE": [0.3], "animals": [10],
                          "error": [None]})
    below, above = WRONG_CALLS_CAUTION / 2, min(0.95, 2 * WRONG_CALLS_CAUTION)
    calm = ImputedDensity(est, {}, draws, settings={"expected_wrong_calls": below}).summary()
    loud = ImputedDensity(est, {}, draws, settings={"expected_wrong_calls": above}).summary()
    assert f"expect {100 * below:.0f} % of them to be wrong" in calm and "not to be trusted" not in calm
    assert f"expect {100 * above:.0f} % of them to be wrong" in loud and "not to be trusted" in loud


def test_imputed_density_warns_when_the_calls_are_too_uncertain(small_run):
    from lynxid import IdentifyResult, fit_density_imputed
    from lynxid.density_imputation import IdentificationErrorWarning
    res = IdentifyResult.read(small_run.results)
    kw = dict(imputations=3, n_jobs=1, progress=False, occasion_length=5, unknown_stations="exclude",
              detectfn="HN", buffer=6000)
    doubtful = res.detections.assign(probability=0.5, reviewed_by=None)
    res_doubtful = IdentifyResult(doubtful, res.issues, dict(res.summary), posterior=res.posterior,
                                  unit_pairs=res.unit_pairs)
    with pytest.warns(IdentificationErrorWarning, match="50 % of them to be wrong"):
        fit = fit_density_imputed(res_doubtful, small_run.survey.stations_csv, **kw)
    assert fit.settings["expected_wrong_calls"] == pytest.approx(0.5)
    assert "not to be trusted" in fit.summary()


def test_named_map_reads_p_new_where_it_tells_right_from_wrong():
    """Two named decisions shown with the same probability can differ in how often they are
    right, by where the rest of the probability sits (rival candidates or "new"): the named map
    reads P(new) where it tells them apart (and refuses to be applied without it)."""
    from lynxid.calibrate import expected_calibration_error
    rng = np.random.default_rng(3)
    n = 800
    shown = rng.uniform(0.3, 0.8, n)
    known = np.arange(n) < n // 2
    p_new = np.where(known, rng.uniform(0.02, 0.2, n), rng.uniform(0.1, 0.4, n))
    z = 1.5 * np.log(shown / (1 - shown)) + 1.5 * np.log(p_new / (1 - p_new)) + 2.5
    right = rng.random(n) < 1 / (1 + np.exp(-z))
    table = pd.DataFrame({"scenario": np.where(known, "known", "unknown"), "shown": shown, "called_new": False,
                          "p_new": p_new, "right": right})
    new_calls = pd.DataFrame({"scenario": np.repeat(["known", "unknown"], 150), "shown": rng.uniform(0.4, 0.9, 300),
                              "called_new": True, "p_new": 0.5, "right": rng.random(300) < 0.7})
    rep = ReportedProbability().fit(pd.concat([table, new_calls], ignore_index=True))
    assert rep.maps["named"]["slope_new"] > 0 and rep.maps["named"]["slope"] > 0
    with_new = rep.predict(shown, np.zeros(n, bool), p_new)
    one = ReportedProbability().fit(pd.concat([table, new_calls], ignore_index=True).drop(columns="p_new"))
    assert "slope_new" not in one.maps["named"]
    without = one.predict(shown, np.zeros(n, bool))
    brier = lambda p: float(np.mean((p - right) ** 2))  # noqa: E731
    assert brier(with_new) < brier(without) - 0.03                   # it tells them apart
    assert expected_calibration_error(with_new, right) < 0.06        # and stays calibrated
    with pytest.raises(ValueError, match="reads P\\(new\\)"):
        rep.predict(shown, np.zeros(n, bool))
    # the posterior passes P(new) on: the decided answer's probability is the two-input map's
    pk, pn = rep.posterior(np.array([0.6, 0.1]), 0.3, 0)
    assert pk[0] == pytest.approx(rep.predict([0.6], [False], [0.3])[0]) and pk.sum() + pn == pytest.approx(1)
