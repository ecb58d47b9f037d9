"""Group detections judged *new* into provisional individuals.

One new lynx photographed twelve times must become one new ID, not twelve. Units (events)
are merged by average-linkage agglomeration on the calibrated probability that two units
show the same animal, until no pair of clusters is more likely the same than not.

* Pairs without evidence (a left flank against a right flank) are left out of the average:
  two clusters are never merged *because* one's left matches nothing of the other's right.
* Cannot-link constraints (the same animal cannot be at two stations at once) forbid a merge.
"""
from __future__ import annotations

import numpy as np

__all__ = ["agglomerate"]


def agglomerate(P: np.ndarray, cannot_link: np.ndarray | None = None, threshold: float = 0.5) -> np.ndarray:
    """Cluster labels ``0..C-1`` for ``n`` units from pairwise probabilities ``P`` (n x n,
    symmetric, NaN where there is no evidence)."""
    n = len(P)
    if n == 0:
        return np.zeros(0, int)
    P = np.array(P, float)
    np.fill_diagonal(P, np.nan)
    have = ~np.isnan(P)
    S = np.where(have, P, 0.0)            # sums of probabilities between clusters
    C = have.astype(float)                # counts of pairs with evidence
    bad = np.zeros((n, n), bool) if cannot_link is None else np.array(cannot_link, bool)
    alive = np.ones(n, bool)
    label = np.arange(n)
    while True:
        with np.errstate(invalid="ignore", divide="ignore"):
            A = np.where(C > 0, S / np.maximum(C, 1), -1.0)
        A[bad] = -1.0
        A[~alive, :] = -1.0
        A[:, ~alive] = -1.0
        np.fill_diagonal(A, -1.0)
        i, j = np.unravel_index(np.argmax(A), A.shape)
        if A[i, j] < threshold:
            break
        # merge j into i
        S[i, :] += S[j, :]
        S[:, i] = S[i, :]
        C[i, :] += C[j, :]
        C[:, i] = C[i, :]
        bad[i, :] |= bad[j, :]
        bad[:, i] = bad[i, :]
        alive[j] = False
        label[label == j] = i
        S[i, i] = C[i, i] = 0
    _, out = np.unique(label, return_inverse=True)
    return out
