"""Reduced-size JPEG decoding, box rescaling and EXIF orientation."""
import functools
import io

import numpy as np
import pytest
from PIL import Image

from lynxid.decode import DecodeError, crop_box_pixels, load_crop, open_image, to_square_array

W, H = 1600, 1200
BOX = (0.55, 0.5, 0.25, 0.3)      # normalised x, y, w, h on the upright image


@functools.lru_cache(maxsize=1)
def _upright() -> Image.Image:
    """A smooth scene with a marked target inside BOX: red left half, blue right half."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.stack([90 + 60 * np.sin(xx / 97), 110 + 50 * np.cos(yy / 83), 80 + 0 * xx], -1)
    x0, y0, x1, y1 = crop_box_pixels((W, H), BOX)
    xm = (x0 + x1) // 2
    img[y0:y1, x0:xm] = (220, 30, 30)
    img[y0:y1, xm:x1] = (30, 30, 220)
    return Image.fromarray(img.clip(0, 255).astype(np.uint8))


def _jpeg(im: Image.Image, orientation: int = 1, quality=95) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    im.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


# raw pixels a camera stores for each orientation tag, given the upright picture
_INVERSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_270}


@functools.lru_cache(maxsize=1)
def _reference_crop():
    return np.asarray(load_crop(_jpeg(_upright()), BOX, out_long=128, fast=False)).astype(int)


def _check_target(crop: Image.Image):
    a = np.asarray(crop).astype(int)
    h, w = a.shape[:2]
    left = a[h // 3: 2 * h // 3, w // 6: w // 3].mean((0, 1))
    right = a[h // 3: 2 * h // 3, 2 * w // 3: 5 * w // 6].mean((0, 1))
    assert left[0] > 180 and left[2] < 80, left       # red on the left ...
    assert right[2] > 180 and right[0] < 80, right    # ... blue on the right: upright, not mirrored


def test_draft_decodes_small_but_keeps_the_crop_resolution():
    data = _jpeg(_upright())
    full = open_image(data, fast=False)
    assert full.size == (W, H)
    im = open_image(data, BOX, out_long=150)
    assert im.size[0] <= W / 2                                 # DCT-scaled decode happened
    x0, y0, x1, y1 = crop_box_pixels(im.size, BOX)
    assert max(x1 - x0, y1 - y0) >= 150                        # ... and still big enough
    assert open_image(data, BOX, out_long=5000).size == (W, H)  # no reduction when it is needed


def test_fast_and_full_decode_give_the_same_crop():
    data = _jpeg(_upright())
    fast = load_crop(data, BOX, out_long=224)
    slow = load_crop(data, BOX, out_long=224, fast=False)
    assert max(fast.size) == 224 and abs(fast.size[1] - slow.size[1]) <= 1
    _check_target(fast)
    fast = fast.resize(slow.size, Image.BILINEAR)
    diff = np.abs(np.asarray(fast).astype(int) - np.asarray(slow).astype(int)).mean()
    assert diff < 6, diff


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_applied_before_cropping(orientation):
    up = _upright()
    raw = up if orientation == 1 else up.transpose(_INVERSE[orientation])
    data = _jpeg(raw, orientation)
    ref = _reference_crop()
    for fast in (True, False):
        im = open_image(data, BOX, out_long=150, fast=fast)
        assert (im.size[0] > im.size[1]) == (W > H)            # upright: landscape again
        crop = load_crop(data, BOX, out_long=128, fast=fast)
        _check_target(crop)
        # box edges round to whole pixels of the (reduced) image: at most one pixel apart
        assert abs(crop.size[0] - ref.shape[1]) <= 1 and abs(crop.size[1] - ref.shape[0]) <= 1
        crop = crop.resize((ref.shape[1], ref.shape[0]), Image.BILINEAR)
        assert np.abs(np.asarray(crop).astype(int) - ref).mean() < 8


def test_rotated_photo_is_not_decoded_too_small():
    """The scale is worked out on the upright size: a tall box in a sideways-stored photo."""
    box = (0.45, 0.05, 0.1, 0.9)      # tall and thin on the upright (landscape) image
    raw = _upright().transpose(_INVERSE[6])
    im = open_image(_jpeg(raw, 6), box, out_long=300)
    assert im.size[0] < W        # reduced ...
    x0, y0, x1, y1 = crop_box_pixels(im.size, box)
    assert y1 - y0 >= 300        # ... on the upright size


def test_bad_inputs_raise_decode_error_naming_the_file(tmp_path):
    data = _jpeg(_upright())
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(DecodeError, match="cut.jpg"):
        open_image(p)
    with pytest.raises(DecodeError):
        open_image(b"this is not an image")
    with pytest.raises(DecodeError, match="empty"):
        load_crop(data, (0.5, 0.5, 0.0, 0.0))


def test_png_and_grayscale_jpeg_come_out_rgb():
    up = _upright()
    buf = io.BytesIO()
    up.save(buf, "PNG")
    assert open_image(buf.getvalue(), BOX, out_long=100).mode == "RGB"
    g = open_image(_jpeg(up.convert("L")), BOX, out_long=100)
    assert g.mode == "RGB" and g.size[0] < W


def test_square_letterbox_keeps_aspect():
    crop = Image.new("RGB", (300, 100), (255, 0, 0))
    a = to_square_array(crop, 224)
    assert a.shape == (224, 224, 3) and a.dtype == np.uint8
    assert tuple(a[112, 112]) == (255, 0, 0) and tuple(a[5, 112]) != (255, 0, 0)
