"""Building and growing a catalogue: labelled detections in, features and a refitted model out.

Three ways in, one path (:func:`enrol`): a new catalogue from labelled photos
(:func:`build_catalogue`), more labelled photos (:func:`add_to_catalogue`), and the
detections a reviewer confirmed or named (:func:`add_reviewed_to_catalogue`). Each addition
computes the detections' features into the catalogue's cache, adds them as references and
refits the identification model (``openset.IdentificationModel.fit``) with the catalogue's configuration
(``config.IdentificationConfig``, stored with it); what could not be used is appended to the
catalogue's ``issues``.

A catalogue that cannot fit its own model (too few individuals seen on two or more
occasions: how most studies start) identifies with lynxid's default model
(``default_model``) where it was built with the same image model and local features;
:func:`model_source` says which model decides ("catalogue" or "default"), and each refit
switches to the catalogue's own as soon as it can be fitted, saying so (a
:class:`ModelSwitch` warning and an ``info`` row in the catalogue's ``issues``). A catalogue
that cannot identify anything (no individual, or neither model usable) is still saved, since
more photos can be added to it, but each of the three warns (:class:`CatalogueWarning`, the
reason from :func:`identification_problem`); the command line makes it an error.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .catalogue import Catalogue
from .config import DEFAULT_METRIC, IdentificationConfig
from .default_model import default_model_problem
from .detections import DEFAULT_THRESHOLD, labelled_detections
from .features import extract_features
from .ingest import Issues
from .openset import IdentificationModel
from .results import read_detections

__all__ = ["build_catalogue", "add_to_catalogue", "add_reviewed_to_catalogue", "enrol", "catalogue_embedder",
           "check_local_version", "local_features_version", "identification_problem", "CatalogueWarning",
           "model_source", "ModelSwitch"]

# the issue an unfitted model leaves in the catalogue's ``issues`` (its reason starts so)
MODEL_NOT_FITTED = "identification model not fitted"


class CatalogueWarning(UserWarning):
    """The catalogue was saved but cannot identify anything yet (see :func:`identification_problem`)."""


class ModelSwitch(UserWarning):
    """A refit changed which model identifies with the catalogue (:func:`model_source`)."""


def _default_problem(cat: Catalogue) -> str | None:
    """Why ``cat`` cannot use the default model (None when it can)."""
    return default_model_problem(cat.meta.get("embedder"), cat.meta.get("local_version"),
                                 IdentificationConfig.of(cat).local)


def model_source(cat: Catalogue) -> str | None:
    """Which model identifies with ``cat``: "catalogue" (its own, fitted on its photos),
    "default" (lynxid's default model, while it cannot fit its own), or None (neither)."""
    if cat.meta.get("model") is not None:
        return "catalogue"
    if len(cat) and _default_problem(cat) is None:
        return "default"
    return None


def identification_problem(cat: Catalogue) -> str | None:
    """Why ``cat`` cannot identify anything, in words for the user (None when it can): it
    holds no individual (with the photos not used, e.g. all boxes below the threshold), or
    its model could not be fitted (the fit's own reason, from the catalogue's ``issues``) and
    the default model cannot be used with it (why not)."""
    if model_source(cat) is not None:
        return None
    issues = cat.meta.get("issues", [])
    if not len(cat):
        unused = [r for r in issues if r.get("severity") not in ("warning", "info")]
        ex = "; ".join(f"{r['file']}: {r['reason']}" for r in unused[:2])
        return (f"it holds no individual: none of the photos could be used ({len(unused)} not used"
                + (f", e.g. {ex}" if ex else "") + f"; all in 'issues' of {cat.root / 'catalogue.json'})")
    fit = next((r["reason"] for r in reversed(issues) if str(r.get("reason", "")).startswith(MODEL_NOT_FITTED)),
               None)
    s = cat.summary()
    return (f"it has {s['individuals']} individual(s) and {s['references']} reference photo(s) but no "
            "identification model, which needs at least two individuals photographed on two or more occasions"
            + (f" (the fit: {fit[len(MODEL_NOT_FITTED) + 2:].rstrip('.')})" if fit else "")
            + f", and {_default_problem(cat)}")


def _warn_if_unusable(cat: Catalogue) -> None:
    """Warn (:class:`CatalogueWarning`) where the saved catalogue cannot identify anything."""
    problem = identification_problem(cat)
    if problem:
        warnings.warn(f"catalogue {cat.root} was saved but cannot identify anything: {problem}. Add photos "
                      f"('lynxid catalogue add {cat.root} --images MORE' or add_to_catalogue()); identify refuses "
                      "it until then", CatalogueWarning, stacklevel=3)


def local_features_version() -> str:
    """What made a catalogue's keypoints and dense grids (a catalogue keeps the version it was
    built with: references and queries must be described the same way)."""
    from .dense import DENSE_VERSION
    from .keypoints import LOCAL_VERSION
    return f"{LOCAL_VERSION}+{DENSE_VERSION}"


def check_local_version(cat: Catalogue) -> None:
    """Refuse a catalogue whose local features another lynxid version made."""
    if not IdentificationConfig.of(cat).local:
        return
    have = cat.meta.get("local_version")
    if have != local_features_version():
        raise ValueError(f"catalogue {cat.root} holds local features made by another lynxid version "
                         f"({have or 'before lynxid 0.1.0 recorded it'}; this one makes {local_features_version()}), "
                         "so its photos and new ones would not be compared alike; rebuild it from the same photos: "
                         "lynxid catalogue build NEW_FOLDER --images REFERENCE_PHOTOS")


def catalogue_embedder(cat: Catalogue, **kw):
    """The image model a catalogue was built with (its backbone and weights)."""
    return IdentificationConfig.of(cat).embedder(**kw)


def build_catalogue(root, images, megadetector=None, backbone: str = "efficientnet-lite0", weights=None,
                    threshold: float = DEFAULT_THRESHOLD, local: bool = True, target: str = "gmean",
                    progress: bool = True, embedder=None, metric: str = DEFAULT_METRIC) -> Catalogue:
    """Build a catalogue at ``root`` from labelled photos in ``images`` (a folder per
    individual, or XMP ``individual|ID`` tags), fit its identification model and save it.
    ``metric``: use the embedding's metric learned on the catalogue (``IdentificationModel``'s
    ``whiten``): "shortlist" (default: to choose what local matching checks), "off" or "on"
    (also in the fusion). The settings are kept with the catalogue
    (``config.IdentificationConfig``) for later refits and identification. A catalogue that
    cannot identify anything is saved and returned all the same, with a
    :class:`CatalogueWarning` that says why (:func:`identification_problem`)."""
    root = Path(root)
    if (root / "catalogue.json").exists():
        raise ValueError(f"a catalogue already exists at {root}; use add_to_catalogue() / 'lynxid catalogue add'")
    config = IdentificationConfig(backbone, str(weights) if weights else None, local, metric, target)
    embedder = embedder or config.embedder()
    config.backbone = embedder.spec.name
    cat = Catalogue.empty(root, embedder.tag, embedder.dim)
    cat.meta["config"] = config.to_dict()
    _add_photos(cat, images, megadetector, threshold, embedder, progress)
    _warn_if_unusable(cat)
    return cat


def add_to_catalogue(root, images, megadetector=None, threshold: float = DEFAULT_THRESHOLD, target: str | None = None,
                     progress: bool = True) -> Catalogue:
    """Add labelled photos to an existing catalogue and refit its model (``target``: a new
    open-set target for the catalogue; None keeps its own)."""
    cat = Catalogue.load(root)
    config = IdentificationConfig.of(cat)
    if target is not None:
        config.target = target
        cat.meta["config"] = config.to_dict()
    _add_photos(cat, images, megadetector, threshold, config.embedder(), progress)
    _warn_if_unusable(cat)
    return cat


def _add_photos(cat: Catalogue, images, megadetector, threshold, emb, progress) -> Catalogue:
    issues = Issues()
    det = labelled_detections(images, megadetector, threshold, issues)
    meta = {"megadetector": det.attrs.get("megadetector")}    # this addition's MegaDetector file, counted
    det = det.assign(source=str(Path(images).resolve()))
    enrol(cat, det, emb, progress=progress, source=str(images), issues=issues, desc="catalogue features", meta=meta)
    return cat


def add_reviewed_to_catalogue(catalogue, results, *, include_new: bool = True, progress: bool = True):
    """Add the detections a reviewer confirmed, reassigned or named as new to the catalogue
    (as references of their individual) and refit its identification model.

    ``results``: identify's output folder (``detections.parquet``, decisions applied) or
    that table. Machine calls nobody reviewed are never added. Returns ``(catalogue,
    added)`` where ``added`` lists the detections added (already present ones are skipped)."""
    det, _ = read_detections(results)
    cat = catalogue if isinstance(catalogue, Catalogue) else Catalogue.load(catalogue)
    if "reviewed_by" not in det:
        raise ValueError("these results carry no review (no 'reviewed_by' column): rerun identify with the "
                         "decisions file, then add the reviewed detections")
    source = str(results) if not isinstance(results, pd.DataFrame) else "reviewed detections"
    refs = _reviewed_references(det, include_new, source)
    refs = refs[~refs["detection_id"].isin(set(cat.table["detection_id"].astype(str)))].reset_index(drop=True)
    if not len(refs):
        return cat, refs
    added = enrol(cat, refs, catalogue_embedder(cat), progress=progress, source=source, desc="reviewed detections")
    _warn_if_unusable(cat)
    return cat, added


def _reviewed_references(det: pd.DataFrame, include_new: bool, source: str) -> pd.DataFrame:
    """The reviewed detections as reference rows: one sighting per reviewed event."""
    sel = det["decision"].isin(["confirmed", "reviewed"]) & det["individual_id"].notna() & det["reviewed_by"].notna()
    if not include_new:
        sel &= ~det["is_new"].astype(bool)
    sub = det[sel].reset_index(drop=True)
    box = sub["detection_id"].astype(str).str.rsplit("#", n=1).str[-1]
    first = sub.groupby("event_id")["timestamp"].transform("min").astype(str)
    return pd.DataFrame({
        "detection_id": "reviewed:" + sub["path"].astype(str) + "#" + box,
        "file": sub["file"].astype(str), "path": sub["path"].astype(str),
        "individual": sub["individual_id"].astype(str),
        "flank": sub["flank"] if "flank" in sub else None,
        "sighting": "reviewed:" + sub["station"].astype(str) + "@" + first,
        "bbox_x": sub["bbox_x"], "bbox_y": sub["bbox_y"], "bbox_w": sub["bbox_w"], "bbox_h": sub["bbox_h"],
        "source": source})


def enrol(cat: Catalogue, det: pd.DataFrame, emb, *, progress: bool = True, source: str = "",
          issues: Issues | None = None, desc: str = "catalogue features", meta: dict | None = None) -> pd.DataFrame:
    """Add the labelled detections ``det`` (with ``individual``) to ``cat``: their features
    (into the catalogue's cache), then the model refitted, all as the catalogue's
    configuration says, and the catalogue saved. Detections whose
    features failed and a model that could not be fitted are recorded in the catalogue's
    ``issues`` (after ``issues``, what the caller collected); ``meta``: entries for the
    catalogue's metadata (a photo addition's MegaDetector counts). Returns the detections added."""
    issues = Issues() if issues is None else issues
    config = IdentificationConfig.of(cat)
    local = config.local
    if local:
        if len(cat):
            check_local_version(cat)
        cat.meta["local_version"] = local_features_version()
    cat.meta.update(meta or {})
    before = model_source(cat)              # what identified with it until now
    fs = extract_features(det, emb, local=local, cache_dir=cat.root / "cache", progress=progress, desc=desc)
    issues.extend(fs.issues)
    det = det.assign(local_key=fs.local_keys if local else None)
    keep = np.nonzero(fs.ok)[0]
    added = det.iloc[keep].reset_index(drop=True)
    cat.add(added, fs.vectors[keep])
    try:
        model = IdentificationModel(config.fit_matcher(), config.target, config.whiten).fit(cat.references(),
                                                                                          progress=progress)
        cat.meta["model"] = model.to_dict()
    except ValueError as exc:
        cat.meta["model"] = None
        issues.add(source, "catalogue", f"{MODEL_NOT_FITTED}: {exc}", "warning")
    _note_model_source(cat, before, issues, source)
    cat.meta["issues"] = cat.meta.get("issues", []) + issues.rows
    cat.save()
    return added


def _note_model_source(cat: Catalogue, before: str | None, issues: Issues, source: str) -> None:
    """Record which model now identifies with ``cat`` (``model_source`` in its metadata) and,
    where that changed from ``before``, say so: an ``info`` row in its issues and, on a
    switch between models, a :class:`ModelSwitch` warning."""
    now = model_source(cat)
    cat.meta["model_source"] = now
    # what this refit switched from (the summary's ``model_switched_from``), None if nothing
    cat.meta["model_switched_from"] = before if (now != before and before is not None) else None
    if now == before or now is None:
        return
    s = cat.summary()
    if now == "default":
        msg = (f"identifies with lynxid's default model (fitted on simulated lynx, not on these animals): the "
               f"catalogue cannot fit its own yet ({s['individuals']} individual(s), {s['references']} photo(s); it "
               "needs at least two individuals photographed on two or more occasions)")
    else:
        msg = (f"identifies with its own model, fitted on its {s['individuals']} individuals' photos"
               + (", instead of lynxid's default model" if before == "default" else ""))
    issues.add(source, "catalogue", f"identification model: {msg}", "info")
    if before is not None:
        warnings.warn(f"catalogue {cat.root} now {msg}", ModelSwitch, stacklevel=4)
