"""How does lynxid's default identification model (fitted on simulated lynx, shipped for
catalogues that cannot fit their own) do on real photos, beside a model fitted on the
catalogue itself?

Rerun (from the repository root; ../shared/data for lion and nyala):

    .venv/bin/python benchmarks/default_model.py                        # lion, nyala
    .venv/bin/python benchmarks/default_model.py --datasets lion --max-individuals 60

Every figure comes from `lynxid.evaluate_dataset(..., protocols=(), model="default")`: the
harness's open set (half the individuals a catalogue, half unknown; flanks known, a query's
own sighting never in the gallery), every query decided by the shipped default model, and on
the same evidence by the model the catalogue half fits on itself (cross-fitted by individual
for its own queries). Both without the learned metric (the default model has none). Figures:
rank-1 (share of known queries whose top candidate is their own individual), BAKS / BAUS and
their geometric mean, and calibration: the top-1 ECE of the posterior identify reports (the
decided answer's probability against whether it was right) and the ECE of the reported
probability with each decision.

``--max-individuals N`` evaluates the first N individuals (sorted by name) only, through a
folder of links: for a machine too slow for the whole set (the figures say how many).
Writes benchmarks/results/default_model.json and default_model.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from lynxid import evaluate_dataset, read_default_model, storage  # noqa: E402  (storage: a module, for atomic writes)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import dataset_footer  # noqa: E402

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "benchmarks" / "_work" / "default_model"
# the features are content-keyed: posterior_calibration.py's cache serves the same photos
CACHE = ROOT / "benchmarks" / "_work" / "posterior_calibration" / "cache"
FIGURES = ("rank1_known", "BAKS", "BAUS", "gmean", "ece_decision", "decision_accuracy", "mean_shown_probability")


def subset(name: str, n: int | None) -> Path:
    """The dataset, or a folder of links to its first ``n`` individuals."""
    src = SHARED / "reid" / name
    if not src.exists():
        sys.exit(f"{src} not found: the real photos live in ../shared/data/reid (or set LYNXID_SHARED_DATA)")
    if not n:
        return src
    dst = WORK / f"{name}-{n}"
    dst.mkdir(parents=True, exist_ok=True)
    for d in sorted(p for p in src.iterdir() if p.is_dir())[:n]:
        if not (dst / d.name).exists():
            (dst / d.name).symlink_to(d.resolve(), target_is_directory=True)
    return dst


def figures(o: dict) -> dict:
    return {**{k: o.get(k) for k in FIGURES}, "posterior_ece_top1": o["posterior"]["ece_top1"],
            "posterior_decisions": o["posterior"]["decisions"], "new_weight": o.get("new_weight")}


def run(name: str, seed: int, n: int | None, cache: Path) -> dict:
    root = subset(name, n)
    t = time.time()
    rep = evaluate_dataset(root, cache_dir=cache, seed=seed, progress=True, protocols=(), model="default")
    o = rep["open_set"]
    sub = f" (first {n} individuals by name)" if n else ""
    return {"command": f"evaluate_dataset('../shared/data/reid/{name}'{sub}, seed={seed}, protocols=(), "
                       "model='default')  # = lynxid evaluate DIR --model default --open-set-only",
            "measured": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.time() - t, 1),
            "images": rep["images"], "individuals": rep["individuals"],
            "known_individuals": o["known_individuals"], "unknown_individuals": o["unknown_individuals"],
            "default": figures(o), "catalogue": figures(o["catalogue_fitted"])}


def markdown(res: dict) -> str:
    lines = ["# The default identification model on real photos", "",
             "Rerun: `.venv/bin/python benchmarks/default_model.py`. Open set of the evaluation harness "
             "(`lynxid evaluate DIR --model default --open-set-only`): half the individuals a catalogue, half "
             "unknown; every query decided by lynxid's shipped default model (fitted on simulated lynx: "
             f"{res.get('default_model', '')}) and, on the same evidence, by the model the catalogue half fits on "
             "itself (cross-fitted by individual). No learned metric in either.", "",
             "| dataset | images | individuals | model | rank-1 | BAKS | BAUS | gmean | posterior top-1 ECE | "
             "reported-probability ECE | decisions right | mean reported | measured | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res["datasets"].items():
        for m in ("default", "catalogue"):
            f = r[m]
            lines.append(f"| {name} | {r['images']} | {r['individuals']} | {m} | {f['rank1_known']:.3f} | "
                         f"{f['BAKS']:.3f} | {f['BAUS']:.3f} | {f['gmean']:.3f} | **{f['posterior_ece_top1']:.3f}** | "
                         f"{f['ece_decision']:.3f} | {f['decision_accuracy']:.3f} | "
                         f"{f['mean_shown_probability']:.3f} | {r['measured']} | {r['seconds']} |")
    lines += dataset_footer(res)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="*", default=["lion", "nyala"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-individuals", type=int, help="only the first N individuals of each dataset")
    ap.add_argument("--cache-dir", default=str(CACHE), help="feature cache (default: %(default)s)")
    a = ap.parse_args(argv)
    prov = read_default_model()["provenance"]
    out = RESULTS / "default_model.json"
    for name in a.datasets:
        print(f"== {name}", flush=True)
        r = run(name, a.seed, a.max_individuals, Path(a.cache_dir))
        res = json.loads(out.read_text()) if out.exists() else {"datasets": {}}
        res["machine"] = f"{os.uname().sysname} {os.uname().machine}, {os.cpu_count()} CPUs"
        res["default_model"] = f"{prov['data']}; `{prov['command'].strip()}`"
        res["datasets"][name] = r
        storage.write_json(out, res)          # after each dataset: a long run keeps what it measured
        storage.write_text(RESULTS / "default_model.md", markdown(res))
        print(json.dumps({k: r[k] for k in ("default", "catalogue")}, indent=1), flush=True)


if __name__ == "__main__":
    main()
