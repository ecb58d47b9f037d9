"""Box filter: drop the detector's boxes that the identifier should not try to name.

MegaDetector boxes "animal" generously: a rock, a log or a carcass in the background gets a
box too, and would then compete for an individual's name. Before identification a box is
dropped when its confidence is below ``min_conf``, its short side is under ``min_side``
pixels of the photo (too small to show a coat pattern), its sides' ratio exceeds
``max_aspect`` (a sliver at the frame's edge), or, with the coat check, the texture inside it
does not look like a patterned coat. Every dropped box is reported with its reason (the
issues table, severity ``filtered``) and counted; nothing is removed quietly.

The coat check is a logistic model on a few texture statistics of the grey-level crop:
contrast, the share of the variance in four band-pass (difference-of-Gaussians) octaves,
how strongly the gradients share one orientation (structure-tensor coherence and the
orientation histogram's entropy), the band-passed signal's skewness (dark spots on a lighter
coat) and the share of flat pixels. Why these, and not the identifier's embedding: they cost a
few milliseconds per box without a network, they ignore colour (so a model fitted on lynx
does not learn "tawny" and can carry to striped or spotted species), and they separate what
the scenery is made of, smooth rock, oriented grass, bark and twigs, from the isotropic
blotches of a spotted or striped coat. The model is fitted on the simulator's coat boxes
against background boxes of the same photos (``benchmarks/box_filter.py``, which also writes
the shipped default ``data/box_filter.json`` and measures it on real photos). Fitted
scikit-learn style; its state is JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from .ingest import Issues
from .storage import write_json

__all__ = ["BoxFilter", "coat_features", "read_crop", "FEATURE_NAMES", "DEFAULT_STATE"]

CROP = 96                  # crops are compared at this size (pixels, square)
DEFAULT_STATE = Path(__file__).with_name("data") / "box_filter.json"
FEATURE_NAMES = ["log_contrast", "band_1", "band_2", "band_4", "band_8", "coherence", "orientation_entropy",
                 "band_skew", "flat_share"]


def coat_features(crop: np.ndarray) -> np.ndarray:
    """The texture statistics of one RGB (or grey) crop, in ``FEATURE_NAMES`` order."""
    g = crop if crop.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    g = cv2.resize(g.astype(np.float32), (CROP, CROP), interpolation=cv2.INTER_AREA)
    sd = float(g.std())
    z = (g - g.mean()) / (sd + 1e-6)
    blurred = [z] + [cv2.GaussianBlur(z, (0, 0), s) for s in (1, 2, 4, 8)]
    bands = [blurred[k] - blurred[k + 1] for k in range(4)]
    energy = [float((b ** 2).mean()) for b in bands]
    gx, gy = cv2.Sobel(z, cv2.CV_32F, 1, 0), cv2.Sobel(z, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cv2.GaussianBlur(a, (0, 0), 3) for a in (gx * gx, gy * gy, gx * gy))
    coherence = float((np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / (jxx + jyy + 1e-6)).mean())
    mag = np.hypot(gx, gy)
    ang = (np.arctan2(gy, gx) % np.pi)
    hist = np.bincount(np.minimum((ang / np.pi * 8).astype(int), 7).ravel(), weights=mag.ravel(), minlength=8)
    p = hist / (hist.sum() + 1e-9)
    entropy = float(-(p * np.log(p + 1e-12)).sum() / np.log(8))
    b = bands[1]
    skew = float((b ** 3).mean() / ((b ** 2).mean() ** 1.5 + 1e-9))
    flat = float((mag < 0.25 * np.median(mag) + 1e-3).mean()) if sd > 2 else 1.0
    return np.array([np.log1p(sd), *energy, coherence, entropy, skew, flat], np.float64)


def read_crop(img: Image.Image, bbox) -> np.ndarray:
    """The RGB pixels of ``img`` inside the normalised box ``[x, y, w, h]``."""
    W, H = img.size
    x, y, w, h = (float(v) for v in bbox)
    x0, y0 = int(np.clip(x * W, 0, W - 1)), int(np.clip(y * H, 0, H - 1))
    x1, y1 = int(np.clip(np.ceil((x + w) * W), x0 + 1, W)), int(np.clip(np.ceil((y + h) * H), y0 + 1, H))
    return np.asarray(img.crop((x0, y0, x1, y1)).convert("RGB"))


class BoxFilter:
    """Which boxes go on to identification (see the module's docstring).

    ``min_conf``: detector confidence; ``min_side``: pixels of the box's short side in the
    photo; ``max_aspect``: long side over short side; ``coat_threshold``: the coat model's
    probability a box needs (None: no coat check). ``fit`` learns the coat model from crops.
    """

    def __init__(self, min_conf: float = 0.2, min_side: int = 32, max_aspect: float = 4.0,
                 coat_threshold: float | None = 0.5, C: float = 1.0):
        self.min_conf, self.min_side, self.max_aspect = min_conf, min_side, max_aspect
        self.coat_threshold, self.C = coat_threshold, C
        self.mean_ = self.scale_ = self.coef_ = None
        self.intercept_ = 0.0

    # ---- the coat model ------------------------------------------------------------
    def fit(self, crops: list, is_coat) -> "BoxFilter":
        """Fit the coat model: ``crops`` (RGB arrays), ``is_coat`` (1 coat, 0 scenery)."""
        from sklearn.linear_model import LogisticRegression
        X = np.stack([coat_features(c) for c in crops])
        y = np.asarray(is_coat, int)
        if len(np.unique(y)) < 2:
            raise ValueError("the coat model needs both coat and scenery crops")
        self.mean_, self.scale_ = X.mean(0), X.std(0) + 1e-9
        lr = LogisticRegression(C=self.C, max_iter=2000).fit((X - self.mean_) / self.scale_, y)
        self.coef_, self.intercept_ = lr.coef_[0].copy(), float(lr.intercept_[0])
        return self

    def coat_probability(self, crops: list) -> np.ndarray:
        """P(coat) of each crop under the fitted coat model."""
        if self.coef_ is None:
            raise ValueError("the coat model is not fitted: fit() it, or use BoxFilter.default()")
        if not len(crops):
            return np.zeros(0)
        X = (np.stack([coat_features(c) for c in crops]) - self.mean_) / self.scale_
        return 1.0 / (1.0 + np.exp(-(X @ self.coef_ + self.intercept_)))

    # ---- the decision --------------------------------------------------------------
    def decide(self, det: pd.DataFrame, progress: bool = False) -> pd.Series:
        """Per detection, why it is dropped ("" = kept). Whole-image detections (no detector
        box: ``det_conf`` missing) are always kept."""
        reasons = pd.Series([""] * len(det), index=det.index, dtype=object)
        boxed = det["det_conf"].notna() if "det_conf" in det else pd.Series(False, index=det.index)
        conf = det["det_conf"].astype(float)
        wpx = det["bbox_w"].astype(float) * det["width"].astype(float)
        hpx = det["bbox_h"].astype(float) * det["height"].astype(float)
        short, long_ = np.minimum(wpx, hpx), np.maximum(wpx, hpx)
        for i in np.flatnonzero(boxed.to_numpy()):
            ix = det.index[i]
            if conf.iat[i] < self.min_conf:
                reasons[ix] = f"box confidence {conf.iat[i]:.2f} below {self.min_conf}"
            elif short.iat[i] < self.min_side:
                reasons[ix] = f"box too small ({short.iat[i]:.0f} px short side, under {self.min_side})"
            elif long_.iat[i] > self.max_aspect * short.iat[i]:
                reasons[ix] = f"box too elongated ({long_.iat[i] / short.iat[i]:.1f}:1, over {self.max_aspect}:1)"
        if self.coat_threshold is not None:
            todo = [i for i in np.flatnonzero(boxed.to_numpy()) if not reasons.iat[i]]
            for i, p in zip(todo, self._coat_of(det, todo, progress)):
                if p is not None and p < self.coat_threshold:
                    reasons.iat[i] = f"box shows no patterned coat (coat score {p:.2f} below {self.coat_threshold})"
        return reasons

    def _coat_of(self, det: pd.DataFrame, rows: list, progress: bool) -> list:
        """P(coat) of the boxes ``rows`` of ``det`` (each photo read once; None where the
        photo cannot be read: the feature step will report it)."""
        from tqdm.auto import tqdm
        out: dict = {}
        by_path: dict = {}
        for i in rows:
            by_path.setdefault(det["path"].iat[i], []).append(i)
        for path, idx in tqdm(by_path.items(), desc="checking boxes", unit="photo", disable=not progress):
            try:
                with Image.open(path) as im:
                    im.draft("RGB", (int(det["width"].iat[idx[0]]) // 2, int(det["height"].iat[idx[0]]) // 2))
                    im = ImageOps.exif_transpose(im).convert("RGB")
                crops = [read_crop(im, det[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].iloc[i]) for i in idx]
                out.update(zip(idx, self.coat_probability(crops)))
            except (OSError, ValueError):
                out.update({i: None for i in idx})
        return [out[i] for i in rows]

    def apply(self, det: pd.DataFrame, issues: Issues | None = None, progress: bool = False) -> pd.DataFrame:
        """The detections kept; each dropped one goes to ``issues`` (severity ``filtered``)
        and the counts per reason to ``attrs["megadetector"]["boxes_filtered"]`` (so that
        identify's summary shows them; also in ``attrs["box_filter"]``)."""
        reasons = self.decide(det, progress)
        drop = reasons.astype(bool).to_numpy()
        if issues is not None:
            for i in np.flatnonzero(drop):
                b = [round(float(det[c].iat[i]), 3) for c in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")]
                issues.add(det["file"].iat[i], "box filter", f"box {b} dropped: {reasons.iat[i]}", "filtered")
        kept = det.loc[~drop].copy()
        kept.attrs = dict(det.attrs)
        kept.attrs["box_filter"] = self.counts(reasons)
        if det.attrs.get("megadetector") is not None:
            kept.attrs["megadetector"] = {**det.attrs["megadetector"], **kept.attrs["box_filter"]}
        return kept

    @staticmethod
    def counts(reasons: pd.Series) -> dict:
        """``boxes_kept`` and ``boxes_filtered`` (per reason) of :meth:`decide`'s reasons."""
        drop = reasons.astype(bool)
        kinds = reasons[drop].str.extract(r"^box (confidence|too small|too elongated|shows no patterned coat)")[0]
        return {"boxes_kept": int((~drop).sum()),
                "boxes_filtered": {str(k): int(v) for k, v in kinds.value_counts().items()}}

    # ---- state ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"kind": "lynxid.BoxFilter", "min_conf": self.min_conf, "min_side": self.min_side,
                "max_aspect": self.max_aspect, "coat_threshold": self.coat_threshold, "C": self.C,
                "features": FEATURE_NAMES,
                "coat_model": None if self.coef_ is None else {
                    "mean": self.mean_.tolist(), "scale": self.scale_.tolist(), "coef": self.coef_.tolist(),
                    "intercept": self.intercept_}}

    @classmethod
    def from_dict(cls, d: dict) -> "BoxFilter":
        if d.get("kind") != "lynxid.BoxFilter" or d.get("features", FEATURE_NAMES) != FEATURE_NAMES:
            raise ValueError("not a lynxid box filter of this version (kind or features differ); refit it")
        f = cls(d["min_conf"], d["min_side"], d["max_aspect"], d["coat_threshold"], d.get("C", 1.0))
        m = d.get("coat_model")
        if m:
            f.mean_, f.scale_, f.coef_ = (np.asarray(m[k], float) for k in ("mean", "scale", "coef"))
            f.intercept_ = float(m["intercept"])
        return f

    def save(self, path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "BoxFilter":
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"could not read box filter {path}: {exc}") from exc
        return cls.from_dict(d)

    @classmethod
    def default(cls, **settings) -> "BoxFilter":
        """The shipped filter (coat model fitted on simulated surveys), ``settings`` overriding
        its thresholds (e.g. ``min_conf``)."""
        if not DEFAULT_STATE.exists():
            raise FileNotFoundError(f"the default box filter {DEFAULT_STATE} is missing: reinstall lynxid, or fit "
                                    "one (benchmarks/box_filter.py --write-default)")
        f = cls.load(DEFAULT_STATE)
        for k, v in settings.items():
            if not hasattr(f, k):
                raise ValueError(f"unknown box filter setting {k!r}")
            setattr(f, k, v)
        return f
