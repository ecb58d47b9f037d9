"""Benchmark: lynxid's density fit against secr 5.5.0 on the shared reference fits, and a
large survey.

Rerun (from the repository root; about a minute on 2 cores):

    .venv/bin/python benchmarks/density_secr.py            # writes benchmarks/results/density_secr.{json,md}

For every row of every ``secr_fits.csv`` in ../shared/data/secr-reference (or
$LYNXID_SHARED_DATA/secr-reference): lynxid's estimates, SEs and logLik next to secr's, and
the wall time of ``fit_density`` (median of 3, BLAS limited to one thread) next to secr's
recorded ``seconds`` (secr.fit on one thread on a 2-core machine). Then the size the issue
asks to fit "in seconds": 100 detectors x 90 occasions with a 10,000-point mask (simulated,
proximity HN and count HHN).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, load_snapshot, machine, write_results  # noqa: E402

from lynxid.density import fit_density  # noqa: E402
from lynxid.mask import make_mask, read_mask  # noqa: E402
from lynxid.scr_data import read_secr_tables  # noqa: E402
from lynxid.scr_simulate import simulate_scr, trap_grid  # noqa: E402

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", ROOT.parent / "shared" / "data"))
REF = SHARED / "secr-reference"


def timed(fn, repeats=3):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def reference_rows():
    rows = []
    for f in sorted(REF.glob("*/secr_fits.csv")):
        folder = f.parent
        info = dict(line.split(":", 1) for line in (folder / "README.txt").read_text().splitlines() if ":" in line)
        det = info["detector"].strip()
        data = read_secr_tables(folder / "traps.csv", folder / "captures.csv", det)
        mask = read_mask(folder / "mask.csv")
        ref = pd.read_csv(f)
        for fn in ref.detectfn.drop_duplicates():
            r = ref[ref.detectfn == fn].set_index("parameter")
            fit, secs = timed(lambda: fit_density(data, fn, mask=mask))
            est = fit.estimates.set_index("parameter")
            row = dict(data=folder.name, detectfn=fn, lynxid_seconds=round(secs, 3),
                       secr_seconds=float(r.loc["seconds", "estimate"]),
                       logLik=fit.logLik, secr_logLik=float(r.loc["logLik", "estimate"]))
            for p in ("D", "g0", "lambda0", "sigma", "z"):
                if p in r.index:
                    row[p] = [est.loc[p].estimate, est.loc[p].SE, float(r.loc[p, "estimate"]), float(r.loc[p, "SE"])]
            rows.append(row)
    return rows


def large_rows():
    traps = trap_grid(10, 10, 3000)
    rng = np.random.default_rng(1)
    usage = (rng.random((100, 90)) > 0.1).astype(float)
    mask = make_mask(traps, 10000, nx=100)
    rows = []
    for det, fn, par in [("proximity", "HN", {"g0": 0.03, "sigma": 2500}),
                         ("count", "HHN", {"lambda0": 0.03, "sigma": 2500})]:
        data, truth = simulate_scr(traps, usage, 0.0003, fn, par, 12000, det, seed=2)
        fit, secs = timed(lambda: fit_density(data, fn, mask=mask))
        est = fit.estimates.set_index("parameter")
        rows.append(dict(case=f"100 detectors x 90 occasions, {len(mask)}-point mask, {det} {fn}", animals=data.n,
                         lynxid_seconds=round(secs, 3), D=est.loc["D"].estimate, D_true=0.0003,
                         converged=fit.convergence["converged"]))
    return rows


def markdown(ref_rows, big, info):
    lines = ["# lynxid density fit vs secr 5.5.0", "",
             "Estimate (SE), lynxid / secr; times: lynxid `fit_density` median of 3 with BLAS on one thread, secr's "
             "recorded `secr.fit` time (one thread, 2-core machine).", "",
             "| data | detectfn | D (per ha) | g0 / lambda0 | sigma (m) | z | logLik | lynxid s | secr s |",
             "|---|---|---|---|---|---|---|---|---|"]

    def cell(v):
        return "" if v is None else f"{v[0]:.5g} ({v[1]:.3g}) / {v[2]:.5g} ({v[3]:.3g})"
    for r in ref_rows:
        first = r.get("g0") or r.get("lambda0")
        lines.append(f"| {r['data']} | {r['detectfn']} | {cell(r['D'])} | {cell(first)} | {cell(r['sigma'])} | "
                     f"{cell(r.get('z'))} | {r['logLik']:.6f} / {r['secr_logLik']:.6f} | {r['lynxid_seconds']:.2f} | "
                     f"{r['secr_seconds']:.2f} |")
    lines += ["", "| large survey | animals | lynxid s | D / true |", "|---|---|---|---|"]
    for r in big:
        lines.append(f"| {r['case']} | {r['animals']} | {r['lynxid_seconds']:.2f} | {r['D']:.3g} / {r['D_true']:.3g} |")
    lines += ["", f"Machine: {info['machine']['processor']}, {info['machine']['cpu_count']} cores; load before: "
              f"{info['load']}."]
    return "\n".join(lines) + "\n"


def main():
    info = {"machine": machine(), "load": load_snapshot(0.5)}
    with threadpool_limits(1):
        ref_rows = reference_rows() if REF.is_dir() else []
        big = large_rows()
    data = dict(info, reference=ref_rows, large=big)
    write_results("density_secr", data, markdown(ref_rows, big, info))


if __name__ == "__main__":
    main()
