"""The main job on the project's own simulated survey: simulate -> catalogue -> identify ->
capture history -> density, with accuracy and density against the simulator's truth. Runs
offline."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from . import storage

__all__ = ["run_demo", "flank_histories"]


def run_demo(out="demo-output", n_individuals: int = 12, n_known: int = 8, n_days: int = 40, seed: int = 1,
             occasion_length: float = 5, fresh: bool = True, progress: bool = True, quiet: bool = False,
             imputations: int = 50) -> dict:
    """Run the whole pipeline on a simulated survey written under ``out``; return a summary.

    ``out/survey`` holds the simulated images and truth, ``out/catalogue`` the catalogue of
    the known individuals, ``out/identified`` the identified detections and
    ``out/capture_history`` the secr (and other) capture-history files; the summary ends with
    the density fitted to that capture history beside the simulator's true density -- with the
    hard calls, and with identification error included (``imputations`` draws of the
    identities; ``density_imputation``). Beside
    the linked history (both flanks, one identity) it builds the left-only and right-only
    ones (:func:`flank_histories`), as a survey whose flanks cannot be linked would.
    """
    from .capture import capture_history
    from .density_demo import demo_density, demo_density_imputed
    from .export import write_formats
    from .evaluate import survey_accuracy
    from .enrol import build_catalogue
    from .identification import identify
    from .simulate import simulate_survey

    out = Path(out)
    if fresh and out.exists():
        for sub in ("survey", "catalogue", "identified", "capture_history", "capture_history_left",
                    "capture_history_right"):
            shutil.rmtree(out / sub, ignore_errors=True)
    t0 = time.time()
    say = (lambda *a: None) if quiet else print
    say(f"[1/5] simulating a survey of {n_individuals} lynx ({n_known} known from an earlier season) ...")
    survey = simulate_survey(out / "survey", n_individuals=n_individuals, n_known=n_known, n_days=n_days, seed=seed,
                             progress=progress)
    t1 = time.time()
    say("[2/5] building the catalogue of known individuals ...")
    cat = build_catalogue(out / "catalogue", survey.catalogue_images, megadetector=survey.catalogue_megadetector_json,
                          progress=progress)
    t2 = time.time()
    say("[3/5] identifying the survey's photos ...")
    res = identify(survey.images, cat, megadetector=survey.megadetector_json, out=out / "identified",
                   progress=progress)
    t3 = time.time()
    say("[4/5] building the capture history ...")
    ch = capture_history(res.detections, survey.stations_csv, occasion_length=occasion_length,
                         unknown_stations="exclude")
    written = write_formats(ch, out / "capture_history", formats=("secr", "oscr", "nimble", "closed", "rmark"))
    t4 = time.time()
    say("[5/5] fitting the density (and the left-only and right-only capture histories) ...")
    dens = demo_density(ch, survey)
    if "error" not in dens["density"]:
        # the same fit with identification error included: identities drawn from identify's
        # probabilities, one capture history and fit per draw (density_imputation)
        dens["density"]["identification_error_included"] = demo_density_imputed(
            out / "identified", survey, survey.stations_csv, imputations, occasion_length=occasion_length,
            unknown_stations="exclude")
    by_flank, dens_by_flank = flank_histories(res.detections, survey, out, occasion_length)
    t5 = time.time()
    acc = survey_accuracy(res.detections, survey.truth("images"))
    s = res.summary
    chs = ch.summary()
    summary = {
        "images_read": s["images_read"], "files_with_issues": s["files_with_issues"],
        "detections": s["detections"], "events": s["events"],
        "individuals_found": s["individuals"], "known_individuals": s["known_individuals"],
        "new_individuals": s["new_individuals"], "true_individuals_photographed": acc["true_individuals"],
        "accuracy": acc, "capture_history": chs.to_dict("records"), "capture_history_by_flank": by_flank,
        "seconds": {"simulate": round(t1 - t0, 1), "catalogue": round(t2 - t1, 1), "identify": round(t3 - t2, 1),
                    "capture_history": round(t4 - t3, 1), "density": round(t5 - t4, 1), "total": round(t5 - t0, 1)},
        "files": {"detections": s["files"]["detections_csv"], "issues": s["files"]["issues_csv"],
                  "capture_history": str(out / "capture_history"), "catalogue": str(out / "catalogue"),
                  **{f"capture_history_{f}": str(out / f"capture_history_{f}") for f, r in by_flank.items()
                     if isinstance(r, list)},
                  "survey": str(out / "survey")},
        "written": {k: list(v.values()) if isinstance(v, dict) else v for k, v in written.items()},
        **dens, "density_by_flank": dens_by_flank,
    }
    storage.write_json(out / "demo_summary.json", summary)
    if not quiet:
        print(format_summary(summary))
    return summary


def flank_histories(detections, survey, out: Path, occasion_length: float) -> tuple[dict, dict]:
    """The left-only and the right-only capture histories (secr files under
    ``out/capture_history_left`` and ``_right``) and the density fitted to each: with the
    flanks not linked, each flank alone is a survey of the whole population, so each
    estimate should be near the truth too, from fewer detections. Returns ``({flank:
    summary records}, {flank: density})``; a flank without a single detection gives
    ``{"error": ...}`` in both, rather than stopping the demo."""
    from .capture import capture_history
    from .density_demo import demo_density
    from .export import write_formats
    from .flanks import FLANKS

    by_flank, density = {}, {}
    for flank in FLANKS:
        try:
            ch = capture_history(detections, survey.stations_csv, occasion_length=occasion_length,
                                 unknown_stations="exclude", flank=flank)
        except ValueError as exc:
            by_flank[flank] = density[flank] = {"error": str(exc)}
            continue
        write_formats(ch, out / f"capture_history_{flank}", formats=("secr",))
        by_flank[flank] = ch.summary().to_dict("records")
        density[flank] = demo_density(ch, survey)["density"]
    return by_flank, density


def _history_line(label: str, ch: dict) -> str:
    return (f"  {label:<23}{ch.get('individuals', '?')} individuals x {ch.get('occasions', '?')} occasions x "
            f"{ch.get('stations_used', ch.get('stations', '?'))} stations, {ch.get('detections', '?')} detections")


def _flank_lines(s: dict) -> list:
    """One line per flank-only capture history and one per its density (old summaries have none)."""
    from .density_demo import density_line
    lines = []
    for flank, records in s.get("capture_history_by_flank", {}).items():
        if isinstance(records, dict):
            lines.append(f"  {flank + ' flank only':<23}{records.get('error', '?')}")
        elif records:
            lines.append(_history_line(f"{flank} flank only", records[0]))
    for flank, d in s.get("density_by_flank", {}).items():
        if "truth" in d:
            lines.append(f"  {'density, ' + flank + ' only':<23}{density_line(d)}")
    return lines


def format_summary(s: dict) -> str:
    from .density_demo import density_line, imputed_line
    a = s["accuracy"]
    ch = s["capture_history"][0] if s["capture_history"] else {}
    lines = [
        "",
        "lynxid demo: summary",
        f"  images read            {s['images_read']}  ({s['files_with_issues']} unusable, listed in {s['files']['issues']})",
        f"  detections             {s['detections']} in {s['events']} events",
        f"  individuals found      {s['individuals_found']}  ({s['known_individuals']} known, {s['new_individuals']} new)"
        f"; truth: {s['true_individuals_photographed']} photographed",
        f"  accuracy vs truth      {100 * a['accuracy']:.1f} % of detections correctly identified; "
        f"known {100 * a['known_accuracy']:.1f} %, new called new {100 * a['new_recall']:.1f} %, ARI {a['ari']:.3f}",
    ]
    if ch:
        lines.append(_history_line("capture history", ch))
    if "density" in s:
        imp = s["density"].get("identification_error_included")
        lines.append(f"  {'density, hard IDs' if imp else 'density':<23}{density_line(s['density'])}")
        if imp:
            lines.append(f"  {'density, ID error in':<23}{imputed_line(imp)}")
    lines += _flank_lines(s)
    sec = s["seconds"]
    lines += [f"  time                   {sec['total']} s (simulate {sec['simulate']}, catalogue {sec['catalogue']}, "
              f"identify {sec['identify']}, capture history {sec['capture_history']}, "
              f"density {sec.get('density', '?')})",
              f"  files                  {s['files']['detections']}",
              f"                         {s['files']['capture_history']}/ (secr, oSCR, nimble, closed, RMark)"]
    lines += [f"                         {s['files'][k]}/ (secr)"
              for k in ("capture_history_left", "capture_history_right") if k in s["files"]]
    return "\n".join(lines)
