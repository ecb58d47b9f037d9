"""The spatial capture-recapture likelihood that secr maximises by default (``secr.fit`` with
``CL = FALSE``, homogeneous Poisson density), with its gradient.

For a session with n detected animals, mask cells x of area ``cell`` (ha) and density D per
hectare (Borchers & Efford 2008, in the form secr's ``generalsecrloglikfn`` evaluates):

    log L = sum_i log( (1/M) sum_x Pr(w_i | x) ) - n log pbar        (where the animals live)
            + log Poisson(n; D cell M pbar)                          (how many were detected)
            + log( n! / prod_w n_w! )                                 (secr's ``logmultinom``)

with pbar = (1/M) sum_x p.(x), p.(x) the probability that an animal centred at x is detected
at all, and n_w the number of animals sharing the capture history w. Detection at detector k
is through its cumulative hazard h_k(x): the hazard detection functions (HHN, HEX, HHR) give
it directly (``lambda0 * f(d)``), the others give a probability g_k(x) = ``g0 * f(d)`` and
h = -log(1 - g), exactly as secr's ``makegkPointcpp`` does. Then, with usage T_ks:

* proximity (binary): Pr(detected at k on s) = 1 - (1 - g)^T = 1 - exp(-T h);
* count (Poisson): the count at k on s is Poisson with mean T h -- note that with HN, HR or EX
  this mean is -log(1 - g), not g (secr's ``pski`` is handed the hazard for counts).

An occasion with usage 0 contributes nothing. Because every undetected (k, s) contributes
exp(-T_ks h_k), all of them together are exp(-H(x)) with H = sum_k U_k h_k and U_k the
detector's total usage: the cost does not grow with the number of occasions. What remains per
animal are its detections, grouped by (detector, usage) for proximity and by detector for
counts, so one matrix product gives every animal's Pr(w_i | x) over the whole mask.

The constant terms follow what ``secr.fit`` reports by default. With no time-varying effects
secr (``details$fastproximity``, on by default) first sums each animal's detections over
occasions and then uses, per animal and detector, Binomial(total usage U_k, g) for proximity
and Poisson(U_k h) for counts. With usage 0/1 that is the same likelihood surface as the
per-occasion form above (same estimates and SEs), but the constants differ: the binomial
coefficients C(U_k, c_ik) for proximity, and for both detector types the multinomial
coefficient of the summed histories. ``form="secr"`` (used where it applies: proximity with
usage 0/1, counts with whole-number total usage) reports that log-likelihood so logLik and
AIC equal secr's; ``form="occasions"`` the per-occasion one (secr with ``fastproximity =
FALSE``). For proximity detectors with usage other than 0/1 secr's default changes the model
itself (each unit of usage becomes a Bernoulli trial, fractions truncated); lynxid keeps the
per-occasion model p = 1 - (1 - g)^T and its log-likelihood there.

Parameters are on secr's link scale: log D, logit g0 or log lambda0, log sigma, log z.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln

from .mask import Mask
from .scr_data import SCRData, SCRSession

__all__ = ["DETECTFNS", "LINKS", "SCRLikelihood", "inverse_link", "link", "se_natural", "hazard",
           "secr_form_applies"]

DETECTFNS = {
    "HN": dict(code=0, hazard=False, params=("g0", "sigma")),
    "HR": dict(code=1, hazard=False, params=("g0", "sigma", "z")),
    "EX": dict(code=2, hazard=False, params=("g0", "sigma")),
    "HHN": dict(code=14, hazard=True, params=("lambda0", "sigma")),
    "HHR": dict(code=15, hazard=True, params=("lambda0", "sigma", "z")),
    "HEX": dict(code=16, hazard=True, params=("lambda0", "sigma")),
}
LINKS = {"D": "log", "g0": "logit", "lambda0": "log", "sigma": "log", "z": "log"}
_FLOOR = -1e4           # log of a probability that underflowed: zero weight, but finite


def inverse_link(kind: str, beta):
    beta = np.asarray(beta, dtype=float)
    with np.errstate(over="ignore"):
        return expit(beta) if kind == "logit" else np.exp(beta)


def link(kind: str, value):
    value = np.asarray(value, dtype=float)
    if kind == "logit":
        if np.any((value <= 0) | (value >= 1)):
            raise ValueError(f"a probability on the logit link must lie strictly between 0 and 1, not {value}")
        return np.log(value / (1 - value))
    if np.any(value <= 0):
        raise ValueError(f"a parameter on the log link must be positive, not {value}")
    return np.log(value)


def se_natural(kind: str, beta, se_beta):
    """SE on the natural scale as secr's ``se.untransform`` gives it: the lognormal formula
    for the log link, the delta method for the logit link."""
    beta, se_beta = np.asarray(beta, float), np.asarray(se_beta, float)
    if kind == "logit":
        p = expit(beta)
        return p * (1 - p) * se_beta
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(beta) * np.sqrt(np.expm1(se_beta ** 2))


def hazard(detectfn: str, d, d2, par: dict, grad: bool = False):
    """Cumulative hazard h = -log(1 - g) of each mask point x detector (same shape as d) and,
    with ``grad``, its derivatives d h / d beta_j for the link-scale detection parameters in
    the order of ``DETECTFNS`` (written to keep the passes over the big arrays few)."""
    spec = DETECTFNS[detectfn]
    # a numpy scalar: an optimiser's trial step to an extreme log sigma underflows sigma to 0,
    # and a Python float would raise ZeroDivisionError there instead of giving a likelihood
    # the optimiser can step back from
    sigma = np.float64(par["sigma"])
    dz = None
    if detectfn in ("HN", "HHN"):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            q = d2 * (1.0 / sigma ** 2)                 # d log f / d log sigma
        f = np.multiply(q, -0.5)
        np.exp(f, out=f)
    elif detectfn in ("EX", "HEX"):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            q = d * (1.0 / sigma)
        f = np.negative(q)
        np.exp(f, out=f)
    else:
        f, q, dz = _hazard_rate_shape(d, sigma, par["z"], grad)
    if spec["hazard"]:
        h = np.multiply(f, par["lambda0"], out=f)
        if not grad:
            return h, None
        return h, [h, np.multiply(h, q, out=q)] + ([h * dz] if dz is not None else [])
    g0 = par["g0"]
    g = np.multiply(f, g0, out=f)
    h = np.negative(g)
    np.log1p(h, out=h)
    np.negative(h, out=h)
    if not grad:
        return h, None
    e = np.subtract(1.0, g)
    np.divide(g, e, out=e)                              # d h / d log g = g / (1 - g)
    return h, [e * (1 - g0), np.multiply(e, q, out=q)] + ([e * dz] if dz is not None else [])


def _hazard_rate_shape(d, sigma, z, grad):
    """f = 1 - exp(-(d/sigma)^-z) and d log f / d log sigma, d log f / d log z."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        r = d / sigma
        u = r ** (-z)                                   # infinite at d = 0
        f = -np.expm1(-u)
        if not grad:
            return f, None, None
        ratio = np.where(u > 700, 0.0, np.where(u < 1e-300, 1.0, u / np.expm1(u)))
        logr = np.log(np.where(d > 0, r, 1.0))
    return f, z * ratio, -z * logr * ratio


class _SessionTerms:
    """What one session's likelihood needs, computed once: distances, total usage per
    detector, and each animal's detections grouped into columns."""

    def __init__(self, s: SCRSession, mask: Mask, detector: str, form: str):
        self.name, self.n, self.detector = s.name, s.n, detector
        self.cell, self.M = mask.cell_area, len(mask)
        self.xy, self.U = s.xy, s.usage.sum(axis=1)
        self.d2 = ((mask.xy[:, None, :] - s.xy[None, :, :]) ** 2).sum(-1)
        self.d = np.sqrt(self.d2)
        T = s.usage[s.trap, s.occasion]
        c = s.count.astype(float)
        if detector == "proximity":
            keys = np.column_stack([s.trap, T])
            uniq, col = np.unique(keys, axis=0, return_inverse=True)
            self.pk, self.pT = uniq[:, 0].astype(int), uniq[:, 1]
        else:
            uniq, col = np.unique(s.trap, return_inverse=True)
            self.pk, self.pT = uniq.astype(int), np.ones(len(uniq))
        self.A = np.zeros((self.n, len(self.pk)))
        np.add.at(self.A, (s.animal, col.ravel()), c if detector == "count" else 1.0)
        self.form = form if form == "occasions" or secr_form_applies(s, detector) else "occasions"
        if self.form == "occasions":
            self.const = float((c * np.log(T)).sum() - gammaln(c + 1).sum()) if detector == "count" else 0.0
            self.const += s.log_multinomial()
        else:                                   # secr's default: histories summed over occasions
            C = np.zeros((self.n, len(self.U)))
            np.add.at(C, (s.animal, s.trap), c)
            i, k = np.nonzero(C)
            Ck, Uk = C[i, k], self.U[k]
            if detector == "count":
                self.const = float((Ck * np.log(Uk) - gammaln(Ck + 1)).sum())
            else:
                self.const = float((gammaln(Uk + 1) - gammaln(Ck + 1) - gammaln(Uk - Ck + 1)).sum())
            self.const += s.log_multinomial(collapsed=True)


def secr_form_applies(s: SCRSession, detector: str) -> bool:
    """Whether secr's default (occasions summed) fits the same surface as the per-occasion
    likelihood, so that only constants differ: usage 0/1 for proximity, whole-number totals
    for counts."""
    if detector == "proximity":
        return bool(np.all((s.usage == 0) | (s.usage == 1)))
    U = s.usage.sum(axis=1)
    return bool(np.all(U == np.round(U)))


class SCRLikelihood:
    """log L(beta) and its gradient for a survey, its masks (one per session) and a detection
    function. beta = [log D (one, or one per session with ``D_per_session``), detection
    parameters on their links]."""

    def __init__(self, data: SCRData, masks: list, detectfn: str, D_per_session: bool = False,
                 form: str = "secr"):
        if detectfn not in DETECTFNS:
            raise ValueError(f"detectfn must be one of {', '.join(DETECTFNS)}, not {detectfn!r}")
        if len(masks) != len(data.sessions):
            raise ValueError(f"{len(masks)} mask(s) for {len(data.sessions)} session(s)")
        self.detectfn, self.detector = detectfn, data.detector
        if form not in ("secr", "occasions"):
            raise ValueError(f"form must be 'secr' or 'occasions', not {form!r}")
        self.terms = [_SessionTerms(s, m, data.detector, form) for s, m in zip(data.sessions, masks)]
        self.form = "secr" if all(t.form == "secr" for t in self.terms) else "occasions"
        self.det_names = list(DETECTFNS[detectfn]["params"])
        self.D_per_session = bool(D_per_session) and len(self.terms) > 1
        self.D_names = [f"D[{t.name}]" for t in self.terms] if self.D_per_session else ["D"]
        self.names = self.D_names + self.det_names
        self.links = ["log"] * len(self.D_names) + [LINKS[p] for p in self.det_names]

    def split(self, beta):
        """(log D for each session, natural detection parameters)."""
        beta = np.asarray(beta, dtype=float)
        nD = len(self.D_names)
        logD = beta[:nD] if self.D_per_session else np.repeat(beta[0], len(self.terms))
        par = {p: float(inverse_link(LINKS[p], b)) for p, b in zip(self.det_names, beta[nD:])}
        return logD, par

    def esa(self, beta) -> np.ndarray:
        """Effective sampling area a(theta) = cell * sum_x p.(x) (ha) of each session."""
        _, par = self.split(beta)
        return np.array([t.cell * self.pdot_at(t, par).sum() for t in self.terms])

    def pdot_at(self, t, par, d=None, d2=None) -> np.ndarray:
        """p.(x): probability that an animal centred at x is detected at least once (at the
        mask by default, or at points with distances ``d`` to the session's detectors)."""
        d, d2 = (t.d, t.d2) if d is None else (d, d2)
        h, _ = hazard(self.detectfn, d, d2, par)
        return -np.expm1(-(h @ t.U))

    def loglik(self, beta, grad: bool = False):
        logD, par = self.split(beta)
        nD, nd = len(self.D_names), len(self.det_names)
        total, g = 0.0, np.zeros(nD + nd)
        for i, t in enumerate(self.terms):
            ll, gD, gdet = self._session(t, logD[i], par, grad)
            total += ll
            if grad:
                g[i if self.D_per_session else 0] += gD
                g[nD:] += gdet
        return (total, g) if grad else total

    def _session(self, t: _SessionTerms, logD: float, par: dict, grad: bool):
        h, dh = hazard(self.detectfn, t.d, t.d2, par, grad)
        H = h @ t.U
        D = np.exp(logD)
        a = t.cell * (-np.expm1(-H)).sum()
        ll = t.n * (logD + np.log(t.cell)) - D * a - gammaln(t.n + 1) + t.const
        if t.n:
            hp = h[:, t.pk]
            with np.errstate(divide="ignore", over="ignore"):
                if self.detector == "proximity":
                    Th = hp * t.pT
                    em = -np.expm1(-Th)                 # Pr(detected at k on an occasion with usage T)
                    phi = Th + np.log(em)               # log of that over Pr(not detected there)
                    inv = t.pT / em                     # d phi / d h
                else:
                    phi = np.log(hp)
                    inv = 1.0 / hp
            L = np.maximum(phi, _FLOOR, out=phi) @ t.A.T - H[:, None]
            mx = L.max(axis=0)
            W = np.exp(L - mx)
            s = W.sum(axis=0)
            ll += float((mx + np.log(s)).sum())
        if not grad:
            return ll, 0.0, None
        gD = t.n - D * a
        gdet = np.empty(len(dh))
        q = np.exp(-H)
        if t.n:
            W /= s                                      # each animal's posterior over the mask
            wsum = W.sum(axis=1)
            inv[~np.isfinite(inv)] = 0.0                # h = 0: the animal cannot be there (W = 0)
            B = (W @ t.A) * inv                         # sum_i W_xi A_ip d phi_p / d h
        for j, dhj in enumerate(dh):
            dH = dhj @ t.U
            gj = -D * t.cell * (q @ dH)
            if t.n:
                gj += -(wsum @ dH) + float(np.einsum("xp,xp->", dhj[:, t.pk], B))
            gdet[j] = gj
        return ll, gD, gdet
