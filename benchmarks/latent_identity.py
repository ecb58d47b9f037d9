"""Pilot: identities drawn jointly with the SCR model (a latent-identity Gibbs sampler).

Why: ``lynxid.IdentitySampler`` draws each unit's identity from its calibrated probabilities
and then groups the units drawn new; it never asks whether an animal's captures are near each
other. At nyala's error rates its draws merge animals that live far apart, sigma grows 15-fold
and the imputed D is 44 % low with 0.55 coverage (results/id_coverage.md, "Inside the draws"
in README.md). This pilot tests, on the same emulated surveys, whether drawing identities
*inside* the SCR model fixes that before any of it goes into lynxid.

The model (all of it stated; one survey session):

* Animals: the catalogue's animals, each present with probability ``phi``, and a Poisson
  number of animals not in the catalogue with mean ``Lambda``; activity centres uniform on
  the mask (integrated out per animal, on the mask's cells).
* Detections: each unit (an event) is one detection at its station; counts per station are
  Poisson with hazard ``lam0 * exp(-d^2 / 2 sigma^2)`` per day of effort.
* Identity evidence: a unit's calibrated posterior ``q`` (known and unknown weighed equally
  when it was calibrated, ``reported``) read as a likelihood: catalogue animal ``a`` against
  "new" is ``(q_a / q_new) * C`` with C the catalogue's size (its animals share the
  calibration's prior); catalogue animals outside the unit's shortlist share what is left of
  ``q``. Two units in one animal multiply in the pair's likelihood ratio; ``--pair-lr
  measured``: as measured on the bank's pairs of photos called new (same animal or not,
  logistic in logit(p_same) with the two kinds weighed equally), ``base-rate``: as
  ``IdentitySampler`` reads it, odds(p) / odds(the calibrator's base rate). Cannot-link
  rules and reviewed units as ``IdentitySampler``.
* Sampling: Gibbs over units (each to a present animal, an absent catalogue animal, or a
  fresh one), random-walk Metropolis for (lam0, sigma), Gibbs for Lambda (flat prior) and phi
  (uniform, on a grid); started from one ``IdentitySampler`` draw, ``--burn`` sweeps
  discarded, then every ``--thin``-th sweep kept. Each kept draw is fitted with lynxid's SCR
  engine like ``fit_density_imputed``'s and combined by Rubin's rules.

Rerun (from the repository root; rows are cached in benchmarks/_work/latent_identity_pilot/):

    nice .venv/bin/python benchmarks/latent_identity_pilot.py --surveys 50 --imputations 20 --report
    nice .venv/bin/python benchmarks/latent_identity_pilot.py --surveys 12 --pair-lr base-rate   # ablation

The surveys beside it (truth IDs, hard calls, ``IdentitySampler``) are read from
id_coverage.py's cache: run that first for at least as many surveys.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import WORK, load_snapshot, machine, machine_line, write_results  # noqa: E402
from id_coverage import (CACHE as COVERAGE_CACHE, DESIGN, cached_rows, design_tag, emulate_identification,  # noqa: E402
                         fit_scr, keys, level_bank, resumable, simulate_survey, summarise, survey_mask)

import lynxid  # noqa: E402
from lynxid.density_imputation import rubin  # noqa: E402
from lynxid.imputation import DRAWN_NEW_PREFIX  # noqa: E402
from lynxid.posterior import NEW_ANSWER  # noqa: E402
from lynxid.reported import logit  # noqa: E402
from lynxid.scr_data import from_capture_history  # noqa: E402

CACHE = WORK / "latent_identity_pilot"
PILOT = "latent-gibbs-1"      # the pilot's version: cached rows of another are recomputed


def lme(v: np.ndarray) -> float:
    """log of the mean of exp(v) (an animal's likelihood averaged over the mask's cells)."""
    return float(logsumexp(v) - np.log(len(v)))


def pair_lr_map(bank: dict) -> tuple[float, float]:
    """log LR of a pair = a + b * logit(p_same), fitted on the bank's pairs (same / different
    animal) weighed equally: what a pair probability says on the pairs it is used on."""
    x = np.r_[bank["same"], bank["diff"]]
    y = np.r_[np.ones(len(bank["same"])), np.zeros(len(bank["diff"]))]
    w = np.where(y == 1, 0.5 / len(bank["same"]), 0.5 / len(bank["diff"])) * len(y)
    f = LogisticRegression(C=1e4).fit(logit(x)[:, None], y, sample_weight=w)
    return float(f.intercept_[0]), float(f.coef_[0, 0])


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


class LatentIdentityGibbs:
    """The pilot's sampler (module doc), on a fitted ``IdentitySampler`` ``S`` (its units,
    posteriors, pairs and rules) and the survey's design."""

    def __init__(self, S, det, stations, mask, catalogue, seed: int, lr_map=None, base_rate=None,
                 catalogue_size=None, occasion_length=DESIGN["occasion_length"]):
        self.S, self.n = S, len(S.units_.ids)
        self.catalogue = list(catalogue)
        self.is_cat = set(self.catalogue)
        if lr_map is None:
            self.pairs = S.pairs_
        else:                                   # S.pairs_ holds logit(p) - logit(base rate)
            a, b, lb = lr_map[0], lr_map[1], float(logit(base_rate))
            self.pairs = [{v: a + b * (x + lb) for v, x in d.items()} for d in S.pairs_]
        self._design(det, stations, mask, occasion_length)
        self._evidence(catalogue_size or len(self.catalogue))
        self.rng = np.random.default_rng([seed, 53])
        self.lam0, self.sigma, self.phi = 0.03, 3000.0, 0.8
        self._theta()

    def _design(self, det, stations, mask, occasion_length) -> None:
        """Each unit's station (a capture history with every unit its own animal), effort, mask."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ch = lynxid.capture_history(det.assign(individual_id=det["unit_id"].astype(str)), stations,
                                        occasion_length=occasion_length)
        s = from_capture_history(ch).sessions[0]
        pos = {u: k for k, u in enumerate(self.S.units_.ids)}
        self.trap = np.full(self.n, -1)
        for a, j in zip(s.animal, s.trap):
            self.trap[pos[str(s.animals[a])]] = int(j)
        self.effort = np.asarray(s.usage, float).sum(1)
        self.d2 = ((mask.xy[:, None, :] - np.asarray(s.xy, float)[None]) ** 2).sum(-1)

    def _evidence(self, C: int) -> None:
        """log likelihood of each unit's record: per catalogue animal (``ev``; ``rest`` for
        those outside its shortlist) and for an animal not in the catalogue (``ev_new``)."""
        S = self.S
        self.ev, self.rest, self.ev_new = [], np.full(self.n, -np.inf), np.full(self.n, -np.inf)
        for u in range(self.n):
            ans, q = S.answers_[u], S.probs_[u]
            if ans is None:
                self.ev.append({})
                continue
            qn = float(q[ans == NEW_ANSWER].sum())
            listed = [(a, float(p)) for a, p in zip(ans, q) if a != NEW_ANSWER]
            self.ev.append({a: np.log(p * C) for a, p in listed if p > 0})
            left = max(1e-6, 1 - qn - sum(p for _, p in listed)) / max(1, C - len(listed))
            self.rest[u] = np.log(left * C)
            self.ev_new[u] = np.log(qn) if qn > 0 else -np.inf

    def _theta(self) -> None:
        self.L = np.log(self.lam0) - self.d2 / (2 * self.sigma ** 2)        # cells x stations: log hazard per day
        self.b = -(np.exp(self.L) * self.effort[None]).sum(1)                  # log P(never detected | centre)
        self.p_dot = 1 - float(np.mean(np.exp(self.b)))
        self.absent_or_missed = np.log(1 - self.phi + self.phi * np.exp(lme(self.b)))

    def _vec(self, members) -> np.ndarray:
        return self.b + sum((self.L[:, self.trap[u]] for u in members if self.trap[u] >= 0), np.zeros_like(self.b))

    def loglik(self, groups: dict, lam: float) -> float:
        """log P(the capture histories | lam0, sigma, phi, Lambda), identities given."""
        t = sum(lme(self._vec(m)) + (np.log(self.phi) if k in self.is_cat else np.log(lam)) for k, m in groups.items())
        undetected = len(self.catalogue) - sum(k in self.is_cat for k in groups)
        return t + undetected * self.absent_or_missed - lam * self.p_dot

    def _options(self, u: int, Lu, groups: dict, vecs: dict, lam: float) -> tuple[list, np.ndarray]:
        """Where unit ``u`` (its log hazard per cell ``Lu``) may go and the log weight of each
        (None: a fresh animal)."""
        opts, lw = [], []
        for k, mem in groups.items():
            e = self.ev[u].get(k, self.rest[u]) if k in self.is_cat else self.ev_new[u]
            if np.isfinite(e) and not self.S.units_.conflict(u, mem):
                lr = sum(self.pairs[u][v] for v in mem if v in self.pairs[u])
                opts.append(k)
                lw.append(e + lme(vecs[k] + Lu) - lme(vecs[k]) + lr)
        first = lme(self.b + Lu)                     # a first capture of an animal not seen yet
        absent = np.log(self.phi) + first - self.absent_or_missed
        for k in self.catalogue:
            if k not in groups:
                opts.append(k)
                lw.append(self.ev[u].get(k, self.rest[u]) + absent)
        if np.isfinite(self.ev_new[u]):
            opts.append(None)
            lw.append(self.ev_new[u] + np.log(lam) + first)
        return opts, np.array(lw)

    def _sweep(self, label: np.ndarray, groups: dict, lam: float) -> None:
        vecs = {k: self._vec(m) for k, m in groups.items()}
        for u in self.rng.permutation(self.n):
            if self.S.unit_fixed_[u] is not None or self.S.answers_[u] is None:
                continue
            Lu = self.L[:, self.trap[u]] if self.trap[u] >= 0 else 0.0
            old = label[u]
            groups[old].remove(u)
            if groups[old]:
                vecs[old] = vecs[old] - Lu
            else:
                del groups[old], vecs[old]
            opts, lw = self._options(u, Lu, groups, vecs, lam)
            w = np.exp(lw - lw.max())
            k = opts[self.rng.choice(len(w), p=w / w.sum())]
            if k is None:
                k = next(f"{DRAWN_NEW_PREFIX}{i:03d}" for i in range(1, self.n + 2)
                         if f"{DRAWN_NEW_PREFIX}{i:03d}" not in groups)
            label[u] = k
            groups.setdefault(k, [])
            vecs[k] = vecs[k] + Lu if groups[k] else self.b + Lu
            groups[k].append(u)

    def _parameters(self, groups: dict, lam: float) -> float:
        """lam0 and sigma (3 Metropolis steps), then Lambda and phi given them."""
        cur = self.loglik(groups, lam)
        for _ in range(3):
            old = (self.lam0, self.sigma)
            self.lam0 *= np.exp(0.15 * self.rng.standard_normal())
            self.sigma *= np.exp(0.1 * self.rng.standard_normal())
            self._theta()
            new = self.loglik(groups, lam)
            if np.log(self.rng.random()) < new - cur:
                cur = new
            else:
                self.lam0, self.sigma = old
                self._theta()
        lam = self.rng.gamma(sum(k not in self.is_cat for k in groups) + 1, 1 / self.p_dot)
        seen = sum(k in self.is_cat for k in groups)
        grid = np.linspace(0.01, 0.99, 99)
        lp = seen * np.log(grid) + (len(self.catalogue) - seen) * np.log(1 - grid + grid * np.exp(lme(self.b)))
        w = np.exp(lp - lp.max())
        self.phi = float(self.rng.choice(grid, p=w / w.sum()))
        self._theta()
        return lam

    def run(self, start: np.ndarray, draws: int, burn: int, thin: int) -> list:
        """``draws`` unit labellings (and the sampler's sigma), after ``burn`` sweeps."""
        label = np.array(start, object)
        groups: dict = {}
        for u in range(self.n):
            groups.setdefault(label[u], []).append(u)
        lam = max(1.0, sum(k not in self.is_cat for k in groups)) / max(self.p_dot, 1e-3)
        out = []
        for sweep in range(burn + draws * thin):
            self._sweep(label, groups, lam)
            lam = self._parameters(groups, lam)
            if sweep >= burn and (sweep - burn) % thin == thin - 1:
                out.append({"labels": label.copy(), "sigma": self.sigma})
        return out


def run_survey(level: str, seed: int, bank: dict, K: int, args, lr_map) -> dict:
    """One emulated survey (id_coverage's, same seed): the pilot's draws fitted and combined
    (``lr_map``: :func:`pair_lr_map` of the bank, used with ``--pair-lr measured``)."""
    t0 = time.perf_counter()
    sv = simulate_survey(seed)
    mask = survey_mask(sv)
    res = emulate_identification(sv, bank, np.random.default_rng([seed, 41]))
    det = res.detections
    S = lynxid.IdentitySampler(seed=seed).fit(det, res.posterior, res.unit_pairs)
    G = LatentIdentityGibbs(S, det, sv["stations"], mask, sv["catalogue"], seed,
                            lr_map=lr_map if args.pair_lr == "measured" else None,
                            base_rate=bank["base_rate"])
    start = pd.Series(S.draw_one(np.random.default_rng(seed))).groupby(S.units_.of_det).first()
    kept = G.run(start.reindex(range(G.n)).to_numpy(object), K, args.burn, args.thin)
    D, SE, sig, animals = [], [], [], []
    for h in kept:
        try:
            f = fit_scr(det.assign(individual_id=h["labels"][S.units_.of_det]), sv["stations"], mask)
        except ValueError:
            continue
        e = f.estimates_dict()
        D.append(e["D_100km2"]["estimate"]), SE.append(e["D_100km2"]["SE"]), sig.append(e["sigma"]["estimate"])
        animals.append(int(f.n))
    D, SE = np.array(D), np.array(SE)
    r = rubin(np.log(D), np.log1p((SE / D) ** 2))
    truth = fit_scr(det.assign(individual_id=det["truth"]), sv["stations"], mask).estimates_dict()
    return {"level": level, "seed": seed, "K": K, "D_true": sv["D_100km2"], "draws_fitted": len(D),
            "sigma_truth_km": float(truth["sigma"]["estimate"] / 1000),
            "latent": {k: float(r[k]) for k in ("estimate", "lcl", "ucl", "lcl_ids_certain", "ucl_ids_certain",
                                                "share_identification")} | {"animals": float(np.mean(animals))},
            "sigma_draws_km": float(np.exp(np.mean(np.log(sig))) / 1000), "seconds": round(time.perf_counter() - t0, 2)}


def level_rows(level: str, bank: dict, lr_map, n: int, K: int, args) -> tuple[list, list]:
    """The pilot's rows for surveys 0..n-1 and id_coverage's cached rows of the same surveys
    (truth, hard calls, IdentitySampler's imputation), where it has them."""
    tag = f"{PILOT}|{args.pair_lr}|{args.burn}|{args.thin}"
    rows = resumable(CACHE / f"{level}.jsonl", [(f"{bank['tag']}|{s}|{K}|{design_tag()}|{tag}", s) for s in range(n)],
                     lambda s: run_survey(level, s, bank, K, args, lr_map), f"pilot {level} survey")
    done = cached_rows(COVERAGE_CACHE / f"emulated_{level}.jsonl")
    return rows, [done[k] for k, _ in keys(bank, n, K) if k in done]


def report(res: dict) -> str:
    lines = ["# Pilot: identities drawn jointly with the SCR model", "",
             f"`{res['command']}`", "",
             "On id_coverage.py's emulated surveys (same seeds, banks and design), a latent-identity Gibbs sampler "
             "(benchmarks/latent_identity_pilot.py, module doc) draws the identities; each kept draw is fitted with "
             "lynxid's SCR engine and combined by Rubin's rules. Beside it, id_coverage.py's cached rows of the same "
             "surveys: truth IDs, hard calls and lynxid.IdentitySampler's imputation.", "",
             "| accuracy | IDs | surveys | rel. bias of D (MC SE) | 95 % coverage (SE) | mean CI width / D | animals | sigma / truth fit's |",
             "|---|---|---|---|---|---|---|---|"]
    for level, r in res["levels"].items():
        for way, s in r["summary"].items():
            sig = f"{r['sigma_ratio']:.2f}" if way == "latent" else ""
            lines.append(f"| {level} | {way} | {s['surveys']} | {100 * s['relative_bias']:+.1f} % ({100 * s['bias_mcse']:.1f}) "
                         f"| {s['coverage']:.2f} ({s['coverage_se']:.2f}) | {s['mean_relative_ci_width']:.2f} "
                         f"| {s['mean_animals']:.1f} | {sig} |")
    lines += ["", "What a pair probability says, measured on each bank's pairs of photos called new (log likelihood "
              "ratio of same vs different animal), against odds(p) / odds(base rate):", "",
              "| accuracy | p_same from | to | same pairs | different pairs | log LR measured | read from the base rate |",
              "|---|---|---|---|---|---|---|"]
    for level, r in res["levels"].items():
        lines += [f"| {level} | {b['p_from']:.4f} | {b['p_to']:.4f} | {b['same']} | {b['different']} | {b['measured']:+.2f} "
                  f"| {b['base_rate_reading']:+.2f} |" for b in r["pair_lr"]]
        lines.append(f"| {level} | fitted map | | | | {r['pair_lr_map'][0]:.2f} + {r['pair_lr_map'][1]:.2f} logit(p) | |")
    lines += ["", "sigma: the geometric mean over surveys of the draws' fitted sigma (geometric mean over draws) "
              "divided by the truth IDs' fitted sigma.", "", machine_line(res), ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--surveys", type=int, default=30)
    ap.add_argument("--imputations", type=int, default=20)
    ap.add_argument("--levels", nargs="+", default=["high", "low"], choices=["high", "low"])
    ap.add_argument("--burn", type=int, default=100)
    ap.add_argument("--thin", type=int, default=5)
    ap.add_argument("--pair-lr", choices=["measured", "base-rate"], default="measured")
    ap.add_argument("--report", action="store_true", help="write results/latent_identity_pilot.{md,json}")
    args = ap.parse_args(argv)
    res = {"command": "nice .venv/bin/python benchmarks/latent_identity_pilot.py " + " ".join(sys.argv[1:]),
           "machine": machine(), "load": load_snapshot(), "levels": {}}
    for level in args.levels:
        bank, _ = level_bank(level)
        lr_map = pair_lr_map(bank)
        rows, cov = level_rows(level, bank, lr_map, args.surveys, args.imputations, args)
        seeds = {r["seed"] for r in rows}
        both = [c | {"latent": p["latent"]} for c in cov for p in rows if p["seed"] == c["seed"] and c["seed"] in seeds]
        ratio = [p["sigma_draws_km"] / p["sigma_truth_km"] for p in rows]
        res["levels"][level] = {"summary": summarise(both, ("truth", "hard", "imputed", "latent")),
                                "pair_lr": pair_lr_check(bank), "pair_lr_map": lr_map,
                                "sigma_ratio": float(np.exp(np.mean(np.log(ratio)))), "rows": rows}
    if args.report:
        write_results("latent_identity_pilot", res, report(res))
    else:
        print(report(res))


if __name__ == "__main__":
    main()
