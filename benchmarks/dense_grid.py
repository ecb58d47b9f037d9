"""How the dense grid matcher's settings were chosen: same-flank rank-1 of the dense score alone.

For each setting (EfficientNet-Lite0 block, crop size, share of grid cells kept) every photo
of DATASET (folder per individual, flank from 'left'/'right' in the file name) is matched
against every other photo of the same flank -- no shortlist, no fusion -- and an individual's
score is its best photo's verified cells (ties broken by the global cosine, counted against
the query). The global embedding's own rank-1 is the baseline.

    .venv/bin/python benchmarks/dense_grid.py [DATASET]   # default: the nyala test third of reid.py --adapt

Writes results/dense_grid.{json,md}. The default dataset is the 60 nyala individuals that
``reid.py --adapt`` holds out; it is also where these settings were picked, so its figures
are optimistic for the chosen setting -- the held-out test of the choice is another set.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))

from lynxid import dense, storage  # noqa: E402
from lynxid.decode import load_crop  # noqa: E402
from lynxid.embed import Embedder  # noqa: E402
from lynxid.features import extract_features  # noqa: E402
from lynxid.detections import labelled_detections  # noqa: E402

RESULTS = HERE / "results"
DEFAULT = HERE / "_work" / "reid" / "nyala_split" / "test"
# (block, crop px, share of cells kept, centre descriptors per photo, ratio test). The first
# rows chose block, size and share (before centring, ratio 0.8); the last three the centring
# and the ratio that lynxid uses now (block 2, 448 px, 50 %, centred, 0.95).
SETTINGS = [(2, 448, 0.5, False, 0.8), (2, 448, 0.3, False, 0.8), (3, 448, 0.5, False, 0.8),
            (4, 448, 0.5, False, 0.8), (4, 640, 0.5, False, 0.8), (5, 640, 0.5, False, 0.8),
            (2, 448, 0.5, False, 0.95), (2, 448, 0.5, True, 0.8), (2, 448, 0.5, True, 0.95)]


def rank1(score: np.ndarray, tie: np.ndarray, ind: np.ndarray, flank: np.ndarray) -> tuple[float, float, int]:
    hits, hits5 = [], []
    for q in range(len(ind)):
        g = flank == flank[q]
        g[q] = False
        if not (g & (ind == ind[q])).any():
            continue
        s = pd.Series(score[q, g] + 1e-6 * tie[q, g]).groupby(ind[g]).max()
        rk = int((s >= s[ind[q]]).sum()) - 1          # ties counted against the query
        hits.append(rk == 0)
        hits5.append(rk < 5)
    return 100 * float(np.mean(hits)), 100 * float(np.mean(hits5)), len(hits)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", nargs="?", default=str(DEFAULT))
    ap.add_argument("--only", type=int, nargs="*", help="rows of SETTINGS to run (0-based; default all)")
    a = ap.parse_args(argv)
    root = Path(a.dataset)
    if not root.exists():
        sys.exit(f"{root} not found: run benchmarks/reid.py --adapt first (it makes the nyala split) or name a dataset")
    det = labelled_detections(root).reset_index(drop=True)
    det = det[det["flank"].notna()].reset_index(drop=True)
    ind = det["individual"].astype(str).to_numpy()
    flank = det["flank"].astype(str).to_numpy()
    fs = extract_features(det, Embedder(), local=False, progress=False)
    G = fs.vectors @ fs.vectors.T
    out = {"measured": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
           "dataset": str(root), "photos": int(len(det)), "individuals": int(len(np.unique(ind))), "rows": []}
    r = rank1(G, G, ind, flank)
    out["global"] = {"rank1": r[0], "rank5": r[1], "queries": r[2]}
    print(f"global embedding: same-flank rank-1 {r[0]:.1f} %, rank-5 {r[1]:.1f} % ({r[2]} queries)", flush=True)
    prev = storage.read_json(RESULTS / "dense_grid.json") if a.only and (RESULTS / "dense_grid.json").exists() else {}
    done = {_key(r): r for r in prev.get("rows", []) if prev.get("dataset") == str(root)}
    for i, (stage, size, keep, centre, ratio) in enumerate(SETTINGS):
        if a.only and i not in a.only:
            if _key({"block": stage, "size": size, "keep": keep, "centred": centre, "ratio": ratio}) in done:
                old = done[_key({"block": stage, "size": size, "keep": keep, "centred": centre, "ratio": ratio})]
                out["rows"].append({"centred": False, "ratio": 0.8, "measured": prev["measured"], **old})
            continue
        dense.STAGE, dense.DENSE_SIZE, dense.KEEP, dense.CENTRE = stage, size, keep, centre
        t = time.time()
        grids = []
        for p in det["path"]:
            crop = np.asarray(load_crop(p, (0.0, 0.0, 1.0, 1.0), out_long=max(512, size)).convert("RGB"))
            grids.append((*dense.extract_dense(crop), (crop.shape[1], crop.shape[0])))
        t_ext = (time.time() - t) / len(det)
        t = time.time()
        L = np.zeros((len(det), len(det)))
        n_pairs = 0
        for i in range(len(det)):
            for j in range(i + 1, len(det)):
                if flank[i] == flank[j]:
                    L[i, j] = L[j, i] = dense.match_dense(grids[i][0], grids[i][1], grids[j][0], grids[j][1], grids[j][2],
                                                                ratio=ratio)
                    n_pairs += 1
        t_pair = (time.time() - t) / max(n_pairs, 1)
        r = rank1(L, G, ind, flank)
        row = {"block": stage, "size": size, "keep": keep, "centred": centre, "ratio": ratio,
               "measured": out["measured"], "cells": int(np.mean([len(g[0]) for g in grids])),
               "rank1": r[0], "rank5": r[1], "queries": r[2], "ms_per_photo": 1000 * t_ext, "ms_per_pair": 1000 * t_pair}
        out["rows"].append(row)
        print(row, flush=True)
    RESULTS.mkdir(exist_ok=True)
    storage.write_json(RESULTS / "dense_grid.json", out)
    lines = ["# Dense grid matcher: settings", "",
             f"Measured {out['measured']} on {out['machine']}: `.venv/bin/python benchmarks/dense_grid.py`. "
             f"{out['photos']} photos of {out['individuals']} individuals ({root}); every photo against every other "
             "photo of its flank, dense score alone (no shortlist, no fusion).", "",
             f"Global embedding (cosine): same-flank rank-1 {out['global']['rank1']:.1f} %, "
             f"rank-5 {out['global']['rank5']:.1f} %.", "",
             "| block (timm index, 0-based) | crop px | cells kept | centred | ratio | cells | rank-1 | rank-5 | "
             "ms / photo | ms / pair | measured |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in out["rows"]:
        lines.append(f"| {x['block']} | {x['size']} | {x['keep']:.0%} | {'yes' if x['centred'] else 'no'} | "
                     f"{x['ratio']} | {x['cells']} | {x['rank1']:.1f} % | "
                     f"{x['rank5']:.1f} % | {x['ms_per_photo']:.0f} | {x['ms_per_pair']:.2f} | {x['measured']} |")
    storage.write_text(RESULTS / "dense_grid.md", "\n".join(lines) + "\n")
    print(f"written {RESULTS / 'dense_grid.md'}")


def _key(r: dict) -> tuple:
    return (r["block"], r["size"], r["keep"], bool(r.get("centred", False)), r.get("ratio", 0.8))


if __name__ == "__main__":
    main()
