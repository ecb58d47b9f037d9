"""Day one with a real folder: what cannot give a result stops with the reason, and what was
left out or looks wrong is counted where the user looks (issue "Failing loudly").

Each test builds a few small random photos; none needs more than a handful of features."""
import json
import warnings

import pandas as pd
import pytest

from _pipeline import textured_photos
from lynxid.cli import main




def _md_file(path, files, conf=0.9):
    box = [{"category": "1", "conf": conf, "bbox": [0.1, 0.1, 0.6, 0.6]}]
    path.write_text(json.dumps({"images": [{"file": f, "detections": box} for f in files],
                                "detection_categories": {"1": "animal"}}))
    return path


KNOWN = ["L01/1_left.jpg", "L01/2_left.jpg", "L02/1_right.jpg"]


# -- 1. a catalogue that cannot identify anything ---------------------------------------------
def test_catalogue_without_any_usable_photo_is_written_but_fails(tmp_path, capsys):
    """Every box below the threshold: 0 individuals. The CLI writes the catalogue, says so,
    and exits 2 with the reason; the Python API returns it with a CatalogueWarning."""
    from lynxid.enrol import CatalogueWarning, build_catalogue
    known = textured_photos(tmp_path / "known", KNOWN)
    md = _md_file(tmp_path / "md.json", KNOWN, conf=0.05)
    code = main(["catalogue", "build", str(tmp_path / "cat"), "--images", str(known), "--megadetector", str(md),
                 "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2 and f"catalogue {tmp_path / 'cat'}: 0 individuals, 0 reference photos" in out
    assert err.startswith(f"lynxid catalogue: error: catalogue {tmp_path / 'cat'} was written but cannot identify "
                          "anything: it holds no individual: none of the photos could be used (3 not used")
    assert "no animal box at or above conf 0.2 (best 0.05)" in err and "lynxid catalogue add" in err
    assert "Warning" not in err                       # said once, in the CLI's words
    assert (tmp_path / "cat" / "catalogue.json").exists()
    with pytest.warns(CatalogueWarning, match="was saved but cannot identify anything: it holds no individual"):
        cat = build_catalogue(tmp_path / "cat2", known, megadetector=md, progress=False)
    assert len(cat) == 0 and (tmp_path / "cat2" / "catalogue.json").exists()


def test_catalogue_without_a_model_fails_and_identify_refuses_it(tmp_path, capsys):
    """Two animals, one seen once: references but no identification model of its own, and
    (without local features) no default model either (tests/test_default_model.py: with them)."""
    from lynxid.enrol import CatalogueWarning, build_catalogue, identification_problem
    known = textured_photos(tmp_path / "known", KNOWN)
    with pytest.warns(CatalogueWarning, match="no identification model, which needs at least two individuals "
                      "photographed on two or more occasions"):
        cat = build_catalogue(tmp_path / "cat", known, progress=False, local=False)
    assert len(cat) == 3 and "calibration needs" in identification_problem(cat)
    assert "the default model needs local features" in identification_problem(cat)
    # adding photos (here: none new) refits and fails again, on the console
    code = main(["catalogue", "add", str(tmp_path / "cat"), "--images", str(known), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2 and "2 individuals, 3 reference photos" in out
    assert "was written but cannot identify anything: it has 2 individual(s) and 3 reference photo(s) but no " \
           "identification model" in err and "Warning" not in err
    code = main(["identify", str(known), "--catalogue", str(tmp_path / "cat"), "--out", str(tmp_path / "out"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot identify anything: it has 2 individual(s)" in err


# -- 2. a MegaDetector file that lists none, or only some, of the images ----------------------
def test_megadetector_file_listing_none_is_an_error_some_a_warning(tmp_path):
    from lynxid.detections import labelled_detections
    from lynxid.megadetector import MegaDetectorWarning
    known = textured_photos(tmp_path / "known", KNOWN)
    other = _md_file(tmp_path / "other.json", [f"D:\\cams\\ST{i:02d}\\IMG_{i:04d}.JPG" for i in range(90)])
    with pytest.raises(ValueError, match=r"has no entry for any of the 3 image\(s\) under .*it lists 90 image\(s\)"):
        labelled_detections(known, other)
    partly = _md_file(tmp_path / "partly.json", ["C:\\lynx\\known\\L01\\1_left.jpg", "L02/1_right.jpg"])
    with pytest.warns(MegaDetectorWarning, match=r"1 of 3 images have no entry in the MegaDetector file .*"
                      r"partly.json, so no detections \(e.g. 'L01/2_left.jpg'"):
        det = labelled_detections(known, partly)
    assert sorted(det.file) == ["L01/1_left.jpg", "L02/1_right.jpg"]
    assert det.attrs["megadetector"]["images_without_entry"] == 1


def test_megadetector_file_listing_none_stops_identify(tmp_path):
    from _pipeline import small_run
    from lynxid.identification import identify
    survey = textured_photos(tmp_path / "survey", ["S1/A/IMG_0001.JPG", "S2/A/IMG_0002.JPG"])
    md = _md_file(tmp_path / "md.json", ["/mnt/elsewhere/ST01/IMG_9999.JPG"])
    with pytest.raises(ValueError, match="has no entry for any of the 2 image"):
        identify(survey, small_run().catalogue, megadetector=md, out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "detections.csv").exists()


# -- 3. summary.json counts warnings apart from the files not used ----------------------------
def test_summary_counts_issues_by_severity(tmp_path, capsys):
    """Photos without EXIF time (used, with a warning), one image the MegaDetector file does
    not list (not used), one entry of the file with no image (a warning)."""
    from _pipeline import small_run
    files = ["S1/A/IMG_0001.JPG", "S1/A/IMG_0002.JPG", "S2/A/IMG_0003.JPG"]
    survey = textured_photos(tmp_path / "survey", files)
    md = _md_file(tmp_path / "md.json", files[:2] + ["S9/Z/IMG_0404.JPG"])
    out = tmp_path / "out"
    code = main(["identify", str(survey), "--catalogue", str(small_run().catalogue), "--megadetector", str(md),
                 "--out", str(out), "--quiet"])
    printed, err = capsys.readouterr()
    assert code == 0 and "MegaDetectorWarning" not in err
    issues = pd.read_csv(out / "issues.csv")
    s = json.loads((out / "summary.json").read_text())
    by_sev = issues["severity"].value_counts().to_dict()
    assert s["issues"] == {k: by_sev.get(k, 0) for k in s["issues"]} and sum(s["issues"].values()) == len(issues)
    assert s["issues"]["warning"] >= 3 and s["issues"]["skipped"] == 1      # 2 times, 1 ghost entry; 1 unlisted
    assert s["files_with_issues"] == 1                                      # files not used
    assert f"3 images read (1 not used, {s['issues']['warning']} warning(s): see {out / 'issues.csv'})" in printed


# -- 4. an evaluation set with animals photographed once --------------------------------------
def _labelled(root, layout, seed=0):
    return textured_photos(root, [f"{ind}/{f}" for ind, fs in layout.items() for f in fs], seed)


def test_evaluate_names_the_individuals_it_cannot_use(tmp_path, capsys):
    """Single-photo animals stop the evaluation before any work, naming them; no numpy warning."""
    layout = {"A": ["1_left.jpg"], "B": ["1_left.jpg"], "C": ["1_left.jpg"], "D": ["1_left.jpg"],
              "E": ["1_left.jpg", "2_left.jpg"]}
    root = _labelled(tmp_path / "single", layout)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code = main(["evaluate", str(root), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "individuals A, B, C, D have one photo each" in err
    assert "1 of 5 individuals is usable" in err and "full method needs at least 4" in err
    from lynxid.evaluate import evaluate_dataset
    with pytest.raises(ValueError, match="individual E has photos of one sighting only"):
        evaluate_dataset(_labelled(tmp_path / "one", {k: ["1_left.jpg"] for k in "ABCD"} | {"E": ["1_a.jpg",
                         "1_b.jpg"]}), progress=False)
    with pytest.raises(ValueError, match="the evaluation needs one with two photos at least"):
        evaluate_dataset(_labelled(tmp_path / "none", {k: ["1_left.jpg"] for k in "ABCD"}), methods=("global",),
                         progress=False)
    # photos from two sightings, but each flank from one only: never compared
    flanks = _labelled(tmp_path / "flanks", {k: ["1_left.jpg", "2_right.jpg"] for k in "ABCD"})
    with pytest.raises(ValueError, match=r"individuals A, B, C, D have each flank from one sighting only"):
        evaluate_dataset(flanks, progress=False)


def test_evaluate_names_the_step_that_failed(tmp_path, monkeypatch):
    """A fit that fails later (here the open set's, forced) says which step it was and what it needs."""
    import lynxid.evaluate as ev

    def fail(*a, **k):
        raise ValueError("calibration needs matching and non-matching pairs; got 0 matching and 4 non-matching")
    monkeypatch.setattr(ev, "open_set", fail)
    root = _labelled(tmp_path / "four", {k: ["1_left.jpg", "2_left.jpg"] for k in "ABCD"})
    with pytest.raises(ValueError, match=r"evaluation step 'open set' failed: calibration needs .*its catalogue is "
                       r"a random half of the 4 individuals, drawn by seed 0"):
        ev.evaluate_dataset(root, protocols=(), progress=False)


def test_evaluate_report_says_why_a_protocol_has_no_full_figures():
    from lynxid.evaluate import format_report
    note = "no query scored: the other folds' individuals had too few matching pairs to calibrate on"
    rep = {"dataset": "d", "images": 2, "individuals": 2, "with_flank": 2, "backbone": "b",
           "modes": {"all": {"queries": 2, "full": {"queries": 0, "rank1": float("nan"), "note": note}}}}
    assert f"all            full            {note}" in format_report(rep)
