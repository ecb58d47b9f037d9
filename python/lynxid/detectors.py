"""The animal detectors ``lynxid detect`` runs: MegaDetector (the ``megadetector`` package) or
a local TorchScript model with YOLO-style output, behind one small protocol.

A :class:`Detector` takes a batch of RGB images and gives, per image, boxes as MegaDetector
writes them (``category`` "1" animal, "2" person, "3" vehicle; ``conf``; ``bbox`` =
normalised ``[x, y, w, h]`` from the top-left corner). The folder, batching, resume and the
JSON file are :mod:`lynxid.detect`'s.

Why a TorchScript backend of our own: MegaDetector v5 is a YOLOv5 network, so its raw output
(per anchor ``cx, cy, w, h`` in letterboxed pixels, objectness, class scores) needs exactly
this letterboxing, confidence product, per-class NMS and un-mapping to the original image.
Implementing them here lets a small model built in the tests exercise the whole path offline,
and lets a user run any exported YOLO-style detector (``--detector FILE.pt``) without the
``megadetector`` package. The MegaDetector backend itself uses the package's documented API
(``run_detector.load_detector`` and the detector's ``generate_detections_one_batch``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

__all__ = ["Detector", "TorchScriptDetector", "MegaDetector", "load_detector", "letterbox", "postprocess",
           "resolve_device", "DETECTION_CATEGORIES", "MEGADETECTOR_MODELS", "INSTALL_HINT"]

DETECTION_CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}
# the model names the megadetector package downloads by itself (on a connected machine)
MEGADETECTOR_MODELS = ("MDV5A", "MDV5B", "MDV1000-REDWOOD", "MDV1000-CEDAR", "MDV1000-LARCH", "MDV1000-SORREL",
                       "MDV1000-SPRUCE")
INSTALL_HINT = ("install it with `pip install lynxid[detect]` (or `pip install megadetector`), or run a local "
                "YOLO-style TorchScript detector with --detector FILE.pt")
PAD_VALUE = 114          # YOLOv5's letterbox grey


@runtime_checkable
class Detector(Protocol):
    """What :func:`lynxid.detect.detect_animals` needs of a detector."""

    name: str             # written as the JSON's info.detector

    def detect(self, images: list[Image.Image]) -> list[list[dict]]:
        """Per image, its boxes: ``{"category": "1", "conf": 0.93, "bbox": [x, y, w, h]}``."""
        ...


def resolve_device(device: str | None) -> str:
    """``device`` checked, or CUDA when present, else the CPU."""
    import torch
    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here (no NVIDIA GPU or a "
                         "CPU-only torch); use --device cpu")
    return device


def letterbox(img: Image.Image, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """``img`` scaled to fit a ``size`` x ``size`` square (aspect kept), centred on grey:
    ``(HxWx3 uint8, scale, (pad_x, pad_y))``, as YOLOv5 feeds its network."""
    w, h = img.size
    scale = min(size / w, size / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    px, py = (size - nw) / 2, (size - nh) / 2
    x0, y0 = int(round(px - 0.1)), int(round(py - 0.1))
    canvas[y0:y0 + nh, x0:x0 + nw] = np.asarray(img.convert("RGB").resize((nw, nh), Image.BILINEAR))
    return canvas, scale, (float(x0), float(y0))


def postprocess(pred, sizes, scales, pads, threshold: float = 0.005, iou: float = 0.45,
                max_det: int = 300, classes=("1", "2", "3")) -> list[list[dict]]:
    """YOLO-style raw predictions ``(N, anchors, 5 + classes)`` (``cx, cy, w, h`` in
    letterboxed pixels, objectness, class scores, all after the sigmoid) to MegaDetector
    boxes per image: confidence = objectness x best class score, kept at or above
    ``threshold``, non-maximum suppression per class (``iou``), the letterbox undone and the
    box clipped to the image and normalised (``sizes``: original ``(w, h)``)."""
    import torch
    from torchvision.ops import batched_nms
    out = []
    for k in range(pred.shape[0]):
        p = pred[k].float()
        score, cls = (p[:, 5:] * p[:, 4:5]).max(dim=1)
        keep = score >= threshold
        p, score, cls = p[keep], score[keep], cls[keep]
        xy = torch.cat([p[:, :2] - p[:, 2:4] / 2, p[:, :2] + p[:, 2:4] / 2], dim=1)
        idx = batched_nms(xy, score, cls, iou)[:max_det]
        (w, h), s, (px, py) = sizes[k], scales[k], pads[k]
        boxes = []
        for i in idx.tolist():
            x1, y1, x2, y2 = xy[i].tolist()
            x1, x2 = (np.clip([(x1 - px) / s, (x2 - px) / s], 0, w) / w).tolist()
            y1, y2 = (np.clip([(y1 - py) / s, (y2 - py) / s], 0, h) / h).tolist()
            if x2 <= x1 or y2 <= y1 or int(cls[i]) >= len(classes):
                continue
            boxes.append({"category": classes[int(cls[i])], "conf": round(float(score[i]), 3),
                          "bbox": [round(x1, 4), round(y1, 4), round(x2 - x1, 4), round(y2 - y1, 4)]})
        out.append(boxes)
    return out


class TorchScriptDetector:
    """A YOLO-style detector saved with ``torch.jit.save``: input a float batch ``(N, 3, S, S)``
    in [0, 1] (letterboxed RGB), output ``(N, anchors, 5 + classes)`` or a tuple whose first
    item is that (YOLOv5's eval output). ``S``: ``input_size``, else the model's attribute
    ``input_size``, else 640. Classes in MegaDetector's order: animal, person, vehicle."""

    def __init__(self, path, device: str | None = None, input_size: int | None = None, threshold: float = 0.005,
                 iou: float = 0.45):
        import torch
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"detector model not found: {path} (give a TorchScript .pt file, or "
                                    "--detector megadetector)")
        self.device = resolve_device(device)
        try:
            self.model = torch.jit.load(str(path), map_location=self.device).eval()
        except RuntimeError as exc:
            raise ValueError(f"{path} is not a TorchScript model ({exc.__class__.__name__}); export the detector "
                             "with torch.jit.trace/script and torch.jit.save") from exc
        self.input_size = int(input_size or getattr(self.model, "input_size", 640))
        self.threshold, self.iou = threshold, iou
        self.name = path.name

    def detect(self, images: list[Image.Image]) -> list[list[dict]]:
        import torch
        boxed = [letterbox(im, self.input_size) for im in images]
        x = torch.from_numpy(np.stack([b[0] for b in boxed])).permute(0, 3, 1, 2).float().div_(255)
        with torch.inference_mode():
            pred = self.model(x.to(self.device))
        if isinstance(pred, (tuple, list)):
            pred = pred[0]
        return postprocess(pred.cpu(), [im.size for im in images], [b[1] for b in boxed], [b[2] for b in boxed],
                           self.threshold, self.iou)


class MegaDetector:
    """MegaDetector through the ``megadetector`` package (``pip install lynxid[detect]``).
    ``model``: a model name the package downloads on a connected machine ("MDV5A", ...) or a
    local weights file (``--detector-weights``)."""

    def __init__(self, model: str = "MDV5A", device: str | None = None, threshold: float = 0.005):
        is_file = Path(str(model)).suffix.lower() in (".pt", ".pth", ".pb")
        if is_file and not Path(model).is_file():
            raise FileNotFoundError(f"MegaDetector weights not found: {model} (download e.g. md_v5a.0.0.pt from the "
                                    "MegaDetector releases and give it with --detector-weights FILE)")
        if not is_file and str(model).upper() not in MEGADETECTOR_MODELS:
            raise ValueError(f"unknown MegaDetector model {model!r}: give one of {', '.join(MEGADETECTOR_MODELS)} "
                             "or a weights file with --detector-weights FILE")
        try:
            from megadetector.detection import run_detector
        except ImportError as exc:
            raise ValueError(f"--detector megadetector needs the 'megadetector' package, which is not installed: "
                             f"{INSTALL_HINT}") from exc
        self.device = resolve_device(device)
        try:
            self.model = run_detector.load_detector(str(model), force_cpu=self.device == "cpu")
        except Exception as exc:   # the package's download or load failed: say what to do
            raise ValueError(f"could not load MegaDetector {model!r} ({exc.__class__.__name__}: {exc}); on a machine "
                             "without internet download the weights elsewhere (e.g. md_v5a.0.0.pt) and give them "
                             "with --detector-weights FILE") from exc
        self.threshold = threshold
        self.name = Path(str(model)).name if is_file else str(model).upper()

    def detect(self, images: list[Image.Image]) -> list[list[dict]]:
        res = self.model.generate_detections_one_batch(img_original=images,
                                                       image_id=[str(i) for i in range(len(images))],
                                                       detection_threshold=self.threshold)
        out = []
        for r in res:
            if r.get("failure"):
                raise RuntimeError(r["failure"])
            out.append([{"category": str(d["category"]), "conf": float(d["conf"]),
                         "bbox": [float(v) for v in d["bbox"]]} for d in r.get("detections") or []])
        return out


def load_detector(detector: str = "megadetector", weights=None, device: str | None = None) -> Detector:
    """The detector named on the command line: "megadetector" (``weights``: a model name or a
    local file; default MDV5A) or a TorchScript file."""
    if str(detector).lower() == "megadetector":
        return MegaDetector(str(weights) if weights else "MDV5A", device=device)
    if weights:
        raise ValueError("--detector-weights goes with --detector megadetector; a TorchScript detector file is "
                         "given as --detector FILE.pt")
    return TorchScriptDetector(detector, device=device)
