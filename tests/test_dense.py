"""Dense CNN grid features: the same coat matches itself under pose and light changes, another
coat and a mirrored coat do not; they survive the cache and the background mask."""
import numpy as np
import pytest

from lynxid.dense import DENSE_SIZE, extract_dense, match_dense
from lynxid.features import local_features
from lynxid.foreground import filter_keypoints
from lynxid.keypoints import LocalFeatures, match

from test_keypoints import crop_of, transformed


@pytest.fixture(scope="module")
def grids():
    a = crop_of(1)
    crops = {"a": a, "a_moved": transformed(a, angle=8, scale=0.85), "other": crop_of(2, seed=1),
             "mirror": np.ascontiguousarray(a[:, ::-1])}
    return {k: (extract_dense(v), (v.shape[1], v.shape[0])) for k, v in crops.items()}


def score(grids, a, b):
    (axy, ad), _ = grids[a]
    (bxy, bd), bsize = grids[b]
    return match_dense(axy, ad, bxy, bd, bsize)


def test_grid_shape_units_and_coordinates(grids):
    (xy, desc), (w, h) = grids["a"]
    cells = round(DENSE_SIZE / 8 * DENSE_SIZE / 8 * min(w, h) / max(w, h))
    # half the grid is kept, in the crop's own pixel frame
    assert abs(len(xy) - cells // 2) <= max(w, h) / 8
    assert desc.shape == (len(xy), 40) and desc.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(desc, axis=1), 1, atol=1e-4)
    assert (xy[:, 0] > 0).all() and (xy[:, 0] < w).all() and (xy[:, 1] > 0).all() and (xy[:, 1] < h).all()


def test_same_coat_under_pose_and_light_matches_far_better_than_another(grids):
    same = score(grids, "a", "a_moved")
    other = score(grids, "a", "other")
    mirror = score(grids, "a", "mirror")
    assert same >= 40, same
    assert same > 3 * max(other, mirror, 5), (same, other, mirror)


def test_identical_grids_and_degenerate_input():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 400, (300, 2)).astype(np.float32)
    d = rng.normal(size=(300, 40)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    assert match_dense(xy, d, xy + 3, d, (400, 400)) == 300
    # a scale change beyond 2x is not the same animal at another distance
    assert match_dense(xy, d, xy * 3, d, (1200, 1200)) == 0
    assert match_dense(xy[:3], d[:3], xy, d, (400, 400)) == 0
    assert match_dense(None, None, xy, d, (400, 400)) == 0


def test_local_features_carry_the_grid_through_cache_match_and_mask():
    a, b = crop_of(1), transformed(crop_of(1), angle=8, scale=0.85)
    la, lb = local_features(a), local_features(b)
    assert la.dense_desc is not None and len(la.dense_xy) == len(la.dense_desc)
    back = LocalFeatures.from_arrays(la.to_arrays())
    assert back.to_arrays()["dense_desc"].dtype == np.float16
    r1, r2 = match(la, lb), match(back, lb)
    assert r1.dense >= 40 and abs(r1.dense - r2.dense) <= 0.1 * r1.dense + 2
    # a foreground mask over the left half keeps only the cells there
    h, w = a.shape[:2]
    mask = np.zeros((64, 64), bool)
    mask[:, :32] = True
    kept = filter_keypoints(la, mask, (0.0, 0.0, 1.0, 1.0), pad=0.0)
    assert 0 < len(kept.dense_xy) < len(la.dense_xy)
    assert (kept.dense_xy[:, 0] <= w / 2 + w / 64).all()
    # features without a grid (older callers) still match by keypoints, with a dense score of 0
    plain = LocalFeatures(la.xy, la.desc, la.size)
    assert match(plain, lb).dense == 0 and match(plain, lb).inliers == match(la, lb).inliers
