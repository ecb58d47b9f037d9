"""Evidence that a query detection shows a given individual: global and local match scores.

For a query and each candidate individual *k* we compute

* ``g``: the best cosine similarity between the query's embedding and any reference image of
  *k* (only same-flank references when both flanks are known: a left flank is never
  compared with a right one);
* ``l``: the most RANSAC-verified keypoint matches between the query and *k*'s references,
  and ``d``: the dense evidence -- with a fitted ``verify.PairVerifier``, the sum over *k*'s
  two best-matching checked references of the probability that the pair shows one animal
  (``verify.individual_sums``); without one, the
  most verified dense grid cells (``dense``). Both are computed only for a shortlist (the
  ``n_individuals`` best individuals by ``g``, their ``per_individual`` best references),
  since local matching is the expensive part; then a *second look* checks more photos of
  the few animals the first look found most like the query (``DEEP_INDIVIDUALS``).

``calibrate.FusionCalibrator`` turns ``(g, l, d)`` into a probability.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .keypoints import LocalFeatures, match as match_local

__all__ = ["References", "Evidence", "evidence", "flank_compatible", "pool"]


def flank_compatible(a, b) -> np.ndarray:
    """True where flanks may be compared: equal, or either unknown."""
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    unknown_a = pd.isna(a)
    unknown_b = pd.isna(b)
    return unknown_a | unknown_b | (a == b)


@dataclass
class References:
    """The catalogue side, prepared for matching."""

    vectors: np.ndarray          # R x D
    local: list                  # R LocalFeatures or None
    individuals: np.ndarray      # R str
    flanks: np.ndarray           # R str or None
    sightings: np.ndarray        # R str (or None)

    def __post_init__(self):
        self.names, self.codes = np.unique(self.individuals.astype(str), return_inverse=True)

    def __len__(self):
        return len(self.vectors)


@dataclass
class Evidence:
    """Per candidate individual: best global similarity and best local score."""

    individuals: np.ndarray    # K names
    g: np.ndarray              # K
    l: np.ndarray              # K (0 where not checked)
    best_ref: np.ndarray       # K index of the reference with the best g
    local_ref: np.ndarray      # K index of the reference with the best l (-1 if none)
    pair_local: dict | None = None   # reference index -> (keypoint inliers, dense features or None), for those checked
    shortlisted: np.ndarray | None = None   # K bool: among the best n_individuals by g
    d: np.ndarray | None = None      # K dense evidence (module doc; 0 where not checked)

    def __post_init__(self):
        if self.d is None:
            self.d = np.zeros(len(self.g))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"individual": self.individuals, "g": self.g, "l": self.l, "d": self.d,
                             "best_ref": self.best_ref, "local_ref": self.local_ref})


# Local matching shortlist: the photos of this many individuals most similar by the global
# embedding, this many photos each. The embedding is a weak judge of identity (it sees the
# scene as much as the coat): with 10 individuals, same-flank rank-1 on 20 simulated lynx was
# 36 %, with all of them 78 % (benchmarks/README.md). On the 179 nyala the 60 best individuals'
# 2 most similar photos hold the true individual for 85 % of same-flank queries
# (benchmarks/results/verifier_ablation.md): an animal's most similar photos are what local
# matching needs, and 60 covers a typical lynx catalogue whole, at ~120 matches per photo.
SHORTLIST_INDIVIDUALS = 60
SHORTLIST_PER_INDIVIDUAL = 2
MAX_PER_INDIVIDUAL = 6
# Second look: the DEEP_INDIVIDUALS animals whose first-look photos had the most verified
# dense cells get up to DEEP_PER_INDIVIDUAL photos checked. Two photos chosen by the embedding
# are often not an animal's best match: on the 179 nyala (same-flank, 60 x 2 first look),
# checking up to 8 photos of every shortlisted animal raised rank-1 from 28 % to 35 % at twice
# the matches; a second look at the best 30 kept nearly all of it (34.4 %) at 1.7x
# (benchmarks/results/second_look.md). The choice uses the raw cell count, not the pair
# verifier, so that a catalogue's calibration (fitted before it has a verifier) checks the
# same photos as identification does.
DEEP_INDIVIDUALS = 30
DEEP_PER_INDIVIDUAL = 8
# ... and at most this many photos in all, the best animals' first: with flanks unknown an
# animal has twice the photos. One query against 1,833 photos: 233 ms p50 / 263 ms p95 without
# the second look, 571 / 819 ms uncapped, 529 / 654 ms capped (benchmarks/README.md).
# Same-flank nyala needs ~73 and loses nothing (second_look.md).
DEEP_BUDGET = 90


def per_individual_for(n_catalogue_individuals: int) -> int:
    """Photos matched per shortlisted individual for a catalogue of this many animals: 2 when
    the 60-individual shortlist is full; a smaller catalogue spends the same ~120 matches on
    more photos of each animal (up to 6), since with flanks unknown an animal's two most
    similar photos by the embedding are often its other flank in the same scenery (20
    simulated lynx, flanks unknown: rank-1 40 % with 2 photos each, 73 % with 6; benchmarks/README.md)."""
    n = max(1, int(n_catalogue_individuals))
    return int(np.clip((SHORTLIST_INDIVIDUALS * SHORTLIST_PER_INDIVIDUAL) // n, SHORTLIST_PER_INDIVIDUAL,
                       MAX_PER_INDIVIDUAL))


def evidence(q_vec: np.ndarray, q_local: LocalFeatures | None, q_flank, refs: References,
             exclude: np.ndarray | None = None, n_individuals: int = SHORTLIST_INDIVIDUALS,
             per_individual: int = SHORTLIST_PER_INDIVIDUAL,
             use_local: bool = True, sims: np.ndarray | None = None, local_cache: dict | None = None,
             verifier=None, deep_individuals: int = DEEP_INDIVIDUALS,
             deep_per_individual: int = DEEP_PER_INDIVIDUAL, rank_sims: np.ndarray | None = None) -> Evidence:
    """Scores of one query against every individual in ``refs``.

    ``exclude`` masks references that must not be used (e.g. the query's own sighting
    when calibrating or evaluating). ``sims`` may pass precomputed cosine similarities;
    ``local_cache`` (reference index -> (keypoint inliers, dense features), for this query)
    avoids repeating matches. ``verifier``: a fitted ``verify.PairVerifier`` that makes ``d``
    the sum of the best pair probabilities (see module doc). ``deep_individuals`` /
    ``deep_per_individual``: the second look (module doc; 0 turns it off). ``rank_sims``, if
    given, choose the shortlist and each animal's photos instead of ``sims`` (which still
    give ``g`` and the verifier's cosine): a learned metric can find the animal's photos
    better than it scores them.
    """
    R = len(refs)
    if sims is None:
        sims = refs.vectors @ q_vec.astype(np.float32)
    valid = flank_compatible(refs.flanks, np.full(R, q_flank, dtype=object))
    if exclude is not None:
        valid &= ~exclude
    valid &= np.isfinite(sims)     # references outside a faiss shortlist come as -inf
    rs_ = sims if rank_sims is None else rank_sims
    n_ind = len(refs.names)
    g = np.full(n_ind, -np.inf)
    np.maximum.at(g, refs.codes[valid], sims[valid])
    present = np.isfinite(g)
    g_rank = g
    if rank_sims is not None:
        g_rank = np.full(n_ind, -np.inf)
        np.maximum.at(g_rank, refs.codes[valid], rs_[valid])
    # best reference per individual (for panels and for the local shortlist)
    order = np.lexsort((-rs_, refs.codes))          # by individual, then by similarity desc
    order = order[valid[order]]
    best_ref = np.full(n_ind, -1)
    first = np.unique(refs.codes[order], return_index=True)
    best_ref[first[0]] = order[first[1]]
    l = np.zeros(n_ind)
    d = np.zeros(n_ind)
    local_ref = np.full(n_ind, -1)
    pair_local = {}
    short = np.zeros(n_ind, bool)
    top = np.argsort(-np.where(present, g_rank, -np.inf))[:n_individuals]
    short[top[present[top]]] = True
    if use_local and q_local is not None and len(q_local):
        cand = np.nonzero(short)[0]
        starts = dict(zip(first[0], first[1]))
        walked: dict = {}    # individual -> how many of its references (best first) were taken
        todo = []            # (individual, reference) pairs to score, best references first

        def take(k, upto):
            j = starts[k] + walked.get(k, 0)
            while j < len(order) and refs.codes[order[j]] == k and j - starts[k] < upto:
                r = order[j]
                j += 1
                if refs.local and refs.local[r] is not None:
                    todo.append((k, r))
            walked[k] = j - starts[k]

        def score(pairs):
            fresh = [r for _, r in pairs if r not in pair_local and (local_cache is None or r not in local_cache)]
            for r, sc in zip(fresh, _match_many(q_local, [refs.local[r] for r in fresh])):
                pair_local[r] = sc
                if local_cache is not None:
                    local_cache[r] = sc
            for _, r in pairs:
                if r not in pair_local:
                    pair_local[r] = local_cache[r]

        for k in cand:
            take(k, per_individual)
        score(todo)
        if deep_individuals > 0 and deep_per_individual > per_individual:
            # second look (module doc): more photos of the animals the first look found most like the query
            first_look = {}
            for k, r in todo:
                kp, f = pair_local[r]
                first_look[k] = max(first_look.get(k, 0.0), float(kp if f is None else f[0]))
            ranked = sorted(first_look, key=lambda k: (-first_look[k], -g_rank[k]))[:deep_individuals]
            n0 = len(todo)
            for k in ranked:
                if len(todo) - n0 >= DEEP_BUDGET:
                    break
                take(k, deep_per_individual)
            del todo[n0 + DEEP_BUDGET:]
            score(todo[n0:])
        ks = np.array([k for k, _ in todo], int)
        rs = np.array([r for _, r in todo], int)
        for k, r in todo:
            kp = pair_local[r][0]
            if kp > l[k]:
                l[k], local_ref[k] = kp, r
        if len(todo):
            dfeat = [pair_local[r][1] for r in rs]
            if verifier is not None and all(f is not None for f in dfeat):
                from .verify import individual_sums, pair_matrix
                X = pair_matrix(np.stack(dfeat), sims[rs], [pair_local[r][0] for r in rs])
                for k, v in individual_sums(ks, verifier.predict(X)).items():
                    d[k] = v
            else:
                np.maximum.at(d, ks, [0.0 if f is None else float(f[0]) for f in dfeat])
    idx = np.nonzero(present)[0]
    return Evidence(refs.names[idx], g[idx], l[idx], best_ref[idx], local_ref[idx], pair_local, short[idx], d[idx])


def _score_pair(q_local: LocalFeatures, r_local: LocalFeatures) -> tuple:
    m = match_local(q_local, r_local)
    return (m.inliers, m.dense_features)


_POOL = None


def _match_many(q_local: LocalFeatures, others: list) -> list:
    """``(keypoint inliers, dense features)`` of the query against each of ``others``, in
    threads (OpenCV and NumPy release the GIL; each product uses one BLAS thread)."""
    global _POOL
    if len(others) < 8:
        return [_score_pair(q_local, o) for o in others]
    if _POOL is None:
        import concurrent.futures as cf
        from .features import cpu_count
        _POOL = cf.ThreadPoolExecutor(max(1, min(8, cpu_count())), thread_name_prefix="lynxid-match")
    return list(_POOL.map(lambda o: _score_pair(q_local, o), others))


POOLING = ("mean", "max")


def pool(evs: list[Evidence], how: str = "mean") -> Evidence:
    """Evidence of an event (several photos of one animal), per individual.

    ``how="mean"`` (the default): the mean of each score over the event's photos, an
    individual a photo did not shortlist counting with its ``l = d = 0`` as in a single
    photo. The model is calibrated on single photos, and a mean keeps the scores on that
    scale; the maximum over n photos of a noisy score is larger than one photo's score for
    *every* animal, so with ``how="max"`` new animals photographed 3-4 times per event were
    more often given a known name (benchmarks/results/event_pooling.md). The mean's own
    error is the other way: one poor photo of a known animal pulls its event towards
    "new" (more so with few animals in the catalogue; event_pooling_small.md). Not the sum:
    the photos of one burst are not independent pieces of evidence."""
    if how not in POOLING:
        raise ValueError(f"pooling must be one of {POOLING}, not {how!r}")
    evs = [e for e in evs if e is not None and len(e.individuals)]
    if not evs:
        return Evidence(np.array([], object), np.array([]), np.array([]), np.array([], int), np.array([], int))
    if len(evs) == 1:
        return evs[0]
    df = pd.concat([e.frame() for e in evs], ignore_index=True)
    gi = df.groupby("individual")
    best_g = df.loc[gi["g"].idxmax()].set_index("individual")
    best_l = df.loc[gi["l"].idxmax()].set_index("individual")
    names = best_g.index.to_numpy()
    if how == "max":
        g, l, d = best_g["g"], best_l.loc[names, "l"], gi["d"].max().reindex(names)
    else:
        # an individual missing from a photo's evidence (no reference of a compatible flank)
        # is left out of that photo's mean rather than counted as a non-match
        g, l, d = (gi[c].mean().reindex(names) for c in ("g", "l", "d"))
    return Evidence(names, g.to_numpy(float), l.to_numpy(float), best_g["best_ref"].to_numpy(),
                    best_l.loc[names, "local_ref"].to_numpy(), d=d.to_numpy(float))
