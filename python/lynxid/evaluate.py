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

Too few individuals photographed on two sightings: refused before the work, naming them
(``evaluation_checks``); a later step that fails says which step it was."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import metric, storage
from .calibrate import FusionCalibrator, expected_calibration_error, reliability_table, top_candidates
from .default_model import evaluation_model
from .detections import detections_of
from .enrol import local_features_version
from .evaluation_checks import check_dataset, step
from .ingest import Issues, scan_catalogue
from .match import Matcher, References
from .openset import dense_evidence
from .openset_evaluation import format_open_set, open_set
from .pairs import CANDIDATE_COLUMNS, candidate_rows, pair_rows, pair_table

__all__ = ["evaluate_dataset", "survey_accuracy", "format_report", "average_precision", "individual_rank", "METHOD_LABELS"]

MODES = ("all", "same-flank", "excl-sighting")
METHOD_LABELS = {"global": "global", "global_whitened": "global+metric", "full": "full"}


def average_precision(scores: np.ndarray, relevant: np.ndarray, ranked: bool = False) -> tuple[float, float]:
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


def individual_rank(names: np.ndarray, keys, truth: str) -> int:
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


@dataclasses.dataclass
class _Dataset:
    """A labelled dataset's detections and features, and what the protocols compare them by."""
    det: pd.DataFrame
    fs: object                    # features.FeatureSet
    individuals: np.ndarray
    flanks: np.ndarray
    sightings: np.ndarray
    folds: dict                   # individual -> fold
    S: np.ndarray = None          # raw cosine between every two photos
    SF: np.ndarray = None         # what picks the shortlist (the learned metric's, cross-fitted, or S)
    SG: np.ndarray = None         # what the fusion sees (S with whiten="shortlist", else SF)

    @property
    def flank_known(self) -> np.ndarray:
        return ~pd.isna(self.flanks)

    def references(self, flanks_known: bool) -> References:
        flanks = self.flanks if flanks_known else np.full(len(self.det), None, dtype=object)
        return References(self.fs.vectors, self.fs.local, self.individuals, flanks, self.sightings)


def gallery_mask(mode: str, q: int, refs: References, flank_known: np.ndarray) -> np.ndarray:
    """References a query may be compared with under a protocol."""
    m = np.ones(len(refs), bool)
    m[q] = False
    if mode == "same-flank":
        m &= flank_known & (refs.flanks == refs.flanks[q])
    elif mode == "excl-sighting":
        m &= refs.sightings != refs.sightings[q]
    return m


def _load(root: Path, methods, megadetector, embedder, cache_dir, use_local: bool, progress: bool, issues: Issues):
    """The dataset's detections and features (a folder per individual), and the features' time.
    ``embedder``: the image model, or a function that makes it (called once the folder is read)."""
    from .features import extract_features
    imgs, iss = scan_catalogue(root)
    issues.extend(iss)
    if len(imgs) == 0:
        raise ValueError(f"no labelled images under {root}: expected a folder per individual")
    if "full" in methods and imgs["individual"].nunique() < 4:
        raise ValueError(f"{root} has {imgs['individual'].nunique()} individual(s): the full evaluation needs at "
                         "least 4 (calibration is cross-validated by individual, and the open-set test makes half "
                         "of them unknown); use --global-only for fewer")
    det = detections_of(imgs, megadetector, max_per_image=1, issues=issues).reset_index(drop=True)
    check_dataset(det, root, methods)        # before the features' work (again after it, on what is left)
    embedder = embedder() if callable(embedder) else embedder
    t_feat = time.time()
    fs = extract_features(det, embedder, local=use_local, cache_dir=cache_dir, progress=progress,
                          desc="dataset features")
    t_feat = time.time() - t_feat
    issues.extend(fs.issues)
    keep = np.nonzero(fs.ok)[0]
    return det.iloc[keep].reset_index(drop=True), fs.subset(keep), embedder, t_feat


def _similarities(ds: _Dataset, use_local: bool, whiten, seed: int) -> dict:
    """Fill ``ds.S``, ``SF``, ``SG``. With ``whiten``, the full method compares embeddings in
    the learned metric when it helps here (as ``openset.IdentificationModel.fit`` decides on a catalogue),
    each query through a map fitted without its fold's individuals; the global rows stay the
    raw cosine, the baseline. Returns the metric's diagnostics."""
    ds.S = ds.fs.vectors @ ds.fs.vectors.T
    ds.SF, wdiag = ds.S, {"whitening": False, "whitening_reason": "is off (whiten=False)"}
    if use_local and whiten:
        w_all, wdiag = metric.choose(ds.fs.vectors, ds.individuals, ds.flanks, ds.sightings, seed)
        if w_all is not None:
            ds.SF = metric.cross_fitted_similarities(ds.fs.vectors, ds.individuals, ds.folds)
        wdiag = {**wdiag, "use": "shortlist" if whiten == "shortlist" else "shortlist and fusion"}
    ds.SG = ds.S if whiten == "shortlist" else ds.SF
    return wdiag


def evaluate_dataset(root, backbone: str = "efficientnet-lite0", weights=None, megadetector=None,
                     methods=("global", "full"), seed: int = 0, n_folds: int = 5, matcher: Matcher | None = None,
                     cache_dir=None, out=None, progress: bool = True, embedder=None, dense: bool = True,
                     whiten: bool | str = metric.DEFAULT_USE, protocols=MODES, model="catalogue") -> dict:
    """Evaluate identification on a labelled dataset folder (see module docstring).
    ``matcher``: the local-matching shortlist (``match.Matcher``; ``per_individual`` None: as
    a catalogue of the gallery's individuals would have it). ``dense=False`` leaves the dense
    grid score out of the fusion (an ablation: keypoints only); ``whiten``: the embedding's
    learned metric (``metric``), as ``openset.IdentificationModel.fit``'s: ``"shortlist"`` (default) uses it
    only to choose which animals and photos local matching checks, the fusion keeping the raw
    cosine; ``True`` fuses it too; ``False`` leaves it out. ``protocols``: the closed-set
    protocols run (of :data:`MODES`; none: the open set only, which then matches alone).
    ``model="default"``: the shipped default model decides the open set (``default_model``)."""
    t0 = time.time()
    root = Path(root)
    metric.check_use(whiten)
    if embedder is None:
        def embedder():
            from .embed import Embedder
            return Embedder(backbone, weights=weights)
    use_local = "full" in methods
    use_dense = use_local and dense
    issues = Issues()
    det, fs, embedder, t_feat = _load(root, methods, megadetector, embedder, cache_dir, use_local, progress, issues)
    fixed = evaluation_model(model, embedder.tag, local_features_version()) if use_local else None
    queries = check_dataset(det, root, methods)
    individuals = det["individual"].astype(str).to_numpy()
    ds = _Dataset(det, fs, individuals, det["flank"].to_numpy(dtype=object), det["sighting"].astype(str).to_numpy(),
                  metric.folds_of(individuals, n_folds, seed))
    wdiag = _similarities(ds, use_local, whiten, seed)
    matcher = matcher or Matcher()
    closed = dataclasses.replace(matcher.sized_for(len(np.unique(individuals))), use_local=True, verifier=None)
    local_cache: dict[int, dict] = {}
    report: dict = {"dataset": str(root), "images": int(len(det)), "individuals": int(len(np.unique(individuals))),
                    "with_flank": int(ds.flank_known.sum()), "backbone": embedder.tag, "seed": seed,
                    "dense": bool(use_dense), "shortlist": [int(closed.n_individuals), int(closed.per_individual)],
                    "whitening": wdiag, "individuals_as_queries": queries,
                    "excluded_files": issues.table().to_dict("records"), "modes": {}}
    t_query, n_query = 0.0, 0
    unknown = [m for m in protocols if m not in MODES]
    if unknown:
        raise ValueError(f"protocols must be among {MODES}, not {unknown}")
    for mode in protocols:
        with step(f"closed set, {mode}"):
            report["modes"][mode], t, n = _protocol(mode, ds, methods, closed if use_local else None, local_cache,
                                                    n_folds, seed, use_dense, progress)
        t_query, n_query = t_query + t, n_query + n
    if use_local:
        with step("open set", f"its catalogue is a random half of the {queries['individuals']} individuals, drawn by "
                  f"seed {seed}, and needs some with photos of one flank from two sightings: {queries['usable']} "
                  "of all have them; another seed draws another half"):
            report["open_set"] = open_set(fs, ds.S, ds.references(True), individuals, ds.sightings, ds.flanks, seed,
                                          dataclasses.replace(matcher, use_local=True, verifier=None), local_cache,
                                          progress, use_dense, whiten, fixed)
    report["seconds"] = {"total": round(time.time() - t0, 1), "features_per_image": round(t_feat / max(1, len(det)), 4),
                         "identification_per_query": round(t_query / max(1, n_query), 4)}
    if out is not None:
        storage.write_json(out, report)
    return report


def _protocol(mode: str, ds: _Dataset, methods, matcher: Matcher | None, local_cache: dict, n_folds: int,
              seed: int, use_dense: bool, progress: bool) -> tuple[dict, float, int]:
    """One closed-set protocol: every query against its gallery (:func:`gallery_mask`), by the
    embedding alone and, with ``matcher``, by the full method. ``(report, seconds of the full
    method's evidence, its queries)``."""
    from tqdm.auto import tqdm
    refs = ds.references(mode == "same-flank")
    ind = ds.individuals
    res_g, res_w, rows, prows = [], [], [], []
    mode_local: dict[int, dict] = {}     # this protocol's own verified matches per query
    t_query = 0.0
    for q in tqdm(range(len(ds.det)), desc=f"evaluating {mode}", disable=not progress, unit="query"):
        if mode == "same-flank" and not ds.flank_known[q]:
            continue
        gal = gallery_mask(mode, q, refs, ds.flank_known)
        pos = gal & (ind == ind[q])
        if not pos.any():
            continue
        res_g.append((q, *_global_scores(ds.S[q], gal, pos, ind, ind[q])))
        if ds.SF is not ds.S:      # the embedding alone, in the learned metric
            res_w.append((q, *_global_scores(ds.SF[q], gal, pos, ind, ind[q])))
        if matcher is not None:
            tq = time.time()
            ev = matcher.evidence(ds.fs.vectors[q], ds.fs.local[q], refs.flanks[q], refs, exclude=~gal, sims=ds.SG[q],
                                  local_cache=local_cache.setdefault(q, {}),
                                  rank_sims=None if ds.SF is ds.SG else ds.SF[q])
            t_query += time.time() - tq
            mode_local[q] = ev.pair_local
            prows += pair_rows(q, ev, refs, ds.SG[q], ind[q])
            rows += candidate_rows(q, ev, ind[q], shortlisted=True)
    rep = {"queries": len(res_g)}
    for meth, res in (("global", res_g), ("global_whitened", res_w)):
        if "global" in methods and res:
            a = np.array([(r[1], r[2], r[3]) for r in res], float)
            rep[meth] = {"rank1": float((a[:, 0] == 0).mean()), "rank5": float((a[:, 0] < 5).mean()),
                         "mAP": float(np.nanmean(a[:, 1])), "MAP@R": float(np.nanmean(a[:, 2]))}
    if matcher is not None and rows:
        pairs = pd.DataFrame(rows, columns=CANDIDATE_COLUMNS + ["shortlisted"])
        rep["full"] = _full_method(pairs, pair_table(prows), mode, ds, refs, mode_local, n_folds, seed, use_dense)
    n_query = len(mode_local)
    return rep, t_query, n_query


def _global_scores(sims: np.ndarray, gal: np.ndarray, pos: np.ndarray, individuals: np.ndarray, truth) -> tuple:
    """(rank of the truth, AP, MAP@R) by one similarity row: an individual's score is its best image."""
    gi = pd.Series(sims[gal]).groupby(individuals[gal]).max()
    return (individual_rank(gi.index.to_numpy(), gi.to_numpy(), truth), *average_precision(sims[gal], pos[gal]))


def _fit_folds(pairs: pd.DataFrame, ptab: pd.DataFrame, n_folds: int, seed: int, use_dense: bool):
    """Per fold, what a catalogue of the other folds' individuals fits (``openset.IdentificationModel.fit``):
    the pair verifier, then the calibrator on its cross-fitted sums; the fold's pairs get its
    probability ``p`` and ranking key ``z``. ``(calibrators, verifiers)`` by fold."""
    cals, vers = {}, {}
    for f in range(n_folds):
        tr = (pairs["fold"] != f).to_numpy()
        if pairs.loc[tr, "y"].sum() < 2:
            continue
        te = ~tr
        d_tr, d_te, vers[f] = _fold_dense(pairs, ptab, tr, ptab["fold"] != f, use_dense)
        cals[f] = FusionCalibrator(True, vers[f] is not None).fit(
            pairs.loc[tr, "g"], pairs.loc[tr, "l"], pairs.loc[tr, "y"], groups=pairs.loc[tr, "truth"],
            seed=seed, d=d_tr)
        pairs.loc[te, "p"] = cals[f].predict(pairs.loc[te, "g"], pairs.loc[te, "l"], d_te)
        pairs.loc[te, "z"] = cals[f].ranking_key(pairs.loc[te, "g"], pairs.loc[te, "l"], d_te)
    return cals, vers


def _full_method(pairs: pd.DataFrame, ptab: pd.DataFrame, mode: str, ds: _Dataset, refs: References,
                 mode_local: dict, n_folds: int, seed: int, use_dense: bool) -> dict:
    """The full method's figures on one protocol, every fitted part cross-fitted by individual."""
    ind = ds.individuals
    pairs["fold"] = pairs["truth"].map(ds.folds)
    pairs["p"] = np.nan
    pairs["z"] = np.nan
    ptab["fold"] = ptab["truth"].map(ds.folds)
    cals, vers = _fit_folds(pairs, ptab, n_folds, seed, use_dense)
    ranks, aps, prs = [], [], []
    for q, grp in pairs.dropna(subset=["p"]).groupby("query"):
        ranks.append(individual_rank(grp["individual"].to_numpy(), (grp["p"], grp["z"], grp["g"]), ind[q]))
        # image-level fused score: the fold's calibrator on (cosine, verified matches)
        idx = np.nonzero(gallery_mask(mode, q, refs, ds.flank_known))[0]
        f = ds.folds[ind[q]]
        lv = _image_local(mode_local.get(q, {}), idx, ds.SG[q], vers[f])
        order = cals[f].rank(ds.SG[q, idx], lv[:, 0], d=lv[:, 1])
        ap, pr = average_precision(order, ind[idx] == ind[q], ranked=True)
        aps.append(ap)
        prs.append(pr)
    if not ranks:    # no query's fold had a calibrator: say so (not numpy's "mean of empty slice")
        return {"queries": 0, **dict.fromkeys(("rank1", "rank5", "mAP", "MAP@R", "ece", "ece_top1", "ece_all_pairs"),
                                              float("nan")),
                "calibration_pairs": 0, "reliability": [],
                "note": "no query scored: the other folds' individuals had too few matching pairs to calibrate on"}
    ranks = np.array(ranks)
    # calibration is judged where it matters: the shortlisted candidates of each query
    # (all-candidate pairs are mostly trivial negatives near 0 that flatter the ECE)
    p_ok = pairs.dropna(subset=["p"])
    p_sh = p_ok[p_ok["shortlisted"]]
    top1 = top_candidates(p_ok, "p")
    return {"rank1": float((ranks == 0).mean()), "rank5": float((ranks < 5).mean()),
            "mAP": float(np.nanmean(aps)), "MAP@R": float(np.nanmean(prs)),
            # queries of a fold whose calibrator could not be fitted are left out: say how many remain
            "queries": int(len(ranks)),
            "ece": expected_calibration_error(p_sh["p"], p_sh["y"]),
            "ece_top1": expected_calibration_error(top1["p"], top1["y"]),
            "ece_all_pairs": expected_calibration_error(p_ok["p"], p_ok["y"]),
            "calibration_pairs": int(len(p_sh)),
            "reliability": reliability_table(p_sh["p"], p_sh["y"]).to_dict("records")}


def _fold_dense(pairs: pd.DataFrame, ptab: pd.DataFrame, tr: np.ndarray, ptr, use_dense: bool):
    """Dense evidence of one cross-validation fold: ``(d of the training rows, d of the test
    rows, verifier)``, the verifier fitted on the training individuals' photo pairs only.
    Without a verifier (dense off, or too few pairs) ``d`` is 0."""
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


def format_report(rep: dict) -> str:
    """The human-readable lines: one per protocol and method, then the open set."""
    lines = [f"dataset {rep['dataset']}: {rep['images']} images, {rep['individuals']} individuals, "
             f"{rep['with_flank']} with flank; backbone {rep['backbone']}"]
    for mode, r in rep["modes"].items():
        for meth in ("global", "global_whitened", "full"):
            if meth in r:
                m = r[meth]
                if "note" in m:
                    lines.append(f"{mode:<14} {METHOD_LABELS[meth]:<15} {m['note']}")
                    continue
                extra = f"  ECE = {m['ece']:.4f} (top-1 {m['ece_top1']:.4f})" if "ece" in m else ""
                lines.append(f"{mode:<14} {METHOD_LABELS[meth]:<15} rank-1 = {100 * m['rank1']:5.1f} %  rank-5 = {100 * m['rank5']:5.1f} %  "
                             f"mAP = {100 * m['mAP']:5.1f} %  MAP@R = {100 * m['MAP@R']:5.1f} %{extra}  "
                             f"({m.get('queries', r['queries'])} queries)")
    if "open_set" in rep:
        lines += format_open_set(rep["open_set"])
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
