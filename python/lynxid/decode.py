"""Decode camera-trap JPEGs fast and cut out detections.

A trail camera writes 4000x3000 JPEGs; the networks look at 224-518 px crops. Decoding the
full image and throwing most pixels away dominates the run time, so we ask libjpeg for a
reduced-size decode (DCT scaling by 1/2, 1/4 or 1/8, PIL's ``draft``) that still gives the
crop at least the resolution it needs, then crop with the box rescaled to that image (boxes
are normalised, so rescaling is multiplying by the reduced size). On a 4000x3000 photo this
decodes 1/16-1/64 of the pixels.

EXIF orientation is applied before cropping (MegaDetector boxes refer to the upright image);
the scale needed is worked out on the upright size, so a portrait photo stored sideways is
not decoded too small.
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["DecodeError", "open_image", "crop_box_pixels", "load_crop", "to_square_array",
           "PREPROCESS_VERSION"]

# Part of every embedding's cache key: bump when the pixels handed to the network change.
PREPROCESS_VERSION = "decode-v2"

_ORIENT_TAG = 0x0112
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


class DecodeError(RuntimeError):
    """An image could not be decoded (truncated, corrupt, not an image)."""


def _needed_scale(size, bbox, out_long: float) -> float:
    """Smallest scale of the (upright) image at which the box is still >= ``out_long`` px long."""
    w, h = size
    bw = max(bbox[2] * w, 1.0)
    bh = max(bbox[3] * h, 1.0)
    return min(1.0, out_long / max(bw, bh))


def _orientation(im: Image.Image) -> int:
    try:
        o = int(im.getexif().get(_ORIENT_TAG, 1) or 1)
    except Exception:   # unreadable EXIF: treat as upright, the pixels may still be fine
        return 1
    return o if o in _TRANSPOSE else 1


def open_image(src, bbox=(0.0, 0.0, 1.0, 1.0), out_long: float | None = None, fast: bool = True) -> Image.Image:
    """Open ``src`` (path or bytes) upright in RGB, at reduced size when ``out_long`` allows.

    ``out_long`` is the length in pixels that the long side of ``bbox`` (normalised, on the
    upright image) must keep; the JPEG is decoded at the smallest DCT scale that keeps it.
    Raises :class:`DecodeError` with the reason if the file cannot be fully decoded.
    """
    try:
        im = Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray, memoryview)) else src)
        orient = _orientation(im)
        if fast and out_long and im.format == "JPEG":
            upright = im.size[::-1] if orient >= 5 else im.size   # 5-8 swap width and height
            s = _needed_scale(upright, bbox, out_long)
            if s <= 0.5:
                # draft keeps the image >= the requested size, so rounding up keeps the box >= out_long
                im.draft("RGB", (math.ceil(im.size[0] * s), math.ceil(im.size[1] * s)))
        im.load()
        if orient != 1:
            im = im.transpose(_TRANSPOSE[orient])
        if im.mode != "RGB":
            im = im.convert("RGB")
        return im
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        what = "image" if isinstance(src, (bytes, bytearray, memoryview)) else str(src)
        reason = ("not an image file, or a format Pillow cannot read" if isinstance(exc, UnidentifiedImageError)
                  else str(exc))
        raise DecodeError(f"cannot decode {what}: {reason}") from exc


def crop_box_pixels(size, bbox, pad: float = 0.0):
    """Pixel box ``(x0, y0, x1, y1)`` for a normalised ``[x, y, w, h]`` box with ``pad``
    (fraction of the box size added on every side), clipped to the image."""
    W, H = size
    x, y, w, h = bbox
    x0 = (x - pad * w) * W
    y0 = (y - pad * h) * H
    x1 = (x + w + pad * w) * W
    y1 = (y + h + pad * h) * H
    x0, y0 = max(0, int(math.floor(x0))), max(0, int(math.floor(y0)))
    x1, y1 = min(W, int(math.ceil(x1))), min(H, int(math.ceil(y1)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise DecodeError(f"box {tuple(bbox)} is empty in a {W}x{H} image")
    return x0, y0, x1, y1


def load_crop(src, bbox=(0.0, 0.0, 1.0, 1.0), out_long: int = 224, pad: float = 0.05,
              fast: bool = True) -> Image.Image:
    """The detection's crop, its long side at most ``out_long`` px (aspect kept).

    ``bbox`` is MegaDetector's normalised ``[x, y, w, h]``. ``fast=False`` decodes at full
    size (the baseline the benchmark compares against).
    """
    im = open_image(src, bbox, out_long * (1 + 2 * pad), fast=fast)
    crop = im.crop(crop_box_pixels(im.size, bbox, pad))
    s = out_long / max(crop.size)
    if s < 1:
        crop = crop.resize((max(1, round(crop.size[0] * s)), max(1, round(crop.size[1] * s))), Image.BILINEAR)
    return crop


def to_square_array(crop: Image.Image, size: int, fill=(124, 116, 104)) -> np.ndarray:
    """Letterbox a crop into ``size`` x ``size`` (uint8 HWC), keeping the animal's aspect."""
    w, h = crop.size
    s = size / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    r = crop.resize((nw, nh), Image.BICUBIC)
    canvas = Image.new("RGB", (size, size), fill)
    canvas.paste(r, ((size - nw) // 2, (size - nh) // 2))
    return np.asarray(canvas)


