"""Benchmark: identities drawn inside the SCR model (lynxid.latent_identity) against the truth.

Why: ``lynxid.IdentitySampler`` draws each unit's identity from its own probabilities; at
nyala's error rates its draws merge animals that live far apart and the imputed D is 44 % low
with about half the coverage it claims (results/id_coverage.md). ``fit_density_imputed(...,
sampler="latent")`` draws the identities with the SCR model instead (its model is stated in
lynxid/latent_identity.py). This measures it on id_coverage.py's surveys:

* emulated surveys (same seeds, banks, design and emulation as id_coverage.py), at both
  accuracy levels; the pair evidence is the bank's (``PairEvidence`` fitted on the pairs of
  photos called new that the bank's ``lynxid evaluate`` run collected, as ``density fit
  --pair-evidence REPORT`` does) and the catalogue's size is the survey's;
* ``--pipeline N``: id_coverage.py's image-pipeline surveys (run_demo seeds 1..N, identified
  by lynxid itself), the catalogue's size read from the demo's catalogue. The pair evidence
  is measured on the other N - 1 pipeline surveys' unit pairs, whose animals the simulator
  knows (leave one survey out): pairs of the kind the sampler reads, from catalogues fitted
  as this one is. (The simulated-lynx bank's map, measured with a catalogue of 60 animals and
  a base rate that bank did not record, read the typical pair of two animals here as one.)

Beside each survey: id_coverage.py's cached rows of the same survey (truth IDs, hard calls,
``IdentitySampler``'s imputation). ``--pair-lr base-rate``: the ablation, pairs read as
odds(p) / odds(base rate) instead of the measured map.

Rerun (from the repository root; rows cached in benchmarks/_work/latent_identity/):

    nice .venv/bin/python benchmarks/latent_identity.py --surveys 50 --imputations 20 --pipeline 20 --report
    nice .venv/bin/python benchmarks/latent_identity.py --surveys 12 --pipeline 20 --pair-lr base-rate  # ablation
    nice .venv/bin/python benchmarks/latent_identity.py --surveys 0 --pipeline 20 --pair-lr bank  # a map from elsewhere

id_coverage.py must have run first for at least as many surveys (its rows are read, not rerun).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, load_snapshot, machine, machine_line, write_results  # noqa: E402
from id_coverage import (CACHE as COVERAGE_CACHE, DESIGN, DETECTFN, PAIRS_RULE, SAMPLER, cached_rows,  # noqa: E402
                         emulate_identification, fit_pipeline_imputed, fit_scr, imputed_row, keys, level_bank, resumable,
                         simulate_survey, summarise, survey_mask)

import lynxid  # noqa: E402
from lynxid.pair_evidence import PairEvidence  # noqa: E402
from lynxid.reported import logit  # noqa: E402

CACHE = WORK / "latent_identity"
VERSION = "latent-5"      # lynxid.latent_identity's sampler: cached rows of another are recomputed


def bank_evidence(bank: dict, how: str) -> PairEvidence:
    """The pair evidence of a bank: measured on its pairs of photos called new, or (``base-rate``)
    read from its calibrator's base rate."""
    if how == "base-rate":
        return PairEvidence.from_base_rate()
    x = np.r_[bank["same"], bank["diff"]]
    return PairEvidence().fit(x, np.arange(len(x)) < len(bank["same"]), bank["base_rate"])


def pair_lr_check(bank: dict, cuts=(0, .5, .8, .9, .95, .98, .99, .995, 1)) -> list:
    """Per band of p_same (quantiles of the bank's pairs): the log likelihood ratio measured
    (share of same-animal pairs in the band over share of different ones) against what
    odds(p) / odds(base rate) says at the band's mean p."""
    s, d = bank["same"], bank["diff"]
    x = np.r_[s, d]
    edges = np.quantile(x, cuts)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        ns, nd = int(((s >= lo) & (s <= hi)).sum()), int(((d >= lo) & (d <= hi)).sum())
        pm = float(x[(x >= lo) & (x <= hi)].mean())
        out.append({"p_from": float(lo), "p_to": float(hi), "same": ns, "different": nd,
                    "measured": float(np.log((ns + .5) / len(s)) - np.log((nd + .5) / len(d))),
                    "base_rate_reading": float(logit(pm) - logit(bank["base_rate"]))})
    return out


def latent_row(imp, sigma_truth: float | None) -> dict:
    """The latent fit's figures (as id_coverage's ``imputed`` row), the draws' fitted sigma
    and the sampler's own (geometric means over draws), each against the truth IDs' fit."""
    row = imputed_row(imp)["imputed"]
    gm = lambda v: float(np.exp(np.nanmean(np.log(np.asarray(v, float)))) / 1000)  # noqa: E731
    row["draws_sigma_km"] = gm(imp.draws["sigma"])
    row["sampler_sigma_km"] = gm([t["sigma"] for t in imp.settings["sampler_trace"]])
    if sigma_truth:
        row["sigma_ratio"] = row["draws_sigma_km"] / (sigma_truth / 1000)
        row["sampler_sigma_ratio"] = row["sampler_sigma_km"] / (sigma_truth / 1000)
    return row


def run_survey(level: str, seed: int, bank: dict, K: int, pe: PairEvidence) -> dict:
    """One emulated survey (id_coverage's, same seed) imputed with the latent sampler."""
    t0 = time.perf_counter()
    sv = simulate_survey(seed)
    mask = survey_mask(sv)
    res = emulate_identification(sv, bank, np.random.default_rng([seed, 41]))
    truth = sv["det"].assign(individual_id=sv["det"]["animal"])
    sigma_truth = fit_scr(truth, sv["stations"], mask).estimates_dict()["sigma"]["estimate"]
    row = {"level": level, "seed": seed, "K": K, "D_true": sv["D_100km2"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            imp = lynxid.fit_density_imputed(res, sv["stations"], imputations=K, mask=mask, detectfn=DETECTFN,
                                              occasion_length=DESIGN["occasion_length"], seed=seed, n_jobs=1,
                                              progress=False, sampler="latent", pair_evidence=pe,
                                              catalogue_size=len(sv["catalogue"]))
            row["latent"] = latent_row(imp, sigma_truth)
        except ValueError as exc:
            row["errors"] = {"latent": str(exc)}
    return row | {"seconds": round(time.perf_counter() - t0, 2)}


def pipeline_pairs(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """A pipeline survey's unit pairs: p_same, whether the simulator's truth has one animal,
    and the calibrator's base rate."""
    import pandas as pd
    out = COVERAGE_CACHE / "pipeline" / f"seed_{seed}"
    res = lynxid.IdentifyResult.read(out / "identified")
    truth = pd.read_csv(out / "survey" / "truth" / "images.csv")[["file", "individual"]]
    of_unit = res.detections.merge(truth, on="file", how="left").groupby("unit_id")["individual"].first()
    up = res.unit_pairs
    a, b = up["unit_a"].map(of_unit), up["unit_b"].map(of_unit)
    ok = (a.notna() & b.notna()).to_numpy()
    return up["p_same"].to_numpy(float)[ok], (a == b).to_numpy()[ok], float(up["base_rate"].iat[0])


def pipeline_evidence(seed: int, n: int, how: str) -> PairEvidence:
    """The pair evidence for pipeline survey ``seed``: measured on surveys 1..n but that one."""
    if how == "base-rate":
        return PairEvidence.from_base_rate()
    if how == "bank":
        return bank_evidence(level_bank("high")[0], "measured")
    parts = [pipeline_pairs(s) for s in range(1, n + 1) if s != seed]
    x = np.concatenate([logit(p) - logit(b) for p, _, b in parts])
    same = np.concatenate([t for _, t, _ in parts])
    # one base rate for all: the map is fitted on logit(p) - logit(base rate), here 0.5 adds nothing
    return PairEvidence().fit(1 / (1 + np.exp(-x)), same, 0.5)


def run_pipeline_seed(seed: int, K: int, pe: PairEvidence) -> dict:
    """One of id_coverage.py's image-pipeline surveys (already identified) imputed with the
    latent sampler, as id_coverage fits it."""
    t0 = time.perf_counter()
    out = COVERAGE_CACHE / "pipeline" / f"seed_{seed}"
    rule = out / "identified" / "pairs_rule.txt"
    if not rule.exists() or rule.read_text() != PAIRS_RULE:
        raise LookupError(f"{out}: run id_coverage.py --pipeline first (identified with the current rule)")
    res = lynxid.IdentifyResult.read(out / "identified")
    size = len(lynxid.Catalogue.load(out / "catalogue").individuals)
    row = {"seed": seed, "K": K, "pair_evidence": pe.to_dict()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            imp = fit_pipeline_imputed(res, out, K, seed, sampler="latent", pair_evidence=pe, catalogue_size=size)
            row["latent"] = latent_row(imp, None)
        except ValueError as exc:
            row["errors"] = {"latent": str(exc)}
    return row | {"seconds": round(time.perf_counter() - t0, 2)}


def level_rows(level: str, n: int, K: int, how: str) -> tuple[list, dict]:
    """This benchmark's rows of surveys 0..n-1 joined to id_coverage's rows of the same surveys."""
    bank, _ = level_bank(level)
    pe = bank_evidence(bank, how)
    mine = resumable(CACHE / f"{level}.jsonl", [(f"{k}|{VERSION}|{how}", s) for k, s in keys(bank, n, K)],
                     lambda s: run_survey(level, s, bank, K, pe), f"latent {level} survey")
    done = cached_rows(COVERAGE_CACHE / f"emulated_{level}.jsonl")
    cov = {r["seed"]: r for k, _ in keys(bank, n, K) if (r := done.get(k))}
    rows = [cov[r["seed"]] | {k: r[k] for k in ("latent", "errors") if k in r}
            for r in mine if r["seed"] in cov]
    return rows, {"bank": bank, "pair_evidence": pe}


def pipeline_rows(n: int, K: int, how: str) -> list:
    mine = resumable(CACHE / "pipeline.jsonl",
                     [(f"{s}|{K}|{VERSION}|{how}|{PAIRS_RULE}|loso{n}", s) for s in range(1, n + 1)],
                     lambda s: run_pipeline_seed(s, K, pipeline_evidence(s, n, how)), "latent pipeline seed")
    done = cached_rows(COVERAGE_CACHE / "pipeline.jsonl")
    return [done[f"{r['seed']}|{K}|{SAMPLER}"] | {k: r[k] for k in ("latent",) if k in r}
            for r in mine if f"{r['seed']}|{K}|{SAMPLER}" in done]


def _line(label: str, way: str, s: dict, sigma: str = "") -> str:
    return (f"| {label} | {way} | {s['surveys']} | {100 * s['relative_bias']:+.1f} % ({100 * s['bias_mcse']:.1f}) "
            f"| {s['coverage']:.2f} ({s['coverage_se']:.2f}) | {s['mean_relative_ci_width']:.2f} "
            f"| {s['mean_animals']:.1f} | {sigma} |")


def report(res: dict) -> str:
    lines = ["# Identities drawn inside the SCR model: bias and coverage of D", "", f"`{res['command']}`", "",
             "id_coverage.py's surveys; `latent`: lynxid.fit_density_imputed(..., sampler=\"latent\") with the pair "
             f"evidence read as `{res['pair_lr']}` (benchmarks/latent_identity.py, module doc); beside it id_coverage.py's "
             "cached rows of the same surveys: truth IDs, hard calls and `imputed` (the independent sampler). The pair "
             "evidence: emulated levels, measured on the bank's pairs of photos called new; pipeline, measured on the "
             "other pipeline surveys' unit pairs (leave one survey out; `--pair-lr bank`: the simulated-lynx bank's).", "",
             "| accuracy | IDs | surveys | rel. bias of D (MC SE) | 95 % coverage (SE) | mean CI width / D | animals "
             "| draws' sigma / truth fit's (sampler's own) |", "|---|---|---|---|---|---|---|---|"]
    for label, r in res["levels"].items():
        for way, s in r["summary"].items():
            sig = (f"{r['sigma_ratio']:.2f} ({r['sampler_sigma_ratio']:.2f})" if way == "latent" and r.get("sigma_ratio")
                   else "")
            lines.append(_line(label, way, s, sig))
    lines += ["", "What a pair probability says, measured on each bank's pairs of photos called new (log likelihood "
              "ratio of same vs different animal), against odds(p) / odds(base rate):", "",
              "| accuracy | p_same from | to | same pairs | different pairs | log LR measured | read from the base rate |",
              "|---|---|---|---|---|---|---|"]
    for label, r in res["levels"].items():
        if "pair_lr" not in r:
            continue
        lines += [f"| {label} | {b['p_from']:.4f} | {b['p_to']:.4f} | {b['same']} | {b['different']} | "
                  f"{b['measured']:+.2f} | {b['base_rate_reading']:+.2f} |" for b in r["pair_lr"]]
        lines.append(f"| {label} | map used | | | | {r['pair_evidence']} | |")
    lines += ["", "sigma: the geometric mean over surveys of the draws' fitted sigma (geometric mean over draws) "
              "divided by the truth IDs' fitted sigma; in brackets the same of the sampler's own sigma (its per-day "
              "Poisson model's, at each kept draw).", "", machine_line(res), ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--surveys", type=int, default=30)
    ap.add_argument("--imputations", type=int, default=20)
    ap.add_argument("--levels", nargs="+", default=["high", "low"], choices=["high", "low"])
    ap.add_argument("--pipeline", type=int, default=0, help="id_coverage.py's image-pipeline surveys 1..N")
    ap.add_argument("--pair-lr", choices=["measured", "base-rate", "bank"], default="measured",
                    help="the pair evidence: measured (default), the base-rate reading, or (pipeline only) the "
                         "simulated-lynx bank's map")
    ap.add_argument("--report", action="store_true", help="write results/latent_identity.{md,json}")
    args = ap.parse_args(argv)
    res = {"command": "nice .venv/bin/python benchmarks/latent_identity.py " + " ".join(sys.argv[1:]),
           "machine": machine(), "load": load_snapshot(), "pair_lr": args.pair_lr, "levels": {}}
    with threadpool_limits(1):
        for level in args.levels if args.surveys else []:
            rows, b = level_rows(level, args.surveys, args.imputations, args.pair_lr)
            ratio = [r["latent"]["sigma_ratio"] for r in rows if "latent" in r]
            own = [r["latent"]["sampler_sigma_ratio"] for r in rows if "latent" in r]
            res["levels"][level] = {"summary": summarise(rows, ("truth", "hard", "imputed", "latent")),
                                    "pair_lr": pair_lr_check(b["bank"]), "pair_evidence": repr(b["pair_evidence"]),
                                    "sigma_ratio": float(np.exp(np.mean(np.log(ratio)))) if ratio else None,
                                    "sampler_sigma_ratio": float(np.exp(np.mean(np.log(own)))) if own else None,
                                    "rows": rows}
        if args.pipeline:
            rows = pipeline_rows(args.pipeline, args.imputations, args.pair_lr)
            res["levels"]["pipeline"] = {"summary": summarise(rows, ("truth", "hard", "imputed", "latent")),
                                         "rows": rows}
    if args.report:
        write_results("latent_identity", res, report(res))
    else:
        print(report(res))


if __name__ == "__main__":
    main()
