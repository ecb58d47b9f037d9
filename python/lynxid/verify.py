"""Is this pair of photos one animal? A verifier learned from the catalogue's own labels.

The dense grid matcher (``dense``) counts cells of one photo that land, under one similarity
transform, on similar cells of the other. On coats that count mixes two things: the pattern,
which identifies the animal, and the anatomy and pose, which every animal of the species
shares -- two nyala standing the same way match head to head and leg to leg whoever they are.
How the verified cells lie tells the two apart better than their number: how much of each
flank they cover, how large a share of the tentative matches they are, at what scale and
rotation, how similar the matched cells are, how much of one photo the transform puts onto
the other. A logistic regression on those numbers, the global cosine and the keypoint
inliers, fitted on pairs drawn from the labelled catalogue (every photo matched against its
shortlist, its own sighting left out), turns them into P(same animal | pair).

On real photos it ranks individuals far better than the count of verified cells, and richer
verifiers were not worth their complexity (benchmarks/README.md, "Identification defaults").

An individual's dense evidence is the *sum* over its two best-matching checked photos
(``BEST_PAIRS``), not the best one: two references that each match moderately are better
evidence than one that matches a little better. Only the best two, so that the evidence
means the same whether 2 or 6 of an animal's photos were checked.
Everything is plain numbers in JSON; no pickle.
"""
from __future__ import annotations

import numpy as np

from .dense import DENSE_FEATURES

__all__ = ["PAIR_FEATURES", "BEST_PAIRS", "PairVerifier", "pair_matrix", "best_sum", "individual_sums"]

PAIR_FEATURES = ("log_inliers", "log_tentative", "inlier_ratio", "log_scale", "rotation", "cover_query",
                 "cover_ref", "inlier_similarity", "overlap", "cosine", "log_keypoint_inliers")


def pair_matrix(dense: np.ndarray, cosine, keypoint_inliers) -> np.ndarray:
    """The verifier's inputs (columns ``PAIR_FEATURES``) from per-pair ``dense`` features
    (n x len(DENSE_FEATURES), :func:`dense.match_dense_features`), global cosine and RANSAC
    keypoint inliers."""
    dense = np.asarray(dense, np.float64).reshape(-1, len(DENSE_FEATURES))
    X = dense.copy()
    X[:, 0] = np.log1p(np.maximum(dense[:, 0], 0))
    X[:, 1] = np.log1p(np.maximum(dense[:, 1], 0))
    return np.column_stack([X, np.asarray(cosine, np.float64).ravel(),
                            np.log1p(np.maximum(np.asarray(keypoint_inliers, np.float64).ravel(), 0))])


class PairVerifier:
    """P(two photos show one individual | their pair features)."""

    def __init__(self, C: float = 0.3):
        self.C = C
        self.coef: np.ndarray | None = None
        self.intercept = 0.0
        self.mu: np.ndarray | None = None
        self.sd: np.ndarray | None = None
        self.n_pos = self.n_neg = 0

    def fit(self, X, y) -> "PairVerifier":
        from sklearn.linear_model import LogisticRegression
        X = np.asarray(X, np.float64)
        y = np.asarray(y, int).ravel()
        self.n_pos, self.n_neg = int(y.sum()), int((1 - y).sum())
        if self.n_pos < 2 or self.n_neg < 2:
            raise ValueError(f"the pair verifier needs matching and non-matching photo pairs; got {self.n_pos} "
                             f"matching and {self.n_neg} non-matching")
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-9
        lr = LogisticRegression(C=self.C, max_iter=5000).fit((X - self.mu) / self.sd, y)
        self.coef, self.intercept = lr.coef_[0].astype(np.float64), float(lr.intercept_[0])
        return self

    def log_odds(self, X) -> np.ndarray:
        if self.coef is None:
            raise RuntimeError("pair verifier is not fitted")
        X = np.asarray(X, np.float64).reshape(-1, len(self.coef))
        return ((X - self.mu) / self.sd) @ self.coef + self.intercept

    def predict(self, X) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.log_odds(X), -30, 30)))

    @staticmethod
    def cross_fitted(X, y, groups, n_folds: int = 5, C: float = 0.3) -> np.ndarray:
        """Out-of-fold probabilities, folds by ``groups`` (the query's individual), so that a
        calibrator fitted on them sees what the verifier does on animals it was not fitted on.
        NaN where a fold's training part lacks one class."""
        from sklearn.model_selection import GroupKFold
        X = np.asarray(X, np.float64)
        y = np.asarray(y, int).ravel()
        groups = np.asarray(groups)
        out = np.full(len(y), np.nan)
        k = min(n_folds, len(np.unique(groups)))
        if k < 2:
            return out
        for tr, te in GroupKFold(n_splits=k).split(X, y, groups):
            if y[tr].sum() < 2 or (1 - y[tr]).sum() < 2:
                continue
            out[te] = PairVerifier(C).fit(X[tr], y[tr]).predict(X[te])
        return out

    def to_dict(self) -> dict:
        f = lambda a: None if a is None else np.asarray(a).tolist()  # noqa: E731
        return {"features": list(PAIR_FEATURES), "C": self.C, "coef": f(self.coef), "intercept": self.intercept,
                "mu": f(self.mu), "sd": f(self.sd), "n_pos": self.n_pos, "n_neg": self.n_neg}

    @classmethod
    def from_dict(cls, d: dict) -> "PairVerifier":
        if list(d.get("features", [])) != list(PAIR_FEATURES):
            raise ValueError("the catalogue's pair verifier uses other features than this lynxid; rebuild the "
                             "catalogue")
        v = cls(d.get("C", 0.3))
        arr = lambda a: None if a is None else np.asarray(a, np.float64)  # noqa: E731
        v.coef, v.intercept, v.mu, v.sd = arr(d["coef"]), float(d["intercept"]), arr(d["mu"]), arr(d["sd"])
        v.n_pos, v.n_neg = d.get("n_pos", 0), d.get("n_neg", 0)
        return v


BEST_PAIRS = 2   # an individual's dense evidence: the sum over its this many best-matching photos


def best_sum(values, best: int = BEST_PAIRS) -> float:
    """The sum of the ``best`` largest of ``values`` (an individual's pair probabilities)."""
    return float(sum(sorted(values)[-best:])) if len(values) else 0.0


def individual_sums(keys, p, best: int = BEST_PAIRS) -> dict:
    """Per key (e.g. (query, individual)): the sum of its ``best`` largest pair probabilities
    ``p``. The best few, not all: the evidence then means the same whether 2 or 6 of an
    animal's photos were checked, and more checked photos only give more chances to find its
    best-matching ones."""
    lists: dict = {}
    for k, v in zip(keys, p):
        if np.isfinite(v):
            lists.setdefault(k, []).append(float(v))
    return {k: best_sum(v, best) for k, v in lists.items()}
