"""The animal, not the scenery: a background model per fixed camera.

A trail camera photographs the same scene hundreds of times; the animal is what differs from
that scene. Keypoints on rocks, trunks and grass inside an animal's box match every other
animal photographed at that station and so vouch for the wrong identity. For each camera with
enough photos we take the per-pixel median of its (small, grey) photos -- separately for
colour daylight photos and grey infra-red night photos -- as the empty scene, and keep only
keypoints where the photo differs from it. Where a camera has too few photos, or the mask
would leave too few keypoints, nothing is removed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .decode import DecodeError, open_image
from .keypoints import LocalFeatures

__all__ = ["background_masks", "filter_keypoints"]

SMALL = 256            # long side of the images the background is modelled on
MIN_PHOTOS = 6         # photos per camera (and light regime) for a background model
MIN_KEEP = 25          # keep all keypoints if the mask would leave fewer


def _small_grey(path) -> tuple[np.ndarray, bool] | None:
    try:
        im = open_image(path, out_long=SMALL)
    except DecodeError:
        return None
    s = SMALL / max(im.size)
    if s < 1:
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))))
    a = np.asarray(im, np.float32)
    colour = float(np.abs(a[..., 0] - a[..., 1]).mean() + np.abs(a[..., 1] - a[..., 2]).mean()) > 6.0
    return a.mean(axis=2), colour


def background_masks(det: pd.DataFrame, threshold: float = 22.0, progress: bool = False) -> dict:
    """Foreground masks (bool arrays over the small image) for detections whose camera has a
    background model: ``{row index: mask}``."""
    from tqdm.auto import tqdm
    import cv2

    out = {}
    if "camera" not in det:
        det = det.assign(camera=None)
    groups = det.groupby([det["station"].fillna("?").astype(str), det["camera"].fillna("").astype(str)]).indices
    paths = det["path"].to_numpy()
    for _, idx in tqdm(groups.items(), desc="background models", disable=not progress, unit="camera"):
        uniq = {}
        for i in idx:
            uniq.setdefault(paths[i], []).append(i)
        if len(uniq) < MIN_PHOTOS:
            continue
        small = {p: _small_grey(p) for p in uniq}
        for colour in (True, False):
            ps = [p for p, v in small.items() if v is not None and v[1] == colour]
            if len(ps) < MIN_PHOTOS:
                continue
            shape = small[ps[0]][0].shape
            ps = [p for p in ps if small[p][0].shape == shape]
            if len(ps) < MIN_PHOTOS:
                continue
            stack = np.stack([small[p][0] for p in ps])
            # exposure differs from photo to photo: compare after matching each to the median's level
            bg = np.median(stack, axis=0)
            for p in ps:
                g = small[p][0]
                gain = (np.median(bg) + 1) / (np.median(g) + 1)
                diff = np.abs(g * gain - bg)
                m = (diff > threshold).astype(np.uint8)
                m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
                m = cv2.dilate(m, np.ones((5, 5), np.uint8))
                for i in uniq[p]:
                    out[i] = m.astype(bool)
    return out


def filter_keypoints(lf: LocalFeatures, mask: np.ndarray, bbox, pad: float = 0.05) -> LocalFeatures:
    """Keep the keypoints (and dense grid cells) of a detection's crop that fall on the
    foreground ``mask``."""
    if lf is None or len(lf) == 0:
        return lf
    h, w = mask.shape
    x, y, bw, bh = bbox
    # crop coordinates -> normalised image coordinates (the crop is the padded, clipped box)
    x0 = max(0.0, x - pad * bw)
    y0 = max(0.0, y - pad * bh)
    x1 = min(1.0, x + bw + pad * bw)
    y1 = min(1.0, y + bh + pad * bh)
    cw, ch = lf.size

    def on_mask(xy):
        u = x0 + xy[:, 0] / max(cw, 1) * (x1 - x0)
        v = y0 + xy[:, 1] / max(ch, 1) * (y1 - y0)
        return mask[np.clip((v * h).astype(int), 0, h - 1), np.clip((u * w).astype(int), 0, w - 1)]

    keep = on_mask(lf.xy)
    dense_keep = on_mask(lf.dense_xy) if lf.dense_xy is not None else None
    if dense_keep is not None and dense_keep.sum() < MIN_KEEP:
        dense_keep = None          # too little left: keep the whole grid
    if keep.sum() < MIN_KEEP:
        keep = np.ones(len(lf), bool)
    return lf.subset(keep, dense_keep)
