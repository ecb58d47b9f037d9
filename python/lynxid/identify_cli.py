"""The ``lynxid catalogue``, ``lynxid identify`` and ``lynxid review`` commands (registered in
:mod:`lynxid.cli`): build a catalogue of known individuals, identify a survey's photos against
it, and review the uncertain calls in a browser.

A catalogue that cannot identify anything is written all the same (photos can be added to
it), but the command fails with the reason: a run that "succeeds" with a useless catalogue
would only fail later, in identify."""
from __future__ import annotations

import contextlib
import warnings

from .detect_cli import DETECTIONS_FILE, add_box_filter_arg, add_detector_args, box_filter_from_args, run_detection
from .metric import DEFAULT_NAME as DEFAULT_METRIC, NAMES as METRIC_NAMES
from .runtime_cli import add_cache_dir_arg, add_runtime_args, runtime_from_args

__all__ = ["add_catalogue", "add_identify", "add_review"]


def add_catalogue(sub, formatter):
    p = sub.add_parser("catalogue", formatter_class=formatter, help="build or extend a catalogue of known individuals",
                       description="A catalogue holds labelled reference photos of known individuals, their "
                       "features and the identification model fitted on them.")
    csub = p.add_subparsers(dest="action", metavar="ACTION")
    for action in ("build", "add"):
        q = csub.add_parser(action, formatter_class=formatter,
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
        add_runtime_args(q)
        q.set_defaults(func=run_catalogue)
    r = csub.add_parser("add-reviewed", formatter_class=formatter,
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
    r.set_defaults(func=run_catalogue_add_reviewed)
    i = csub.add_parser("info", formatter_class=formatter, help="describe a catalogue",
                        description="Print a catalogue's individuals, reference photos, backbone and the "
                        "leave-one-out accuracy of its identification model (JSON).")
    i.add_argument("catalogue", help="catalogue folder")
    i.set_defaults(func=run_catalogue)
    p.set_defaults(func=lambda a: p.print_help())


def run_catalogue(a):
    import json

    from . import Catalogue, add_to_catalogue, build_catalogue
    from .openset import describe_calibration
    if a.action == "info":
        cat = Catalogue.load(a.catalogue)
        info = cat.summary()
        model = cat.meta.get("model") or {}
        info["identification_model"] = model.get("diagnostics")
        print(json.dumps(info, indent=2))
        return 0
    with runtime_from_args(a), _printed_here():
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
    if s["model"] == "default":
        print("  identification model: lynxid's default (fitted on simulated lynx, not on these animals) until the "
              "catalogue can fit its own, which needs at least two individuals photographed on two or more occasions")
    elif s["model_switched_from"] == "default":
        print("  identification model: now the catalogue's own, fitted on its photos (it replaces lynxid's default)")
    if d:
        print(f"  identification model (leave-one-out on the catalogue): known called correctly "
              f"{100 * d['baks']:.0f} %, unknown called new {100 * d['baus']:.0f} %")
        print("  " + describe_calibration(d))
        if d.get("whitening"):
            use = " to choose the candidates" if d.get("whitening_use") == "shortlist" else ""
            print(f"  embedding compared in a metric learned on the catalogue{use} ({d['whitening_dim']} dimensions; "
                  f"it ranks the catalogue's individuals better: MRR {d['mrr_raw']:.3f} -> {d['mrr_whitened']:.3f})")
    skipped = [r for r in cat.meta.get("issues", []) if r.get("severity") != "warning"]
    if skipped:
        print(f"  {len(skipped)} photo(s) not used; see 'issues' in {cat.root / 'catalogue.json'}")
    _print_megadetector_gaps(cat.meta.get("megadetector"), f"'issues' in {cat.root / 'catalogue.json'}", "  ")
    _fail_if_unusable(cat)
    return 0


@contextlib.contextmanager
def _printed_here():
    """Leave out the Python warnings these commands say in their own words (the MegaDetector
    file's gaps, a catalogue that cannot identify), so that nothing is said twice."""
    from .enrol import CatalogueWarning, ModelSwitch
    from .megadetector import MegaDetectorWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogueWarning)
        warnings.simplefilter("ignore", ModelSwitch)
        warnings.simplefilter("ignore", MegaDetectorWarning)
        yield


def _fail_if_unusable(cat) -> None:
    """Stop (exit 2, the reason on stderr) where the catalogue written cannot identify anything."""
    from .enrol import identification_problem
    problem = identification_problem(cat)
    if problem:
        raise ValueError(f"catalogue {cat.root} was written but cannot identify anything: {problem}. Add photos "
                         f"('lynxid catalogue add {cat.root} --images MORE'); 'lynxid identify' refuses it until then")


def _print_megadetector_gaps(md: dict | None, where: str, indent: str = "") -> None:
    """Say how many images the MegaDetector file did not list (they have no detections)."""
    if md and md.get("images_without_entry"):
        print(f"{indent}{md['images_without_entry']} of {md['images']} images have no entry in the MegaDetector file "
              f"{md['file']}, so no detections: listed in {where}")


def run_catalogue_add_reviewed(a):
    from . import add_reviewed
    with _printed_here():
        cat, added = add_reviewed(a.catalogue, a.results, include_new=not a.known_only, progress=not a.quiet)
    s = cat.summary()
    print(f"added {len(added)} reviewed detection(s) of {added['individual'].nunique() if len(added) else 0} "
          f"individual(s); catalogue {cat.root}: {s['individuals']} individuals, {s['references']} reference photos")
    _fail_if_unusable(cat)
    return 0


def add_identify(sub, formatter):
    p = sub.add_parser("identify", formatter_class=formatter, help="identify the individuals in a folder of photos",
                       description="Identify every animal detection in IMAGES (station/[camera/]image folders, or "
                       "camtrapR's Station__date__time file names) against a catalogue: a known individual with its "
                       "probability, or new (new animals are grouped into provisional IDs NEW-001, ...). Photos of one "
                       "passage (same station, less than --event-gap seconds apart) are decided together.")
    p.add_argument("images", help="folder of survey photos")
    p.add_argument("--catalogue", required=True, help="catalogue folder (see 'lynxid catalogue build')")
    p.add_argument("--out", required=True, help="output folder: detections.csv/.parquet, issues.csv, summary.json")
    p.add_argument("--megadetector", help="MegaDetector batch output JSON (boxes); without it (or --detector) each "
                   "photo is one detection")
    add_detector_args(p)
    p.add_argument("--threshold", type=float, default=0.2, help="MegaDetector confidence threshold (default: %(default)s)")
    add_box_filter_arg(p)
    p.add_argument("--tz", help="time zone of the camera clocks, e.g. Europe/Zurich or +01:00 "
                   "(default: EXIF OffsetTimeOriginal, else UTC)")
    p.add_argument("--station-from", choices=["auto", "folder", "filename"], default="auto",
                   help="where the station name is: folder (station/[camera/]image), filename "
                   "(Station__YYYY-MM-DD__HH-MM-SS(n).JPG) or auto (default)")
    p.add_argument("--event-gap", type=float, default=20.0, help="seconds between photos of one event (default: %(default)s)")
    p.add_argument("--review-below", type=float, default=0.9,
                   help="flag decisions less certain than this for review (default: %(default)s)")
    add_cache_dir_arg(p, "feature cache folder (default: OUT/cache); rerunning resumes from it")
    p.add_argument("--decisions", help="reviewer decisions (CSV from 'lynxid review') that override the machine's "
                   "calls (default: OUT/decisions.csv if present; 'none' to ignore it)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_runtime_args(p)

    def run(a):
        from . import identify
        from .decisions import find_decisions
        dec = None if (a.decisions or "").lower() == "none" else (a.decisions or find_decisions(a.out))
        md, box_filter = _detected(a), box_filter_from_args(a)
        with runtime_from_args(a), _printed_here():
            res = identify(a.images, a.catalogue, megadetector=md, out=a.out, tz=a.tz, box_filter=box_filter,
                           threshold=a.threshold, station_from=a.station_from, event_gap=a.event_gap,
                           cache_dir=a.cache_dir, review_below=a.review_below, progress=not a.quiet, decisions=dec)
        s = res.summary
        print(f"{s['images_read']} images read ({s['files_with_issues']} not used, {s['issues']['warning']} "
              f"warning(s): see {s['files']['issues_csv']}), {s['detections']} detections in {s['events']} events")
        _print_megadetector_gaps(s.get("megadetector"), s['files']['issues_csv'])
        _print_filtered(s.get("megadetector"), s['files']['issues_csv'])
        print(f"{s['individuals']} individuals: {s['known_individuals']} known, {s['new_individuals']} new; "
              f"{s['needs_review']} detections flagged for review")
        if s.get("model") == "default":
            print("decided by lynxid's default identification model, fitted on simulated lynx: the catalogue cannot "
                  "fit its own until two or more individuals are photographed on two or more occasions")
        rv = s.get("review") or {}
        if rv.get("decisions"):
            print(f"reviewer decisions applied: {rv['applied']} detection(s) ({rv['confirmed']} confirmed, "
                  f"{rv['reassigned']} reassigned, {rv['new']} new, {rv['rejected']} rejected)"
                  + (f"; {rv['unmatched']} decision(s) match no detection (see issues)" if rv.get("unmatched") else ""))
        print(f"written: {s['files']['detections_csv']}")
    p.set_defaults(func=run)


def _detected(a):
    """The MegaDetector file identify uses: --megadetector's, or --detector's run on the
    images (written to OUT, an earlier run's results reused)."""
    if not a.detector:
        return a.megadetector
    if a.megadetector:
        raise ValueError("give either --megadetector FILE (boxes made elsewhere) or --detector (detect now), not both")
    from pathlib import Path
    out = Path(a.out) / DETECTIONS_FILE
    run_detection(a.images, out, a.detector, a)
    return str(out)


def _print_filtered(md: dict | None, where: str) -> None:
    """Say how many boxes the box filter dropped, by reason."""
    if md and md.get("boxes_filtered"):
        why = ", ".join(f"{n} {k}" for k, n in md["boxes_filtered"].items())
        print(f"box filter: {sum(md['boxes_filtered'].values())} box(es) dropped ({why}), {md['boxes_kept']} kept: "
              f"listed in {where}")


def add_review(sub, formatter):
    p = sub.add_parser("review", formatter_class=formatter, help="review uncertain and new identifications in a browser",
                       description="'report' writes a self-contained HTML page (open it in any browser) showing each "
                       "uncertain or new animal beside its best candidates, with matching keypoints drawn; confirm, "
                       "reassign, mark new or reject, then download decisions.csv. 'import' adds a downloaded "
                       "decisions file to the results folder (RESULTS/decisions.csv keeps every decision ever made); "
                       "rerunning 'lynxid identify' with the same --out applies them.")
    rsub = p.add_subparsers(dest="action", metavar="ACTION")
    q = rsub.add_parser("report", formatter_class=formatter, help="write the review page",
                         description="Write the review page for an identify output folder.")
    q.add_argument("results", help="identify output folder (with detections.parquet)")
    q.add_argument("--catalogue", required=True, help="catalogue folder used for identification")
    q.add_argument("--html", help="the page to write (default: RESULTS/review.html)")
    q.add_argument("--which", choices=["uncertain", "new", "all"], default="uncertain",
                   help="which animals: flagged for review or new (default), new only, or all")
    q.add_argument("--max", type=int, help="at most this many animals, least certain first")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=run_review)
    m = rsub.add_parser("import", formatter_class=formatter, help="add a downloaded decisions.csv to the results",
                         description="Add a decisions.csv downloaded from the review page to the results folder.")
    m.add_argument("decisions", help="decisions CSV downloaded from the review page")
    m.add_argument("--results", required=True, help="identify output folder")
    m.set_defaults(func=run_review)
    p.set_defaults(func=lambda a: p.print_help())


def run_review(a):
    from . import read_decisions, review_report, save_decisions
    if a.action == "report":
        path = review_report(a.results, a.catalogue, a.html, which=a.which, max_items=a.max, progress=not a.quiet)
        print(f"review page written: {path}  (open it in a browser)")
    else:
        from pathlib import Path
        if not (Path(a.results) / "detections.parquet").exists():
            # a typo would otherwise store the review where no identify run will look for it
            raise ValueError(f"{a.results} is not an identify output folder (no detections.parquet): "
                             "give the folder passed to 'lynxid identify --out'")
        n = len(read_decisions(a.decisions))
        target = save_decisions(a.decisions, a.results)
        print(f"{n} decision row(s) added to {target}; rerun 'lynxid identify ... --out {a.results}' to apply them")
    return 0

