"""Calibration: the fused probability of a match must mean what it says."""
import json

import numpy as np
import pytest

from lynxid.calibrate import (MIN_POSITIVES_FOR_ISOTONIC, FusionCalibrator, cross_validated_probabilities,
                              expected_calibration_error, plot_reliability, reliability_table)


def pairs(n, seed, pos_rate=0.25):
    """Synthetic match scores: matching pairs have higher cosine g and more verified keypoint
    matches l, with overlap (so probabilities in between occur)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos_rate).astype(int)
    g = np.where(y == 1, rng.normal(0.72, 0.09, n), rng.normal(0.55, 0.09, n))
    l = np.where(y == 1, rng.poisson(rng.uniform(2, 40, n)), rng.poisson(3, n)).astype(float)
    groups = rng.integers(0, 40, n)
    return g, l, y, groups


def test_ece_calibrated_and_miscalibrated():
    rng = np.random.default_rng(0)
    p = rng.random(50_000)
    y = rng.random(50_000) < p
    assert expected_calibration_error(p, y) < 0.01
    assert expected_calibration_error(p, rng.random(50_000) < p ** 3) > 0.15
    # overconfident: says 0.95 where one in two is right
    assert expected_calibration_error(np.full(1000, 0.95), rng.random(1000) < 0.5) == pytest.approx(0.45, abs=0.05)
    assert expected_calibration_error(np.array([0.0, 1.0]), np.array([0, 1])) == 0.0
    assert np.isnan(expected_calibration_error([np.nan], [1]))
    assert expected_calibration_error([0.3, np.nan], [0, 1]) == pytest.approx(0.3)


@pytest.mark.parametrize("use_local", [True, False])
def test_fusion_recovers_calibration_on_held_out_pairs(use_local):
    g, l, y, groups = pairs(6000, seed=1)
    gt, lt, yt, _ = pairs(6000, seed=2)
    cal = FusionCalibrator(use_local).fit(g, l, y, groups=groups)
    assert cal.n_pos >= MIN_POSITIVES_FOR_ISOTONIC and cal.iso_x is not None
    p = cal.predict(gt, lt)
    assert expected_calibration_error(p, yt) < 0.05
    assert ((p > 0) & (p < 1)).all()
    # the fused model separates better than the cosine alone
    from sklearn.metrics import roc_auc_score
    auc = roc_auc_score(yt, p)
    assert auc > (0.95 if use_local else 0.8)
    if use_local:
        assert auc > roc_auc_score(yt, FusionCalibrator(False).fit(g, l, y).predict(gt, lt)) + 0.02


def test_small_catalogue_uses_platt_only_and_stays_calibrated():
    g, l, y, groups = pairs(300, seed=3, pos_rate=0.2)
    cal = FusionCalibrator().fit(g, l, y, groups=groups)
    assert cal.n_pos < MIN_POSITIVES_FOR_ISOTONIC and cal.iso_x is None
    gt, lt, yt, _ = pairs(20_000, seed=4, pos_rate=0.2)
    assert expected_calibration_error(cal.predict(gt, lt), yt) < 0.06


def test_monotone_in_both_scores():
    g, l, y, groups = pairs(4000, seed=5)
    cal = FusionCalibrator().fit(g, l, y, groups=groups)
    gg = np.linspace(0.2, 1.0, 41)
    for lv in (0, 3, 10, 50):
        p = cal.predict(gg, np.full_like(gg, lv))
        assert (np.diff(p) >= -1e-12).all()
    ll = np.arange(0, 80, dtype=float)
    for gv in (0.4, 0.6, 0.8):
        p = cal.predict(np.full_like(ll, gv), ll)
        assert (np.diff(p) >= -1e-12).all()
    assert cal.predict([0.9], [60])[0] > 0.9 and cal.predict([0.35], [0])[0] < 0.1
    assert (cal.coef >= 0).all()


def test_round_trip_through_json():
    g, l, y, groups = pairs(3000, seed=6)
    cal = FusionCalibrator().fit(g, l, y, groups=groups)
    d = json.loads(json.dumps(cal.to_dict()))
    back = FusionCalibrator.from_dict(d)
    gt, lt, _, _ = pairs(500, seed=7)
    np.testing.assert_array_equal(back.predict(gt, lt), cal.predict(gt, lt))
    assert (back.n_pos, back.n_neg, back.use_local) == (cal.n_pos, cal.n_neg, True)
    small = FusionCalibrator(False).fit(*pairs(200, seed=8)[:3])
    back = FusionCalibrator.from_dict(json.loads(json.dumps(small.to_dict())))
    assert back.iso_x is None and np.array_equal(back.predict([0.5, 0.7]), small.predict([0.5, 0.7]))


def test_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        FusionCalibrator().predict([0.5], [1])
    with pytest.raises(ValueError, match="at least two individuals"):
        FusionCalibrator().fit([0.9, 0.1, 0.2], [5, 0, 0], [1, 0, 0])


def test_predict_without_local_scores():
    g, l, y, groups = pairs(2000, seed=9)
    cal = FusionCalibrator(True).fit(g, l, y, groups=groups)
    p = cal.predict(np.array([0.5, 0.8]))
    np.testing.assert_allclose(p, cal.predict([0.5, 0.8], [0, 0]))


def test_cross_validated_probabilities_and_reliability(tmp_path):
    g, l, y, groups = pairs(3000, seed=10)
    p = cross_validated_probabilities(g, l, y, groups)
    assert np.isfinite(p).all() and expected_calibration_error(p, y) < 0.06
    t = reliability_table(p, y)
    assert len(t) == 10 and t.n.sum() == len(y)
    m = t.n > 50
    assert (abs(t.mean_probability[m] - t.observed_frequency[m]) < 0.1).all()
    out = plot_reliability(p, y, tmp_path / "rel.png")
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"


def test_dense_score_is_a_third_calibrated_feature():
    """A third matcher whose score separates matches (as the dense grid does on nyala, where
    keypoints barely do): the fused model uses it, stays monotone and calibrated, and
    remembers it through JSON; a dict written before it existed still loads."""
    rng = np.random.default_rng(11)

    def triples(n):
        g, l, y, groups = pairs(n, seed=int(rng.integers(1 << 30)))
        d = np.where(y == 1, rng.poisson(25, n), rng.poisson(4, n)).astype(float)
        return g, l, d, y, groups

    g, l, d, y, groups = triples(6000)
    cal = FusionCalibrator(True, use_dense=True).fit(g, l, y, groups=groups, d=d)
    assert cal.use_dense and cal.coef.shape == (3,) and (cal.coef >= 0).all() and cal.coef[2] > 0
    gt, lt, dt, yt, _ = triples(20_000)
    p3 = cal.predict(gt, lt, dt)
    assert expected_calibration_error(p3, yt) < 0.03
    two = FusionCalibrator(True).fit(g, l, y, groups=groups)
    # the extra evidence sharpens the probabilities: lower log-loss than keypoints alone
    ll = lambda p: -np.mean(yt * np.log(p) + (1 - yt) * np.log(1 - p))  # noqa: E731
    assert ll(p3) < ll(two.predict(gt, lt)) - 0.05
    dd = np.arange(0, 60, dtype=float)
    assert (np.diff(cal.predict(np.full_like(dd, 0.6), np.full_like(dd, 2), dd)) >= -1e-12).all()
    back = FusionCalibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_array_equal(back.predict(gt, lt, dt), p3)
    old = two.to_dict()
    old.pop("use_dense")
    assert not FusionCalibrator.from_dict(old).use_dense
    cv = cross_validated_probabilities(g, l, y, groups, d=d)
    assert np.isfinite(cv).all() and expected_calibration_error(cv, y) < 0.05
