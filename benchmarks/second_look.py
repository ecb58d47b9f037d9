"""How many photos of each shortlisted animal local matching should check (match.DEEP_INDIVIDUALS).

Nyala, same-flank protocol (every photo with a flank a query against the other photos of
its flank, leave-one-out). Stage 1 matches each query against *every* photo (up to ``CAP``)
of the 60 individuals most similar by the global embedding -- the shortlist lynxid uses -- and
keeps the pairs in ``_work/second_look``. Stage 2 replays what each setting would have
checked from those pairs:

* first look: the ``first`` best photos by the embedding of each shortlisted animal;
* second look: the ``deep`` animals whose first-look photos had the most verified dense
  cells (or, in one row, the best global similarity) get up to ``per`` photos, at most
  ``budget`` more photos per query in all (the best animals' first);

and scores them as ``lynxid evaluate`` does: the pair verifier cross-fitted by individual
(5 folds), an animal's dense evidence the sum of its two best pair probabilities, the fused
logistic calibrator fitted on the other folds' individuals. A query whose individual is not
shortlisted is a miss, so rank-1 is over all same-flank queries.

    .venv/bin/python benchmarks/second_look.py

Writes results/second_look.{json,md}. Settings were explored on these same photos, so the
chosen row's figure is optimistic; benchmarks/reid.py (``lynxid evaluate``) measures lynxid
as shipped.
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
from lynxid.metric import folds_of  # noqa: E402
from lynxid.verify import BEST_PAIRS, PairVerifier, pair_matrix  # noqa: E402

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
WORK = HERE / "_work" / "second_look"
RESULTS = HERE / "results"
SHORTLIST = 60
CAP = 8
# (first look per animal, animals given a second look, photos per animal then, chosen by,
# most second-look photos per query)
SETTINGS = [(2, 0, 2, "cells", None), (2, 10, 8, "cells", None), (2, 20, 8, "cells", None),
            (2, 30, 8, "cells", None), (2, 30, 8, "cells", 90), (2, 30, 8, "cells", 45), (2, 30, 8, "embedding", None),
            (1, 30, 8, "cells", None), (2, 60, 4, "cells", None), (2, 60, 6, "cells", None), (2, 60, 8, "cells", None)]
LYNXID = (2, 30, 8, "cells", 90)


def collect():
    """Stage 1: every photo (up to CAP) of the SHORTLIST best individuals, per same-flank query."""
    if (WORK / "pairs.parquet").exists():
        return pd.read_parquet(WORK / "pairs.parquet"), storage.read_json(WORK / "meta.json")
    from tqdm import tqdm
    from lynxid.embed import Embedder
    from lynxid.features import extract_features
    from lynxid.detections import labelled_detections
    from lynxid.match import match_many
    det = labelled_detections(SHARED / "reid" / "nyala").reset_index(drop=True)
    fs = extract_features(det, Embedder(), local=True, cache_dir=HERE / "_work" / "reid" / "cache", progress=True)
    keep = np.nonzero(fs.ok)[0]
    det, fs = det.iloc[keep].reset_index(drop=True), fs.subset(keep)
    ind = det["individual"].astype(str).to_numpy()
    fl = det["flank"].to_numpy(dtype=object)
    S = fs.vectors @ fs.vectors.T
    rows, queries = [], 0
    for q in tqdm(range(len(det)), desc="matching"):
        gal = fl == fl[q]
        gal[q] = False
        if pd.isna(fl[q]) or not (gal & (ind == ind[q])).any():
            continue
        queries += 1
        idx = np.nonzero(gal)[0]
        idx = idx[np.argsort(-S[q, idx], kind="stable")]
        top = set(pd.Series(S[q, idx]).groupby(ind[idx]).max().sort_values(ascending=False).index[:SHORTLIST])
        taken: dict = {}
        sel = []
        for r in idx:
            if ind[r] in top and taken.get(ind[r], 0) < CAP:
                sel.append(r)
                taken[ind[r]] = taken.get(ind[r], 0) + 1
        for r, (kp, f) in zip(sel, match_many(fs.local[q], [fs.local[r] for r in sel])):
            rows.append((q, r, ind[q], ind[r], int(ind[q] == ind[r]), float(S[q, r]), kp, *f))
    P = pd.DataFrame(rows, columns=["q", "r", "truth", "ind", "y", "cos", "kp", *DENSE_FEATURES])
    meta = {"queries": queries, "photos": int(len(det)), "individuals": int(len(np.unique(ind))),
            "measured": time.strftime("%Y-%m-%d %H:%M")}
    WORK.mkdir(parents=True, exist_ok=True)
    with storage.atomic_path(WORK / "pairs.parquet") as t:
        P.to_parquet(t)
    storage.write_json(WORK / "meta.json", meta)
    return P, meta


def replay(P: pd.DataFrame, first: int, deep: int, per: int, by: str, budget: int | None = None) -> pd.DataFrame:
    """The pairs a setting would have checked (``budget``: most second-look photos per query,
    the best animals' first, as match.DEEP_BUDGET)."""
    first_look = P[P["grank"] <= first]
    col = "inliers" if by == "cells" else "cos"
    best = first_look.groupby(["q", "ind"])[col].max().rename("s").reset_index()
    best = best.sort_values(["q", "s"], ascending=[True, False])
    best["rk"] = best.groupby("q").cumcount()
    Q = P.merge(best.loc[best["rk"] < deep, ["q", "ind", "rk"]], on=["q", "ind"], how="left")
    again = Q[Q["rk"].notna() & (Q["grank"] > first) & (Q["grank"] <= per)].sort_values(["q", "rk", "grank"])
    if budget is not None:
        again = again[again.groupby("q").cumcount() < budget]
    return pd.concat([Q[Q["grank"] <= first], again]).drop(columns="rk")


def score(Q: pd.DataFrame, folds: dict, n_queries: int) -> dict:
    """Rank-1/5 over all queries, scored as lynxid evaluate does (module doc)."""
    X = pair_matrix(Q[list(DENSE_FEATURES)].to_numpy(), Q["cos"].to_numpy(), Q["kp"].to_numpy())
    fold = Q["truth"].map(folds).to_numpy()
    p = np.full(len(Q), np.nan)
    for f in np.unique(fold):
        tr = fold != f
        p[~tr] = PairVerifier().fit(X[tr], Q["y"].to_numpy()[tr]).predict(X[~tr])
    Q = Q.assign(p=p).sort_values("p", ascending=False)
    top = Q[Q.groupby(["q", "ind"]).cumcount() < BEST_PAIRS]
    cand = pd.DataFrame({"g": Q.groupby(["q", "ind"])["cos"].max(), "l": Q.groupby(["q", "ind"])["kp"].max(),
                         "d": top.groupby(["q", "ind"])["p"].sum()}).reset_index()
    cand["truth"] = cand["q"].map(Q.groupby("q")["truth"].first())
    cand["y"] = (cand["ind"] == cand["truth"]).astype(int)
    cand["fold"] = cand["truth"].map(folds)
    cand["z"] = np.nan
    for f in np.unique(cand["fold"]):
        tr = (cand["fold"] != f).to_numpy()
        cal = FusionCalibrator(True, True).fit(cand.loc[tr, "g"], cand.loc[tr, "l"], cand.loc[tr, "y"],
                                               groups=cand.loc[tr, "truth"], d=cand.loc[tr, "d"])
        cand.loc[~tr, "z"] = cal.ranking_key(cand.loc[~tr, "g"], cand.loc[~tr, "l"], cand.loc[~tr, "d"])
    own = cand[cand["y"] == 1].set_index("q")["z"]
    rank = (cand.assign(own=cand["q"].map(own)).query("y == 0 and z >= own").groupby("q").size()
            .reindex(own.index, fill_value=0))
    return {"rank1": 100 * float((rank == 0).sum()) / n_queries, "rank5": 100 * float((rank < 5).sum()) / n_queries,
            "pairs_per_query": float(len(Q)) / Q["q"].nunique(), "shortlist_recall": 100 * len(own) / n_queries}


def main():
    if not (SHARED / "reid" / "nyala").exists():
        sys.exit(f"nyala not found under {SHARED}/reid; set LYNXID_SHARED_DATA")
    P, meta = collect()
    P["grank"] = P.groupby(["q", "ind"])["cos"].rank(ascending=False, method="first")
    names = np.unique(np.concatenate([P["truth"].unique(), P["ind"].unique()]))
    folds = folds_of(names, 5, 0)     # the harness's folds (lynxid evaluate --seed 0)
    out = {**meta, "measured": time.strftime("%Y-%m-%d %H:%M"), "pairs_measured": meta["measured"],
           "machine": f"{platform.platform()}, {os.cpu_count()} CPUs", "rows": []}
    for first, deep, per, by, budget in SETTINGS:
        r = {"first": first, "deep": deep, "per": per, "by": by, "budget": budget,
             **score(replay(P, first, deep, per, by, budget), folds, meta["queries"])}
        out["rows"].append(r)
        print(r, flush=True)
    RESULTS.mkdir(exist_ok=True)
    storage.write_json(RESULTS / "second_look.json", out)
    lines = ["# Second look: photos checked per shortlisted animal", "",
             f"Measured {out['measured']} (pairs matched {out['pairs_measured']}) on {out['machine']}: "
             "`.venv/bin/python benchmarks/second_look.py`. Nyala, same-flank protocol, "
             f"{meta['queries']} queries ({meta['photos']} photos, {meta['individuals']} individuals); the "
             f"{SHORTLIST} individuals most similar by the embedding shortlisted (they hold the query's individual "
             f"for {out['rows'][0]['shortlist_recall']:.1f} % of queries, the ceiling of rank-1); scored as "
             "`lynxid evaluate` scores (cross-fitted verifier and calibrator, folds by individual). Explored on "
             "these photos: optimistic for the chosen row.", "",
             "| first look (photos per animal) | second look (animals) | photos per animal then | animals chosen by "
             "| second-look photos at most | matches per query | rank-1 | rank-5 |", "|---|---|---|---|---|---|---|---|"]
    for x in out["rows"]:
        mark = " -- lynxid" if (x["first"], x["deep"], x["per"], x["by"], x["budget"]) == LYNXID else ""
        lines.append(f"| {x['first']} | {x['deep'] or '-'} | {x['per']} | "
                     f"{'verified dense cells' if x['by'] == 'cells' else 'global similarity'}{mark} | "
                     f"{x['budget'] or '-'} | {x['pairs_per_query']:.0f} | {x['rank1']:.1f} % | {x['rank5']:.1f} % |")
    storage.write_text(RESULTS / "second_look.md", "\n".join(lines) + "\n")
    print(f"written {RESULTS / 'second_look.md'}")


if __name__ == "__main__":
    main()
