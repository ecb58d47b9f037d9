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

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .keypoints import LocalFeatures, match as match_local
from .verify import PairVerifier, best_sum, individual_sums, pair_matrix

__all__ = ["References", "Evidence", "Matcher", "evidence", "flank_compatible", "match_many", "pool",
           "per_individual_for"]


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
# scene as much as the coat), so the shortlist is wide: an animal's most similar photos are
# what local matching needs, and 60 covers a typical lynx catalogue whole, at ~120 matches
# per photo (figures: benchmarks/README.md, "Identification defaults").
SHORTLIST_INDIVIDUALS = 60
SHORTLIST_PER_INDIVIDUAL = 2
MAX_PER_INDIVIDUAL = 6
# Second look: the DEEP_INDIVIDUALS animals whose first-look photos had the most verified
# dense cells get up to DEEP_PER_INDIVIDUAL photos checked. Two photos chosen by the embedding
# are often not an animal's best match, and checking more photos of the few animals that
# matched best keeps nearly all of what checking more photos of every animal gains, at a
# fraction of the matches. The choice uses the raw cell count, not the pair verifier, so that
# a catalogue's calibration (fitted before it has a verifier) checks the same photos as
# identification does.
DEEP_INDIVIDUALS = 30
DEEP_PER_INDIVIDUAL = 8
# ... and at most this many photos in all, the best animals' first: with flanks unknown an
# animal has twice the photos, and the cap bounds a query's time.
DEEP_BUDGET = 90


def per_individual_for(n_catalogue_individuals: int) -> int:
    """Photos matched per shortlisted individual for a catalogue of this many animals: 2 when
    the 60-individual shortlist is full; a smaller catalogue spends the same ~120 matches on
    more photos of each animal (up to 6), since with flanks unknown an animal's two most
    similar photos by the embedding are often its other flank in the same scenery
    (benchmarks/README.md, "Identification defaults")."""
    n = max(1, int(n_catalogue_individuals))
    return int(np.clip((SHORTLIST_INDIVIDUALS * SHORTLIST_PER_INDIVIDUAL) // n, SHORTLIST_PER_INDIVIDUAL,
                       MAX_PER_INDIVIDUAL))


@dataclass
class Matcher:
    """How a query is matched against references: the local-matching shortlist, the second
    look and the pair verifier behind ``d``. One object, stored with a catalogue's model, is
    what the catalogue's leave-one-out, identification, the clustering of new animals and
    the evaluation harness match with, so that what is calibrated is what is run.

    ``per_individual`` None: :func:`per_individual_for` the references' number of
    individuals (:meth:`sized_for` fixes it). ``verifier``: the fitted ``verify.PairVerifier``
    (None: ``d`` is the most verified dense cells)."""

    use_local: bool = True
    n_individuals: int = SHORTLIST_INDIVIDUALS
    per_individual: int | None = None
    deep_individuals: int = DEEP_INDIVIDUALS
    deep_per_individual: int = DEEP_PER_INDIVIDUAL
    verifier: PairVerifier | None = None

    def sized_for(self, n_catalogue_individuals: int) -> "Matcher":
        """This matcher with ``per_individual`` fixed for a catalogue of that many animals."""
        if self.per_individual is not None:
            return self
        return replace(self, per_individual=per_individual_for(n_catalogue_individuals))

    def evidence(self, q_vec: np.ndarray, q_local: LocalFeatures | None, q_flank, refs: "References",
                 exclude: np.ndarray | None = None, sims: np.ndarray | None = None,
                 rank_sims: np.ndarray | None = None, local_cache: dict | None = None) -> "Evidence":
        """:func:`evidence` with this matcher's settings."""
        per = self.per_individual or per_individual_for(len(refs.names))
        return evidence(q_vec, q_local, q_flank, refs, exclude=exclude, n_individuals=self.n_individuals,
                        per_individual=per, use_local=self.use_local, sims=sims, local_cache=local_cache,
                        verifier=self.verifier, deep_individuals=self.deep_individuals,
                        deep_per_individual=self.deep_per_individual, rank_sims=rank_sims)

    def pair_dense(self, m, cosine: float) -> float:
        """Dense evidence of one checked photo pair (a ``keypoints.match`` result): the
        verifier's probability, or (without a verifier) the verified cells."""
        if self.verifier is not None and m.dense_features is not None:
            return float(self.verifier.predict(pair_matrix(m.dense_features[None], [cosine], [m.inliers]))[0])
        return float(m.dense)

    def pooled_dense(self, values: list) -> float:
        """An individual's dense evidence from its checked pairs' :meth:`pair_dense`, as
        :func:`evidence` pools them: the sum of the ``verify.BEST_PAIRS`` best probabilities,
        or the most cells."""
        if not values:
            return 0.0
        return best_sum(values) if self.verifier is not None else float(max(values))

    def to_dict(self) -> dict:
        return {"use_local": self.use_local, "n_individuals": self.n_individuals,
                "per_individual": self.per_individual, "deep_individuals": self.deep_individuals,
                "deep_per_individual": self.deep_per_individual,
                "verifier": None if self.verifier is None else self.verifier.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Matcher":
        return cls(bool(d["use_local"]), int(d["n_individuals"]), d["per_individual"], int(d["deep_individuals"]),
                   int(d["deep_per_individual"]), PairVerifier.from_dict(d["verifier"]) if d["verifier"] else None)


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
        look = _LocalLook(q_local, refs, order, first, local_cache)
        for k in np.nonzero(short)[0]:
            look.take(k, per_individual)
        look.score(look.todo)
        if deep_individuals > 0 and deep_per_individual > per_individual:
            look.second(g_rank, deep_individuals, deep_per_individual)
        pair_local = look.pair_local
        _local_scores(look.todo, pair_local, sims, verifier, l, d, local_ref)
    idx = np.nonzero(present)[0]
    return Evidence(refs.names[idx], g[idx], l[idx], best_ref[idx], local_ref[idx], pair_local, short[idx], d[idx])


class _LocalLook:
    """Local matching of one query: which references are checked (each individual's best by
    the ranking similarity first) and their ``(keypoint inliers, dense features)``."""

    def __init__(self, q_local: LocalFeatures, refs: References, order: np.ndarray, first, local_cache: dict | None):
        self.q_local, self.refs, self.order, self.local_cache = q_local, refs, order, local_cache
        self.starts = dict(zip(first[0], first[1]))
        self.walked: dict = {}    # individual -> how many of its references (best first) were taken
        self.todo: list = []      # (individual, reference) pairs to score, best references first
        self.pair_local: dict = {}

    def take(self, k: int, upto: int) -> None:
        """Queue individual ``k``'s next references, up to ``upto`` of its best in all."""
        refs, order, start = self.refs, self.order, self.starts[k]
        j = start + self.walked.get(k, 0)
        while j < len(order) and refs.codes[order[j]] == k and j - start < upto:
            r = order[j]
            j += 1
            if refs.local and refs.local[r] is not None:
                self.todo.append((k, r))
        self.walked[k] = j - start

    def score(self, pairs: list) -> None:
        cache, done = self.local_cache, self.pair_local
        fresh = [r for _, r in pairs if r not in done and (cache is None or r not in cache)]
        for r, sc in zip(fresh, match_many(self.q_local, [self.refs.local[r] for r in fresh])):
            done[r] = sc
            if cache is not None:
                cache[r] = sc
        for _, r in pairs:
            if r not in done:
                done[r] = cache[r]

    def second(self, g_rank: np.ndarray, deep_individuals: int, deep_per_individual: int) -> None:
        """The second look (module doc): more photos of the animals the first look found most
        like the query, ``DEEP_BUDGET`` more at most."""
        first_look = {}
        for k, r in self.todo:
            kp, f = self.pair_local[r]
            first_look[k] = max(first_look.get(k, 0.0), float(kp if f is None else f[0]))
        ranked = sorted(first_look, key=lambda k: (-first_look[k], -g_rank[k]))[:deep_individuals]
        n0 = len(self.todo)
        for k in ranked:
            if len(self.todo) - n0 >= DEEP_BUDGET:
                break
            self.take(k, deep_per_individual)
        del self.todo[n0 + DEEP_BUDGET:]
        self.score(self.todo[n0:])


def _local_scores(todo: list, pair_local: dict, sims: np.ndarray, verifier, l, d, local_ref) -> None:
    """Fill ``l`` (most keypoint inliers, at ``local_ref``) and ``d`` (module doc) per
    individual from the checked pairs."""
    ks = np.array([k for k, _ in todo], int)
    rs = np.array([r for _, r in todo], int)
    for k, r in todo:
        kp = pair_local[r][0]
        if kp > l[k]:
            l[k], local_ref[k] = kp, r
    if len(todo):
        dfeat = [pair_local[r][1] for r in rs]
        if verifier is not None and all(f is not None for f in dfeat):
            X = pair_matrix(np.stack(dfeat), sims[rs], [pair_local[r][0] for r in rs])
            for k, v in individual_sums(ks, verifier.predict(X)).items():
                d[k] = v
        else:
            np.maximum.at(d, ks, [0.0 if f is None else float(f[0]) for f in dfeat])


def _score_pair(q_local: LocalFeatures, r_local: LocalFeatures) -> tuple:
    m = match_local(q_local, r_local)
    return (m.inliers, m.dense_features)


_POOL = None


def match_many(q_local: LocalFeatures, others: list) -> list:
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
