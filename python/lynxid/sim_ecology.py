"""The ecology of a simulated survey, without any photo: the camera stations, the animals'
activity centres, and when and where each animal passed a working camera.

``N`` individuals have activity centres spread uniformly over a habitat around the grid of
stations and are detected per day with half-normal probability
``g0 * exp(-d^2 / (2 sigma^2))``; stations have setup/retrieval times and malfunction
periods, and a detection only happens while the camera is working. This is the truth that
capture histories and density estimates are scored against.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from .sim_survey import SurveyConfig

__all__ = ["station_table", "habitat", "individual_ids", "activity_centres", "detection_events",
           "cameras", "cameras_firing", "is_night"]


def station_table(cfg: SurveyConfig, rng: np.random.Generator) -> pd.DataFrame:
    """The camtrapR-style station table: a jittered grid of stations in UTM-like metres, each
    with its setup and retrieval time and, for some, a malfunction period (``Problem1``)."""
    start = datetime.fromisoformat(cfg.start_date)
    rows = []
    k = 0
    x0, y0 = 500_000.0, 5_200_000.0  # looks like UTM metres
    for r in range(cfg.grid_rows):
        for c in range(cfg.grid_cols):
            k += 1
            jit = rng.uniform(-0.1, 0.1, 2) * cfg.spacing_m
            setup = start + timedelta(days=int(rng.integers(0, 3)), hours=float(rng.uniform(9, 16)))
            retr = start + timedelta(days=cfg.n_days + int(rng.integers(0, 3)), hours=float(rng.uniform(9, 16)))
            p_from = p_to = None
            if rng.random() < cfg.malfunction_fraction:
                span = (retr - setup).total_seconds()
                a = setup + timedelta(seconds=span * rng.uniform(0.2, 0.7))
                b = min(retr - timedelta(days=1), a + timedelta(days=float(rng.uniform(3, 12))))
                p_from, p_to = a, b
            rows.append(dict(Station=f"S{k:02d}", utm_x=round(x0 + c * cfg.spacing_m + jit[0], 1),
                             utm_y=round(y0 + r * cfg.spacing_m + jit[1], 1), Setup_date=setup,
                             Retrieval_date=retr, Problem1_from=p_from, Problem1_to=p_to))
    return pd.DataFrame(rows)


def _operating(st: pd.Series, t: datetime) -> bool:
    """Whether the station's camera was working at ``t``."""
    if not (st.Setup_date <= t <= st.Retrieval_date):
        return False
    if st.Problem1_from is not None and not pd.isna(st.Problem1_from) and st.Problem1_from <= t <= st.Problem1_to:
        return False
    return True


def _activity_time(rng) -> float:
    """Hour of day for a lynx detection: mostly crepuscular and nocturnal."""
    u = rng.random()
    if u < 0.4:
        return float(rng.normal(19.5, 2.0)) % 24
    if u < 0.75:
        return float(rng.normal(5.5, 2.0)) % 24
    if u < 0.92:
        return float(rng.uniform(21, 29)) % 24
    return float(rng.uniform(8, 17))


def detection_events(cfg: SurveyConfig, stations: pd.DataFrame, centres: np.ndarray, ids: list,
                     rng: np.random.Generator) -> list:
    """The ecology alone (no photos): per day, individual and station a half-normal detection
    draw, kept only while the station's camera works. Returns sorted
    ``(time, individual, station, u)`` tuples (``u`` picks the flank)."""
    start = datetime.fromisoformat(cfg.start_date)
    last = stations.Retrieval_date.max()
    n_days = (last.date() - start.date()).days + 1
    sxy = stations[["utm_x", "utm_y"]].to_numpy()
    d2 = ((centres[:, None, :] - sxy[None, :, :]) ** 2).sum(-1)
    p = cfg.g0 * np.exp(-d2 / (2 * cfg.sigma_m ** 2))             # individual x station
    hits = rng.random((n_days,) + p.shape) < p[None]               # day x individual x station
    events = []
    for day, i, j in zip(*np.nonzero(hits)):
        hour = _activity_time(rng)
        t = datetime.combine(start.date() + timedelta(days=int(day)), datetime.min.time()) + timedelta(hours=hour)
        t = t.replace(microsecond=0)
        st = stations.iloc[j]
        if not _operating(st, t):
            continue   # the animal passed, but the camera was not there or not working
        events.append((t, ids[i], st.Station, rng.random()))
    events.sort()
    return events


def habitat(stations: pd.DataFrame, sigma_m: float) -> tuple[float, float, float, float]:
    """``(xmin, xmax, ymin, ymax)`` of the area holding activity centres: the station grid with a
    buffer of 2.5 sigma, beyond which an animal is almost never detected."""
    buffer = 2.5 * sigma_m
    return (stations.utm_x.min() - buffer, stations.utm_x.max() + buffer,
            stations.utm_y.min() - buffer, stations.utm_y.max() + buffer)


def individual_ids(n: int) -> list[str]:
    """``L01``, ``L02``, ...: the individuals' names; the first ``n_known`` are in the catalogue."""
    return [f"L{i + 1:02d}" for i in range(n)]


def activity_centres(area: tuple[float, float, float, float], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n x 2`` activity centres, uniform over ``area`` (see :func:`habitat`)."""
    xmin, xmax, ymin, ymax = area
    return np.column_stack([rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n)])


def cameras(cfg: SurveyConfig) -> list[str]:
    """The cameras of each station: a pair across the trail (``A``, ``B``) or one (``A``)."""
    return ["A", "B"] if cfg.paired_cameras else ["A"]


def cameras_firing(cfg: SurveyConfig, u: float, rng: np.random.Generator) -> list[tuple[str, str]]:
    """``(camera, flank)`` for each camera that photographs a passing animal: camera A sees one
    flank (``u`` picks it), its partner across the trail the other; a pair does not always
    fire together (``p_both_cameras``), and then either camera may be the one."""
    flank_a = "left" if u < 0.5 else "right"
    fire = [("A", flank_a)]
    if cfg.paired_cameras and rng.random() < cfg.p_both_cameras:
        fire.append(("B", "right" if flank_a == "left" else "left"))
    elif cfg.paired_cameras and rng.random() < 0.5:
        fire = [("B", "right" if flank_a == "left" else "left")]
    return fire


def is_night(t: datetime) -> bool:
    """Whether the camera takes an infra-red photo at ``t`` (outside 07:00-18:00)."""
    return not (7.0 <= t.hour + t.minute / 60 < 18.0)
