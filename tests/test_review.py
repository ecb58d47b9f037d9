"""Human review: the decisions file, applying decisions in identify, the HTML report (in a
real headless Chromium) and growing the catalogue from reviewed detections."""
from __future__ import annotations

import io
import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from lynxid import review
from lynxid.decisions import (DECISION_COLUMNS, apply_decisions, decisions_path, latest_decisions,
                              read_decisions, save_decisions)
from lynxid.enrol import add_reviewed_to_catalogue
from lynxid.ingest import Issues

from _pipeline import copy_results


def machine_table():
    """Shaped like identify's output: two events of known L1 and L2, one new event."""
    return pd.DataFrame({
        "detection_id": ["A/1.JPG#0", "A/2.JPG#0", "B/1.JPG#0", "C/1.JPG#0", "C/2.JPG#0"],
        "file": ["A/1.JPG", "A/2.JPG", "B/1.JPG", "C/1.JPG", "C/2.JPG"],
        "station": ["A", "A", "B", "C", "C"],
        "timestamp": pd.to_datetime(["2025-02-01 20:00:00", "2025-02-01 20:00:05", "2025-02-02 03:00:00",
                                     "2025-02-03 01:00:00", "2025-02-03 01:00:02"]).tz_localize("+01:00"),
        "bbox_x": 0.1, "bbox_y": 0.1, "bbox_w": [0.3, 0.4, 0.3, 0.3, 0.2], "bbox_h": 0.3, "det_conf": 0.9,
        "event_id": ["EV1", "EV1", "EV2", "EV3", "EV3"],
        "individual_id": ["L1", "L1", "L2", "NEW-001", "NEW-001"],
        "probability": [0.6, 0.6, 0.95, 0.8, 0.8], "p_new": [0.3, 0.3, 0.02, 0.8, 0.8],
        "is_new": [False, False, False, True, True],
        "candidates": [json.dumps([{"individual": "L1", "probability": 0.6}])] * 5,
        "needs_review": [True, True, False, True, True], "decision": ["known", "known", "known", "new", "new"]})


def decisions(rows):
    return pd.DataFrame(rows, columns=DECISION_COLUMNS).fillna("")


def test_read_decisions_names_the_bad_row(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("detection_id,action,individual_id\nA/1.JPG#0,confirm,L1\nA/2.JPG#0,confrim,L1\n")
    with pytest.raises(ValueError, match=r"d.csv, row 2 .*'confrim' is not one of confirm, reassign, new, reject"):
        read_decisions(p)
    p.write_text("detection_id,action\nA/1.JPG#0,reassign\n")
    with pytest.raises(ValueError, match="row 1 .*'reassign' needs the individual_id"):
        read_decisions(p)
    p.write_text("file,action\nA/1.JPG,confirm\n")
    with pytest.raises(ValueError, match="column.*detection_id missing"):
        read_decisions(p)
    p.write_text("detection_id,action\nA/1.JPG#0,Confirm\n")        # optional columns added, case forgiven
    d = read_decisions(p)
    assert list(d.columns) == DECISION_COLUMNS and d.action.tolist() == ["confirm"]


def test_latest_decision_wins_and_history_is_kept(tmp_path):
    first = decisions([["A/1.JPG#0", "EV1", "A/1.JPG", "reassign", "L2", "ana", "2025-03-01T10:00:00Z", ""]])
    later = decisions([["A/1.JPG#0", "EV1", "A/1.JPG", "confirm", "L1", "ben", "2025-03-02T10:00:00Z", "checked"],
                       ["B/1.JPG#0", "EV2", "B/1.JPG", "reject", "", "ben", "2025-03-02T10:00:01Z", "a fox"]])
    save_decisions(later, tmp_path)
    save_decisions(first, tmp_path)          # an older decision arriving later ...
    save_decisions(first, tmp_path)          # ... twice: stored once
    all_rows = read_decisions(tmp_path / "decisions.csv")
    assert len(all_rows) == 3                        # nothing is lost
    latest = latest_decisions(all_rows).set_index("detection_id")
    assert latest.loc["A/1.JPG#0", "action"] == "confirm"   # ... does not override the newer one
    assert latest.loc["B/1.JPG#0", "note"] == "a fox"


def test_apply_decisions_semantics():
    det = machine_table()
    d = decisions([
        ["A/1.JPG#0", "EV1", "A/1.JPG", "reassign", "L3", "ana", "2025-03-01T10:00:00Z", ""],
        ["A/2.JPG#0", "EV1", "A/2.JPG", "reassign", "L3", "ana", "2025-03-01T10:00:00Z", ""],
        ["B/1.JPG#0", "EV2", "B/1.JPG", "confirm", "L2", "ana", "2025-03-01T10:00:00Z", ""],
        ["C/1.JPG#0", "EV3", "C/1.JPG", "new", "", "ana", "2025-03-01T10:00:00Z", ""],
        ["C/2.JPG#0", "EV3", "C/2.JPG", "reject", "", "ana", "2025-03-01T10:00:00Z", "a fox"],
        ["Z/9.JPG#0", "EV9", "Z/9.JPG", "confirm", "L1", "ana", "2025-03-01T10:00:00Z", ""]])
    issues = Issues()
    out, info = apply_decisions(det, d, known=["L1", "L2", "L3"], issues=issues)
    o = out.set_index("detection_id")
    assert o.loc["A/1.JPG#0", "individual_id"] == "L3" and o.loc["A/1.JPG#0", "probability"] == 1.0
    assert o.loc["A/1.JPG#0", "decision"] == "reviewed" and not o.loc["A/1.JPG#0", "is_new"]
    assert o.loc["A/1.JPG#0", "machine_individual_id"] == "L1" and o.loc["A/1.JPG#0", "reviewed_by"] == "ana"
    assert o.loc["B/1.JPG#0", "decision"] == "confirmed" and o.loc["B/1.JPG#0", "probability"] == 0.95
    # marked new without an ID: the machine's provisional ID is kept (the machine said new too)
    assert o.loc["C/1.JPG#0", "individual_id"] == "NEW-001" and o.loc["C/1.JPG#0", "is_new"]
    assert pd.isna(o.loc["C/2.JPG#0", "individual_id"]) and o.loc["C/2.JPG#0", "decision"] == "rejected"
    assert not out.needs_review.any()
    assert info == {"decisions": 6, "applied": 5, "confirmed": 1, "reassigned": 2, "new": 1, "rejected": 1,
                    "unmatched": 1}
    t = issues.table()
    assert ((t.file == "C/2.JPG") & (t.severity == "excluded") & t.reason.str.contains("rejected by reviewer ana: a fox")).any()
    assert ((t.file == "Z/9.JPG") & t.reason.str.contains("matches no detection")).any()
    # no decisions: same calls, the two review columns still there
    same, info0 = apply_decisions(det, None)
    assert same.individual_id.tolist() == det.individual_id.tolist() and same.reviewed_by.isna().all()
    assert info0["applied"] == 0


def test_new_for_a_known_call_gets_a_stable_provisional_id():
    det = machine_table()
    d = decisions([["A/1.JPG#0", "EV1", "", "new", "", "", "", ""], ["A/2.JPG#0", "EV1", "", "new", "", "", "", ""],
                   ["B/1.JPG#0", "EV2", "", "new", "", "", "", ""]])
    out, _ = apply_decisions(det, d, known=["L1", "L2"])
    assert out.individual_id.tolist()[:3] == ["NEW-R001", "NEW-R001", "NEW-R002"]   # one per event
    assert out.is_new.tolist()[:3] == [True, True, True]


def test_review_items_group_events_least_certain_first():
    items = review.review_items(machine_table())
    assert items.key.tolist() == ["EV1|L1", "EV3|NEW-001"]     # EV2 is certain; p 0.6 before P(new) 0.8
    assert items.detection_ids.tolist() == [["A/1.JPG#0", "A/2.JPG#0"], ["C/1.JPG#0", "C/2.JPG#0"]]
    assert items.rep.tolist() == [1, 3]                         # the larger box
    assert review.review_items(machine_table(), "new").key.tolist() == ["EV3|NEW-001"]
    assert len(review.review_items(machine_table(), "all")) == 3


# --------------------------------------------------------------------------------------
# on a real (small) identified survey
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(small_run):
    return small_run


def test_report_is_self_contained(run, tmp_path):
    out = review.build_report(run.results, run.catalogue, tmp_path / "r.html", progress=False)
    page = out.read_text()
    data = json.loads(page.split('id="lynxid-data">', 1)[1].split("</script>", 1)[0])
    items = review.review_items(run.result.detections)
    assert data["n_items"] == len(items) > 0
    assert [c["key"] for c in data["cards"]] == items.key.tolist()
    # nothing is fetched from elsewhere: every image is embedded
    assert "http://" not in page and "https://" not in page and 'src="/' not in page
    assert all(p["image"].startswith("data:image/jpeg;base64,") for c in data["cards"] for p in c["photos"])
    # known candidates carry the matched keypoints (at least one with lines drawn)
    assert any(p["inliers"] > 0 for c in data["cards"] for p in c["candidates"])


def test_review_page_in_headless_chromium(run, tmp_path):
    """Render the page in Debian's Chromium, make decisions with real clicks and keys,
    download decisions.csv, apply it with identify, re-import it into a fresh page."""
    from _cdp import Browser, find_chromium
    pytest.importorskip("websocket")
    if find_chromium() is None:
        pytest.skip("chromium not installed (scripts/install-system-deps.sh installs it)")
    results = copy_results(run, tmp_path / "results")
    page = review.build_report(results, run.catalogue, progress=False)
    items = review.review_items(run.result.detections)
    assert len(items) >= 4, "the fixture survey should give at least 4 animals to review"
    from lynxid.catalogue import Catalogue
    cat_ids = set(Catalogue.load(run.catalogue).individuals)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with Browser(page.as_uri()) as b:
        b.wait_for("document.body.dataset.ready === '1'")
        assert b.js("document.querySelectorAll('.card').length") == len(items)
        b.wait_for("Array.from(document.images).every(i => i.complete)")
        n_img = b.js("document.images.length")
        assert n_img > 0 and b.js("Array.from(document.images).every(i => i.naturalWidth > 0)")
        assert b.js("document.querySelector('.card .cand img').getBoundingClientRect().height") > 100
        shot = b.screenshot(tmp_path / "page.png")
        assert shot.stat().st_size > 20_000
        assert b.js("document.getElementById('progress').textContent") == f"0 of {len(items)} decided"

        b.type("#reviewer", "Ana")
        b.click("#card-0 .btn-confirm")
        # card 1: "It is <second candidate>" (a reassignment unless it is the machine's call)
        cand = b.js("document.querySelectorAll('#card-1 .btn-cand')[1].dataset.individual")
        b.click("#card-1 .cand:nth-child(2) .btn-cand")
        b.click("#card-2 input.new-id")                  # replace any proposed ID by typing over it
        b.js("document.querySelector('#card-2 input.new-id').select()")
        b.send("Input.insertText", text="L99")
        b.type("#card-2 input.note", "new female")
        b.click("#card-2 .btn-new")
        b.click("#card-3")                               # focus card 3, then the keyboard: x = reject
        b.key("x")
        assert b.js("document.getElementById('progress').textContent") == f"4 of {len(items)} decided"
        assert b.js("document.querySelector('#card-3').dataset.action") == "reject"

        b.allow_downloads(downloads)
        b.click("#download")
        for _ in range(100):
            if (downloads / "decisions.csv").exists():
                break
            time.sleep(0.1)
        shown = b.js("(document.getElementById('showcsv').click(), document.getElementById('csvbox').value)")
    csv = downloads / "decisions.csv"
    assert csv.exists(), "the download did not arrive"
    assert csv.read_text() == shown
    d = read_decisions(csv)
    expect = {}
    for k, (action, ind) in enumerate([("confirm", items.individual_id[0]),
                                        ("reassign" if (cand != items.individual_id[1] or items.is_new[1]) else "confirm", cand),
                                        ("new", "L99"), ("reject", "")]):
        for det_id in items.detection_ids[k]:
            expect[det_id] = (action, ind or "")
    assert dict(zip(d.detection_id, zip(d.action, d.individual_id))) == expect
    assert set(d.reviewer) == {"Ana"} and (d.note == "new female").sum() == len(items.detection_ids[2])

    # round trip: the decisions go into the results folder and identify applies them
    from lynxid.capture import capture_history
    from lynxid.identification import identify
    save_decisions(csv, results)
    res = identify(run.survey.images, run.catalogue, megadetector=run.survey.megadetector_json, out=results,
                   progress=False, decisions=decisions_path(results))
    o = res.detections.set_index("detection_id")
    for det_id, (action, ind) in expect.items():
        row = o.loc[det_id]
        assert row.reviewed_by == "Ana"
        if action == "reject":
            assert pd.isna(row.individual_id) and row.decision == "rejected"
        else:
            assert row.individual_id == ind
            assert row.decision == ("confirmed" if action == "confirm" else "reviewed")
            assert bool(row.is_new) == (ind not in cat_ids)
    assert res.summary["review"]["applied"] == len(expect)
    rejected = [k for k, v in expect.items() if v[0] == "reject"]
    assert res.issues.reason.str.contains("rejected by reviewer Ana").sum() == len(rejected)
    ch = capture_history(res.detections, run.survey.stations_csv, occasion_length=5, unknown_stations="exclude")
    left_out = ch.issues[ch.issues.severity.isin(["excluded", "error"])]
    rows_rejected = set(np.flatnonzero(res.detections.detection_id.isin(rejected)) + 1)
    assert rows_rejected <= set(left_out.row)          # left out of the capture history, and reported

    # a fresh page of the rerun: the decided animals are done; the earlier file re-imports cleanly
    page2 = review.build_report(results, run.catalogue, tmp_path / "r2.html", progress=False)
    with Browser(page2.as_uri()) as b:
        b.wait_for("document.body.dataset.ready === '1'")
        n2 = b.js("document.querySelectorAll('.card').length")
        assert n2 == len(review.review_items(res.detections)) == len(items) - 4
    page3 = review.build_report(run.results, run.catalogue, tmp_path / "r3.html", progress=False)
    with Browser(page3.as_uri()) as b:                 # the first run's page, with nothing decided yet
        b.wait_for("document.body.dataset.ready === '1'")
        b.set_files("#import", [csv])
        b.wait_for("document.body.dataset.imported !== undefined")
        actions = b.js("Array.from(document.querySelectorAll('.card')).map(c => c.dataset.action)")
        assert actions[:4] == ["confirm", expect[items.detection_ids[1][0]][0], "new", "reject"]
        assert all(a == "" for a in actions[4:])
        again = b.js("window.lynxidReview.toCSV()")
    assert read_decisions(pd.read_csv(io.StringIO(again), dtype=str, keep_default_na=False)).equals(d)


def test_add_reviewed_detections_to_the_catalogue(run, tmp_path):
    from lynxid.catalogue import Catalogue
    cat_dir = tmp_path / "catalogue"
    shutil.copytree(run.catalogue, cat_dir)
    det = run.result.detections.copy()
    before = Catalogue.load(cat_dir)
    # nothing reviewed -> nothing added
    with pytest.raises(ValueError, match="no review"):
        add_reviewed_to_catalogue(cat_dir, det.drop(columns=["reviewed_by"]))
    ev = det.loc[det.is_new, "event_id"].iloc[0]
    rows = det[det.event_id == ev]
    d = decisions([[r.detection_id, ev, r.file, "new", "L77", "ana", "2025-03-01T10:00:00Z", ""]
                   for r in rows.itertuples()])
    applied, _ = apply_decisions(det, d, known=before.individuals)
    cat, added = add_reviewed_to_catalogue(cat_dir, applied, progress=False)
    assert len(added) == len(rows) and set(added.individual) == {"L77"}
    again = Catalogue.load(cat_dir)
    assert "L77" in again.individuals and len(again) == len(before) + len(rows)
    assert again.meta["model"] is not None                # refitted
    _, none = add_reviewed_to_catalogue(cat_dir, applied, progress=False)
    assert len(none) == 0                                  # already there: not added twice


def test_review_command_line(run, tmp_path, capsys):
    from lynxid.cli import main
    results = copy_results(run, tmp_path / "results")
    assert main(["review", "report", str(results), "--catalogue", str(run.catalogue), "--max", "2", "--quiet"]) == 0
    assert "review page written" in capsys.readouterr().out and (results / "review.html").exists()
    items = review.review_items(run.result.detections)
    ev = items.iloc[0]
    f = tmp_path / "decisions (1).csv"                  # as a browser names a second download
    decisions([[d, ev.event_id, "", "reject", "", "cli", "2025-03-01T10:00:00Z", ""] for d in ev.detection_ids]) \
        .to_csv(f, index=False)
    assert main(["review", "import", str(f), "--results", str(results)]) == 0
    assert f"{len(ev.detection_ids)} decision row(s) added" in capsys.readouterr().out
    assert len(read_decisions(results / "decisions.csv")) == len(ev.detection_ids)
    bad = tmp_path / "bad.csv"
    bad.write_text("detection_id,action\nx#0,maybe\n")
    assert main(["review", "import", str(bad), "--results", str(results)]) == 2
    assert "row 1" in capsys.readouterr().err
    # a typo in the results folder must not file the review where no identify run looks
    assert main(["review", "import", str(f), "--results", str(tmp_path / "reslts")]) == 2
    assert "not an identify output folder" in capsys.readouterr().err and not (tmp_path / "reslts").exists()
