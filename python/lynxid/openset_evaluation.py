"""The evaluation harness's open set: half the individuals a catalogue, the other half unknown.

Individuals are split in half by ``seed``: one half the catalogue, the other unknown (flanks
known, the query's own sighting never in the gallery). What a catalogue of the known half
fits (``openset.fit_decisions``: verifier, calibrator, "new" weight, reported maps) decides
every query; known queries are decided by a model cross-fitted by individual (the model
that scores an individual's photos never saw them), so BAKS is not measured on the data it
was fitted on. Reported: BAKS, BAUS, their geometric mean, the bounds on them, the ECE of
the probability identify reports with each decision (with the default logistic maps, and
with isotonic maps measured beside them), and the adjusted Rand index of clustering the
unknown half's photos called new (``cluster``).

The reliability of the whole posterior (``posterior``) is measured with each cross-fitted
model on a mix like the one it was calibrated for: its fold of the known queries and a fifth
of the unknown ones (folds by individual). Judging one model's known queries beside another
model's unknown ones would mix probabilities calibrated for different "new" weights.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from . import metric
from .calibrate import expected_calibration_error
from .cluster import agglomerate, unit_pair_probability
from .match import Matcher, References
from .openset import dense_evidence, fit_decisions, top_decisions
from .pairs import CANDIDATE_COLUMNS, candidate_rows, pair_rows, pair_table
from .reported import NEW, ReportedProbability

__all__ = ["open_set", "open_set_calls", "open_set_posteriors", "posterior_outcomes", "posterior_reliability",
           "cluster_ari",
           "REPORTED_MAPS"]


class IsotonicReported(ReportedProbability):
    """Step-wise (isotonic) maps of the reported probability, fitted as the default logistic
    ones are: measured beside them, never stored with a catalogue."""
    KIND = "isotonic"

    @staticmethod
    def fit_map(shown, right, w) -> dict:
        from sklearn.isotonic import IsotonicRegression
        f = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(shown, right, sample_weight=w)
        return {"x": f.X_thresholds_.tolist(), "y": f.y_thresholds_.tolist()}

    @staticmethod
    def fit_named_map(shown, p_new, right, w) -> dict:
        return IsotonicReported.fit_map(shown, right, w)

    @staticmethod
    def apply_map(m: dict, shown, p_new=None):
        return np.interp(shown, m["x"], m["y"])


# kinds of reported maps measured, the default (what a catalogue stores) first
REPORTED_MAPS = {"logistic": ReportedProbability, "isotonic": IsotonicReported}


def _split(individuals: np.ndarray, seed: int) -> tuple[set, np.ndarray]:
    names = np.unique(individuals)
    rng = np.random.default_rng(seed + 1)
    known_names = set(rng.choice(names, len(names) // 2, replace=False))
    return known_names, np.array([i in known_names for i in individuals])


def _spaces(fs, S, individuals, flanks, sightings, known, seed, whiten):
    """``(S, S_rank, features)``: the similarities the evidence uses, those that choose the
    shortlist when not ``S``, and the features as the known half's model sees them. With
    ``whiten``, the learned metric as a catalogue of the known half decides and fits it
    (``metric.choose``): unknown queries through the map fitted on every known individual,
    known queries through a map fitted without their fold."""
    kn = np.flatnonzero(known)
    w_cat = metric.choose(fs.vectors[kn], individuals[kn], flanks[kn], sightings[kn], seed)[0] if whiten else None
    if w_cat is None:
        return S, None, fs
    SW = np.empty_like(S)
    SW[kn] = metric.cross_fitted_similarities(fs.vectors, individuals, metric.folds_of(individuals[kn], 5, seed), kn,
                                              train=known)
    V = w_cat.apply(fs.vectors)
    SW[~known] = V[~known] @ V.T
    if whiten == "shortlist":
        return S, SW, fs
    return SW, None, dataclasses.replace(fs, vectors=V)


def _evidence(fs, S, S_rank, refs: References, individuals, sightings, flanks, known, matcher: Matcher,
              local_cache: dict, progress: bool):
    """Candidates and checked photo pairs of every query against the known half."""
    from tqdm.auto import tqdm
    rows, prows = [], []
    for q in tqdm(range(len(individuals)), desc="evaluating open set", disable=not progress, unit="query"):
        gal = known.copy()
        gal[q] = False
        gal &= sightings != sightings[q]
        lc = local_cache.setdefault(q, {})   # same reference indices as the closed-set protocols
        ev = matcher.evidence(fs.vectors[q], fs.local[q], flanks[q], refs, exclude=~gal, sims=S[q], local_cache=lc,
                              rank_sims=None if S_rank is None else S_rank[q])
        rows += candidate_rows(q, ev, individuals[q], bool(known[q]))
        prows += pair_rows(q, ev, refs, S[q], individuals[q])
    pairs = pd.DataFrame(rows, columns=CANDIDATE_COLUMNS + ["known"])
    ptab = pair_table(prows)
    ptab["known"] = known[ptab["query"].to_numpy(int)] if len(ptab) else []
    elig = pairs[pairs.known].groupby("query")["y"].max().astype(bool)
    pairs["eligible"] = pairs["query"].map(elig).fillna(False).astype(bool)
    return pairs, ptab


def open_set(fs, S, refs: References, individuals, sightings, flanks, seed: int, matcher: Matcher,
             local_cache: dict, progress: bool, use_dense: bool = False, whiten=False, model=None) -> dict:
    """The open-set figures (module doc) of a labelled dataset's features ``fs``, their
    similarities ``S`` and references ``refs`` (flanks known). ``matcher``'s
    ``per_individual`` None: sized for the known half. ``model``: a fitted
    ``openset.IdentificationModel`` (the shipped default, ``default_model``) that decides
    every query instead, as a catalogue that cannot fit its own would; the catalogue-fitted
    figures on the same evidence go under ``catalogue_fitted``, and the learned metric is
    off for both (the default model has none)."""
    if model is not None:
        whiten = False
    known_names, known = _split(individuals, seed)
    matcher = matcher.sized_for(len(known_names))
    S, S_rank, fs_cat = _spaces(fs, S, individuals, flanks, sightings, known, seed, whiten)
    pairs, ptab = _evidence(fs, S, S_rank, refs, individuals, sightings, flanks, known, matcher, local_cache,
                            progress)
    kp, kpt = pairs[pairs.known], ptab[ptab.known]
    # unknown queries: the catalogue's model, fitted on every known individual's queries
    fit, reported = _fit(kp, kpt, seed, use_dense)
    u_calls = open_set_calls(pairs[~pairs.known], ptab[~ptab.known], fit.cal, fit.c, fit.verifier, reported)
    up, upt = pairs[~pairs.known], ptab[~ptab.known]
    ufold = metric.folds_of(up["truth"].to_numpy(), 5, seed)
    ufq, uft = up["truth"].map(ufold), upt["truth"].map(ufold)
    posts: list = []
    # known queries: cross-fitted by individual
    fold = metric.folds_of(kp["truth"].to_numpy(), 5, seed)
    kfold, ptfold = kp["truth"].map(fold), kpt["truth"].map(fold)
    k_calls = []
    for f in sorted(kfold.unique()):
        fit_f, rep_f = _fit(kp[kfold != f], kpt[ptfold != f], seed, use_dense)
        k_calls.append(open_set_calls(kp[kfold == f], kpt[ptfold == f], fit_f.cal, fit_f.c, fit_f.verifier, rep_f))
        # the posterior's reliability: each fold's model on the mix it is calibrated for, its
        # fold of the known queries and a fifth of the unknown ones (by individual)
        elig = kp[(kfold == f) & kp["eligible"]]
        posts += open_set_posteriors(elig, kpt[ptfold == f], fit_f.cal, fit_f.c, fit_f.verifier, rep_f["logistic"],
                                     "known")
        posts += open_set_posteriors(up[ufq == f], upt[uft == f], fit_f.cal, fit_f.c, fit_f.verifier,
                                     rep_f["logistic"], "unknown")
    k_calls = pd.concat(k_calls)
    k_calls = k_calls[k_calls.query_eligible]
    scores = _scores(k_calls, u_calls)
    # cluster the unknown half's detections called new
    new_q = u_calls.index[u_calls.called_new].to_numpy()
    new_pairs: list = []
    base_rate = float(kp["y"].mean()) if len(kp) else float("nan")   # of the pairs the calibrator was fitted on
    out = {"known_individuals": len(known_names),
            "unknown_individuals": int(len(np.unique(individuals)) - len(known_names)),
            "new_weight": fit.c, **{k: scores.pop(k) for k in ("BAKS", "BAUS", "gmean")},
            "catalogue_fit": fit.choice, "baks_cross_fitted": True,
            "ari_new": cluster_ari(new_q, fs_cat, individuals, flanks, fit.cal, fit.verifier, pairs_out=new_pairs),
            **scores,
            **_calibration(k_calls, u_calls), "new_detections_clustered": int(len(new_q)),
            "posterior": posterior_reliability(posts), "posteriors": posts, "new_pairs": new_pairs,
            "pair_evidence": pair_evidence_of(new_pairs, base_rate), "pair_base_rate": base_rate,
            "rank1_known": _rank1(k_calls), "model": "catalogue"}
    return out if model is None else _fixed_model(model, pairs, ptab, out)


def format_open_set(o: dict) -> list[str]:
    """The open set's lines of ``evaluate.format_report``."""
    lines = [f"open set ({o['known_individuals']} known / {o['unknown_individuals']} unknown individuals, "
             f"{o.get('model', 'catalogue')} model): rank-1 = {o.get('rank1_known', float('nan')):.3f}  "
             f"BAKS = {o['BAKS']:.3f}  BAUS = {o['BAUS']:.3f}  sqrt(BAKS*BAUS) = {o['gmean']:.3f}  "
             f"clustering ARI of new = {o['ari_new']:.3f}  ECE of the reported probability = "
             f"{o.get('ece_decision', float('nan')):.3f} "
             f"(unmapped {o.get('ece_decision_unmapped', float('nan')):.3f}"
             + (f", one map for named and new {o['ece_decision_one_map']:.3f}" if "ece_decision_one_map" in o else "")
             + "".join(f", {k} maps {v:.3f}" for k, v in o.get("ece_decision_by_map", {}).items()
                       if k != next(iter(REPORTED_MAPS)))
             + ")"]
    if "posterior" in o:
        q = o["posterior"]
        lines.append(f"posterior over {{each candidate, new}} as identify reports it: top-1 ECE = {q['ece_top1']:.3f} "
                     f"({q['decisions']} decisions, mean probability {q['mean_top1']:.3f}, right "
                     f"{q['decisions_right']:.3f}); every answer ECE = {q['ece_every_answer']:.4f}")
    if "catalogue_fitted" in o:
        c = o["catalogue_fitted"]
        lines.append(f"the catalogue-fitted model on the same evidence: rank-1 = {c['rank1_known']:.3f}  BAKS = "
                     f"{c['BAKS']:.3f}  BAUS = {c['BAUS']:.3f}  posterior top-1 ECE = {c['posterior']['ece_top1']:.3f}")
    if "baks_ceiling" in o:
        lines.append(f"open set bounds: top candidate right for a balanced {o['baks_ceiling']:.3f} of known queries "
                     f"(BAKS never exceeds it; sqrt(BAKS*BAUS) <= {o['gmean_ceiling']:.3f}); the best 'new' "
                     f"threshold in hindsight gives {o['gmean_best_threshold_in_hindsight']:.3f}")
    pe = o.get("pair_evidence")
    if pe:
        lines.append(f"pairs of photos called new ({pe['pairs']['same']} of one animal, {pe['pairs']['different']} of "
                     f"two): log LR = {pe['intercept']:.2f} + {pe['slope']:.2f} (logit(p) - logit(base rate)) "
                     "(pair evidence, as 'density fit --pair-evidence' reads this report)")
    elif "new_pairs" in o:
        lines.append("pairs of photos called new: too few of a kind to measure the pair evidence")
    return lines


def pair_evidence_of(new_pairs: list, base_rate: float) -> dict | None:
    """What the pair probabilities say on the unknown half's photos called new
    (``pair_evidence.PairEvidence``, as ``latent_identity`` reads unit pairs), or None where
    there are too few pairs of a kind to measure it."""
    from .pair_evidence import PairEvidence
    try:
        return PairEvidence().fit_pairs(new_pairs, base_rate).to_dict()
    except ValueError:
        return None


def _rank1(k_calls: pd.DataFrame) -> float:
    """Share of the known queries whose top candidate, as identify ranks them, is their own
    individual (whatever the "new" decision)."""
    return float((k_calls.top == k_calls.truth).mean()) if len(k_calls) else float("nan")


def _fixed_model(model, pairs: pd.DataFrame, ptab: pd.DataFrame, fitted: dict) -> dict:
    """The open-set figures with ``model`` deciding every query (no fit: it was fitted
    elsewhere), and ``fitted`` (what the known half's own, cross-fitted model gave on the same
    evidence) under ``catalogue_fitted``. The clustering ARI is the catalogue-fitted one."""
    kp, kpt, up, upt = pairs[pairs.known], ptab[ptab.known], pairs[~pairs.known], ptab[~ptab.known]
    args = (model.calibrator_, model.new_weight_, model.matcher_.verifier)
    k_calls = open_set_calls(kp, kpt, *args, {"logistic": model.reported_})
    k_calls = k_calls[k_calls.query_eligible]
    u_calls = open_set_calls(up, upt, *args, {"logistic": model.reported_})
    posts = (open_set_posteriors(kp[kp["eligible"]], kpt, *args, model.reported_, "known")
             + open_set_posteriors(up, upt, *args, model.reported_, "unknown"))
    scores = _scores(k_calls, u_calls)
    keep = ("BAKS", "BAUS", "gmean", "rank1_known", "ece_decision", "posterior", "new_weight", "baks_ceiling",
            "decision_accuracy", "mean_shown_probability", "decisions")
    return {**fitted, **scores, **_calibration(k_calls, u_calls), "new_weight": model.new_weight_,
            "catalogue_fit": None, "posterior": posterior_reliability(posts), "posteriors": posts,
            "rank1_known": _rank1(k_calls), "model": "default",
            "catalogue_fitted": {k: fitted[k] for k in keep if k in fitted}}


def _fit(kp: pd.DataFrame, kpt: pd.DataFrame, seed: int, use_dense: bool):
    """What building a catalogue fits (``openset.fit_decisions``, as ``openset.IdentificationModel.fit``
    calls it) on the known half's pairs ``kp`` and photo pairs ``kpt``, and the maps of
    reported probabilities of each kind (:data:`REPORTED_MAPS`, the default first)."""
    fit = fit_decisions(kp, kpt, True, use_dense, "gmean", seed)
    return fit, {kind: cls().fit(fit.table) for kind, cls in REPORTED_MAPS.items()}


def _scores(k_calls: pd.DataFrame, u_calls: pd.DataFrame) -> dict:
    """BAKS, BAUS, their geometric mean and what bounds them: BAKS cannot exceed the balanced
    share of known queries whose top candidate is right (never calling "new"), and the best
    single "new" weight in hindsight shows what a better threshold could still gain."""
    k_right = k_calls.top == k_calls.truth
    k_ok = ~k_calls.called_new & k_right
    baks = float(k_ok.groupby(k_calls.truth).mean().mean())
    baus = float(u_calls.called_new.groupby(u_calls.truth).mean().mean())
    ceiling = float(k_right.groupby(k_calls.truth).mean().mean())
    return {"BAKS": baks, "BAUS": baus, "gmean": float(np.sqrt(baks * baus)), "baks_ceiling": ceiling,
            "gmean_ceiling": float(np.sqrt(ceiling)),
            "gmean_best_threshold_in_hindsight": _hindsight_gmean(k_calls, k_right, u_calls)}


def _calibration(k_calls: pd.DataFrame, u_calls: pd.DataFrame) -> dict:
    """Calibration of the probability identify reports with its decision (P of the named
    individual, or P(new)): is the decision right that often?"""
    both = lambda col: np.concatenate([k_calls[col].to_numpy(), u_calls[col].to_numpy()])  # noqa: E731
    shown = both("shown")
    right = np.concatenate([(~k_calls.called_new & (k_calls.top == k_calls.truth)).to_numpy(),
                            u_calls.called_new.to_numpy()])
    return {"ece_decision": expected_calibration_error(shown, right), "decisions": int(len(shown)),
            "ece_decision_unmapped": expected_calibration_error(both("shown_raw"), right),
            "ece_decision_one_map": expected_calibration_error(both("shown_one_map"), right),
            "ece_decision_by_map": {k: expected_calibration_error(both(f"shown_{k}"), right) for k in REPORTED_MAPS
                                    if f"shown_{k}" in k_calls},
            "decision_accuracy": float(right.mean()), "mean_shown_probability": float(shown.mean())}


def _hindsight_gmean(k_calls: pd.DataFrame, k_right: pd.Series, u_calls: pd.DataFrame) -> float:
    """The best sqrt(BAKS * BAUS) any one "new" weight would give on these calls (chosen on
    the test queries themselves: a bound, not a result)."""
    ko, uo = k_calls["top_odds"].to_numpy(float), u_calls["top_odds"].to_numpy(float)
    best = 0.0
    for c in np.unique(np.concatenate([ko, uo, [0.0, np.inf]])):
        baks = pd.Series(k_right.to_numpy() & (ko > c)).groupby(k_calls.truth.to_numpy()).mean().mean()
        baus = pd.Series(uo <= c).groupby(u_calls.truth.to_numpy()).mean().mean()
        best = max(best, float(np.sqrt(baks * baus)))
    return best


def open_set_calls(pairs: pd.DataFrame, ptab: pd.DataFrame, cal, c: float, verifier=None,
                   reported: dict | None = None) -> pd.DataFrame:
    """Per query: the top candidate as identify ranks them, and whether it is called new
    (P(new) >= the best P(k)). ``reported``: ``{map kind: fitted maps}``, the first the
    default (column ``shown``), each also as ``shown_<kind>``."""
    if verifier is not None:
        pairs = pairs.assign(d=dense_evidence(pairs, ptab, verifier)[0])
    scored = pairs.assign(p=cal.predict(pairs.g, pairs.l, pairs.d), z=cal.ranking_key(pairs.g, pairs.l, pairs.d))
    top = top_decisions(scored, "p", c)
    shown, new = top["shown"].to_numpy(), top["called_new"].to_numpy()
    by_kind = {kind: rep.predict(shown, new, top["p_new"].to_numpy()) for kind, rep in (reported or {}).items()}
    default = next(iter((reported or {}).values()), ReportedProbability())
    return pd.DataFrame({"truth": top["truth"].to_numpy(), "top": top["individual"].to_numpy(),
                         "called_new": top["called_new"].to_numpy(), "query_eligible": top["eligible"].to_numpy(),
                         # what identify reports: P(k) of the individual it names, or P(new),
                         # then mapped as the catalogue's decisions were (``reported``)
                         "shown_raw": shown,
                         "shown": next(iter(by_kind.values()), shown),
                         # one map for named and "new" decisions alike, to measure the split against
                         "shown_one_map": default.predict(shown),
                         **{f"shown_{kind}": v for kind, v in by_kind.items()},
                         "top_odds": (top["p"] / (1 - top["p"])).to_numpy()},
                        index=top["query"].to_numpy())


def open_set_posteriors(pairs: pd.DataFrame, ptab: pd.DataFrame, cal, c: float, verifier, reported,
                        scenario: str, max_answers: int = 10) -> list[dict]:
    """Per query, the whole calibrated posterior identify would report
    (``ReportedProbability.posterior``): ``scenario`` ("known" / "unknown"), ``decided``
    (index of the decided answer among ``p``, the last being "new"), ``truth`` (index of
    the query's own individual, ``len(p) - 1`` -- "new" -- in the unknown scenario, None
    where a known query's individual is not among its candidates), and ``p`` (the best
    ``max_answers`` candidates, then "new"). What reliability is measured on as a whole,
    and the identification error a simulated survey draws from (benchmarks)."""
    if verifier is not None:
        pairs = pairs.assign(d=dense_evidence(pairs, ptab, verifier)[0])
    scored = pairs.assign(p=cal.predict(pairs.g, pairs.l, pairs.d), z=cal.ranking_key(pairs.g, pairs.l, pairs.d))
    scored = scored.sort_values(["query", "p", "z", "g"], ascending=[True, False, False, False])
    out = []
    for q, g in scored.groupby("query", sort=False):
        o = (g["p"] / (1 - g["p"])).to_numpy(float)
        z = c + o.sum()
        pk, p_new = o / z, c / z
        new = bool(p_new >= pk[0])
        pk, p_new = reported.posterior(pk, p_new, NEW if new else 0)
        own = np.flatnonzero(g["y"].to_numpy() == 1)
        keep = min(max_answers, len(pk))
        truth = (keep if scenario == "unknown" else (int(own[0]) if len(own) and own[0] < keep else None))
        out.append({"scenario": scenario, "decided": keep if new else 0, "truth": truth,
                    "p": [round(float(v), 5) for v in np.append(pk[:keep], p_new)]})
    return out


def posterior_outcomes(posteriors: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(top, right, every, hit)`` of :func:`open_set_posteriors`' records: the decided
    answer's probability and whether it was right, and every answer's probability and
    whether it was the truth."""
    top = np.array([r["p"][r["decided"]] for r in posteriors], float)
    right = np.array([r["truth"] == r["decided"] for r in posteriors], float)
    every = np.array([p for r in posteriors for p in r["p"]], float)
    hit = np.array([j == r["truth"] for r in posteriors for j in range(len(r["p"]))], float)
    return top, right, every, hit


def posterior_reliability(posteriors: list[dict]) -> dict:
    """Calibration of the posterior as a whole: ECE of the decided answer (top-1 as
    identify reports it) and of every answer of every query (is this answer the truth?)."""
    top, right, every, hit = posterior_outcomes(posteriors)
    return {"ece_top1": expected_calibration_error(top, right),
            "ece_every_answer": expected_calibration_error(every, hit),
            "decisions": len(top), "decisions_right": float(np.mean(right)) if len(right) else float("nan"),
            "mean_top1": float(np.mean(top)) if len(top) else float("nan")}


def cluster_ari(qs, fs, individuals, flanks, cal, verifier=None, k_local=None, pairs_out: list | None = None) -> float:
    """ARI of clustering the queries ``qs`` as identify clusters new detections: the same
    pairwise probabilities (``cluster.unit_pair_probability``, each photo its own unit) and
    the same agglomeration. ``pairs_out``: a list that receives ``[p, same animal]`` of every
    pair with evidence (what a simulated survey draws its new animals' pairs from)."""
    from sklearn.metrics import adjusted_rand_score
    if len(qs) < 2:
        return float("nan")
    matcher = Matcher(use_local=bool(fs.local), per_individual=1, verifier=verifier)
    P = unit_pair_probability(cal, matcher, fs.vectors, fs.local, [np.array([q]) for q in qs],
                              np.asarray(flanks, dtype=object), k_local=k_local)
    if pairs_out is not None:
        a, b = np.triu_indices(len(qs), 1)
        ok = np.isfinite(P[a, b])
        same = individuals[qs][a] == individuals[qs][b]
        pairs_out += [[round(float(p), 5), bool(t)] for p, t in zip(P[a, b][ok], same[ok])]
    return float(adjusted_rand_score(individuals[qs], agglomerate(P)))
