"""The ``lynxid detect`` command (registered in :mod:`lynxid.cli`), and the detector and
box-filter options that ``identify`` shares with it: a raw SD-card folder goes through the
detector first, and its MegaDetector file is then used as one given with ``--megadetector``."""
from __future__ import annotations

from pathlib import Path

__all__ = ["add_detect", "add_detector_args", "add_box_filter_arg", "run_detection", "box_filter_from_args",
           "DETECTIONS_FILE"]

DETECTIONS_FILE = "megadetector.json"   # what identify --detector writes into its output folder


def add_detector_args(p, with_detector: bool = True) -> None:
    """``--detector``, ``--detector-weights`` (and, for detect, nothing else: --device and
    --batch-size come from the runtime options)."""
    if with_detector:
        p.add_argument("--detector", help="run an animal detector first: 'megadetector' (needs `pip install "
                       "lynxid[detect]`) or a YOLO-style TorchScript file FILE.pt; its MegaDetector file is written "
                       f"to OUT/{DETECTIONS_FILE} and reused when rerun")
    p.add_argument("--detector-weights", help="MegaDetector weights: a model name the megadetector package downloads "
                   "(MDV5A, the default; needs internet) or a local weights file (e.g. md_v5a.0.0.pt)")


def add_box_filter_arg(p) -> None:
    p.add_argument("--box-filter", default="none",
                   help="drop boxes before identification: 'none' (default), 'basic' (confidence below --threshold, "
                   "short side under 32 px, sides over 4:1), 'coat' (basic and boxes whose texture is not a "
                   "patterned coat; benchmarks/results/box_filter.md), or a box filter JSON file. Every dropped "
                   "box is listed in the issues")


def box_filter_from_args(a):
    """The :class:`~lynxid.box_filter.BoxFilter` the options ask for, or None."""
    from . import BoxFilter
    kind = (a.box_filter or "none").lower()
    if kind == "none":
        return None
    if kind in ("basic", "coat"):
        f = BoxFilter.default(min_conf=a.threshold)
        if kind == "basic":
            f.coat_threshold = None
        return f
    if not Path(a.box_filter).is_file():
        raise FileNotFoundError(f"--box-filter {a.box_filter}: neither none, basic, coat nor a box filter JSON file")
    return BoxFilter.load(a.box_filter)


def run_detection(folder, out, detector, a, checkpoint_every: int = 100) -> dict:
    """Detect with the command's options (``--detector-weights``, ``--device``,
    ``--batch-size``, ``--quiet``) and print what was done."""
    from . import detect_animals
    res = detect_animals(folder, out, detector, weights=a.detector_weights, device=a.device,
                         batch_size=a.batch_size or 8, checkpoint_every=checkpoint_every, progress=not a.quiet)
    reused = f", {res['reused']} reused from an earlier run" if res["reused"] else ""
    failed = f"; {res['failed']} could not be read or detected (their 'failure' says why)" if res["failed"] else ""
    print(f"{res['detector']}: {res['images']} images ({res['detected']} detected now{reused}), "
          f"{res['with_animal']} with an animal box{failed}; written: {res['file']}")
    return res


def add_detect(sub, formatter):
    p = sub.add_parser("detect", formatter_class=formatter, help="detect animals in a folder of photos (MegaDetector)",
                       description="Run an animal detector over every photo below FOLDER and write MegaDetector's "
                       "batch-output JSON (format 1.4, paths relative to FOLDER), as Timelapse and AddaxAI read it "
                       "and as 'lynxid identify/catalogue --megadetector' use it. Rerunning continues an interrupted "
                       "run and detects only photos the file does not list yet.")
    p.add_argument("folder", help="folder of photos (searched recursively)")
    p.add_argument("--out", required=True, help="the JSON file to write, e.g. detections.json")
    p.add_argument("--detector", default="megadetector",
                   help="'megadetector' (default; `pip install lynxid[detect]`) or a YOLO-style TorchScript file")
    add_detector_args(p, with_detector=False)
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when present, else cpu)")
    p.add_argument("--batch-size", type=int, default=8, help="images per detector call (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.005,
                   help="lowest confidence written (default: %(default)s, as MegaDetector writes; users of the file "
                   "choose their own threshold)")
    p.add_argument("--checkpoint-every", type=int, default=100,
                   help="save the results so far every this many images (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    def run(a):
        det = a.detector
        if a.threshold != 0.005:
            from .detectors import load_detector
            det = load_detector(a.detector, a.detector_weights, a.device)
            det.threshold = a.threshold
        run_detection(a.folder, a.out, det, a, a.checkpoint_every)
        return 0
    p.set_defaults(func=run)
