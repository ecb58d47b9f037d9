"""The command line: every command's help, the demo end to end, clear errors."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from _pipeline import textured_photos
from lynxid.cli import build_parser, main

EXPECTED = {"demo", "simulate", "catalogue", "identify", "evaluate", "capture-history", "camera-operation"}


def subcommands(parser):
    import argparse
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a.choices
    return {}


def all_command_paths():
    paths = []
    for name, p in subcommands(build_parser()).items():
        paths.append([name])
        paths += [[name, sub] for sub in subcommands(p)]
    return paths


def test_commands_registered():
    names = set(subcommands(build_parser()))
    assert EXPECTED <= names
    assert {"build", "add", "info"} <= set(subcommands(subcommands(build_parser())["catalogue"]))


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p))
def test_help_of_every_command(path, capsys):
    with pytest.raises(SystemExit) as e:
        main(path + ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lynxid " + " ".join(path))
    # ecologists read --help: the command says what it does, every argument what it is
    import argparse
    parser = build_parser()
    for name in path:
        parser = subcommands(parser)[name]
    assert parser.description, f"'lynxid {' '.join(path)}' has no description"
    undocumented = [a.dest for a in parser._actions if not a.help and not isinstance(a, argparse._SubParsersAction)]
    assert not undocumented, f"'lynxid {' '.join(path)}': no help for {undocumented}"


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "typical workflow" in out and all(c in out for c in EXPECTED)


def test_console_script_and_module():
    exe = Path(sys.executable).parent / "lynxid"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "lynxid.cli"]
    out = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("lynxid ")
    out = subprocess.run([sys.executable, "-m", "lynxid.cli", "identify", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "--catalogue" in out.stdout


def test_errors_are_short_messages_with_exit_code(tmp_path, capsys):
    code = main(["identify", str(tmp_path / "no-such-folder"), "--catalogue", str(tmp_path / "cat"),
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lynxid identify: error:") and "Traceback" not in err
    code = main(["catalogue", "info", str(tmp_path / "nothing")])
    assert code == 2 and "lynxid catalogue build" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["identify", str(tmp_path)])          # --catalogue and --out are required
    assert e.value.code == 2


CACHE_COMMANDS = {"identify": ["IMAGES", "--catalogue", "CAT", "--out", "OUT"], "evaluate": ["DATASET"],
                  "features": ["FILES"]}


@pytest.mark.parametrize("command", sorted(CACHE_COMMANDS))
def test_cache_dir_option_and_its_old_spelling(command, capsys):
    """--cache-dir, as the API's and R's cache_dir; the old --cache still works, with a note, hidden from --help."""
    parser = build_parser()
    args = [command, *CACHE_COMMANDS[command]]
    assert parser.parse_args(args + ["--cache-dir", "C1"]).cache_dir == "C1"
    assert capsys.readouterr().err == ""
    assert parser.parse_args(args + ["--cache", "C2"]).cache_dir == "C2"
    err = capsys.readouterr().err
    assert "--cache is deprecated; use --cache-dir" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "--cache-dir DIR" in out and "--cache " not in out and "--cache," not in out


def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--individuals", "4", "--known", "2", "--days", "8", "--seed", "3",
                 "--occasion-length", "4", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "lynxid demo: summary" in printed and "% of detections correctly identified" in printed
    s = json.loads((out / "demo_summary.json").read_text())
    det = pd.read_csv(out / "identified" / "detections.csv")
    assert s["detections"] == len(det) > 0
    truth = pd.read_csv(out / "survey" / "truth" / "images.csv")
    assert set(det.file) <= set(truth.file)
    assert s["accuracy"]["detections"] == len(det) and 0 <= s["accuracy"]["accuracy"] <= 1
    assert s["files_with_issues"] == 3            # zero-byte, not an image, truncated
    ch = s["capture_history"][0]
    assert ch["stations"] == 12 and ch["individuals"] == det.dropna(subset=["timestamp"]).individual_id.nunique()
    for f in ("capt.txt", "traps.txt", "oscr_edf.csv", "nimble_y.csv", "closed_matrix.csv", "rmark.inp"):
        assert (out / "capture_history" / f).stat().st_size > 0, f
    # info on the catalogue the demo built
    assert main(["catalogue", "info", str(out / "catalogue")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["individuals"] == 2 and info["fitted"] is True


def test_wrong_folders_are_errors(tmp_path, capsys):
    """An empty survey folder, or an evaluation set too small for the full method, is an error
    that says what to do, not a run that 'succeeds' with nothing."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    from _pipeline import small_run
    from lynxid.identification import identify
    with pytest.raises(ValueError, match="no readable images under"):
        identify(tmp_path / "empty", small_run().catalogue, progress=False)
    from PIL import Image
    for ind in ("A", "B", "C"):
        (tmp_path / "three" / ind).mkdir(parents=True)
        Image.new("RGB", (40, 30)).save(tmp_path / "three" / ind / "1_left.jpg")
    assert main(["evaluate", str(tmp_path / "three"), "--quiet"]) == 2
    assert "needs at least 4" in capsys.readouterr().err




def _md_file(path, files):
    box = [{"category": "1", "conf": 0.9, "bbox": [0.1, 0.1, 0.6, 0.6]}]
    path.write_text(json.dumps({"images": [{"file": f, "detections": box} for f in files],
                                "detection_categories": {"1": "animal"}}))
    return path


def test_megadetector_file_for_another_folder_stops_the_run(tmp_path, capsys):
    """Issue #19: a MegaDetector file in which no photo of the folder is found is an error
    (exit 2, the reason on the console), not a run that 'succeeds' with 0 detections."""
    survey = textured_photos(tmp_path / "survey", ["S1/A/IMG_0001.JPG", "S1/A/IMG_0002.JPG", "S2/A/IMG_0003.JPG"])
    md = _md_file(tmp_path / "md.json", [f"D:\\cams\\2023\\ST{i:02d}\\IMG_{i:04d}.JPG" for i in range(7)])
    from _pipeline import small_run
    out = tmp_path / "out"
    code = main(["identify", str(survey), "--catalogue", str(small_run().catalogue), "--megadetector", str(md),
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lynxid identify: error: MegaDetector file") and "Traceback" not in err
    assert f"any of the 3 image(s) under {survey}" in err and "it lists 7 image(s)" in err
    assert "'D:\\cams\\2023\\ST00\\IMG_0000.JPG'" in err and "'S1/A/IMG_0001.JPG'" in err
    assert "Run MegaDetector on this folder" in err
    assert not (out / "detections.csv").exists()
    # the same for the photos of a catalogue
    known = textured_photos(tmp_path / "known", ["L01/1_left.jpg", "L01/2_left.jpg", "L02/1_right.jpg"])
    code = main(["catalogue", "build", str(tmp_path / "cat"), "--images", str(known), "--megadetector", str(md),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lynxid catalogue: error: MegaDetector file")
    assert f"any of the 3 image(s) under {known}" in err and "'L01/1_left.jpg'" in err
    assert not (tmp_path / "cat" / "catalogue.json").exists()


def test_megadetector_file_missing_some_photos_says_how_many(tmp_path, capsys):
    files = ["S1/A/IMG_0001.JPG", "S1/A/IMG_0002.JPG", "S2/A/IMG_0003.JPG"]
    survey = textured_photos(tmp_path / "survey", files)
    md = _md_file(tmp_path / "md.json", ["C:\\lynx\\survey\\S1\\A\\IMG_0001.JPG", "survey/S1/A/IMG_0002.JPG"])
    from _pipeline import small_run
    out = tmp_path / "out"
    code = main(["identify", str(survey), "--catalogue", str(small_run().catalogue), "--megadetector", str(md),
                 "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"1 of 3 images have no entry in the MegaDetector file {md}, so no detections: listed in " \
           f"{out / 'issues.csv'}" in printed
    issues = pd.read_csv(out / "issues.csv")
    assert set(issues.loc[issues.reason.str.contains("not in the MegaDetector file"), "file"]) == {"S2/A/IMG_0003.JPG"}
    s = json.loads((out / "summary.json").read_text())
    assert s["megadetector"]["matched"] == 2 and s["megadetector"]["images_without_entry"] == 1
    assert set(pd.read_csv(out / "detections.csv").file) <= set(files[:2])
    # the same for the photos of a catalogue
    known = textured_photos(tmp_path / "known", ["L01/1_left.jpg", "L01/2_left.jpg", "L02/1_right.jpg"])
    md = _md_file(tmp_path / "cat_md.json", ["known/L01/1_left.jpg", "known/L02/1_right.jpg"])
    code = main(["catalogue", "build", str(tmp_path / "cat"), "--images", str(known), "--megadetector", str(md),
                 "--quiet"])
    printed, err = capsys.readouterr()
    assert f"1 of 3 images have no entry in the MegaDetector file {md}" in printed
    # two animals seen once each make no identification model of their own: lynxid's default decides, said so
    assert code == 0 and "identification model: lynxid's default" in printed and "MegaDetectorWarning" not in err
