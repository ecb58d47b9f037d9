"""How the pair verifier was chosen: nyala same-flank rank-1 for variants of the dense evidence.

Every nyala photo with a flank is a query against the other photos of its flank (the harness's
``same-flank`` protocol). Stage 1 collects, once, the photo pairs lynxid's shortlist checks
(60 individuals x 2 photos by the global embedding) and, for the variant that looks further,
every photo of the 8 best individuals by the embedding; each pair's keypoint inliers and
``dense.DENSE_FEATURES``. Stage 2 scores variants offline exactly as ``lynxid evaluate`` does:
5 folds by individual; per fold the verifier is fitted on the other folds' pairs (the
calibrator sees its cross-fitted probabilities), ``FusionCalibrator`` on (cosine, keypoint
inliers, dense evidence), candidates ranked by its probability with ties counted against.

    .venv/bin/python benchmarks/verifier_ablation.py          # ~20 min the first time, then ~10

Writes results/verifier_ablation.{json,md}; the pairs are kept in _work/verifier/.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))

from lynxid import storage  # noqa: E402
from lynxid.calibrate import FusionCalibrator  # noqa: E402
from lynxid.dense import DENSE_FEATURES  # noqa: E402
from lynxid.evaluate import individual_rank  # noqa: E402
from lynxid.metric import folds_of  # noqa: E402
from lynxid.verify import PairVerifier, pair_matrix  # noqa: E402

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
WORK = HERE / "_work" / "verifier"
RESULTS = HERE / "results"
EXTRA = 8


def collect():
    """Stage 1: the checked pairs (cached in WORK)."""
    if (WORK / "pairs.parquet").exists():
        return (pd.read_parquet(WORK / "pairs.parquet"), np.load(WORK / "S.npy"), pd.read_parquet(WORK / "meta.parquet"))
    from tqdm import tqdm
    from lynxid.embed import Embedder
    from lynxid.features import extract_features
    from lynxid.detections import labelled_detections
    from lynxid.match import References, match_many, evidence
    det = labelled_detections(SHARED / "reid" / "nyala").reset_index(drop=True)
    fs = extract_features(det, Embedder(), local=True, cache_dir=HERE / "_work" / "reid" / "cache", progress=True)
    keep = np.nonzero(fs.ok)[0]
    det, fs = det.iloc[keep].reset_index(drop=True), fs.subset(keep)
    ind = det["individual"].astype(str).to_numpy()
    fl = det["flank"].to_numpy(dtype=object)
    refs = References(fs.vectors, fs.local, ind, fl, det["sighting"].astype(str).to_numpy())
    S = fs.vectors @ fs.vectors.T
    rows = []
    for q in tqdm(range(len(det)), desc="matching"):
        gal = fl == fl[q]
        gal[q] = False
        if not (gal & (ind == ind[q])).any():
            continue
        ev = evidence(fs.vectors[q], fs.local[q], fl[q], refs, exclude=~gal, sims=S[q])
        for r, (kp, f) in ev.pair_local.items():
            rows.append((q, r, ind[r], ind[q], int(ind[r] == ind[q]), float(S[q, r]), kp, 0, *f))
        gi = pd.Series(S[q][gal]).groupby(ind[gal]).max().sort_values(ascending=False)
        top = set(gi.index[:EXTRA])
        extra = [r for r in np.nonzero(gal)[0] if ind[r] in top and r not in ev.pair_local]
        for r, (kp, f) in zip(extra, match_many(fs.local[q], [fs.local[r] for r in extra])):
            rows.append((q, r, ind[r], ind[q], int(ind[r] == ind[q]), float(S[q, r]), kp, 1, *f))
    P = pd.DataFrame(rows, columns=["q", "r", "ind", "truth", "y", "cos", "kp", "extra", *DENSE_FEATURES])
    meta = pd.DataFrame({"ind": ind, "flank": fl})
    WORK.mkdir(parents=True, exist_ok=True)
    with storage.atomic_path(WORK / "pairs.parquet") as t:
        P.to_parquet(t)
    with storage.atomic_path(WORK / "meta.parquet") as t:
        meta.to_parquet(t)
    with storage.atomic_path(WORK / "S.npy") as t:
        with open(t, "wb") as fh:
            np.save(fh, S)
    return P, S, meta


def _fit_pred(model, Xtr, ytr, Xte):
    if model == "raw":                       # no verifier: the log verified cells themselves
        return Xte[:, 0]
    if model == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier
        m = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=50,
                                           l2_regularization=1.0, random_state=0).fit(Xtr, ytr)
        return m.predict_proba(Xte)[:, 1]
    return PairVerifier().fit(Xtr, ytr).predict(Xte)


def _cross(model, X, y, groups):
    from sklearn.model_selection import GroupKFold
    out = np.full(len(y), np.nan)
    for tr, te in GroupKFold(5).split(X, y, groups):
        out[te] = _fit_pred(model, X[tr], y[tr], X[te])
    return out


def _normalised(pp):
    """The verifier's inputs plus the pair's log cells relative to the query's other pairs
    (mean, best, spread) and to the reference's pairs with other queries."""
    X = np.stack(pp["X"].to_numpy())
    v = np.log1p(pp["inliers"].to_numpy())
    t = pp.assign(v=v)
    gq, gr = t.groupby("q")["v"], t.groupby("r")["v"]
    return np.column_stack([X, v - gq.transform("mean").to_numpy(), v - gq.transform("max").to_numpy(),
                            gq.transform("std").to_numpy(), v - gr.transform("mean").to_numpy()])


def score(P, Q, ind, model="lr", how="sum", extra=False, features=None):
    pp = P if extra else P[P.extra == 0]
    X = np.stack(pp["X"].to_numpy()) if features is None else features(pp)
    y = pp["y"].to_numpy()
    ranks = []
    for f in range(5):
        trp, trq = (pp["fold"] != f).to_numpy(), (Q["fold"] != f).to_numpy()
        p_tr = _cross(model, X[trp], y[trp], pp["truth"].to_numpy()[trp])
        p_te = _fit_pred(model, X[trp], y[trp], X[~trp])
        ds = []
        for part, p, qmask in ((pp[trp], p_tr, trq), (pp[~trp], p_te, ~trq)):
            g = part.assign(p=p).groupby(["q", "ind"])
            if how == "best2":
                s = g["p"].apply(lambda v: np.sort(v.to_numpy())[-2:].sum())
            else:
                s = getattr(g["p"], how)()
            s, kp = s.to_dict(), g["kp"].max().to_dict()
            keys = list(zip(Q["query"][qmask], Q["individual"][qmask]))
            ds.append((np.array([s.get(k, 0.0) for k in keys]), np.array([kp.get(k, 0.0) for k in keys])))
        (d_tr, l_tr), (d_te, l_te) = ds
        cal = FusionCalibrator(True, True).fit(Q.g[trq], l_tr, Q.y[trq], groups=Q.truth[trq], d=d_tr)
        te = Q[~trq].assign(p=cal.predict(Q.g[~trq], l_te, d_te), z=cal.ranking_key(Q.g[~trq], l_te, d_te))
        for q, grp in te.groupby("query"):
            ranks.append(individual_rank(grp["individual"].to_numpy(), (grp["p"], grp["z"], grp["g"]), ind[q]))
    ranks = np.array(ranks)
    return {"rank1": float((ranks == 0).mean()), "rank5": float((ranks < 5).mean()), "queries": int(len(ranks))}


VARIANTS = [
    ("log verified cells, best photo (no verifier)", dict(model="raw", how="max")),
    ("verifier (logistic), best photo", dict(model="lr", how="max")),
    ("verifier (logistic), sum over the 2 photos -- lynxid", dict(model="lr", how="sum")),
    ("verifier (gradient boosting), sum", dict(model="hgb", how="sum")),
    ("verifier (logistic) + query/reference-normalised cells, sum", dict(model="lr", how="sum", features=_normalised)),
    ("verifier (logistic), best 2 of shortlist + all photos of the 8 best individuals", dict(model="lr", how="best2",
                                                                                              extra=True)),
]


def main():
    t0 = time.time()
    P, S, meta = collect()
    ind, fl = meta["ind"].to_numpy(), meta["flank"].to_numpy(dtype=object)
    folds = folds_of(ind, 5, 0)
    P["fold"] = P["truth"].map(folds)
    P["X"] = list(pair_matrix(P[list(DENSE_FEATURES)].to_numpy(), P["cos"], P["kp"]))
    rows = []
    for q in sorted(P.q.unique()):
        gal = fl == fl[q]
        gal[q] = False
        gi = pd.Series(S[q][gal]).groupby(ind[gal]).max()
        rows += [(q, k, g, ind[q], int(k == ind[q])) for k, g in gi.items()]
    Q = pd.DataFrame(rows, columns=["query", "individual", "g", "truth", "y"])
    Q["fold"] = Q["truth"].map(folds)
    out = {"measured": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
           "pairs": int((P.extra == 0).sum()), "extra_pairs": int(P.extra.sum()), "rows": [],
           # how often the shortlist holds the true individual at all (the ceiling of rank-1)
           "shortlist_recall": float(P[P.extra == 0].groupby("q")["y"].max().reindex(Q["query"].unique()).fillna(0).mean()),
           "shortlist_recall_with_extra": float(P.groupby("q")["y"].max().reindex(Q["query"].unique()).fillna(0).mean())}
    print(f"true individual in the shortlist: {100 * out['shortlist_recall']:.1f} % of queries", flush=True)
    for name, kw in VARIANTS:
        r = score(P, Q, ind, **kw)
        out["rows"].append({"variant": name, **r})
        print(f"{name}: rank-1 {100 * r['rank1']:.1f} %, rank-5 {100 * r['rank5']:.1f} %", flush=True)
    out["seconds"] = round(time.time() - t0, 1)
    RESULTS.mkdir(exist_ok=True)
    storage.write_json(RESULTS / "verifier_ablation.json", out)
    lines = ["# Pair verifier: variants", "",
             f"Measured {out['measured']} on {out['machine']}: `.venv/bin/python benchmarks/verifier_ablation.py`. "
             f"Nyala, same-flank protocol, {out['rows'][0]['queries']} queries; {out['pairs']} shortlisted photo pairs "
             f"(+{out['extra_pairs']} for the last row); 5 folds by individual as in `lynxid evaluate`. The "
             f"shortlist (60 individuals x 2 photos by the embedding) holds the true individual for "
             f"{100 * out['shortlist_recall']:.1f} % of queries ({100 * out['shortlist_recall_with_extra']:.1f} % "
             "with the extra photos), the ceiling of rank-1.", "",
             "| dense evidence | rank-1 | rank-5 |", "|---|---|---|"]
    lines += [f"| {x['variant']} | {100 * x['rank1']:.1f} % | {100 * x['rank5']:.1f} % |" for x in out["rows"]]
    storage.write_text(RESULTS / "verifier_ablation.md", "\n".join(lines) + "\n")
    print(f"written {RESULTS / 'verifier_ablation.md'}")


if __name__ == "__main__":
    main()
