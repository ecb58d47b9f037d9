"""The evaluation harness: its metrics by hand, and a run on a simulated labelled dataset
whose photos the method can tell apart (so the figures must be high) next to one it cannot."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from lynxid.evaluate import average_precision, individual_rank, evaluate_dataset, format_report
from lynxid.match import Matcher

# minutes of model fitting and feature extraction: `make test-fast` leaves it out, CI runs it
pytestmark = pytest.mark.slow


def test_rank_counts_ties_against_the_truth():
    names = np.array(["a", "b", "c"])
    # an isotonic calibrator often gives every candidate one probability: not a rank-1 hit
    assert individual_rank(names, np.array([0.5, 0.5, 0.5]), "a") == 2
    assert individual_rank(names, np.array([0.9, 0.5, 0.5]), "a") == 0
    assert individual_rank(names, np.array([0.1, 0.5, 0.9]), "a") == 2
    # a second key breaks the first's ties, and only those
    assert individual_rank(names, (np.array([0.5, 0.5, 0.5]), np.array([3.0, 2.0, 0.0])), "a") == 0
    assert individual_rank(names, (np.array([0.5, 0.5, 0.5]), np.array([1.0, 2.0, 0.0])), "a") == 1
    assert individual_rank(names, (np.array([0.4, 0.5, 0.5]), np.array([9.0, 2.0, 0.0])), "a") == 2
    assert individual_rank(names, np.array([0.1, 0.5, 0.5]), "absent") == 3


def test_average_precision_by_hand():
    # relevant at ranks 1 and 3: AP = (1/1 + 2/3) / 2; precision at R=2: 1/2
    ap, pr = average_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0]))
    assert ap == pytest.approx((1 + 2 / 3) / 2)
    assert pr == pytest.approx(0.5)
    # MAP@R (Musgrave et al.): [miss, hit, hit], R = 2 -> (0 + 1/2) / 2
    _, mapr = average_precision(np.array([0.9, 0.8, 0.7]), np.array([0, 1, 1]))
    assert mapr == pytest.approx(0.25)
    # an explicit order: items 1, 2, 3, 0 -> relevant at ranks 2 and 4
    ap, _ = average_precision(np.array([1, 2, 3, 0]), np.array([1, 0, 1, 0]), ranked=True)
    assert ap == pytest.approx((1 / 2 + 2 / 4) / 2)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A folder-per-individual dataset: the simulator's catalogue of 6 lynx, 3 sightings x 2
    flanks each ("01_left.jpg"), with MegaDetector boxes."""
    from lynxid.simulate import SurveyConfig, simulate_survey
    root = tmp_path_factory.mktemp("evaluate")
    cfg = SurveyConfig(n_individuals=6, n_known=6, n_days=5, max_detections=1, inject_bad_files=False, seed=11)
    return simulate_survey(root / "survey", cfg, progress=False)


def test_evaluate_on_distinguishable_animals(labelled):
    rep = evaluate_dataset(labelled.catalogue_images, megadetector=labelled.catalogue_megadetector_json,
                           progress=False)
    assert rep["images"] == 36 and rep["individuals"] == 6 and rep["with_flank"] == 36
    modes = rep["modes"]
    # every photo has 2 other sightings of its flank and 5 other photos of its individual
    assert modes["all"]["queries"] == 36 and modes["same-flank"]["queries"] == 36
    assert modes["excl-sighting"]["queries"] == 36
    # simulated coats are unique and RANSAC-verifiable (chance is 1/6; measured 0.83 for both,
    # while the global embedding alone mostly matches the shared scenery)
    sf = modes["same-flank"]["full"]
    assert sf["rank1"] >= 0.7
    assert modes["excl-sighting"]["full"]["rank1"] >= 0.7
    assert sf["rank1"] >= modes["same-flank"]["global"]["rank1"]
    for m in modes.values():
        for meth in ("global", "full"):
            r = m[meth]
            assert 0 <= r["rank1"] <= r["rank5"] <= 1 and 0 < r["mAP"] <= 1
    o = rep["open_set"]
    assert o["known_individuals"] == 3 and o["unknown_individuals"] == 3
    assert 0 <= o["BAKS"] <= 1 and 0 <= o["BAUS"] <= 1 and o["gmean"] == pytest.approx(np.sqrt(o["BAKS"] * o["BAUS"]))
    # BAKS is bounded by how often the top candidate is right at all
    assert o["BAKS"] <= o["baks_ceiling"] <= 1 and o["gmean"] <= o["gmean_ceiling"] + 1e-12
    assert 0 < o["gmean_best_threshold_in_hindsight"] <= o["gmean_ceiling"] + 1e-12
    # every unknown photo and every known one with another sighting in the catalogue is a decision
    # (here all 36: every photo has two other sightings of its flank)
    assert o["decisions"] == 36 and 0 <= o["ece_decision"] <= 1 and 0 < o["mean_shown_probability"] <= 1
    # the default maps' figure, and each kind of map measured on the same decisions beside it
    from lynxid.openset_evaluation import REPORTED_MAPS
    assert set(o["ece_decision_by_map"]) == set(REPORTED_MAPS)
    assert o["ece_decision_by_map"][next(iter(REPORTED_MAPS))] == pytest.approx(o["ece_decision"])
    # the pair evidence: measured on the pairs of unknown photos called new where there are at
    # least 20 of each kind, else None (and the report says so)
    assert "pair_evidence" in o and "new_pairs" in o
    same = sum(bool(t) for _, t in o["new_pairs"])
    assert (o["pair_evidence"] is None) == (min(same, len(o["new_pairs"]) - same) < 20)
    text = format_report(rep)
    assert "pairs of photos called new" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("same-flank") and " full " in ln)
    assert "rank-1 =" in line and f"{100 * sf['rank1']:5.1f} %" in line


def test_open_set_counts_a_shortlist_miss_as_a_wrong_answer(labelled):
    """A known photo whose animal the shortlist leaves out still counts in BAKS, as a wrong
    answer, not as a query dropped from the open set (every animal with a photo in the
    gallery is a candidate, the shortlisted ones with local evidence). With one animal
    shortlisted per query, dropping the misses would make the top candidate right for every
    query left (ceiling 1.0)."""
    rep = evaluate_dataset(labelled.catalogue_images, megadetector=labelled.catalogue_megadetector_json,
                           matcher=Matcher(n_individuals=1), progress=False)
    o = rep["open_set"]
    assert o["decisions"] == 36                    # 18 unknown + all 18 known photos
    assert o["BAKS"] <= o["baks_ceiling"] < 1


def test_evaluate_cannot_be_flattered_by_ties(labelled, tmp_path):
    """Photos whose individual label is random noise: whatever the calibrator does with them
    (a flat isotonic fit gives every candidate one probability), rank-1 stays near chance."""
    src = labelled.catalogue_images
    rng = np.random.default_rng(0)
    files = sorted(src.rglob("*.jpg"))
    labels = rng.permutation(np.repeat(np.arange(6), 6))
    for f, lab in zip(files, labels):
        d = tmp_path / f"x{lab}"
        d.mkdir(exist_ok=True)
        shutil.copy(f, d / f"{f.parent.name}{f.stem}_{f.stem.split('_')[1]}.jpg")
    rep = evaluate_dataset(tmp_path, progress=False)
    for mode in ("all", "same-flank", "excl-sighting"):
        r = rep["modes"][mode]
        if r["queries"]:
            assert r["full"]["rank1"] < 0.6, mode   # chance is 1/6; a tie-flattered rank-1 is 1.0


def test_open_set_calls_report_what_identify_shows():
    """Per query: the probability shown with the decision is P(named individual) or P(new),
    from the odds of all candidates and the 'new' weight c."""
    from lynxid.openset_evaluation import open_set_calls

    class Identity:   # a calibrator whose probability is the global score itself
        def predict(self, g, l=None, d=None):
            return np.asarray(g, float)

        def ranking_key(self, g, l=None, d=None):
            return np.asarray(g, float)

    pairs = pd.DataFrame({"query": [0, 0, 1, 1], "individual": ["a", "b", "a", "b"], "g": [0.8, 0.5, 0.2, 0.1],
                          "l": 0.0, "d": 0.0, "truth": ["a", "a", "z", "z"], "eligible": [True, True, False, False]})
    c = 1.0
    calls = open_set_calls(pairs, pd.DataFrame(), Identity(), c)
    o0, o1 = np.array([4.0, 1.0]), np.array([0.25, 0.1 / 0.9])   # odds p / (1 - p)
    assert calls.loc[0, "top"] == "a" and not calls.loc[0, "called_new"]
    assert calls.loc[0, "shown"] == pytest.approx(o0[0] / (c + o0.sum()))
    assert calls.loc[1, "called_new"] and calls.loc[1, "shown"] == pytest.approx(c / (c + o1.sum()))


def test_evaluate_metric_for_the_shortlist_only(labelled, monkeypatch):
    """whiten="shortlist": the full method's evidence gets the metric's similarities to choose
    its shortlist (cross-fitted: never a map fitted on the query's own individual) and the raw
    cosine as g."""
    from lynxid import match, metric
    with pytest.raises(ValueError, match="whiten"):
        evaluate_dataset(labelled.catalogue_images, whiten="maybe", progress=False)
    monkeypatch.setattr(metric, "MIN_INDIVIDUALS", 3)
    monkeypatch.setattr(metric, "MIN_WITHIN", 8)
    monkeypatch.setattr(metric, "choose", lambda X, ind, *a, **k: (metric.fit(X, ind), {"whitening": True}))
    calls = []
    real = match.evidence
    monkeypatch.setattr(match, "evidence", lambda q, *a, **k: calls.append((q, k["sims"], k.get("rank_sims"))) or real(q, *a, **k))
    rep = evaluate_dataset(labelled.catalogue_images, megadetector=labelled.catalogue_megadetector_json,
                           whiten="shortlist", progress=False)
    assert rep["whitening"]["use"] == "shortlist"
    assert calls and all(r is not None for _, _, r in calls)
    # g: the raw cosine to every photo (the first protocol queries each of the 36 in order);
    # the shortlist: the metric's similarities, which differ
    V = np.stack([q for q, _, _ in calls[:36]])
    assert all(np.allclose(s, V @ q, atol=1e-5) for q, s, _ in calls[:36])
    assert any(not np.allclose(s, r) for _, s, r in calls)
    assert rep["modes"]["same-flank"]["full"]["rank1"] >= 0.5
