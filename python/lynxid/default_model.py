"""The default identification model: what a catalogue identifies with before it can fit its own.

A catalogue fits its model (``openset.IdentificationModel.fit``) on its own photos, by leave-one-out, and
that needs at least two individuals photographed on two or more occasions. Most studies
start with one sighting per known animal, so a first catalogue would identify nothing. The
project therefore ships a model fitted on its own simulated surveys (no third-party photos:
``scripts/fit_default_model.py`` simulates lynx photographed on several occasions, builds a
catalogue of them with the default image model and fits it), and a catalogue that cannot fit
its own uses it, saying so (``model_source``: ``"catalogue"`` or ``"default"``) in its
summary, in identify's ``detections.csv`` and in R. Each refit (more photos, reviewed
detections) tries the catalogue's own model again and switches to it when it can.

What transfers, and so what is shipped: the parts that read *similarity features* of a
photo pair or of a candidate -- the pair verifier (keypoint inliers and dense-grid agreement
of two photos), the calibrator (cosine, inliers, verifier sums -> P(same animal)), the
"new" weight and the maps of reported probabilities. They describe how much agreement two
photos of one animal show under this image model and these local features, which depends on
the features more than on the animals. What does not transfer is the learned metric
(``metric.Whitening``): it is a projection fitted to *which directions separate the simulated
animals*, and on other animals it would discard what separates them; it is never shipped.
Nor is the shortlist's size: the catalogue's own configuration sizes it for its animals.
Even the shipped parts transfer only in part: simulated lynx are easier to match by
keypoints than real animals, and stand in random scenes where the global cosine carries no
identity, so on real species the default calls most animals new, ranks by local evidence
alone and reports overconfident probabilities. It is a labelled stand-in that lets a first
catalogue run and sends its calls to review, not a substitute for the catalogue's own model.

The numbers only mean something for the features they were fitted on, so the file records
the embedder tag and the local-features version, and the model is only used with a
catalogue built with the same (otherwise the catalogue is refused as before, with the
reason). How well the default does on real photos beside a catalogue-fitted model:
benchmarks/README.md ("Default identification model").
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .openset import IdentificationModel

__all__ = ["DEFAULT_MODEL_FILE", "MODEL_SOURCES", "default_model_record", "read_default_model", "write_default_model",
           "load_default_model", "default_model_problem", "evaluation_model"]

DEFAULT_MODEL_FILE = Path(__file__).parent / "models" / "default_identification.json"
# which model decided: the catalogue's own fit, or the shipped default
MODEL_SOURCES = ("catalogue", "default")
FORMAT = "lynxid-default-identification-model/1"


def default_model_record(model: IdentificationModel, embedder: str, local_version: str, provenance: dict) -> dict:
    """What is shipped of a model fitted on a simulated catalogue (module doc): its learned
    metric dropped, its shortlist left for each catalogue to size, and what it was fitted
    with (``embedder`` tag, ``local_version``) and how (``provenance``: command, seed, data)."""
    if not model.matcher_.use_local:
        raise ValueError("the default model must be fitted with local features: a catalogue without them could "
                         "not use it anyway, and one with them would be scored without its strongest evidence")
    shipped = IdentificationModel(target=model.target, whiten=False).set_fitted(
        model.calibrator_, model.new_weight_, dataclasses.replace(model.matcher_, per_individual=None),
        model.reported_, None, model.diagnostics_)
    d = shipped.to_dict()
    d["diagnostics"] = {k: v for k, v in d["diagnostics"].items() if not k.startswith("whitening")}
    return {"format": FORMAT, "embedder": embedder, "local_version": local_version, "provenance": provenance,
            "model": d}


def read_default_model(path=None) -> dict:
    """The shipped record (:func:`default_model_record`), or the one at ``path``."""
    path = Path(path) if path else DEFAULT_MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"no default identification model at {path}: this lynxid was installed without its "
                                "data files (reinstall it), or make one with scripts/fit_default_model.py")
    rec = json.loads(path.read_text())
    if rec.get("format") != FORMAT:
        raise ValueError(f"{path} is not a lynxid default identification model ({FORMAT}); found "
                         f"{rec.get('format')!r}")
    return rec


def default_model_problem(embedder: str, local_version: str | None, local: bool = True, path=None) -> str | None:
    """Why a catalogue built with ``embedder`` (tag), local features of ``local_version`` and
    ``local`` (whether it uses local features at all) cannot use the default model, in words
    (None when it can)."""
    if not local:
        return "the default model needs local features and this catalogue was built without them"
    try:
        rec = read_default_model(path)
    except (FileNotFoundError, ValueError) as exc:
        return str(exc)
    if rec["embedder"] != embedder:
        return (f"the default model was fitted on features of {rec['embedder']} and this catalogue was built with "
                f"{embedder}; its numbers would not mean the same here")
    if rec["local_version"] != local_version:
        return (f"the default model was fitted on local features {rec['local_version']} and this catalogue holds "
                f"{local_version or 'none recorded'}")
    return None


def load_default_model(embedder: str, local_version: str | None, matcher=None, local: bool = True,
                       path=None) -> IdentificationModel:
    """The default model for a catalogue built with ``embedder`` and ``local_version``,
    matching as ``matcher`` says (the catalogue's configuration, sized for it; its pair
    verifier comes from the default). Refuses another embedder or feature version, naming both."""
    problem = default_model_problem(embedder, local_version, local, path)
    if problem:
        raise ValueError(f"the default identification model cannot be used: {problem}")
    model = IdentificationModel.from_dict(read_default_model(path)["model"])
    if matcher is not None:
        model.matcher_ = dataclasses.replace(matcher, use_local=True, verifier=model.matcher_.verifier)
    return model


def write_default_model(catalogue, out=None, provenance: dict | None = None) -> dict:
    """Write the default model record of ``catalogue`` (a folder or ``catalogue.Catalogue``
    whose own model was fitted, with local features) to ``out`` (default: the package's
    :data:`DEFAULT_MODEL_FILE`); returns the record."""
    from . import storage
    from .catalogue import Catalogue
    cat = catalogue if isinstance(catalogue, Catalogue) else Catalogue.load(catalogue)
    if cat.meta.get("model") is None:
        raise ValueError(f"catalogue {cat.root} has no model of its own to ship (it needs individuals photographed "
                         "on two or more occasions)")
    rec = default_model_record(IdentificationModel.from_dict(cat.meta["model"]), cat.meta["embedder"],
                               cat.meta.get("local_version"), provenance or {})
    rec["provenance"].setdefault("catalogue", cat.summary())
    storage.write_json(Path(out) if out else DEFAULT_MODEL_FILE, rec)
    return rec


def evaluation_model(model, embedder: str, local_version: str):
    """``evaluate_dataset``'s ``model``: ``"catalogue"`` (None: each split fits its own, as a
    catalogue does), ``"default"`` (the shipped model, for features of ``embedder`` and
    ``local_version``), or an ``IdentificationModel`` as it is."""
    if model is None or isinstance(model, IdentificationModel):
        return model
    if model not in MODEL_SOURCES:
        raise ValueError(f"model must be one of {MODEL_SOURCES} (or a fitted IdentificationModel), not {model!r}")
    return None if model == "catalogue" else load_default_model(embedder, local_version)
