"""Group detections judged *new* into provisional individuals.

One new lynx photographed twelve times must become one new ID, not twelve. Units (events)
are merged by average-linkage agglomeration on the calibrated probability that two units
show the same animal, until no pair of clusters is more likely the same than not.

* Pairs without evidence (a left flank against a right flank) are left out of the average:
  two clusters are never merged *because* one's left matches nothing of the other's right.
* Cannot-link constraints (the same animal cannot be at two stations at once, nor be two
  boxes of one photo) forbid a merge (:func:`cannot_link`).

The pair probabilities (:func:`unit_pair_probability`) are the open-set model's calibrator
on the best-matching photo pair of two units, local matching checking each unit against its
``CLUSTER_NEIGHBOURS`` nearest units by the embedding, as the model's ``match.Matcher``
checks a query against the catalogue.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .keypoints import match as match_local
from .match import Matcher, flank_compatible

__all__ = ["agglomerate", "unit_pair_probability", "cannot_link", "provisional_names", "CLUSTER_NEIGHBOURS"]

# New units are local-matched with this many nearest units by the embedding: the embedding is
# a weak judge of identity, so a new lynx's other events are often not among a unit's 10
# nearest (benchmarks/README.md, "Identification defaults").
CLUSTER_NEIGHBOURS = 40
CANNOT_LINK_MINUTES = 30.0


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


def _best_pairs(V: np.ndarray, members: list, flanks: np.ndarray) -> tuple[np.ndarray, dict]:
    """Per pair of units, the best cosine over their comparable photo pairs (-inf: none) and
    ``(a, b) -> (best photo of a, best photo of b, the photo-pair similarity matrix)``."""
    n = len(members)
    G = np.full((n, n), -np.inf)
    best = {}
    for a in range(n):
        for b in range(a + 1, n):
            ia, ib = members[a], members[b]
            comp = flank_compatible(np.repeat(flanks[ia], len(ib)), np.tile(flanks[ib], len(ia))).reshape(len(ia), len(ib))
            if not comp.any():
                continue
            s = V[ia] @ V[ib].T
            s = np.where(comp, s, -np.inf)
            k = np.unravel_index(np.argmax(s), s.shape)
            G[a, b] = G[b, a] = s[k]
            best[(a, b)] = (ia[k[0]], ib[k[1]], s)
    return G, best


def _local_pair(matcher: Matcher, local: list, A, B, s: np.ndarray) -> tuple[float, float]:
    """(keypoint inliers, dense evidence) of two units from their most similar photo pairs,
    as many as a query is matched with per individual."""
    flat = np.argsort(-s, axis=None)[:matcher.per_individual]
    sc, dn = 0, []
    for f in flat:
        i, j = np.unravel_index(f, s.shape)
        if not np.isfinite(s[i, j]):
            continue
        la, lb = local[A[i]], local[B[j]]
        if la is not None and lb is not None:
            m = match_local(la, lb)
            sc = max(sc, m.inliers)
            dn.append(matcher.pair_dense(m, s[i, j]))
    return sc, matcher.pooled_dense(dn)


def unit_pair_probability(calibrator, matcher: Matcher, vectors: np.ndarray, local: list | None,
                          members: list[np.ndarray], flanks: np.ndarray, k_local: int | None = None,
                          checkable: np.ndarray | None = None) -> np.ndarray:
    """Calibrated probability (``calibrate.FusionCalibrator``) that two units show the same
    animal; units are index arrays (``members``) into ``vectors`` (in the model's space),
    ``local`` (local features or None) and ``flanks``. NaN: no comparable pair, or, with
    local features, a pair local matching did not check (its probability from the embedding
    alone would count "not checked" as "checked and no match"). ``k_local``: neighbours
    checked per unit (default ``CLUSTER_NEIGHBOURS``); ``checkable``: n x n, the pairs that
    may be scored at all (default: every pair)."""
    k_local = CLUSTER_NEIGHBOURS if k_local is None else k_local
    n = len(members)
    P = np.full((n, n), np.nan)
    if n < 2:
        return P
    G, best = _best_pairs(vectors, members, flanks)
    if checkable is not None:
        G = np.where(checkable, G, -np.inf)
    L = np.zeros((n, n))
    Dn = np.zeros((n, n))
    done = np.zeros((n, n), bool)
    use_local = matcher.use_local and bool(local)
    if use_local:
        # local matching only towards each unit's nearest units (it is the expensive part)
        for a in range(n):
            for b in np.argsort(-G[a])[:k_local]:
                if not np.isfinite(G[a, b]) or done[a, b]:
                    continue
                done[a, b] = done[b, a] = True
                key = (min(a, b), max(a, b))
                L[a, b], Dn[a, b] = _local_pair(matcher, local, members[key[0]], members[key[1]], best[key][2])
                L[b, a], Dn[b, a] = L[a, b], Dn[a, b]
    fin = np.isfinite(G)
    if use_local:
        fin &= done
    P[fin] = calibrator.predict(G[fin], L[fin], Dn[fin])
    return P


def cannot_link(units: pd.DataFrame, minutes: float = CANNOT_LINK_MINUTES) -> np.ndarray:
    """Pairs of units that cannot be one animal: at different stations with their time spans
    (``t0`` to ``t1``, first to last photo) less than ``minutes`` apart, or two boxes in one
    photo (units sharing a file of ``files``)."""
    def secs(col):
        t = pd.to_datetime(units[col])
        if getattr(t.dt, "tz", None) is not None:
            t = t.dt.tz_convert("UTC").dt.tz_localize(None)
        return ((t - pd.Timestamp("1970-01-01")).dt.total_seconds()).to_numpy()
    t0 = secs("t0")
    t1 = secs("t1") if "t1" in units else t0
    st = units["station"].astype(str).to_numpy()
    gap = np.maximum(t0[:, None] - t1[None, :], t0[None, :] - t1[:, None])   # <= 0 when spans overlap
    close = gap < minutes * 60
    close &= ~np.isnan(t0)[:, None] & ~np.isnan(t0)[None, :]
    out = close & (st[:, None] != st[None, :])
    if "files" in units:
        files = list(units["files"])
        for a in range(len(files)):
            for b in range(a + 1, len(files)):
                if files[a] & files[b]:
                    out[a, b] = out[b, a] = True
    return out


def provisional_names(labels: np.ndarray, t0, prefix: str = "NEW-") -> list[str]:
    """Names ``{prefix}001, ...`` for cluster ``labels``, numbered in order of each cluster's
    first unit in time (``t0``; ties by position)."""
    order = pd.DataFrame({"label": labels, "t0": pd.to_datetime(pd.Series(t0)).to_numpy(),
                          "pos": np.arange(len(labels))})
    rank = order.sort_values(["t0", "pos"]).drop_duplicates("label")["label"].tolist()
    names = {lab: f"{prefix}{k + 1:03d}" for k, lab in enumerate(rank)}
    return [names[lab] for lab in labels]
