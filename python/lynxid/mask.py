"""The habitat mask of a spatial capture-recapture fit: the grid of points where an animal's
home-range centre may lie.

The full likelihood integrates over where each animal lives; like secr, lynxid replaces the
integral by a sum over the cells of a regular grid, each of area ``spacing**2``. Where that
grid stops matters: cut it too close to the detectors and animals living just outside are
left out of the population the detections come from, so the density comes out too high
(:func:`lynxid.density.fit_density` checks this after the fit).

:func:`make_mask` builds the grid the way secr's ``make.mask(traps, buffer, spacing,
type = "trapbuffer")`` does, so the same traps, buffer and spacing give the same points:
a rectangle around the detectors extended by ``buffer`` on each side, divided into
``nx`` columns unless ``spacing`` is given, cell centres starting half a cell in from the
lower-left corner, and only the centres within ``buffer`` of at least one detector kept.
``poly`` further keeps the cells whose centre lies inside a habitat polygon (secr's
``poly``, ``cell.overlap = "centre"``). :meth:`Mask.from_points` takes a mask made elsewhere
(secr's own, or one from a GIS).

Coordinates are in metres and areas in hectares, as in secr.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Mask", "make_mask", "read_mask", "distance_to_traps"]

HECTARE = 10_000.0          # square metres per hectare


@dataclass
class Mask:
    """Grid points (cell centres, metres) and the grid spacing.

    ``buffer`` is the distance from the detectors used to build the mask (``None`` for a
    supplied mask); ``kind`` says how it was made (``"trapbuffer"`` or ``"supplied"``).
    """

    x: np.ndarray
    y: np.ndarray
    spacing: float
    buffer: float | None = None
    kind: str = "supplied"

    def __post_init__(self):
        self.x = np.asarray(self.x, dtype=float).ravel()
        self.y = np.asarray(self.y, dtype=float).ravel()
        if self.x.shape != self.y.shape:
            raise ValueError(f"mask x and y differ in length ({self.x.size} and {self.y.size})")
        if not (np.all(np.isfinite(self.x)) and np.all(np.isfinite(self.y))):
            raise ValueError("mask coordinates must be finite numbers (found NaN or infinity)")
        if not (np.isfinite(self.spacing) and self.spacing > 0):
            raise ValueError(f"mask spacing must be a positive number, not {self.spacing!r}")
        self.spacing = float(self.spacing)

    def __len__(self) -> int:
        return int(self.x.size)

    @property
    def xy(self) -> np.ndarray:
        """Points as an ``(M, 2)`` array."""
        return np.column_stack([self.x, self.y])

    @property
    def cell_area(self) -> float:
        """Area of one cell in hectares (secr's ``attr(mask, "area")``)."""
        return self.spacing ** 2 / HECTARE

    @property
    def area(self) -> float:
        """Total area of the mask in hectares."""
        return self.cell_area * len(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"x": self.x, "y": self.y})

    def to_dict(self) -> dict:
        return {"x": self.x.tolist(), "y": self.y.tolist(), "spacing": self.spacing,
                "buffer": self.buffer, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict) -> "Mask":
        return cls(np.asarray(d["x"]), np.asarray(d["y"]), d["spacing"], d.get("buffer"),
                   d.get("kind", "supplied"))

    @classmethod
    def from_points(cls, points, spacing: float | None = None) -> "Mask":
        """A mask from given cell centres: a DataFrame with ``x`` and ``y`` columns or an
        ``(M, 2)`` array. Without ``spacing`` the grid spacing is read off the points (the
        smallest gap between distinct x, and between distinct y, which must agree)."""
        if isinstance(points, pd.DataFrame):
            cols = {c.lower(): c for c in points.columns}
            if "x" not in cols or "y" not in cols:
                raise ValueError(f"a mask table needs columns x and y; it has {list(points.columns)}")
            x, y = points[cols["x"]].to_numpy(float), points[cols["y"]].to_numpy(float)
        else:
            arr = np.asarray(points, dtype=float)
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError(f"mask points must be an (M, 2) array of x, y; got shape {arr.shape}")
            x, y = arr[:, 0], arr[:, 1]
        if x.size == 0:
            raise ValueError("the mask has no points: an empty mask leaves nowhere for animals to live")
        if spacing is None:
            spacing = _grid_spacing(x, y)
        return cls(x, y, spacing, None, "supplied")


def _grid_spacing(x: np.ndarray, y: np.ndarray) -> float:
    gaps = []
    for v in (x, y):
        u = np.unique(v)
        if u.size > 1:
            d = np.diff(u)
            gaps.append(d[d > 1e-9 * max(1.0, float(np.abs(u).max()))].min())
    if not gaps:
        raise ValueError("cannot read the grid spacing off a mask with a single point: give spacing=")
    if len(gaps) == 2 and abs(gaps[0] - gaps[1]) > 1e-6 * max(gaps):
        raise ValueError(f"the mask's x gap ({gaps[0]:g}) and y gap ({gaps[1]:g}) differ: not a square grid, "
                         "give spacing= (the cell side in metres)")
    return float(min(gaps))


def read_mask(path, spacing: float | None = None) -> Mask:
    """A mask from a CSV file with columns x and y (e.g. secr's mask written with
    ``write.csv``); ``spacing`` as in :meth:`Mask.from_points`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"mask file not found: {path}")
    return Mask.from_points(pd.read_csv(path), spacing)


def distance_to_traps(points: np.ndarray, traps: np.ndarray, chunk: int = 20_000) -> np.ndarray:
    """Distance (m) from each point to its nearest detector (secr's ``distancetotrap``)."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    traps = np.asarray(traps, dtype=float).reshape(-1, 2)
    out = np.empty(len(points))
    for a in range(0, len(points), chunk):
        p = points[a:a + chunk]
        d2 = ((p[:, None, :] - traps[None, :, :]) ** 2).sum(-1)
        out[a:a + chunk] = np.sqrt(d2.min(axis=1))
    return out


def _r_seq(start: float, stop: float, step: float) -> np.ndarray:
    """R's ``seq(start, stop, step)``: values up to ``stop`` allowing R's 1e-10 fuzz."""
    n = int(np.floor((stop - start) / step + 1e-10)) + 1
    return start + step * np.arange(max(n, 0))


def make_mask(traps, buffer: float, spacing: float | None = None, nx: int = 64, poly=None) -> Mask:
    """Mask of the cells within ``buffer`` metres of any detector, as secr's
    ``make.mask(traps, buffer, spacing, nx, type = "trapbuffer", poly)`` builds it.

    ``traps``: an ``(K, 2)`` array or a DataFrame with ``x``, ``y``. Without ``spacing`` the
    cell side is the width of the trap rectangle plus two buffers divided by ``nx`` (secr's
    default, 64 cells across). ``poly``: an ``(V, 2)`` array of polygon vertices (or a list of
    such arrays, any of which is habitat); cells whose centre lies outside are dropped.
    """
    xy = _trap_xy(traps)
    if not (np.isfinite(buffer) and buffer > 0):
        raise ValueError(f"buffer must be a positive distance in metres, not {buffer!r}")
    xl = (xy[:, 0].min() - buffer, xy[:, 0].max() + buffer)
    yl = (xy[:, 1].min() - buffer, xy[:, 1].max() + buffer)
    if spacing is None:
        spacing = (xl[1] - xl[0]) / nx
    if not (np.isfinite(spacing) and spacing > 0):
        raise ValueError(f"spacing must be a positive distance in metres, not {spacing!r}")
    gx = _r_seq(xl[0] + spacing / 2, xl[1], spacing)
    gy = _r_seq(yl[0] + spacing / 2, yl[1], spacing)
    px, py = np.meshgrid(gx, gy)              # x varies fastest, as R's expand.grid
    px, py = px.ravel(), py.ravel()
    keep = distance_to_traps(np.column_stack([px, py]), xy) <= buffer
    if poly is not None:
        keep &= points_in_polygons(px, py, poly)
    if not keep.any():
        raise ValueError(f"the mask has no points: none of the grid cells (spacing {spacing:g} m) lies within "
                         f"buffer {buffer:g} m of a detector" + (" and inside the habitat polygon" if poly is not None
                                                                 else ""))
    return Mask(px[keep], py[keep], spacing, float(buffer), "trapbuffer")


def _trap_xy(traps) -> np.ndarray:
    if isinstance(traps, pd.DataFrame):
        cols = {c.lower(): c for c in traps.columns}
        if "x" not in cols or "y" not in cols:
            raise ValueError(f"the trap table needs columns x and y; it has {list(traps.columns)}")
        xy = traps[[cols["x"], cols["y"]]].to_numpy(float)
    else:
        xy = np.asarray(traps, dtype=float).reshape(-1, 2)
    if len(xy) == 0:
        raise ValueError("no detectors: a mask is built around the detectors, and there are none")
    if not np.all(np.isfinite(xy)):
        raise ValueError("detector coordinates must be finite numbers (found NaN or infinity)")
    return xy


def points_in_polygons(x: np.ndarray, y: np.ndarray, poly) -> np.ndarray:
    """Whether each point lies inside any of the polygons (even-odd rule; a polygon is an
    ``(V, 2)`` array of vertices, closed or not)."""
    try:
        arr = np.asarray(poly, dtype=float)
    except ValueError:                        # ragged: a list of polygons of different sizes
        arr = None
    polys = [arr] if arr is not None and arr.ndim == 2 else list(poly)
    inside = np.zeros(np.size(x), dtype=bool)
    for p in polys:
        v = np.asarray(p, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
            raise ValueError("a habitat polygon must be an (V, 2) array of at least 3 vertices")
        inside |= _even_odd(np.asarray(x, float), np.asarray(y, float), v)
    return inside


def _even_odd(x, y, v):
    x0, y0 = v[:, 0], v[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    res = np.zeros(x.size, dtype=bool)
    for a, b, c, d in zip(x0, y0, x1, y1):
        crosses = (b > y) != (d > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = a + (y - b) * (c - a) / (d - b)
        res ^= crosses & (x < xc)
    return res
