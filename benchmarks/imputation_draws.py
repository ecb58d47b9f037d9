"""Benchmark: what one draw of the identities looks like, and what it does to the SCR fit.

``id_coverage.py`` measures the imputed density's bias and coverage; this looks inside the
draws behind it. On the same emulated surveys (SCR surveys from the model, identified at
the error rates lynxid measures; ``id_coverage.py``'s generator and banks) it fits the
truth, the hard calls, and each of M draws of ``lynxid.IdentitySampler``, and reports per
accuracy level, averaged over surveys:

* animals detected (truth, hard calls, per draw);
* how a draw's animals relate to the true ones: the share of drawn animals holding more than
  one true animal (**merged**), the share of true animals spread over more than one drawn
  animal (**split**), and the share of detections not in the drawn animal holding most of
  their true animal's detections (**misplaced**);
* the fitted sigma, g0 and D of the draws as ratios to the truth fit's (geometric means).

Why: D near the truth on average can hide errors that cancel -- split animals add animals
(D up) while merged ones widen the apparent home range (sigma up, so D down). A draw from
calibrated per-photo posteriors carries as many wrong names as the calls are wrong, and each
wrong name of a known animal is a merge.

Rerun (from the repository root; each survey is cached in benchmarks/_work/id_coverage/):

    nice .venv/bin/python benchmarks/imputation_draws.py --surveys 20 --draws 10
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_snapshot, machine, machine_line, write_results  # noqa: E402
from id_coverage import emulate_identification, fit_scr, run_level, simulate_survey, survey_mask  # noqa: E402

import lynxid  # noqa: E402

PARAMETERS = ("D_100km2", "sigma", "g0")


def fit(det: pd.DataFrame, ids, survey: dict, mask) -> dict:
    """n, D, sigma and g0 of the detections identified as ``ids`` (None: left out)."""
    f = fit_scr(det.assign(individual_id=ids), survey["stations"], mask)
    e = f.estimates_dict()
    return {k: float(e[k]["estimate"]) for k in PARAMETERS} | {"n": int(f.n)}


def structure(truth: np.ndarray, ids: np.ndarray) -> dict:
    """Merged / split / misplaced shares of one assignment against the truth (module doc)."""
    t = pd.DataFrame({"truth": truth, "id": ids}).dropna()
    merged = t.groupby("id")["truth"].nunique()
    split = t.groupby("truth")["id"].nunique()
    main = t.groupby("truth")["id"].agg(lambda s: s.value_counts().index[0])
    misplaced = (t["id"] != t["truth"].map(main)).mean()
    return {"merged": float((merged > 1).mean()), "split": float((split > 1).mean()),
            "misplaced": float(misplaced)}


def run_survey(level: str, seed: int, bank: dict, draws: int) -> dict:
    t0 = time.perf_counter()
    sv = simulate_survey(seed)
    mask = survey_mask(sv)
    res = emulate_identification(sv, bank, np.random.default_rng([seed, 41]))
    det = res.detections
    truth = det["truth"].to_numpy(object)
    row = {"level": level, "seed": seed, "truth": fit(det, truth, sv, mask)}
    hard = det["individual_id"].to_numpy(object)
    row["hard"] = fit(det, hard, sv, mask) | structure(truth, hard)
    sampled = lynxid.IdentitySampler(seed=seed).fit(det, res.posterior, res.unit_pairs).sample(draws)
    row["draws"] = []
    for c in sampled.columns[1:]:
        ids = sampled[c].to_numpy(object)
        try:
            row["draws"].append(fit(det, ids, sv, mask) | structure(truth, ids))
        except (ValueError, np.linalg.LinAlgError) as exc:
            row["draws"].append({"error": str(exc)})
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def summarise(rows: list) -> dict:
    """Means over surveys of each survey's mean over its draws (ratios: geometric)."""
    out = {}
    for who in ("hard", "draws"):
        per = []
        for r in rows:
            fits = [d for d in (r[who] if who == "draws" else [r[who]]) if "error" not in d]
            if not fits:
                continue
            per.append({"n": np.mean([d["n"] for d in fits]), "truth_n": r["truth"]["n"],
                        **{k: np.mean([d[k] for d in fits]) for k in ("merged", "split", "misplaced")},
                        **{f"log_{k}": np.mean([np.log(d[k] / r["truth"][k]) for d in fits]) for k in PARAMETERS}})
        p = pd.DataFrame(per)
        out[who] = {"surveys": len(p), "animals": float(p["n"].mean()), "animals_truth": float(p["truth_n"].mean()),
                    **{k: float(p[k].mean()) for k in ("merged", "split", "misplaced")},
                    **{f"{k}_ratio": float(np.exp(p[f"log_{k}"].mean())) for k in PARAMETERS}}
    return out


def markdown(res: dict, cmd: str, info: dict) -> str:
    lines = ["# What a draw of the identities looks like", "", f"`{cmd}`", "",
             "Emulated surveys (benchmarks/id_coverage.py's generator and banks); per survey the truth, the hard calls "
             "and each draw of lynxid.IdentitySampler fitted alike. Merged: drawn animals holding more than one true "
             "animal; split: true animals spread over more than one drawn animal; misplaced: detections outside the "
             "drawn animal holding most of their true animal's. Ratios to the truth fit, geometric means over surveys.",
             "", "| accuracy | IDs | surveys | animals (truth) | merged | split | misplaced | sigma ratio | g0 ratio "
             "| D ratio |", "|---" * 10 + "|"]
    for lev, r in res["levels"].items():
        for who, s in r["summary"].items():
            lines.append(f"| {lev} | {'hard calls' if who == 'hard' else 'one draw'} | {s['surveys']} | "
                         f"{s['animals']:.1f} ({s['animals_truth']:.1f}) | {100 * s['merged']:.0f} % | "
                         f"{100 * s['split']:.0f} % | {100 * s['misplaced']:.0f} % | {s['sigma_ratio']:.2f} | "
                         f"{s['g0_ratio']:.2f} | {s['D_100km2_ratio']:.2f} |")
    lines += ["", machine_line(info)]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--surveys", type=int, default=20, help="surveys per accuracy level")
    ap.add_argument("--draws", type=int, default=10, help="draws fitted per survey")
    a = ap.parse_args()
    info = {"machine": machine(), "load": load_snapshot(0.5)}
    res = {"draws": a.draws, "levels": {}}
    with threadpool_limits(1):
        for lev in ("high", "low"):
            rows, src = run_level(lev, a.surveys, a.draws, survey=run_survey, name="draws")
            res["levels"][lev] = {"bank": src, "surveys": a.surveys, "summary": summarise(rows), "rows": rows}
            print(lev, res["levels"][lev]["summary"], flush=True)
    cmd = f"nice .venv/bin/python benchmarks/imputation_draws.py --surveys {a.surveys} --draws {a.draws}"
    write_results("imputation_draws", dict(info, command=cmd, **res), markdown(res, cmd, info))


if __name__ == "__main__":
    main()
