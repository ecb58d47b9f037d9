"""Is the probability identify reports one a user can take at face value? The whole posterior
over {each catalogue animal, new}, measured in the evaluation harness's open set.

Rerun (from the repository root; ../shared/data for lion and nyala):

    .venv/bin/python benchmarks/posterior_calibration.py                       # simulated, lion, nyala
    .venv/bin/python benchmarks/posterior_calibration.py --datasets simulated

Every figure comes from `lynxid.evaluate_dataset(..., protocols=())` (the open set alone:
half the individuals a catalogue, the other half unknown; known queries decided by a model
cross-fitted by individual): the top-1 ECE of the decided answer's probability, the ECE of
every answer of every query, and a reliability plot per dataset. The simulated set is the
simulator's reference catalogue of SIM_INDIVIDUALS lynx (3 sightings x 2 flanks each):
large enough (about 720 decisions) that an ECE of 0.05 is not binning noise: a perfectly
calibrated model shows about 0.035 with 720 decisions, 0.04 with 480, 0.08 with 120.

Writes benchmarks/results/posterior_calibration.json (with each dataset's per-query
posteriors and the pair probabilities of photos called new: the identification error
benchmarks/id_coverage.py draws from), posterior_calibration.md and
posterior_reliability_<dataset>.png.
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

from lynxid import evaluate_dataset, storage  # noqa: E402  (storage: a module, for atomic writes)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import dataset_footer  # noqa: E402

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "benchmarks" / "_work" / "posterior_calibration"
SIM_INDIVIDUALS = 120
TARGET_ECE = 0.05


def simulated_dataset(seed: int) -> tuple[Path, Path]:
    from lynxid import simulate_survey
    from lynxid.simulate import SurveyConfig
    root = WORK / f"simulated-{SIM_INDIVIDUALS}-{seed}"
    if not (root / "catalogue_megadetector.json").exists():
        cfg = SurveyConfig(n_individuals=SIM_INDIVIDUALS, n_known=SIM_INDIVIDUALS, n_days=5, max_detections=1,
                           inject_bad_files=False, seed=seed + 1)
        simulate_survey(root, cfg, progress=True)
    return root / "catalogue", root / "catalogue_megadetector.json"


def run(name: str, seed: int) -> dict:
    if name == "simulated":
        root, md = simulated_dataset(seed)
        command = (f"lynxid simulate DIR --individuals {SIM_INDIVIDUALS} --known {SIM_INDIVIDUALS} --days 5 --seed "
                   f"{seed + 1}; evaluate_dataset(DIR/catalogue, megadetector=DIR/catalogue_megadetector.json, "
                   f"seed={seed}, protocols=())")
    else:
        root, md = SHARED / "reid" / name, None
        command = f"evaluate_dataset('../shared/data/reid/{name}', seed={seed}, protocols=())"
    t = time.time()
    rep = evaluate_dataset(root, megadetector=md, cache_dir=WORK / "cache", seed=seed, progress=True, protocols=())
    o = rep["open_set"]
    return {"command": command, "measured": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.time() - t, 1),
            "images": rep["images"], "individuals": rep["individuals"], "posterior": o["posterior"],
            "reported_ece_by_map": o.get("ece_decision_by_map"), "BAKS": o["BAKS"], "BAUS": o["BAUS"],
            "gmean": o["gmean"], "posteriors": o["posteriors"], "new_pairs": o["new_pairs"],
            "pair_base_rate": o.get("pair_base_rate")}


def plot(name: str, r: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lynxid.calibrate import reliability_table
    from lynxid.openset_evaluation import posterior_outcomes
    posts = r["posteriors"]
    top, right, every, hit = posterior_outcomes(posts)
    fig, ax = plt.subplots(figsize=(4.4, 4.4))
    ax.plot([0, 1], [0, 1], "--", c="grey", lw=1)
    for p, y, c, lab in ((top, right, "#b5651d", f"decided answer (top-1): ECE {r['posterior']['ece_top1']:.3f}"),
                         (every, hit, "#3a6ea5", f"every answer: ECE {r['posterior']['ece_every_answer']:.3f}")):
        t = reliability_table(p, y)
        m = t["n"] > 0
        ax.plot(t.loc[m, "mean_probability"], t.loc[m, "observed_frequency"], "o-", c=c, label=lab, ms=4)
        for _, row in t[m].iterrows():
            ax.annotate(str(int(row["n"])), (row["mean_probability"], row["observed_frequency"]), fontsize=6,
                        xytext=(3, -8), textcoords="offset points", color=c)
    ax.set_xlabel("probability identify reports")
    ax.set_ylabel("observed frequency right")
    ax.set_title(f"{name}: posterior over {{catalogue animals, new}}\nopen set, {len(posts)} decisions, "
                 "cross-fitted", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    with storage.atomic_path(RESULTS / f"posterior_reliability_{name}.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def markdown(res: dict) -> str:
    lines = ["# Calibration of the posterior identify reports", "",
             f"Rerun: `.venv/bin/python benchmarks/posterior_calibration.py`. Target: top-1 ECE <= {TARGET_ECE}.", "",
             "Open set of the evaluation harness (half the individuals a catalogue, half unknown; known queries "
             "decided by a model cross-fitted by individual). **top-1**: the decided answer's probability (P of "
             "the named animal, or P(new)) against whether the decision was right; **every answer**: each "
             "candidate's and P(new) against whether it was the truth. Plots: `posterior_reliability_<dataset>.png`.",
             "", "| dataset | images | individuals | decisions | mean top-1 probability | decisions right | "
             "top-1 ECE | every-answer ECE | BAKS | BAUS | measured | seconds |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res["datasets"].items():
        q = r["posterior"]
        lines.append(f"| {name} | {r['images']} | {r['individuals']} | {q['decisions']} | {q['mean_top1']:.3f} | "
                     f"{q['decisions_right']:.3f} | **{q['ece_top1']:.3f}** | {q['ece_every_answer']:.4f} | "
                     f"{r['BAKS']:.3f} | {r['BAUS']:.3f} | {r['measured']} | {r['seconds']} |")
    lines += dataset_footer(res)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="*", default=["simulated", "lion", "nyala"])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    out = RESULTS / "posterior_calibration.json"
    for name in a.datasets:
        print(f"== {name}", flush=True)
        r = run(name, a.seed)
        # read again: another run may have added a dataset meanwhile
        res = json.loads(out.read_text()) if out.exists() else {"datasets": {}}
        res["machine"] = f"{os.uname().sysname} {os.uname().machine}, {os.cpu_count()} CPUs"
        res["datasets"][name] = r
        storage.write_json(out, res)          # after each dataset: a long run keeps what it measured
        plot(name, r)
        storage.write_text(RESULTS / "posterior_calibration.md", markdown(res))
        q = r["posterior"]
        print(f"{name}: top-1 ECE {q['ece_top1']:.3f}, every answer {q['ece_every_answer']:.4f}, "
              f"{q['decisions']} decisions", flush=True)


if __name__ == "__main__":
    main()
