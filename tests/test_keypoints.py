"""Local features: the same coat matches itself under pose and light changes, another coat
and a mirrored coat do not."""
import cv2
import numpy as np
import pytest

from lynxid.keypoints import LocalFeatures, extract, match
from lynxid.sim_animal import make_individual
from lynxid.sim_photo import make_scene, render_individual_image


def crop_of(ind_seed, flank="left", seed=0, night=False):
    ind = make_individual("X", np.random.SeedSequence(ind_seed))
    scene = make_scene(np.random.SeedSequence(100 + seed), (960, 720))
    img, (x, y, w, h) = render_individual_image(ind, flank, scene, np.random.default_rng(seed), night=night)
    H, W = img.shape[:2]
    crop = img[int(y * H):int((y + h) * H), int(x * W):int((x + w) * W)]
    s = 480 / max(crop.shape[:2])
    return cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)


def transformed(img, angle=12, scale=0.8, gain=0.75, bias=35):
    h, w = img.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    out = cv2.warpAffine(img, M, (w, h), borderMode=cv2.BORDER_REFLECT)
    return np.clip(out.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def crops():
    a = crop_of(1)
    # another lynx in another pose at another station (the same pose and scene would share
    # the outline and the background)
    return {"a": a, "a_moved": transformed(a), "other": crop_of(2, seed=1),
            "mirror": np.ascontiguousarray(a[:, ::-1])}


@pytest.fixture(scope="module")
def feats(crops):
    return {k: extract(v, max_keypoints=512) for k, v in crops.items()}


def test_same_crop_under_pose_and_light_change_matches(feats):
    r = match(feats["a"], feats["a_moved"])
    assert len(feats["a"]) > 200
    assert r.inliers >= 60, r
    assert r.pairs.shape == (r.inliers, 2) and r.score == r.inliers and r.tentative >= r.inliers


def test_unrelated_coat_and_mirror_have_few_inliers(feats):
    same = match(feats["a"], feats["a_moved"]).inliers
    other = match(feats["a"], feats["other"]).inliers
    mirror = match(feats["a"], feats["mirror"]).inliers
    assert other < 15 and mirror < 15, (other, mirror)
    assert same > 4 * max(other, mirror, 3)


def test_mirror_transform_is_rejected():
    """Identical descriptors at mirrored positions: every tentative match agrees with one
    reflection, which must not count (a left flank is not a mirrored right flank)."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 400, (200, 2)).astype(np.float32)
    desc = rng.random((200, 128)).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    a = LocalFeatures(xy, desc, (400, 400))
    b = LocalFeatures(np.column_stack([400 - xy[:, 0], xy[:, 1]]).astype(np.float32), desc, (400, 400))
    r = match(a, b)
    assert r.tentative == 200 and r.inliers == 0
    shifted = LocalFeatures(xy + 7, desc, (400, 400))
    assert match(a, shifted).inliers == 200


def test_mask_cache_round_trip_and_empty(crops, feats):
    a = crops["a"]
    mask = np.zeros(a.shape[:2], np.uint8)
    mask[:, : a.shape[1] // 2] = 1
    half = extract(a, mask=mask)
    assert len(half) > 20 and (half.xy[:, 0] < a.shape[1] // 2 + 1).all()
    back = LocalFeatures.from_arrays(feats["a"].to_arrays())
    assert back.size == feats["a"].size and len(back) == len(feats["a"])
    np.testing.assert_allclose(np.linalg.norm(back.desc, axis=1), 1, atol=1e-5)
    assert abs(match(back, feats["a_moved"]).inliers - match(feats["a"], feats["a_moved"]).inliers) <= 10
    flat = extract(np.full((100, 100, 3), 128, np.uint8))
    assert len(flat) == 0 and flat.desc.shape == (0, 128)
    assert match(flat, feats["a"]).inliers == 0


def test_other_photos_of_the_same_coat_match_better_than_other_coats():
    """Rendered photos as the pipeline crops them (box + 5 %, long side <= 512): pairs of one
    lynx's left flank (other pose, light, station) against pairs of different lynx."""
    import itertools
    scenes = [make_scene(np.random.SeedSequence(100 + i), (960, 720)) for i in range(4)]
    rng = np.random.default_rng(0)
    F = {}
    for i in range(6):
        ind = make_individual("X", np.random.SeedSequence(i + 1))
        for k in range(3):
            img, (x, y, w, h) = render_individual_image(ind, "left", scenes[int(rng.integers(4))], rng,
                                                        night=bool(rng.random() < 0.4))
            H, W = img.shape[:2]
            px, py = 0.05 * w * W, 0.05 * h * H
            c = img[max(0, int(y * H - py)):int((y + h) * H + py), max(0, int(x * W - px)):int((x + w) * W + px)]
            s = min(1, 512 / max(c.shape[:2]))
            F[(i, k)] = extract(cv2.resize(c, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), max_keypoints=512)
    same, diff = [], []
    for a, b in itertools.combinations(F, 2):
        (same if a[0] == b[0] else diff).append(match(F[a], F[b]).inliers)
    assert np.median(same) >= 12 and np.median(diff) <= 6, (sorted(same), np.percentile(diff, [50, 95]))
    auc = np.mean(np.array(same)[:, None] > np.array(diff)[None, :])
    assert auc > 0.8     # of the local score
