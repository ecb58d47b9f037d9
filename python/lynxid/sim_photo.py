"""A simulated trail-camera photo: a station's scene, an animal composited into it in a
random pose, and the camera's light, blur and noise; encoded as a JPEG with EXIF times (and,
as a photo tagged in digiKam or Timelapse, XMP ``HierarchicalSubject`` tags such as ``flank|left``).

Pose (scale, rotation, foreshortening), lighting (day colour or night infra-red), blur and
partial occlusion by grass and branches vary from photo to photo, so that the same animal
never gives the same image twice. Each station keeps its own scene, so that photos taken by
one camera share their background as they do in a real survey.
"""
from __future__ import annotations

import io
import math
import struct
from datetime import datetime

import cv2
import numpy as np
from PIL import Image

from .sim_animal import SPRITE_H, SPRITE_W, Individual, draw_sprite

__all__ = ["make_scene", "render_individual_image", "jpeg_bytes", "with_xmp_subjects"]


def _noise(rng, h, w, cells, amp):
    """Smooth random texture: normal noise on a coarse grid of ``cells`` pixels, upsampled."""
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
    sprite = draw_sprite(ind, flank, rng)
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



def jpeg_bytes(img: np.ndarray, when: datetime | None, utc_offset: str | None, quality: int,
                make: str = "lynxid-sim", model: str = "SimCam 1", subjects: list[str] | None = None) -> bytes:
    """Encode as JPEG with EXIF DateTimeOriginal (and OffsetTimeOriginal) like a trail camera,
    and ``subjects`` as XMP ``lr:hierarchicalSubject`` tags, as a user's tagging adds them."""
    im = Image.fromarray(img)
    buf = io.BytesIO()
    if when is None:
        im.save(buf, "JPEG", quality=quality)
        return with_xmp_subjects(buf.getvalue(), subjects)
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
    return with_xmp_subjects(buf.getvalue(), subjects)


_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def with_xmp_subjects(jpeg: bytes, subjects: list[str] | None) -> bytes:
    """The JPEG with an XMP segment holding ``subjects`` as ``lr:hierarchicalSubject`` (where
    digiKam, Lightroom and camtrapR keep hierarchical tags), after the JPEG's own APP segments
    (JFIF, EXIF) as tagging tools place it; written by hand, so that every Pillow version
    writes the same bytes."""
    if not subjects:
        return jpeg
    from xml.sax.saxutils import escape
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              '<rdf:Description rdf:about="" xmlns:lr="http://ns.adobe.com/lightroom/1.0/"><lr:hierarchicalSubject>'
              '<rdf:Bag>' + "".join(f"<rdf:li>{escape(s)}</rdf:li>" for s in subjects) + "</rdf:Bag>"
              "</lr:hierarchicalSubject></rdf:Description></rdf:RDF></x:xmpmeta>")
    payload = _XMP_HEADER + packet.encode("utf-8")
    at = 2                                           # after SOI, past the APPn segments already there
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF and 0xE0 <= jpeg[at + 1] <= 0xEF:
        at += 2 + struct.unpack(">H", jpeg[at + 2:at + 4])[0]
    return jpeg[:at] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[at:]
