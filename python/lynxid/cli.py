"""The ``lynxid`` command line. Each subcommand is a thin layer over the Python API.

Run ``lynxid COMMAND --help`` for the options of each command.
"""
from __future__ import annotations

import argparse
import sys

from .metric import DEFAULT_NAME as DEFAULT_METRIC, NAMES as METRIC_NAMES

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


def _add_runtime_args(p) -> None:
    """--device/--threads/--batch-size for commands that compute image features."""
    g = p.add_argument_group("speed")
    g.add_argument("--device", help="where the network runs: cpu, cuda, cuda:1 (default: CUDA when present, else cpu)")
    g.add_argument("--threads", type=int, help="torch threads on a CPU (default: half the cores; the other half "
                   "decode JPEGs)")
    g.add_argument("--batch-size", type=int, help="detections per network call (default: 8 on a CPU, 32 on a GPU)")


def _runtime(a):
    from .features import runtime
    return runtime(device=getattr(a, "device", None), threads=getattr(a, "threads", None),
                   batch_size=getattr(a, "batch_size", None))


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"lynxid {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the cache", file=sys.stderr)
        return 130


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
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    def run(a):
        from .demo import run_demo
        run_demo(a.out, n_individuals=a.individuals, n_known=a.known, n_days=a.days, seed=a.seed,
                 occasion_length=a.occasion_length, progress=not a.quiet)
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

    def run(a):
        from .simulate import simulate_survey
        s = simulate_survey(a.out, n_individuals=a.individuals, n_known=a.known, n_days=a.days, grid_rows=a.rows,
                            grid_cols=a.cols, seed=a.seed, inject_bad_files=not a.no_bad_files)
        print(f"simulated survey written to {s.root}: {len(s.truth('images'))} photos, "
              f"{s.truth('detections').shape[0]} events")
    p.set_defaults(func=run)


@command
def _catalogue(sub):
    p = sub.add_parser("catalogue", formatter_class=_formatter, help="build or extend a catalogue of known individuals",
                       description="A catalogue holds labelled reference photos of known individuals, their "
                       "features and the identification model fitted on them.")
    csub = p.add_subparsers(dest="action", metavar="ACTION")
    for action in ("build", "add"):
        q = csub.add_parser(action, formatter_class=_formatter,
                            help=("create a catalogue" if action == "build" else "add photos to a catalogue") +
                            " from labelled photos",
                            description="Labelled photos: a folder per individual (IMAGES/<ID>/*.jpg) or images tagged "
                            "with XMP HierarchicalSubject 'individual|ID' (camtrapR convention). Flank is read "
                            "from 'left'/'right' in file names; the sighting from the name's part before '_'.")
        q.add_argument("catalogue", help="catalogue folder")
        q.add_argument("--images", required=True, help="folder of labelled photos")
        q.add_argument("--megadetector", help="MegaDetector batch output JSON for these photos (boxes); "
                       "without it each whole photo is used")
        q.add_argument("--threshold", type=float, default=0.2, help="MegaDetector confidence threshold (default: %(default)s)")
        if action == "build":
            from .embed import BACKBONES
            q.add_argument("--backbone", default="efficientnet-lite0", choices=list(BACKBONES),
                           help="image model (default: %(default)s, works offline)")
            q.add_argument("--weights", help="local weights file for the backbone (.safetensors/.pth)")
            q.add_argument("--no-local", action="store_true", help="global embedding only (faster, less accurate)")
            q.add_argument("--metric", choices=list(METRIC_NAMES), default=DEFAULT_METRIC,
                           help="learn a metric for the embedding on the catalogue (kept only where it ranks the "
                           "catalogue better): 'shortlist' uses it to choose which animals local matching checks, "
                           "'on' also in the fused score (default: %(default)s; benchmarks/results/metric_ablation.md)")
        q.add_argument("--target", choices=["gmean", "balanced"], default=None,
                       help="what the known/new decision is tuned for: 'gmean' = sqrt(BAKS*BAUS) (default), "
                       "'balanced' = (BAKS+BAUS)/2")
        q.add_argument("--quiet", action="store_true", help="no progress bars")
        _add_runtime_args(q)
        q.set_defaults(func=_catalogue_run)
    r = csub.add_parser("add-reviewed", formatter_class=_formatter,
                        help="add the detections a reviewer confirmed, reassigned or named as new",
                        description="Grow the catalogue from reviewed identification results: every detection "
                        "whose identity a reviewer confirmed, reassigned or declared new (see 'lynxid review') "
                        "becomes a reference of its individual; the identification model is refitted. Machine "
                        "calls that nobody reviewed are never added.")
    r.add_argument("catalogue", help="catalogue folder")
    r.add_argument("--results", required=True, help="identify output folder (rerun identify after the review so "
                   "that its detections carry the decisions)")
    r.add_argument("--known-only", action="store_true", help="skip animals the reviewer declared new")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_catalogue_add_reviewed)
    i = csub.add_parser("info", formatter_class=_formatter, help="describe a catalogue",
                        description="Print a catalogue's individuals, reference photos, backbone and the "
                        "leave-one-out accuracy of its identification model (JSON).")
    i.add_argument("catalogue", help="catalogue folder")
    i.set_defaults(func=_catalogue_run)
    p.set_defaults(func=lambda a: p.print_help())


def _catalogue_run(a):
    import json
    from .catalogue import Catalogue
    from .enrol import add_to_catalogue, build_catalogue
    from .openset import describe_calibration
    if a.action == "info":
        cat = Catalogue.load(a.catalogue)
        info = cat.summary()
        model = cat.meta.get("model") or {}
        info["identification_model"] = model.get("diagnostics")
        print(json.dumps(info, indent=2))
        return 0
    with _runtime(a):
        if a.action == "build":
            cat = build_catalogue(a.catalogue, a.images, megadetector=a.megadetector, backbone=a.backbone,
                                  weights=a.weights, threshold=a.threshold, local=not a.no_local,
                                  target=a.target or "gmean", progress=not a.quiet, metric=a.metric)
        else:
            cat = add_to_catalogue(a.catalogue, a.images, megadetector=a.megadetector, threshold=a.threshold,
                                   target=a.target, progress=not a.quiet)
    s = cat.summary()
    d = (cat.meta.get("model") or {}).get("diagnostics") or {}
    print(f"catalogue {cat.root}: {s['individuals']} individuals, {s['references']} reference photos")
    if d:
        print(f"  identification model (leave-one-out on the catalogue): known called correctly "
              f"{100 * d['baks']:.0f} %, unknown called new {100 * d['baus']:.0f} %")
        print("  " + describe_calibration(d))
        if d.get("whitening"):
            use = " to choose the candidates" if d.get("whitening_use") == "shortlist" else ""
            print(f"  embedding compared in a metric learned on the catalogue{use} ({d['whitening_dim']} dimensions; "
                  f"it ranks the catalogue's individuals better: MRR {d['mrr_raw']:.3f} -> {d['mrr_whitened']:.3f})")
    else:
        print("  no identification model: it needs at least two individuals photographed on two or more occasions")
    skipped = [r for r in cat.meta.get("issues", []) if r.get("severity") != "warning"]
    if skipped:
        print(f"  {len(skipped)} photo(s) not used; see 'issues' in {cat.root / 'catalogue.json'}")
    _print_megadetector_gaps(cat.meta.get("megadetector"), f"'issues' in {cat.root / 'catalogue.json'}", "  ")
    return 0


def _print_megadetector_gaps(md: dict | None, where: str, indent: str = "") -> None:
    """Say how many images the MegaDetector file did not list (they have no detections)."""
    if md and md.get("images_without_entry"):
        print(f"{indent}{md['images_without_entry']} of {md['images']} images have no entry in the MegaDetector file "
              f"{md['file']}, so no detections: listed in {where}")


def _catalogue_add_reviewed(a):
    from .enrol import add_reviewed_to_catalogue
    cat, added = add_reviewed_to_catalogue(a.catalogue, a.results, include_new=not a.known_only,
                                           progress=not a.quiet)
    s = cat.summary()
    print(f"added {len(added)} reviewed detection(s) of {added['individual'].nunique() if len(added) else 0} "
          f"individual(s); catalogue {cat.root}: {s['individuals']} individuals, {s['references']} reference photos")
    return 0


@command
def _identify(sub):
    p = sub.add_parser("identify", formatter_class=_formatter, help="identify the individuals in a folder of photos",
                       description="Identify every animal detection in IMAGES (station/[camera/]image folders, or "
                       "camtrapR's Station__date__time file names) against a catalogue: a known individual with its "
                       "probability, or new (new animals are grouped into provisional IDs NEW-001, ...). Photos of one "
                       "passage (same station, less than --event-gap seconds apart) are decided together.")
    p.add_argument("images", help="folder of survey photos")
    p.add_argument("--catalogue", required=True, help="catalogue folder (see 'lynxid catalogue build')")
    p.add_argument("--out", required=True, help="output folder: detections.csv/.parquet, issues.csv, summary.json")
    p.add_argument("--megadetector", help="MegaDetector batch output JSON (boxes); without it each photo is one detection")
    p.add_argument("--threshold", type=float, default=0.2, help="MegaDetector confidence threshold (default: %(default)s)")
    p.add_argument("--tz", help="time zone of the camera clocks, e.g. Europe/Zurich or +01:00 "
                   "(default: EXIF OffsetTimeOriginal, else UTC)")
    p.add_argument("--station-from", choices=["auto", "folder", "filename"], default="auto",
                   help="where the station name is: folder (station/[camera/]image), filename "
                   "(Station__YYYY-MM-DD__HH-MM-SS(n).JPG) or auto (default)")
    p.add_argument("--event-gap", type=float, default=20.0, help="seconds between photos of one event (default: %(default)s)")
    p.add_argument("--review-below", type=float, default=0.9,
                   help="flag decisions less certain than this for review (default: %(default)s)")
    p.add_argument("--cache", help="feature cache folder (default: OUT/cache); rerunning resumes from it")
    p.add_argument("--decisions", help="reviewer decisions (CSV from 'lynxid review') that override the machine's "
                   "calls (default: OUT/decisions.csv if present; 'none' to ignore it)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_runtime_args(p)

    def run(a):
        from .decisions import find_decisions
        from .identification import identify
        dec = None if (a.decisions or "").lower() == "none" else (a.decisions or find_decisions(a.out))
        with _runtime(a):
            res = identify(a.images, a.catalogue, megadetector=a.megadetector, out=a.out, tz=a.tz,
                           threshold=a.threshold, station_from=a.station_from, event_gap=a.event_gap,
                           cache_dir=a.cache, review_below=a.review_below, progress=not a.quiet, decisions=dec)
        s = res.summary
        print(f"{s['images_read']} images read ({s['files_with_issues']} unusable: see {s['files']['issues_csv']}), "
              f"{s['detections']} detections in {s['events']} events")
        _print_megadetector_gaps(s.get("megadetector"), s['files']['issues_csv'])
        print(f"{s['individuals']} individuals: {s['known_individuals']} known, {s['new_individuals']} new; "
              f"{s['needs_review']} detections flagged for review")
        rv = s.get("review") or {}
        if rv.get("decisions"):
            print(f"reviewer decisions applied: {rv['applied']} detection(s) ({rv['confirmed']} confirmed, "
                  f"{rv['reassigned']} reassigned, {rv['new']} new, {rv['rejected']} rejected)"
                  + (f"; {rv['unmatched']} decision(s) match no detection (see issues)" if rv.get("unmatched") else ""))
        print(f"written: {s['files']['detections_csv']}")
    p.set_defaults(func=run)


@command
def _review(sub):
    p = sub.add_parser("review", formatter_class=_formatter, help="review uncertain and new identifications in a browser",
                       description="'report' writes a self-contained HTML page (open it in any browser) showing each "
                       "uncertain or new animal beside its best candidates, with matching keypoints drawn; confirm, "
                       "reassign, mark new or reject, then download decisions.csv. 'import' adds a downloaded "
                       "decisions file to the results folder (RESULTS/decisions.csv keeps every decision ever made); "
                       "rerunning 'lynxid identify' with the same --out applies them.")
    rsub = p.add_subparsers(dest="action", metavar="ACTION")
    q = rsub.add_parser("report", formatter_class=_formatter, help="write the review page",
                         description="Write the review page for an identify output folder.")
    q.add_argument("results", help="identify output folder (with detections.parquet)")
    q.add_argument("--catalogue", required=True, help="catalogue folder used for identification")
    q.add_argument("--html", help="the page to write (default: RESULTS/review.html)")
    q.add_argument("--which", choices=["uncertain", "new", "all"], default="uncertain",
                   help="which animals: flagged for review or new (default), new only, or all")
    q.add_argument("--max", type=int, help="at most this many animals, least certain first")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_review_run)
    m = rsub.add_parser("import", formatter_class=_formatter, help="add a downloaded decisions.csv to the results",
                         description="Add a decisions.csv downloaded from the review page to the results folder.")
    m.add_argument("decisions", help="decisions CSV downloaded from the review page")
    m.add_argument("--results", required=True, help="identify output folder")
    m.set_defaults(func=_review_run)
    p.set_defaults(func=lambda a: p.print_help())


def _review_run(a):
    from . import decisions, review
    if a.action == "report":
        path = review.build_report(a.results, a.catalogue, a.html, which=a.which, max_items=a.max,
                                   progress=not a.quiet)
        print(f"review page written: {path}  (open it in a browser)")
    else:
        from pathlib import Path
        if not (Path(a.results) / "detections.parquet").exists():
            # a typo would otherwise store the review where no identify run will look for it
            raise ValueError(f"{a.results} is not an identify output folder (no detections.parquet): "
                             "give the folder passed to 'lynxid identify --out'")
        n = len(decisions.read_decisions(a.decisions))
        target = decisions.save_decisions(a.decisions, a.results)
        print(f"{n} decision row(s) added to {target}; rerun 'lynxid identify ... --out {a.results}' to apply them")
    return 0


@command
def _adapt(sub):
    p = sub.add_parser("adapt", formatter_class=_formatter,
                       help="fine-tune the image model on labelled photos of your species (CPU, slow)",
                       description="Teach the default image model (EfficientNet-Lite0, ImageNet) which individual is "
                       "which, from labelled photos (DATASET/<individual>/<image>; flank from 'left'/'right' in file "
                       "names). Writes a .safetensors weights file to use with 'catalogue build --weights' and "
                       "'evaluate --weights'. Check it with 'lynxid evaluate' on individuals it was not trained on.")
    p.add_argument("dataset", help="labelled photos: DATASET/<individual>/<image>")
    p.add_argument("--out", required=True, help="weights file to write (.safetensors); a .json record goes beside it")
    p.add_argument("--megadetector", help="MegaDetector JSON with boxes for the photos")
    p.add_argument("--epochs", type=int, default=12, help="passes over the photos (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="photos per step (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (default: %(default)s)")
    p.add_argument("--loss", choices=["triplet", "arcface"], default="triplet",
                   help="metric-learning loss (default: %(default)s)")
    p.add_argument("--freeze-blocks", type=int, default=2, help="early network blocks kept frozen (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    def run(a):
        from .adapt import adapt
        rec = adapt(a.dataset, a.out, megadetector=a.megadetector, epochs=a.epochs, batch_size=a.batch_size,
                    lr=a.lr, loss=a.loss, freeze_blocks=a.freeze_blocks, seed=a.seed, threads=a.threads,
                    progress=not a.quiet)
        print(f"adapted on {rec['photos']} photos of {rec['individuals']} individuals in {rec['seconds']} s; "
              f"final loss {rec['log'][-1]['loss']:.3f}; weights: {a.out}")
    p.set_defaults(func=run)


@command
def _evaluate(sub):
    p = sub.add_parser("evaluate", formatter_class=_formatter,
                       help="measure identification accuracy on a labelled dataset (folder per individual)",
                       description="Leave-one-out evaluation on a folder-per-individual dataset: rank-1/rank-5, mAP, "
                       "MAP@R for all photos, same-flank only and excluding the same sighting; open-set BAKS/BAUS; "
                       "clustering ARI; calibration error. Flank from 'left'/'right' in file names, sighting from "
                       "the file name's part before '_'.")
    p.add_argument("dataset", help="dataset folder: DATASET/<individual>/<image>")
    p.add_argument("--backbone", default="efficientnet-lite0", help="image model (default: %(default)s)")
    p.add_argument("--weights", help="local weights file for the backbone")
    p.add_argument("--megadetector", help="MegaDetector JSON with boxes for the dataset's images")
    p.add_argument("--global-only", action="store_true", help="evaluate the global embedding alone (fast)")
    p.add_argument("--no-dense", action="store_true",
                   help="leave the dense CNN grid score out of the fused method (ablation: keypoints only)")
    p.add_argument("--metric", choices=list(METRIC_NAMES), default=DEFAULT_METRIC,
                   help="the embedding's learned metric, as 'catalogue build --metric' (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the individual splits (default: %(default)s)")
    p.add_argument("--cache", help="feature cache folder (default: none)")
    p.add_argument("--out", help="write the full report as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_runtime_args(p)

    def run(a):
        from .evaluate import evaluate_dataset, format_report
        from .config import metric_whiten
        with _runtime(a):
            rep = evaluate_dataset(a.dataset, backbone=a.backbone, weights=a.weights, megadetector=a.megadetector,
                                   methods=("global",) if a.global_only else ("global", "full"), seed=a.seed,
                                   cache_dir=a.cache, out=a.out, progress=not a.quiet, dense=not a.no_dense,
                                   whiten=metric_whiten(a.metric))
        print(format_report(rep))
    p.set_defaults(func=run)


@command
def _features(sub):
    from .embed import BACKBONES
    p = sub.add_parser("features", formatter_class=_formatter,
                       help="compute embeddings and local features for a file list (one machine or a Dask cluster)",
                       description="Compute the features 'identify' and 'catalogue build' need, ahead of time, into a "
                       "cache folder: on this machine, on a local cluster (--workers) or on a Dask cluster "
                       "(--scheduler; e.g. started with dask-jobqueue on SLURM/PBS). Interrupted runs resume. The cache "
                       "folder and the images must be visible to every worker at the same paths. 'identify' with the same --cache (and the same "
                       "boxes) then computes nothing: it reads each photo once, to hash it, and takes the features "
                       "from the cache.")
    p.add_argument("files", help="a folder of images, a CSV/Parquet table with a 'path' column (optional "
                   "bbox_x/_y/_w/_h), or a text file with one image path per line")
    p.add_argument("--cache", required=True, help="feature cache folder (shared by all workers)")
    p.add_argument("--out", help="table to write: one row per detection with ok, cache keys and the embedding "
                   "vector (default: CACHE/features.parquet); issues go beside it (NAME_issues.csv)")
    p.add_argument("--megadetector", help="MegaDetector batch output JSON with the boxes of these images")
    p.add_argument("--threshold", type=float, default=0.2, help="MegaDetector confidence threshold (default: %(default)s)")
    p.add_argument("--backbone", default="efficientnet-lite0", choices=list(BACKBONES),
                   help="image model (default: %(default)s; use the catalogue's)")
    p.add_argument("--weights", help="local weights file for the backbone")
    p.add_argument("--no-local", action="store_true", help="global embeddings only")
    c = p.add_argument_group("cluster")
    c.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786) or a scheduler JSON file")
    c.add_argument("--workers", type=int, help="start a local Dask cluster of this many worker processes")
    c.add_argument("--chunk-size", type=int, default=256, help="detections per cluster task (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_runtime_args(p)
    p.set_defaults(func=_features_run)


def _features_run(a):
    from pathlib import Path

    from . import storage
    from .distributed import extract_features_distributed, features_table, read_file_list
    det, issues = read_file_list(a.files, megadetector=a.megadetector, threshold=a.threshold)
    if det.empty:
        raise ValueError(f"no images to process in {a.files}")
    if a.scheduler or a.workers:
        from dask.distributed import Client
        client = None
        if a.scheduler:
            client = Client(scheduler_file=a.scheduler) if a.scheduler.endswith(".json") else Client(a.scheduler)
        try:
            fs = extract_features_distributed(det, a.cache, client=client, n_workers=a.workers, backbone=a.backbone,
                                              weights=a.weights, local=not a.no_local, device=a.device or "auto",
                                              batch_size=a.batch_size or 32, threads=a.threads or 1,
                                              chunk_size=a.chunk_size, progress=not a.quiet)
        finally:
            if client is not None:
                client.close()
    else:
        from .embed import Embedder
        from .features import extract_features
        with _runtime(a):
            fs = extract_features(det, Embedder(a.backbone, weights=a.weights), local=not a.no_local,
                                  cache_dir=a.cache, progress=not a.quiet)
    out = Path(a.out) if a.out else Path(a.cache) / "features.parquet"
    storage.write_table(features_table(det, fs), out)
    import pandas as pd
    issues = pd.concat([issues, fs.issues], ignore_index=True)
    issues_p = out.with_name(out.stem + "_issues.csv")
    storage.write_table(issues, issues_p)
    st = fs.stats
    print(f"{int(fs.ok.sum())} of {len(det)} detections have features "
          f"({st.get('embedded', 0)} computed, {st.get('embeddings_cached', 0)} from the cache); "
          f"{len(issues)} issue(s): {issues_p}")
    print(f"written: {out}")
    return 0


@command
def _capture_history(sub):
    from .capture_cli import add_capture_history
    add_capture_history(sub, _formatter)


@command
def _camera_operation(sub):
    from .capture_cli import add_camera_operation
    add_camera_operation(sub, _formatter)


@command
def _density(sub):
    from .density_cli import add_density
    add_density(sub, _formatter)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
