"""The pair verifier: P(same animal) from how two photos' dense grid matches lie."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lynxid.dense import DENSE_FEATURES
from lynxid.verify import PAIR_FEATURES, PairVerifier, individual_sums, pair_matrix


def _pairs(n, rng, shift=1.0):
    """Synthetic pairs: matching ones have more inliers and cover more of the flank."""
    y = rng.integers(0, 2, n)
    dense = np.abs(rng.normal(size=(n, len(DENSE_FEATURES)))) * 5
    dense[:, 0] = rng.poisson(8 + 25 * shift * y)            # inliers
    dense[:, 5] = np.clip(0.2 + 0.3 * shift * y + rng.normal(0, 0.1, n), 0, 1)   # cover of the query
    return dense, rng.uniform(0.3, 0.8, n), rng.poisson(3, n), y


def test_pair_matrix_columns():
    dense = np.arange(2 * len(DENSE_FEATURES), dtype=float).reshape(2, -1)
    X = pair_matrix(dense, [0.5, 0.6], [0, 9])
    assert X.shape == (2, len(PAIR_FEATURES))
    assert X[1, 0] == pytest.approx(np.log1p(dense[1, 0]))            # inliers on a log scale
    assert X[1, 2] == dense[1, 2]                                      # shares stay as they are
    assert list(X[:, -2]) == [0.5, 0.6] and X[1, -1] == pytest.approx(np.log1p(9))


def test_verifier_separates_and_round_trips_through_json():
    rng = np.random.default_rng(0)
    dense, cos, kp, y = _pairs(600, rng)
    X = pair_matrix(dense, cos, kp)
    v = PairVerifier().fit(X[:400], y[:400])
    p = v.predict(X[400:])
    assert p[y[400:] == 1].mean() > 0.8 and p[y[400:] == 0].mean() < 0.2
    w = PairVerifier.from_dict(json.loads(json.dumps(v.to_dict())))
    np.testing.assert_allclose(w.predict(X[400:]), p)
    bad = v.to_dict() | {"features": ["inliers"]}
    with pytest.raises(ValueError, match="rebuild"):
        PairVerifier.from_dict(bad)


def test_verifier_needs_both_kinds_of_pair():
    X = pair_matrix(np.ones((5, len(DENSE_FEATURES))), np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="non-matching"):
        PairVerifier().fit(X, np.ones(5))


def test_cross_fitting_scores_each_group_with_a_model_that_never_saw_it():
    # labels that are pure noise: fitted in-sample, a flexible enough model finds a pattern;
    # out of fold it must not (its ranking of pairs is then no better than chance)
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(1)
    n = 80
    X = rng.normal(size=(n, len(PAIR_FEATURES)))
    y = rng.integers(0, 2, n)
    groups = np.repeat(np.arange(16), 5)
    p_in = PairVerifier(C=100).fit(X, y).predict(X)
    p_cv = PairVerifier.cross_fitted(X, y, groups, C=100)
    assert np.isfinite(p_cv).all()
    assert roc_auc_score(y, p_in) > 0.7
    assert roc_auc_score(y, p_cv) < roc_auc_score(y, p_in) - 0.15
    # one group: nothing to fit on without it
    assert np.isnan(PairVerifier.cross_fitted(X, y, np.zeros(n))).all()


def test_individual_sums_pool_the_best_pairs_per_key():
    s = individual_sums([(0, "a"), (0, "a"), (0, "b"), (1, "a"), (0, "a")], [0.4, 0.5, 0.2, np.nan, 0.1])
    assert s == {(0, "a"): pytest.approx(0.9), (0, "b"): pytest.approx(0.2)}   # best two of a's three
    assert individual_sums(["a"] * 3, [0.4, 0.5, 0.1], best=3) == {"a": pytest.approx(1.0)}


def test_shortlist_spends_its_matches_on_more_photos_of_fewer_animals():
    from lynxid.match import MAX_PER_INDIVIDUAL, SHORTLIST_PER_INDIVIDUAL, per_individual_for
    assert per_individual_for(500) == per_individual_for(60) == SHORTLIST_PER_INDIVIDUAL
    assert per_individual_for(30) == 4 and per_individual_for(20) == MAX_PER_INDIVIDUAL == per_individual_for(1)


def test_second_look_checks_more_photos_of_the_animals_whose_first_look_matched_best(monkeypatch):
    """The second look follows the first look's verified cells, not the embedding: animal "c"
    has the lowest global similarity but the most verified cells, so it is the one whose
    further photos are checked; the others keep their first look's photos."""
    from lynxid import match
    from lynxid.keypoints import LocalFeatures
    n_per = 6
    names = np.repeat(["a", "b", "c"], n_per)
    sims = np.concatenate([np.linspace(0.9, 0.8, n_per), np.linspace(0.7, 0.6, n_per), np.linspace(0.5, 0.4, n_per)])
    vecs = np.eye(len(names), dtype=np.float32)
    lf = LocalFeatures(np.zeros((10, 2), np.float32), np.zeros((10, 128), np.float32), (64, 64))
    locs = [LocalFeatures(lf.xy, lf.desc, lf.size) for _ in names]
    cells = {id(o): (40.0 if nm == "c" else 5.0) for o, nm in zip(locs, names)}
    checked = []

    def fake(q, others):
        checked.extend(id(o) for o in others)
        return [(0, np.array([cells[id(o)]] + [0.0] * (len(DENSE_FEATURES) - 1))) for o in others]

    monkeypatch.setattr(match, "match_many", fake)
    refs = match.References(vecs, locs, names, np.full(len(names), None, dtype=object), np.arange(len(names)).astype(str))
    per_ind = {}
    for deep in (0, 1):
        checked.clear()
        ev = match.evidence(vecs[0], lf, None, refs, sims=sims, per_individual=2, deep_individuals=deep,
                            deep_per_individual=5)
        got = pd.Series(names[sorted(ev.pair_local)]).value_counts().to_dict()
        per_ind[deep] = got
        assert len(checked) == len(ev.pair_local)            # each photo matched once
    assert per_ind[0] == {"a": 2, "b": 2, "c": 2}
    assert per_ind[1] == {"a": 2, "b": 2, "c": 5}
    # the photos looked at again are c's next best by the embedding, in order
    ev = match.evidence(vecs[0], lf, None, refs, sims=sims, per_individual=2, deep_individuals=1, deep_per_individual=5)
    assert sorted(r for r in ev.pair_local if names[r] == "c") == list(range(12, 17))
    # the budget caps the second look's photos in all, the best animal's first
    monkeypatch.setattr(match, "DEEP_BUDGET", 2)
    ev = match.evidence(vecs[0], lf, None, refs, sims=sims, per_individual=2, deep_individuals=3, deep_per_individual=5)
    assert pd.Series(names[sorted(ev.pair_local)]).value_counts().to_dict() == {"a": 2, "b": 2, "c": 4}


def test_identification_model_keeps_its_second_look_and_old_models_are_refused():
    from lynxid.calibrate import FusionCalibrator
    from lynxid.match import DEEP_INDIVIDUALS, DEEP_PER_INDIVIDUAL
    from lynxid.openset import IdentificationModel
    rng = np.random.default_rng(0)
    cal = FusionCalibrator(False).fit(rng.normal(size=40), None, np.arange(40) % 2)
    d = IdentificationModel().set_fitted(cal).to_dict()
    m = IdentificationModel.from_dict(json.loads(json.dumps(d)))
    assert (m.matcher_.deep_individuals, m.matcher_.deep_per_individual) == (DEEP_INDIVIDUALS, DEEP_PER_INDIVIDUAL)
    d.pop("deep_individuals"), d.pop("deep_per_individual")
    with pytest.raises(ValueError, match="rebuild it with `lynxid catalogue build`"):
        IdentificationModel.from_dict(d)     # a catalogue of lynxid 0.1.0 fitted before the second look


def test_dense_evidence_is_cross_fitted_and_applies_a_given_verifier():
    from lynxid.openset import dense_evidence
    rng = np.random.default_rng(2)
    rows = []
    for q in range(60):
        truth = f"id{q // 3}"
        for k in range(4):
            cand = truth if k == 0 else f"id{(q // 3 + k) % 20}"
            dense, cos, kp, _ = _pairs(1, rng)
            y = int(cand == truth)
            dense[0, 0] = rng.poisson(8 + 25 * y)
            rows.append((q, cand, truth, y, pair_matrix(dense, cos, kp)[0]))
    ptab = pd.DataFrame([r[:4] for r in rows], columns=["query", "individual", "truth", "y"])
    ptab["X"] = [r[4] for r in rows]
    pairs = ptab[["query", "individual"]].drop_duplicates().reset_index(drop=True)
    d, v = dense_evidence(pairs, ptab)
    assert v is not None and len(d) == len(pairs)
    y = (pairs["individual"] == ptab.groupby("query")["truth"].first().reindex(pairs["query"]).to_numpy()).to_numpy()
    assert d[y].mean() > d[~y].mean() + 0.5
    # cross-fitted sums differ from what the in-sample verifier gives; a given verifier is applied as is
    d_given, v2 = dense_evidence(pairs, ptab, v)
    assert v2 is v and not np.allclose(d, d_given)
    np.testing.assert_allclose(d_given, [sum(v.predict(np.stack(g["X"].to_numpy())))
                                         for _, g in ptab.groupby(["query", "individual"], sort=False)])
    # too few pairs of one kind: no verifier, no dense evidence
    d0, v0 = dense_evidence(pairs, ptab[ptab.y == 0])
    assert v0 is None and not d0.any()


def test_rank_sims_choose_what_is_checked_but_not_g(monkeypatch):
    """``rank_sims`` (a learned metric) picks the shortlisted animals and their photos; ``g``
    and the photos' cosine stay those of ``sims``."""
    from lynxid import match
    from lynxid.keypoints import LocalFeatures
    names = np.repeat(["a", "b", "c"], 4)
    sims = np.linspace(0.9, 0.1, len(names))           # a's photos most similar by the raw cosine
    rank = sims[::-1].copy()                            # ... c's by the metric, its last photo first
    vecs = np.eye(len(names), dtype=np.float32)
    lf = LocalFeatures(np.zeros((10, 2), np.float32), np.zeros((10, 128), np.float32), (64, 64))
    locs = [LocalFeatures(lf.xy, lf.desc, lf.size) for _ in names]
    monkeypatch.setattr(match, "match_many",
                        lambda q, others: [(0, np.zeros(len(DENSE_FEATURES))) for _ in others])
    refs = match.References(vecs, locs, names, np.full(len(names), None, dtype=object),
                            np.arange(len(names)).astype(str))
    kw = dict(n_individuals=1, per_individual=2, deep_individuals=0)
    raw = match.evidence(vecs[0], lf, None, refs, sims=sims, **kw)
    assert sorted(raw.pair_local) == [0, 1] and list(raw.individuals[raw.shortlisted]) == ["a"]
    ev = match.evidence(vecs[0], lf, None, refs, sims=sims, rank_sims=rank, **kw)
    assert sorted(ev.pair_local) == [10, 11] and list(ev.individuals[ev.shortlisted]) == ["c"]
    np.testing.assert_allclose(ev.g, raw.g)             # g: the best raw cosine per animal
    np.testing.assert_allclose(ev.g, [sims[0], sims[4], sims[8]])


def test_identification_model_is_a_fitted_part():
    """Settings in the constructor, fitted state (trailing underscore) only once fitted or
    loaded; an unfitted model refuses to be used or saved, saying what to do; the settings
    travel with the fitted state through JSON."""
    from lynxid import IdentificationModel, Matcher
    from lynxid.calibrate import FusionCalibrator
    with pytest.raises(ValueError, match="target must be one of"):
        IdentificationModel(target="accuracy")
    with pytest.raises(ValueError, match="whiten"):
        IdentificationModel(whiten="sometimes")
    m = IdentificationModel(Matcher(use_local=False, per_individual=3), target="balanced", whiten=False)
    assert not m.is_fitted and "not fitted" in repr(m)
    for use in (lambda: m.embed(np.zeros((1, 4))), m.to_dict):
        with pytest.raises(ValueError, match="not fitted: call fit"):
            use()
    rng = np.random.default_rng(1)
    cal = FusionCalibrator(False).fit(rng.normal(size=40), None, np.arange(40) % 2)
    assert m.set_fitted(cal, 2.5) is m and m.is_fitted
    back = IdentificationModel.from_dict(json.loads(json.dumps(m.to_dict())))
    assert (back.target, back.whiten, back.new_weight_) == ("balanced", False, 2.5)
    assert back.matcher_.per_individual == 3 and back.matcher.verifier is None
    # a model stored before the setting was kept gets the one its fit implies
    d = m.to_dict()
    del d["whiten"]
    assert IdentificationModel.from_dict(d).whiten is False
