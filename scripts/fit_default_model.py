"""Fit lynxid's default identification model on the project's own simulated lynx, and write
it into the package (python/lynxid/models/default_identification.json).

Rerun (from the repository root; minutes on a laptop CPU, deterministic from the seed):

    .venv/bin/python scripts/fit_default_model.py                      # the shipped model
    .venv/bin/python scripts/fit_default_model.py --individuals 40 --out /tmp/m.json

What it does, every step through lynxid's public API: ``simulate_survey`` renders a reference
catalogue of INDIVIDUALS simulated lynx, each photographed on SIGHTINGS occasions, both
flanks each (lynxid's simulator: its own coat patterns, poses, lighting and scenes; no
third-party photos); ``build_catalogue`` builds a catalogue of them with the default image
model (EfficientNet-Lite0) and local features, with the learned metric off (the default model
never ships one: see lynxid/default_model.py); ``write_default_model`` writes what transfers
of its fitted model, with the embedder tag and local-features version it was fitted with and
this run's command, seed and data. Why a default model exists and how it does on real photos:
benchmarks/README.md ("Default identification model").
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

import lynxid  # noqa: E402

WORK = ROOT / "benchmarks" / "_work" / "default_model"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--individuals", type=int, default=60, help="simulated lynx (default: %(default)s)")
    ap.add_argument("--sightings", type=int, default=3, help="occasions each lynx is photographed on, both flanks "
                    "(default: %(default)s)")
    ap.add_argument("--seed", type=int, default=2026, help="the simulation's seed (default: %(default)s)")
    ap.add_argument("--out", help="JSON to write (default: the package's default model file)")
    ap.add_argument("--work", default=str(WORK), help="folder for the simulated photos and catalogue")
    a = ap.parse_args(argv)
    from lynxid.simulate import SurveyConfig
    work = Path(a.work) / f"simulated-{a.individuals}x{a.sightings}-{a.seed}"
    t = time.time()
    if not (work / "catalogue_megadetector.json").exists():
        cfg = SurveyConfig(n_individuals=a.individuals, n_known=a.individuals, n_days=5, max_detections=1,
                           catalogue_images_per_flank=a.sightings, inject_bad_files=False, seed=a.seed)
        lynxid.simulate_survey(work, cfg, progress=True)
    cat_dir = work / "built_catalogue"
    if cat_dir.exists():              # a rerun fits again from the same photos (features cached there)
        (cat_dir / "catalogue.json").unlink(missing_ok=True)
    cat = lynxid.build_catalogue(cat_dir, work / "catalogue", megadetector=work / "catalogue_megadetector.json",
                                 metric="off", progress=True)
    provenance = {
        "command": " ".join(["python scripts/fit_default_model.py", *(argv if argv is not None else sys.argv[1:])]),
        "seed": a.seed, "lynxid": lynxid.__version__, "fitted": time.strftime("%Y-%m-%d %H:%M"),
        "seconds": round(time.time() - t, 1),
        "data": (f"lynxid's simulator (simulate_survey, SurveyConfig(n_individuals={a.individuals}, "
                 f"n_known={a.individuals}, catalogue_images_per_flank={a.sightings}, seed={a.seed})): its "
                 f"reference catalogue, {a.individuals} simulated lynx x {a.sightings} sightings x 2 flanks; "
                 "no third-party photos"),
        "catalogue_settings": "build_catalogue(..., metric='off'): default image model, local features",
        "work": str(work.resolve().relative_to(ROOT)) if work.resolve().is_relative_to(ROOT) else str(work)}
    rec = lynxid.write_default_model(cat, a.out, provenance)
    d = rec["model"]["diagnostics"]
    print(f"default model: {cat.summary()['individuals']} individuals, {cat.summary()['references']} photos; "
          f"new weight {rec['model']['new_weight']:.3g}; leave-one-out BAKS {d.get('baks', float('nan')):.3f}, "
          f"BAUS {d.get('baus', float('nan')):.3f}; embedder {rec['embedder']}; written: "
          f"{a.out or 'python/lynxid/models/default_identification.json'} ({time.time() - t:.0f} s)")


if __name__ == "__main__":
    main()
