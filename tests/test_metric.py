"""The embedding's learned metric (lynxid.metric): within-individual whitening fitted on a
labelled catalogue, cross-fitted so that no query is measured with a map that saw its animal."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lynxid import metric


def _nuisance_data(n_ind=40, per=6, seed=0):
    """Unit vectors whose identity lives in 8 weak dimensions and whose photo-to-photo
    nuisance (scenery, light) in 8 strong ones: raw cosine is ruled by the nuisance."""
    rng = np.random.default_rng(seed)
    ident = rng.normal(size=(n_ind, 8))
    X, ind, sight = [], [], []
    for i in range(n_ind):
        for j in range(per):
            v = np.concatenate([ident[i], 3.0 * rng.normal(size=8), 0.05 * rng.normal(size=16)])
            X.append(v / np.linalg.norm(v))
            ind.append(f"ind{i:02d}")
            sight.append(f"ind{i:02d}-s{j // 2}")   # two photos per sighting
    return np.array(X, np.float32), np.array(ind), np.array(sight)


def _rank1(S, ind, sight, rows):
    names, codes = np.unique(ind, return_inverse=True)
    hits = []
    for r, q in enumerate(rows):
        g = sight != sight[q]
        best = np.full(len(names), -np.inf)
        np.maximum.at(best, codes[g], S[r, g])
        hits.append(best.argmax() == codes[q])
    return float(np.mean(hits))


def test_whitening_learned_on_other_individuals_finds_the_right_one():
    X, ind, sight = _nuisance_data()
    folds = metric.folds_of(ind)
    rows = np.arange(len(X))
    raw = _rank1(X @ X.T, ind, sight, rows)
    white = _rank1(metric.cross_fitted_similarities(X, ind, folds), ind, sight, rows)
    assert white > raw + 0.3, (raw, white)
    w, diag = metric.choose(X, ind, [None] * len(X), sight)
    assert w is not None and diag["whitening"] and diag["mrr_whitened"] > diag["mrr_raw"]


def test_cross_fitting_never_uses_the_query_fold_or_photos_outside_train():
    X, ind, sight = _nuisance_data(n_ind=30)
    folds = metric.folds_of(ind[:120])          # the last 5 individuals are not in the catalogue
    train = np.isin(ind, list(folds))
    rows = np.flatnonzero(train)[:20]
    S = metric.cross_fitted_similarities(X, ind, folds, rows, train=train)
    for r, q in enumerate(rows):
        k = folds[ind[q]]
        fit_on = train & np.array([folds.get(i, -1) != k for i in ind])
        Y = metric.fit(X[fit_on], ind[fit_on]).apply(X)
        assert np.allclose(S[r], Y[q] @ Y.T, atol=1e-5)


def test_apply_keeps_missing_vectors_zero_and_round_trips_through_json():
    X, ind, _ = _nuisance_data(n_ind=20)
    w = metric.fit(X, ind)
    X[3] = 0.0
    Y = w.apply(X)
    assert np.all(Y[3] == 0)
    assert np.allclose(np.linalg.norm(np.delete(Y, 3, axis=0), axis=1), 1, atol=1e-5)
    assert np.allclose(w.apply(X[5]), Y[5])
    w2 = metric.Whitening.from_dict(json.loads(json.dumps(w.to_dict())))
    assert np.array_equal(w2.proj, w.proj) and np.array_equal(w2.mean, w.mean)
    assert np.array_equal(w2.apply(X), Y)


def test_small_catalogues_keep_the_raw_embedding():
    X, ind, sight = _nuisance_data(n_ind=metric.MIN_INDIVIDUALS - 1)
    assert metric.fit(X, ind) is None
    w, diag = metric.choose(X, ind, [None] * len(X), sight)
    assert w is None and not diag["whitening"] and "needs more" in diag["whitening_reason"]
    # enough to fit one map on every photo, not on four fifths of the animals (the demo's
    # 8-lynx catalogue): the map cannot be judged, so it is not used
    X, ind, sight = _nuisance_data(n_ind=metric.MIN_INDIVIDUALS)
    assert metric.fit(X, ind) is not None
    w, diag = metric.choose(X, ind, [None] * len(X), sight)
    assert w is None and "needs more" in diag["whitening_reason"]
    # individuals seen once say nothing about within-individual spread
    X, ind, _ = _nuisance_data(n_ind=60, per=1)
    assert metric.fit(X, ind) is None


def test_choose_refuses_a_map_that_does_not_help():
    # identity in every dimension, little noise: raw cosine already ranks every query's own
    # individual first, so no map can rank better and none is kept
    rng = np.random.default_rng(3)
    ident = rng.normal(size=(24, 30))
    X = np.concatenate([ident[i] + 0.01 * rng.normal(size=(4, 30)) for i in range(24)])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ind = np.repeat([f"i{i}" for i in range(24)], 4)
    sight = np.array([f"{a}-{j}" for a, j in zip(ind, np.tile(np.arange(4), 24))])
    w, diag = metric.choose(X.astype(np.float32), ind, [None] * len(X), sight)
    assert diag["mrr_raw"] == pytest.approx(1.0)
    assert w is None and not diag["whitening"]
