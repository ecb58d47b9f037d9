"""Which dense descriptor: variants of the grid's cell descriptors, dense score alone.

Every photo of the nyala test third (the 60 individuals ``reid.py --adapt`` holds out, as
``dense_grid.py``) against every other of its flank, no shortlist, no fusion; an individual's
score is its best photo's verified cells. Variants (all on block 2's stride-8 grid, the cells
lynxid keeps): lynxid's self-centred block-2 descriptor; the same PCA-whitened on the
dataset's own cells (unsupervised, as a catalogue could fit it); hypercolumns adding block 1
(pooled) and block 3 (upsampled); block 2 with its 3x3-smoothed self.

    .venv/bin/python benchmarks/dense_descriptors.py [VARIANT ...]

Writes results/dense_descriptors.{json,md}."""
import os, platform, sys, time, json
from pathlib import Path
import numpy as np, pandas as pd, torch, cv2
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python")); sys.path.insert(0, str(HERE))
from lynxid import dense, storage
from lynxid.decode import load_crop
from lynxid.embed import Embedder
from lynxid.features import extract_features, LOCAL_SIZE
from lynxid.detections import labelled_detections
from dense_grid import rank1
import reid
torch.set_num_threads(1)
_, test = reid.split_dataset(HERE.parent.parent / "shared" / "data" / "reid" / "nyala", reid.WORK / "nyala_split", 1/3, 0)
det = labelled_detections(test).reset_index(drop=True)
det = det[det["flank"].notna()].reset_index(drop=True)
ind = det["individual"].astype(str).to_numpy(); flank = det["flank"].astype(str).to_numpy()
fs = extract_features(det, Embedder(), local=False, progress=False)
G = fs.vectors @ fs.vectors.T
GLOBAL = rank1(G, G, ind, flank)
MEASURED = time.strftime("%Y-%m-%d %H:%M")
print("global", GLOBAL, flush=True)
m = dense._network()
raw = []
t = time.time()
for p in det["path"]:
    rgb = np.asarray(load_crop(p, (0.0, 0.0, 1.0, 1.0), out_long=LOCAL_SIZE).convert("RGB"))
    h0, w0 = rgb.shape[:2]; s = 448 / max(h0, w0)
    w, h = max(16, round(w0 * s)), max(16, round(h0 * s))
    im = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    x = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1).float()[None] / 127.5 - 1.0
    with torch.inference_mode():
        y = m.bn1(m.conv_stem(x)); outs = {}
        for k, blk in enumerate(m.blocks):
            y = blk(y); outs[k] = y
        sal = m.bn2(m.conv_head(y))[0].norm(dim=0)
        b2 = outs[2]
        sal = torch.nn.functional.interpolate(sal[None, None], size=b2.shape[2:], mode="bilinear", align_corners=False)[0, 0]
        b1 = torch.nn.functional.adaptive_avg_pool2d(outs[1], b2.shape[2:])
        b3 = torch.nn.functional.interpolate(outs[3], size=b2.shape[2:], mode="bilinear", align_corners=False)
        b2s = torch.nn.functional.avg_pool2d(b2, 3, 1, 1, count_include_pad=False)
    gh, gw = b2.shape[2:]
    keep = np.argsort(-sal.numpy().ravel(), kind="stable")[:max(20, int(gh * gw * 0.5))]
    yy, xx = np.divmod(keep, gw)
    xy = np.column_stack([(xx + 0.5) * w0 / gw, (yy + 0.5) * h0 / gh]).astype(np.float32)
    f = lambda t_: t_[0].permute(1, 2, 0).reshape(-1, t_.shape[1]).numpy()[keep]
    raw.append(dict(xy=xy, size=(w0, h0), b1=f(b1), b2=f(b2), b3=f(b3), b2s=f(b2s)))
print("extract s/photo", (time.time() - t) / len(det), flush=True)

def unit(d):
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
def centred(d):
    d = unit(d); return unit(d - d.mean(0, keepdims=True))

def pca_whiten(descs, shrink=0.1, dim=None):
    X = np.concatenate(descs); mu = X.mean(0); C = np.cov((X - mu).T)
    w, V = np.linalg.eigh(C); w, V = w[::-1], V[:, ::-1]
    if dim: w, V = w[:dim], V[:, :dim]
    P = V / np.sqrt(w + shrink * w.mean())
    return [unit((d - mu) @ P) for d in descs]

variants = {
  "b2_centred (lynxid)": lambda: [centred(r["b2"]) for r in raw],
  "b2_pcaw": lambda: pca_whiten([unit(r["b2"]) for r in raw]),
  "b2_centred_pcaw": lambda: pca_whiten([centred(r["b2"]) for r in raw]),
  "hyper_b1b2b3_centred": lambda: [unit(np.hstack([centred(r["b1"]), centred(r["b2"]), centred(r["b3"])])) for r in raw],
  "b2b3_centred": lambda: [unit(np.hstack([centred(r["b2"]), centred(r["b3"])])) for r in raw],
  "b2_b2smooth_centred": lambda: [unit(np.hstack([centred(r["b2"]), centred(r["b2s"])])) for r in raw],
  "hyper_pcaw": lambda: pca_whiten([unit(np.hstack([centred(r["b1"]), centred(r["b2"]), centred(r["b3"])])) for r in raw]),
}
only = sys.argv[1:] or list(variants)
res = {}
for name in only:
    D = variants[name]()
    t = time.time(); L = np.zeros((len(det), len(det)))
    for i in range(len(det)):
        for j in range(i + 1, len(det)):
            if flank[i] == flank[j]:
                L[i, j] = L[j, i] = dense.match_dense(raw[i]["xy"], D[i], raw[j]["xy"], D[j], raw[j]["size"], ratio=0.95)
    r = rank1(L, G, ind, flank)
    res[name] = r
    print(name, r, "match s", round(time.time() - t), flush=True)

def write(res, measured, glob_r):
    out = {"measured": measured, "machine": f"{platform.platform()}, {os.cpu_count()} CPUs", "photos": int(len(det)),
           "individuals": int(len(np.unique(ind))), "global": glob_r, "rows": res}
    storage.write_json(HERE / "results" / "dense_descriptors.json", out)
    lines = ["# Dense grid: which cell descriptor", "", f"Measured {measured} on {out['machine']}: "
             "`.venv/bin/python benchmarks/dense_descriptors.py`. " + f"{out['photos']} photos of {out['individuals']} "
             "nyala individuals (the test third of `reid.py --adapt`); every photo against every other of its flank, "
             "dense score alone. Global embedding: same-flank rank-1 " + f"{glob_r[0]:.1f} %.", "",
             "| descriptor | same-flank rank-1 | rank-5 | queries |", "|---|---|---|---|"]
    lines += [f"| {k} | {v[0]:.1f} % | {v[1]:.1f} % | {v[2]} |" for k, v in res.items()]
    storage.write_text(HERE / "results" / "dense_descriptors.md", "\n".join(lines) + "\n")


write(res, MEASURED, GLOBAL)
