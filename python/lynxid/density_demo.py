"""The demo's last step: the density estimate from the simulated survey's capture history,
set beside the density the simulator actually used.

The truth, honestly: :func:`lynxid.simulate.simulate_survey` places exactly
``n_individuals`` activity centres uniformly in a rectangle (the stations' bounding box
extended by 2.5 sigma; ``habitat`` in ``survey.json``) and none outside it. So the true
density is ``n_individuals / area of that rectangle``, and the fit that matches the
simulation is one whose habitat mask is that rectangle: homogeneous density inside, nothing
outside. A mask built with a buffer around the stations would not do: 2.5 sigma is too
close for animals beyond it to be undetectable, and a circular trap buffer covers a
different area, so the estimate would refer to another region than the truth does.

The detection model that matches the simulator is HN: each animal is detected at a working
station on a day with probability g0 exp(-d^2 / 2 sigma^2), and the capture history's usage
counts days, so an occasion's detection probability is 1 - (1 - g)^usage -- lynxid's model.
The simulator fixes N (not Poisson), so the Poisson model's interval is a little wider than
the spread of estimates around N / area: slightly conservative, never too narrow.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from .density import fit_density
from .density_result import PER_100KM2
from .mask import HECTARE, Mask

__all__ = ["demo_density", "demo_density_imputed", "density_line", "imputed_line", "habitat_mask"]

MASK_CELLS_ACROSS = 64          # the demo's habitat grid: cells along the longer side


def habitat_mask(habitat, cells_across: int = MASK_CELLS_ACROSS) -> Mask:
    """A mask tiling the rectangle ``habitat = (xmin, xmax, ymin, ymax)`` with square cells:
    ``cells_across`` along the longer side, the shorter side rounded to whole cells (the
    mask's area is within half a cell row of the rectangle's)."""
    xmin, xmax, ymin, ymax = (float(v) for v in habitat)
    w, h = xmax - xmin, ymax - ymin
    if not (w > 0 and h > 0):
        raise ValueError(f"the habitat rectangle must have a positive width and height, not {habitat}")
    s = max(w, h) / cells_across
    nx, ny = max(1, round(w / s)), max(1, round(h / s))
    gx = xmin + (w - nx * s) / 2 + s * (np.arange(nx) + 0.5)
    gy = ymin + (h - ny * s) / 2 + s * (np.arange(ny) + 0.5)
    px, py = np.meshgrid(gx, gy)
    return Mask(px.ravel(), py.ravel(), s, None, "supplied")


def demo_density(ch, survey, detectfn: str = "HN") -> dict:
    """Fit the demo's capture history over the simulator's habitat and set the estimate
    beside the truth: ``{"density": {estimate, SE, lcl, ucl (per 100 km^2), truth, ...}}``.

    ``ch``: the :class:`~lynxid.capture.CaptureHistory` (or SCRData) built from the
    identified photos; ``survey``: the :class:`~lynxid.simulate.SimulatedSurvey` or its
    folder (``survey.json`` holds the habitat and the number of animals). A capture history
    the model cannot be fitted to (no recaptures, say) gives ``error`` instead of estimates:
    the demo reports it rather than stopping.
    """
    meta = _survey_meta(survey)
    xmin, xmax, ymin, ymax = meta["habitat"]
    area_ha = (xmax - xmin) * (ymax - ymin) / HECTARE
    n_true = int(meta["config"]["n_individuals"])
    out = {"unit": "animals per 100 km2", "detectfn": detectfn, "truth": n_true / area_ha * PER_100KM2,
           "truth_individuals": n_true, "habitat_km2": area_ha / 100, "habitat": [xmin, xmax, ymin, ymax]}
    if meta["config"].get("max_detections") is not None:
        out["note"] = ("the simulation kept only the first max_detections passages, so fewer animals were "
                       "detected than the population holds: the estimate is biased low")
    mask = habitat_mask(meta["habitat"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = fit_density(ch, detectfn, mask=mask, check_buffer=False)
        except ValueError as exc:
            return {"density": dict(out, error=str(exc))}
    est = fit.estimates_dict()
    out.update({k: est["D_100km2"][k] for k in ("estimate", "SE", "lcl", "ucl")})
    out.update(animals_detected=fit.n, mask_km2=mask.area / 100, converged=bool(fit.convergence["converged"]),
               logLik=fit.logLik, AIC=fit.AIC, warnings=[str(w.message) for w in caught],
               parameters={p: est[p] for p in fit.det_names + ["EN"]})
    return {"density": _finite(out)}


def demo_density_imputed(results, survey, stations, imputations: int = 50, detectfn: str = "HN", seed: int = 0,
                         **capture) -> dict:
    """The demo's density with identification error included (``density_imputation``): K
    draws of the identities from identify's probabilities, each fitted over the simulator's
    habitat as :func:`demo_density` fits the hard calls, combined by Rubin's rules. Returns
    the ``identification_error_included`` entry of the demo's ``density`` (estimate, lcl,
    ucl, the interval if identities were certain, the share of variance due to
    identification, animals detected per draw, the first units to review), or ``error``."""
    from .density_imputation import fit_density_imputed
    meta = _survey_meta(survey)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = fit_density_imputed(results, stations, imputations, detectfn=detectfn, mask=habitat_mask(meta["habitat"]),
                                    seed=seed, progress=False, **capture)
    except ValueError as exc:
        return {"error": str(exc)}
    e = r.estimates.iloc[0]
    review = r.review.head(5) if r.review is not None else None
    return _finite({"estimate": float(e["estimate"]), "SE": float(e["SE"]), "lcl": float(e["lcl"]),
                    "ucl": float(e["ucl"]), "lcl_ids_certain": float(e["lcl_ids_certain"]),
                    "ucl_ids_certain": float(e["ucl_ids_certain"]),
                    "share_identification": float(e["share_identification"]), "imputations": int(imputations),
                    "draws_fitted": int(e["draws"]), "animals_detected": r.animals_detected(),
                    "review_first": [] if review is None else review[["event_id", "individual_id", "probability",
                                                                      "share_reduction"]].to_dict("records")})


def imputed_line(d: dict) -> str:
    """The demo's line for the density with identification error included."""
    if "error" in d:
        return f"not estimable with identification error ({d['error']})"
    return (f"{d['estimate']:#.3g} per 100 km² (95 % CI {d['lcl']:#.3g}–{d['ucl']:#.3g}; "
            f"{d['lcl_ids_certain']:#.3g}–{d['ucl_ids_certain']:#.3g} if the IDs were certain); "
            f"{100 * d['share_identification']:.0f} % of the variance from identification, {d['imputations']} draws")


def density_line(d: dict) -> str:
    """``X per 100 km² (95 % CI a–b); truth Y`` for the demo's summary (``d``: the
    ``density`` entry of :func:`demo_density`)."""
    truth = f"truth {d['truth']:#.3g}"
    if "error" in d:
        return f"not estimable ({d['error']}); {truth}"
    line = f"{d['estimate']:#.3g} per 100 km² (95 % CI {d['lcl']:#.3g}–{d['ucl']:#.3g}); {truth}"
    return line if d.get("converged", True) else line + " (the fit did not converge)"


def _survey_meta(survey) -> dict:
    from . import storage
    root = Path(survey) if isinstance(survey, (str, Path)) else Path(survey.root)
    path = root / "survey.json"
    if not path.exists():
        raise FileNotFoundError(f"survey.json not found in {root}: give the folder simulate_survey wrote")
    meta = storage.read_json(path)
    if "habitat" not in meta or "n_individuals" not in meta.get("config", {}):
        raise ValueError(f"{path} lacks the habitat rectangle or n_individuals (written by an older lynxid?)")
    return meta


def _finite(v):
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
