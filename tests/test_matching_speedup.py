"""The fast tentative matching in keypoints gives exactly what the sort-based original gave."""
import numpy as np
import pytest

from lynxid.keypoints import LocalFeatures, _tentative, match
from lynxid.threads import one_blas_thread


def _reference_tentative(a, b, ratio):
    """The original implementation (argpartition + sort), kept as the specification. The
    product runs on one BLAS thread as in _tentative: with several, float32 sums may end in
    other last bits, and exact ties (this test makes some) then fall the other way."""
    with one_blas_thread():
        sims = a.desc @ b.desc.T
    if sims.shape[1] < 2:
        return np.zeros((0, 2), np.int64)
    top2 = np.argpartition(-sims, 1, axis=1)[:, :2]
    s1 = np.take_along_axis(sims, top2, axis=1)
    order = np.argsort(-s1, axis=1)
    best = np.take_along_axis(top2, order[:, :1], axis=1)[:, 0]
    s_best = np.take_along_axis(s1, order[:, :1], axis=1)[:, 0]
    s_second = np.take_along_axis(s1, order[:, 1:2], axis=1)[:, 0]
    d1 = np.sqrt(np.maximum(0, 2 - 2 * s_best))
    d2 = np.sqrt(np.maximum(0, 2 - 2 * s_second))
    ok = d1 < ratio * d2
    ok &= np.argmax(sims, axis=0)[best] == np.arange(len(best))
    ia = np.nonzero(ok)[0]
    return np.column_stack([ia, best[ia]])


def _features(rng, n, base=None, noise=0.0, quantise=True):
    desc = rng.random((n, 128)).astype(np.float32) if base is None else base + noise * rng.random(base.shape)
    arrs = {"xy": (rng.random((n, 2)) * 500).astype(np.float32),
            "desc": np.round(np.sqrt(desc / desc.sum(1, keepdims=True)) * 255).astype(np.uint8) if quantise
            else desc, "size": np.array([500, 400], np.int32)}
    return LocalFeatures.from_arrays(arrs)


@pytest.mark.parametrize("seed", range(6))
def test_same_tentative_matches_as_the_sort_based_original(seed):
    rng = np.random.default_rng(seed)
    a = _features(rng, int(rng.integers(2, 300)))
    # b shares some descriptors with a (true matches), has exact duplicates (ties), and noise
    shared = a.desc[rng.choice(len(a), min(len(a), 40), replace=False)]
    other = _features(rng, int(rng.integers(2, 300))).desc
    desc_b = np.concatenate([shared, shared[:5], other]).astype(np.float32)
    b = LocalFeatures((rng.random((len(desc_b), 2)) * 500).astype(np.float32), desc_b, (500, 400))
    for ratio in (0.7, 0.85, 0.95):
        for x, y in ((a, b), (b, a), (a, a)):
            np.testing.assert_array_equal(_tentative(x, y, ratio), _reference_tentative(x, y, ratio))


def test_degenerate_sizes():
    rng = np.random.default_rng(0)
    one, many = _features(rng, 1), _features(rng, 50)
    empty = LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), (10, 10))
    for x, y in ((one, many), (many, one), (many, empty)):
        np.testing.assert_array_equal(_tentative(x, y, 0.85).reshape(-1, 2),
                                      _reference_tentative(x, y, 0.85).reshape(-1, 2))
    assert _tentative(empty, many, 0.85).shape == (0, 2)     # the original raised here (never reached via match)
    assert match(empty, many).inliers == 0
