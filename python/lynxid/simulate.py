"""Simulate a camera-trap survey of individually marked cats, with rendered photos.

This is the project's own example data, demo and test fixture. It simulates the two halves
of a real survey:

* the *ecology*: ``N`` individuals with activity centres in a habitat around a grid of camera
  stations, detected per day with half-normal probability ``g0 * exp(-d^2 / (2 sigma^2))``;
  stations have setup/retrieval times and malfunction periods, and a detection only happens
  while the camera is working;
* the *photographs*: every detection becomes a burst of JPEGs rendered from the individual's
  own coat pattern (a spot pattern per individual and per flank -- left and right differ, as
  on a real lynx), in a random pose, scale, lighting (day colour or night infra-red), blur and
  partial occlusion, in front of the station's own cluttered scene. The files carry EXIF
  ``DateTimeOriginal`` and sit in camtrapR's ``station/camera/`` folders.

Everything is deterministic from ``seed``. Alongside the images it writes the truth
(individuals, activity centres, detections with boxes, events), a camtrapR-style station
table, MegaDetector-style box files and a labelled reference catalogue of the individuals
"known from an earlier season".
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from . import storage

__all__ = ["SurveyConfig", "SimulatedSurvey", "simulate_survey", "render_individual_image",
           "Individual"]

FLANKS = ("left", "right")
IMAGE_TRUTH_COLUMNS = ["file", "station", "camera", "timestamp", "individual", "flank", "event", "night",
                       "bbox_x", "bbox_y", "bbox_w", "bbox_h", "in_catalogue"]
CATALOGUE_TRUTH_COLUMNS = ["file", "individual", "flank", "sighting", "bbox_x", "bbox_y", "bbox_w", "bbox_h"]


@dataclass
class SurveyConfig:
    """Parameters of a simulated survey (defaults: a small, quick lynx survey)."""

    n_individuals: int = 12
    n_known: int = 8                 # individuals already in the reference catalogue
    grid_rows: int = 3
    grid_cols: int = 4
    spacing_m: float = 2500.0        # distance between neighbouring stations
    sigma_m: float = 2000.0          # half-normal scale of detection with distance
    g0: float = 0.12                 # daily detection probability at the activity centre
    n_days: int = 40                 # nominal days of operation per station
    start_date: str = "2025-02-01"
    utc_offset: str = "+01:00"       # camera clocks (written to EXIF OffsetTimeOriginal)
    malfunction_fraction: float = 0.25   # share of stations with a malfunction period
    paired_cameras: bool = True      # two cameras per station, one per flank
    p_both_cameras: float = 0.75     # chance that both cameras of a pair fire
    burst: tuple[int, int] = (1, 3)  # images per camera per event
    image_size: tuple[int, int] = (960, 720)
    catalogue_images_per_flank: int = 3   # earlier sightings per known individual, both flanks each
    inject_bad_files: bool = True    # add a zero-byte, a truncated, a non-image and an EXIF-less file
    max_detections: int | None = None  # cap (keeps tests fast); extra detections are dropped from truth too
    seed: int = 1

    def __post_init__(self):
        if self.n_known > self.n_individuals:
            raise ValueError("n_known cannot exceed n_individuals")
        if self.grid_rows < 1 or self.grid_cols < 1:
            raise ValueError("the station grid needs at least one row and one column")


# --------------------------------------------------------------------------------------
# Appearance
# --------------------------------------------------------------------------------------
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
    rng = np.random.default_rng(seed_seq)
    hue_shift = rng.uniform(-1, 1)
    base = (int(170 + 25 * hue_shift + rng.uniform(-10, 10)),
            int(128 + 15 * hue_shift + rng.uniform(-10, 10)),
            int(85 + rng.uniform(-15, 15)))
    ind = Individual(ind_id, base, body_len=rng.uniform(0.92, 1.08), body_h=rng.uniform(0.9, 1.1))
    for fl, child in zip(FLANKS, seed_seq.spawn(2)):
        ind.textures[fl] = _coat_texture(np.random.default_rng(child), base)
    return ind


def _sprite(ind: Individual, flank: str, rng: np.random.Generator) -> np.ndarray:
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


# --------------------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------------------
def _noise(rng, h, w, cells, amp):
    small = rng.normal(0, 1, (max(2, h // cells), max(2, w // cells))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * amp


def make_scene(seed_seq: np.random.SeedSequence, size: tuple[int, int]) -> np.ndarray:
    """A station's view: forest floor, trunks, rocks and grass. Fixed per station."""
    rng = np.random.default_rng(seed_seq)
    W, H = size
    img = np.zeros((H, W, 3), np.float32)
    horizon = int(H * rng.uniform(0.3, 0.45))
    far = np.array([rng.uniform(60, 110), rng.uniform(80, 130), rng.uniform(50, 90)], np.float32)
    ground = np.array([rng.uniform(90, 140), rng.uniform(80, 120), rng.uniform(55, 85)], np.float32)
    t = np.clip((np.arange(H, dtype=np.float32) - horizon) / (H - horizon), 0, 1)[:, None, None]
    img[:] = far * (1 - t) + ground * t
    img += _noise(rng, H, W, 60, 18)[..., None]
    img += _noise(rng, H, W, 8, 10)[..., None]
    for _ in range(int(rng.integers(2, 7))):   # tree trunks
        x = int(rng.uniform(0, W))
        w = int(rng.uniform(0.02, 0.08) * W)
        col = np.array([rng.uniform(50, 90), rng.uniform(40, 70), rng.uniform(30, 50)], np.float32)
        bottom = int(horizon + rng.uniform(0.05, 0.35) * H)
        bark = _noise(rng, bottom, w, 3, 15)[..., None]
        x1 = min(W, x + w)
        img[:bottom, x:x1] = col + bark[:, : x1 - x]
    for _ in range(int(rng.integers(3, 9))):   # rocks
        c = (int(rng.uniform(0, W)), int(rng.uniform(horizon + 0.2 * H, H)))
        ax = (int(rng.uniform(0.03, 0.1) * W), int(rng.uniform(0.02, 0.05) * H))
        g = rng.uniform(90, 160)
        cv2.ellipse(img, c, ax, float(rng.uniform(-20, 20)), 0, 360, (g, g * 0.97, g * 0.92), -1, cv2.LINE_AA)
    for _ in range(int(W * 0.6)):              # grass blades and twigs
        x = rng.uniform(0, W)
        y = rng.uniform(horizon, H)
        L = rng.uniform(8, 40)
        a = rng.uniform(-0.6, 0.6)
        col = (rng.uniform(60, 130), rng.uniform(80, 150), rng.uniform(30, 70))
        cv2.line(img, (int(x), int(y)), (int(x + L * math.sin(a)), int(y - L * math.cos(a))), col, 1, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def _occluders(rng, H, W, box):
    """Grass and twigs in front of the animal: a list of lines (drawn after compositing)."""
    x0, y0, x1, y1 = box
    lines = []
    n = int(rng.integers(0, 40))
    for _ in range(n):
        x = rng.uniform(x0 - 20, x1 + 20)
        y = rng.uniform(y0 + 0.55 * (y1 - y0), y1 + 10)
        L = rng.uniform(20, 0.6 * (y1 - y0) + 25)
        a = rng.uniform(-0.5, 0.5)
        lines.append(((int(x), int(y)), (int(x + L * math.sin(a)), int(y - L * math.cos(a))),
                      (rng.uniform(60, 130), rng.uniform(90, 160), rng.uniform(30, 70)), int(rng.integers(1, 4))))
    if rng.random() < 0.25:   # a branch across the animal
        y = rng.uniform(y0, y1)
        lines.append(((int(x0 - 30), int(y)), (int(x1 + 30), int(y + rng.uniform(-60, 60))),
                      (70, 55, 40), int(rng.integers(4, 10))))
    return lines


def render_individual_image(ind: Individual, flank: str, scene: np.ndarray, rng: np.random.Generator,
                            night: bool = False) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Composite one photo of ``ind`` showing ``flank`` onto ``scene``.

    Returns the RGB image and the animal's bounding box as normalised ``[x, y, w, h]``
    (MegaDetector's convention).
    """
    H, W = scene.shape[:2]
    sprite = _sprite(ind, flank, rng)
    if flank == "left":      # a left flank faces the camera when the head points left
        sprite = sprite[:, ::-1].copy()
    target_w = rng.uniform(0.28, 0.55) * W
    s = target_w / SPRITE_W
    # pose: scale, small rotation, foreshortening (yaw) and shear, as one homography
    ang = math.radians(rng.uniform(-7, 7))
    yaw = rng.uniform(0.82, 1.0)
    shear = rng.uniform(-0.08, 0.08)
    A = np.array([[s * yaw * math.cos(ang), -s * math.sin(ang) + shear * s, 0],
                  [s * yaw * math.sin(ang), s * math.cos(ang), 0],
                  # perspective: up to 20 % foreshortening across the sprite, whatever the image
                  # size (a term divided by the scale blew up in small images)
                  [rng.uniform(-0.2, 0.2) / SPRITE_W, 0, 1]], np.float64)
    corners = np.array([[0, 0, 1], [SPRITE_W, 0, 1], [SPRITE_W, SPRITE_H, 1], [0, SPRITE_H, 1]], np.float64).T
    pc = A @ corners
    pc = pc[:2] / pc[2]
    w_out, h_out = pc[0].max() - pc[0].min(), pc[1].max() - pc[1].min()
    ox = rng.uniform(-0.1 * w_out, W - 0.9 * w_out) - pc[0].min()
    oy = rng.uniform(0.38 * H, max(0.4 * H, H - h_out * 0.95)) - pc[1].min()
    T = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]], np.float64) @ A
    warped = cv2.warpPerspective(sprite, T, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = warped[..., 3:4].astype(np.float32) / 255.0
    img = scene.astype(np.float32)
    ys, xs = np.nonzero(warped[..., 3] > 64)
    if len(xs) == 0:
        raise RuntimeError("animal rendered outside the frame")
    box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    # ground shadow
    sh = np.zeros((H, W), np.float32)
    cv2.ellipse(sh, (int((box[0] + box[2]) / 2), int(box[3] - 3)), (int((box[2] - box[0]) * 0.45), 10), 0, 0, 360, 1.0, -1)
    sh = cv2.GaussianBlur(sh, (0, 0), 6)
    img *= (1 - 0.35 * sh)[..., None]
    img = img * (1 - alpha) + warped[..., :3].astype(np.float32) * alpha
    for p0, p1, col, th in _occluders(rng, H, W, box):
        cv2.line(img, p0, p1, col, th, cv2.LINE_AA)
    # light
    if night:
        gray = img @ np.array([0.33, 0.42, 0.25], np.float32)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        r = np.hypot((xx - W / 2) / W, (yy - H / 2) / H)
        gray = gray * np.clip(1.25 - 1.3 * r, 0.25, 1.2) * rng.uniform(0.8, 1.15)
        img = np.repeat(gray[..., None], 3, axis=2)
        noise_sd = rng.uniform(4, 9)
    else:
        gain = rng.uniform(0.75, 1.2)
        cast = np.array([rng.uniform(0.93, 1.07), 1.0, rng.uniform(0.9, 1.08)], np.float32)
        img = (img - 128) * rng.uniform(0.85, 1.15) + 128
        img = img * gain * cast
        noise_sd = rng.uniform(1.5, 4)
    blur = rng.uniform(0, 1.4)
    if blur > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    if rng.random() < 0.15:   # motion blur from a walking animal at slow shutter
        k = int(rng.integers(5, 11))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2] = 1.0 / k
        img = cv2.filter2D(img, -1, kern)
    img = img + rng.normal(0, noise_sd, img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    bx = (box[0] / W, box[1] / H, (box[2] - box[0]) / W, (box[3] - box[1]) / H)
    bx = tuple(float(np.clip(v, 0, 1)) for v in bx)
    return out, bx


def _jpeg_bytes(img: np.ndarray, when: datetime | None, utc_offset: str | None, quality: int,
                make: str = "lynxid-sim", model: str = "SimCam 1") -> bytes:
    """Encode as JPEG with EXIF DateTimeOriginal (and OffsetTimeOriginal) like a trail camera."""
    im = Image.fromarray(img)
    buf = io.BytesIO()
    if when is None:
        im.save(buf, "JPEG", quality=quality)
        return buf.getvalue()
    exif = Image.Exif()
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0132] = stamp
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = stamp        # DateTimeOriginal
    ifd[0x9004] = stamp        # DateTimeDigitized
    if utc_offset:
        ifd[0x9011] = utc_offset   # OffsetTimeOriginal
    im.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


# --------------------------------------------------------------------------------------
# The survey
# --------------------------------------------------------------------------------------
@dataclass
class SimulatedSurvey:
    """Paths and tables of a simulated survey on disk."""

    root: Path
    config: SurveyConfig

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def catalogue_images(self) -> Path:
        return self.root / "catalogue"

    @property
    def stations_csv(self) -> Path:
        return self.root / "stations.csv"

    @property
    def megadetector_json(self) -> Path:
        return self.root / "megadetector.json"

    @property
    def catalogue_megadetector_json(self) -> Path:
        return self.root / "catalogue_megadetector.json"

    def truth(self, name: str) -> pd.DataFrame:
        """One of the truth tables: ``individuals``, ``detections``, ``images`` or ``bad_files``."""
        return storage.read_table(self.root / "truth" / f"{name}.csv")

    @classmethod
    def load(cls, root) -> "SimulatedSurvey":
        root = Path(root)
        meta = storage.read_json(root / "survey.json")
        cfg = meta["config"]
        cfg["burst"] = tuple(cfg["burst"])
        cfg["image_size"] = tuple(cfg["image_size"])
        return cls(root, SurveyConfig(**cfg))


def _station_table(cfg: SurveyConfig, rng: np.random.Generator):
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


def _detection_events(cfg: SurveyConfig, stations: pd.DataFrame, centres: np.ndarray, ids: list,
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


def simulate_survey(out_dir, config: SurveyConfig | None = None, progress: bool = True,
                    **overrides) -> SimulatedSurvey:
    """Simulate a survey and write it to ``out_dir`` (see module docstring for the layout).

    ``overrides`` are :class:`SurveyConfig` fields, for convenience:
    ``simulate_survey("sim", n_individuals=20, seed=3)``.
    """
    from tqdm.auto import tqdm

    cfg = config or SurveyConfig()
    if overrides:
        cfg = SurveyConfig(**{**asdict(cfg), **overrides})
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    ss = np.random.SeedSequence(cfg.seed)
    s_pop, s_sta, s_det, s_img, s_cat, s_scene = ss.spawn(6)
    rng_pop = np.random.default_rng(s_pop)

    stations = _station_table(cfg, np.random.default_rng(s_sta))
    buffer = 2.5 * cfg.sigma_m
    xmin, xmax = stations.utm_x.min() - buffer, stations.utm_x.max() + buffer
    ymin, ymax = stations.utm_y.min() - buffer, stations.utm_y.max() + buffer
    ids = [f"L{i + 1:02d}" for i in range(cfg.n_individuals)]
    known = set(ids[: cfg.n_known])
    ind_seeds = s_pop.spawn(cfg.n_individuals)
    individuals = {i: make_individual(i, sq) for i, sq in zip(ids, ind_seeds)}
    centres = np.column_stack([rng_pop.uniform(xmin, xmax, cfg.n_individuals),
                               rng_pop.uniform(ymin, ymax, cfg.n_individuals)])
    ind_table = pd.DataFrame(dict(individual=ids, x=centres[:, 0].round(1), y=centres[:, 1].round(1),
                                  in_catalogue=[i in known for i in ids]))

    # --- the detection process ------------------------------------------------------
    start = datetime.fromisoformat(cfg.start_date)
    events = _detection_events(cfg, stations, centres, ids, np.random.default_rng(s_det))
    if cfg.max_detections is not None:
        events = events[: cfg.max_detections]

    # --- photographs ----------------------------------------------------------------
    cams = ["A", "B"] if cfg.paired_cameras else ["A"]
    # each camera of a pair looks across the trail at its own scene
    keys = [(st, cam) for st in stations.Station for cam in cams]
    scene_seeds = dict(zip(keys, s_scene.spawn(len(keys))))
    scenes = {}
    rng_img = np.random.default_rng(s_img)
    img_rows, det_rows, md_images = [], [], []
    counters = {}
    for ev_i, (t, ind_id, station, u) in enumerate(tqdm(events, desc="rendering survey", disable=not progress, unit="event")):
        ev_id = f"E{ev_i + 1:04d}"
        flank_a = "left" if u < 0.5 else "right"
        # camera A sees one flank; its partner across the trail sees the other
        fire = [("A", flank_a)]
        if cfg.paired_cameras and rng_img.random() < cfg.p_both_cameras:
            fire.append(("B", "right" if flank_a == "left" else "left"))
        elif cfg.paired_cameras and rng_img.random() < 0.5:
            fire = [("B", "right" if flank_a == "left" else "left")]
        night = not (7.0 <= t.hour + t.minute / 60 < 18.0)
        for cam, flank in fire:
            key = (station, cam)
            if key not in scenes:
                scenes[key] = make_scene(scene_seeds[key], cfg.image_size)
            t_cam = t + timedelta(seconds=int(rng_img.integers(0, 4)) if cam == "B" else 0)
            for b in range(int(rng_img.integers(cfg.burst[0], cfg.burst[1] + 1))):
                counters[key] = counters.get(key, 0) + 1
                rel = Path(station) / cam / f"IMG_{counters[key]:04d}.JPG"
                when = t_cam + timedelta(seconds=b)
                img, box = render_individual_image(individuals[ind_id], flank, scenes[key], rng_img, night=night)
                data = _jpeg_bytes(img, when, cfg.utc_offset, int(rng_img.integers(80, 93)))
                storage.write_bytes(root / "images" / rel, data)
                img_rows.append(dict(file=rel.as_posix(), station=station, camera=cam, timestamp=when,
                                     individual=ind_id, flank=flank, event=ev_id, night=night,
                                     bbox_x=box[0], bbox_y=box[1], bbox_w=box[2], bbox_h=box[3],
                                     in_catalogue=ind_id in known))
                conf = float(np.clip(rng_img.normal(0.9, 0.06), 0.5, 0.99))
                md_images.append({"file": rel.as_posix(), "detections": [
                    {"category": "1", "conf": round(conf, 3), "bbox": [round(v, 4) for v in _jitter(box, rng_img)]}]})
        det_rows.append(dict(event=ev_id, individual=ind_id, station=station, timestamp=t,
                             cameras="".join(c for c, _ in fire)))

    bad_rows = []
    if cfg.inject_bad_files and img_rows:
        bad_rows = _inject_bad_files(root, img_rows, md_images, individuals, scenes, rng_img, cfg)

    # --- the reference catalogue (known individuals, photographed elsewhere) ---------
    cat_rows, cat_md = [], []
    rng_cat = np.random.default_rng(s_cat)
    cat_scenes = [make_scene(sq, cfg.image_size) for sq in s_cat.spawn(4)]
    for ind_id in tqdm(sorted(known), desc="rendering catalogue", disable=not progress, unit="individual"):
        # each earlier sighting photographed both flanks (paired cameras), as in the survey:
        # file names "<sighting>_<flank>.jpg" tell the sighting apart from the flank
        for n in range(cfg.catalogue_images_per_flank):
            night = rng_cat.random() < 0.4
            when = start - timedelta(days=int(rng_cat.integers(200, 500)), hours=float(rng_cat.uniform(0, 24)))
            for k, flank in enumerate(FLANKS):
                rel = Path(ind_id) / f"{n + 1:02d}_{flank}.jpg"
                img, box = render_individual_image(individuals[ind_id], flank,
                                                   cat_scenes[int(rng_cat.integers(len(cat_scenes)))], rng_cat, night=night)
                when = when + timedelta(seconds=k)
                storage.write_bytes(root / "catalogue" / rel,
                                    _jpeg_bytes(img, when.replace(microsecond=0), cfg.utc_offset, 90))
                cat_rows.append(dict(file=rel.as_posix(), individual=ind_id, flank=flank, sighting=n + 1,
                                     bbox_x=box[0], bbox_y=box[1], bbox_w=box[2], bbox_h=box[3]))
                cat_md.append({"file": rel.as_posix(), "detections": [
                    {"category": "1", "conf": 0.95, "bbox": [round(v, 4) for v in _jitter(box, rng_cat)]}]})

    # --- tables ----------------------------------------------------------------------
    (root / "images").mkdir(exist_ok=True)
    (root / "catalogue").mkdir(exist_ok=True)
    st_out = stations.copy()
    for c in ("Setup_date", "Retrieval_date", "Problem1_from", "Problem1_to"):
        st_out[c] = [x.strftime("%Y-%m-%d %H:%M:%S") if x is not None and not pd.isna(x) else "" for x in st_out[c]]
    storage.write_table(st_out, root / "stations.csv")
    (root / "truth").mkdir(exist_ok=True)
    storage.write_table(ind_table, root / "truth" / "individuals.csv")
    # explicit columns: a survey without a single detection still has readable (empty) tables
    storage.write_table(pd.DataFrame(img_rows, columns=IMAGE_TRUTH_COLUMNS), root / "truth" / "images.csv")
    storage.write_table(pd.DataFrame(det_rows, columns=["event", "individual", "station", "timestamp", "cameras"]),
                        root / "truth" / "detections.csv")
    storage.write_table(pd.DataFrame(bad_rows, columns=["file", "problem"]), root / "truth" / "bad_files.csv")
    storage.write_table(pd.DataFrame(cat_rows, columns=CATALOGUE_TRUTH_COLUMNS), root / "truth" / "catalogue.csv")
    md_info = {"format_version": "1.4", "detector": "lynxid simulator (true boxes, jittered)"}
    storage.write_json(root / "megadetector.json", {"info": md_info, "images": md_images,
                                                    "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"}})
    storage.write_json(root / "catalogue_megadetector.json", {"info": md_info, "images": cat_md,
                                                              "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"}})
    storage.write_json(root / "survey.json", {"config": asdict(cfg), "n_images": len(img_rows),
                                              "n_events": len(det_rows), "n_bad_files": len(bad_rows),
                                              "habitat": [xmin, xmax, ymin, ymax],
                                              "time_zone": f"UTC{cfg.utc_offset}"})
    return SimulatedSurvey(root, cfg)


def _jitter(box, rng):
    """A detector's box is never exact: a few per cent of noise on each side."""
    x, y, w, h = box
    dx0, dy0, dx1, dy1 = rng.normal(0, 0.03, 4)
    nx0 = np.clip(x + dx0 * w, 0, 1)
    ny0 = np.clip(y + dy0 * h, 0, 1)
    nx1 = np.clip(x + w + dx1 * w, 0, 1)
    ny1 = np.clip(y + h + dy1 * h, 0, 1)
    return [float(nx0), float(ny0), float(max(1e-3, nx1 - nx0)), float(max(1e-3, ny1 - ny0))]


def _inject_bad_files(root, img_rows, md_images, individuals, scenes, rng, cfg):
    """What SD cards really contain: empty, truncated and foreign files, and a photo without EXIF."""
    station = img_rows[0]["station"]
    cam = img_rows[0]["camera"]
    folder = root / "images" / station / cam
    bad = []
    storage.write_bytes(folder / "IMG_9001.JPG", b"")
    bad.append(dict(file=f"{station}/{cam}/IMG_9001.JPG", problem="zero-byte file"))
    good = (root / "images" / img_rows[0]["file"]).read_bytes()
    storage.write_bytes(folder / "IMG_9002.JPG", good[: len(good) // 3])
    bad.append(dict(file=f"{station}/{cam}/IMG_9002.JPG", problem="truncated JPEG"))
    storage.write_bytes(folder / "IMG_9003.JPG", b"This is not an image. Camera firmware log.\n")
    bad.append(dict(file=f"{station}/{cam}/IMG_9003.JPG", problem="not an image"))
    # a real photo whose EXIF was stripped by some tool: identifiable, but has no time
    ind_id = img_rows[0]["individual"]
    flank = img_rows[0]["flank"]
    img, box = render_individual_image(individuals[ind_id], flank, scenes[(station, cam)], rng)
    storage.write_bytes(folder / "IMG_9004.JPG", _jpeg_bytes(img, None, None, 88))
    bad.append(dict(file=f"{station}/{cam}/IMG_9004.JPG", problem="no EXIF date"))
    img_rows.append({**img_rows[0], "file": f"{station}/{cam}/IMG_9004.JPG", "timestamp": None, "event": None,
                     "bbox_x": box[0], "bbox_y": box[1], "bbox_w": box[2], "bbox_h": box[3]})
    md_images.append({"file": f"{station}/{cam}/IMG_9004.JPG",
                      "detections": [{"category": "1", "conf": 0.9, "bbox": [round(v, 4) for v in box]}]})
    md_images.append({"file": f"{station}/{cam}/IMG_9002.JPG", "failure": "Failure image access"})
    return bad
