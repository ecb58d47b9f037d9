"""Population density from a capture history: maximum-likelihood spatial capture-recapture,
the model secr's ``secr.fit`` fits by default, in the Python core.

:func:`fit_density` takes a :class:`~lynxid.capture.CaptureHistory` (or secr-style tables
read with :func:`lynxid.scr_data.read_secr_tables`), a habitat mask (given, or built from
the detectors with a buffer as secr's ``make.mask`` builds it, :mod:`lynxid.mask`) and a
detection function, and returns a :class:`DensityFit`: D (animals per hectare and per
100 km^2), g0 or lambda0, sigma and z with SEs and 95 % limits, logLik, AIC, AICc, the
expected number of animals in the mask and a convergence report.

What it does as secr does, so that the numbers can be compared one to one: the full
likelihood (``CL = FALSE``) with homogeneous Poisson density, secr's link functions (log D,
logit g0, log lambda0, log sigma, log z), SEs from the inverse Hessian of the log-likelihood
on the link scale, and limits back-transformed from the link scale (``predict.secr``: SE on
the natural scale by the lognormal formula for log links and the delta method for logit,
limits = inverse link of beta -/+ z SE). Several sessions are fitted jointly with the
detection parameters shared; density is shared too (secr's default ``D ~ 1``) unless
``D_per_session=True`` (secr's ``D ~ session``). The likelihood and its analytic gradient
are in :mod:`lynxid.scr_likelihood`; the maximum is found by BFGS and polished by Newton
steps on a finite-difference Hessian of the analytic gradient.

Where secr would give a number without complaint and the number would be wrong, lynxid
says so: no recaptures (sigma cannot be estimated: an error), a fit that did not converge or
a flat likelihood (a warning with the optimiser's message), and a mask whose edge is too close
to the detectors (secr's ``bias.D`` rule: a warning when the density is predicted to be
biased by more than 1 %, with the buffer that would do).
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from .mask import Mask, distance_to_traps, make_mask, read_mask
from .scr_data import SCRData, from_capture_history
from .density_result import DensityFit
from .scr_likelihood import DETECTFNS, LINKS, SCRLikelihood, link

__all__ = ["fit_density", "DensityFit", "DensityFitWarning", "buffer_check"]

ENGINES = ("lynxid", "secr")
BIAS_LIMIT = 0.01          # secr.fit's biasLimit: warn above 1 % predicted bias from the buffer
BUFFER_TARGET = 0.001      # secr's suggest.buffer target when proposing a buffer
FLAT_SE = 10.0             # SE of a link-scale coefficient above which the likelihood is flat in it


class DensityFitWarning(UserWarning):
    """The fit or its mask needs a look before the estimate is used."""


def fit_density(data, detectfn: str = "HHN", mask=None, buffer: float | None = None,
                spacing: float | None = None, *, poly=None, D_per_session: bool = False,
                start: dict | None = None, loglik_form: str = "secr", check_buffer: bool = True,
                max_iter: int = 400, engine: str = "lynxid") -> "DensityFit":
    """Fit the spatial capture-recapture model by maximum likelihood.

    data : :class:`~lynxid.capture.CaptureHistory` or :class:`~lynxid.scr_data.SCRData`.
    detectfn : ``"HN"``, ``"HR"``, ``"EX"`` (g0 * f(d)) or the hazard forms ``"HHN"``,
        ``"HHR"``, ``"HEX"`` (lambda0 * f(d)); secr's own default is HN.
    mask : a :class:`~lynxid.mask.Mask`, a table or CSV path of x, y, or a dict / list of them
        by session; else built from each session's detectors with ``buffer`` and ``spacing``
        (secr's ``make.mask(type = "trapbuffer")``, clipped to ``poly`` if given). With
        neither mask nor buffer, the buffer is 4 x the spatial scale of the recaptures and is
        widened once, with a refit, if the buffer check finds it too small.
    D_per_session : one density per session (secr ``D ~ session``) instead of a shared one.
    start : start values on the natural scale, e.g. ``{"sigma": 2000, "lambda0": 0.05}``.
    loglik_form : ``"secr"`` reports logLik as secr.fit does by default (see
        :mod:`lynxid.scr_likelihood`), ``"occasions"`` the per-occasion form.
    engine : ``"lynxid"`` (default) or ``"secr"``: secr's ``secr.fit`` through rpy2 on the same
        data, mask and model (:mod:`lynxid.secr_engine`; needs R, rpy2 and secr), as a
        DensityFit to compare with lynxid's line by line. Without mask and buffer, secr gets
        the mask lynxid's automatic buffer chooses.
    """
    t0 = time.perf_counter()
    data = _as_data(data)
    if detectfn not in DETECTFNS:
        raise ValueError(f"detectfn must be one of {', '.join(DETECTFNS)}, not {detectfn!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    _check_recaptures(data)
    auto = mask is None and buffer is None
    if engine == "secr":
        from .secr_engine import fit_secr, require_secr
        require_secr()                  # before lynxid's own fit for the automatic mask
        masks = ([s["mask"] for s in fit_density(data, detectfn, spacing=spacing, poly=poly, D_per_session=D_per_session,
                                                  start=start, max_iter=max_iter).sessions] if auto
                 else _masks(data, mask, buffer, spacing, poly))
        fit, auto = fit_secr(data, masks, detectfn, D_per_session, start), False
    else:
        if auto:
            buffer = float(np.ceil(4 * _spatial_scale(data)))
        masks = _masks(data, mask, buffer, spacing, poly)
        fit = _fit(data, masks, detectfn, D_per_session, start, loglik_form, max_iter)
    if check_buffer:
        bias = buffer_check(fit)
        worst = max(bias, key=lambda b: b["relative_bias"])
        if auto and worst["relative_bias"] > BIAS_LIMIT:
            masks = _masks(data, None, worst["suggested_buffer"], spacing, poly)
            fit = _fit(data, masks, detectfn, D_per_session, start, loglik_form, max_iter)
            bias = buffer_check(fit)
            worst = max(bias, key=lambda b: b["relative_bias"])
        fit.buffer_check = bias
        if worst["relative_bias"] > BIAS_LIMIT:
            warnings.warn(
                f"session {worst['session']}: the mask edge ({worst['buffer']:.4g} m from the detectors) is too close: "
                f"animals living beyond it could have been detected, so D is predicted to be {100 * worst['relative_bias']:.1f} % "
                f"too high (secr's limit is {100 * BIAS_LIMIT:g} %). Refit with buffer={worst['suggested_buffer']:.4g} or more "
                "(or a larger mask); if the mask ends at a real habitat edge, this can be ignored.",
                DensityFitWarning, stacklevel=2)
    fit.seconds = time.perf_counter() - t0
    return fit


def _as_data(data) -> SCRData:
    if isinstance(data, SCRData):
        return data
    if hasattr(data, "usage_matrix") and hasattr(data, "detector_type"):
        return from_capture_history(data)
    raise TypeError("fit_density takes a CaptureHistory or SCRData (read secr-style tables with "
                    f"lynxid.scr_data.read_secr_tables); got {type(data).__name__}")


def _check_recaptures(data: SCRData):
    if data.n == 0:
        raise ValueError("no animals detected in any session: there is nothing to estimate density from")
    per = np.concatenate([s.detections_per_animal() for s in data.sessions if s.n])
    if per.max() < 2:
        raise ValueError(f"no recaptures: each of the {data.n} animals was detected once, so sigma (how far "
                         "animals range) and g0/lambda0 cannot be told apart; density is not estimable from "
                         "these data alone")
    traps = np.concatenate([s.traps_per_animal() for s in data.sessions if s.n])
    if traps.max() < 2:
        warnings.warn("no animal was detected at more than one detector: sigma is estimated only from where "
                      "animals were not detected and will be poorly determined", DensityFitWarning, stacklevel=3)


def _spatial_scale(data: SCRData) -> float:
    """secr's RPSV (root pooled spatial variance, per axis) of the detection locations; the
    detector spacing when no animal was detected at two places."""
    num = den = 0.0
    for s in data.sessions:
        for i in range(s.n):
            sel = s.animal == i
            xy = np.repeat(s.xy[s.trap[sel]], s.count[sel], axis=0)
            if len(xy) > 1:
                num += ((xy - xy.mean(0)) ** 2).sum()
                den += len(xy) - 1
    if num > 0:
        return float(np.sqrt(num / den / 2))
    xy = data.sessions[0].xy
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) + np.eye(len(xy)) * 1e300
    return float(np.median(d.min(1))) if len(xy) > 1 else 100.0


def _masks(data: SCRData, mask, buffer, spacing, poly) -> list:
    names = [s.name for s in data.sessions]
    if mask is None:
        if buffer is None:
            raise ValueError("give a mask or a buffer (metres) to build one around the detectors")
        return [make_mask(s.xy, buffer, spacing, poly=poly) for s in data.sessions]
    if isinstance(mask, dict):
        missing = [n for n in names if n not in {str(k) for k in mask}]
        if missing:
            raise ValueError(f"no mask for session(s) {missing}")
        by = {str(k): v for k, v in mask.items()}
        return [_one_mask(by[n], spacing) for n in names]
    if isinstance(mask, (list, tuple)):
        if len(mask) != len(names):
            raise ValueError(f"{len(mask)} masks for {len(names)} sessions")
        return [_one_mask(m, spacing) for m in mask]
    m = _one_mask(mask, spacing)
    return [m] * len(names)


def _one_mask(m, spacing) -> Mask:
    if isinstance(m, Mask):
        if len(m) == 0:
            raise ValueError("the mask has no points: an empty mask leaves nowhere for animals to live")
        return m
    if isinstance(m, (str, Path)):
        return read_mask(m, spacing)
    return Mask.from_points(m, spacing)


# --------------------------------------------------------------------------------------
# maximisation
# --------------------------------------------------------------------------------------
def _fit(data, masks, detectfn, D_per_session, start, form, max_iter) -> "DensityFit":
    lik = SCRLikelihood(data, masks, detectfn, D_per_session, form)
    if D_per_session and any(s.n == 0 for s in data.sessions):
        empty = [s.name for s in data.sessions if s.n == 0]
        raise ValueError(f"D_per_session: session(s) {empty} detected no animals, so their density is 0 "
                         "with no finite estimate on the log link; fit a shared density instead")
    beta0 = _start(lik, data, masks, start)
    beta, ll, conv, H = _maximise(lik, beta0, max_iter)
    vcov, conv = _covariance(H, conv, lik.names)
    if not conv["converged"]:
        warnings.warn(f"the {detectfn} fit did not converge: {'; '.join(conv['problems'])} (largest |gradient| "
                      f"{conv['max_abs_gradient']:.3g}); the estimates may be wrong: check the data, try start values "
                      "or another detection function", DensityFitWarning, stacklevel=3)
    return DensityFit.from_likelihood(lik, beta, vcov, ll, conv, masks, data)


def _start(lik: SCRLikelihood, data: SCRData, masks: list, start: dict | None) -> np.ndarray:
    """Start values: a coarse grid over sigma (around the recaptures' spatial scale) and
    g0 / lambda0, with D at its profile maximum n / a(theta) for each, evaluated on a
    thinned mask (a start needs to be near, not exact)."""
    thin = [Mask(m.x[::k], m.y[::k], m.spacing * np.sqrt(len(m) / len(m.x[::k])))
            for m in masks for k in [max(1, len(m) // 1500)]]
    coarse = SCRLikelihood(data, thin, lik.detectfn, lik.D_per_session, lik.form)
    sig = _spatial_scale(data)
    first = lik.det_names[0]
    given = {k: v for k, v in (start or {}).items() if k in lik.det_names}
    sigmas = [given["sigma"]] if "sigma" in given else sig * np.array([0.3, 0.5, 0.8, 1.2, 1.8, 2.7])
    firsts = [given[first]] if first in given else [0.01, 0.03, 0.1, 0.3, 0.6]
    z = given.get("z", 5.0)
    best, best_ll = None, -np.inf
    for s_ in sigmas:
        for f in firsts:
            par = {first: f, "sigma": s_, "z": z}
            det = [float(link(LINKS[p], par[p])) for p in lik.det_names]
            esa = coarse.esa(np.r_[np.zeros(len(lik.D_names)), det])
            if not np.all(esa > 0):
                continue
            if lik.D_per_session:
                logD = np.log(np.maximum([t.n for t in lik.terms], 0.5) / esa)
            else:
                logD = [np.log(data.n / esa.sum())]
            beta = np.r_[logD, det]
            ll = coarse.loglik(beta)
            if np.isfinite(ll) and ll > best_ll:
                best, best_ll = beta, ll
    if best is None:
        raise ValueError("no start values give a finite likelihood: check the mask covers the detectors "
                         "and the coordinates are in metres")
    if start and "D" in start:
        best[:len(lik.D_names)] = np.log(start["D"])
    return best


def _maximise(lik: SCRLikelihood, beta0, max_iter):
    def negll(b):
        try:
            ll, g = lik.loglik(b, grad=True)
        except ArithmeticError:                 # a trial step far outside the parameters' range
            return 1e100, np.zeros_like(b)
        if not np.isfinite(ll):
            return 1e100, np.zeros_like(b)
        return -ll, -g
    # trial steps far out give non-finite likelihoods, which negll turns into a wall
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        res = minimize(negll, beta0, jac=True, method="BFGS", options={"gtol": 1e-5, "maxiter": max_iter})
    beta, ll = res.x, -res.fun
    newton, H, step = 0, None, np.inf
    for _ in range(6):                          # Newton polish on the finite-difference Hessian
        _, g = lik.loglik(beta, grad=True)
        H = _hessian(lik, beta)
        try:
            step = np.linalg.solve(H, g)        # H is the Hessian of -log L
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.abs(step).max() > 1:
            break
        cand = beta - step
        ll_c = lik.loglik(cand)
        if not (np.isfinite(ll_c) and ll_c >= ll - 1e-9):
            break
        beta, ll, newton = cand, ll_c, newton + 1
        if np.abs(step).max() < 1e-6:           # the Hessian at beta is H to this precision
            break
    if not np.abs(step).max() < 1e-6:
        H = _hessian(lik, beta)
    _, g = lik.loglik(beta, grad=True)
    maxg = float(np.abs(g).max())
    try:
        decrement = float(g @ np.linalg.solve(H, g)) / 2    # log L still to gain by a Newton step
    except np.linalg.LinAlgError:
        decrement = np.inf
    ok = (res.success or (0 <= decrement < 1e-6)) and maxg < 1e-2
    conv = dict(converged=bool(ok), message=str(res.message), optimizer="BFGS + Newton", iterations=int(res.nit),
                evaluations=int(res.nfev), newton_steps=newton, max_abs_gradient=maxg, newton_decrement=decrement,
                problems=[] if ok else [f"the optimiser stopped: {res.message}"])
    return beta, float(ll), conv, H


def _hessian(lik: SCRLikelihood, beta) -> np.ndarray:
    """Hessian of -log L by central differences of the analytic gradient."""
    p = len(beta)
    H = np.empty((p, p))
    for j in range(p):
        e = 1e-5 * max(1.0, abs(beta[j]))
        b1, b2 = beta.copy(), beta.copy()
        b1[j] += e
        b2[j] -= e
        H[:, j] = -(lik.loglik(b1, grad=True)[1] - lik.loglik(b2, grad=True)[1]) / (2 * e)
    return (H + H.T) / 2


def _covariance(H, conv, names):
    try:
        w = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        w = np.array([np.nan])
    pd_ok = bool(np.all(np.isfinite(w)) and w.min() > 0)
    conv = dict(conv, hessian_positive_definite=pd_ok,
                hessian_condition=float(w.max() / w.min()) if pd_ok else float("inf"))
    if not pd_ok:
        conv["converged"] = False
        conv["problems"].append("the Hessian is not positive definite (a flat or ridged likelihood: some parameter "
                                "is not identifiable from these data)")
        return np.full((len(names),) * 2, np.nan), conv
    vcov = np.linalg.inv(H)
    flat = [n for n, v in zip(names, np.diag(vcov)) if not np.sqrt(v) < FLAT_SE]
    if flat:
        conv["converged"] = False
        conv["problems"].append(f"the likelihood is flat in {', '.join(flat)} (SE on the link scale above {FLAT_SE:g}): "
                                "the data do not determine it, so its estimate and interval mean nothing")
    conv["not_identifiable"] = flat
    return vcov, conv


# --------------------------------------------------------------------------------------
# is the mask wide enough?
# --------------------------------------------------------------------------------------
def buffer_check(fit: DensityFit, max_points: int = 30_000) -> list:
    """Predicted relative bias of D from where the mask ends (secr's ``bias.D`` idea), per
    session: the animals living beyond the mask edge that the detectors would still catch,
    as a share of the effective sampling area inside it; and the buffer at which that share
    falls to 0.1 % (secr's ``suggest.buffer`` target)."""
    par = fit.detection_parameters()
    out = []
    for i, s in enumerate(fit.sessions):
        m, traps = s["mask"], np.asarray(s["traps"])
        edge = m.buffer if m.buffer is not None else float(distance_to_traps(m.xy, traps).max())
        reach = par["sigma"] * (6 if fit.detectfn in ("HN", "HHN") else 12)
        big = edge + reach
        wx, wy = np.ptp(traps[:, 0]) + 2 * big, np.ptp(traps[:, 1]) + 2 * big
        spacing = max(m.spacing, np.sqrt(wx * wy / max_points))
        ext = make_mask(traps, big, spacing)
        p_ext = fit.pdot(ext.xy, i)
        dist = distance_to_traps(ext.xy, traps)
        esa_mask = m.cell_area * fit.pdot(m.xy, i).sum()
        ring = ext.cell_area * p_ext[dist > edge].sum()
        order = np.argsort(-dist)
        tail = np.cumsum(p_ext[order]) * ext.cell_area
        total = tail[-1]
        ok = tail <= BUFFER_TARGET * total
        suggested = float(dist[order][ok.sum()]) if ok.any() else big
        suggested = float(np.ceil(suggested / 10 ** np.floor(np.log10(suggested) - 1)) *
                          10 ** np.floor(np.log10(suggested) - 1))
        out.append(dict(session=s["name"], buffer=edge, relative_bias=float(ring / esa_mask) if esa_mask > 0 else np.inf,
                        suggested_buffer=suggested))
    return out
