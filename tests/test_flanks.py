"""Capture histories from one flank only (``flank="left"`` / ``"right"``), and the simulator's
flank tags that give the identified detections their flank."""
import json

import numpy as np
import pandas as pd
import pytest

from lynxid.capture import capture_history
from lynxid.cli import main


def stations():
    return pd.DataFrame(dict(Station=["A", "B"], utm_x=[500000.0, 502000.0], utm_y=[5200000.0, 5201000.0],
                             Setup_date=["2020-01-01 00:00:00"] * 2, Retrieval_date=["2020-01-05 00:00:00"] * 2))


def records():
    """Rows 1-7: left, right, no flank, 'Links' (German for left, as a flank tag), unknown, right, left."""
    return pd.DataFrame([("A", "2020-01-01 10:00:00", "x", "left"), ("A", "2020-01-02 10:00:00", "x", "right"),
                         ("B", "2020-01-02 11:00:00", "y", None), ("B", "2020-01-03 10:00:00", "y", "Links"),
                         ("B", "2020-01-03 12:00:00", "z", "unknown"), ("B", "2020-01-04 10:00:00", "z", "right"),
                         ("A", "2020-01-04 11:00:00", "z", "left")],
                        columns=["station", "timestamp", "individual_id", "flank"])


def cells(ch):
    d = ch.detections
    return {(i, o, s): c for i, o, s, c in zip(d.individual, d.occasion, d.detector, d["count"])}


@pytest.mark.parametrize("flank, rows", [("left", [1, 4, 7]), ("right", [2, 6])])
def test_flank_keeps_exactly_that_flanks_detections(flank, rows):
    rec = records()
    ch = capture_history(rec, stations(), flank=flank, output="count")
    alone = capture_history(rec.iloc[np.array(rows) - 1].drop(columns="flank"), stations(), output="count")
    assert cells(ch) == cells(alone)
    assert sorted(ch.records[ch.records.status == "used"].row) == rows
    assert ch.flank == flank and ch.settings["flank"] == flank
    assert (ch.summary().flank == flank).all()
    assert f"{flank} flank only" in repr(ch)


def test_other_flank_and_unknown_flank_are_reported_with_their_reason():
    ch = capture_history(records(), stations(), flank="left")
    left_out = ch.records[ch.records.status != "used"].set_index("row")
    assert left_out.reason.astype(str).to_dict() == {2: "other flank", 3: "flank unknown", 5: "flank unknown",
                                                     6: "other flank"}
    assert (left_out.status == "filtered").all()
    iss = ch.issues.set_index("row")
    assert sorted(iss.index) == [2, 3, 5, 6]
    assert all("right flank" in r for r in iss.loc[[2, 6], "reason"])
    assert all("no known flank" in r for r in iss.loc[[3, 5], "reason"])
    # left out by choice, as the independence filter does: strict=True does not stop on them
    assert cells(capture_history(records(), stations(), flank="left", strict=True)) == cells(ch)


def test_no_flank_is_the_linked_capture_history_unchanged():
    rec = records()
    linked = capture_history(rec, stations())
    assert cells(linked) == cells(capture_history(rec.drop(columns="flank"), stations()))
    assert (linked.records.status == "used").all() and linked.flank is None
    assert linked.summary().flank.isna().all() and "flank" not in repr(linked)


def test_flank_errors_are_clear():
    with pytest.raises(ValueError, match="flank must be None .* 'left' or 'right', not 'top'"):
        capture_history(records(), stations(), flank="top")
    with pytest.raises(ValueError, match="needs a 'flank' column"):
        capture_history(records().drop(columns="flank"), stations(), flank="left")
    with pytest.raises(ValueError, match="no detection of the left flank .*'right'"):
        capture_history(records().assign(flank="right"), stations(), flank="left")
    assert capture_history(records(), stations(), flank="Left ").flank == "left"


def test_flank_option_on_the_command_line(tmp_path, capsys):
    records().to_csv(tmp_path / "det.csv", index=False)
    stations().to_csv(tmp_path / "st.csv", index=False)
    out = tmp_path / "ch_left"
    rc = main(["capture-history", str(tmp_path / "det.csv"), "--stations", str(tmp_path / "st.csv"),
               "--out", str(out), "--flank", "left"])
    assert rc == 0 and "left flank only" in capsys.readouterr().out
    summ = json.loads((out / "summary.json").read_text())
    assert summ["flank"] == "left" and summ["settings"]["flank"] == "left"
    assert summ["sessions"][0]["flank"] == "left" and summ["records"] == {"used": 3, "filtered": 4}
    assert "flank=left only" in (out / "capt.txt").read_text()
    iss = pd.read_csv(out / "issues.csv")
    assert sorted(iss.row) == [2, 3, 5, 6]
    linked = tmp_path / "ch"
    assert main(["capture-history", str(tmp_path / "det.csv"), "--stations", str(tmp_path / "st.csv"),
                 "--out", str(linked)]) == 0
    assert json.loads((linked / "summary.json").read_text())["flank"] is None
    assert "flank=" not in (linked / "capt.txt").read_text()
    with pytest.raises(SystemExit):
        main(["capture-history", str(tmp_path / "det.csv"), "--stations", str(tmp_path / "st.csv"),
              "--out", str(linked), "--flank", "both"])


def test_simulated_survey_photos_carry_flank_tags_ingest_reads(tmp_path):
    from lynxid.ingest import scan_images
    from lynxid.simulate import simulate_survey
    opts = dict(seed=4, n_individuals=3, n_known=1, n_days=10, image_size=(160, 120), max_detections=4,
                catalogue_images_per_flank=1, progress=False)
    sim = simulate_survey(tmp_path / "tagged", **opts)
    images, _ = scan_images(sim.images, progress=False)
    truth = sim.truth("images").set_index("file")
    timed = truth.timestamp.notna()             # the EXIF-less photo was stripped of its tags too
    got = images.set_index("file").flank_tag
    assert got.reindex(truth.index[timed]).tolist() == truth.flank[timed].tolist()
    assert {"left", "right"} == set(truth.flank[timed])
    untagged = simulate_survey(tmp_path / "untagged", flank_tags=False, **opts)
    assert scan_images(untagged.images, progress=False)[0].flank_tag.isna().all()
    from lynxid.cli import build_parser           # the command line's spelling of flank_tags=False
    assert build_parser().parse_args(["simulate", "x", "--no-flank-tags"]).no_flank_tags


def test_identified_survey_gives_flank_only_histories(small_run, tmp_path):
    from lynxid.demo import flank_histories, format_summary
    det = small_run.result.detections
    truth = small_run.survey.truth("images").set_index("file")
    tagged = det.flank.notna().to_numpy()          # all but the photo whose EXIF and XMP were stripped
    assert (det.flank.to_numpy()[tagged] == truth.flank.reindex(det.file).to_numpy()[tagged]).all()
    assert truth.timestamp.reindex(det.file[~tagged]).isna().all()
    ch = capture_history(det, small_run.survey.stations_csv, occasion_length=5, flank="right",
                         unknown_stations="exclude")
    used = ch.records[ch.records.status == "used"].row.to_numpy() - 1
    assert len(used) and (det.flank.to_numpy()[used] == "right").all()
    by_flank, density = flank_histories(det, small_run.survey, tmp_path, 5)
    assert set(by_flank) == set(density) == {"left", "right"}
    for flank in ("left", "right"):
        assert by_flank[flank][0]["flank"] == flank and "truth" in density[flank]
        assert (tmp_path / f"capture_history_{flank}" / "capt.txt").exists()
    lines = format_summary(_demo_summary(by_flank, density)).splitlines()
    assert any(line.startswith("  left flank only") and "individuals x" in line for line in lines)
    assert any(line.startswith("  density, right only") and "truth" in line for line in lines)


def _demo_summary(by_flank, density):
    """A demo summary with nothing but the flank-only histories and their densities."""
    return {"images_read": 0, "files_with_issues": 0, "detections": 0, "events": 0, "individuals_found": 0,
            "known_individuals": 0, "new_individuals": 0, "true_individuals_photographed": 0,
            "accuracy": {"accuracy": 1, "known_accuracy": 1, "new_recall": 1, "ari": 1}, "capture_history": [],
            "seconds": dict.fromkeys(("total", "simulate", "catalogue", "identify", "capture_history", "density"), 0),
            "files": {"detections": "d", "issues": "i", "capture_history": "c"},
            "capture_history_by_flank": by_flank, "density_by_flank": density}
