"""Detection in the pipeline (lynxid.detect, lynxid.detectors, lynxid.box_filter), tested on a
tiny TorchScript detector the tests build: it boxes the red pixels of each image (so the
right answer is known), adds a near-duplicate box NMS must remove, a box below the output
threshold and a "person" box in a fixed place."""
from __future__ import annotations

import builtins
import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from lynxid import BoxFilter, detect_animals
from lynxid.cli import main
from lynxid.detect import checkpoint_path, image_files
from lynxid.detectors import MegaDetector, TorchScriptDetector, letterbox, load_detector, postprocess
from lynxid.ingest import Issues, scan_images
from lynxid.megadetector import load_megadetector

S = 64   # the tiny detector's input size


class RedBoxes(torch.nn.Module):
    """YOLO-style output (N, 4, 8): cx, cy, w, h, objectness, animal/person/vehicle scores."""

    def __init__(self):
        super().__init__()
        self.input_size = S

    def forward(self, x):
        m = ((x[:, 0] > 0.7) & (x[:, 1] < 0.3) & (x[:, 2] < 0.3)).float()
        idx = torch.arange(x.shape[-1], dtype=x.dtype)
        cols, rows = m.amax(dim=1), m.amax(dim=2)
        x1 = (idx + 1e4 * (1 - cols)).amin(dim=1)
        x2 = (idx - 1e4 * (1 - cols)).amax(dim=1) + 1
        y1 = (idx + 1e4 * (1 - rows)).amin(dim=1)
        y2 = (idx - 1e4 * (1 - rows)).amax(dim=1) + 1
        has = cols.amax(dim=1)
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1).clamp(min=1), (y2 - y1).clamp(min=1)
        one, zero = torch.ones_like(cx), torch.zeros_like(cx)
        animal = torch.stack([cx, cy, w, h, 0.9 * has, one, zero, zero], 1)
        dup = torch.stack([cx + 1, cy, w, h, 0.6 * has, one, zero, zero], 1)        # NMS removes it
        faint = torch.stack([cx, cy, w, h, 0.001 * one, one, zero, zero], 1)        # below the threshold
        person = torch.stack([8 * one, 40 * one, 8 * one, 8 * one, 0.5 * one, zero, one, zero], 1)
        return torch.stack([animal, dup, faint, person], 1), x     # a tuple, as YOLOv5's eval output


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "redboxes.pt"
    torch.jit.save(torch.jit.script(RedBoxes()), str(path))
    return path


def photo(path, size=(96, 48), red=(30, 10, 60, 30)):
    """A grey photo with a red rectangle at pixel box (x0, y0, x1, y1), or none."""
    a = np.full((size[1], size[0], 3), 90, np.uint8)
    if red:
        a[red[1]:red[3], red[0]:red[2]] = (230, 20, 20)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "sd"
    photo(root / "S1" / "a.png")
    photo(root / "S1" / "b.png", size=(48, 96), red=(5, 50, 20, 90))
    photo(root / "S2" / "c.png", red=None)
    photo(root / "S2" / "d.png", size=(80, 80), red=(0, 0, 40, 40))
    photo(root / "S2" / "e.png", red=(60, 5, 90, 45))
    (root / "S2" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "notes.txt").write_text("not an image")
    return root


def boxes_of(md, name, cat="1"):
    e = next(e for e in md["images"] if e["file"] == name)
    return [d for d in (e["detections"] or []) if d["category"] == cat]


def test_letterbox_and_postprocess_map_boxes_back_to_the_photo():
    img = Image.new("RGB", (200, 100))
    arr, scale, (px, py) = letterbox(img, 100)
    assert arr.shape == (100, 100, 3) and scale == 0.5 and (px, py) == (0, 25)
    # a box at photo pixels x 40..120, y 20..60 is at letterbox (20..60, 35..55)
    pred = torch.tensor([[[40, 45, 40, 20, 0.8, 0.9, 0.1, 0.0],       # conf 0.72, animal
                          [41, 45, 40, 20, 0.7, 0.9, 0.1, 0.0],       # overlaps: suppressed
                          [80, 50, 10, 10, 0.7, 0.0, 0.0, 0.9],       # vehicle, kept (other class)
                          [10, 30, 4, 4, 0.02, 0.5, 0.0, 0.0]]])       # conf 0.01: kept at 0.005, not at 0.02
    out = postprocess(pred, [(200, 100)], [scale], [(px, py)], threshold=0.005)[0]
    assert [d["category"] for d in out] == ["1", "3", "1"]
    assert out[0]["conf"] == pytest.approx(0.72, abs=1e-3)
    assert out[0]["bbox"] == pytest.approx([0.2, 0.2, 0.4, 0.4], abs=1e-3)
    assert len(postprocess(pred, [(200, 100)], [scale], [(px, py)], threshold=0.02)[0]) == 2
    # a box reaching past the photo is clipped to it
    edge = torch.tensor([[[5, 50, 20, 20, 0.9, 1, 0, 0]]], dtype=torch.float32)
    x, y, w, h = postprocess(edge, [(200, 100)], [scale], [(px, py)])[0][0]["bbox"]
    assert x == 0 and w == pytest.approx(0.15, abs=1e-3)       # x -10..30 px in the photo


def test_torchscript_detector_finds_the_red_box_in_each_photo(model_file, folder):
    det = TorchScriptDetector(model_file, device="cpu")
    assert det.input_size == S and det.name == "redboxes.pt"
    ims = [Image.open(folder / f).convert("RGB") for f in ("S1/a.png", "S1/b.png", "S2/c.png")]
    a, b, c = det.detect(ims)
    animal = [d for d in a if d["category"] == "1"]
    assert len(animal) == 1                       # the duplicate suppressed, the faint one dropped
    assert animal[0]["bbox"] == pytest.approx([30 / 96, 10 / 48, 30 / 96, 20 / 48], abs=0.03)
    assert [d["category"] for d in b if d["category"] == "1"] and not [d for d in c if d["category"] == "1"]
    assert any(d["category"] == "2" for d in a)


def test_detect_writes_megadetector_json_that_lynxid_reads_back(model_file, folder, tmp_path):
    out = tmp_path / "detections.json"
    res = detect_animals(folder, out, str(model_file), device="cpu", batch_size=3, progress=False)
    assert res["images"] == 6 and res["failed"] == 1 and res["with_animal"] == 4 and res["detected"] == 6
    md = json.loads(out.read_text())
    assert md["info"]["format_version"] == "1.4" and md["info"]["detector"] == "redboxes.pt"
    assert md["info"]["detection_completion_time"]
    assert md["detection_categories"] == {"1": "animal", "2": "person", "3": "vehicle"}
    assert [e["file"] for e in md["images"]] == image_files(folder)
    broken = next(e for e in md["images"] if e["file"] == "S2/broken.jpg")
    assert broken["detections"] is None and "could not be read" in broken["failure"]
    assert boxes_of(md, "S1/b.png")[0]["bbox"] == pytest.approx([5 / 48, 50 / 96, 15 / 48, 40 / 96], abs=0.03)
    assert not checkpoint_path(out).exists()
    imgs, _ = scan_images(folder, progress=False)
    det, issues = load_megadetector(out, imgs)
    assert sorted(det["file"]) == ["S1/a.png", "S1/b.png", "S2/d.png", "S2/e.png"]
    assert "S2/c.png" in set(issues["file"])     # no animal box: reported, not dropped quietly


def test_batch_size_does_not_change_the_boxes(model_file, folder, tmp_path):
    one = detect_animals(folder, tmp_path / "one.json", str(model_file), device="cpu", batch_size=1, progress=False)
    three = detect_animals(folder, tmp_path / "three.json", str(model_file), device="cpu", batch_size=3,
                           progress=False)
    a, b = (json.loads(open(r["file"]).read())["images"] for r in (one, three))
    assert a == b


class Interrupted:
    """The tiny detector, with a Ctrl-C after ``stop_after`` images; counts what it saw."""

    def __init__(self, model_file, stop_after=None):
        self.inner = TorchScriptDetector(model_file, device="cpu")
        self.name, self.stop_after, self.seen = self.inner.name, stop_after, 0

    def detect(self, images):
        if self.stop_after is not None and self.seen + len(images) > self.stop_after:
            raise KeyboardInterrupt
        self.seen += len(images)
        return self.inner.detect(images)


def test_an_interrupted_run_resumes_where_it_stopped(model_file, folder, tmp_path):
    out = tmp_path / "d.json"
    first = Interrupted(model_file, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        detect_animals(folder, out, first, batch_size=2, checkpoint_every=1, progress=False)
    ck = checkpoint_path(out)
    assert ck.exists() and not out.exists()
    saved = json.loads(ck.read_text())["images"]
    assert [e["file"] for e in saved] == image_files(folder)[:2]
    second = Interrupted(model_file)
    res = detect_animals(folder, out, second, batch_size=2, progress=False)
    assert res["reused"] == 2 and res["detected"] == 4 and second.seen == 3     # 4 left, 1 unreadable
    whole = detect_animals(folder, tmp_path / "whole.json", str(model_file), device="cpu", progress=False)
    assert json.loads(out.read_text())["images"] == json.loads(open(whole["file"]).read())["images"]
    assert not ck.exists()
    # a finished file is reused as it is: nothing detected again, even without the detector
    again = detect_animals(folder, out, "redboxes.pt", progress=False)
    assert again["detected"] == 0 and again["reused"] == 6
    # new photos on the card: only they are detected
    photo(folder / "S3" / "f.png")
    assert detect_animals(folder, out, str(model_file), device="cpu", progress=False)["detected"] == 1


def test_another_detectors_results_are_not_mixed_in(model_file, folder, tmp_path):
    out = tmp_path / "d.json"
    detect_animals(folder, out, str(model_file), device="cpu", progress=False)
    with pytest.raises(ValueError, match="made by detector 'redboxes.pt', not 'MDV5A'"):
        detect_animals(folder, out, "megadetector", progress=False)


def test_a_detector_failing_on_one_image_records_it_and_goes_on(model_file, folder, tmp_path):
    class Picky(Interrupted):
        def detect(self, images):
            if any(im.size == (80, 80) for im in images):
                raise RuntimeError("out of memory")
            return self.inner.detect(images)
    res = detect_animals(folder, tmp_path / "d.json", Picky(model_file), batch_size=6, progress=False)
    md = json.loads(open(res["file"]).read())
    d = next(e for e in md["images"] if e["file"] == "S2/d.png")
    assert "out of memory" in d["failure"] and res["failed"] == 2
    assert boxes_of(md, "S2/e.png")       # the rest of its batch detected one by one


def test_missing_megadetector_package_or_weights_say_what_to_do(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_megadetector(name, *args, **kwargs):
        if name.startswith("megadetector"):
            raise ImportError("No module named 'megadetector'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_megadetector)
    with pytest.raises(ValueError, match=r"pip install lynxid\[detect\]"):
        MegaDetector("MDV5A")
    (tmp_path / "md_v5a.0.0.pt").write_bytes(b"weights")
    with pytest.raises(ValueError, match=r"pip install lynxid\[detect\]"):
        load_detector("megadetector", weights=tmp_path / "md_v5a.0.0.pt")
    # weights that are not there, or a model name the package does not know: said before loading anything
    with pytest.raises(FileNotFoundError, match="MegaDetector weights not found.*--detector-weights FILE"):
        MegaDetector(str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="unknown MegaDetector model 'MDV9'"):
        load_detector("megadetector", weights="MDV9")


def test_missing_or_wrong_detector_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="detector model not found"):
        load_detector(str(tmp_path / "none.pt"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a TorchScript model"):
        load_detector(str(tmp_path / "junk.pt"), device="cpu")
    with pytest.raises(ValueError, match="--detector-weights goes with --detector megadetector"):
        load_detector(str(tmp_path / "junk.pt"), weights="x.pt")


def test_detect_command_on_a_tiny_folder(model_file, folder, tmp_path, capsys):
    out = tmp_path / "cli.json"
    assert main(["detect", str(folder), "--out", str(out), "--detector", str(model_file), "--device", "cpu",
                 "--batch-size", "2", "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "6 images" in said and "4 with an animal box" in said and "1 could not be read" in said
    assert len(json.loads(out.read_text())["images"]) == 6
    assert main(["detect", str(folder), "--out", str(out), "--detector", str(model_file), "--quiet"]) == 0
    assert "6 reused" in capsys.readouterr().out
    assert main(["detect", str(folder), "--out", str(tmp_path / "x.json"), "--detector", "megadetector",
                 "--detector-weights", str(tmp_path / "nope.pt"), "--quiet"]) == 2


# ---- the box filter ---------------------------------------------------------------------
def boxes_table(tmp_path):
    """Detections of three photos: a spotted coat, a smooth rock, another spotted coat."""
    rng = np.random.default_rng(0)
    paths = []
    yy, xx = np.mgrid[0:200, 0:300]
    for name in ("spots", "flat", "tiny"):
        a = np.full((200, 300, 3), 120, np.uint8)
        a += rng.integers(0, 6, a.shape, dtype=np.uint8)
        if name == "flat":        # a smoothly shaded rock
            a = np.repeat((100 + 0.2 * xx + 0.1 * yy)[..., None], 3, 2).astype(np.uint8)
        else:
            for _ in range(60):
                y, x = rng.integers(10, 190), rng.integers(10, 290)
                a[y - 4:y + 4, x - 4:x + 4] = 30
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(a).save(paths[-1])
    rows = [dict(file="spots.png", bbox_x=0.1, bbox_y=0.1, bbox_w=0.8, bbox_h=0.8, det_conf=0.9),
            dict(file="flat.png", bbox_x=0.1, bbox_y=0.1, bbox_w=0.8, bbox_h=0.8, det_conf=0.9),
            dict(file="tiny.png", bbox_x=0.1, bbox_y=0.1, bbox_w=0.05, bbox_h=0.05, det_conf=0.9),
            dict(file="spots.png", bbox_x=0.1, bbox_y=0.1, bbox_w=0.8, bbox_h=0.8, det_conf=0.1),
            dict(file="spots.png", bbox_x=0.0, bbox_y=0.4, bbox_w=0.9, bbox_h=0.2, det_conf=0.9),
            dict(file="spots.png", bbox_x=0, bbox_y=0, bbox_w=1, bbox_h=1, det_conf=np.nan)]
    det = pd.DataFrame(rows)
    det["path"] = [str(tmp_path / f) for f in det["file"]]
    det["width"], det["height"] = 300, 200
    return det


def test_box_filter_drops_boxes_with_their_reasons(tmp_path):
    det = boxes_table(tmp_path)
    det.attrs["megadetector"] = {"matched": 3}
    f = BoxFilter.default()
    issues = Issues()
    kept = f.apply(det, issues)
    reasons = issues.table()
    assert list(kept.index) == [0, 5]            # the coat box, and the whole image (no detector box)
    assert list(reasons["severity"].unique()) == ["filtered"]
    why = dict(zip(reasons.index, reasons["reason"]))
    assert "no patterned coat" in why[0] and "too small" in why[1] and "confidence 0.10" in why[2]
    assert "too elongated" in why[3]
    assert kept.attrs["megadetector"]["boxes_filtered"] == {"confidence": 1, "too small": 1, "too elongated": 1,
                                                             "shows no patterned coat": 1}
    assert kept.attrs["megadetector"]["boxes_kept"] == 2 and kept.attrs["megadetector"]["matched"] == 3


def test_box_filter_state_round_trips_as_json_and_refits(tmp_path):
    det = boxes_table(tmp_path)
    f = BoxFilter.default(min_side=10)
    g = BoxFilter.load(f.save(tmp_path / "f.json"))
    assert g.to_dict() == f.to_dict() and g.min_side == 10
    assert list(g.decide(det)) == list(f.decide(det))
    crops = [np.asarray(Image.open(tmp_path / n).convert("RGB")) for n in ("spots.png", "flat.png")] * 3
    h = BoxFilter(coat_threshold=0.5).fit(crops, [1, 0] * 3)
    p = h.coat_probability(crops[:2])
    assert p[0] > 0.5 > p[1]
    with pytest.raises(ValueError, match="not fitted"):
        BoxFilter().coat_probability(crops)
    with pytest.raises(ValueError, match="both coat and scenery"):
        BoxFilter().fit(crops[:1], [1])


@pytest.mark.slow
def test_identify_with_the_detector_end_to_end(small_run, tmp_path, capsys):
    """identify --detector FILE.pt on the simulated survey: detection written into OUT and
    used as a MegaDetector file would be, boxes filtered and reported, reused on a rerun."""
    class Middle(torch.nn.Module):        # one box over the middle of every photo
        def __init__(self):
            super().__init__()
            self.input_size = 64

        def forward(self, x):
            n = x.shape[0]
            box = torch.tensor([[[32.0, 32.0, 48.0, 30.0, 0.9, 1.0, 0.0, 0.0]]]).repeat(n, 1, 1)
            return box
    m = torch.jit.script(Middle())
    path = tmp_path / "middle.pt"
    torch.jit.save(m, str(path))
    out = tmp_path / "res"
    args = ["identify", str(small_run.survey.images), "--catalogue", str(small_run.catalogue), "--out", str(out),
            "--detector", str(path), "--device", "cpu", "--box-filter", "basic", "--quiet"]
    assert main(args) == 0
    said = capsys.readouterr().out
    md = json.loads((out / "megadetector.json").read_text())
    assert md["info"]["detector"] == "middle.pt" and "detected now" in said
    summary = json.loads((out / "summary.json").read_text())
    imgs, _ = scan_images(small_run.survey.images, progress=False)
    assert summary["megadetector"]["matched"] == len(imgs) == summary["images_read"]   # every image has its entry
    failed = {e["file"] for e in md["images"] if e.get("failure")}      # the simulator's broken files
    issues = pd.read_csv(out / "issues.csv")
    said_failed = set(issues.loc[issues["reason"].str.startswith("MegaDetector failed"), "file"])
    assert failed and said_failed == failed & set(imgs["file"])
    assert 0 < summary["detections"] <= summary["megadetector"]["boxes_kept"]
    assert main(args) == 0
    assert "reused from an earlier run" in capsys.readouterr().out
    assert main(args + ["--megadetector", str(out / "megadetector.json")]) == 2
    assert "not both" in capsys.readouterr().err
