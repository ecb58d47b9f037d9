"""Identify the individuals in a folder of camera-trap images.

The pipeline: scan the folder (stations, cameras, EXIF times) -> detections (MegaDetector
boxes, or whole images) -> features (global embedding + local keypoints, cached) -> events
(photos of one passage) -> evidence against the catalogue per event -> calibrated open-set
decision (a known individual, or new) -> new events clustered into provisional individuals.

The open-set model, fitted on the labelled catalogue and stored with it:

* ``p_k = calibrator(g_k, l_k, d_k)``: probability that the query shows individual *k*, from
  its best global and keypoint scores against *k*'s references and its dense evidence ``d_k``,
  the sum over *k*'s two best-matching shortlisted references of the pair verifier's
  probability that the two photos show one animal (see ``verify`` and ``calibrate``);
* with odds ``o_k = p_k / (1 - p_k)``, ``P(k) = o_k / (c + sum_j o_j)`` and
  ``P(new) = c / (c + sum_j o_j)``: candidates compete with "an individual not in the
  catalogue", whose weight ``c`` is chosen on the catalogue by leave-one-out (every reference
  a query once as a known individual, once with its individual removed, as an unknown one)
  to maximise the chosen target (default: the geometric mean of balanced accuracy on known
  and unknown queries);
* a detection is called **new** when ``P(new)`` is at least the best candidate's ``P(k)``
  (the most probable answer wins) -- a known label is never forced;
* the probability reported with the decision (``probability``: P of the named individual,
  or P(new)) is mapped to how often such decisions were right in that leave-one-out
  (:func:`fit_reported`), so that "0.8" means right four times in five; the candidates list
  keeps the model's P(k).
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import metric, storage
from .calibrate import FusionCalibrator, cross_validated_probabilities, expected_calibration_error, top_candidates
from .catalogue import Catalogue
from .cluster import agglomerate
from .events import DEFAULT_GAP_SECONDS, assign_events
from .features import FeatureSet, extract_features
from .ingest import Issues, scan_catalogue, scan_images, whole_image_detections
from .keypoints import LocalFeatures, match as match_local
from .match import (DEEP_INDIVIDUALS, DEEP_PER_INDIVIDUAL, SHORTLIST_INDIVIDUALS, SHORTLIST_PER_INDIVIDUAL, Evidence,
                    References, evidence, flank_compatible, per_individual_for, pool, POOLING)
from .megadetector import load_megadetector
from .metric import Whitening
from .verify import PairVerifier, best_sum, individual_sums, pair_matrix

__all__ = ["IdentificationModel", "describe_calibration", "fit_model", "build_catalogue", "add_to_catalogue", "identify",
           "IdentifyResult", "references"]

TARGETS = ("gmean", "balanced")


# --------------------------------------------------------------------------------------
# the open-set model
# --------------------------------------------------------------------------------------
@dataclass
class IdentificationModel:
    calibrator: FusionCalibrator
    new_weight: float = 1.0           # c: weight of "not in the catalogue"
    use_local: bool = True
    n_individuals: int = SHORTLIST_INDIVIDUALS       # local matching shortlist: individuals ...
    per_individual: int = SHORTLIST_PER_INDIVIDUAL   # ... and references per individual
    target: str = "gmean"
    diagnostics: dict = field(default_factory=dict)
    verifier: PairVerifier | None = None     # pair verifier behind the dense evidence d
    reported: dict | None = None             # maps of the reported probability of a decision (fit_reported)
    deep_individuals: int = DEEP_INDIVIDUALS          # the second look (match.DEEP_INDIVIDUALS): what the
    deep_per_individual: int = DEEP_PER_INDIVIDUAL    # model was calibrated with, so identify does the same
    whitening: Whitening | None = None       # learned metric for the embedding (``metric``); None: raw cosine
    # True: the metric only chooses the shortlist and each animal's photos, g stays the raw
    # cosine (fit_model's whiten="shortlist"); False: it also gives g
    whitening_shortlist_only: bool = False

    def embed(self, vectors: np.ndarray) -> np.ndarray:
        """Embedding vectors in the space ``g`` is computed in (``metric.Whitening``, unless it
        only chooses the shortlist)."""
        if self.whitening is None or self.whitening_shortlist_only:
            return vectors
        return self.whitening.apply(vectors)

    def rank_embed(self, vectors: np.ndarray) -> np.ndarray | None:
        """Vectors in the space that chooses the shortlist when it is not :meth:`embed`'s;
        None otherwise."""
        if self.whitening is None or not self.whitening_shortlist_only:
            return None
        return self.whitening.apply(vectors)

    def reported_probability(self, shown, called_new=None) -> np.ndarray:
        """The probability reported with a decision -- P(named individual) or P(new, where
        ``called_new``) -- mapped to how often such decisions were right on the catalogue
        (:func:`fit_reported`)."""
        return apply_reported(self.reported, shown, called_new)

    def posterior(self, ev: Evidence) -> tuple[np.ndarray, np.ndarray, float]:
        """``(names, P(k), P(new))`` with candidates sorted by decreasing probability."""
        if len(ev.individuals) == 0:
            return np.array([], object), np.array([]), 1.0
        p = self.calibrator.predict(ev.g, ev.l, ev.d)
        odds = p / (1 - p)
        z = self.new_weight + odds.sum()
        pk = odds / z
        order = self.calibrator.rank(ev.g, ev.l, p, d=ev.d)
        return ev.individuals[order], pk[order], float(self.new_weight / z)

    def to_dict(self) -> dict:
        return {"calibrator": self.calibrator.to_dict(), "new_weight": self.new_weight,
                "use_local": self.use_local, "n_individuals": self.n_individuals,
                "per_individual": self.per_individual, "target": self.target,
                "diagnostics": self.diagnostics,
                "verifier": None if self.verifier is None else self.verifier.to_dict(), "reported": self.reported,
                "deep_individuals": self.deep_individuals, "deep_per_individual": self.deep_per_individual,
                "whitening": None if self.whitening is None else self.whitening.to_dict(),
                "whitening_shortlist_only": self.whitening_shortlist_only}

    @classmethod
    def from_dict(cls, d: dict) -> "IdentificationModel":
        ver = PairVerifier.from_dict(d["verifier"]) if d.get("verifier") else None
        return cls(FusionCalibrator.from_dict(d["calibrator"]), d["new_weight"], d["use_local"],
                   d["n_individuals"], d["per_individual"], d.get("target", "gmean"), d.get("diagnostics", {}), ver,
                   d.get("reported"),
                   # catalogues built before the second look were calibrated without it
                   int(d.get("deep_individuals", 0)), int(d.get("deep_per_individual", 0)),
                   # and without the learned metric
                   Whitening.from_dict(d["whitening"]) if d.get("whitening") else None,
                   bool(d.get("whitening_shortlist_only", False)))


def references(cat: Catalogue, model: IdentificationModel | None = None) -> References:
    """Prepare a catalogue for matching (loads its cached local features); with ``model``,
    its vectors in the model's space (:meth:`IdentificationModel.embed`)."""
    from .cache import ArrayCache
    locs = [None] * len(cat)
    if "local_key" in cat.table and cat.table["local_key"].notna().any():
        store = ArrayCache(cat.root / "cache", "local")
        keys = cat.table["local_key"].tolist()
        got = store.get_many([k for k in keys if isinstance(k, str)])
        locs = [LocalFeatures.from_arrays(got[k]) if isinstance(k, str) and k in got else None for k in keys]
    sight = cat.table["sighting"] if "sighting" in cat.table else pd.Series([None] * len(cat))
    sight = sight.where(sight.notna(), cat.table["detection_id"]).astype(str).to_numpy()
    vectors = cat.vectors if model is None else model.embed(cat.vectors)
    return References(vectors, locs, cat.table["individual"].astype(str).to_numpy(),
                      cat.table["flank"].to_numpy(dtype=object), sight)


def _loo(refs: References, use_local: bool, n_individuals: int, per_individual: int, progress: bool,
         max_queries: int = 1500, seed: int = 0, query_flanks: bool = True, deep: tuple = (DEEP_INDIVIDUALS,
                                                                                           DEEP_PER_INDIVIDUAL),
         sims=None, rank_sims=None):
    """Every reference (up to ``max_queries``) as a query against the rest, its own sighting
    excluded. ``sims(qs)``, if given, returns the queries' similarities to every reference
    (default: cosine of ``refs.vectors``); ``rank_sims(qs)``, those that choose the shortlist
    (``match.evidence``), when not ``sims``. Returns a long table: query, individual, g, l, d, y."""
    from tqdm.auto import tqdm
    n = len(refs)
    qs = np.arange(n)
    if n > max_queries:
        qs = np.sort(np.random.default_rng(seed).choice(n, max_queries, replace=False))
    sims_q = refs.vectors[qs] @ refs.vectors.T if sims is None else sims(qs)   # only the rows used (not n x n)
    rank_q = None if rank_sims is None else rank_sims(qs)
    rows, prow = [], []
    for row, q in enumerate(tqdm(qs, desc="calibrating on the catalogue", disable=not progress, unit="ref")):
        excl = refs.sightings == refs.sightings[q]
        q_flank = refs.flanks[q] if query_flanks else None
        ev = evidence(refs.vectors[q], refs.local[q] if refs.local else None, q_flank, refs,
                      exclude=excl, n_individuals=n_individuals, per_individual=per_individual,
                      use_local=use_local, sims=sims_q[row], deep_individuals=deep[0], deep_per_individual=deep[1],
                      rank_sims=None if rank_q is None else rank_q[row])
        own = refs.individuals[q]
        # can the query's individual be found at all (another sighting, compatible flank)?
        eligible = bool(((refs.individuals == own) & ~excl &
                         flank_compatible(refs.flanks, np.full(n, q_flank, dtype=object))).any())
        for name, g, l, d in zip(ev.individuals, ev.g, ev.l, ev.d):
            rows.append((q, name, g, l, d, int(name == own), eligible, own))
        prow += pair_rows(q, ev, refs, sims_q[row], own)
    return (pd.DataFrame(rows, columns=["query", "individual", "g", "l", "d", "y", "eligible", "truth"]),
            pair_table(prow))


def pair_rows(q, ev: Evidence, refs: References, sims: np.ndarray, truth) -> list:
    """The photo pairs local matching checked for query ``q`` (rows for :func:`pair_table`)."""
    out = []
    for r, (kp, dense) in (ev.pair_local or {}).items():
        if dense is not None:
            out.append((q, refs.individuals[r], truth, int(refs.individuals[r] == truth), float(sims[r]), kp, dense))
    return out


def pair_table(rows: list) -> pd.DataFrame:
    """Photo pairs with the verifier's inputs: query, individual (of the reference), truth (the
    query's individual), y, and the ``verify.PAIR_FEATURES`` matrix in column ``X``."""
    t = pd.DataFrame([r[:4] for r in rows], columns=["query", "individual", "truth", "y"])
    t["X"] = list(pair_matrix(np.stack([r[6] for r in rows]), [r[4] for r in rows], [r[5] for r in rows])) \
        if rows else []
    return t


def dense_evidence(pairs: pd.DataFrame, ptab: pd.DataFrame,
                   verifier: PairVerifier | None = None) -> tuple[np.ndarray, PairVerifier | None]:
    """``d`` for each (query, individual) row of ``pairs``: the sum of the pair verifier's
    probabilities over the individual's best checked photos (rows of ``ptab``;
    ``verify.individual_sums``).

    With ``verifier`` given, its probabilities (it scores photos it was not fitted on).
    Without, a verifier is fitted on ``ptab`` and the sums use its *cross-fitted*
    probabilities (folds by the query's individual), so that what is calibrated on them is
    what the verifier does on animals it was not fitted on. Returns ``(d, verifier)``;
    ``verifier`` None when none could be fitted (``d`` then 0)."""
    if verifier is not None:
        p = verifier.predict(np.stack(ptab["X"].to_numpy())) if len(ptab) else np.zeros(0)
    elif len(ptab) == 0 or ptab["y"].sum() < 2 or (1 - ptab["y"]).sum() < 2:
        return np.zeros(len(pairs)), None
    else:
        X = np.stack(ptab["X"].to_numpy())
        verifier = PairVerifier().fit(X, ptab["y"])
        p = PairVerifier.cross_fitted(X, ptab["y"], ptab["truth"])
        if np.isnan(p).mean() > 0.5:     # too few individuals for folds: in-sample
            p = verifier.predict(X)
        else:
            p = np.where(np.isnan(p), verifier.predict(X), p)
    sums = individual_sums(zip(ptab["query"], ptab["individual"]), p)
    d = np.array([sums.get(k, 0.0) for k in zip(pairs["query"], pairs["individual"])])
    return d, verifier


def _choose_new_weight(pairs: pd.DataFrame, prob_col: str, target: str) -> tuple[float, dict]:
    """Pick ``c`` maximising the target over known and unknown scenarios (see module doc)."""
    grid = np.exp(np.linspace(np.log(1e-3), np.log(1e3), 121))
    pairs = pairs.assign(odds=pairs[prob_col] / (1 - pairs[prob_col]))
    own = pairs[pairs.y == 1].set_index("query")["odds"]
    best_other = pairs[pairs.y == 0].groupby("query")["odds"].max()
    truth = pairs.groupby("query")["truth"].first()
    eligible = pairs.groupby("query")["eligible"].first()
    qs = truth.index
    o_own = own.reindex(qs).fillna(0).to_numpy()
    o_best_other = best_other.reindex(qs).fillna(0).to_numpy()
    # is the own individual the top candidate as identify ranks them?
    own_top = top_candidates(pairs, prob_col).set_index("query")["y"].reindex(qs).fillna(0).to_numpy().astype(bool)
    elig = eligible.reindex(qs).to_numpy().astype(bool)
    ind = truth.to_numpy()
    scores = []
    for c in grid:
        # known scenario: correct if the own individual beats every other and "new"
        known_ok = own_top & (o_own > c)
        # unknown scenario (own individual removed): correct if "new" beats every candidate
        unknown_ok = c >= o_best_other
        baks = pd.Series(known_ok[elig]).groupby(ind[elig]).mean().mean() if elig.any() else np.nan
        baus = pd.Series(unknown_ok).groupby(ind).mean().mean()
        val = np.sqrt(baks * baus) if target == "gmean" else (baks + baus) / 2
        scores.append((val, baks, baus))
    vals = np.array([s[0] for s in scores])
    if not np.isfinite(vals).any():
        raise ValueError("cannot choose when to call an animal new: no catalogue photo could be matched against "
                         "another sighting of its own individual; add photos from at least two sightings (other "
                         "days or cameras) of several individuals")
    best = np.flatnonzero(vals >= np.nanmax(vals) - 1e-9)
    k = int(best[len(best) // 2])   # middle of the plateau: the most robust choice
    return float(grid[k]), {"baks": float(scores[k][1]), "baus": float(scores[k][2]),
                            "target_value": float(scores[k][0])}


def top_decisions(pairs: pd.DataFrame, prob_col: str, c: float) -> pd.DataFrame:
    """Per query, the decision identify makes from its candidates' probabilities and the
    "new" weight ``c``: the top candidate's row (``top_candidates``) with ``called_new``
    (P(new) >= the best P(k)) and ``shown``, the probability reported with the decision
    (P of the named individual, or P(new)) before :func:`fit_reported`'s map."""
    t = pairs.assign(o=pairs[prob_col] / (1 - pairs[prob_col]))
    top = top_candidates(t, prob_col)
    total = c + t.groupby("query")["o"].sum().reindex(top["query"]).to_numpy()
    o_top = top["o"].to_numpy()
    new = c >= o_top
    return top.assign(called_new=new, shown=np.where(new, c, o_top) / total)


def decision_table(pairs: pd.DataFrame, prob_col: str, c: float) -> pd.DataFrame:
    """The decisions behind the "new" weight ``c``, each with the probability identify would
    report and whether it is right: per query, once with its own individual in the catalogue
    (eligible queries: right if it is named) and once without (right if called new).
    Columns ``query``, ``scenario``, ``shown``, ``called_new``, ``right``."""
    out = []
    for scenario, part in (("known", pairs[pairs["eligible"].astype(bool)]), ("unknown", pairs[pairs["y"] == 0])):
        if not len(part):
            continue
        top = top_decisions(part, prob_col, c)
        new = top["called_new"].to_numpy()
        right = new if scenario == "unknown" else (~new & (top["y"].to_numpy() == 1))
        out.append(pd.DataFrame({"query": top["query"].to_numpy(), "scenario": scenario,
                                 "shown": top["shown"].to_numpy(), "called_new": new, "right": right}))
    return (pd.concat(out, ignore_index=True) if out else
            pd.DataFrame(columns=["query", "scenario", "shown", "called_new", "right"]))


MIN_DECISIONS = 30
MIN_SPLIT_DECISIONS = 200   # of one kind (named / new) before it gets a map of its own


def _logistic_map(shown, right, w) -> dict:
    """``P(right) = sigmoid(slope * logit(shown) + intercept)``, weighted, mildly L2-regularised,
    monotone as the isotonic maps were: with one kind of outcome only (every decision right, or
    none) or a slope that is not positive, a flat map at the smoothed share of right decisions."""
    from sklearn.linear_model import LogisticRegression
    w = w * len(w) / w.sum()                 # mean weight 1: the penalty means the same at any size
    share = (np.sum(w * right) + 0.5) / (np.sum(w) + 1.0)
    flat = {"slope": 0.0, "intercept": float(np.log(share / (1 - share)))}
    if len(np.unique(right)) < 2:
        return flat
    f = LogisticRegression(C=1.0).fit(_logit(shown)[:, None], right, sample_weight=w)
    if f.coef_[0, 0] <= 0:                   # never rank a decision as surer because it scored lower
        return flat
    return {"slope": float(f.coef_[0, 0]), "intercept": float(f.intercept_[0])}


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


REPORTED_MAPS = ("logistic", "isotonic")


def _isotonic_map(shown, right, w) -> dict:
    from sklearn.isotonic import IsotonicRegression
    f = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(shown, right, sample_weight=w)
    return {"x": f.X_thresholds_.tolist(), "y": f.y_thresholds_.tolist()}


def fit_reported(table: pd.DataFrame, kind: str = "logistic") -> dict | None:
    """Maps from the reported probability to the share of right decisions, fitted on
    :func:`decision_table` (known and unknown scenarios weighted equally, the balance the "new"
    weight is chosen for). Why: P(k) and P(new) come from pairwise probabilities that are
    calibrated pair by pair, but a decision picks the largest of them, and that choice is not
    what the pairwise calibration saw (the harness's "ECE of the reported probability",
    benchmarks/results/reid.md, measures both). A named animal and a "new" call are mapped
    apart (``named``, ``new``): the same 0.6 means something else for each, and one map can
    only fit their mixture. Each needs MIN_SPLIT_DECISIONS decisions of its kind, else the
    pooled map (``all``) serves it. None with fewer than MIN_DECISIONS decisions of each
    scenario (the probability is then reported as is).

    The maps are logistic in logit(probability) (``"map": "logistic"``): two parameters each.
    Isotonic maps (``x``, ``y``: how catalogues were fitted before, still read) overfit where
    the values crowd: P(new) of the "new" calls sits in a band a few thousandths wide set by the
    "new" weight, and steps fitted inside it fell the wrong way on other queries. ECE of the
    reported probability in the harness's open set, both kinds on the same decisions
    (benchmarks/results/reid.md): lion 0.319 isotonic -> 0.031 logistic, nyala 0.063 -> 0.050;
    on a 20-animal simulated catalogue (120 decisions, pooled maps) 0.050 -> 0.071.
    ``kind="isotonic"`` fits those older maps (the harness measures them beside these)."""
    if kind not in REPORTED_MAPS:
        raise ValueError(f"kind must be one of {REPORTED_MAPS}")
    k, u = table[table.scenario == "known"], table[table.scenario == "unknown"]
    if min(len(k), len(u)) < MIN_DECISIONS:
        return None
    w = np.where(table.scenario == "known", 1.0 / len(k), 1.0 / len(u))
    shown, right = table["shown"].to_numpy(float), table["right"].to_numpy(float)
    fit = _logistic_map if kind == "logistic" else _isotonic_map
    out = {"map": kind, "all": fit(shown, right, w), "decisions": int(len(table))}
    if "called_new" in table:
        new = table["called_new"].to_numpy(bool)
        for name, m in (("named", ~new), ("new", new)):
            if m.sum() >= MIN_SPLIT_DECISIONS:
                out[name] = fit(shown[m], right[m], w[m])
    return out


def _apply_one(m: dict, shown: np.ndarray) -> np.ndarray:
    if "slope" in m:
        return 1.0 / (1.0 + np.exp(-(m["slope"] * _logit(shown) + m["intercept"])))
    return np.interp(shown, m["x"], m["y"])          # an isotonic map of an older catalogue


def apply_reported(reported: dict | None, shown, called_new=None) -> np.ndarray:
    """Map reported probabilities with :func:`fit_reported`'s maps: a decision's own kind's
    map where the catalogue had one (``called_new``: per value, a "new" call), else the pooled
    one (and catalogues fitted before the maps were split)."""
    shown = np.asarray(shown, float)
    if not reported:
        return shown
    out = _apply_one(reported.get("all", reported), shown)
    if called_new is not None:
        new = np.broadcast_to(np.asarray(called_new, bool), shown.shape)
        for name, m in (("named", ~new), ("new", new)):
            if name in reported and m.any():
                out[m] = _apply_one(reported[name], shown[m])
    return out


@dataclasses.dataclass
class DecisionFit:
    """What a catalogue's decisions are fitted to (:func:`fit_decisions`)."""
    cal: FusionCalibrator
    verifier: object | None        # the pair verifier behind ``d``, None without dense evidence
    c: float                       # the "new" weight
    choice: dict                   # BAKS / BAUS / target value at ``c`` (``_choose_new_weight``)
    scored: pd.DataFrame           # the pairs with out-of-fold ``p_cv`` and the ranking key ``z``
    table: pd.DataFrame            # decision_table at ``c``: what fit_reported maps
    in_sample: bool                # too few individuals for folds: ``p_cv`` is in-sample


def fit_decisions(pairs: pd.DataFrame, ptab: pd.DataFrame, use_local: bool, use_dense: bool,
                  target: str = "gmean", seed: int = 0) -> DecisionFit:
    """From a catalogue's leave-one-out (query, individual) pairs ``pairs`` and the photo pairs
    local matching checked ``ptab``: the pair verifier (its sums cross-fitted by individual as
    ``d``), the calibrator, out-of-fold probabilities (folds by individual) for an honest
    choice of the "new" weight, and the decisions behind it. One function for
    :func:`fit_model` and the harness's open set (``evaluate``), so that what is measured is
    what a catalogue fits."""
    verifier = None
    if use_dense:
        d, verifier = dense_evidence(pairs, ptab)
        pairs = pairs.assign(d=d)
        use_dense = verifier is not None
    cal = FusionCalibrator(use_local, use_dense).fit(pairs.g, pairs.l, pairs.y, groups=pairs.truth, seed=seed,
                                                     d=pairs.d)
    p_cv = cross_validated_probabilities(pairs.g, pairs.l, pairs.y, pairs.truth, use_local, seed=seed, d=pairs.d,
                                         use_dense=use_dense)
    pairs = pairs.assign(p_cv=p_cv)
    in_sample = bool(pairs["p_cv"].notna().sum() < 0.5 * len(pairs))
    if in_sample:                              # too few individuals for folds: in-sample
        pairs["p_cv"] = cal.predict(pairs.g, pairs.l, pairs.d)
    pairs["z"] = cal.ranking_key(pairs.g, pairs.l, pairs.d)   # breaks ties of p_cv as identify does
    scored = pairs.dropna(subset=["p_cv"])
    c, choice = _choose_new_weight(scored, "p_cv", target)
    return DecisionFit(cal, verifier, c, choice, scored, decision_table(scored, "p_cv", c), in_sample)


def fit_model(refs: References, use_local: bool = True, target: str = "gmean",
              n_individuals: int = SHORTLIST_INDIVIDUALS, per_individual: int | None = None,
              progress: bool = True, query_flanks: bool = True, deep_individuals: int = DEEP_INDIVIDUALS,
              deep_per_individual: int = DEEP_PER_INDIVIDUAL,
              whiten: bool | str = metric.DEFAULT_USE) -> IdentificationModel:
    """Fit the fused calibration and the open-set weight on a labelled catalogue.

    ``query_flanks=False``: each leave-one-out query is matched against both flanks, as an
    untagged survey photo is (not the default: on simulated surveys it did not help on
    average, benchmarks/results/event_pooling.md).
    ``deep_individuals`` / ``deep_per_individual``: local matching's second look
    (``match.DEEP_INDIVIDUALS``), stored with the model so identify checks what was calibrated.
    ``whiten``: learn the embedding's metric on the catalogue (``metric.choose``: kept only
    where it ranks the catalogue better). Default ``"shortlist"`` (``metric.DEFAULT_USE``):
    the metric only chooses which animals and photos local matching checks, ``g`` stays the
    raw cosine; the best of the three on nyala and lion (benchmarks/results/metric_ablation.md:
    same-flank rank-1 34.3 -> 34.8 % and 0.3 -> 12.1 %). ``True`` also fuses the metric's
    cosine: on nyala it raised "all" rank-1 28.1 -> 31.7 % but lowered same-flank rank-1
    34.4 -> 32.4 % and made the reported probability less well calibrated (ECE 0.099 ->
    0.176, benchmarks/results/whitening_harness.md). ``False``: the raw cosine only."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}")
    metric.check_use(whiten)
    use_local = use_local and bool(refs.local) and any(x is not None for x in refs.local)
    use_dense = use_local and any(x is not None and x.dense_desc is not None for x in refs.local)
    if per_individual is None:
        per_individual = per_individual_for(len(refs.names))
    # the learned metric, when it helps on this catalogue; the leave-one-out measures every
    # query with a map fitted without its individual, as a new animal's photo would be
    whitening, wdiag = (metric.choose(refs.vectors, refs.individuals, refs.flanks, refs.sightings) if whiten
                        else (None, {"whitening": False, "whitening_reason": "is off (whiten=False)"}))
    sims = None
    if whitening is not None:
        folds = metric.folds_of(refs.individuals)
        sims = lambda qs: metric.cross_fitted_similarities(refs.vectors, refs.individuals, folds, qs)  # noqa: E731
    shortlist_only = whiten == "shortlist" and whitening is not None
    pairs, ptab = _loo(refs, use_local, n_individuals, per_individual, progress, query_flanks=query_flanks,
                       deep=(deep_individuals, deep_per_individual), sims=None if shortlist_only else sims,
                       rank_sims=sims if shortlist_only else None)
    fit = fit_decisions(pairs, ptab, use_local, use_dense, target)
    cal, verifier, c, dm, scored, in_sample = fit.cal, fit.verifier, fit.c, fit.choice, fit.scored, fit.in_sample
    reported = fit_reported(fit.table)
    # calibration judged where decisions are made: the best candidate of each query (all pairs
    # are mostly trivial negatives near 0, whose ECE is flatteringly small)
    top1 = top_candidates(scored, "p_cv")
    diag = {"pairs": int(len(pairs)), "matching_pairs": int(pairs.y.sum()),
            "ece_top1": expected_calibration_error(top1.p_cv, top1.y),
            "ece_all_pairs": expected_calibration_error(scored.p_cv, scored.y),
            "ece_in_sample": bool(in_sample),
            "queries": int(pairs["query"].nunique()), "photo_pairs_verified": int(len(ptab)),
            "reported_recalibrated": reported is not None, **dm, **wdiag}
    if reported is not None and len(fit.table):
        # the probability users read in detections.csv, on the decisions its maps were fitted
        # on (in-sample: the harness's open set measures it out of sample)
        t = fit.table
        shown = apply_reported(reported, t["shown"], t["called_new"] if "called_new" in t else None)
        diag["ece_reported_in_sample"] = expected_calibration_error(shown, t["right"])
    if whitening is not None:
        diag["whitening_use"] = "shortlist" if shortlist_only else "shortlist and fusion"
    return IdentificationModel(cal, c, use_local, n_individuals, per_individual, target, diag, verifier, reported,
                               deep_individuals, deep_per_individual, whitening, shortlist_only)


def describe_calibration(diag: dict) -> str:
    """In words, what the probability in detections.csv is and how well it is calibrated (CLI
    and R print this): the best candidate's raw probability and the reported one are
    different numbers, and users read the reported one."""
    raw = float(diag.get("ece_top1", float("nan")))
    rep = diag.get("ece_reported_in_sample")
    if rep is None:
        return ("probability in detections.csv: the best candidate's probability as fitted (too few decisions to "
                f"map it); calibration error (ECE) on the catalogue {raw:.3f}")
    return ("probability in detections.csv (P of the named animal, or P(new)): mapped on the catalogue's own "
            f"decisions, calibration error (ECE) {float(rep):.3f} on them (in-sample; before the map {raw:.3f}); "
            "measured out of sample in README's 'How identification works'")


# --------------------------------------------------------------------------------------
# catalogue building
# --------------------------------------------------------------------------------------
def _embedder_for(backbone: str, weights=None, **kw):
    from .embed import Embedder
    return Embedder(backbone, weights=weights, **kw)


def _catalogue_detections(images, megadetector, threshold, issues: Issues):
    imgs, iss = scan_catalogue(images)
    issues.extend(iss)
    if megadetector:
        det, iss = load_megadetector(megadetector, imgs, threshold=threshold, max_per_image=1)
        issues.extend(iss)
    else:
        det = whole_image_detections(imgs)
    return det


# how a catalogue uses the embedding's learned metric (fit_model's ``whiten``)
METRIC_USES = metric.NAMES
DEFAULT_METRIC = metric.DEFAULT_NAME


def metric_whiten(use: str):
    """``fit_model``'s ``whiten`` for a catalogue's ``metric`` setting (:data:`METRIC_USES`)."""
    if use not in METRIC_USES:
        raise ValueError(f"metric must be one of {sorted(METRIC_USES)}, not {use!r}")
    return METRIC_USES[use]


def catalogue_whiten(cat: Catalogue):
    """``fit_model``'s ``whiten`` for refitting ``cat``: its stored metric setting; a catalogue
    built before the setting existed used no metric and keeps using none (not the default)."""
    return metric_whiten(cat.meta.get("metric", "off"))


def build_catalogue(root, images, megadetector=None, backbone: str = "efficientnet-lite0", weights=None,
                    threshold: float = 0.2, local: bool = True, target: str = "gmean", progress: bool = True,
                    embedder=None, metric: str = DEFAULT_METRIC) -> Catalogue:
    """Build a catalogue at ``root`` from labelled photos in ``images`` (a folder per
    individual, or XMP ``individual|ID`` tags), fit its identification model and save it.
    ``metric``: use the embedding's metric learned on the catalogue (``fit_model``'s
    ``whiten``): "shortlist" (default: to choose what local matching checks), "off" or "on"
    (also in the fusion); kept with the catalogue for later refits."""
    root = Path(root)
    if (root / "catalogue.json").exists():
        raise ValueError(f"a catalogue already exists at {root}; use add_to_catalogue() / 'lynxid catalogue add'")
    metric_whiten(metric)
    emb = embedder or _embedder_for(backbone, weights)
    cat = Catalogue.empty(root, emb.tag, emb.dim)
    cat.meta.update(backbone=emb.spec.name, weights=str(weights) if weights else None, local=local, metric=metric)
    return _add(cat, images, megadetector, threshold, emb, local, target, progress)


def add_to_catalogue(root, images, megadetector=None, threshold: float = 0.2, target: str | None = None,
                     progress: bool = True) -> Catalogue:
    """Add labelled photos to an existing catalogue and refit its model."""
    cat = Catalogue.load(root)
    if len(cat):
        _check_local_version(cat)
    emb = _embedder_for(cat.meta["backbone"], cat.meta.get("weights"))
    model = cat.meta.get("model") or {}
    return _add(cat, images, megadetector, threshold, emb, cat.meta.get("local", True),
                target or model.get("target", "gmean"), progress)


def local_features_version() -> str:
    """What made a catalogue's keypoints and dense grids (a catalogue keeps the version it was
    built with: references and queries must be described the same way)."""
    from .dense import DENSE_VERSION
    from .keypoints import LOCAL_VERSION
    return f"{LOCAL_VERSION}+{DENSE_VERSION}"


def _check_local_version(cat: Catalogue) -> None:
    if not cat.meta.get("local", True):
        return
    have = cat.meta.get("local_version")
    if have != local_features_version():
        raise ValueError(f"catalogue {cat.root} holds local features made by another lynxid version "
                         f"({have or 'before lynxid 0.1.0 recorded it'}; this one makes {local_features_version()}), "
                         "so its photos and new ones would not be compared alike; rebuild it from the same photos: "
                         "lynxid catalogue build NEW_FOLDER --images REFERENCE_PHOTOS")


def _add(cat: Catalogue, images, megadetector, threshold, emb, local, target, progress) -> Catalogue:
    issues = Issues()
    if local:
        cat.meta["local_version"] = local_features_version()
    det = _catalogue_detections(images, megadetector, threshold, issues)
    cat.meta["megadetector"] = det.attrs.get("megadetector")    # this addition's MegaDetector file, counted
    fs = extract_features(det, emb, local=local, cache_dir=cat.root / "cache", progress=progress,
                          desc="catalogue features")
    issues.extend(fs.issues)
    det = det.assign(local_key=fs.local_keys if local else None, source=str(Path(images).resolve()))
    keep = np.nonzero(fs.ok)[0]
    cat.add(det.iloc[keep].reset_index(drop=True), fs.vectors[keep])
    try:
        model = fit_model(references(cat), use_local=local, target=target, progress=progress,
                          whiten=catalogue_whiten(cat))
        cat.meta["model"] = model.to_dict()
    except ValueError as exc:
        cat.meta["model"] = None
        issues.add(str(images), "catalogue", f"identification model not fitted: {exc}", "warning")
    prev = cat.meta.get("issues", [])
    cat.meta["issues"] = prev + issues.rows
    cat.save()
    return cat


# --------------------------------------------------------------------------------------
# identification
# --------------------------------------------------------------------------------------
@dataclass
class IdentifyResult:
    detections: pd.DataFrame
    issues: pd.DataFrame
    summary: dict
    files: dict = field(default_factory=dict)

    def write(self, out) -> dict:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        det = self.detections.drop(columns=["path"], errors="ignore")
        self.files["detections_csv"] = str(storage.write_table(det, out / "detections.csv"))
        self.files["detections_parquet"] = str(storage.write_table(self.detections, out / "detections.parquet"))
        self.files["issues_csv"] = str(storage.write_table(self.issues, out / "issues.csv"))
        self.summary["files"] = self.files
        self.files["summary_json"] = str(storage.write_json(out / "summary.json", self.summary))
        return self.files


def _one_animal_per_name(U: pd.DataFrame) -> None:
    """Animals seen together in one photo (a female with her kittens) are different animals:
    within a group of units sharing a photo, a known name goes to the unit most probably it;
    the others take their next candidate that is still more probable than "new", else "new"."""
    files = list(U["files"])
    seen: dict = {}
    for u, fs in enumerate(files):
        for f in fs:
            seen.setdefault(f, []).append(u)
    parent = list(range(len(U)))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a
    for us in seen.values():
        for b in us[1:]:
            parent[find(b)] = find(us[0])
    groups: dict = {}
    for u in range(len(U)):
        groups.setdefault(find(u), []).append(u)
    for members in groups.values():
        if len(members) < 2:
            continue
        taken = set()
        known = [u for u in members if not U.at[u, "is_new"]]
        for u in sorted(known, key=lambda i: -U.at[i, "probability"]):
            names, pk, p_new = U.at[u, "names"], U.at[u, "pk"], U.at[u, "p_new"]
            pick = next((j for j in range(len(names)) if names[j] not in taken and pk[j] > p_new), None)
            if pick is None:
                U.at[u, "is_new"], U.at[u, "individual_id"], U.at[u, "probability"] = True, None, float(p_new)
            else:
                U.at[u, "individual_id"], U.at[u, "probability"] = names[pick], float(pk[pick])
                taken.add(names[pick])


def _cannot_link(units: pd.DataFrame, minutes: float = 30.0) -> np.ndarray:
    """Pairs of units that cannot be one animal: at different stations with their time spans
    (first to last photo) less than ``minutes`` apart, or two boxes in one photo."""
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


# New units are local-matched with this many nearest units by the embedding. The embedding
# is a weak judge of identity, so a new lynx's other events are often not among a unit's 10
# nearest. On 6 simulated surveys (benchmarks/results/event_pooling.md, mean pooling) 92.8 %
# of detections were right with 10 neighbours, 96.2 % with 40; and 81.8 % when, as before,
# the pairs not checked were scored by the embedding alone (they now carry no evidence).
CLUSTER_NEIGHBOURS = 40


def _unit_pair_probability(model: IdentificationModel, fs: FeatureSet, members: list[np.ndarray],
                           flanks: np.ndarray, k_local: int | None = None) -> np.ndarray:
    """Calibrated probability that two units show the same animal (NaN: no comparable pair,
    or, with local features, a pair local matching did not check: its probability from the
    embedding alone would count "not checked" as "checked and no match"). ``k_local``:
    neighbours checked per unit (default ``CLUSTER_NEIGHBOURS``)."""
    k_local = CLUSTER_NEIGHBOURS if k_local is None else k_local
    n = len(members)
    P = np.full((n, n), np.nan)
    if n < 2:
        return P
    V = fs.vectors
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
    L = np.zeros((n, n))
    Dn = np.zeros((n, n))
    done = np.zeros((n, n), bool)
    if model.use_local and fs.local:
        # local matching only towards each unit's nearest units (it is the expensive part)
        for a in range(n):
            nbrs = np.argsort(-G[a])[:k_local]
            for b in nbrs:
                if not np.isfinite(G[a, b]) or done[a, b]:
                    continue
                done[a, b] = done[b, a] = True
                key = (min(a, b), max(a, b))
                ia, ib, s = best[key]
                A, B = members[key[0]], members[key[1]]
                # the most similar photo pairs, as many as a query is matched with per individual
                flat = np.argsort(-s, axis=None)[:model.per_individual]
                sc, dn = 0, []
                for f in flat:
                    i, j = np.unravel_index(f, s.shape)
                    if not np.isfinite(s[i, j]):
                        continue
                    la, lb = fs.local[A[i]], fs.local[B[j]]
                    if la is not None and lb is not None:
                        m = match_local(la, lb)
                        sc = max(sc, m.inliers)
                        dn.append(pair_dense_evidence(model, m, s[i, j]))
                L[a, b] = L[b, a] = sc
                Dn[a, b] = Dn[b, a] = _pool_dense(model, dn)
    fin = np.isfinite(G)
    if model.use_local and fs.local:
        fin &= done
    P[fin] = model.calibrator.predict(G[fin], L[fin], Dn[fin])
    return P


def pair_dense_evidence(model: IdentificationModel, m, cosine: float) -> float:
    """Dense evidence of one checked photo pair: the verifier's probability, or (without a
    verifier) the verified cells."""
    if model.verifier is not None and m.dense_features is not None:
        return float(model.verifier.predict(pair_matrix(m.dense_features[None], [cosine], [m.inliers]))[0])
    return float(m.dense)


def _pool_dense(model: IdentificationModel, values: list) -> float:
    """An individual's dense evidence from its checked pairs, as :func:`match.evidence` pools
    them: the sum of the ``verify.BEST_PAIRS`` best probabilities, or the most cells."""
    if not values:
        return 0.0
    return best_sum(values) if model.verifier is not None else float(max(values))


EXACT_SIMILARITY_UP_TO = 50_000   # references; above, the catalogue's faiss index gives a shortlist
SHORTLIST_REFERENCES = 2_000


def _shortlist_sims(cat: Catalogue, q: np.ndarray, refs: References | None = None,
                    q_model: np.ndarray | None = None) -> np.ndarray:
    """Similarities to the ``SHORTLIST_REFERENCES`` nearest references (faiss), -inf for the
    rest: a large catalogue is never compared photo by photo. The index holds the raw
    embedding; with ``refs`` and ``q_model`` (both in the model's space, ``IdentificationModel.embed``)
    the shortlisted references are scored there, as the model was calibrated."""
    sims = np.full(len(cat), -np.inf, np.float32)
    d, i = cat.index.search(q[None, :], SHORTLIST_REFERENCES)
    ok = i[0] >= 0
    idx = i[0][ok]
    sims[idx] = d[0][ok] if refs is None else refs.vectors[idx] @ q_model
    return sims


def identify(images, catalogue, megadetector=None, out=None, *, tz: str | None = None,
             threshold: float = 0.2, station_from: str = "auto", event_gap: float = DEFAULT_GAP_SECONDS,
             cache_dir=None, new_prefix: str = "NEW-", review_below: float = 0.9, top_k: int = 3,
             progress: bool = True, decisions=None, background: bool = True,
             event_pooling: str = "mean") -> IdentifyResult:
    """Identify every detection in ``images`` against ``catalogue`` (a folder or Catalogue).

    Returns an :class:`IdentifyResult` whose ``detections`` table has one row per detection:
    ``file, station, camera, timestamp, bbox_*, det_conf, flank, event_id, individual_id,
    probability`` (that the decision, the named individual or new, is right: see the module
    doc), ``p_new``, ``is_new``, ``candidates`` (JSON list of the top known candidates with
    their probabilities), ``needs_review`` and ``decision``.
    Files that could not be used are listed in ``issues`` with the reason. With ``out``, the
    tables and a summary are written there.

    ``decisions``: a reviewer's decisions (CSV/Parquet path or table, see ``lynxid.review``)
    that override the machine's calls; ``None`` uses ``out/decisions.csv`` when it exists,
    ``False`` none. Adds the columns ``machine_individual_id`` and ``reviewed_by``.
    ``background``: ignore keypoints on each fixed camera's static scene (see ``foreground``).
    ``event_pooling``: how an event's photos are combined before deciding (``match.pool``:
    ``"mean"``, or ``"max"``, which calls more new animals known).
    """
    if event_pooling not in POOLING:
        raise ValueError(f"event_pooling must be one of {POOLING}, not {event_pooling!r}")
    t_start = time.time()
    cat = catalogue if isinstance(catalogue, Catalogue) else Catalogue.load(catalogue)
    if cat.meta.get("model") is None:
        raise ValueError(f"catalogue {cat.root} has no fitted identification model (it needs at least two "
                         "individuals photographed on two or more occasions); add references and rebuild")
    _check_local_version(cat)
    model = IdentificationModel.from_dict(cat.meta["model"])
    emb = _embedder_for(cat.meta["backbone"], cat.meta.get("weights"))
    if emb.tag != cat.meta["embedder"]:
        raise ValueError(f"catalogue was built with {cat.meta['embedder']}, this lynxid embeds with {emb.tag}; "
                         "rebuild the catalogue")
    issues = Issues()
    if model.reported is None:
        # nothing silently skipped: say that the probability column is the model's own P
        issues.add(str(cat.root), "identify",
                   f"the catalogue's leave-one-out had fewer than {MIN_DECISIONS} decisions of known or of unknown "
                   "animals, too few to map reported probabilities to how often decisions were right: the "
                   "'probability' column is the model's P (often overconfident); add sightings to the catalogue",
                   "warning")
    imgs, iss = scan_images(images, station_from=station_from, tz=tz, progress=progress)
    issues.extend(iss)
    if len(imgs) == 0:
        raise ValueError(f"no readable images under {images} ({len(iss)} file(s) skipped, e.g. "
                         f"{'; '.join(iss['reason'].astype(str).head(2)) if len(iss) else 'none found'}): "
                         "point to the survey folder that holds the station folders")
    if megadetector:
        det, iss = load_megadetector(megadetector, imgs, threshold=threshold)
        issues.extend(iss)
    else:
        det = whole_image_detections(imgs)
    md_counts = det.attrs.get("megadetector")     # how many images the file listed, for the summary
    det = det.reset_index(drop=True)
    cache_dir = Path(cache_dir) if cache_dir else (Path(out) / "cache" if out else None)
    fs = extract_features(det, emb, local=model.use_local, cache_dir=cache_dir, progress=progress,
                          desc="survey features")
    issues.extend(fs.issues)
    keep = np.nonzero(fs.ok)[0]
    det = det.iloc[keep].reset_index(drop=True)
    fs = fs.subset(keep)
    det["flank"] = det["flank_tag"] if "flank_tag" in det else None
    if background and model.use_local and fs.local:
        # keypoints on the station's scenery would vouch for whoever else passed there
        from .foreground import background_masks, filter_keypoints
        for i, m in background_masks(det, progress=progress).items():
            fs.local[i] = filter_keypoints(fs.local[i], m, (det["bbox_x"].iat[i], det["bbox_y"].iat[i],
                                                             det["bbox_w"].iat[i], det["bbox_h"].iat[i]))
    det = assign_events(det, event_gap)
    refs = references(cat, model)
    V = model.embed(fs.vectors)      # the model's space (learned metric), for matching and clustering
    W = model.rank_embed(fs.vectors)     # the space that chooses the shortlist, if another
    R = None if W is None else model.rank_embed(cat.vectors)

    # evidence per unit (event), pooled over its detections
    from tqdm.auto import tqdm
    groups = det.groupby("unit_id", sort=True).indices
    unit_rows = []
    big = len(refs) > EXACT_SIMILARITY_UP_TO

    def sims_of(i):
        """(sims, rank_sims) of detection i: g's similarities (the faiss shortlist's only, in a
        large catalogue) and, when the metric only chooses the shortlist, its similarities."""
        sims = _shortlist_sims(cat, fs.vectors[i], refs, V[i]) if big else None
        if R is None:
            return sims, None
        if sims is None:
            return refs.vectors @ V[i], R @ W[i]
        # behind the faiss shortlist: score only the references it kept, not the whole catalogue
        kept = np.flatnonzero(np.isfinite(sims))
        rank = np.full(len(sims), -np.inf, np.float32)
        rank[kept] = R[kept] @ W[i]
        return sims, rank

    for uid, idx in tqdm(groups.items(), desc="identifying", disable=not progress, unit="event"):
        evs = [evidence(V[i], fs.local[i] if fs.local else None, det["flank"].iat[i], refs,
                        n_individuals=model.n_individuals, per_individual=model.per_individual,
                        use_local=model.use_local, sims=s_i, rank_sims=r_i,
                        verifier=model.verifier, deep_individuals=model.deep_individuals,
                        deep_per_individual=model.deep_per_individual)
               for i in idx for s_i, r_i in [sims_of(i)]]
        names, pk, pnew = model.posterior(pool(evs, event_pooling))
        unit_rows.append(dict(unit_id=uid, members=idx, names=names, pk=pk, p_new=pnew,
                              station=det["station"].iat[idx[0]], t0=det["timestamp"].iloc[idx].min(),
                              t1=det["timestamp"].iloc[idx].max(), files=frozenset(det["file"].iloc[idx])))
    U = pd.DataFrame(unit_rows)
    U["is_new"] = [r.p_new >= (r.pk[0] if len(r.pk) else 0.0) for r in U.itertuples()]
    U["individual_id"] = [r.names[0] if (not r.is_new and len(r.names)) else None for r in U.itertuples()]
    U["probability"] = [float(r.pk[0]) if (not r.is_new and len(r.pk)) else float(r.p_new) for r in U.itertuples()]
    if len(U):
        _one_animal_per_name(U)
        # reported: how often a decision like this one was right on the catalogue
        U["probability"] = model.reported_probability(U["probability"].to_numpy(float), U["is_new"].to_numpy(bool))

    # new units -> provisional individuals
    new_idx = np.nonzero(U["is_new"].to_numpy())[0] if len(U) else np.array([], int)
    if len(new_idx):
        sub = U.iloc[new_idx]
        members = list(sub["members"])
        P = _unit_pair_probability(model, dataclasses.replace(fs, vectors=V), members,
                                   det["flank"].to_numpy(dtype=object))
        labels = agglomerate(P, _cannot_link(sub))
        order = pd.DataFrame({"label": labels, "t0": pd.to_datetime(sub["t0"]).to_numpy(), "pos": np.arange(len(sub))})
        rank = order.sort_values(["t0", "pos"]).drop_duplicates("label")["label"].tolist()
        names = {lab: f"{new_prefix}{k + 1:03d}" for k, lab in enumerate(rank)}
        U.loc[U.index[new_idx], "individual_id"] = [names[lab] for lab in labels]

    # back to detections
    n = len(det)
    cols = {c: [None] * n for c in ("individual_id", "probability", "p_new", "is_new", "candidates")}
    for r in U.itertuples():
        cand = json.dumps([{"individual": str(a), "probability": round(float(b), 4)} for a, b in
                           zip(r.names[:top_k], r.pk[:top_k])])
        for i in r.members:
            cols["individual_id"][i] = r.individual_id
            cols["probability"][i] = round(float(r.probability), 4)
            cols["p_new"][i] = round(float(r.p_new), 4)
            cols["is_new"][i] = bool(r.is_new)
            cols["candidates"][i] = cand
    for c, v in cols.items():
        det[c] = v
    det["needs_review"] = det["probability"].astype(float) < review_below
    det["decision"] = np.where(det["is_new"].astype(bool), "new", "known")
    out_cols = ["detection_id", "file", "path", "station", "camera", "timestamp", "bbox_x", "bbox_y", "bbox_w",
                "bbox_h", "det_conf", "flank", "event_id", "individual_id", "probability", "p_new", "is_new",
                "candidates", "needs_review", "decision"]
    det = det[[c for c in out_cols if c in det]]
    # --- human review hook (lynxid.review): reviewer decisions override the machine's calls ---
    from . import review as _review
    if decisions is None and out is not None and _review.decisions_path(out).exists():
        decisions = _review.decisions_path(out)
    det, review_info = _review.apply_decisions(det, decisions if decisions is not False else None,
                                               known=cat.individuals, new_prefix=new_prefix, issues=issues)
    # --- end of review hook ---
    issue_table = issues.table()
    summary = {
        "images_read": int(len(imgs)),
        "files_with_issues": int(issue_table.loc[issue_table.severity != "warning", "file"].nunique()) if len(issue_table) else 0,
        "detections": int(n), "events": int(det["event_id"].nunique()) if n else 0,
        "individuals": int(det["individual_id"].nunique()) if n else 0,
        "known_individuals": int(det.loc[~det["is_new"].astype(bool), "individual_id"].nunique()) if n else 0,
        "new_individuals": int(det.loc[det["is_new"].astype(bool), "individual_id"].nunique()) if n else 0,
        "detections_known": int((~det["is_new"].astype(bool)).sum()) if n else 0,
        "detections_new": int(det["is_new"].astype(bool).sum()) if n else 0,
        "needs_review": int(det["needs_review"].sum()) if n else 0,
        "review": review_info,   # review hook: counts of applied reviewer decisions
        "time_zone": imgs.attrs.get("time_zone"),
        "megadetector": md_counts,
        "catalogue": str(cat.root), "seconds": round(time.time() - t_start, 1),
    }
    res = IdentifyResult(det, issue_table, summary)
    if out is not None:
        res.write(out)
    return res
