"""Benchmark: is lynxid's density estimate right, beyond agreeing with secr? Surveys simulated
straight from the model (lynxid.scr_simulate, no images), each fitted with fit_density.

Rerun (from the repository root; about 15 minutes on 2 cores for 200 surveys per scenario):

    .venv/bin/python benchmarks/density_simulation.py                 # writes results/density_simulation.{json,md}
    .venv/bin/python benchmarks/density_simulation.py --surveys 20    # a quick look (results/density_simulation_20.*)

Scenarios:

* ``lynx``: 48 camera stations (8 x 6 grid, 3 km apart; a station is one detector, whichever
  of its paired cameras took the photo), 75 daily occasions with realistic effort (stations
  set up and taken down over the first and last 10 days, half days at both ends, 5 % of
  station-days lost to failures), proximity detectors, hazard half-normal lambda0 = 0.025 per
  day, sigma = 2.5 km, D = 3 per 100 km^2, population in the detectors' box + 12.5 km; fitted
  with a 10 km buffer (4 sigma).
* ``count``: the shared secr reference count survey's design (8 x 6 grid 1 km apart, 30
  occasions, 15 % of detector-occasions unused), HHN lambda0 = 0.08, sigma = 900 m,
  D = 0.002 per ha (20 per 100 km^2), population in the box + 3.6 km; fitted with a 3.6 km
  buffer (secr's default 64-column mask spacing).

Reported for D, sigma and lambda0: relative bias of the estimate (with its Monte-Carlo SE),
relative RMSE and the coverage of the 95 % interval (with its binomial SE); and the share of
fits that converged, the mean number of animals detected and the mean fit time.
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
from _common import load_snapshot, machine, write_results  # noqa: E402

from lynxid.density import fit_density  # noqa: E402
from lynxid.scr_simulate import simulate_scr, trap_grid  # noqa: E402


def lynx_usage(rng, K=48, S=75):
    u = np.ones((K, S))
    start = rng.integers(0, 10, K)
    end = S - rng.integers(0, 10, K)
    for k in range(K):
        u[k, :start[k]] = 0
        u[k, end[k]:] = 0
        u[k, start[k]] = 0.5
        u[k, end[k] - 1] = 0.5
    u[rng.random((K, S)) < 0.05] = 0
    return u


SCENARIOS = {
    "lynx": dict(traps=lambda: trap_grid(8, 6, 3000), usage=lynx_usage, detector="proximity", detectfn="HHN",
                 par={"lambda0": 0.025, "sigma": 2500.0}, D=0.0003, region=12500, buffer=10000),
    "count": dict(traps=lambda: trap_grid(8, 6, 1000), usage=lambda rng: (rng.random((48, 30)) >= 0.15).astype(float),
                  detector="count", detectfn="HHN", par={"lambda0": 0.08, "sigma": 900.0}, D=0.002, region=3600,
                  buffer=3600),
}


def run(name, n_surveys):
    sc = SCENARIOS[name]
    traps = sc["traps"]()
    truth = dict(D=sc["D"], **sc["par"])
    rows = []
    for seed in range(n_surveys):
        rng = np.random.default_rng([seed, 7])
        usage = sc["usage"](rng)
        data, _ = simulate_scr(traps, usage, sc["D"], sc["detectfn"], sc["par"], sc["region"], sc["detector"],
                               seed=[seed, 11])
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = fit_density(data, sc["detectfn"], buffer=sc["buffer"])
            except ValueError as e:                        # e.g. no recaptures in a sparse survey
                rows.append(dict(seed=seed, n=data.n, failed=str(e)))
                continue
        est = fit.estimates.set_index("parameter")
        row = dict(seed=seed, n=data.n, seconds=time.perf_counter() - t0, converged=fit.convergence["converged"])
        for p in truth:
            row[p] = [est.loc[p].estimate, est.loc[p].lcl, est.loc[p].ucl]
        rows.append(row)
    return dict(scenario=name, settings={k: v for k, v in sc.items() if not callable(v)}, truth=truth,
                surveys=n_surveys, rows=rows, summary=summarise(rows, truth))


def summarise(rows, truth):
    ok = [r for r in rows if "failed" not in r and r["converged"]]
    out = dict(fitted=len(ok), failed=len(rows) - len(ok), mean_animals=float(np.mean([r["n"] for r in rows])),
               mean_seconds=float(np.mean([r["seconds"] for r in ok])) if ok else None)
    for p, t in truth.items():
        est = np.array([r[p][0] for r in ok])
        cover = np.array([r[p][1] < t < r[p][2] for r in ok])
        rel = est / t - 1
        out[p] = dict(relative_bias=float(rel.mean()), bias_mcse=float(rel.std(ddof=1) / np.sqrt(len(rel))),
                      relative_rmse=float(np.sqrt((rel ** 2).mean())), coverage=float(cover.mean()),
                      coverage_se=float(np.sqrt(cover.mean() * (1 - cover.mean()) / len(cover))))
    return out


def markdown(results, info, cmd):
    lines = ["# Density estimates on simulated surveys", "", f"`{cmd}`", "",
             "| scenario | parameter | rel. bias (MC SE) | rel. RMSE | 95 % coverage (SE) | fits | animals | s/fit |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r["summary"]
        for p in r["truth"]:
            q = s[p]
            lines.append(f"| {r['scenario']} | {p} | {100 * q['relative_bias']:+.1f} % ({100 * q['bias_mcse']:.1f}) | "
                         f"{100 * q['relative_rmse']:.1f} % | {q['coverage']:.3f} ({q['coverage_se']:.3f}) | "
                         f"{s['fitted']}/{r['surveys']} | {s['mean_animals']:.1f} | {s['mean_seconds']:.2f} |")
    lines += ["", "Fits that raised (no recaptures) or did not converge are counted in the fits column and left out of "
              "the figures.", "", f"Machine: {info['machine']['processor']}, {info['machine']['cpu_count']} cores; "
              f"load before: {info['load']}."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--surveys", type=int, default=200)
    ap.add_argument("--scenario", choices=list(SCENARIOS), action="append")
    a = ap.parse_args()
    info = {"machine": machine(), "load": load_snapshot(0.5)}
    with threadpool_limits(1):
        results = [run(name, a.surveys) for name in (a.scenario or list(SCENARIOS))]
    name = "density_simulation" if a.surveys == 200 and not a.scenario else f"density_simulation_{a.surveys}"
    cmd = "python benchmarks/density_simulation.py" + ("" if a.surveys == 200 else f" --surveys {a.surveys}")
    write_results(name, dict(info, results=results), markdown(results, info, cmd))


if __name__ == "__main__":
    main()
