"""Reading survey folders: stations, cameras, EXIF times and time zones, XMP tags, labelled
catalogues and MegaDetector files -- and every unusable file reported, never dropped."""
import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lynxid.ingest import (Issues, localize_times, parse_flank, read_xmp_subjects, scan_catalogue, scan_images,
                           whole_image_detections)
from lynxid.megadetector import MegaDetectorWarning, load_megadetector
from lynxid.simulate import simulate_survey

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
LEOPARDCAT = SHARED / "camtrapr-leopardcat"


def jpeg(path, when=None, offset=None, subjects=None, size=(64, 48), color=(120, 100, 80)):
    """Write a small JPEG with optional EXIF DateTimeOriginal/OffsetTimeOriginal and XMP
    ``lr:hierarchicalSubject`` tags (as camtrapR/digiKam write them)."""
    im = Image.new("RGB", size, color)
    buf = io.BytesIO()
    if when is not None:
        exif = Image.Exif()
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = when
        if offset:
            ifd[0x9011] = offset
        im.save(buf, "JPEG", exif=exif)
    else:
        im.save(buf, "JPEG")
    data = buf.getvalue()
    if subjects:
        xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
               '<rdf:Description xmlns:lr="http://ns.adobe.com/lightroom/1.0/"><lr:hierarchicalSubject><rdf:Bag>'
               + "".join(f"<rdf:li>{s}</rdf:li>" for s in subjects) +
               "</rdf:Bag></lr:hierarchicalSubject></rdf:Description></rdf:RDF></x:xmpmeta>")
        payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
        data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return simulate_survey(tmp_path_factory.mktemp("ingest") / "sim", seed=4, n_individuals=4, n_known=2,
                           n_days=20, image_size=(320, 240), max_detections=5, catalogue_images_per_flank=2,
                           progress=False)


# ------------------------------------------------------------------------------------------
# scan_images
# ------------------------------------------------------------------------------------------
def test_scan_simulated_survey(survey):
    imgs, issues = scan_images(survey.images, progress=False)
    truth = survey.truth("images").set_index("file")
    bad = survey.truth("bad_files").set_index("file")["problem"]
    truncated = bad.index[bad == "truncated JPEG"][0]
    # header-only scan: the truncated JPEG is listed (its pixels fail later, at decoding)
    assert set(imgs.file) == set(truth.index) | {truncated}
    assert imgs.attrs["time_zone"] == survey.config.utc_offset
    m = imgs.set_index("file").loc[truth.index]
    assert (m.station == truth.station).all() and (m.camera == truth.camera).all()
    assert (m.width == 320).all() and (m.height == 240).all()
    timed = truth.timestamp.notna()
    want = pd.to_datetime(truth.timestamp[timed]).dt.tz_localize("+01:00")
    assert (m.timestamp[timed] == want).all()
    assert str(m.timestamp.dt.tz) in ("UTC+01:00", "+01:00")
    assert m.timestamp[~timed].isna().all()
    assert all(Path(p).is_absolute() and Path(p).exists() for p in imgs.path)
    # every other bad file is an issue with its own reason; the scan went on
    reasons = issues.set_index("file")["reason"]
    by_problem = {problem: reasons[f] for f, problem in bad.items() if f != truncated}
    assert "zero-byte" in by_problem["zero-byte file"]
    assert "not a readable image" in by_problem["not an image"]
    assert "no usable EXIF DateTimeOriginal" in by_problem["no EXIF date"]
    sev = issues.set_index("file")["severity"]
    assert sev[bad.index[bad == "no EXIF date"][0]] == "warning"
    assert sev[bad.index[bad == "zero-byte file"][0]] == "excluded"
    assert set(issues.columns) == {"file", "stage", "severity", "reason"}


def test_scan_explicit_time_zone_and_dst(tmp_path):
    root = tmp_path / "imgs"
    jpeg(root / "S1" / "a.JPG", "2025:02:10 12:00:00")
    jpeg(root / "S1" / "b.JPG", "2025:07:10 12:00:00")
    jpeg(root / "S1" / "gap.JPG", "2025:03:30 02:30:00")       # clocks jump 02:00 -> 03:00
    jpeg(root / "S1" / "twice.JPG", "2025:10:26 02:30:00")     # 02:00-03:00 happens twice
    imgs, issues = scan_images(root, tz="Europe/Zurich", progress=False)
    t = imgs.set_index("file").timestamp
    assert str(t.dt.tz) == "Europe/Zurich"
    assert t["S1/a.JPG"] == pd.Timestamp("2025-02-10 11:00", tz="UTC")
    assert t["S1/b.JPG"] == pd.Timestamp("2025-07-10 10:00", tz="UTC")     # summer time
    assert pd.isna(t["S1/gap.JPG"]) and pd.isna(t["S1/twice.JPG"])
    rows = issues.set_index("file")
    for f in ("S1/gap.JPG", "S1/twice.JPG"):
        assert rows.loc[f, "severity"] == "warning"
        assert "daylight-saving" in rows.loc[f, "reason"] and "Europe/Zurich" in rows.loc[f, "reason"]
    assert len(issues) == 2
    # the same files with a fixed offset: every time exists
    imgs, issues = scan_images(root, tz="+01:00", progress=False)
    assert imgs.timestamp.notna().all() and issues.empty


def test_scan_per_image_exif_offsets(tmp_path):
    """Cameras that follow daylight saving write each photo's own offset; each is honoured."""
    jpeg(tmp_path / "S1" / "w1.JPG", "2025:03:01 10:00:00", "+01:00")
    jpeg(tmp_path / "S1" / "w2.JPG", "2025:03:02 10:00:00", "+01:00")
    jpeg(tmp_path / "S1" / "s.JPG", "2025:04:01 10:00:00", "+02:00")
    jpeg(tmp_path / "S1" / "none.JPG", "2025:04:02 10:00:00")
    imgs, issues = scan_images(tmp_path, progress=False)
    t = imgs.set_index("file").timestamp
    assert imgs.attrs["time_zone"] == "+01:00"
    assert t["S1/w1.JPG"] == pd.Timestamp("2025-03-01 09:00", tz="UTC")
    assert t["S1/s.JPG"] == pd.Timestamp("2025-04-01 08:00", tz="UTC")
    assert t["S1/none.JPG"] == pd.Timestamp("2025-04-02 09:00", tz="UTC")   # the survey's usual offset
    assert issues.empty


def test_localize_times_utc_default_and_aware_input():
    naive = pd.Series([pd.Timestamp("2025-01-01 12:00"), None])
    t, zone = localize_times(naive, pd.Series([None, None]), None)
    assert zone == "UTC" and t.iloc[0] == pd.Timestamp("2025-01-01 12:00", tz="UTC") and pd.isna(t.iloc[1])
    aware = pd.Series(pd.to_datetime(["2025-01-01 12:00"]).tz_localize("UTC"))
    t, _ = localize_times(aware, pd.Series([None]), "Europe/Zurich")
    assert t.iloc[0].hour == 13


def test_scan_bad_files_each_reported(tmp_path):
    root = tmp_path / "s"
    jpeg(root / "S1" / "A" / "ok.JPG", "2024:05:01 10:00:00")
    (root / "S1" / "A" / "empty.JPG").write_bytes(b"")
    (root / "S1" / "A" / "log.JPG").write_bytes(b"camera firmware log\n")
    good = jpeg(root / "S1" / "A" / "cut.JPG", "2024:05:01 10:00:05", size=(256, 192)).read_bytes()
    (root / "S1" / "A" / "cut.JPG").write_bytes(good[: len(good) // 2])
    jpeg(root / "S1" / "A" / "noexif.JPG")
    (root / "S1" / "A" / "clip.MP4").write_bytes(b"\x00" * 10)
    (root / "S1" / "A" / "notes.txt").write_text("sidecar")
    (root / "S1" / "A" / ".DS_Store").write_bytes(b"x")
    jpeg(root / "loose.JPG", "2024:05:01 10:00:00")
    imgs, issues = scan_images(root, progress=False)
    assert sorted(imgs.file) == ["S1/A/cut.JPG", "S1/A/noexif.JPG", "S1/A/ok.JPG", "loose.JPG"]
    r = issues.set_index("file")
    assert "zero-byte" in r.loc["S1/A/empty.JPG", "reason"] and r.loc["S1/A/empty.JPG", "severity"] == "excluded"
    assert "not a readable image" in r.loc["S1/A/log.JPG", "reason"]
    assert "no usable EXIF" in r.loc["S1/A/noexif.JPG", "reason"]
    assert "not an image extension (.MP4)" in r.loc["S1/A/clip.MP4", "reason"]
    assert r.loc["S1/A/clip.MP4", "severity"] == "skipped"
    assert "station unknown" in r.loc["loose.JPG", "reason"]
    assert "S1/A/notes.txt" not in r.index and "S1/A/.DS_Store" not in r.index
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        scan_images(tmp_path / "nope", progress=False)


def test_scan_empty_folder(tmp_path):
    imgs, issues = scan_images(tmp_path, progress=False)
    assert imgs.empty and issues.empty and "timestamp" in imgs


def test_renamed_files_and_filename_time(tmp_path):
    """camtrapR's imageRename names (with and without camera); the name's time is the
    fallback when EXIF has none."""
    jpeg(tmp_path / "StationA__CAM2__2020-01-05__10-00-00(1).JPG", "2020:01:05 10:00:00")
    jpeg(tmp_path / "StationB__2020-01-06__11-30-15(2).JPG")
    imgs, issues = scan_images(tmp_path, tz="UTC", progress=False)
    r = imgs.set_index("station")
    assert r.loc["StationA", "camera"] == "CAM2"
    assert pd.isna(r.loc["StationB", "camera"])
    assert r.loc["StationB", "timestamp"] == pd.Timestamp("2020-01-06 11:30:15", tz="UTC")
    assert issues.empty
    with pytest.raises(ValueError, match="station_from"):
        scan_images(tmp_path, station_from="exif", progress=False)


@pytest.mark.skipif(not (LEOPARDCAT / "images").is_dir(), reason=f"camtrapR sample images not found at {LEOPARDCAT}")
@pytest.mark.parametrize("station_from", ["auto", "filename"])
def test_camtrapr_leopardcat_images(station_from):
    imgs, issues = scan_images(LEOPARDCAT / "images", station_from=station_from, tz="Asia/Kuching", progress=False)
    assert len(imgs) == 26 and issues.empty
    assert sorted(imgs.station.unique()) == ["StationA", "StationB", "StationC"]
    rec = pd.read_csv(LEOPARDCAT / "recordTableIndividualSample.csv", dtype={"Individual": str})
    got = imgs.assign(FileName=imgs.file.str.split("/").str[-1]).set_index("FileName")
    # camtrapR's record table keeps one record per independent event (minDeltaTime), so it
    # names 21 of the 26 images
    assert set(rec.FileName) <= set(got.index) and len(rec) == 21
    assert got.individual_tag.notna().all()
    got = got.loc[rec.FileName]
    assert (got.individual_tag.to_numpy() == rec.Individual.to_numpy()).all()
    assert (got.species_tag == "Leopard Cat").all()
    assert (got.station.to_numpy() == rec.Station.to_numpy()).all()
    want = pd.to_datetime(rec.DateTimeOriginal).dt.tz_localize("Asia/Kuching")
    assert (got.timestamp.to_numpy() == want.to_numpy()).all()
    subj = read_xmp_subjects(got.path.iloc[0])
    assert any(s.startswith("individual|") for s in subj)


# ------------------------------------------------------------------------------------------
# catalogues
# ------------------------------------------------------------------------------------------
def test_parse_flank():
    assert parse_flank("124_leftphoto.jpg") == "left"
    assert parse_flank("leftphoto") == "left"
    assert parse_flank("Amber_Right_Face.jpg") == "right"
    assert parse_flank("Right_Face") == "right"
    assert parse_flank("L12_left_1.jpg") == "left"
    assert parse_flank("bright") is None
    assert parse_flank("upright_03.jpg") is None
    assert parse_flank("IMG_0001.JPG") is None


def test_scan_catalogue_folders_flanks_sightings_and_tags(tmp_path):
    root = tmp_path / "cat"
    jpeg(root / "B12" / "01_left.jpg")
    jpeg(root / "B12" / "01_right.jpg")
    jpeg(root / "B12" / "124_leftphoto.jpg")
    jpeg(root / "Amber" / "Amber_Right_Face.jpg")
    jpeg(root / "Amber" / "bright.jpg")
    (root / "Amber" / "broken.jpg").write_bytes(b"")
    (root / "Amber" / "notes.txt").write_text("x")
    jpeg(root / "tagged.jpg", subjects=["Species|Lynx", "individual|C7", "flank|Left"])
    jpeg(root / "orphan.jpg")
    imgs, issues = scan_catalogue(root)
    r = imgs.set_index("file")
    assert sorted(r.index) == ["Amber/Amber_Right_Face.jpg", "Amber/bright.jpg", "B12/01_left.jpg",
                               "B12/01_right.jpg", "B12/124_leftphoto.jpg", "tagged.jpg"]
    assert r.loc["B12/01_left.jpg", "individual"] == "B12" and r.loc["B12/01_left.jpg", "flank"] == "left"
    assert r.loc["B12/01_right.jpg", "flank"] == "right"
    assert r.loc["B12/01_left.jpg", "sighting"] == r.loc["B12/01_right.jpg", "sighting"] == "B12/01"
    assert r.loc["B12/124_leftphoto.jpg", "sighting"] == "B12/124"
    assert r.loc["Amber/Amber_Right_Face.jpg", "flank"] == "right"
    assert pd.isna(r.loc["Amber/bright.jpg", "flank"])
    assert r.loc["tagged.jpg", "individual"] == "C7" and r.loc["tagged.jpg", "flank"] == "left"
    iss = issues.set_index("file")
    assert "zero-byte" in iss.loc["Amber/broken.jpg", "reason"]
    assert "no individual" in iss.loc["orphan.jpg", "reason"]
    # folders only: the tag is ignored and the root-level file has no individual
    imgs2, issues2 = scan_catalogue(root, layout="folders")
    assert "tagged.jpg" not in set(imgs2.file) and "tagged.jpg" in set(issues2.file)
    with pytest.raises(FileNotFoundError, match="catalogue folder not found"):
        scan_catalogue(tmp_path / "missing")


def test_scan_catalogue_of_simulated_survey(survey):
    imgs, issues = scan_catalogue(survey.catalogue_images)
    truth = survey.truth("catalogue").set_index("file")
    assert issues.empty and set(imgs.file) == set(truth.index)
    m = imgs.set_index("file").loc[truth.index]
    assert (m.individual == truth.individual).all() and (m.flank == truth.flank).all()
    assert (m.sighting == truth.individual + "/" + truth.sighting.map("{:02d}".format)).all()


# ------------------------------------------------------------------------------------------
# MegaDetector
# ------------------------------------------------------------------------------------------
def _images(files):
    return pd.DataFrame({"file": files, "path": [f"/abs/{f}" for f in files], "station": [f.split("/")[0] for f in files]})


def _md(tmp_path, entries, cats=None):
    p = tmp_path / "md.json"
    p.write_text(json.dumps({"images": entries, "detection_categories": cats or {"1": "animal", "2": "person", "3": "vehicle"}}))
    return p


def test_load_megadetector_threshold_categories_failures_missing(tmp_path):
    imgs = _images(["S1/A/a.JPG", "S1/A/b.JPG", "S1/A/c.JPG", "S1/A/d.JPG", "S1/A/e.JPG", "S1/A/f.JPG"])
    md = _md(tmp_path, [
        {"file": "S1/A/a.JPG", "detections": [{"category": "1", "conf": 0.9, "bbox": [0.1, 0.2, 0.3, 0.4]},
                                              {"category": "1", "conf": 0.95, "bbox": [0.5, 0.5, 0.2, 0.2]},
                                              {"category": "1", "conf": 0.1, "bbox": [0, 0, 0.1, 0.1]}]},
        {"file": "S1/A/b.JPG", "detections": [{"category": "1", "conf": 0.15, "bbox": [0.1, 0.1, 0.1, 0.1]}]},
        {"file": "S1/A/c.JPG", "detections": [{"category": "2", "conf": 0.99, "bbox": [0.1, 0.1, 0.5, 0.5]}]},
        {"file": "S1/A/d.JPG", "failure": "Failure image access"},
        {"file": "S1/A/e.JPG", "detections": []},
        {"file": "S9/Z/ghost.JPG", "detections": [{"category": "1", "conf": 0.9, "bbox": [0, 0, 1, 1]}]},
    ])
    with pytest.warns(MegaDetectorWarning, match="1 of 6 images"):      # f.JPG
        det, issues = load_megadetector(md, imgs, threshold=0.2)
    assert det.detection_id.tolist() == ["S1/A/a.JPG#0", "S1/A/a.JPG#1"]     # by confidence
    assert det.det_conf.tolist() == [0.95, 0.9]
    assert det.iloc[0][["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].tolist() == [0.5, 0.5, 0.2, 0.2]
    assert (det.station == "S1").all() and (det.path == "/abs/S1/A/a.JPG").all()
    r = issues.set_index("file")
    assert "no animal box at or above conf 0.2 (best 0.15)" in r.loc["S1/A/b.JPG", "reason"]
    assert "best 0.00" in r.loc["S1/A/c.JPG", "reason"]          # a person is not an animal
    assert "failed" in r.loc["S1/A/d.JPG", "reason"] and r.loc["S1/A/d.JPG", "severity"] == "excluded"
    assert "no animal box" in r.loc["S1/A/e.JPG", "reason"]
    assert "not in the MegaDetector file" in r.loc["S1/A/f.JPG", "reason"]
    assert "not found among the images" in r.loc["S9/Z/ghost.JPG", "reason"]
    assert len(issues) == 6
    # lower threshold, persons too, one box per image
    with pytest.warns(MegaDetectorWarning):
        det, issues = load_megadetector(md, imgs, threshold=0.1, categories=("animal", "person"), max_per_image=1)
    assert det.file.tolist() == ["S1/A/a.JPG", "S1/A/b.JPG", "S1/A/c.JPG"]
    assert "S1/A/b.JPG" not in set(issues.file)


def test_load_megadetector_prefixed_and_windows_paths(tmp_path):
    imgs = _images(["S1/A/IMG_0001.JPG", "S2/A/IMG_0001.JPG", "S2/B/IMG_0002.JPG"])
    box = [{"category": "1", "conf": 0.8, "bbox": [0.1, 0.1, 0.2, 0.2]}]
    md = _md(tmp_path, [
        {"file": "survey2025/images/S1/A/IMG_0001.JPG", "detections": box},     # run on a parent folder
        {"file": "D:\\lynx\\survey2025\\images\\S2\\A\\img_0001.jpg", "detections": box},  # Windows, other case
        {"file": "./S2/B/IMG_0002.JPG", "detections": box},
    ])
    det, issues = load_megadetector(md, imgs)
    assert sorted(det.file) == sorted(imgs.file) and issues.empty


def test_load_megadetector_made_for_another_folder_is_an_error(tmp_path):
    """A file that lists none of the folder's images would give 0 detections and a run that
    'succeeds': it is an error naming both sides' counts and example paths, and what to do."""
    imgs = _images(["S1/A/a.JPG", "S1/A/b.JPG", "S2/B/c.JPG"])
    box = [{"category": "1", "conf": 0.9, "bbox": [0.1, 0.1, 0.2, 0.2]}]
    md = _md(tmp_path, [{"file": f"D:\\other_survey\\X{i}\\IMG_{i:04d}.JPG", "detections": box} for i in range(5)])
    with pytest.raises(ValueError) as e:
        load_megadetector(md, imgs)
    msg = str(e.value)
    assert str(md) in msg
    assert "lists 5 image(s)" in msg and "any of the 3 image(s) under /abs" in msg
    assert "'D:\\other_survey\\X0\\IMG_0000.JPG', 'D:\\other_survey\\X1\\IMG_0001.JPG'" in msg
    assert "X3" not in msg                                        # a few examples, not the whole file
    assert "'S1/A/a.JPG', 'S1/A/b.JPG', 'S2/B/c.JPG'" in msg
    assert "Run MegaDetector on this folder" in msg and "check that the folder given" in msg
    # another root folder with the same file names (S1/A/a.JPG is not S9/A/a.JPG): still no match
    md = _md(tmp_path, [{"file": "/data/other/S9/A/a.JPG", "detections": box}])
    with pytest.raises(ValueError, match=r"lists 1 image\(s\), e.g. '/data/other/S9/A/a.JPG'"):
        load_megadetector(md, imgs)
    md = _md(tmp_path, [])
    with pytest.raises(ValueError, match="lists no images at all"):
        load_megadetector(md, imgs)
    # no images at all is the caller's error to report ("no readable images"), not this one
    det, issues = load_megadetector(md, imgs.iloc[:0])
    assert det.empty and issues.empty


def test_load_megadetector_partial_file_counts_the_missing(tmp_path):
    imgs = _images(["S1/A/a.JPG", "S1/A/b.JPG", "S2/B/c.JPG", "S2/B/d.JPG"])
    box = [{"category": "1", "conf": 0.9, "bbox": [0.1, 0.1, 0.2, 0.2]}]
    md = _md(tmp_path, [{"file": "D:\\survey\\S1\\A\\a.JPG", "detections": box},
                        {"file": "D:\\survey\\S9\\Z\\ghost.JPG", "detections": box}])
    with pytest.warns(MegaDetectorWarning, match="3 of 4 images have no entry"):
        det, issues = load_megadetector(md, imgs)
    assert det.file.tolist() == ["S1/A/a.JPG"]
    assert det.attrs["megadetector"] == {"file": str(md), "entries": 2, "images": 4, "matched": 1,
                                         "images_without_entry": 3, "entries_without_image": 1}
    missing = issues[issues.reason.str.contains("not in the MegaDetector file")]
    assert sorted(missing.file) == ["S1/A/b.JPG", "S2/B/c.JPG", "S2/B/d.JPG"]
    assert (missing.severity == "skipped").all()


def test_load_megadetector_bad_files(tmp_path):
    imgs = _images(["S1/a.JPG"])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_megadetector(bad, imgs)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"annotations": []}))
    with pytest.raises(ValueError, match="not MegaDetector batch output"):
        load_megadetector(other, imgs)
    with pytest.raises(ValueError, match="could not read"):
        load_megadetector(tmp_path / "missing.json", imgs)


def test_load_megadetector_simulated(survey):
    imgs, _ = scan_images(survey.images, progress=False)
    det, issues = load_megadetector(survey.megadetector_json, imgs)
    truth = survey.truth("images")
    assert set(det.file) == set(truth.file)
    assert det.detection_id.str.endswith("#0").all()
    bad = survey.truth("bad_files").set_index("problem")["file"]
    assert "failed" in issues.set_index("file").loc[bad["truncated JPEG"], "reason"]


def test_whole_image_detections_and_issues():
    imgs = _images(["S1/a.JPG", "S1/b.JPG"])
    det = whole_image_detections(imgs)
    assert det.detection_id.tolist() == ["S1/a.JPG#0", "S1/b.JPG#0"]
    assert (det[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_numpy() == [0, 0, 1, 1]).all()
    assert det.det_conf.isna().all() and "bbox_x" not in imgs
    a, b = Issues(), Issues()
    a.add("x", "scan", "why")
    b.add("y", "detect", "because", "warning")
    a.extend(b)
    a.extend(b.table())
    a.extend(None)
    assert len(a) == 3 and a.table().severity.tolist() == ["excluded", "warning", "warning"]
    assert np.array_equal(Issues().table().columns, ["file", "stage", "severity", "reason"])


def test_flank_tags_are_left_right_or_unknown():
    """A tag value other than left/right must not become a third flank that matches nothing."""
    from lynxid.ingest import Issues, flank_from_tag
    from lynxid.match import flank_compatible
    iss = Issues()
    assert [flank_from_tag(v, "x.jpg", iss) for v in ("Left", " RIGHT ", "L", "rechts", "gauche")] == \
        ["left", "right", "left", "right", "left"]
    assert flank_from_tag("Unknown", "x.jpg", iss) is None and flank_from_tag("both", "x.jpg", iss) is None
    assert len(iss.table()) == 0                     # understood values are not reported
    assert flank_from_tag("flanc-ouest", "y.jpg", iss) is None
    t = iss.table()
    assert len(t) == 1 and t["file"].iat[0] == "y.jpg" and "flanc-ouest" in t["reason"].iat[0]
    # an unknown flank stays comparable with both sides
    assert flank_compatible(np.array(["left", "right", None], dtype=object),
                            np.full(3, flank_from_tag("Unknown", "x.jpg", iss), dtype=object)).all()


def test_catalogue_sightings_from_exif_times_when_names_say_nothing(tmp_path):
    """Camera file names (IMG_0001.JPG) share one prefix: sightings then come from the EXIF
    times (photos within an hour are one sighting); without times the user is told."""
    from datetime import datetime, timedelta
    from lynxid.ingest import scan_catalogue
    from lynxid.sim_photo import jpeg_bytes
    img = np.zeros((32, 48, 3), np.uint8)
    t0 = datetime(2024, 3, 1, 22, 0, 0)
    for k, dt_ in enumerate([0, 5, 3 * 3600, 3 * 3600 + 10, 86400]):
        (tmp_path / "cat" / "L01").mkdir(parents=True, exist_ok=True)
        (tmp_path / "cat" / "L01" / f"IMG_{k:04d}.JPG").write_bytes(jpeg_bytes(img, t0 + timedelta(seconds=dt_), None, 80))
    imgs, iss = scan_catalogue(tmp_path / "cat")
    s = imgs.sort_values("file")["sighting"].tolist()
    assert s[0] == s[1] and s[2] == s[3] and len({s[0], s[2], s[4]}) == 3
    # no EXIF: one sighting, reported
    (tmp_path / "bare" / "L02").mkdir(parents=True)
    for k in range(3):
        Image.fromarray(img).save(tmp_path / "bare" / "L02" / f"IMG_{k:04d}.jpg")
    imgs, iss = scan_catalogue(tmp_path / "bare")
    assert imgs["sighting"].nunique() == 1
    assert len(iss) == 1 and "are one sighting" in iss["reason"].iat[0]
    # names that do group photos are kept as they are (nyala: "130_leftphoto.jpg")
    (tmp_path / "named" / "N1").mkdir(parents=True)
    for name in ("130_leftphoto.jpg", "130_rightphoto.jpg", "359_leftphoto.jpg"):
        (tmp_path / "named" / "N1" / name).write_bytes(jpeg_bytes(img, t0, None, 80))
    imgs, _ = scan_catalogue(tmp_path / "named")
    assert sorted(imgs["sighting"]) == ["N1/130", "N1/130", "N1/359"]
