"""The simulator is the project's example data and the ground truth of the end-to-end tests,
so it is tested like data: deterministic, laid out as camtrapR expects, times and boxes that
agree with its own truth tables, and an ecology that follows the half-normal model it claims."""
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lynxid import storage
from lynxid.sim_animal import make_individual
from lynxid.sim_ecology import detection_events, station_table
from lynxid.sim_photo import make_scene, render_individual_image
from lynxid.simulate import SimulatedSurvey, SurveyConfig, simulate_survey

SMALL = dict(n_individuals=5, n_known=3, n_days=20, image_size=(320, 240), max_detections=12,
             catalogue_images_per_flank=2)
TRUTH = ("images", "detections", "individuals", "bad_files", "catalogue")


@pytest.fixture(scope="module")
def surveys(tmp_path_factory):
    root = tmp_path_factory.mktemp("simulate")
    a = simulate_survey(root / "a", seed=7, progress=False, **SMALL)
    b = simulate_survey(root / "b", seed=7, progress=False, **SMALL)
    c = simulate_survey(root / "c", seed=8, progress=False, **SMALL)
    return a, b, c


@pytest.fixture(scope="module")
def survey(surveys):
    return surveys[0]


def _files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _stations(survey) -> pd.DataFrame:
    st = pd.read_csv(survey.stations_csv)
    for c in ("Setup_date", "Retrieval_date", "Problem1_from", "Problem1_to"):
        st[c] = pd.to_datetime(st[c])
    return st.set_index("Station")


def _operating(st: pd.Series, t: pd.Timestamp) -> bool:
    if not st.Setup_date <= t <= st.Retrieval_date:
        return False
    return pd.isna(st.Problem1_from) or not st.Problem1_from <= t <= st.Problem1_to


# ------------------------------------------------------------------------------------------
# determinism
# ------------------------------------------------------------------------------------------
def test_same_seed_gives_identical_survey(surveys):
    a, b, _ = surveys
    for name in TRUTH:
        pd.testing.assert_frame_equal(a.truth(name), b.truth(name))
    fa, fb = _files(a.images), _files(b.images)
    assert len(fa) > 10 and fa.keys() == fb.keys()
    assert all(fa[k] == fb[k] for k in fa), "image bytes differ between two runs with the same seed"
    assert _files(a.catalogue_images) == _files(b.catalogue_images)
    assert a.stations_csv.read_bytes() == b.stations_csv.read_bytes()
    assert a.megadetector_json.read_bytes() == b.megadetector_json.read_bytes()


def test_different_seed_gives_different_survey(surveys):
    a, _, c = surveys
    ia, ic = a.truth("individuals"), c.truth("individuals")
    assert not np.allclose(ia[["x", "y"]].to_numpy(), ic[["x", "y"]].to_numpy())
    assert not a.truth("images")[["file", "timestamp"]].equals(c.truth("images")[["file", "timestamp"]])
    fa, fc = _files(a.images), _files(c.images)
    common = [k for k in fa if k in fc and fa[k]]
    assert common and all(fa[k] != fc[k] for k in common if not k.endswith("IMG_9003.JPG"))


def test_config_validation_and_reload(survey):
    with pytest.raises(ValueError, match="n_known"):
        SurveyConfig(n_individuals=3, n_known=4)
    with pytest.raises(ValueError, match="station grid"):
        SurveyConfig(grid_rows=0)
    again = SimulatedSurvey.load(survey.root)
    assert again.config == survey.config


# ------------------------------------------------------------------------------------------
# layout and truth
# ------------------------------------------------------------------------------------------
def test_layout_matches_camtrapr_folders(survey):
    img = survey.truth("images")
    st = _stations(survey)
    assert 4 <= len(survey.truth("detections")) <= SMALL["max_detections"]
    for r in img.itertuples():
        parts = Path(r.file).parts
        assert parts[0] == r.station and parts[1] == r.camera and len(parts) == 3, r.file
        assert parts[2].startswith("IMG_") and parts[2].endswith(".JPG")
        assert (survey.images / r.file).is_file()
    assert set(img.station) <= set(st.index)
    assert set(img.camera) <= {"A", "B"}
    # every file on disk is in the truth: the photos, or the injected bad files
    on_disk = set(_files(survey.images))
    assert on_disk == set(img.file) | set(survey.truth("bad_files").file)
    # each event's images are at its station and show its individual
    det = survey.truth("detections").set_index("event")
    ev = img.dropna(subset=["event"])
    assert (ev.station.to_numpy() == det.loc[ev.event, "station"].to_numpy()).all()
    assert (ev.individual.to_numpy() == det.loc[ev.event, "individual"].to_numpy()).all()


def test_catalogue_layout(survey):
    cat = survey.truth("catalogue")
    ind = survey.truth("individuals")
    known = sorted(ind.loc[ind.in_catalogue, "individual"])
    assert len(known) == SMALL["n_known"]
    assert sorted(cat.individual.unique()) == known
    for r in cat.itertuples():
        assert r.file == f"{r.individual}/{r.sighting:02d}_{r.flank}.jpg"
        assert (survey.catalogue_images / r.file).is_file()
    per = cat.groupby(["individual", "flank"]).size()
    assert (per == SMALL["catalogue_images_per_flank"]).all() and len(per) == 2 * len(known)
    on_disk = {p.relative_to(survey.catalogue_images).as_posix() for p in survey.catalogue_images.rglob("*.jpg")}
    assert on_disk == set(cat.file)


def test_exif_times_equal_truth(survey):
    img = survey.truth("images")
    offset = survey.config.utc_offset
    checked = 0
    for r in img.itertuples():
        with Image.open(survey.images / r.file) as im:
            sub = im.getexif().get_ifd(0x8769)
        if pd.isna(r.timestamp):
            assert 0x9003 not in sub, f"{r.file} should have no EXIF time"
            continue
        want = datetime.fromisoformat(r.timestamp).strftime("%Y:%m:%d %H:%M:%S")
        assert sub.get(0x9003) == want, r.file
        assert sub.get(0x9011) == offset, r.file
        checked += 1
    assert checked == img.timestamp.notna().sum() > 10


def test_megadetector_boxes_agree_with_truth(survey):
    img = survey.truth("images").set_index("file")
    md = storage.read_json(survey.megadetector_json)
    assert md["detection_categories"]["1"] == "animal"
    seen = set()
    for e in md["images"]:
        if "failure" in e:
            continue
        assert len(e["detections"]) == 1
        t = img.loc[e["file"]]
        x, y, w, h = e["detections"][0]["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 1 + 1e-3 and y + h <= 1 + 1e-3
        assert _iou((x, y, w, h), (t.bbox_x, t.bbox_y, t.bbox_w, t.bbox_h)) > 0.7, e["file"]
        seen.add(e["file"])
    assert seen == set(img.index)
    b = img[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]]
    assert (b > 0).all().all() and ((b.bbox_x + b.bbox_w) <= 1).all() and ((b.bbox_y + b.bbox_h) <= 1).all()
    assert (b.bbox_w > 0.1).all() and (b.bbox_h > 0.1).all()


def _iou(a, b):
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.mark.parametrize("flank,night", [("left", False), ("right", True), ("right", False)])
def test_box_covers_the_animal(flank, night):
    """Rendered twice with the same random pose onto a black and a white scene, the photos agree
    only where the animal hides the scene: those pixels must lie in the box, and fill it."""
    ind = make_individual("X", np.random.SeedSequence(5))
    W, H = 480, 360
    for k in range(4):
        black = np.zeros((H, W, 3), np.uint8)
        white = np.full((H, W, 3), 255, np.uint8)
        a, box = render_individual_image(ind, flank, black, np.random.default_rng(k), night=night)
        b, box2 = render_individual_image(ind, flank, white, np.random.default_rng(k), night=night)
        assert box == box2
        same = np.abs(a.astype(int) - b.astype(int)).max(axis=2) < 12
        x0, y0 = int(box[0] * W), int(box[1] * H)
        x1, y1 = int(np.ceil((box[0] + box[2]) * W)), int(np.ceil((box[1] + box[3]) * H))
        inside = np.zeros((H, W), bool)
        inside[y0:y1, x0:x1] = True
        assert same.sum() > 2000
        # grass and branches drawn over animal and scene alike can fall outside the box
        assert same[inside].sum() / same.sum() > 0.8
        # the box is tight: a lynx with legs, tail and ears fills ~40 % of its box
        assert same[inside].mean() > 0.25
        # animal pixels reach the box's edges (on top only thin ear tufts, which blur erases)
        assert same[y0:y1, x0:x0 + 3].any() and same[y0:y1, x1 - 3:x1].any() and same[y1 - 3:y1, x0:x1].any()
        assert same[y0:y0 + (y1 - y0) // 4, x0:x1].any()


def test_survey_photo_differs_from_empty_scene_inside_box_only():
    """A survey photo against its station's empty scene (same seed): the animal is in the box.
    Lighting changes the whole frame, so compare local structure (gradients), not raw values."""
    import cv2
    scene = make_scene(np.random.SeedSequence(11), (480, 360))
    ind = make_individual("Y", np.random.SeedSequence(3))
    img, (x, y, w, h) = render_individual_image(ind, "left", scene, np.random.default_rng(4), night=False)
    H, W = scene.shape[:2]

    def edges(a):
        g = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32)
        g = cv2.GaussianBlur(g, (0, 0), 2)
        return (g - g.mean()) / g.std()
    diff = np.abs(edges(img) - edges(scene))
    x0, y0, x1, y1 = int(x * W), int(y * H), int((x + w) * W), int((y + h) * H)
    far = np.ones((H, W), bool)
    far[max(0, y0 - 80):min(H, y1 + 40), max(0, x0 - 60):min(W, x1 + 60)] = False
    assert far.sum() > 0.2 * H * W
    assert diff[y0:y1, x0:x1].mean() > 3 * diff[far].mean()


def test_flanks_and_individuals_have_their_own_coats():
    a = make_individual("A", np.random.SeedSequence(1))
    b = make_individual("B", np.random.SeedSequence(2))
    a2 = make_individual("A", np.random.SeedSequence(1))
    assert all(np.array_equal(a.textures[f], a2.textures[f]) for f in ("left", "right"))

    def corr(p, q):
        p = p.astype(float).mean(2).ravel()
        q = q.astype(float).mean(2).ravel()
        return np.corrcoef(p - p.mean(), q - q.mean())[0, 1]
    left, right = a.textures["left"], a.textures["right"]
    assert np.abs(left.astype(int) - right.astype(int)).mean() > 10
    # spots differ: beyond the shared shading, the two flanks are barely correlated
    # (the same flank with itself is 1)
    assert corr(left, right) < 0.5
    assert corr(left, b.textures["left"]) < 0.5


def test_bad_files_listed_and_really_bad(survey):
    bad = survey.truth("bad_files").set_index("file")["problem"].to_dict()
    assert sorted(bad.values()) == sorted(["zero-byte file", "truncated JPEG", "not an image", "no EXIF date"])
    for f, problem in bad.items():
        p = survey.images / f
        assert p.exists(), f
        if problem == "zero-byte file":
            assert p.stat().st_size == 0
        elif problem in ("truncated JPEG", "not an image"):
            with pytest.raises(OSError):
                with Image.open(p) as im:
                    im.load()
        else:
            with Image.open(p) as im:
                im.load()
                assert 0x9003 not in im.getexif().get_ifd(0x8769)
    # every other photo decodes fully
    for f in set(_files(survey.images)) - set(bad):
        with Image.open(survey.images / f) as im:
            im.load()
    no_bad = simulate_survey(survey.root.parent / "clean", seed=3, progress=False, inject_bad_files=False,
                             **{**SMALL, "max_detections": 2})
    assert no_bad.truth("bad_files").empty


def test_detections_only_while_station_operates(survey):
    st = _stations(survey)
    det = survey.truth("detections")
    img = survey.truth("images").dropna(subset=["timestamp"])
    for r in det.itertuples():
        assert _operating(st.loc[r.station], pd.Timestamp(r.timestamp)), (r.event, r.station, r.timestamp)
    # the photos of a burst follow the event by seconds; they must still fall in working time
    for r in img.itertuples():
        assert _operating(st.loc[r.station], pd.Timestamp(r.timestamp)), (r.file, r.timestamp)


# ------------------------------------------------------------------------------------------
# the ecology: half-normal detection, camera operation (no photos needed)
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ecology():
    cfg = SurveyConfig(n_individuals=80, n_known=0, n_days=60, g0=0.15, sigma_m=2000.0, seed=21,
                       malfunction_fraction=0.5)
    ss = np.random.SeedSequence(cfg.seed)
    stations = station_table(cfg, np.random.default_rng(ss.spawn(1)[0]))
    rng = np.random.default_rng(ss.spawn(1)[0])
    buf = 2.5 * cfg.sigma_m
    lo = stations[["utm_x", "utm_y"]].min().to_numpy() - buf
    hi = stations[["utm_x", "utm_y"]].max().to_numpy() + buf
    centres = rng.uniform(lo, hi, (cfg.n_individuals, 2))
    ids = [f"L{i:03d}" for i in range(cfg.n_individuals)]
    events = detection_events(cfg, stations, centres, ids, rng)
    ev = pd.DataFrame(events, columns=["t", "individual", "station", "u"])
    return cfg, stations, centres, ids, ev


def _full_days(st, start, n_days):
    """Days (index from ``start``) on which the station worked from midnight to midnight."""
    out = []
    for d in range(n_days):
        a = pd.Timestamp(start) + pd.Timedelta(days=d)
        b = a + pd.Timedelta(days=1)
        if a < st.Setup_date or b > st.Retrieval_date:
            continue
        if st.Problem1_from is not None and not pd.isna(st.Problem1_from) and a <= st.Problem1_to and b >= st.Problem1_from:
            continue
        out.append(d)
    return out


def test_ecology_respects_camera_operation(ecology):
    cfg, stations, *_, ev = ecology
    st = stations.set_index("Station")
    assert len(ev) > 500
    ok = [_operating(st.loc[r.station], pd.Timestamp(r.t)) for r in ev.itertuples()]
    assert all(ok)
    assert ev.t.is_monotonic_increasing
    # the filter does not remove everything around the problem periods: stations with a
    # malfunction record animals before and after it
    broken = st.dropna(subset=["Problem1_from"])
    assert len(broken) >= 2
    for name, s in broken.iterrows():
        times = ev.loc[ev.station == name, "t"]
        assert (times < s.Problem1_from).any() and (times > s.Problem1_to).any(), name


def test_detection_follows_half_normal(ecology):
    """Maximum-likelihood g0 and sigma from station-days that worked all day recover the
    simulator's values, and the detection rate falls with distance."""
    from scipy.optimize import minimize
    cfg, stations, centres, ids, ev = ecology
    st = stations.set_index("Station")
    start = datetime.fromisoformat(cfg.start_date)
    n_days = (st.Retrieval_date.max().date() - start.date()).days + 1
    full = {s: set(_full_days(st.loc[s], start, n_days)) for s in st.index}
    trials = np.array([len(full[s]) for s in st.index], float)
    ev = ev.assign(day=[(t.date() - start.date()).days for t in ev.t])
    ev = ev[[d in full[s] for s, d in zip(ev.station, ev.day)]]
    counts = np.zeros((len(ids), len(st)))
    for (i, s), n in ev.groupby(["individual", "station"]).size().items():
        counts[ids.index(i), st.index.get_loc(s)] = n
    d2 = ((centres[:, None, :] - st[["utm_x", "utm_y"]].to_numpy()[None]) ** 2).sum(-1)

    def nll(theta):
        g0 = 1 / (1 + np.exp(-theta[0]))
        p = np.clip(g0 * np.exp(-d2 / (2 * np.exp(theta[1]) ** 2)), 1e-12, 1 - 1e-12)
        return -(counts * np.log(p) + (trials[None] - counts) * np.log1p(-p)).sum()
    fit = minimize(nll, [0.0, np.log(1000.0)], method="Nelder-Mead")
    g0_hat, sigma_hat = 1 / (1 + np.exp(-fit.x[0])), np.exp(fit.x[1])
    assert abs(sigma_hat / cfg.sigma_m - 1) < 0.12, sigma_hat
    assert abs(g0_hat / cfg.g0 - 1) < 0.2, g0_hat
    # model-free: per-trial detection frequency by distance band is decreasing
    d = np.sqrt(d2) / cfg.sigma_m
    bands = [(0, 0.75), (0.75, 1.5), (1.5, 2.25), (2.25, 3.5)]
    rate = [counts[(d >= a) & (d < b)].sum() / (trials[None] * ((d >= a) & (d < b))).sum() for a, b in bands]
    assert all(x > y for x, y in zip(rate, rate[1:])), rate
    assert rate[0] > 5 * rate[-1]


def test_survey_without_detections_has_readable_empty_tables(tmp_path):
    s = simulate_survey(tmp_path / "quiet", n_individuals=2, n_known=0, n_days=2, g0=1e-6,
                        image_size=(160, 120), progress=False)
    for name in ("images", "detections", "bad_files", "catalogue"):
        assert s.truth(name).empty
    assert len(s.truth("individuals")) == 2
    assert list(s.truth("images").columns)[:3] == ["file", "station", "camera"]
    assert s.images.is_dir() and s.catalogue_images.is_dir()
    assert storage.read_json(s.megadetector_json)["images"] == []


def test_small_images_render():
    """Perspective is set relative to the sprite, not the scale: small frames (which once
    failed for about one pose in four) render, and the animal keeps its share of the frame."""
    ind = make_individual("S", np.random.SeedSequence(9))
    widths = {}
    for W, H in ((160, 120), (960, 720)):
        scene = make_scene(np.random.SeedSequence(1), (W, H))
        widths[W] = [render_individual_image(ind, "right", scene, np.random.default_rng(k))[1][2] for k in range(16)]
    assert abs(np.median(widths[160]) - np.median(widths[960])) < 0.03
