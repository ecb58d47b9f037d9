"""How good is identification? An evaluation harness for labelled photo collections, and the
accuracy of a run on a simulated survey.

``evaluate_dataset(DIR)`` takes any folder-per-individual dataset (flank parsed from
``left``/``right`` in file names, the sighting from the file name's part before ``_``) and
measures, with every image a query once against all the others (leave-one-out):

* closed set, three protocols -- ``all`` (flanks unknown to the matcher, only the query
  itself left out), ``same-flank`` (flanks known, the gallery holds only the query's flank),
  and ``excl-sighting`` (flanks unknown, the query's whole sighting left out) --
  rank-1 and rank-5 (an individual's score is its best image), image-level mAP and MAP@R;
* open set: individuals split in half by ``seed``, one half the catalogue, the other
  unknown; BAKS, BAUS and their geometric mean with the catalogue-fitted decision;
* clustering of the unknown half's detections judged new: adjusted Rand index;
* calibration: expected calibration error of the fused probability (cross-validated by
  individual) and a reliability table; in the open set, the ECE of the probability
  ``identify`` reports with each decision (P of the named individual, or P(new)).

Two methods are compared: ``global`` (cosine of the embedding) and ``full`` (global + SIFT
keypoint + dense grid evidence through the pair verifier, fused by the calibrated model that
``lynxid identify`` uses; every fitted part -- verifier, calibrator, "new" weight, map of
reported probabilities, and with ``whiten=True`` the embedding's learned metric
(``metric``) -- fitted per fold on other individuals than those it is tested on).
``global+metric`` rows (with ``whiten=True``): the embedding alone in that metric.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import metric, storage
from .calibrate import (FusionCalibrator, expected_calibration_error, reliability_table,
                        top_candidates)
from .cluster import agglomerate
from .identify import REPORTED_MAPS
from .ingest import Issues, scan_catalogue, whole_image_detections
from .match import SHORTLIST_INDIVIDUALS, References, evidence, per_individual_for
from .megadetector import load_megadetector

__all__ = ["evaluate_dataset", "survey_accuracy", "format_report"]

MODES = ("all", "same-flank", "excl-sighting")
METHOD_LABELS = {"global": "global", "global_whitened": "global+metric", "full": "full"}


# --------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------
def _average_precision(scores: np.ndarray, relevant: np.ndarray, ranked: bool = False) -> tuple[float, float]:
    """(AP, MAP@R) of one ranked list; ``ranked``: ``scores`` is already the order."""
    order = scores if ranked else np.argsort(-scores, kind="stable")
    rel = relevant[order].astype(float)
    R = rel.sum()
    if R == 0:
        return np.nan, np.nan
    prec = np.cumsum(rel) / np.arange(1, len(rel) + 1)
    r = int(R)
    # MAP@R (Musgrave et al. 2020): mean over the first R ranks of precision@i at the relevant ones
    return float((prec * rel).sum() / R), float((prec[:r] * rel[:r]).sum() / R)


def _individual_rank(names: np.ndarray, keys, truth: str) -> int:
    """0-based rank of the true individual among candidates (len(names) if absent).

    ``keys``: one score array or a tuple compared in order (probability, then what breaks
    its ties). Candidates tied with the truth on every key rank ahead of it: an isotonic
    calibrator gives many candidates the same probability, and counting ties in the truth's
    favour would report a perfect rank-1 for a method that cannot tell them apart.
    """
    names = np.asarray(names)
    K = np.column_stack([np.asarray(k, float) for k in (keys if isinstance(keys, tuple) else (keys,))])
    is_true = names == truth
    if not is_true.any():
        return len(names)
    order = np.lexsort(tuple(-K[:, j] for j in range(K.shape[1] - 1, -1, -1)))   # best first
    pos = int(np.argmax(is_true[order]))
    rest = order[pos + 1:]
    ties = (~is_true[rest]) & (K[rest] == K[order[pos]]).all(axis=1)
    return pos + int(ties.sum())


# --------------------------------------------------------------------------------------
# the harness
# --------------------------------------------------------------------------------------
def _gallery_mask(mode: str, q: int, refs: References, flank_known: np.ndarray) -> np.ndarray:
    """References a query may be compared with under a protocol."""
    m = np.ones(len(refs), bool)
    m[q] = False
    if mode == "same-flank":
        m &= flank_known & (refs.flanks == refs.flanks[q])
    elif mode == "excl-sighting":
        m &= refs.sightings != refs.sightings[q]
    return m


def _fold_of(individuals: np.ndarray, n_folds: int, seed: int) -> dict:
    return metric.folds_of(individuals, n_folds, seed)


def evaluate_dataset(root, backbone: str = "efficientnet-lite0", weights=None, megadetector=None,
                     methods=("global", "full"), seed: int = 0, n_folds: int = 5,
                     n_individuals: int = SHORTLIST_INDIVIDUALS, per_individual: int | None = None, cache_dir=None, out=None, progress: bool = True,
                     embedder=None, dense: bool = True, whiten: bool | str = metric.DEFAULT_USE) -> dict:
    """Evaluate identification on a labelled dataset folder (see module docstring).
    ``dense=False`` leaves the dense grid score out of the fusion (an ablation: keypoints only);
    ``whiten``: the embedding's learned metric (``metric``), as ``identify.fit_model``'s:
    ``"shortlist"`` (default) uses it only to choose which animals and photos local matching
    checks, the fusion keeping the raw cosine; ``True`` fuses it too; ``False`` leaves it out.
    ``per_individual`` None: as a catalogue of the gallery's individuals would
    (``match.per_individual_for``)."""
    from tqdm.auto import tqdm

    from .features import extract_features
    from .identify import pair_rows, pair_table
    t0 = time.time()
    root = Path(root)
    issues = Issues()
    imgs, iss = scan_catalogue(root)
    issues.extend(iss)
    if len(imgs) == 0:
        raise ValueError(f"no labelled images under {root}: expected a folder per individual")
    if "full" in methods and imgs["individual"].nunique() < 4:
        raise ValueError(f"{root} has {imgs['individual'].nunique()} individual(s): the full evaluation needs at "
                         "least 4 (calibration is cross-validated by individual, and the open-set test makes half "
                         "of them unknown); use --global-only for fewer")
    if megadetector:
        det, iss = load_megadetector(megadetector, imgs, max_per_image=1)
        issues.extend(iss)
    else:
        det = whole_image_detections(imgs)
    det = det.reset_index(drop=True)
    if embedder is None:
        from .embed import Embedder
        embedder = Embedder(backbone, weights=weights)
    use_local = "full" in methods
    use_dense = use_local and dense
    t_feat = time.time()
    fs = extract_features(det, embedder, local=use_local, cache_dir=cache_dir, progress=progress,
                          desc="dataset features")
    t_feat = time.time() - t_feat
    issues.extend(fs.issues)
    keep = np.nonzero(fs.ok)[0]
    det, fs = det.iloc[keep].reset_index(drop=True), fs.subset(keep)
    individuals = det["individual"].astype(str).to_numpy()
    flanks = det["flank"].to_numpy(dtype=object)
    flank_known = ~pd.isna(flanks)
    hidden = np.full(len(det), None, dtype=object)
    sightings = det["sighting"].astype(str).to_numpy()
    refs_known = References(fs.vectors, fs.local, individuals, flanks, sightings)
    refs_hidden = References(fs.vectors, fs.local, individuals, hidden, sightings)
    S = fs.vectors @ fs.vectors.T
    folds = _fold_of(individuals, n_folds, seed)
    # with whiten, the full method compares embeddings in the learned metric when it helps here
    # (as fit_model decides on a catalogue), each query through a map fitted without its
    # fold's individuals; the global rows stay the raw cosine, the baseline
    metric.check_use(whiten)
    SF, wdiag = S, {"whitening": False, "whitening_reason": "is off (whiten=False)"}
    if use_local and whiten:
        w_all, wdiag = metric.choose(fs.vectors, individuals, flanks, sightings, seed)
        if w_all is not None:
            SF = metric.cross_fitted_similarities(fs.vectors, individuals, folds)
        wdiag = {**wdiag, "use": "shortlist" if whiten == "shortlist" else "shortlist and fusion"}
    # what the fusion sees (SG) and what picks the shortlist (SF)
    SG = S if whiten == "shortlist" else SF
    per_closed = per_individual or per_individual_for(len(np.unique(individuals)))
    local_cache: dict[int, dict] = {}
    report: dict = {"dataset": str(root), "images": int(len(det)), "individuals": int(len(np.unique(individuals))),
                    "with_flank": int(flank_known.sum()), "backbone": embedder.tag, "seed": seed,
                    "dense": bool(use_dense), "shortlist": [int(n_individuals), int(per_closed)],
                    "whitening": wdiag,
                    "excluded_files": issues.table().to_dict("records"), "modes": {}}
    t_query = 0.0
    n_query = 0
    for mode in MODES:
        refs = refs_known if mode == "same-flank" else refs_hidden
        res_g, res_w, rows, prows = [], [], [], []
        mode_local: dict[int, dict] = {}     # this protocol's own verified matches per query
        for q in tqdm(range(len(det)), desc=f"evaluating {mode}", disable=not progress, unit="query"):
            if mode == "same-flank" and not flank_known[q]:
                continue
            gal = _gallery_mask(mode, q, refs, flank_known)
            pos = gal & (individuals == individuals[q])
            if not pos.any():
                continue
            # global: per-individual best cosine
            sims = S[q]
            gi = pd.Series(sims[gal]).groupby(individuals[gal]).max()
            r_g = _individual_rank(gi.index.to_numpy(), gi.to_numpy(), individuals[q])
            ap, pr = _average_precision(sims[gal], pos[gal])
            res_g.append((q, r_g, ap, pr))
            if SF is not S:      # the embedding alone, in the learned metric
                wi = pd.Series(SF[q][gal]).groupby(individuals[gal]).max()
                res_w.append((q, _individual_rank(wi.index.to_numpy(), wi.to_numpy(), individuals[q]),
                              *_average_precision(SF[q][gal], pos[gal])))
            if use_local:
                sims = SG[q]
                tq = time.time()
                lc = local_cache.setdefault(q, {})
                ev = evidence(fs.vectors[q], fs.local[q], refs.flanks[q], refs, exclude=~gal,
                              n_individuals=n_individuals, per_individual=per_closed, use_local=True,
                              sims=sims, local_cache=lc, rank_sims=None if SF is SG else SF[q])
                t_query += time.time() - tq
                mode_local[q] = ev.pair_local
                prows += pair_rows(q, ev, refs, sims, individuals[q])
                n_query += 1
                for name, g, l, d, sh in zip(ev.individuals, ev.g, ev.l, ev.d, ev.shortlisted):
                    rows.append((q, name, g, l, d, int(name == individuals[q]), individuals[q], bool(sh)))
        report["modes"][mode] = {"queries": len(res_g)}
        for meth, res in (("global", res_g), ("global_whitened", res_w)):
            if "global" in methods and res:
                a = np.array([(r[1], r[2], r[3]) for r in res], float)
                report["modes"][mode][meth] = {"rank1": float((a[:, 0] == 0).mean()),
                                               "rank5": float((a[:, 0] < 5).mean()),
                                               "mAP": float(np.nanmean(a[:, 1])), "MAP@R": float(np.nanmean(a[:, 2]))}
        if use_local and rows:
            pairs = pd.DataFrame(rows, columns=["query", "individual", "g", "l", "d", "y", "truth", "shortlisted"])
            pairs["fold"] = pairs["truth"].map(folds)
            pairs["p"] = np.nan
            pairs["z"] = np.nan
            ptab = pair_table(prows)
            ptab["fold"] = ptab["truth"].map(folds)
            cals, vers = {}, {}
            for f in range(n_folds):
                tr = (pairs["fold"] != f).to_numpy()
                if pairs.loc[tr, "y"].sum() < 2:
                    continue
                te = ~tr
                # what a catalogue of the other folds' individuals fits (identify.fit_model):
                # the pair verifier, then the calibrator on its cross-fitted sums
                d_tr, d_te, vers[f] = _fold_dense(pairs, ptab, tr, ptab["fold"] != f, use_dense)
                cals[f] = FusionCalibrator(True, vers[f] is not None).fit(
                    pairs.loc[tr, "g"], pairs.loc[tr, "l"], pairs.loc[tr, "y"], groups=pairs.loc[tr, "truth"],
                    seed=seed, d=d_tr)
                pairs.loc[te, "p"] = cals[f].predict(pairs.loc[te, "g"], pairs.loc[te, "l"], d_te)
                pairs.loc[te, "z"] = cals[f].ranking_key(pairs.loc[te, "g"], pairs.loc[te, "l"], d_te)
            ranks, aps, prs = [], [], []
            for q, grp in pairs.dropna(subset=["p"]).groupby("query"):
                ranks.append(_individual_rank(grp["individual"].to_numpy(), (grp["p"], grp["z"], grp["g"]),
                                              individuals[q]))
                # image-level fused score: the fold's calibrator on (cosine, verified matches)
                gal = _gallery_mask(mode, q, refs, flank_known)
                idx = np.nonzero(gal)[0]
                f = folds[individuals[q]]
                lv = _image_local(mode_local.get(q, {}), idx, SG[q], vers[f])
                order = cals[f].rank(SG[q, idx], lv[:, 0], d=lv[:, 1])
                ap, pr = _average_precision(order, individuals[idx] == individuals[q], ranked=True)
                aps.append(ap)
                prs.append(pr)
            ranks = np.array(ranks)
            # calibration is judged where it matters: the shortlisted candidates of each query
            # (all-candidate pairs are mostly trivial negatives near 0 that flatter the ECE)
            p_ok = pairs.dropna(subset=["p"])
            p_sh = p_ok[p_ok["shortlisted"]]
            top1 = top_candidates(p_ok, "p")
            report["modes"][mode]["full"] = {
                "rank1": float((ranks == 0).mean()), "rank5": float((ranks < 5).mean()),
                "mAP": float(np.nanmean(aps)), "MAP@R": float(np.nanmean(prs)),
                # queries of a fold whose calibrator could not be fitted are left out: say how many remain
                "queries": int(len(ranks)),
                "ece": expected_calibration_error(p_sh["p"], p_sh["y"]),
                "ece_top1": expected_calibration_error(top1["p"], top1["y"]),
                "ece_all_pairs": expected_calibration_error(p_ok["p"], p_ok["y"]),
                "calibration_pairs": int(len(p_sh)),
                "reliability": reliability_table(p_sh["p"], p_sh["y"]).to_dict("records")}
    if use_local:
        report["open_set"] = _open_set(det, fs, S, refs_known, individuals, sightings, flanks, seed, n_individuals,
                                       per_individual, local_cache, progress, use_dense, whiten)
    report["seconds"] = {"total": round(time.time() - t0, 1), "features_per_image": round(t_feat / max(1, len(det)), 4),
                         "identification_per_query": round(t_query / max(1, n_query), 4)}
    if out is not None:
        storage.write_json(out, report)
    return report


def _fold_dense(pairs: pd.DataFrame, ptab: pd.DataFrame, tr: np.ndarray, ptr, use_dense: bool):
    """Dense evidence of one cross-validation fold: ``(d of the training rows, d of the test
    rows, verifier)``, the verifier fitted on the training individuals' photo pairs only.
    Without a verifier (dense off, or too few pairs) ``d`` is 0."""
    from .identify import dense_evidence
    ptr = np.asarray(ptr, bool)
    if not use_dense:
        return np.zeros(int(tr.sum())), np.zeros(int((~tr).sum())), None
    d_tr, ver = dense_evidence(pairs[tr], ptab[ptr])
    if ver is None:
        return d_tr, np.zeros(int((~tr).sum())), None
    d_te, _ = dense_evidence(pairs[~tr], ptab[~ptr], ver)
    return d_tr, d_te, ver


def _image_local(checked: dict, idx: np.ndarray, sims: np.ndarray, verifier) -> np.ndarray:
    """Per gallery image (``idx``): (keypoint inliers, dense evidence of that one pair), 0 where
    local matching did not check it -- the image-level scores behind mAP."""
    from .verify import pair_matrix
    out = np.zeros((len(idx), 2))
    rows = [(i, checked[r]) for i, r in enumerate(idx) if r in checked]
    for i, (kp, _) in rows:
        out[i, 0] = kp
    dense = [(i, kp, f) for i, (kp, f) in rows if f is not None]
    if dense and verifier is not None:
        ii = np.array([i for i, _, _ in dense])
        out[ii, 1] = verifier.predict(pair_matrix(np.stack([f for _, _, f in dense]), sims[idx[ii]],
                                                  [kp for _, kp, _ in dense]))
    return out


def _open_set(det, fs, S, refs, individuals, sightings, flanks, seed, n_individuals, per_individual,
              local_cache, progress, use_dense=False, whiten=False):
    """Half the individuals are the catalogue, the other half unknown (flanks known, the
    query's own sighting never in the gallery). With ``whiten``, the learned metric as a
    catalogue of the known half decides and fits it (``metric.choose``): unknown queries
    through the map fitted on every known individual, known queries through a map fitted
    without their fold (the folds BAKS is cross-fitted by); ``whiten="shortlist"``: only to
    choose what local matching checks."""
    from tqdm.auto import tqdm
    names = np.unique(individuals)
    rng = np.random.default_rng(seed + 1)
    known_names = set(rng.choice(names, len(names) // 2, replace=False))
    known = np.array([i in known_names for i in individuals])
    per_individual = per_individual or per_individual_for(len(known_names))
    kn = np.flatnonzero(known)
    w_cat = metric.choose(fs.vectors[kn], individuals[kn], flanks[kn], sightings[kn], seed)[0] if whiten else None
    fs_cat = fs      # the features as the catalogue's model sees them (for clustering the new)
    S_rank = None    # what picks the shortlist, when not S
    if w_cat is not None:
        SW = np.empty_like(S)
        SW[kn] = metric.cross_fitted_similarities(fs.vectors, individuals, _fold_of(individuals[kn], 5, seed), kn,
                                                  train=known)
        V = w_cat.apply(fs.vectors)
        SW[~known] = V[~known] @ V.T
        if whiten == "shortlist":
            S_rank = SW
        else:
            S = SW
            fs_cat = dataclasses.replace(fs, vectors=V)
    from .identify import pair_rows, pair_table
    rows, prows = [], []
    for q in tqdm(range(len(det)), desc="evaluating open set", disable=not progress, unit="query"):
        gal = known.copy()
        gal[q] = False
        gal &= sightings != sightings[q]
        lc = local_cache.setdefault(q, {})   # same reference indices as the closed-set protocols
        ev = evidence(fs.vectors[q], fs.local[q], flanks[q], refs, exclude=~gal, n_individuals=n_individuals,
                      per_individual=per_individual, use_local=True, sims=S[q], local_cache=lc,
                      rank_sims=None if S_rank is None else S_rank[q])
        for name, g, l, d in zip(ev.individuals, ev.g, ev.l, ev.d):
            rows.append((q, name, g, l, d, int(name == individuals[q]), individuals[q], bool(known[q])))
        prows += pair_rows(q, ev, refs, S[q], individuals[q])
    pairs = pd.DataFrame(rows, columns=["query", "individual", "g", "l", "d", "y", "truth", "known"])
    ptab = pair_table(prows)
    ptab["known"] = known[ptab["query"].to_numpy(int)] if len(ptab) else []
    elig = pairs[pairs.known].groupby("query")["y"].max().astype(bool)
    pairs["eligible"] = pairs["query"].map(elig).fillna(False).astype(bool)
    kp, kpt = pairs[pairs.known], ptab[ptab.known]
    # unknown queries: the catalogue's model, fitted on every known individual's queries
    cal, c, fit_metrics, ver, reported = _fit_open_set_model(kp, kpt, seed, use_dense)
    u_calls = _open_set_calls(pairs[~pairs.known], ptab[~ptab.known], cal, c, ver, reported)
    # known queries: cross-fitted by individual (the model that scores an individual's photos
    # never saw them), so BAKS is not measured on the data the model was fitted on
    fold = _fold_of(kp["truth"].to_numpy(), 5, seed)
    kfold = kp["truth"].map(fold)
    ptfold = kpt["truth"].map(fold)
    k_calls = []
    for f in sorted(kfold.unique()):
        cal_f, c_f, _, ver_f, rep_f = _fit_open_set_model(kp[kfold != f], kpt[ptfold != f], seed, use_dense)
        k_calls.append(_open_set_calls(kp[kfold == f], kpt[ptfold == f], cal_f, c_f, ver_f, rep_f))
    k_calls = pd.concat(k_calls)
    k_calls = k_calls[k_calls.query_eligible]
    k_right = k_calls.top == k_calls.truth
    k_ok = ~k_calls.called_new & k_right
    baks = float(k_ok.groupby(k_calls.truth).mean().mean())
    baus = float(u_calls.called_new.groupby(u_calls.truth).mean().mean())
    # what bounds the open set: BAKS cannot exceed the balanced share of known queries whose
    # top candidate is right (never calling "new"), and the best single "new" weight in
    # hindsight shows what a better threshold could still gain
    baks_ceiling = float(k_right.groupby(k_calls.truth).mean().mean())
    hindsight = _hindsight_gmean(k_calls, k_right, u_calls)
    # calibration of the probability identify reports with its decision (P of the named
    # individual, or P(new)): is the decision right that often?
    shown = np.concatenate([k_calls.shown.to_numpy(), u_calls.shown.to_numpy()])
    shown_raw = np.concatenate([k_calls.shown_raw.to_numpy(), u_calls.shown_raw.to_numpy()])
    shown_one = np.concatenate([k_calls.shown_one_map.to_numpy(), u_calls.shown_one_map.to_numpy()])
    by_kind = {k: np.concatenate([k_calls[f"shown_{k}"].to_numpy(), u_calls[f"shown_{k}"].to_numpy()])
               for k in REPORTED_MAPS}
    right = np.concatenate([k_ok.to_numpy(), u_calls.called_new.to_numpy()])
    # cluster the unknown half's detections called new
    new_q = u_calls.index[u_calls.called_new].to_numpy()
    ari = _cluster_ari(new_q, fs_cat, individuals, flanks, cal, ver)
    return {"known_individuals": len(known_names), "unknown_individuals": int(len(names) - len(known_names)),
            "new_weight": c, "BAKS": baks, "BAUS": baus, "gmean": float(np.sqrt(baks * baus)),
            "catalogue_fit": fit_metrics, "baks_cross_fitted": True, "ari_new": ari,
            "baks_ceiling": baks_ceiling, "gmean_ceiling": float(np.sqrt(baks_ceiling)),
            "gmean_best_threshold_in_hindsight": hindsight,
            "ece_decision": expected_calibration_error(shown, right), "decisions": int(len(shown)),
            "ece_decision_unmapped": expected_calibration_error(shown_raw, right),
            "ece_decision_one_map": expected_calibration_error(shown_one, right),
            "ece_decision_by_map": {k: expected_calibration_error(v, right) for k, v in by_kind.items()},
            "decision_accuracy": float(right.mean()), "mean_shown_probability": float(shown.mean()),
            "new_detections_clustered": int(len(new_q))}


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


def _fit_open_set_model(kp: pd.DataFrame, kpt: pd.DataFrame, seed: int, use_dense: bool = False):
    """What building a catalogue fits (``identify.fit_decisions``, as ``identify.fit_model``
    calls it), on the known half's pairs ``kp`` and photo pairs ``kpt``, and the maps of
    reported probabilities of each kind (``identify.REPORTED_MAPS``, the default first).
    ``(calibrator, new weight, metrics, verifier, {map kind: reported})``."""
    from .identify import fit_decisions, fit_reported
    fit = fit_decisions(kp, kpt, True, use_dense, "gmean", seed)
    return fit.cal, fit.c, fit.choice, fit.verifier, {kind: fit_reported(fit.table, kind) for kind in REPORTED_MAPS}


def _open_set_calls(pairs: pd.DataFrame, ptab: pd.DataFrame, cal, c: float, verifier=None,
                    reported=None) -> pd.DataFrame:
    """Per query: the top candidate as identify ranks them, and whether it is called new
    (P(new) >= the best P(k)). ``reported``: ``{map kind: maps}`` (``_fit_open_set_model``),
    the first the default (column ``shown``), each also as ``shown_<kind>``."""
    if verifier is not None:
        from .identify import dense_evidence
        pairs = pairs.assign(d=dense_evidence(pairs, ptab, verifier)[0])
    from .identify import apply_reported, top_decisions
    scored = pairs.assign(p=cal.predict(pairs.g, pairs.l, pairs.d), z=cal.ranking_key(pairs.g, pairs.l, pairs.d))
    top = top_decisions(scored, "p", c)
    shown, new = top["shown"].to_numpy(), top["called_new"].to_numpy()
    by_kind = {kind: apply_reported(rep, shown, new) for kind, rep in (reported or {}).items()}
    default = next(iter((reported or {}).values()), None)
    return pd.DataFrame({"truth": top["truth"].to_numpy(), "top": top["individual"].to_numpy(),
                         "called_new": top["called_new"].to_numpy(), "query_eligible": top["eligible"].to_numpy(),
                         # what identify reports: P(k) of the individual it names, or P(new),
                         # then mapped as the catalogue's decisions were (identify.fit_reported)
                         "shown_raw": shown,
                         "shown": next(iter(by_kind.values()), shown),
                         # one map for named and "new" decisions alike (how lynxid mapped them
                         # before), kept to measure the split against
                         "shown_one_map": apply_reported(default, shown),
                         **{f"shown_{kind}": v for kind, v in by_kind.items()},
                         "top_odds": (top["p"] / (1 - top["p"])).to_numpy()},
                        index=top["query"].to_numpy())


def _cluster_ari(qs, fs, individuals, flanks, cal, verifier=None, k_local=None):
    """ARI of clustering the queries ``qs`` as identify clusters new detections: the same
    pairwise probabilities (``identify._unit_pair_probability``, each photo its own unit)
    and the same agglomeration."""
    from sklearn.metrics import adjusted_rand_score
    from .identify import IdentificationModel, _unit_pair_probability
    if len(qs) < 2:
        return float("nan")
    model = IdentificationModel(cal, use_local=bool(fs.local), per_individual=1, verifier=verifier)
    P = _unit_pair_probability(model, fs, [np.array([q]) for q in qs], np.asarray(flanks, dtype=object),
                               k_local=k_local)
    labels = agglomerate(P)
    return float(adjusted_rand_score(individuals[qs], labels))


def format_report(rep: dict) -> str:
    """The human-readable lines: one per protocol and method, then the open set."""
    lines = [f"dataset {rep['dataset']}: {rep['images']} images, {rep['individuals']} individuals, "
             f"{rep['with_flank']} with flank; backbone {rep['backbone']}"]
    for mode, r in rep["modes"].items():
        for meth in ("global", "global_whitened", "full"):
            if meth in r:
                m = r[meth]
                extra = f"  ECE = {m['ece']:.4f} (top-1 {m['ece_top1']:.4f})" if "ece" in m else ""
                lines.append(f"{mode:<14} {METHOD_LABELS[meth]:<15} rank-1 = {100 * m['rank1']:5.1f} %  rank-5 = {100 * m['rank5']:5.1f} %  "
                             f"mAP = {100 * m['mAP']:5.1f} %  MAP@R = {100 * m['MAP@R']:5.1f} %{extra}  "
                             f"({m.get('queries', r['queries'])} queries)")
    if "open_set" in rep:
        o = rep["open_set"]
        lines.append(f"open set ({o['known_individuals']} known / {o['unknown_individuals']} unknown individuals): "
                     f"BAKS = {o['BAKS']:.3f}  BAUS = {o['BAUS']:.3f}  sqrt(BAKS*BAUS) = {o['gmean']:.3f}  "
                     f"clustering ARI of new = {o['ari_new']:.3f}  ECE of the reported probability = "
                     f"{o.get('ece_decision', float('nan')):.3f} "
                     f"(unmapped {o.get('ece_decision_unmapped', float('nan')):.3f}"
                     + (f", one map for named and new {o['ece_decision_one_map']:.3f}" if "ece_decision_one_map" in o else "")
                     + "".join(f", {k} maps {v:.3f}" for k, v in o.get("ece_decision_by_map", {}).items()
                               if k != REPORTED_MAPS[0])
                     + ")")
        if "baks_ceiling" in o:
            lines.append(f"open set bounds: top candidate right for a balanced {o['baks_ceiling']:.3f} of known queries "
                         f"(BAKS never exceeds it; sqrt(BAKS*BAUS) <= {o['gmean_ceiling']:.3f}); the best 'new' "
                         f"threshold in hindsight gives {o['gmean_best_threshold_in_hindsight']:.3f}")
    s = rep.get("seconds", {})
    if s:
        lines.append(f"time: {s['total']} s in all; features {1000 * s['features_per_image']:.0f} ms/image; "
                     f"identification {1000 * s['identification_per_query']:.0f} ms/query")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# simulated surveys
# --------------------------------------------------------------------------------------
def survey_accuracy(detections: pd.DataFrame, truth_images: pd.DataFrame) -> dict:
    """Accuracy of an identified survey against the simulator's truth.

    * ``known_accuracy``: detections of catalogue individuals given their correct ID;
    * ``new_recall``: detections of individuals not in the catalogue called new;
    * ``new_purity``: provisional IDs whose detections all show one true individual;
    * ``accuracy``: detections given the right identity, where a provisional ID counts as
      right when it is the one its true individual mostly got and it mostly shows that
      individual (a one-to-one match);
    * ``ari``: adjusted Rand index of the partition into individuals.
    """
    from sklearn.metrics import adjusted_rand_score
    d = detections.merge(truth_images[["file", "individual", "in_catalogue"]], on="file", how="left")
    missing = int(d["individual"].isna().sum())
    d = d.dropna(subset=["individual"])
    d["in_catalogue"] = d["in_catalogue"].astype(bool)
    kn = d[d.in_catalogue]
    un = d[~d.in_catalogue]
    # one-to-one mapping of provisional IDs to true individuals
    new = d[d.is_new.astype(bool)]
    mapping = {}
    if len(new):
        ct = new.groupby(["individual_id", "individual"]).size().sort_values(ascending=False)
        used_p, used_t = set(), set()
        for (pid, tid), _ in ct.items():
            if pid not in used_p and tid not in used_t and tid not in set(d.loc[d.in_catalogue, "individual"]):
                mapping[pid] = tid
                used_p.add(pid)
                used_t.add(tid)
    assigned = np.where(d.is_new.astype(bool), d.individual_id.map(mapping), d.individual_id)
    correct = assigned == d.individual.to_numpy()
    purity = new.groupby("individual_id")["individual"].nunique().eq(1).mean() if len(new) else float("nan")
    return {"detections": int(len(d)), "not_in_truth": missing,
            "known_accuracy": float((kn.individual_id == kn.individual).mean()) if len(kn) else float("nan"),
            "new_recall": float(un.is_new.astype(bool).mean()) if len(un) else float("nan"),
            "new_purity": float(purity),
            "accuracy": float(correct.mean()) if len(d) else float("nan"),
            "ari": float(adjusted_rand_score(d.individual, d.individual_id)) if len(d) else float("nan"),
            "true_individuals": int(d.individual.nunique()), "found_individuals": int(d.individual_id.nunique())}
