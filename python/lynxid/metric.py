"""A metric for the global embedding learned from the catalogue: within-individual whitening.

An ImageNet embedding mixes what tells animals apart with what changes from photo to photo
of one animal (scenery, light, pose, distance, which flank). A labelled catalogue shows the
second kind directly: the spread of each individual's photos around that individual's mean.
Whitening by that within-individual covariance (after a PCA, and shrunk towards the identity
so that directions seen rarely are not blown up) turns those directions down and leaves the
others, with no network training: a linear map fitted in a second on thousands of photos.

On real photos, cross-fitted by individual (the map that scores a query never saw its
individual), the whitened embedding alone ranks individuals better, and more queries find
their individual among the animals the local matcher checks. Through the whole pipeline the
gain is mixed when the whitened cosine is also fused: the local matchers already find what
the better shortlist adds, and the whitened cosine, a stronger feature, seems to pull the
fusion towards the embedding where the dense evidence was the better judge (not tested). So
by default the metric only chooses the shortlist (:data:`DEFAULT_NAME`; figures:
benchmarks/README.md, "Identification defaults").

Whether a catalogue gets the map is decided on the catalogue itself (:func:`choose`): only
when, cross-fitted, it ranks the catalogue's own individuals better than the raw embedding
does. A catalogue of a few animals has too few photos to estimate the covariance and keeps
the raw embedding.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from .match import flank_compatible

__all__ = ["Whitening", "fit", "choose", "cross_fitted_similarities", "folds_of", "check_use", "REG",
           "MIN_INDIVIDUALS", "USES", "NAMES", "DEFAULT_NAME", "DEFAULT_USE"]

# how identification may use the metric (``IdentificationModel.fit`` / ``evaluate_dataset``'s ``whiten``), by
# the setting's name for users (CLI, R): not at all, only to choose the shortlist, or for the
# shortlist and the fused score
NAMES = {"off": False, "shortlist": "shortlist", "on": True}
USES = tuple(NAMES.values())
# the default: only to choose the shortlist, the best of the three on both real datasets,
# with the fused score's calibration untouched; ``choose`` still leaves the map out where it
# does not rank better
DEFAULT_NAME = "shortlist"
DEFAULT_USE = NAMES[DEFAULT_NAME]


def check_use(whiten) -> None:
    """Refuse a ``whiten`` setting that is not one of :data:`USES`."""
    if whiten not in USES:
        raise ValueError(f"whiten must be False, True or 'shortlist', not {whiten!r}")

REG = 0.1               # shrinkage of the within-individual covariance towards its mean variance
MIN_INDIVIDUALS = 8     # individuals with >= 2 photos needed before a map is tried
MIN_WITHIN = 40         # photos beyond one per individual (degrees of freedom of the covariance)
N_FOLDS = 5


@dataclass
class Whitening:
    """``x -> normalise((x - mean) @ proj)``; rows that are all zero (no features) stay zero."""

    mean: np.ndarray    # D
    proj: np.ndarray    # D x k

    def apply(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float32)
        one = X.ndim == 1
        X = np.atleast_2d(X)
        Y = (X - self.mean) @ self.proj
        Y /= np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-12)
        Y[~np.any(X != 0, axis=1)] = 0.0
        Y = np.ascontiguousarray(Y, dtype=np.float32)
        return Y[0] if one else Y

    @property
    def dim(self) -> int:
        return int(self.proj.shape[1])

    def to_dict(self) -> dict:
        # base64 of little-endian float32 (JSON-safe, no pickle; a 1280 x 500 map is ~3 MB)
        return {"mean": _b64(self.mean), "proj": _b64(self.proj), "shape": list(self.proj.shape)}

    @classmethod
    def from_dict(cls, d: dict) -> "Whitening":
        D, k = (int(v) for v in d["shape"])
        return cls(_unb64(d["mean"]).reshape(D), _unb64(d["proj"]).reshape(D, k))


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _unb64(s: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype="<f4").astype(np.float32)


def _usable(X: np.ndarray, individuals: np.ndarray) -> np.ndarray:
    """Photos with features whose individual has at least two of them."""
    ok = np.any(X != 0, axis=1)
    names, codes, counts = np.unique(individuals[ok], return_inverse=True, return_counts=True)
    use = np.zeros(len(X), bool)
    use[np.flatnonzero(ok)[counts[codes] >= 2]] = True
    return use


def fit(X: np.ndarray, individuals, reg: float = REG, dim: int | None = None) -> Whitening | None:
    """Fit the map on labelled vectors ``X`` (N x D, unit rows) of ``individuals``; None when
    there are too few individuals or photos to estimate it (see MIN_INDIVIDUALS, MIN_WITHIN)."""
    X = np.asarray(X, np.float64)
    individuals = np.asarray(individuals).astype(str)
    use = _usable(X, individuals)
    Xu, iu = X[use], individuals[use]
    names, codes = np.unique(iu, return_inverse=True)
    within = len(Xu) - len(names)
    if len(names) < MIN_INDIVIDUALS or within < MIN_WITHIN:
        return None
    mu = Xu.mean(axis=0)
    _, s, Vt = np.linalg.svd(Xu - mu, full_matrices=False)
    # about two photos of within-individual spread per dimension kept
    k = int(min(dim or X.shape[1], within // 2, int((s > 1e-6 * s[0]).sum())))
    P = Vt[:k]
    Z = (Xu - mu) @ P.T
    means = np.zeros((len(names), k))
    np.add.at(means, codes, Z)
    means /= np.bincount(codes)[:, None]
    W = Z - means[codes]
    Sw = W.T @ W / len(W)
    Sw += reg * np.trace(Sw) / k * np.eye(k)
    e, V = np.linalg.eigh(Sw)
    return Whitening(mu.astype(np.float32), (P.T @ (V / np.sqrt(e))).astype(np.float32))


def cross_fitted_similarities(X: np.ndarray, individuals, folds: dict, rows=None, train=None,
                              reg: float = REG, stats: dict | None = None) -> np.ndarray:
    """Similarities of the photos ``rows`` (default all) to every photo, each row measured
    with a map fitted without its individual's fold (``folds``: individual -> fold;
    individuals not in it are never a fold of their own): what a query of an animal the
    catalogue has not seen gets. ``train`` (bool per photo) limits the photos the maps may
    be fitted on. Rows whose fold's map cannot be fitted use the raw embedding (counted in
    ``stats["raw_rows"]`` when ``stats`` is given)."""
    X = np.asarray(X, np.float32)
    individuals = np.asarray(individuals).astype(str)
    rows = np.arange(len(X)) if rows is None else np.asarray(rows, int)
    train = np.ones(len(X), bool) if train is None else np.asarray(train, bool)
    f = np.array([folds.get(i, -1) for i in individuals])
    out = np.zeros((len(rows), len(X)), np.float32)
    raw_rows = 0
    for k in np.unique(f[rows]):
        sel = np.flatnonzero(f[rows] == k)
        fit_on = train & (f != k)
        w = fit(X[fit_on], individuals[fit_on], reg)
        Y = X if w is None else w.apply(X)
        raw_rows += len(sel) if w is None else 0
        out[sel] = Y[rows[sel]] @ Y.T
    if stats is not None:
        stats["raw_rows"] = raw_rows
    return out


def folds_of(individuals, n_folds: int = N_FOLDS, seed: int = 0) -> dict:
    """Individual -> fold, a seeded random assignment of whole individuals."""
    names = np.unique(np.asarray(individuals).astype(str))
    perm = np.random.default_rng(seed).permutation(len(names))
    return {names[i]: k % n_folds for k, i in enumerate(perm)}


def _mean_reciprocal_rank(S: np.ndarray, rows: np.ndarray, individuals, flanks, sightings) -> float:
    """Mean over queries of 1 / rank of their own individual (best photo per individual; the
    query's own sighting left out; flanks compared where both are known)."""
    names, codes = np.unique(individuals, return_inverse=True)
    rr = []
    for row, q in enumerate(rows):
        g = (sightings != sightings[q]) & flank_compatible(flanks, np.full(len(flanks), flanks[q], dtype=object))
        if not (g & (codes == codes[q])).any():
            continue
        best = np.full(len(names), -np.inf)
        np.maximum.at(best, codes[g], S[row, g])
        rr.append(1.0 / (1 + int((best > best[codes[q]]).sum())))
    return float(np.mean(rr)) if rr else float("nan")


def choose(X: np.ndarray, individuals, flanks, sightings, seed: int = 0,
           max_queries: int = 1500) -> tuple[Whitening | None, dict]:
    """The map for a catalogue, or None when it does not help there: fitted on every photo
    when cross-fitted (folds by individual) it ranks the catalogue's own individuals better
    -- mean reciprocal rank, the query's sighting left out -- than the raw embedding.
    Returns ``(map or None, diagnostics)``."""
    X = np.asarray(X, np.float32)
    individuals = np.asarray(individuals).astype(str)
    flanks = np.asarray(flanks, dtype=object)
    sightings = np.asarray(sightings).astype(str)
    full = fit(X, individuals)
    too_few = {"whitening": False,
               "whitening_reason": f"needs more individuals and photos than this catalogue has (at least "
                                   f"{MIN_INDIVIDUALS} animals photographed twice and {MIN_WITHIN} photos beyond one "
                                   "per animal, without the fifth of the animals it is tested on)"}
    if full is None:
        return None, too_few
    folds = folds_of(individuals, N_FOLDS, seed)
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(np.any(X != 0, axis=1))
    if len(rows) > max_queries:
        rows = np.sort(rng.choice(rows, max_queries, replace=False))
    raw = _mean_reciprocal_rank(X[rows] @ X.T, rows, individuals, flanks, sightings)
    stats: dict = {}
    S = cross_fitted_similarities(X, individuals, folds, rows, stats=stats)
    if stats["raw_rows"]:      # some folds left too little to fit a map on: it cannot be judged
        return None, too_few
    white = _mean_reciprocal_rank(S, rows, individuals, flanks, sightings)
    diag = {"whitening": bool(white > raw), "mrr_raw": raw, "mrr_whitened": white, "whitening_dim": full.dim}
    return (full if white > raw else None), diag
