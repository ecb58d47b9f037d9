"""Benchmark: which photos should a reviewer look at first to narrow the density interval?

On emulated surveys (benchmarks/id_coverage.py: SCR surveys from the model, identified at
the error rates lynxid measures), the top k units of lynxid's review order
(``ImputedDensity.review``: how much confirming a unit is expected to shrink the
identification part of D's variance, ``review_priority``) are reviewed, against the k units
whose hard call is least probable (the usual order), for k = 5, 10, 20. Reviewing a unit
sets its detections to the truth as lynxid.apply_decisions marks a reviewer's decisions
(``reviewed_by``, ``decision``, the known name or one consistent new name per true animal,
``is_new``, probability 1); the imputed fit is then repeated (same K, same seed). Reported per
strategy and k, averaged over surveys: mean 95 % CI width, mean log of its ratio to the
unreviewed width, the same for the interval's relative width log(ucl / lcl) (its width on the
log scale, about 3.9 times D's CV: absolute widths grow with D itself, so a review that brings a
low D back up widens them even when the estimate grows more precise), mean |relative error| of
D, coverage of the true D, and the share of variance due to identification.

Rerun (from the repository root; each survey is cached in benchmarks/_work/id_coverage/):

    nice .venv/bin/python benchmarks/review_ranking.py --surveys 80 --surveys-high 40 --imputations 20
    nice .venv/bin/python benchmarks/review_ranking.py --surveys 30 --surveys-high 20 --imputations 20 --sampler latent

``--sampler latent``: the identities drawn inside the SCR model (lynxid.latent_identity, with
the bank's pair evidence as benchmarks/latent_identity.py gives it); cached apart and written
to results/review_ranking_latent.*.
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
from id_coverage import (emulate_identification, fit_imputed, run_level, simulate_survey,  # noqa: E402
                         survey_mask)
from latent_identity import bank_evidence  # noqa: E402

import lynxid  # noqa: E402

KS = (5, 10, 20)
STRATEGIES = ("ranking", "lowest_probability")
REVIEWER = "benchmark"


def review(result, units, catalogue: set):
    """The identification result with the detections of ``units`` reviewed to the truth."""
    det = result.detections.copy()
    sel = det["unit_id"].isin(set(units)).to_numpy()
    truth = det["truth"].to_numpy(object)
    known = np.array([t in catalogue for t in truth])
    ind = det["individual_id"].to_numpy(object).copy()
    ind[sel] = np.where(known[sel], truth[sel], np.char.add("REV-", truth[sel].astype(str)))
    same = sel & (ind == det["individual_id"].to_numpy(object))
    det["individual_id"] = ind
    det.loc[sel, "is_new"] = ~known[sel]
    det.loc[sel, "p_new"] = np.where(known[sel], 0.0, 1.0)
    det.loc[sel, "probability"] = 1.0
    det.loc[sel, "needs_review"] = False
    det.loc[sel, "decision"] = np.where(same[sel], "confirmed", "reviewed")
    det["reviewed_by"] = pd.Series(np.where(sel, REVIEWER, None), index=det.index, dtype=object)
    return lynxid.IdentifyResult(det, result.issues, dict(result.summary), posterior=result.posterior,
                                 unit_pairs=result.unit_pairs)


def figures(imp, D_true: float) -> dict:
    e = imp.estimates.iloc[0]
    hard = next(iter(imp.hard.values()))
    return {"estimate": float(e["estimate"]), "lcl": float(e["lcl"]), "ucl": float(e["ucl"]),
            "share_identification": float(e["share_identification"]), "hard_estimate": float(hard["estimate"]),
            "animals": imp.animals_detected().get("mean"), "covers": bool(e["lcl"] <= D_true <= e["ucl"])}


def order(result, imp, strategy: str) -> list:
    """Units in the strategy's review order."""
    if strategy == "ranking":
        return imp.review["unit_id"].astype(str).tolist()
    u = result.detections.groupby("unit_id")["probability"].min().reset_index()
    return u.sort_values(["probability", "unit_id"], kind="stable")["unit_id"].astype(str).tolist()


def run_survey(level: str, seed: int, bank: dict, K: int, sampler: str = "independent") -> dict:
    t0 = time.perf_counter()
    sv = simulate_survey(seed)
    mask = survey_mask(sv)
    res = emulate_identification(sv, bank, np.random.default_rng([seed, 41]))
    sampling = {"sampler": sampler}
    if sampler == "latent":
        sampling |= {"pair_evidence": bank_evidence(bank, "measured"), "catalogue_size": len(sv["catalogue"])}
    base = fit_imputed(res, sv, mask, K, seed, **sampling)
    row = {"level": level, "seed": seed, "K": K, "D_true": sv["D_100km2"], "units": len(res.detections),
           "none": figures(base, sv["D_100km2"])}
    cat = set(sv["catalogue"])
    for strategy in STRATEGIES:
        units = order(res, base, strategy)
        for k in KS:
            picked = units[:k]
            wrong = int((~res.detections.set_index("unit_id").loc[picked].pipe(
                lambda d: d["individual_id"].eq(d["truth"]) | (d["is_new"] & ~d["truth"].isin(cat)))).sum())
            try:
                f = figures(fit_imputed(review(res, picked, cat), sv, mask, K, seed, **sampling), sv["D_100km2"])
            except ValueError as exc:
                f = {"error": str(exc)}
            row[f"{strategy}_{k}"] = f | {"reviewed": len(picked), "hard_call_wrong": wrong}
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def width(f: dict) -> float:
    """The 95 % interval's width (animals per 100 km^2)."""
    return f["ucl"] - f["lcl"]


def relative_width(f: dict) -> float:
    """The interval's width on the log scale, log(ucl / lcl): it does not grow with D itself."""
    return float(np.log(f["ucl"] / f["lcl"]))


def mean_se(x: np.ndarray) -> tuple[float, float]:
    """Mean over surveys and its standard error."""
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))


def summarise(rows: list) -> dict:
    out = {}
    for case in ["none"] + [f"{s}_{k}" for s in STRATEGIES for k in KS]:
        ok = [r for r in rows if "error" not in r[case] and "error" not in r["none"]]
        if not ok:
            continue
        t = np.array([r["D_true"] for r in ok])
        est, lcl, ucl = (np.array([r[case][k] for r in ok]) for k in ("estimate", "lcl", "ucl"))
        lw, se_lw = mean_se(np.log((ucl - lcl) / np.array([width(r["none"]) for r in ok])))
        rw, se_rw = mean_se(np.log(np.log(ucl / lcl) / np.array([relative_width(r["none"]) for r in ok])))
        out[case] = {"surveys": len(ok), "mean_ci_width": float((ucl - lcl).mean()),
                     "mean_log_width_ratio": lw, "log_width_ratio_se": se_lw,
                     "mean_relative_width": float(np.log(ucl / lcl).mean()),
                     "log_relative_width_ratio": rw, "log_relative_width_ratio_se": se_rw,
                     "mean_abs_relative_error": float(np.abs(est / t - 1).mean()),
                     "mean_relative_bias": float((est / t - 1).mean()),
                     "coverage": float(((lcl <= t) & (t <= ucl)).mean()),
                     "mean_share_identification": float(np.mean([r[case]["share_identification"] for r in ok])),
                     "mean_hard_call_wrong": float(np.mean([r[case].get("hard_call_wrong", 0) for r in ok]))}
    return out | {"paired": paired(rows)}


def paired(rows: list) -> dict:
    """Per k, ranking against lowest probability on the same surveys: mean (SE) of the log
    ratio of their CI widths, of their relative widths log(ucl / lcl), and of the difference
    of their |relative error|."""
    out = {}
    for k in KS:
        a, b = f"{STRATEGIES[0]}_{k}", f"{STRATEGIES[1]}_{k}"
        ok = [r for r in rows if "error" not in r[a] and "error" not in r[b]]
        if len(ok) < 2:
            continue
        lw = np.array([np.log(width(r[a]) / width(r[b])) for r in ok])
        rw = np.array([np.log(relative_width(r[a]) / relative_width(r[b])) for r in ok])
        de = np.array([abs(r[a]["estimate"] / r["D_true"] - 1) - abs(r[b]["estimate"] / r["D_true"] - 1) for r in ok])
        (m_lw, se_lw), (m_rw, se_rw), (m_de, se_de) = mean_se(lw), mean_se(rw), mean_se(de)
        out[k] = {"surveys": len(ok), "log_width_ratio": m_lw, "se": se_lw, "narrower_share": float((lw < 0).mean()),
                  "relative_width_ratio": m_rw, "relative_width_se": se_rw,
                  "relatively_narrower_share": float((rw < 0).mean()), "abs_error_difference": m_de,
                  "abs_error_difference_se": se_de}
    return out


def markdown(res: dict, cmd: str, info: dict) -> str:
    lines = ["# Review order: lynxid's ranking against the least probable calls first", "", f"`{cmd}`", "",
             f"Identities drawn by the {res.get('sampler', 'independent')} sampler.", "",
             "Emulated surveys (benchmarks/id_coverage.py's generator); the top k units of each order reviewed to the "
             f"truth, then refitted with K = {res['imputations']} imputations. Width ratio: mean of log(width / "
             "unreviewed width) (exp of it: the typical factor). Relative width: log(ucl / lcl), the interval's "
             "width on the log scale (about 3.9 x the CV of D), which does not grow with D itself.", ""]
    for lev, r in res["levels"].items():
        lines += [f"## {lev} accuracy ({r['surveys']} surveys; bank {r['bank']})", "",
                  "| reviewed | k | mean CI width | log width ratio (SE) | relative width | log relative width ratio "
                  "(SE) | mean abs rel. error of D | rel. bias | coverage | ID share of variance | hard calls wrong "
                  "among reviewed |", "|---" * 11 + "|"]
        for case, q in r["summary"].items():
            if case == "paired":
                continue
            s, _, k = case.rpartition("_") if case != "none" else ("none", "", "0")
            lines.append(f"| {s.replace('_', ' ')} | {k} | {q['mean_ci_width']:.2f} | "
                         f"{q['mean_log_width_ratio']:+.3f} ({q['log_width_ratio_se']:.3f}) | "
                         f"{q['mean_relative_width']:.3f} | "
                         f"{q['log_relative_width_ratio']:+.3f} ({q['log_relative_width_ratio_se']:.3f}) | "
                         f"{q['mean_abs_relative_error']:.3f} | "
                         f"{100 * q['mean_relative_bias']:+.1f} % | {q['coverage']:.2f} | "
                         f"{100 * q['mean_share_identification']:.0f} % | {q['mean_hard_call_wrong']:.1f} |")
        lines += ["", "Ranking against lowest probability, paired on the same surveys:", "",
                  "| k | log(width ranking / width lowest p) (SE) | ranking narrower in | log ratio of relative "
                  "widths (SE) | ranking relatively narrower in | abs. rel. error: ranking minus lowest p (SE) |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {k} | {q['log_width_ratio']:+.3f} ({q['se']:.3f}) | {100 * q['narrower_share']:.0f} % of "
                  f"surveys | {q['relative_width_ratio']:+.3f} ({q['relative_width_se']:.3f}) | "
                  f"{100 * q['relatively_narrower_share']:.0f} % of surveys | "
                  f"{q['abs_error_difference']:+.3f} ({q['abs_error_difference_se']:.3f}) |"
                  for k, q in r["summary"]["paired"].items()]
        lines.append("")
    lines += [machine_line(info)]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--surveys", type=int, default=40, help="surveys at the low accuracy level")
    ap.add_argument("--surveys-high", type=int, default=20, help="surveys at the high accuracy level")
    ap.add_argument("--imputations", type=int, default=20)
    ap.add_argument("--sampler", choices=["independent", "latent"], default="independent")
    a = ap.parse_args()
    latent = a.sampler == "latent"
    info = {"machine": machine(), "load": load_snapshot(0.5)}
    res = {"imputations": a.imputations, "ks": KS, "sampler": a.sampler, "levels": {}}
    with threadpool_limits(1):
        for lev, n in (("low", a.surveys), ("high", a.surveys_high)):
            if n:
                rows, src = run_level(lev, n, a.imputations, name="review_latent" if latent else "review",
                                      survey=lambda *x: run_survey(*x, sampler=a.sampler))
                res["levels"][lev] = {"bank": src, "surveys": n, "summary": summarise(rows), "rows": rows}
    cmd = (f"nice .venv/bin/python benchmarks/review_ranking.py --surveys {a.surveys} --surveys-high {a.surveys_high}"
           f" --imputations {a.imputations}" + (" --sampler latent" if latent else ""))
    write_results("review_ranking_latent" if latent else "review_ranking", dict(info, command=cmd, **res),
                  markdown(res, cmd, info))


if __name__ == "__main__":
    main()
