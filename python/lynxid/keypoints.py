"""Local features for patterned coats: RootSIFT keypoints, matching and geometric verification.

A lynx's spots (a nyala's stripes) are a fingerprint: the same animal's flank photographed
twice shows the same constellation of marks, related by a smooth transformation. We detect
SIFT keypoints on the animal only (inside its box and, when known, a foreground mask),
describe them with RootSIFT, match them with Lowe's ratio test and a mutual-nearest check,
and count the matches that survive RANSAC under a single affine transform. The inlier count
is the local score. No downloaded weights are needed.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .threads import one_blas_thread

__all__ = ["LocalFeatures", "extract", "match", "MatchResult", "LOCAL_VERSION"]

LOCAL_VERSION = "rootsift-v1"   # (features.py adds dense.DENSE_VERSION to the cache key)


@dataclass
class LocalFeatures:
    xy: np.ndarray        # N x 2 float32, pixel coordinates in the crop
    desc: np.ndarray      # N x 128 float32 RootSIFT (unit L2 norm)
    size: tuple[int, int]  # crop (width, height)
    dense_xy: np.ndarray | None = None     # M x 2 grid-cell centres, same pixel frame (see dense.py)
    dense_desc: np.ndarray | None = None   # M x C float32 unit-length CNN descriptors

    def __len__(self):
        return len(self.xy)

    def to_arrays(self) -> dict[str, np.ndarray]:
        # descriptors stored as uint8 (RootSIFT values lie in [0, 1]) to keep caches small
        out = {"xy": self.xy.astype(np.float32), "desc": np.round(self.desc * 255).astype(np.uint8),
               "size": np.array(self.size, np.int32)}
        if self.dense_desc is not None:
            out["dense_xy"] = self.dense_xy.astype(np.float32)
            out["dense_desc"] = self.dense_desc.astype(np.float16)
        return out

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray]) -> "LocalFeatures":
        desc = d["desc"].astype(np.float32) / 255.0
        n = np.linalg.norm(desc, axis=1, keepdims=True)
        dxy = dd = None
        if "dense_desc" in d:
            dxy = d["dense_xy"].astype(np.float32)
            dd = d["dense_desc"].astype(np.float32)
            dd /= np.maximum(np.linalg.norm(dd, axis=1, keepdims=True), 1e-6)
        return cls(d["xy"].astype(np.float32), desc / np.maximum(n, 1e-6), tuple(int(v) for v in d["size"]), dxy, dd)

    def subset(self, keep: np.ndarray, dense_keep: np.ndarray | None = None) -> "LocalFeatures":
        """Only the keypoints (and grid cells) selected by the boolean masks."""
        if self.dense_desc is None or dense_keep is None:
            return LocalFeatures(self.xy[keep], self.desc[keep], self.size, self.dense_xy, self.dense_desc)
        return LocalFeatures(self.xy[keep], self.desc[keep], self.size, self.dense_xy[dense_keep],
                             self.dense_desc[dense_keep])


_SIFT = None


def _sift(n: int):
    # cv2 objects are not thread-safe to share; one per thread is cheap
    return cv2.SIFT_create(nfeatures=n, contrastThreshold=0.02, edgeThreshold=12)


def extract(rgb: np.ndarray, mask: np.ndarray | None = None, max_keypoints: int = 1024) -> LocalFeatures:
    """RootSIFT keypoints of an RGB (H x W x 3 uint8) crop, optionally inside ``mask``."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # local contrast normalisation: night IR and harsh daylight shadows both flatten spots
    gray = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)
    m = None if mask is None else (mask > 0).astype(np.uint8) * 255
    kps, desc = _sift(max_keypoints).detectAndCompute(gray, m)
    h, w = gray.shape
    if desc is None or len(kps) == 0:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), (w, h))
    desc = desc.astype(np.float32)
    desc /= np.maximum(desc.sum(axis=1, keepdims=True), 1e-6)   # L1 ...
    desc = np.sqrt(desc)                                         # ... then sqrt: RootSIFT
    xy = np.array([k.pt for k in kps], np.float32)
    return LocalFeatures(xy, desc, (w, h))


@dataclass
class MatchResult:
    inliers: int
    tentative: int
    pairs: np.ndarray     # K x 2 indices (a, b) of inlier matches
    dense: int = 0        # verified dense grid cells (dense.match_dense), 0 without dense features
    dense_features: np.ndarray | None = None   # dense.DENSE_FEATURES of the pair (None without dense features)

    @property
    def score(self) -> float:
        return float(self.inliers)


def _tentative(a: LocalFeatures, b: LocalFeatures, ratio: float) -> np.ndarray:
    with one_blas_thread():
        sims = a.desc @ b.desc.T               # cosine = Hellinger kernel for RootSIFT
    if sims.shape[1] < 2 or sims.shape[0] == 0:
        return np.zeros((0, 2), np.int64)
    # best and second-best similarity per row by two max passes (a full argpartition of the
    # matrix cost 2.5x more). Ties for the best are rejected by the ratio test whichever
    # index is taken (d1 == d2), so the result is that of a sort.
    rows = np.arange(sims.shape[0])
    best = np.argmax(sims, axis=1)
    s_best = sims[rows, best]
    sims[rows, best] = -np.inf
    s_second = sims.max(axis=1)
    sims[rows, best] = s_best
    d1 = np.sqrt(np.maximum(0, 2 - 2 * s_best))
    d2 = np.sqrt(np.maximum(0, 2 - 2 * s_second))
    ia = np.nonzero(d1 < ratio * d2)[0]
    # mutual nearest neighbour, checked only for the columns that passed the ratio test
    ia = ia[np.argmax(sims[:, best[ia]], axis=0) == ia]
    return np.column_stack([ia, best[ia]])


def match(a: LocalFeatures, b: LocalFeatures, ratio: float = 0.85, reproj_px: float | None = None,
          min_matches: int = 4) -> MatchResult:
    """Verified matches between two feature sets (ratio test, mutual NN, RANSAC affine), and
    the dense grid score when both carry dense features."""
    r = _match_sift(a, b, ratio, reproj_px, min_matches)
    if a.dense_desc is not None and b.dense_desc is not None:
        from .dense import match_dense_features
        r.dense_features = match_dense_features(a.dense_xy, a.dense_desc, b.dense_xy, b.dense_desc, b.size, a.size)
        r.dense = int(r.dense_features[0])
    return r


def _match_sift(a: LocalFeatures, b: LocalFeatures, ratio: float, reproj_px: float | None,
                min_matches: int) -> MatchResult:
    if len(a) < min_matches or len(b) < min_matches:
        return MatchResult(0, 0, np.zeros((0, 2), np.int64))
    pairs = _tentative(a, b, ratio)
    if len(pairs) < min_matches:
        return MatchResult(0, len(pairs), np.zeros((0, 2), np.int64))
    pa = a.xy[pairs[:, 0]]
    pb = b.xy[pairs[:, 1]]
    thr = reproj_px if reproj_px is not None else 0.02 * max(max(b.size), 1)
    M, inl = cv2.estimateAffine2D(pa, pb, method=cv2.RANSAC, ransacReprojThreshold=thr,
                                  maxIters=2000, confidence=0.995, refineIters=5)
    if M is None or inl is None:
        return MatchResult(0, len(pairs), np.zeros((0, 2), np.int64))
    inl = inl.ravel().astype(bool)
    # reject degenerate transforms (mirror images, extreme scale): a flank is not its mirror
    det = float(np.linalg.det(M[:, :2]))
    if det <= 0.15 or det > 7:
        return MatchResult(0, len(pairs), np.zeros((0, 2), np.int64))
    return MatchResult(int(inl.sum()), len(pairs), pairs[inl])
