"""The open-set model: a known individual with its probability, or an animal not in the catalogue.

Fitted (``IdentificationModel.fit``) on the labelled catalogue and stored with it
(``catalogue.json``, key ``model``):

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
* the probability reported with the decision (P of the named individual, or P(new)) is
  mapped to how often such decisions were right in that leave-one-out (``reported``); the
  candidates list keeps the model's P(k).

How a query is matched (shortlist, second look, pair verifier) is the model's
``match.Matcher``, so that identification matches as the model was calibrated.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from . import metric
from .calibrate import FusionCalibrator, cross_validated_probabilities, expected_calibration_error, top_candidates
from .match import Evidence, Matcher, References
from .pairs import leave_one_out
from .reported import REBUILD, ReportedProbability
from .verify import PairVerifier, individual_sums

__all__ = ["IdentificationModel", "DecisionFit", "fit_decisions", "choose_new_weight",
           "top_decisions", "decision_table", "dense_evidence", "describe_calibration", "TARGETS"]

TARGETS = ("gmean", "balanced")
_KEYS = ("calibrator", "new_weight", "use_local", "n_individuals", "per_individual", "target", "diagnostics",
         "verifier", "reported", "deep_individuals", "deep_per_individual", "whitening", "whitening_shortlist_only")


class IdentificationModel:
    """The open-set model (module doc), a small fitted part in the scikit-learn style:
    settings in the constructor, :meth:`fit` on a catalogue's references, then
    :meth:`decide` (or :meth:`posterior`) per query; the fitted state, apart from the settings
    and named with a trailing underscore, is what ``catalogue.json`` stores (:meth:`to_dict`).

    Settings: ``matcher``, how queries are matched (default ``match.Matcher()``; :meth:`fit`
    sizes it for the catalogue, keeps local matching only where the references have local
    features and fits its pair verifier: ``matcher_``); ``target``, what the "new" weight is
    chosen for (:data:`TARGETS`); ``whiten``, the embedding's learned metric
    (``metric.choose``: kept only where it ranks the catalogue better): ``"shortlist"``
    (``metric.DEFAULT_USE``) only chooses the shortlist and each animal's photos while ``g``
    stays the raw cosine, ``True`` also fuses its cosine, ``False`` the raw cosine only. The
    comparison behind the default is in benchmarks/README.md ("Identification defaults").

    Fitted: ``calibrator_``, ``new_weight_`` (c, the weight of "not in the catalogue"),
    ``matcher_``, ``reported_`` (the reported-probability maps), ``whitening_`` (None: raw
    cosine) and ``diagnostics_`` (what the leave-one-out says about the fit)."""

    def __init__(self, matcher: Matcher | None = None, target: str = "gmean",
                 whiten: bool | str = metric.DEFAULT_USE):
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}")
        metric.check_use(whiten)
        self.matcher, self.target, self.whiten = matcher, target, whiten

    # ---- fitting -------------------------------------------------------------------------
    def fit(self, refs: References, progress: bool = True) -> "IdentificationModel":
        """Fit the fused calibration, the pair verifier, the open-set weight and the reported
        maps on a labelled catalogue's references, by leave-one-out."""
        matcher = (self.matcher or Matcher()).sized_for(len(refs.names))
        use_local = matcher.use_local and bool(refs.local) and any(x is not None for x in refs.local)
        use_dense = use_local and any(x is not None and x.dense_desc is not None for x in refs.local)
        matcher = dataclasses.replace(matcher, use_local=use_local, verifier=None)
        whitening, wdiag, sims = _whitening(refs, self.whiten)
        shortlist_only = self.whiten == "shortlist" and whitening is not None
        pairs, ptab = leave_one_out(refs, matcher, progress, sims=None if shortlist_only else sims,
                                    rank_sims=sims if shortlist_only else None)
        fit = fit_decisions(pairs, ptab, use_local, use_dense, self.target)
        reported = ReportedProbability().fit(fit.table)
        diag = _diagnostics(pairs, ptab, fit, reported, wdiag)
        if whitening is not None:
            diag["whitening_use"] = "shortlist" if shortlist_only else "shortlist and fusion"
        return self.set_fitted(fit.cal, fit.c, dataclasses.replace(matcher, verifier=fit.verifier), reported,
                               whitening, diag)

    def set_fitted(self, calibrator: FusionCalibrator, new_weight: float = 1.0, matcher: Matcher | None = None,
                   reported: ReportedProbability | None = None, whitening: metric.Whitening | None = None,
                   diagnostics: dict | None = None) -> "IdentificationModel":
        """Set the fitted state from parts fitted elsewhere (:meth:`fit`, :meth:`from_dict`,
        a model assembled in a test); returns the model."""
        self.calibrator_, self.new_weight_ = calibrator, float(new_weight)
        self.matcher_ = matcher if matcher is not None else (self.matcher or Matcher())
        self.reported_ = reported if reported is not None else ReportedProbability()
        self.whitening_, self.diagnostics_ = whitening, dict(diagnostics or {})
        return self

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "calibrator_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ValueError("this IdentificationModel is not fitted: call fit(references) first, or load a "
                             "fitted one (IdentificationModel.from_dict, or a catalogue's model)")

    @property
    def shortlist_only_(self) -> bool:
        """Whether the learned metric only chooses the shortlist (``g`` stays the raw cosine)."""
        self._check_fitted()
        return self.whitening_ is not None and self.whiten == "shortlist"

    # ---- using it ------------------------------------------------------------------------
    def embed(self, vectors: np.ndarray) -> np.ndarray:
        """Embedding vectors in the space ``g`` is computed in (``metric.Whitening``, unless it
        only chooses the shortlist)."""
        self._check_fitted()
        if self.whitening_ is None or self.shortlist_only_:
            return vectors
        return self.whitening_.apply(vectors)

    def rank_embed(self, vectors: np.ndarray) -> np.ndarray | None:
        """Vectors in the space that chooses the shortlist when it is not :meth:`embed`'s;
        None otherwise."""
        self._check_fitted()
        return self.whitening_.apply(vectors) if self.shortlist_only_ else None

    def posterior(self, ev: Evidence) -> tuple[np.ndarray, np.ndarray, float]:
        """``(names, P(k), P(new))`` with candidates sorted by decreasing probability."""
        self._check_fitted()
        if len(ev.individuals) == 0:
            return np.array([], object), np.array([]), 1.0
        p = self.calibrator_.predict(ev.g, ev.l, ev.d)
        odds = p / (1 - p)
        z = self.new_weight_ + odds.sum()
        pk = odds / z
        order = self.calibrator_.rank(ev.g, ev.l, p, d=ev.d)
        return ev.individuals[order], pk[order], float(self.new_weight_ / z)

    def decide(self, ev: Evidence) -> dict:
        """The decision on one query's (or event's) evidence: ``names``, ``pk``, ``p_new``,
        ``is_new`` (P(new) >= the best P(k)), ``individual_id`` (None when new) and
        ``probability`` (P of the named individual, or P(new), before :attr:`reported_`)."""
        names, pk, p_new = self.posterior(ev)
        is_new = bool(p_new >= (pk[0] if len(pk) else 0.0))
        return dict(names=names, pk=pk, p_new=p_new, is_new=is_new,
                    individual_id=names[0] if (not is_new and len(names)) else None,
                    probability=float(pk[0]) if (not is_new and len(pk)) else float(p_new))

    # ---- stored as JSON ------------------------------------------------------------------
    def to_dict(self) -> dict:
        self._check_fitted()
        m = self.matcher_.to_dict()
        return {"calibrator": self.calibrator_.to_dict(), "new_weight": self.new_weight_,
                "use_local": m["use_local"], "n_individuals": m["n_individuals"],
                "per_individual": m["per_individual"], "target": self.target, "diagnostics": self.diagnostics_,
                "verifier": m["verifier"], "reported": self.reported_.to_dict(),
                "deep_individuals": m["deep_individuals"], "deep_per_individual": m["deep_per_individual"],
                "whitening": None if self.whitening_ is None else self.whitening_.to_dict(),
                "whitening_shortlist_only": self.shortlist_only_, "whiten": self.whiten}

    @classmethod
    def from_dict(cls, d: dict) -> "IdentificationModel":
        """The fitted model as :meth:`to_dict` stored it; a model of a catalogue built by
        lynxid 0.1.0 before the second look, the learned metric or the current maps is
        refused. (Models stored before ``whiten`` was kept get the setting their fit implies.)"""
        missing = [k for k in _KEYS if k not in d]
        if missing:
            raise ValueError(f"the catalogue's identification model is of an earlier lynxid (no {', '.join(missing)}); "
                             f"{REBUILD}")
        matcher = Matcher.from_dict(d)
        whiten = d.get("whiten", "shortlist" if d["whitening_shortlist_only"] else bool(d["whitening"]))
        model = cls(dataclasses.replace(matcher, verifier=None), d["target"], whiten)
        return model.set_fitted(FusionCalibrator.from_dict(d["calibrator"]), d["new_weight"], matcher,
                                ReportedProbability.from_dict(d["reported"]),
                                metric.Whitening.from_dict(d["whitening"]) if d["whitening"] else None,
                                d["diagnostics"])

    def __repr__(self) -> str:
        state = (f"fitted: c={self.new_weight_:.3g}, {'with' if self.whitening_ is not None else 'no'} learned "
                 "metric" if self.is_fitted else "not fitted")
        return f"IdentificationModel(target={self.target!r}, whiten={self.whiten!r}; {state})"


# --------------------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------------------
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


def _new_weight_scores(pairs: pd.DataFrame, prob_col: str, target: str, grid: np.ndarray) -> list:
    """(target, BAKS, BAUS) of each "new" weight in ``grid`` (see module doc)."""
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
    return scores


def choose_new_weight(pairs: pd.DataFrame, prob_col: str, target: str) -> tuple[float, dict]:
    """Pick ``c`` maximising the target over known and unknown scenarios (see module doc):
    ``(c, {"baks", "baus", "target_value"})``."""
    grid = np.exp(np.linspace(np.log(1e-3), np.log(1e3), 121))
    scores = _new_weight_scores(pairs, prob_col, target, grid)
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
    (P of the named individual, or P(new)) before the ``reported`` map."""
    t = pairs.assign(o=pairs[prob_col] / (1 - pairs[prob_col]))
    top = top_candidates(t, prob_col)
    total = c + t.groupby("query")["o"].sum().reindex(top["query"]).to_numpy()
    o_top = top["o"].to_numpy()
    new = c >= o_top
    return top.assign(called_new=new, shown=np.where(new, c, o_top) / total, p_new=c / total)


def decision_table(pairs: pd.DataFrame, prob_col: str, c: float) -> pd.DataFrame:
    """The decisions behind the "new" weight ``c``, each with the probability identify would
    report and whether it is right: per query, once with its own individual in the catalogue
    (eligible queries: right if it is named) and once without (right if called new).
    Columns ``query``, ``scenario``, ``shown``, ``called_new``, ``p_new`` (P(new) before the
    map), ``right``."""
    out = []
    for scenario, part in (("known", pairs[pairs["eligible"].astype(bool)]), ("unknown", pairs[pairs["y"] == 0])):
        if not len(part):
            continue
        top = top_decisions(part, prob_col, c)
        new = top["called_new"].to_numpy()
        right = new if scenario == "unknown" else (~new & (top["y"].to_numpy() == 1))
        out.append(pd.DataFrame({"query": top["query"].to_numpy(), "scenario": scenario,
                                 "shown": top["shown"].to_numpy(), "called_new": new,
                                 "p_new": top["p_new"].to_numpy(), "right": right}))
    return (pd.concat(out, ignore_index=True) if out else
            pd.DataFrame(columns=["query", "scenario", "shown", "called_new", "p_new", "right"]))


@dataclasses.dataclass
class DecisionFit:
    """What a catalogue's decisions are fitted to (:func:`fit_decisions`)."""
    cal: FusionCalibrator
    verifier: PairVerifier | None  # the pair verifier behind ``d``, None without dense evidence
    c: float                       # the "new" weight
    choice: dict                   # BAKS / BAUS / target value at ``c`` (choose_new_weight)
    scored: pd.DataFrame           # the pairs with out-of-fold ``p_cv`` and the ranking key ``z``
    table: pd.DataFrame            # decision_table at ``c``: what the reported maps are fitted on
    in_sample: bool                # too few individuals for folds: ``p_cv`` is in-sample


def fit_decisions(pairs: pd.DataFrame, ptab: pd.DataFrame, use_local: bool, use_dense: bool,
                  target: str = "gmean", seed: int = 0) -> DecisionFit:
    """From a catalogue's leave-one-out (query, individual) pairs ``pairs`` and the photo pairs
    local matching checked ``ptab``: the pair verifier (its sums cross-fitted by individual as
    ``d``), the calibrator, out-of-fold probabilities (folds by individual) for an honest
    choice of the "new" weight, and the decisions behind it. One function for
    :meth:`IdentificationModel.fit` and the harness's open set (``openset_evaluation``), so that what is
    measured is what a catalogue fits."""
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
    c, choice = choose_new_weight(scored, "p_cv", target)
    return DecisionFit(cal, verifier, c, choice, scored, decision_table(scored, "p_cv", c), in_sample)


def _whitening(refs: References, whiten):
    """The learned metric when it helps on this catalogue (``metric.choose``) and the
    cross-fitted similarities the leave-one-out measures each query with (a map fitted
    without the query's individual, as a new animal's photo would be)."""
    whitening, wdiag = (metric.choose(refs.vectors, refs.individuals, refs.flanks, refs.sightings) if whiten
                        else (None, {"whitening": False, "whitening_reason": "is off (whiten=False)"}))
    sims = None
    if whitening is not None:
        folds = metric.folds_of(refs.individuals)
        sims = lambda qs: metric.cross_fitted_similarities(refs.vectors, refs.individuals, folds, qs)  # noqa: E731
    return whitening, wdiag, sims


def _diagnostics(pairs: pd.DataFrame, ptab: pd.DataFrame, fit: DecisionFit, reported: ReportedProbability,
                 whitening: dict) -> dict:
    """What the catalogue's leave-one-out says about the fitted model. Calibration is judged
    where decisions are made: the best candidate of each query (all pairs are mostly trivial
    negatives near 0, whose ECE is flatteringly small)."""
    scored = fit.scored
    top1 = top_candidates(scored, "p_cv")
    diag = {"pairs": int(len(pairs)), "matching_pairs": int(pairs.y.sum()),
            "ece_top1": expected_calibration_error(top1.p_cv, top1.y),
            "ece_all_pairs": expected_calibration_error(scored.p_cv, scored.y),
            "ece_in_sample": bool(fit.in_sample),
            "queries": int(pairs["query"].nunique()), "photo_pairs_verified": int(len(ptab)),
            "reported_recalibrated": reported.maps is not None, **fit.choice, **whitening}
    if reported.maps is not None and len(fit.table):
        # the probability users read in detections.csv, on the decisions its maps were fitted
        # on (in-sample: the harness's open set measures it out of sample)
        t = fit.table
        shown = reported.predict(t["shown"], t["called_new"] if "called_new" in t else None,
                                 t["p_new"] if "p_new" in t else None)
        diag["ece_reported_in_sample"] = expected_calibration_error(shown, t["right"])
    return diag


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
