"""Box filter benchmark: does the coat check keep the animals' boxes and drop scenery?

Coat boxes against scenery boxes, on two sets:

* simulated surveys (``lynxid.simulate_survey``): each photo's MegaDetector-style box is a
  coat box; a scenery box is a box of the same size drawn elsewhere in the same photo,
  overlapping the animal's box by at most 10 % of its area. The coat model is fitted on
  surveys with seeds ``--train-seeds`` and measured on a survey with a held-out seed;
* the shared nyala photos (``../shared/data/reid/nyala/<id>/*.jpg``; the animal fills most of
  the photo): the central crop (middle 40 % of each side) is a coat box; the scenery boxes
  are crops of 20 % of each side at the four corners, where the photo most often shows
  background (some corners do show the animal: the nyala rejection is a lower bound).

Writes ``benchmarks/results/box_filter.md`` and ``.json``; ``--write-default`` also writes the
fitted filter as lynxid's shipped default (``python/lynxid/data/box_filter.json``).

    nice .venv/bin/python benchmarks/box_filter.py [--write-default]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import lynxid
from lynxid import BoxFilter

HERE = Path(__file__).resolve().parent
NYALA = HERE.parent.parent / "shared" / "data" / "reid" / "nyala"
DEFAULT_OUT = HERE.parent / "python" / "lynxid" / "data" / "box_filter.json"


def crop(img: Image.Image, box) -> np.ndarray:
    W, H = img.size
    x, y, w, h = box
    return np.asarray(img.crop((int(x * W), int(y * H), max(int(x * W) + 1, int((x + w) * W)),
                                max(int(y * H) + 1, int((y + h) * H)))).convert("RGB"))


def overlap(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3])


def survey_crops(seed: int, workdir: Path, max_photos: int, rng) -> tuple[list, list]:
    """(crops, is_coat) of one simulated survey: each box, and scenery boxes of its size."""
    s = lynxid.simulate_survey(workdir / f"sim{seed}", n_individuals=8, n_known=4, n_days=20, seed=seed,
                               inject_bad_files=False, progress=False)
    md = json.loads((s.root / "megadetector.json").read_text())
    entries = [e for e in md["images"] if e.get("detections")]
    entries = [entries[i] for i in rng.permutation(len(entries))[:max_photos]]
    crops, y = [], []
    for e in entries:
        img = Image.open(s.root / "images" / e["file"]).convert("RGB")
        box = e["detections"][0]["bbox"]
        crops.append(crop(img, box))
        y.append(1)
        for _ in range(2):
            for _try in range(30):
                w, h = box[2], box[3]
                cand = [rng.uniform(0, 1 - w), rng.uniform(0, 1 - h), w, h]
                if overlap(cand, box) <= 0.1:
                    crops.append(crop(img, cand))
                    y.append(0)
                    break
    return crops, y


def nyala_crops(max_photos: int, rng) -> tuple[list, list]:
    files = sorted(NYALA.glob("*/*.jpg"))
    files = [files[i] for i in sorted(rng.permutation(len(files))[:max_photos])]
    crops, y = [], []
    for f in files:
        img = Image.open(f).convert("RGB")
        crops.append(crop(img, [0.0, 0.0, 1.0, 1.0]))
        y.append(1)
        for c in ([0, 0], [0.8, 0], [0, 0.8], [0.8, 0.8]):
            crops.append(crop(img, [c[0], c[1], 0.2, 0.2]))
            y.append(0)
    return crops, y


def rates(f: BoxFilter, crops, y) -> dict:
    """Coat boxes kept and scenery boxes dropped at the filter's threshold and at lower ones,
    and the ranking's AUC (the chance a coat box scores above a scenery box)."""
    from sklearn.metrics import roc_auc_score
    p = f.coat_probability(crops)
    y = np.asarray(y)
    out = {"coat_boxes": int((y == 1).sum()), "scenery_boxes": int((y == 0).sum()),
           "auc": round(float(roc_auc_score(y, p)), 3)}
    for t in sorted({f.coat_threshold, 0.2, 0.05}, reverse=True):
        keep = p >= t
        out[f"at_{t:g}"] = {"coat_kept": round(float(keep[y == 1].mean()), 3),
                            "scenery_dropped": round(float((~keep[y == 0]).mean()), 3)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[101, 102, 103])
    ap.add_argument("--test-seed", type=int, default=201)
    ap.add_argument("--photos", type=int, default=150, help="photos per simulated survey")
    ap.add_argument("--nyala-photos", type=int, default=200)
    ap.add_argument("--write-default", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "box_filter"))
    a = ap.parse_args(argv)
    t0 = time.time()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        Xc, yc = [], []
        for seed in a.train_seeds:
            c, y = survey_crops(seed, Path(tmp), a.photos, rng)
            Xc += c
            yc += y
        f = BoxFilter().fit(Xc, yc)
        train = rates(f, Xc, yc)
        test = rates(f, *survey_crops(a.test_seed, Path(tmp), a.photos, rng))
    res = {"command": "nice .venv/bin/python benchmarks/box_filter.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
           "coat_threshold": f.coat_threshold, "simulated_train": train, "simulated_test": test}
    if NYALA.is_dir():
        res["nyala"] = rates(f, *nyala_crops(a.nyala_photos, rng))
    res["seconds"] = round(time.time() - t0, 1)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    out.with_suffix(".md").write_text(report(res))
    print(report(res))
    if a.write_default:
        f.save(DEFAULT_OUT)
    return 0


def report(res: dict) -> str:
    """The results as a markdown table: coat boxes kept, scenery boxes dropped, per set."""
    lines = ["# Box filter: the coat check", "", f"Command: `{res['command']}` ({res['seconds']} s).", "",
             "Coat boxes kept (recall) and scenery boxes dropped (rejection) by the coat check alone, at the "
             f"default coat threshold {res['coat_threshold']} and at lower ones; AUC = the chance that a coat box "
             "scores above a scenery box. Simulated: the coat model is fitted on the training surveys and measured on "
             "a survey of another seed (other animals, other scenes). Nyala (real photos, not used to fit): the "
             "whole photo (the animal fills it, like a detector's box) is the coat box, the four corner crops "
             "(20 % of each side) the scenery boxes; some corners show the animal or another one, so the rejection "
             "there is a lower bound.", "",
             "| set | coat boxes | scenery boxes | AUC | threshold | coat kept | scenery dropped |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in ("simulated_train", "simulated_test", "nyala"):
        r = res.get(name)
        if not r:
            continue
        for k, v in r.items():
            if k.startswith("at_"):
                lines.append(f"| {name} | {r['coat_boxes']} | {r['scenery_boxes']} | {r['auc']} | {k[3:]} | "
                             f"{v['coat_kept']:.3f} | {v['scenery_dropped']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
