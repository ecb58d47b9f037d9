"""A fitted density model (:func:`lynxid.density.fit_density`): its estimates as secr's
``predict`` gives them, predictions at any point, and the fitted state as JSON.

Everything is derived from the link-scale coefficients and their covariance, so a fit saved
with :meth:`DensityFit.save` and loaded again predicts exactly what the original did: the
estimates table, intervals at any level, the expected number of animals in the mask and
the density surface with each point's probability of detection.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from .mask import Mask
from .scr_likelihood import DETECTFNS, LINKS, SCRLikelihood, hazard, inverse_link, se_natural

__all__ = ["DensityFit", "PER_100KM2", "UNITS", "detection_function", "detection_probability"]

PER_100KM2 = 10_000.0      # hectares in 100 km^2
UNITS = {"D": "animals/ha", "D_100km2": "animals/100 km2", "g0": "probability per unit usage",
         "lambda0": "detections per unit usage", "sigma": "m", "z": "shape", "EN": "animals in mask"}


class DensityFit:
    """A fitted density model: coefficients (link scale) with their covariance, what is
    needed to predict, and how the fit went. Save with :meth:`save` / :meth:`to_dict`, load
    with :meth:`load` / :meth:`from_dict` (JSON)."""

    def __init__(self, **state):
        self.__dict__.update(state)

    @classmethod
    def from_likelihood(cls, lik: SCRLikelihood, beta, vcov, ll, conv, masks, data) -> "DensityFit":
        n = int(sum(t.n for t in lik.terms))
        k = len(beta)
        return cls(detectfn=lik.detectfn, detector=lik.detector, names=list(lik.names), links=list(lik.links),
                   det_names=list(lik.det_names), D_per_session=lik.D_per_session, beta=np.asarray(beta, float),
                   vcov=np.asarray(vcov, float), logLik=ll, logLik_form=lik.form, npar=k, n=n,
                   AIC=-2 * ll + 2 * k, AICc=(-2 * ll + 2 * k + 2 * k * (k + 1) / (n - k - 1)) if n - k - 1 > 0
                   else float("nan"), convergence=conv, seconds=float("nan"), buffer_check=[],
                   sessions=[dict(name=t.name, n=t.n, traps=t.xy.tolist(), usage=t.U.tolist(), mask=m)
                             for t, m in zip(lik.terms, masks)])

    # ---- estimates ----------------------------------------------------------------
    @property
    def estimates(self) -> pd.DataFrame:
        """:meth:`predict` with 95 % limits."""
        return self.predict()

    def coef(self) -> pd.DataFrame:
        """Coefficients on the link scale with SEs (secr's ``coef``)."""
        se = np.sqrt(np.diag(self.vcov))
        z = norm.ppf(0.975)
        return pd.DataFrame({"link": self.links, "beta": self.beta, "SE.beta": se, "lcl": self.beta - z * se,
                             "ucl": self.beta + z * se}, index=self.names)

    def predict(self, alpha: float = 0.05) -> pd.DataFrame:
        """Real parameters per session (secr's ``predict``): estimate, SE and 100(1-alpha) %
        limits of D (per ha and per 100 km^2), g0 or lambda0, sigma, z and E(N), the expected
        number of animals in the mask."""
        z = norm.ppf(1 - alpha / 2)
        se = np.sqrt(np.diag(self.vcov))
        nD = len(self.names) - len(self.det_names)
        rows = []

        def row(sess, par, j, scale=1.0, link_kind=None):
            kind = link_kind or self.links[j]
            b, s = self.beta[j], se[j]
            est = float(inverse_link(kind, b)) * scale
            rows.append(dict(session=sess, parameter=par, estimate=est,
                             SE=float(se_natural(kind, b, s)) * scale,
                             lcl=float(inverse_link(kind, b - z * s)) * scale,
                             ucl=float(inverse_link(kind, b + z * s)) * scale, unit=UNITS[par]))

        for i, s in enumerate(self.sessions):
            jD = i if self.D_per_session else 0
            row(s["name"], "D", jD)
            row(s["name"], "D_100km2", jD, PER_100KM2)
            for p, j in zip(self.det_names, range(nD, len(self.names))):
                row(s["name"], p, j)
            row(s["name"], "EN", jD, s["mask"].area)
        return pd.DataFrame(rows)

    def estimates_dict(self, session=None) -> dict:
        """``{"D": {"estimate", "SE", "lcl", "ucl"}, "g0"|"lambda0": ..., "sigma": ..., "z": ...,
        "EN": ..., "logLik": ..., "AIC": ..., "AICc": ..., "npar": ...}`` for one session (the
        first by default); D per hectare."""
        tab = self.predict()
        name = self.sessions[0]["name"] if session is None else str(session)
        tab = tab[tab.session == name]
        if tab.empty:
            raise ValueError(f"no session {session!r}; sessions are {[s['name'] for s in self.sessions]}")
        out = {r.parameter: dict(estimate=r.estimate, SE=r.SE, lcl=r.lcl, ucl=r.ucl) for r in tab.itertuples()}
        out.update(logLik=self.logLik, AIC=self.AIC, AICc=self.AICc, npar=self.npar)
        return out

    def detection_parameters(self) -> dict:
        return {p: float(inverse_link(LINKS[p], b)) for p, b in zip(self.det_names, self.beta[-len(self.det_names):])}

    def pdot(self, xy, session=0) -> np.ndarray:
        """Probability that an animal centred at each point (x, y) is detected at least once."""
        s = self._session(session)
        return detection_probability(self.detectfn, self.detection_parameters(), xy, s["traps"], s["usage"])

    def detection_curve(self, distances) -> np.ndarray:
        """The fitted detection function at each distance (m): g(d) for HN, HR and EX, the
        hazard lambda(d) for HHN, HHR and HEX (:func:`detection_function`)."""
        return detection_function(self.detectfn, self.detection_parameters(), distances)

    def density_surface(self, session=None) -> pd.DataFrame:
        """Mask points with the density (constant: homogeneous model) and p.(x), the probability
        that an animal living there is detected, for plotting (e.g. with the detectors)."""
        tab = self.predict()
        out = []
        for i, s in enumerate(self.sessions):
            if session is not None and s["name"] != str(session):
                continue
            m = s["mask"]
            D = float(tab[(tab.session == s["name"]) & (tab.parameter == "D")].estimate.iloc[0])
            out.append(pd.DataFrame({"session": s["name"], "x": m.x, "y": m.y, "D": D, "D_100km2": D * PER_100KM2,
                                     "pdot": self.pdot(m.xy, i)}))
        if not out:
            raise ValueError(f"no session {session!r}")
        return pd.concat(out, ignore_index=True)

    def _session(self, session):
        if isinstance(session, (int, np.integer)):
            return self.sessions[int(session)]
        for s in self.sessions:
            if s["name"] == str(session):
                return s
        raise ValueError(f"no session {session!r}")

    # ---- persistence --------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("beta", "vcov", "sessions")}
        d.update(beta=self.beta.tolist(), vcov=self.vcov.tolist(),
                 sessions=[dict(s, mask=s["mask"].to_dict()) for s in self.sessions],
                 estimates=self.predict().to_dict("records"))
        return _json_safe(d)

    @classmethod
    def from_dict(cls, d: dict) -> "DensityFit":
        d = dict(d)
        d.pop("estimates", None)
        d["beta"] = np.asarray(d["beta"], float)
        d["vcov"] = np.asarray([[np.nan if v is None else v for v in r] for r in d["vcov"]], float)
        d["sessions"] = [dict(s, mask=Mask.from_dict(s["mask"])) for s in d["sessions"]]
        for k in ("AICc", "seconds"):
            d[k] = float("nan") if d.get(k) is None else d[k]
        return cls(**d)

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path) -> "DensityFit":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    # ---- display ------------------------------------------------------------------
    def summary(self) -> str:
        tab = self.predict()
        lines = [f"lynxid density fit: {self.detector} detectors, detectfn {self.detectfn}, "
                 f"{len(self.sessions)} session(s), {self.n} animals",
                 f"logLik {self.logLik:.4f}  AIC {self.AIC:.3f}  AICc {self.AICc:.3f}  npar {self.npar}  "
                 f"converged {self.convergence['converged']}  ({self.seconds:.2f} s)"]
        for r in tab.itertuples():
            lines.append(f"  {r.session:>8} {r.parameter:<9} {r.estimate:>12.5g}  SE {r.SE:<10.4g} "
                         f"95% {r.lcl:.5g} - {r.ucl:.5g}  {r.unit}")
        return "\n".join(lines)

    def __repr__(self):
        return self.summary()


def detection_function(detectfn: str, params: dict, distances) -> np.ndarray:
    """The detection function at distances d (m), in its own terms as secr plots it: the
    probability g(d) = g0 f(d) of detection per unit of usage for HN, HR and EX, the expected
    number of detections lambda(d) = lambda0 f(d) per unit of usage for HHN, HHR and HEX.
    Module-level so that the same curve can be drawn for any engine's estimates (R's
    ``plot(fit, "detection")`` with ``engine = "secr"``)."""
    d = np.asarray(distances, dtype=float)
    h, _ = hazard(detectfn, d, d * d, params)
    return h if DETECTFNS[detectfn]["hazard"] else -np.expm1(-h)


def detection_probability(detectfn: str, params: dict, xy, traps, usage) -> np.ndarray:
    """p.(x): the probability that an animal centred at each point (x, y) is detected at least
    once by detectors ``traps`` (K x 2) with ``usage`` (K x occasions), the model's usage rule
    (1 - exp(-sum of usage x hazard))."""
    traps = np.asarray(traps, float).reshape(-1, 2)
    U = np.asarray(usage, float).reshape(len(traps), -1).sum(axis=1)
    xy = np.asarray(xy, float).reshape(-1, 2)
    out = np.empty(len(xy))
    for a in range(0, len(xy), 20_000):                      # bounded memory on big masks
        d2 = ((xy[a:a + 20_000, None, :] - traps[None, :, :]) ** 2).sum(-1)
        h, _ = hazard(detectfn, np.sqrt(d2), d2, params)
        out[a:a + 20_000] = -np.expm1(-(h @ U))
    return out


def _json_safe(v):
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v
