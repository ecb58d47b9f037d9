"""A simulated animal: its identity (coat colour, body proportions, one spot pattern per
flank) and its body drawn in a random gait.

Left and right flanks carry different spot patterns, as on a real lynx, so that matching
has to respect the flank. Everything is drawn from the individual's own seed, so the same
animal looks the same in every photo and in every run. :mod:`lynxid.sim_photo` places the
drawn body in a scene.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["Individual", "make_individual", "draw_sprite", "FLANKS", "SPRITE_W", "SPRITE_H"]

FLANKS = ("left", "right")
TEX_W, TEX_H = 320, 150            # coat texture (body coordinates)
SPRITE_W, SPRITE_H = 440, 300      # canonical sprite, head to the right


@dataclass
class Individual:
    """An animal's identity: coat colour, body proportions and one spot texture per flank."""

    id: str
    base_rgb: tuple[int, int, int]
    body_len: float
    body_h: float
    textures: dict = field(repr=False, default_factory=dict)  # flank -> HxWx3 uint8


def _coat_texture(rng: np.random.Generator, base_rgb) -> np.ndarray:
    """Tawny coat with a dark spot pattern (dots, elongated spots, open rosettes)."""
    base = np.array(base_rgb, np.float32)
    tex = np.empty((TEX_H, TEX_W, 3), np.float32)
    tex[:] = base
    # belly lighter, back darker: vertical shading in body coordinates
    v = np.linspace(-1, 1, TEX_H, dtype=np.float32)[:, None, None]
    tex *= 1.0 - 0.18 * (v < 0) * (-v) + 0.25 * (v > 0.35) * (v - 0.35)
    # fine fur noise
    fur = cv2.resize(rng.normal(0, 1, (TEX_H // 3, TEX_W // 3)).astype(np.float32), (TEX_W, TEX_H))
    tex += 10 * fur[..., None]
    dark = np.array(rng.uniform(25, 55, 3), np.float32) * np.array([1.1, 0.9, 0.7], np.float32)
    n_spots = int(rng.integers(70, 120))
    for _ in range(n_spots):
        cx, cy = rng.uniform(0, TEX_W), rng.uniform(0, TEX_H * 0.9)
        kind = rng.random()
        r = rng.uniform(2.5, 6.5) * (1.0 - 0.35 * cy / TEX_H)
        col = tuple(float(c) for c in dark * rng.uniform(0.8, 1.2))
        if kind < 0.55:        # solid dot
            cv2.ellipse(tex, (int(cx), int(cy)), (int(r + 0.5), int(r * rng.uniform(0.7, 1.0) + 0.5)),
                        float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
        elif kind < 0.8:       # elongated spot
            cv2.ellipse(tex, (int(cx), int(cy)), (int(r * 1.8), int(max(1.5, r * 0.6))),
                        float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
        else:                  # open rosette
            cv2.ellipse(tex, (int(cx), int(cy)), (int(r * 1.5), int(r * 1.2)),
                        float(rng.uniform(0, 180)), float(rng.uniform(0, 90)), float(rng.uniform(220, 320)),
                        col, max(1, int(r / 2.5)), cv2.LINE_AA)
    return np.clip(tex, 0, 255).astype(np.uint8)


def make_individual(ind_id: str, seed_seq: np.random.SeedSequence) -> Individual:
    """The individual ``ind_id``, drawn from its own seed (each flank from a child seed)."""
    rng = np.random.default_rng(seed_seq)
    hue_shift = rng.uniform(-1, 1)
    base = (int(170 + 25 * hue_shift + rng.uniform(-10, 10)),
            int(128 + 15 * hue_shift + rng.uniform(-10, 10)),
            int(85 + rng.uniform(-15, 15)))
    ind = Individual(ind_id, base, body_len=rng.uniform(0.92, 1.08), body_h=rng.uniform(0.9, 1.1))
    for fl, child in zip(FLANKS, seed_seq.spawn(2)):
        ind.textures[fl] = _coat_texture(np.random.default_rng(child), base)
    return ind


def draw_sprite(ind: Individual, flank: str, rng: np.random.Generator) -> np.ndarray:
    """Render the animal in a random gait as RGBA, head to the right, seen from ``flank``."""
    H, W = SPRITE_H, SPRITE_W
    tex = ind.textures[flank]
    rgb = np.zeros((H, W, 3), np.uint8)
    mask = np.zeros((H, W), np.uint8)
    cx, cy = 205, 140
    ax, ay = int(128 * ind.body_len), int(52 * ind.body_h)
    x0, y0 = cx - ax, cy - ay
    bw, bh = 2 * ax, 2 * ay
    coat = cv2.resize(tex, (bw, int(bh * 1.9)), interpolation=cv2.INTER_LINEAR)
    # legs: a quadrilateral each, coat-textured; gait changes their angles
    ground = cy + ay + 95
    hips = [(cx - ax + 40, cy + ay - 25), (cx - ax + 75, cy + ay - 20),
            (cx + ax - 70, cy + ay - 20), (cx + ax - 35, cy + ay - 25)]
    leg_layer = np.zeros((H, W), np.uint8)
    for hx, hy in hips:
        swing = rng.uniform(-28, 28)
        fx = hx + swing
        poly = np.array([[hx - 15, hy], [hx + 15, hy], [fx + 9, ground], [fx - 11, ground]], np.int32)
        cv2.fillConvexPoly(leg_layer, poly, 255, cv2.LINE_AA)
        cv2.ellipse(leg_layer, (int(fx), int(ground)), (13, 6), 0, 0, 360, 255, -1, cv2.LINE_AA)
    body_layer = np.zeros((H, W), np.uint8)
    cv2.ellipse(body_layer, (cx, cy), (ax, ay), 0, 0, 360, 255, -1, cv2.LINE_AA)
    # chest/shoulder bulge and rump
    cv2.ellipse(body_layer, (cx + ax - 30, cy + 5), (45, ay + 4), 0, 0, 360, 255, -1, cv2.LINE_AA)
    cv2.ellipse(body_layer, (cx - ax + 30, cy), (40, ay), 0, 0, 360, 255, -1, cv2.LINE_AA)
    coat_full = np.zeros((H, W, 3), np.uint8)
    y1 = min(H, y0 + coat.shape[0])
    coat_full[y0:y1, x0:x0 + bw] = coat[: y1 - y0]
    # outside the body bbox the legs reuse the coat's lower part (spots continue down the legs)
    lower = cv2.resize(tex[TEX_H // 2:], (W, H - y1 + 1)) if y1 < H else None
    if lower is not None:
        coat_full[y1:] = lower[: H - y1]
    solid = np.maximum(leg_layer, body_layer)
    rgb[:] = coat_full
    mask = solid
    # tail: short, black tip (lynx)
    tail_angle = rng.uniform(-30, 20)
    tx, ty = cx - ax - 2, cy - ay + 25
    ex = int(tx - 45 * math.cos(math.radians(tail_angle)))
    ey = int(ty - 45 * math.sin(math.radians(tail_angle)))
    base_col = tuple(int(c) for c in ind.base_rgb)
    cv2.line(rgb, (tx + 10, ty), (ex, ey), base_col, 16, cv2.LINE_AA)
    cv2.line(mask, (tx + 10, ty), (ex, ey), 255, 16, cv2.LINE_AA)
    cv2.circle(rgb, (ex, ey), 9, (20, 18, 15), -1, cv2.LINE_AA)
    cv2.circle(mask, (ex, ey), 9, 255, -1, cv2.LINE_AA)
    # head with ruff, ears with black tufts
    head_dy = rng.uniform(-15, 25)
    hx, hy = cx + ax + 22, int(cy - ay + 10 + head_dy)
    face = tuple(int(min(255, c * 1.15)) for c in ind.base_rgb)
    cv2.ellipse(rgb, (hx, hy), (44, 40), 0, 0, 360, face, -1, cv2.LINE_AA)
    cv2.ellipse(mask, (hx, hy), (44, 40), 0, 0, 360, 255, -1, cv2.LINE_AA)
    neck = np.array([[cx + ax - 40, cy - ay + 5], [hx - 10, hy - 25], [hx - 5, hy + 35], [cx + ax - 20, cy + 20]], np.int32)
    cv2.fillConvexPoly(rgb, neck, tuple(int(c) for c in coat_full[cy - 10, cx + ax - 30]), cv2.LINE_AA)
    cv2.fillConvexPoly(mask, neck, 255, cv2.LINE_AA)
    for ex_off in (-18, 12):
        ear = np.array([[hx + ex_off - 12, hy - 28], [hx + ex_off + 12, hy - 30], [hx + ex_off + 2, hy - 68]], np.int32)
        cv2.fillConvexPoly(rgb, ear, tuple(int(c * 0.8) for c in ind.base_rgb), cv2.LINE_AA)
        cv2.fillConvexPoly(mask, ear, 255, cv2.LINE_AA)
        cv2.line(rgb, (hx + ex_off + 2, hy - 66), (hx + ex_off + 3, hy - 84), (15, 15, 15), 4, cv2.LINE_AA)
        cv2.line(mask, (hx + ex_off + 2, hy - 66), (hx + ex_off + 3, hy - 84), 255, 4, cv2.LINE_AA)
    # facial ruff, eye, nose
    cv2.ellipse(rgb, (hx + 10, hy + 18), (34, 18), 0, 0, 180, (235, 228, 215), -1, cv2.LINE_AA)
    cv2.circle(rgb, (hx + 22, hy - 6), 5, (30, 40, 20), -1, cv2.LINE_AA)
    cv2.circle(rgb, (hx + 40, hy + 8), 5, (40, 25, 25), -1, cv2.LINE_AA)
    # shade the whole animal (light from above) so it is not flat
    shade = np.linspace(1.08, 0.8, H, dtype=np.float32)[:, None, None]
    rgb = np.clip(rgb.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    # small smooth non-rigid deformation: breathing, muscles, skin folds
    dx = cv2.resize(rng.normal(0, 1, (4, 6)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC) * 3.0
    dy = cv2.resize(rng.normal(0, 1, (4, 6)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC) * 3.0
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    rgb = cv2.remap(rgb, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.remap(mask, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return np.dstack([rgb, mask])
