"""``fit_density(engine="secr")``: secr's ``secr.fit`` on exactly the data and mask lynxid
fits, through rpy2, returned as lynxid's own :class:`~lynxid.density_result.DensityFit`.

Why: so that the two engines can be compared line by line from Python and the command line
(``lynxid density fit ... --engine both``), as R's ``fit_density(engine = "secr")`` already
allows (rpkg/R/density_secr.R, which this mirrors). The data cross as arrays
(:mod:`lynxid.capthist` builds the capthist in R); the mask crosses as its points and spacing
(``secr::read.mask``), so both engines integrate over the same habitat; the model is
``D ~ 1`` (or ``D ~ session``) with the same detection function and
``details = list(fastproximity = FALSE)``: lynxid models a proximity detector with fractional
usage as 1 - (1 - g)^usage per occasion, and so does secr with that setting.

secr's link-scale coefficients and their covariance become the fit's state, so everything a
:class:`DensityFit` derives (``predict`` as secr's ``predict``, E(N), the density surface)
comes out of secr's estimates by the same formulas. secr's ``D ~ session`` coefficients (D,
then differences) are turned into one log D per session, the covariance with them.
"""
from __future__ import annotations

import time

import numpy as np

from . import rbridge
from .capthist import capthist_from_ingredients, ingredients_from_scr
from .density_result import DensityFit
from .scr_likelihood import DETECTFNS, LINKS

__all__ = ["fit_secr", "require_secr"]

_FIT = """
function(ch, masks, detectfn, per_session, start) {
  model <- if (per_session) list(D ~ session) else list(D ~ 1)
  m <- lapply(masks, function(k) secr::read.mask(data = data.frame(x = k$x, y = k$y), spacing = k$spacing))
  args <- list(ch, model = model, mask = if (length(m) == 1) m[[1]] else m, detectfn = detectfn,
               details = list(fastproximity = FALSE), trace = FALSE)
  if (!is.null(start)) args$start <- start
  t0 <- proc.time()[["elapsed"]]
  fit <- do.call(secr::secr.fit, args)
  cf <- stats::coef(fit)
  opt <- fit$fit
  # nlm's result for secr's default method, optim's for others (as R's secr_parts reads it)
  converged <- if (!is.null(opt$convergence)) opt$convergence == 0 else isTRUE(opt$code %in% 1:2)
  code <- if (!is.null(opt$convergence)) opt$convergence else if (!is.null(opt$code)) opt$code else NA
  list(names = rownames(cf), beta = cf$beta, vcov = unname(fit$beta.vcv), logLik = as.numeric(stats::logLik(fit)),
       npar = length(fit$betanames), seconds = proc.time()[["elapsed"]] - t0,
       method = if (is.null(fit$method)) "Newton-Raphson" else as.character(fit$method)[1],
       converged = converged, code = as.integer(code),
       message = if (is.null(opt$message)) "" else as.character(opt$message),
       iterations = if (is.null(opt$iterations)) NA_integer_ else as.integer(opt$iterations),
       version = as.character(utils::packageVersion("secr")))
}
"""


def require_secr() -> None:
    """:class:`~lynxid.rbridge.RUnavailable`, saying what is missing, unless R, rpy2 and secr are
    all there."""
    rbridge.require_r_package("secr", "fit_density(engine=\"secr\")")


def fit_secr(data, masks: list, detectfn: str, D_per_session: bool = False, start: dict | None = None) -> DensityFit:
    """secr.fit on ``data`` (:class:`~lynxid.scr_data.SCRData`) over ``masks`` (one
    :class:`~lynxid.mask.Mask` per session), as a :class:`DensityFit` with ``engine="secr"``.
    :class:`~lynxid.rbridge.RUnavailable` when R, rpy2 or secr is missing."""
    t0 = time.perf_counter()
    ro = rbridge.robjects()
    require_secr()
    if detectfn not in DETECTFNS:
        raise ValueError(f"detectfn must be one of {', '.join(DETECTFNS)}, not {detectfn!r}")
    ch = capthist_from_ingredients(ingredients_from_scr(data))
    rmasks = rbridge.to_r([{"x": m.x, "y": m.y, "spacing": m.spacing} for m in masks])
    det_names = list(DETECTFNS[detectfn]["params"])
    rstart = ro.NULL if not start else rbridge.to_r({k: float(v) for k, v in start.items()
                                                     if k == "D" or k in det_names})
    try:
        out = rbridge.from_r(ro.r(_FIT)(ch, rmasks, detectfn, bool(D_per_session and len(data.sessions) > 1), rstart))
    except Exception as exc:           # rpy2's RRuntimeError: secr's own message
        raise ValueError(f"secr.fit failed: {exc}") from exc
    sessions = [s.name for s in data.sessions]
    names, beta, vcov = _per_session(list(np.atleast_1d(out["names"])), np.atleast_1d(out["beta"]).astype(float),
                                     np.asarray(out["vcov"], float).reshape(len(np.atleast_1d(out["beta"])), -1),
                                     sessions, D_per_session)
    fit = _density_fit(data, masks, detectfn, D_per_session, names, det_names, beta, vcov, out)
    fit.seconds = time.perf_counter() - t0
    return fit


def _per_session(names, beta, vcov, sessions, D_per_session):
    """secr's coefficient names and, for ``D ~ session`` (treatment contrasts: D, D.sessionB,
    ...), one log D per session: beta_s = beta_D + beta_D.session_s, covariance A V A'."""
    if not D_per_session or len(sessions) == 1:
        return names, beta, vcov
    nD = sum(1 for n in names if n == "D" or n.startswith("D."))
    if nD != len(sessions):
        raise ValueError(f"secr's D ~ session gave {nD} density coefficients for {len(sessions)} sessions: {names}")
    A = np.eye(len(beta))
    A[1:nD, 0] = 1.0
    return [f"D[{s}]" for s in sessions] + names[nD:], A @ beta, A @ vcov @ A.T


def _density_fit(data, masks, detectfn, D_per_session, names, det_names, beta, vcov, out) -> DensityFit:
    per = D_per_session and len(data.sessions) > 1
    got = names[-len(det_names):]
    if got != det_names:
        raise ValueError(f"secr's detection parameters {got} are not those of {detectfn} ({det_names})")
    ll, k, n = float(out["logLik"]), int(out["npar"]), int(data.n)
    code = out["code"]
    ok = bool(out["converged"]) and bool(np.all(np.isfinite(vcov)))
    conv = dict(converged=ok, message=out["message"] or f"{out['method']} code {code}", optimizer=f"secr {out['method']}",
                iterations=out["iterations"], secr_version=out["version"], secr_seconds=float(out["seconds"]),
                problems=[] if ok else [f"secr's optimiser did not converge ({out['method']} code {code})"])
    sessions = [dict(name=s.name, n=s.n, traps=np.asarray(s.xy, float).tolist(), usage=np.asarray(s.usage, float).tolist(),
                     mask=m) for s, m in zip(data.sessions, masks)]
    return DensityFit(engine="secr", detectfn=detectfn, detector=data.detector, names=list(names),
                      links=["log"] * (len(names) - len(det_names)) + [LINKS[p] for p in det_names],
                      det_names=det_names, D_per_session=per, beta=np.asarray(beta, float), vcov=np.asarray(vcov, float),
                      logLik=ll, logLik_form="secr", npar=k, n=n, AIC=-2 * ll + 2 * k,
                      AICc=(-2 * ll + 2 * k + 2 * k * (k + 1) / (n - k - 1)) if n - k - 1 > 0 else float("nan"),
                      convergence=conv, seconds=float("nan"), buffer_check=[], sessions=sessions)
