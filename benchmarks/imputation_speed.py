"""How long the density with identification error included takes: K draws of the demo
survey's identities, a capture history and a density fit each, serial and in processes.

Rerun (from the repository root):

    .venv/bin/python benchmarks/imputation_speed.py            # makes the demo survey once (~2 min)
    .venv/bin/python benchmarks/imputation_speed.py --draws 50 --jobs 1 2 --samplers independent latent

Writes benchmarks/results/imputation_speed.json and .md. Target: 50 draws on the demo survey
in under a minute on 2 cores. Cases run one after another in this process, so compare them
within one run (the load at the start is recorded). ``latent``: identities drawn inside the
SCR model (lynxid.latent_identity; serial, then the fits in processes), with the pair evidence
of the simulated-lynx bank (benchmarks/latent_identity.py).
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from lynxid import Catalogue, fit_density_imputed, run_demo, storage  # noqa: E402
from lynxid.density_demo import habitat_mask  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "benchmarks" / "_work" / "imputation_speed"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--jobs", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--samplers", nargs="*", default=["independent"], choices=["independent", "latent"])
    ap.add_argument("--demo", type=Path, default=WORK / "demo", help="a run_demo output folder (made if missing)")
    a = ap.parse_args(argv)
    if not (a.demo / "identified" / "posterior.parquet").exists():
        run_demo(a.demo, quiet=True, progress=False, imputations=2)
    meta = json.loads((a.demo / "survey" / "survey.json").read_text())
    mask = habitat_mask(meta["habitat"])
    out = {"measured": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "load_at_start": os.getloadavg(),
           "draws": a.draws, "survey": str(a.demo), "cases": []}
    for sampler in a.samplers:
        kw = {"sampler": sampler}
        if sampler == "latent":
            from id_coverage import level_bank
            from latent_identity import bank_evidence
            kw |= {"pair_evidence": bank_evidence(level_bank("high")[0], "measured"),
                   "catalogue_size": len(Catalogue.load(a.demo / "catalogue").individuals)}
        for jobs in a.jobs:
            t = time.perf_counter()
            r = fit_density_imputed(a.demo / "identified", a.demo / "survey" / "stations.csv", a.draws, detectfn="HN",
                                    mask=mask, occasion_length=5, unknown_stations="exclude", n_jobs=jobs,
                                    progress=False, **kw)
            sec = time.perf_counter() - t
            e = r.estimates.iloc[0]
            out["cases"].append({"sampler": sampler, "jobs": jobs, "seconds": round(sec, 2),
                                 "draws_fitted": int(e["draws"]), "estimate": round(float(e["estimate"]), 4)})
            print(f"{a.draws} draws, {sampler}, {jobs} process(es): {sec:.1f} s", flush=True)
    storage.write_json(RESULTS / "imputation_speed.json", out)
    lines = ["# Density with identification error: time", "",
             f"Measured {out['measured']}, {out['cpus']} CPUs, load average at start "
             f"{', '.join(f'{v:.1f}' for v in out['load_at_start'])}. Rerun: "
             f"`.venv/bin/python benchmarks/imputation_speed.py --draws {a.draws} --samplers {' '.join(a.samplers)}`. "
             "The demo survey (12 lynx, "
             "40 days, 5-day occasions); each draw: a capture history and an HN fit on the habitat mask.", "",
             "| sampler | processes | draws | seconds | draws fitted |", "|---|---|---|---|---|"]
    lines += [f"| {c['sampler']} | {c['jobs']} | {a.draws} | {c['seconds']} | {c['draws_fitted']} |"
              for c in out["cases"]]
    storage.write_text(RESULTS / "imputation_speed.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
