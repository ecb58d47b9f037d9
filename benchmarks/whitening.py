"""The embedding's learned metric (lynxid.metric): what within-individual whitening does to the
global embedding alone, on real photos.

For each dataset (folder per individual; flank from 'left'/'right' in file names, sighting
from the part before '_'), every photo is a query against every other photo of a compatible
flank, its own sighting left out (the open-set protocol's gallery); an individual's score is
its best photo. The whitened rows are cross-fitted as ``lynxid evaluate`` does: a query is
measured through a map fitted without the individuals of its fold (``metric.folds_of``,
5 folds). ``in shortlist`` = the query's individual among the 60 best, the individuals whose
photos local matching checks (``match.SHORTLIST_INDIVIDUALS``).

    .venv/bin/python benchmarks/whitening.py [--datasets nyala lion]

Writes results/whitening.{json,md}. Features come from benchmarks/_work/reid/cache (made by
reid.py; computed here if missing).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))

from lynxid import metric, storage  # noqa: E402
from lynxid.embed import Embedder  # noqa: E402
from lynxid.metric import folds_of  # noqa: E402
from lynxid.features import extract_features  # noqa: E402
from lynxid.detections import labelled_detections  # noqa: E402
from lynxid.match import SHORTLIST_INDIVIDUALS, flank_compatible  # noqa: E402

RESULTS = HERE / "results"
WORK = HERE / "_work" / "reid"
SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def ranks(S: np.ndarray, individuals, flanks, sightings) -> np.ndarray:
    """0-based rank of each query's own individual (-1: not in its gallery)."""
    names, codes = np.unique(individuals, return_inverse=True)
    out = np.full(len(S), -1)
    for q in range(len(S)):
        g = (sightings != sightings[q]) & flank_compatible(flanks, np.full(len(flanks), flanks[q], dtype=object))
        if not (g & (codes == codes[q])).any():
            continue
        best = np.full(len(names), -np.inf)
        np.maximum.at(best, codes[g], S[q, g])
        out[q] = int((best >= best[codes[q]]).sum()) - 1   # ties against the truth, as evaluate counts them
    return out


def summary(r: np.ndarray) -> dict:
    r = r[r >= 0]
    return {"queries": int(len(r)), "rank1": float((r == 0).mean()), "rank5": float((r < 5).mean()),
            "in_shortlist": float((r < SHORTLIST_INDIVIDUALS).mean()), "mrr": float((1.0 / (1 + r)).mean())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["nyala", "lion"])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    out = {"measured": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
           "regularisation": metric.REG, "datasets": {}}
    for name in a.datasets:
        root = SHARED / "reid" / name
        if not root.exists():
            sys.exit(f"{root} not found: set LYNXID_SHARED_DATA")
        det = labelled_detections(root).reset_index(drop=True)
        fs = extract_features(det, Embedder(), local=False, cache_dir=WORK / "cache", progress=False)
        keep = np.flatnonzero(fs.ok)
        X = fs.vectors[keep]
        det = det.iloc[keep].reset_index(drop=True)
        ind = det["individual"].astype(str).to_numpy()
        fl = np.array([None if f is None or f != f else f for f in det["flank"]], dtype=object)
        sg = det["sighting"].astype(str).to_numpy()
        t = time.time()
        white = metric.cross_fitted_similarities(X, ind, folds_of(ind, 5, a.seed))
        t_fit = time.time() - t
        full = metric.fit(X, ind)
        rec = {"photos": int(len(X)), "individuals": int(len(np.unique(ind))), "dim": full.dim if full else None,
               "raw": summary(ranks(X @ X.T, ind, fl, sg)), "whitened": summary(ranks(white, ind, fl, sg)),
               "seconds_five_maps": round(t_fit, 1)}
        rec["choose"] = metric.choose(X, ind, fl, sg, a.seed)[1]
        out["datasets"][name] = rec
        print(name, rec, flush=True)
    storage.write_json(RESULTS / "whitening.json", out)
    lines = ["# Learned metric of the embedding (within-individual whitening)", "",
             f"Measured {out['measured']} on {out['machine']}: `.venv/bin/python benchmarks/whitening.py`. "
             "The global embedding alone (EfficientNet-Lite0, ImageNet); every photo a query against the photos "
             "of a compatible flank, its own sighting left out; whitened rows cross-fitted by individual "
             f"(5 folds, as `lynxid evaluate`); regularisation {metric.REG}.", "",
             "| dataset | photos | individuals | map dimensions (fitted on all photos) | metric | rank-1 | rank-5 | in the 60-individual "
             "shortlist | MRR |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in out["datasets"].items():
        for k, label in (("raw", "cosine"), ("whitened", "whitened")):
            m = r[k]
            lines.append(f"| {name} | {r['photos']} | {r['individuals']} | {r['dim'] if k == 'whitened' else ''} | "
                         f"{label} | {100 * m['rank1']:.1f} % | {100 * m['rank5']:.1f} % | "
                         f"{100 * m['in_shortlist']:.1f} % | {m['mrr']:.3f} |")
    lines += ["", "`metric.choose` (what `IdentificationModel.fit` decides on a catalogue of the whole dataset): " +
              "; ".join(f"{n} {'keeps' if r['choose']['whitening'] else 'refuses'} the map "
                        f"(MRR {r['choose'].get('mrr_raw', float('nan')):.3f} raw, "
                        f"{r['choose'].get('mrr_whitened', float('nan')):.3f} whitened)"
                        for n, r in out["datasets"].items()) + ".", ""]
    storage.write_text(RESULTS / "whitening.md", "\n".join(lines))
    print("written", RESULTS / "whitening.md")


if __name__ == "__main__":
    main()
