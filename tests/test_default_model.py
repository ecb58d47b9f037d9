"""A catalogue that works from the first sightings: lynxid's default identification model
(issue "A catalogue that works from the first sightings").

A catalogue of simulated lynx photographed once each cannot fit its own model; it identifies
with the shipped default, says so everywhere the user looks, and switches to its own model
when sightings are added. The shipped file is checked for what it was fitted with."""
import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from lynxid.cli import main


@pytest.fixture(scope="module")
def first_sightings(tmp_path_factory):
    """Four simulated lynx, two sightings x two flanks each in the simulator's catalogue: the
    first sighting (``01_*``) is the catalogue a study starts with, the second (``02_*``)
    what it adds later; and a small survey of the same animals to identify."""
    from lynxid.simulate import SurveyConfig, simulate_survey
    root = tmp_path_factory.mktemp("default_model")
    cfg = SurveyConfig(n_individuals=4, n_known=4, n_days=15, max_detections=6, catalogue_images_per_flank=2,
                       inject_bad_files=False, seed=5)
    sv = simulate_survey(root / "survey", cfg, progress=False)
    for k in ("01", "02"):
        for f in sv.catalogue_images.rglob(f"{k}_*.jpg"):
            dest = root / f"sighting{k}" / f.relative_to(sv.catalogue_images)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dest)
    return root, sv


def _build(root, sv, name):
    from lynxid.enrol import build_catalogue
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # no CatalogueWarning: it can identify
        return build_catalogue(root / name, root / "sighting01", progress=False)


def test_one_sighting_per_animal_identifies_with_the_default_model(first_sightings, tmp_path, capsys):
    from lynxid.enrol import identification_problem, model_source
    from lynxid.identification import identify
    root, sv = first_sightings
    cat = _build(root, sv, "cat_once")
    assert len(cat) == 8 and cat.meta["model"] is None           # its own model could not be fitted ...
    assert model_source(cat) == "default" and identification_problem(cat) is None   # ... the default decides
    s = cat.summary()
    assert s["model"] == "default" and s["fitted"] is False and s["model_switched_from"] is None
    assert any(r["severity"] == "info" and "lynxid's default model" in r["reason"] for r in cat.meta["issues"])
    res = identify(sv.images, cat, megadetector=sv.megadetector_json, out=tmp_path / "out", progress=False)
    det = pd.read_csv(tmp_path / "out" / "detections.csv")
    assert len(det) and (det["model"] == "default").all()
    assert list(det.columns[:len(det.columns)]).index("model") > list(det.columns).index("decision")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["model"] == "default"
    assert (res.issues["reason"].str.contains("decided by lynxid's default identification model")).any()
    # the catalogue command says so too
    assert main(["catalogue", "info", str(root / "cat_once")]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "default"


def test_adding_sightings_switches_to_the_catalogues_own_model(first_sightings, tmp_path, capsys):
    from lynxid.enrol import ModelSwitch, add_to_catalogue, model_source
    from lynxid.identification import identify
    root, sv = first_sightings
    _build(root, sv, "cat_grow")
    with pytest.warns(ModelSwitch, match="now identifies with its own model.*instead of lynxid's default model"):
        cat = add_to_catalogue(root / "cat_grow", root / "sighting02", progress=False)
    assert cat.meta["model"] is not None and model_source(cat) == "catalogue"
    s = cat.summary()
    assert s["model"] == "catalogue" and s["fitted"] and s["model_switched_from"] == "default"
    assert any("instead of lynxid's default model" in r["reason"] for r in cat.meta["issues"])
    res = identify(sv.images, cat, megadetector=sv.megadetector_json, progress=False)
    assert (res.detections["model"] == "catalogue").all() and res.summary["model"] == "catalogue"
    # the command line, on another copy: says it switched
    _build(root, sv, "cat_cli")
    assert main(["catalogue", "add", str(root / "cat_cli"), "--images", str(root / "sighting02"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "now the catalogue's own" in out and "lynxid's default (fitted" not in out


def test_catalogue_build_says_it_uses_the_default(first_sightings, capsys):
    root, _ = first_sightings
    assert main(["catalogue", "build", str(root / "cat_cli_once"), "--images", str(root / "sighting01"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "identification model: lynxid's default (fitted on simulated lynx" in out


def test_shipped_model_records_what_it_was_fitted_with():
    from lynxid.default_model import DEFAULT_MODEL_FILE, load_default_model, read_default_model
    from lynxid.embed import Embedder
    from lynxid.enrol import local_features_version
    rec = read_default_model()
    assert DEFAULT_MODEL_FILE.stat().st_size < 1_000_000
    assert rec["embedder"] == Embedder().tag and rec["local_version"] == local_features_version()
    p = rec["provenance"]
    assert "scripts/fit_default_model.py" in p["command"] and isinstance(p["seed"], int) and "simulat" in p["data"]
    assert rec["model"]["whitening"] is None and rec["model"]["per_individual"] is None   # what does not transfer
    m = load_default_model(rec["embedder"], rec["local_version"])
    assert m.matcher_.use_local and m.matcher_.verifier is not None and m.new_weight_ > 0
    with pytest.raises(ValueError, match="fitted on features of efficientnet-lite0.* this catalogue was built with "
                       "resnet50:default"):
        load_default_model("resnet50:default:gem:224:x", rec["local_version"])
    with pytest.raises(ValueError, match="fitted on local features .* this catalogue holds rootsift-v0"):
        load_default_model(rec["embedder"], "rootsift-v0+dense-v0")


def test_default_model_refused_for_a_catalogue_of_another_embedder(first_sightings):
    """A catalogue whose features another image model made keeps the clear refusal."""
    from lynxid.enrol import identification_problem, model_source
    from lynxid.identification import load_model
    root, sv = first_sightings
    cat = _build(root, sv, "cat_other")
    cat.meta["embedder"] = "efficientnet-lite0:0123abcd:gem:224:decode-v2"    # fine-tuned weights, say
    assert model_source(cat) is None
    with pytest.raises(ValueError, match="cannot identify anything: .*no identification model.*the default model "
                       "was fitted on features of efficientnet-lite0:default"):
        load_model(cat)


def test_default_model_probabilities_are_a_distribution():
    from lynxid.default_model import load_default_model, read_default_model
    from lynxid.match import Evidence
    from lynxid.reported import NEW
    rec = read_default_model()
    m = load_default_model(rec["embedder"], rec["local_version"])
    rng = np.random.default_rng(0)
    for k in (1, 3, 12):
        g, l, d = rng.uniform(0.2, 0.9, k), rng.integers(0, 60, k).astype(float), rng.uniform(0, 2, k)
        ev = Evidence(np.array([f"L{i}" for i in range(k)], object), g, l, np.zeros(k, int), -np.ones(k, int), d=d)
        dec = m.decide(ev)
        assert np.all(dec["pk"] >= 0) and 0 <= dec["p_new"] <= 1
        assert dec["pk"].sum() + dec["p_new"] == pytest.approx(1.0)
        pk, p_new = m.reported_.posterior(dec["pk"], dec["p_new"], NEW if dec["is_new"] else 0)
        assert pk.sum() + p_new == pytest.approx(1.0) and np.all(pk >= 0) and 0 <= p_new <= 1
    # strong evidence for one animal names it; none for any calls new
    ev = Evidence(np.array(["A", "B"], object), np.array([0.95, 0.3]), np.array([200.0, 0.0]), np.zeros(2, int),
                  -np.ones(2, int), d=np.array([2.0, 0.0]))
    assert m.decide(ev)["individual_id"] == "A"
    ev = Evidence(np.array(["A", "B"], object), np.array([0.2, 0.2]), np.zeros(2), np.zeros(2, int),
                  -np.ones(2, int), d=np.zeros(2))
    assert m.decide(ev)["is_new"]


def test_evaluate_with_the_default_model(tmp_path):
    """``evaluate_dataset(model="default")``: the default decides the open set; the
    catalogue-fitted model's figures on the same evidence come beside it."""
    from lynxid import evaluate_dataset, format_evaluation
    from lynxid.default_model import read_default_model
    from lynxid.simulate import SurveyConfig, simulate_survey
    cfg = SurveyConfig(n_individuals=6, n_known=6, n_days=5, max_detections=1, inject_bad_files=False, seed=11)
    sv = simulate_survey(tmp_path / "survey", cfg, progress=False)
    rep = evaluate_dataset(sv.catalogue_images, megadetector=sv.catalogue_megadetector_json, progress=False,
                           protocols=(), model="default")
    o = rep["open_set"]
    assert o["model"] == "default" and o["catalogue_fitted"] and "rank1_known" in o["catalogue_fitted"]
    assert 0 <= o["rank1_known"] <= 1 and o["new_weight"] == pytest.approx(read_default_model()["model"]["new_weight"])
    assert o["posterior"]["decisions"] > 0
    assert "default model" in format_evaluation(rep) and "catalogue-fitted model on the same evidence" in \
        format_evaluation(rep)
    with pytest.raises(ValueError, match="model must be one of"):
        evaluate_dataset(sv.catalogue_images, megadetector=sv.catalogue_megadetector_json, progress=False,
                         protocols=(), model="mine")
