"""The embedding's learned metric (``lynxid.metric``) through the whole pipeline: off (the
default), used only to choose what local matching checks (``whiten="shortlist"``), and used
for the shortlist and in the fusion (``whiten=True``).

    .venv/bin/python benchmarks/metric_ablation.py [--datasets nyala lion] [--variants off shortlist on]

Each (dataset, variant) is one ``lynxid.evaluate.evaluate_dataset`` run (nyala ~40 min, lion
~20 min on 2 cores), saved as results/metric_ablation/<dataset>_<variant>.json as it ends, so
an interrupted run resumes with what is missing (``--force`` reruns). The table in
results/metric_ablation.md is built from every saved run, each stamped with its commit.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
sys.path.insert(0, str(HERE))

from lynxid import storage  # noqa: E402
from lynxid.evaluate import evaluate_dataset  # noqa: E402

from reid import SHARED, WORK, _commit  # noqa: E402

OUT = HERE / "results" / "metric_ablation"
VARIANTS = {"off": False, "shortlist": "shortlist", "on": True}
LABELS = {"off": "off (default)", "shortlist": "shortlist only", "on": "shortlist + fusion"}
MODES = ("all", "same-flank", "excl-sighting")


def run(name: str, variant: str) -> dict:
    rep = evaluate_dataset(SHARED / "reid" / name, cache_dir=WORK / "cache", seed=0, progress=True,
                           whiten=VARIANTS[variant])
    rep.update(variant=variant, measured=time.strftime("%Y-%m-%d %H:%M"), lynxid_commit=_commit(),
               command=f"evaluate_dataset('{name}', seed=0, whiten={VARIANTS[variant]!r})")
    storage.write_json(OUT / f"{name}_{variant}.json", rep)
    return rep


def to_markdown() -> str:
    order = list(VARIANTS)
    paths = sorted(OUT.glob("*.json"), key=lambda p: (p.stem.rsplit("_", 1)[0], order.index(p.stem.rsplit("_", 1)[1])))
    reps = {p.stem: storage.read_json(p) for p in paths}
    lines = ["# The embedding's learned metric through the whole pipeline", "",
             "`.venv/bin/python benchmarks/metric_ablation.py`: `lynxid evaluate` (seed 0) with the metric off (the "
             "default), used only to choose the shortlist and each animal's photos (`whiten=\"shortlist\"`), or also "
             "in the fusion (`whiten=True`). Rank-1 / rank-5 of the full method; open set sqrt(BAKS·BAUS); ECE of "
             "the probability reported with each open-set decision.", "",
             "| dataset | metric | all | same-flank | excl-sighting | open set | reported ECE | measured (commit) |",
             "|---|---|---|---|---|---|---|---|"]
    for key, r in reps.items():
        name, variant = key.rsplit("_", 1)
        cells = []
        for m in MODES:
            f = r["modes"].get(m, {}).get("full")
            cells.append(f"{100 * f['rank1']:.1f} / {100 * f['rank5']:.1f} %" if f else "")
        o = r.get("open_set", {})
        lines.append(f"| {name} | {LABELS[variant]} | " + " | ".join(cells) +
                     f" | {o.get('gmean', float('nan')):.3f} | {o.get('ece_decision', float('nan')):.3f} | "
                     f"{r.get('measured', '')} ({r.get('lynxid_commit') or '?'}) |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["nyala", "lion"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--force", action="store_true", help="rerun runs already saved")
    a = ap.parse_args(argv)
    for name in a.datasets:
        if not (SHARED / "reid" / name).exists():
            sys.exit(f"{SHARED / 'reid' / name} not found: this benchmark needs ../shared/data/reid")
        for v in a.variants:
            if a.force or not (OUT / f"{name}_{v}.json").exists():
                run(name, v)
            storage.write_text(HERE / "results" / "metric_ablation.md", to_markdown())
    storage.write_text(HERE / "results" / "metric_ablation.md", to_markdown())
    print(to_markdown())


if __name__ == "__main__":
    main()
