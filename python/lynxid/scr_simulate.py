"""Simulate spatial capture-recapture surveys straight from the model the density fit
assumes: Poisson activity centres at density D in a rectangle around the detectors, and
detections from the same cumulative hazard (:func:`lynxid.scr_likelihood.hazard`) with the
same usage rules (proximity: Bernoulli 1 - exp(-T h); count: Poisson T h).

This is how the fit is checked beyond agreeing with secr: data simulated with known D must
give estimates that are unbiased and intervals that cover D 95 % of the time
(``benchmarks/density_simulation.py``), and the tests fit small simulated surveys.
It is secr's ``sim.popn`` + ``sim.capthist`` for these detectors, without the images of
:mod:`lynxid.simulate`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .mask import HECTARE
from .scr_data import SCRData, build_session
from .scr_likelihood import DETECTFNS, hazard

__all__ = ["simulate_scr", "trap_grid"]


def trap_grid(nx: int, ny: int, spacing: float, origin=(0.0, 0.0)) -> np.ndarray:
    """Detector coordinates of an ``nx`` x ``ny`` grid (x varying fastest, as secr's
    ``make.grid``)."""
    gx, gy = np.meshgrid(origin[0] + spacing * np.arange(nx), origin[1] + spacing * np.arange(ny))
    return np.column_stack([gx.ravel(), gy.ravel()])


def simulate_scr(traps, usage, D: float, detectfn: str, params: dict, buffer: float,
                 detector: str = "proximity", seed=None, session: str = "1"):
    """One simulated session.

    traps : ``(K, 2)`` detector coordinates (m); usage : ``(K, S)`` effort per occasion (or
    an int S: every detector works on every occasion); D : animals per hectare; params :
    ``g0`` or ``lambda0``, ``sigma`` (and ``z``); buffer : the population lives in the
    detectors' bounding box extended by ``buffer`` (secr's ``sim.popn`` default region).

    Returns ``(SCRData, truth)``; truth has N (animals in the region), the region's area (ha)
    and the activity centres.
    """
    if detectfn not in DETECTFNS:
        raise ValueError(f"detectfn must be one of {', '.join(DETECTFNS)}, not {detectfn!r}")
    rng = np.random.default_rng(seed)
    traps = np.asarray(traps, dtype=float).reshape(-1, 2)
    usage = np.ones((len(traps), int(usage))) if np.ndim(usage) == 0 else np.asarray(usage, dtype=float)
    lo, hi = traps.min(0) - buffer, traps.max(0) + buffer
    area = float(np.prod(hi - lo)) / HECTARE
    N = int(rng.poisson(D * area))
    centres = lo + (hi - lo) * rng.random((N, 2))
    d2 = ((centres[:, None, :] - traps[None, :, :]) ** 2).sum(-1)
    h, _ = hazard(detectfn, np.sqrt(d2), d2, params)                    # N x K
    rate = h[:, :, None] * usage[None, :, :]                            # N x K x S
    if detector == "proximity":
        y = (rng.random(rate.shape) < -np.expm1(-rate)).astype(int)
    elif detector == "count":
        y = rng.poisson(rate)
    else:
        raise ValueError(f"detector must be 'proximity' or 'count', not {detector!r}")
    i, k, s = np.nonzero(y)
    det = pd.DataFrame({"animal": (i + 1).astype(str), "occasion": s + 1, "trap": (k + 1).astype(str),
                        "count": y[i, k, s]})
    sess = build_session(session, [str(j + 1) for j in range(len(traps))], traps, usage, det, detector)
    return SCRData([sess], detector), dict(N=N, area=area, D=D, centres=centres)
