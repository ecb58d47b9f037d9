"""Density with identification error included: multiple imputation of identities.

Each of K draws of the survey's identities (``imputation.IdentitySampler``) gives a capture
history and a density fit (``density.fit_density``, on one mask for all draws, so that the
draws estimate the same thing); Rubin's rules combine them on the log scale, where secr
states its intervals (``lcl = D / C``, ``ucl = D * C``):

* ``Q = mean(log D_k)``, within-draw variance ``W = mean(u_k)`` with
  ``u_k = log(1 + (SE_k / D_k)^2)``, between-draw variance ``B = var(log D_k)``;
* total variance ``T = W + (1 + 1/K) B``, degrees of freedom
  ``nu = (K - 1) (1 + W / ((1 + 1/K) B))^2`` (Rubin 1987);
* D = exp(Q) with the interval ``exp(Q -+ t_nu sqrt(T))``; the interval if identities were
  certain is ``exp(Q -+ z sqrt(W))``; the share of the variance due to identification is
  ``(1 + 1/K) B / T``.

Beside it, the fit to the hard calls (every name taken as certain), and the number of animals
detected in each draw. Draws are fitted in parallel processes (``n_jobs``).

What the independent sampler cannot mend: each draw names every unit from its own
probabilities, so a draw carries as many wrong names as the calls are wrong, and each wrong
known name merges two animals, which an SCR fit reads as one wide-ranging animal (sigma up,
D down) while the splits push D up. Where most calls are right the two roughly cancel; where
many are wrong the merges win, D comes out low and its interval can miss the truth
(benchmarks/README.md, "Is the density interval honest" and "Inside the draws"). So the
result says how many of the calls their own probabilities expect to be wrong, and cautions
(:class:`IdentificationErrorWarning`, and in :meth:`ImputedDensity.summary`) above
:data:`WRONG_CALLS_CAUTION`: review first. The mend is to draw the identities inside the SCR
model, where a merge of two animals that live apart is improbable: ``sampler="latent"``
(``latent_identity``), which needs the pair evidence measured by ``lynxid evaluate`` on
labelled photos (``pair_evidence``), and is the default when it is given
(benchmarks/README.md, "Identities drawn inside the SCR model").
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .density_result import PER_100KM2

__all__ = ["ImputedDensity", "fit_density_imputed", "rubin", "expected_wrong_calls", "IdentificationErrorWarning",
           "DEFAULT_IMPUTATIONS", "WRONG_CALLS_CAUTION"]

DEFAULT_IMPUTATIONS = 50
_LEVEL = 0.95
# expected share of wrong calls above which the imputed D is not to be trusted as it is: at a
# third wrong the simulated draws were right only by cancelling errors, and with more wrong
# (nyala's error rates) they were biased low and their interval missed the truth (module doc)
WRONG_CALLS_CAUTION = 0.2


class IdentificationErrorWarning(UserWarning):
    """The calls are too uncertain for the imputed density to be taken as it is (module doc)."""


def expected_wrong_calls(det: pd.DataFrame) -> float | None:
    """The share of the detections' calls that their own calibrated probabilities expect to be
    wrong: the mean of 1 - ``probability``, a reviewed detection counting as right; None
    where no detection has a probability."""
    if "probability" not in det:
        return None
    p = pd.to_numeric(det["probability"], errors="coerce").to_numpy(float)
    if "reviewed_by" in det:
        p = np.where(det["reviewed_by"].notna().to_numpy(), 1.0, p)
    p = p[~np.isnan(p)]
    return float(np.mean(1.0 - p)) if len(p) else None


def wrong_calls_text(wrong: float, sampler: str = "independent") -> str:
    """What the summary and the warning say of ``expected_wrong_calls``: the share, and above
    :data:`WRONG_CALLS_CAUTION` the caution (module doc) -- unless the identities were drawn
    inside the SCR model (``sampler="latent"``), which was measured to hold at such rates."""
    text = f"the calls' own probabilities expect {100 * wrong:.0f} % of them to be wrong"
    if wrong <= WRONG_CALLS_CAUTION:
        return text
    if sampler == "latent":
        text += ("; the identities were drawn inside the SCR model, so draws that merge animals living apart are "
                 "improbable (benchmarks/README.md, 'Identities drawn inside the SCR model')")
    else:
        text += (f": above {100 * WRONG_CALLS_CAUTION:.0f} %, draws merge animals and D is not to be trusted as it "
                 "is (sigma too wide; benchmarks/README.md, 'Inside the draws'): review the units at the top of the "
                 "review order first")
    return text


def rubin(q: np.ndarray, u: np.ndarray, level: float = _LEVEL) -> dict:
    """Rubin's rules for estimates ``q`` (log D of each draw) with variances ``u``: the
    combined log estimate, ``W``, ``B``, ``T``, ``df``, the share of variance due to the
    draws, and the intervals on the natural scale (module doc)."""
    q, u = np.asarray(q, float), np.asarray(u, float)
    k = len(q)
    if k == 0:
        raise ValueError("no draw could be fitted")
    Q, W = float(q.mean()), float(u.mean())
    B = float(q.var(ddof=1)) if k > 1 else 0.0
    extra = (1 + 1 / k) * B
    T = W + extra
    df = math.inf if extra <= 0 else (k - 1) * (1 + W / extra) ** 2
    t = stats.t.ppf(0.5 + level / 2, df) if math.isfinite(df) else stats.norm.ppf(0.5 + level / 2)
    z = stats.norm.ppf(0.5 + level / 2)
    return {"log_estimate": Q, "W": W, "B": B, "T": T, "df": df, "share_identification": extra / T if T > 0 else 0.0,
            "estimate": math.exp(Q), "SE": math.exp(Q) * math.sqrt(math.expm1(T)),
            "lcl": math.exp(Q - t * math.sqrt(T)), "ucl": math.exp(Q + t * math.sqrt(T)),
            "lcl_ids_certain": math.exp(Q - z * math.sqrt(W)), "ucl_ids_certain": math.exp(Q + z * math.sqrt(W)),
            "draws": k}


@dataclass
class ImputedDensity:
    """What :func:`fit_density_imputed` found. ``estimates``: per session, D (animals per
    100 km^2) with its total interval, the interval if identities were certain, the share of
    variance due to identification, Rubin's ``df`` and the draws combined; ``hard``: the fit
    to the hard calls per session (estimate, SE, lcl, ucl; None where it could not be
    fitted); ``draws``: per draw and session, D, SE, the animals detected, sigma (m), or the error;
    ``review``: the units ranked for review by how much confirming them is expected to
    cut the identification part of the variance (``review_priority``); ``settings``: what was fitted."""
    estimates: pd.DataFrame
    hard: dict
    draws: pd.DataFrame
    review: pd.DataFrame | None = None
    settings: dict = field(default_factory=dict)

    def write(self, out) -> dict:
        """``density_imputed.json`` (everything but the review order) and the review order
        (``review_priority.PRIORITY_FILE``) under the folder ``out``."""
        from pathlib import Path

        from . import storage
        from .review_priority import PRIORITY_FILE
        out = Path(out)
        files = {"json": str(storage.write_json(out / "density_imputed.json", self.to_dict()))}
        if self.review is not None:
            files["review_priority"] = str(storage.write_table(self.review, out / PRIORITY_FILE))
        return files

    def animals_detected(self) -> dict:
        """The distribution of the number of animals detected over the draws (all sessions)."""
        n = self.draws.groupby("draw")["animals"].sum() if len(self.draws) else pd.Series(dtype=float)
        if not len(n):
            return {}
        return {"mean": float(n.mean()), "min": int(n.min()), "median": float(n.median()), "max": int(n.max()),
                "p05": float(n.quantile(0.05)), "p95": float(n.quantile(0.95)),
                "counts": {int(k): int(v) for k, v in n.value_counts().sort_index().items()}}

    def to_dict(self) -> dict:
        return {"unit": "animals per 100 km2", "estimates": self.estimates.to_dict("records"), "hard_ids": self.hard,
                "animals_detected": self.animals_detected(), "draws": self.draws.to_dict("records"),
                "settings": self.settings}

    def summary(self) -> str:
        lines = []
        for r in self.estimates.itertuples():
            h = self.hard.get(r.session)
            lines.append(f"session {r.session}: D {r.estimate:.3g} per 100 km² (95 % CI {r.lcl:.3g}–{r.ucl:.3g}, "
                         f"identification error included; {r.lcl_ids_certain:.3g}–{r.ucl_ids_certain:.3g} if the "
                         f"identities were certain); {100 * r.share_identification:.0f} % of the variance from "
                         f"identification; {r.draws} draws")
            if h:
                lines.append(f"  hard calls only: D {h['estimate']:.3g} (95 % CI {h['lcl']:.3g}–{h['ucl']:.3g})")
        tr = pd.DataFrame(self.settings.get("sampler_trace") or [])
        if len(tr):
            lines.append(f"identities drawn inside the SCR model (latent-identity sampler): sigma "
                         f"{tr['sigma'].median():.0f} m, {tr['not_in_catalogue'].mean():.1f} animals not in the "
                         f"catalogue per draw and session (medians and means over the draws)")
        a = self.animals_detected()
        if a:
            lines.append(f"animals detected per draw: median {a['median']:g} (90 % {a['p05']:g}–{a['p95']:g}); "
                         f"hard calls: {self.settings.get('hard_animals', '?')}")
        wrong = self.settings.get("expected_wrong_calls")
        if wrong is not None:
            lines.append(wrong_calls_text(wrong, self.settings.get("sampler", "independent")))
        failed = self.draws["error"].notna().sum() if "error" in self.draws else 0
        if failed:
            lines.append(f"{failed} draw(s) could not be fitted (see draws' 'error'); combined over the rest")
        return "\n".join(lines)


# ---------------------------------------------------------------------- one draw
_JOB: dict = {}


def _init(job: dict) -> None:
    _JOB.clear()
    _JOB.update(job)


def _fit_draw(args) -> list[dict]:
    """Capture history and density fit of one draw's identities: one row per session."""
    from .capture import capture_history
    from .density import fit_density
    name, ids = args
    det = _JOB["detections"].copy()
    det["individual_id"] = ids
    det = det[pd.notna(det["individual_id"])]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ch = capture_history(det, _JOB["stations"], **_JOB["capture"])
            fit = fit_density(ch, _JOB["detectfn"], mask=_JOB["masks"], start=_JOB["start"], check_buffer=False)
            if _JOB["start"] is not None and on_plateau(fit, _JOB["sigma_max"]):
                # started where the likelihood is flat, the optimizer may never leave: the
                # start grid too, and the better of the two
                again = fit_density(ch, _JOB["detectfn"], mask=_JOB["masks"], check_buffer=False)
                fit = again if again.logLik > fit.logLik else fit
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        # one draw that cannot be fitted is recorded and left out of the combination, never
        # the end of the whole run
        return [{"draw": name, "session": None, "D": np.nan, "SE": np.nan, "animals": np.nan, "sigma": np.nan,
                 "error": f"{type(exc).__name__}: {exc}"}]
    out = []
    for s in fit.sessions:
        e = fit.estimates_dict(s["name"])
        est = e["D_100km2"]
        # sigma per draw: a draw that merges animals living apart shows it as a wide sigma
        out.append({"draw": name, "session": str(s["name"]), "D": float(est["estimate"]), "SE": float(est["SE"]),
                    "animals": int(s.get("n", 0)) if "n" in s else np.nan,
                    "sigma": float(e["sigma"]["estimate"]) if "sigma" in e else np.nan, "error": None})
    return out


def on_plateau(fit, sigma_max: float) -> bool:
    """Is the fit's sigma beyond the mask (``sigma_max``), where the likelihood no longer
    changes with it: a degenerate fit rather than an estimate?"""
    sigma = fit.detection_parameters().get("sigma")
    return sigma is not None and not sigma < sigma_max


def draw_start(hard_fit, masks: dict) -> tuple[dict | None, float]:
    """Every draw's start (near its optimum, it skips the start grid): the hard calls' fit --
    unless that sits on the plateau beyond the mask (few recaptures among many wrong calls),
    where a draw's optimizer would stay too (a draw's D then came out at half its own
    optimum's); and the sigma beyond which a fit counts as being there (the masks' largest
    diagonal)."""
    sigma_max = max(float(np.hypot(*np.ptp(np.asarray(m.xy, float), axis=0))) for m in masks.values())
    return (None if on_plateau(hard_fit, sigma_max) else hard_fit.detection_parameters()), sigma_max


def _fit_draws(draws: pd.DataFrame, job: dict, n_jobs: int, progress: bool) -> pd.DataFrame:
    from tqdm.auto import tqdm
    tasks = [(c, draws[c].to_numpy(object)) for c in draws.columns if c != "detection_id"]
    bar = tqdm(total=len(tasks), desc="density per draw", unit="draw", disable=not progress)
    rows = []
    import multiprocessing as mp
    if n_jobs <= 1 or len(tasks) < 4 or "fork" not in mp.get_all_start_methods():
        _init(job)
        for t in tasks:
            rows += _fit_draw(t)
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor
        # fork: a spawned worker re-runs the caller's script (and under R, R itself); the
        # workers only build tables and fit with numpy/scipy, never PyTorch's thread pools
        with ProcessPoolExecutor(n_jobs, mp.get_context("fork"), initializer=_init, initargs=(job,)) as ex:
            for r in ex.map(_fit_draw, tasks, chunksize=max(1, len(tasks) // (4 * n_jobs))):
                rows += r
                bar.update()
    bar.close()
    return pd.DataFrame(rows, columns=["draw", "session", "D", "SE", "animals", "sigma", "error"])


# ---------------------------------------------------------------------- the whole
def fit_density_imputed(results, stations, imputations: int = DEFAULT_IMPUTATIONS, *, detectfn: str = "HHN",
                        mask=None, buffer: float | None = None, spacing: float | None = None, seed: int = 0,
                        n_jobs: int | None = None, progress: bool = True, sampler: str | None = None,
                        pair_evidence=None, catalogue_size: int | None = None, **capture) -> ImputedDensity:
    """Density with identification error included (module doc).

    ``results``: an identification result (``IdentifyResult`` or its output folder, whose
    ``posterior.parquet`` and ``unit_pairs.parquet`` the draws come from); ``stations`` and
    ``capture``: as for ``capture.capture_history`` (e.g. ``occasion_length=5``), the same
    for every draw. ``mask`` / ``buffer`` / ``spacing``: as for ``density.fit_density``;
    with none, the mask is the one fit_density chooses for the hard calls, and every draw is
    fitted on it. ``imputations``: draws (K); ``n_jobs``: processes (default: the CPUs, at
    most 8; 1 fits in this process). ``sampler``: how identities are drawn, ``"latent"``
    (inside the SCR model, ``latent_identity``; the default when ``pair_evidence`` is given)
    or ``"independent"`` (``imputation.IdentitySampler``; the default without it).
    ``pair_evidence``: what the pair probabilities say (``pair_evidence.PairEvidence``, or the
    report ``lynxid evaluate --out`` wrote on labelled photos of the species); ``catalogue_size``:
    the catalogue's animals (default: from identify's summary)."""
    from .capture import capture_history
    from .density import fit_density
    from .imputation import IdentitySampler
    from .results import IdentifyResult
    res = results if isinstance(results, IdentifyResult) else IdentifyResult.read(results)
    if res.posterior is None:
        raise ValueError("these identification results have no posterior.parquet (written by an earlier lynxid): "
                         "rerun identify to draw identities from its probabilities")
    if int(imputations) < 2:
        raise ValueError(f"imputations must be at least 2 (Rubin's rules need a spread), not {imputations}")
    det = res.detections.reset_index(drop=True)
    capture = dict(capture)
    hard_ch = capture_history(det[det["individual_id"].notna()], stations, **capture)
    hard_fit = fit_density(hard_ch, detectfn, mask=mask, buffer=buffer, spacing=spacing)
    masks = {str(s["name"]): s["mask"] for s in hard_fit.sessions}
    hard = {}
    for s in hard_fit.sessions:
        e = hard_fit.estimates_dict(s["name"])["D_100km2"]
        hard[str(s["name"])] = {k: float(e[k]) for k in ("estimate", "SE", "lcl", "ucl")}
    from .stations import read_stations
    # read once: every draw's capture history uses the same station table
    stations = read_stations(stations, tz=capture.get("tz"), **(capture.pop("station_options", None) or {}))
    sampler = sampler or ("latent" if pair_evidence is not None else "independent")
    if sampler == "independent":
        draws = IdentitySampler(seed=seed).fit(det, res.posterior, res.unit_pairs).sample(int(imputations))
        trace = None
    elif sampler == "latent":
        draws, trace = _latent_draws(res, det, stations, masks, capture, hard_fit, int(imputations), seed,
                                     pair_evidence, catalogue_size, progress)
    else:
        raise ValueError(f"sampler must be 'latent' or 'independent', not {sampler!r}")
    start, sigma_max = draw_start(hard_fit, masks)
    job = {"detections": det, "stations": stations, "capture": capture, "detectfn": detectfn, "masks": masks,
           "start": start, "sigma_max": sigma_max}
    n_jobs = min(8, os.cpu_count() or 1) if n_jobs is None else int(n_jobs)
    fits = _fit_draws(draws, job, n_jobs, progress)
    ok = fits[fits["error"].isna()]
    if ok["draw"].nunique() < max(2, 0.5 * int(imputations)):
        errs = "; ".join(fits["error"].dropna().unique()[:3])
        raise ValueError(f"only {ok['draw'].nunique()} of {imputations} draws could be fitted ({errs})")
    rows = []
    for sess, g in ok.groupby("session", sort=False):
        r = rubin(np.log(g["D"]), np.log1p((g["SE"] / g["D"]) ** 2))
        rows.append({"session": sess, **{k: r[k] for k in ("estimate", "SE", "lcl", "ucl", "lcl_ids_certain",
                                                             "ucl_ids_certain", "share_identification", "df",
                                                             "draws", "T")}})
    review = _review(det, draws, ok, rows[0]["T"] if rows else 0.0, res)
    wrong = expected_wrong_calls(det)
    if wrong is not None and wrong > WRONG_CALLS_CAUTION and sampler == "independent":
        warnings.warn(wrong_calls_text(wrong), IdentificationErrorWarning, stacklevel=2)
    settings = {"imputations": int(imputations), "seed": seed, "detectfn": detectfn, "capture": capture,
                "sampler": sampler, "sampler_trace": trace,
                "hard_animals": int(sum(s["n"] for s in hard_fit.sessions)), "n_jobs": n_jobs,
                "per_100km2": PER_100KM2, "expected_wrong_calls": wrong}
    return ImputedDensity(pd.DataFrame(rows).drop(columns="T"), hard, fits, review, settings)


def _latent_draws(res, det, stations, masks: dict, capture: dict, hard_fit, K: int, seed: int, pair_evidence,
                  catalogue_size, progress: bool) -> tuple[pd.DataFrame, list]:
    """Draws from ``latent_identity.LatentIdentitySampler`` on the hard fit's masks, started
    at its sigma; with the sampler's parameters at each kept draw."""
    from .latent_identity import LatentIdentitySampler, unit_design
    from .pair_evidence import PairEvidence
    if pair_evidence is None:
        raise ValueError("sampler='latent' needs pair_evidence: what a pair probability says on photos the catalogue "
                         "could not place, measured on labelled photos of the species -- run 'lynxid evaluate "
                         "LABELLED_FOLDER --open-set-only --out eval.json' and give that file")
    if not isinstance(pair_evidence, PairEvidence):
        pair_evidence = PairEvidence.read(pair_evidence)
    size = catalogue_size or (res.summary or {}).get("catalogue_individuals")
    if not size:
        raise ValueError("the catalogue's size is not in these results' summary.json (written by an earlier lynxid): "
                         "give catalogue_size (the number of animals in the catalogue identify used)")
    design = unit_design(det, stations, masks, **capture)
    start = hard_fit.detection_parameters().get("sigma")       # one detection model for all sessions
    sigma = {str(s["name"]): start for s in hard_fit.sessions}
    sampler = LatentIdentitySampler(seed=seed).fit(det, res.posterior, res.unit_pairs, design, int(size),
                                                   pair_evidence, sigma=sigma)
    draws = sampler.sample(K, progress=progress)
    return draws, sampler.trace_.to_dict("records")


def _review(det, draws, ok: pd.DataFrame, T: float, res) -> pd.DataFrame:
    """The review order from each draw's log D (with one density per session, the mean of
    the sessions' log D: a review that moves any session's estimate counts)."""
    from .review_priority import rank_for_review
    log_d = np.log(ok["D"]).groupby(ok["draw"], sort=False).mean()
    known = res.posterior.loc[res.posterior["rank"] > 0, "answer"].unique()
    return rank_for_review(det, draws, log_d, known, T)
