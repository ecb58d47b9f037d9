"""The ``lynxid`` command line. Each subcommand is a thin layer over the Python API.

Run ``lynxid COMMAND --help`` for the options of each command. This module is the entry point
and registers every command; ``demo`` and ``simulate`` live here, the others in modules named
for them: :mod:`~lynxid.identify_cli` (catalogue, identify, review), :mod:`~lynxid.model_cli`
(adapt, evaluate, features), :mod:`~lynxid.capture_cli` (capture-history, camera-operation)
and :mod:`~lynxid.density_cli` (density).
"""
from __future__ import annotations

import argparse
import sys
import warnings

__all__ = ["main"]

EPILOG = """\
typical workflow:
  lynxid catalogue build CATALOGUE_DIR --images known_individuals/   # labelled reference photos
  lynxid identify survey_images/ --catalogue CATALOGUE_DIR --out results/
  lynxid review report results/ --catalogue CATALOGUE_DIR            # check uncertain matches in a browser
  lynxid capture-history results/detections.csv --stations stations.csv --out ch/
  lynxid demo                                                          # all of it on a simulated survey
"""


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    p = argparse.ArgumentParser(prog="lynxid", description="Identify individually marked animals in camera-trap "
                                "photos and build capture histories for (spatial) capture-recapture.",
                                epilog=EPILOG, formatter_class=_formatter)
    p.add_argument("--version", action="version", version=f"lynxid {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return p


# --------------------------------------------------------------------------------------
# Each command: a function that adds its parser (set ``func``) to ``sub``. Listed in COMMANDS.
# --------------------------------------------------------------------------------------
COMMANDS: list = []


def command(fn):
    COMMANDS.append(fn)
    return fn


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _say_warning(args.command)
            return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"lynxid {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the cache", file=sys.stderr)
        return 130


def _say_warning(command: str):
    """lynxid's own warnings as one console line, as its errors are (not Python's file and
    line, which mean nothing to a user); other libraries' warnings as Python shows them."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("lynxid"):
            print(f"lynxid {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)
    return show


@command
def _demo(sub):
    p = sub.add_parser("demo", formatter_class=_formatter,
                       help="run everything on a simulated survey (offline): simulate, identify, capture history",
                       description="Simulate a camera-trap survey of lynx (photos with EXIF times in station/camera "
                       "folders, a catalogue of known individuals, MegaDetector-style boxes), identify every photo, "
                       "build capture histories, and report accuracy against the simulation's truth.")
    p.add_argument("--out", default="demo-output", help="output folder (default: %(default)s)")
    p.add_argument("--individuals", type=int, default=12, help="lynx in the population (default: %(default)s)")
    p.add_argument("--known", type=int, default=8, help="of which already in the catalogue (default: %(default)s)")
    p.add_argument("--days", type=int, default=40, help="days of camera operation (default: %(default)s)")
    p.add_argument("--occasion-length", type=float, default=5, help="days per occasion (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    p.add_argument("--imputations", type=int, default=50,
                   help="draws of the identities for the density with identification error included "
                        "(default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    def run(a):
        from . import run_demo
        run_demo(a.out, n_individuals=a.individuals, n_known=a.known, n_days=a.days, seed=a.seed,
                 occasion_length=a.occasion_length, progress=not a.quiet, imputations=a.imputations)
    p.set_defaults(func=run)


@command
def _simulate(sub):
    p = sub.add_parser("simulate", formatter_class=_formatter, help="simulate a survey (images + truth) to a folder",
                       description="Write a simulated survey: images/<station>/<camera>/*.JPG with EXIF times, "
                       "stations.csv (camtrapR style), megadetector.json, catalogue/<individual>/*.jpg and truth/.")
    p.add_argument("out", help="output folder")
    p.add_argument("--individuals", type=int, default=12, help="lynx in the population (default: %(default)s)")
    p.add_argument("--known", type=int, default=8, help="of which in the reference catalogue (default: %(default)s)")
    p.add_argument("--days", type=int, default=40, help="days of camera operation (default: %(default)s)")
    p.add_argument("--rows", type=int, default=3, help="station grid rows")
    p.add_argument("--cols", type=int, default=4, help="station grid columns")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    p.add_argument("--no-bad-files", action="store_true", help="do not add the corrupt/empty example files")
    p.add_argument("--no-flank-tags", action="store_true",
                   help="do not tag the survey photos with their flank (XMP flank|left / flank|right)")

    def run(a):
        from . import simulate_survey
        s = simulate_survey(a.out, n_individuals=a.individuals, n_known=a.known, n_days=a.days, grid_rows=a.rows,
                            grid_cols=a.cols, seed=a.seed, inject_bad_files=not a.no_bad_files,
                            flank_tags=not a.no_flank_tags)
        print(f"simulated survey written to {s.root}: {len(s.truth('images'))} photos, "
              f"{s.truth('detections').shape[0]} events")
    p.set_defaults(func=run)


# the commands of the other modules, in the order --help lists them
@command
def _detect(sub):
    from .detect_cli import add_detect
    add_detect(sub, _formatter)


@command
def _catalogue(sub):
    from .identify_cli import add_catalogue
    add_catalogue(sub, _formatter)


@command
def _identify(sub):
    from .identify_cli import add_identify
    add_identify(sub, _formatter)


@command
def _review(sub):
    from .identify_cli import add_review
    add_review(sub, _formatter)


@command
def _adapt(sub):
    from .model_cli import add_adapt
    add_adapt(sub, _formatter)


@command
def _evaluate(sub):
    from .model_cli import add_evaluate
    add_evaluate(sub, _formatter)


@command
def _features(sub):
    from .model_cli import add_features
    add_features(sub, _formatter)


@command
def _capture_history(sub):
    from .capture_cli import add_capture_history
    add_capture_history(sub, _formatter)


@command
def _camera_operation(sub):
    from .capture_cli import add_camera_operation
    add_camera_operation(sub, _formatter)


@command
def _clocks(sub):
    from .clocks_cli import add_clocks
    add_clocks(sub, _formatter)


@command
def _density(sub):
    from .density_cli import add_density
    add_density(sub, _formatter)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
