"""Identify the individuals in a folder of camera-trap images: the run.

Survey folder -> detections (``detections``: stations, cameras, EXIF times, MegaDetector
boxes or whole images) -> features (``features``: global embedding and local keypoints,
cached) -> events (``events``: photos of one passage) -> evidence against the catalogue per
event (the model's ``match.Matcher``, each photo's evidence pooled over the event) -> the
open-set decision (``openset``: a known individual with its reported probability, or new),
one animal per name within a photo -> new events clustered into provisional individuals
(``cluster``) -> a reviewer's decisions applied (``decisions``) -> the results table
(``results``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .catalogue import Catalogue
from .cluster import agglomerate, cannot_link, provisional_names, unit_pair_probability
from .decisions import apply_decisions
from .detections import DEFAULT_THRESHOLD, survey_detections
from .config import IdentificationConfig
from .default_model import load_default_model
from .enrol import catalogue_embedder, check_local_version, identification_problem, model_source
from .events import DEFAULT_GAP_SECONDS, assign_events
from .features import extract_features
from .ingest import Issues
from .issues_log import SEVERITIES
from .match import References, pool
from .openset import IdentificationModel
from .posterior import posterior_table, unit_pair_table
from .reported import MIN_DECISIONS, NEW, ReportedProbability
from .results import DETECTION_COLUMNS, IdentifyResult

__all__ = ["identify", "IdentifyResult", "load_model", "one_animal_per_name", "shortlist_similarities",
           "EXACT_SIMILARITY_UP_TO", "SHORTLIST_REFERENCES"]

EXACT_SIMILARITY_UP_TO = 50_000   # references; above, the catalogue's faiss index gives a shortlist
SHORTLIST_REFERENCES = 2_000
UNIT_COLUMNS = ["unit_id", "members", "names", "pk", "p_new", "is_new", "individual_id", "probability", "station",
                "t0", "t1", "files"]


def load_model(cat: Catalogue) -> IdentificationModel:
    """The catalogue's fitted model or, while it cannot fit its own, lynxid's default model
    (``default_model``; matching as the catalogue's configuration says, sized for it),
    refusing catalogues neither can be used with (``enrol.model_source`` says which)."""
    problem = identification_problem(cat)
    if problem:
        raise ValueError(f"catalogue {cat.root} cannot identify anything: {problem}; add photos to it "
                         f"('lynxid catalogue add {cat.root} --images MORE')")
    check_local_version(cat)
    if model_source(cat) == "default":
        matcher = IdentificationConfig.of(cat).fit_matcher().sized_for(len(cat.individuals))
        return load_default_model(cat.meta["embedder"], cat.meta.get("local_version"), matcher)
    return IdentificationModel.from_dict(cat.meta["model"])


def shortlist_similarities(cat: Catalogue, q: np.ndarray, refs: References | None = None,
                           q_model: np.ndarray | None = None) -> np.ndarray:
    """Similarities to the ``SHORTLIST_REFERENCES`` nearest references (faiss), -inf for the
    rest: a large catalogue is never compared photo by photo. The index holds the raw
    embedding; with ``refs`` and ``q_model`` (both in the model's space,
    ``IdentificationModel.embed``) the shortlisted references are scored there, as the model
    was calibrated."""
    sims = np.full(len(cat), -np.inf, np.float32)
    d, i = cat.index.search(q[None, :], SHORTLIST_REFERENCES)
    ok = i[0] >= 0
    idx = i[0][ok]
    sims[idx] = d[0][ok] if refs is None else refs.vectors[idx] @ q_model
    return sims


class _Similarities:
    """Per survey detection ``(sims, rank_sims)`` for ``Matcher.evidence``: ``g``'s
    similarities (the faiss shortlist's only, in a large catalogue) and, when the model's
    metric only chooses the shortlist, the similarities that choose it."""

    def __init__(self, cat: Catalogue, model: IdentificationModel, refs: References, vectors: np.ndarray):
        self.cat, self.refs, self.raw = cat, refs, vectors
        self.V = model.embed(vectors)              # the model's space, for matching and clustering
        self.W = model.rank_embed(vectors)         # the space that chooses the shortlist, if another
        self.R = None if self.W is None else model.rank_embed(cat.vectors)
        self.big = len(refs) > EXACT_SIMILARITY_UP_TO

    def __call__(self, i: int):
        sims = shortlist_similarities(self.cat, self.raw[i], self.refs, self.V[i]) if self.big else None
        if self.R is None:
            return sims, None
        if sims is None:
            return self.refs.vectors @ self.V[i], self.R @ self.W[i]
        # behind the faiss shortlist: score only the references it kept, not the whole catalogue
        kept = np.flatnonzero(np.isfinite(sims))
        rank = np.full(len(sims), -np.inf, np.float32)
        rank[kept] = self.R[kept] @ self.W[i]
        return sims, rank


def _survey_features(det: pd.DataFrame, emb, model: IdentificationModel, cache_dir, progress: bool,
                     background: bool, issues: Issues):
    """The detections whose features could be computed, with their features; keypoints on a
    fixed camera's static scene dropped (``background``), as they would vouch for whoever
    else passed there."""
    fs = extract_features(det, emb, local=model.matcher_.use_local, cache_dir=cache_dir, progress=progress,
                          desc="survey features")
    issues.extend(fs.issues)
    keep = np.nonzero(fs.ok)[0]
    det = det.iloc[keep].reset_index(drop=True)
    fs = fs.subset(keep)
    det["flank"] = det["flank_tag"] if "flank_tag" in det else None
    if background and model.matcher_.use_local and fs.local:
        from .foreground import background_masks, filter_keypoints
        for i, m in background_masks(det, progress=progress).items():
            fs.local[i] = filter_keypoints(fs.local[i], m, (det["bbox_x"].iat[i], det["bbox_y"].iat[i],
                                                             det["bbox_w"].iat[i], det["bbox_h"].iat[i]))
    return det, fs


def _decide_units(det: pd.DataFrame, fs, sims: _Similarities, model: IdentificationModel,
                  progress: bool) -> pd.DataFrame:
    """One row per unit (``events.assign_events``): the model's decision on the evidence of
    its photos, pooled (``match.pool``), with where and when it was seen."""
    from tqdm.auto import tqdm
    rows = []
    groups = det.groupby("unit_id", sort=True).indices
    for uid, idx in tqdm(groups.items(), desc="identifying", disable=not progress, unit="event"):
        evs = [model.matcher_.evidence(sims.V[i], fs.local[i] if fs.local else None, det["flank"].iat[i], sims.refs,
                                      sims=s_i, rank_sims=r_i)
               for i in idx for s_i, r_i in [sims(i)]]
        rows.append(dict(unit_id=uid, members=idx, **model.decide(pool(evs)),
                         station=det["station"].iat[idx[0]], t0=det["timestamp"].iloc[idx].min(),
                         t1=det["timestamp"].iloc[idx].max(), files=frozenset(det["file"].iloc[idx])))
    U = pd.DataFrame(rows, columns=UNIT_COLUMNS)
    if len(U):
        one_animal_per_name(U)
        calibrate_units(U, model.reported_)
    return U


def calibrate_units(U: pd.DataFrame, reported: ReportedProbability) -> None:
    """Each unit's posterior over {its candidates, new} made the calibrated one
    (``ReportedProbability.posterior``): the decided answer's probability is how often such
    decisions were right on the catalogue, and the candidates, P(new) and the reported
    probability are one distribution wherever they are shown. Changes ``U`` in place."""
    for u in range(len(U)):
        names = list(U.at[u, "names"])
        answer = NEW if U.at[u, "is_new"] else names.index(U.at[u, "individual_id"])
        pk, p_new = reported.posterior(U.at[u, "pk"], U.at[u, "p_new"], answer)
        order = np.argsort(-pk, kind="stable")       # best first, by the probability shown
        U.at[u, "names"], U.at[u, "pk"], U.at[u, "p_new"] = np.asarray(names, object)[order], pk[order], p_new
        U.at[u, "probability"] = p_new if answer == NEW else float(pk[answer])


def one_animal_per_name(U: pd.DataFrame) -> None:
    """Animals seen together in one photo (a female with her kittens) are different animals:
    within a group of units sharing a photo (``files``), a known name goes to the unit most
    probably it; the others take their next candidate that is still more probable than "new",
    else "new". Changes ``U`` in place."""
    seen: dict = {}
    for u, fs in enumerate(U["files"]):
        for f in fs:
            seen.setdefault(f, []).append(u)
    parent = list(range(len(U)))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a
    for us in seen.values():
        for b in us[1:]:
            parent[find(b)] = find(us[0])
    groups: dict = {}
    for u in range(len(U)):
        groups.setdefault(find(u), []).append(u)
    for members in groups.values():
        if len(members) < 2:
            continue
        taken = set()
        known = [u for u in members if not U.at[u, "is_new"]]
        for u in sorted(known, key=lambda i: -U.at[i, "probability"]):
            names, pk, p_new = U.at[u, "names"], U.at[u, "pk"], U.at[u, "p_new"]
            pick = next((j for j in range(len(names)) if names[j] not in taken and pk[j] > p_new), None)
            if pick is None:
                U.at[u, "is_new"], U.at[u, "individual_id"], U.at[u, "probability"] = True, None, float(p_new)
            else:
                U.at[u, "individual_id"], U.at[u, "probability"] = names[pick], float(pk[pick])
                taken.add(names[pick])


def _name_new_units(U: pd.DataFrame, det: pd.DataFrame, fs, V: np.ndarray, model: IdentificationModel,
                    prefix: str) -> tuple | None:
    """New units grouped into provisional individuals (``cluster``), named in time order.
    Returns ``(their unit ids, pair probabilities)`` (None without new units)."""
    new_idx = np.nonzero(U["is_new"].to_numpy())[0] if len(U) else np.array([], int)
    if not len(new_idx):
        return None
    sub = U.iloc[new_idx]
    P = unit_pair_probability(model.calibrator_, model.matcher_, V, fs.local, list(sub["members"]),
                              det["flank"].to_numpy(dtype=object))
    labels = agglomerate(P, cannot_link(sub))
    U.loc[U.index[new_idx], "individual_id"] = provisional_names(labels, sub["t0"], prefix)
    return sub["unit_id"].to_numpy(object), P


def _unit_columns(det: pd.DataFrame, U: pd.DataFrame, top_k: int, review_below: float) -> pd.DataFrame:
    """Each unit's decision on its detections: identify's detections table."""
    n = len(det)
    cols = {c: [None] * n for c in ("individual_id", "probability", "p_new", "is_new", "candidates")}
    for r in U.itertuples():
        cand = json.dumps([{"individual": str(a), "probability": round(float(b), 4)} for a, b in
                           zip(r.names[:top_k], r.pk[:top_k])])
        for i in r.members:
            cols["individual_id"][i] = r.individual_id
            cols["probability"][i] = round(float(r.probability), 4)
            cols["p_new"][i] = round(float(r.p_new), 4)
            cols["is_new"][i] = bool(r.is_new)
            cols["candidates"][i] = cand
    for c, v in cols.items():
        det[c] = v
    det["needs_review"] = det["probability"].astype(float) < review_below
    det["decision"] = np.where(det["is_new"].astype(bool), "new", "known")
    return det[[c for c in DETECTION_COLUMNS if c in det]]


def _summary(imgs: pd.DataFrame, det: pd.DataFrame, issue_table: pd.DataFrame, review_info: dict, md_counts,
             cat: Catalogue, t_start: float) -> dict:
    """summary.json. ``files_with_issues``: the files not used (every issues.csv row but a
    warning's or an info's names one); ``issues``: issues.csv's rows counted by ``severity``
    (a ``warning``'s file or table is used: check it)."""
    n = len(det)
    new = det["is_new"].astype(bool) if n else None
    sev = issue_table["severity"].astype(str)
    return {
        "images_read": int(len(imgs)),
        "files_with_issues": int(issue_table.loc[~sev.isin(["warning", "info"]), "file"].nunique()),
        "issues": {k: int((sev == k).sum()) for k in dict.fromkeys([*SEVERITIES, *sev.unique()])},
        "detections": int(n), "events": int(det["event_id"].nunique()) if n else 0,
        "individuals": int(det["individual_id"].nunique()) if n else 0,
        "known_individuals": int(det.loc[~new, "individual_id"].nunique()) if n else 0,
        "new_individuals": int(det.loc[new, "individual_id"].nunique()) if n else 0,
        "detections_known": int((~new).sum()) if n else 0,
        "detections_new": int(new.sum()) if n else 0,
        "needs_review": int(det["needs_review"].sum()) if n else 0,
        "review": review_info,   # counts of applied reviewer decisions
        "time_zone": imgs.attrs.get("time_zone"),
        "megadetector": md_counts,
        # the catalogue's size: what a posterior of "known" spreads over (latent_identity)
        "catalogue": str(cat.root), "catalogue_individuals": len(cat.individuals), "model": model_source(cat),
        "seconds": round(time.time() - t_start, 1),
    }


def identify(images, catalogue, megadetector=None, out=None, *, tz: str | None = None,
             threshold: float = DEFAULT_THRESHOLD, station_from: str = "auto", event_gap: float = DEFAULT_GAP_SECONDS,
             cache_dir=None, new_prefix: str = "NEW-", review_below: float = 0.9, top_k: int = 3,
             progress: bool = True, decisions=None, background: bool = True, box_filter=None) -> IdentifyResult:
    """Identify every detection in ``images`` against ``catalogue`` (a folder or Catalogue).

    Returns an :class:`IdentifyResult` whose ``detections`` table has one row per detection:
    ``file, station, camera, timestamp, bbox_*, det_conf, flank, event_id, individual_id,
    probability`` (that the decision, the named individual or new, is right: see
    ``openset``), ``p_new``, ``is_new``, ``candidates`` (JSON list of the top known
    candidates with their probabilities), ``needs_review``, ``decision``,
    ``machine_individual_id`` and ``reviewed_by``. Files that could not be used are listed in
    ``issues`` with the reason. With ``out``, the tables and a summary are written there.

    ``decisions``: a reviewer's decisions (CSV/Parquet path or table, see ``decisions``)
    that override the machine's calls; None (or False): none. ``background``: ignore
    keypoints on each fixed camera's static scene (see ``foreground``). ``box_filter``: a
    :class:`~lynxid.box_filter.BoxFilter` whose dropped boxes are not identified (each listed
    in the issues, counted in the summary's ``megadetector.boxes_filtered``).
    """
    t_start = time.time()
    cat = catalogue if isinstance(catalogue, Catalogue) else Catalogue.load(catalogue)
    model, source = load_model(cat), model_source(cat)
    emb = catalogue_embedder(cat)
    if emb.tag != cat.meta["embedder"]:
        raise ValueError(f"catalogue was built with {cat.meta['embedder']}, this lynxid embeds with {emb.tag}; "
                         "rebuild the catalogue")
    issues = Issues()
    if source == "default":
        issues.add(str(cat.root), "identify", "decided by lynxid's default identification model (fitted on simulated "
                   "lynx, not on this catalogue's animals: the catalogue cannot fit its own until at least two "
                   "individuals are photographed on two or more occasions); see the 'model' column", "info")
    elif model.reported_.maps is None:
        # nothing silently skipped: say that the probability column is the model's own P
        issues.add(str(cat.root), "identify",
                   f"the catalogue's leave-one-out had fewer than {MIN_DECISIONS} decisions of known or of unknown "
                   "animals, too few to map reported probabilities to how often decisions were right: the "
                   "'probability' column is the model's P (often overconfident); add sightings to the catalogue",
                   "warning")
    imgs, det = survey_detections(images, megadetector, threshold, station_from=station_from, tz=tz,
                                  progress=progress, issues=issues)
    if box_filter is not None:
        det = box_filter.apply(det, issues, progress=progress)
    md_counts = det.attrs.get("megadetector")     # how many images the file listed, for the summary
    det = det.reset_index(drop=True)
    cache_dir = Path(cache_dir) if cache_dir else (Path(out) / "cache" if out else None)
    det, fs = _survey_features(det, emb, model, cache_dir, progress, background, issues)
    det = assign_events(det, event_gap)
    sims = _Similarities(cat, model, cat.references(model), fs.vectors)
    U = _decide_units(det, fs, sims, model, progress)
    clustered = _name_new_units(U, det, fs, sims.V, model, new_prefix)
    post = posterior_table(U)
    pairs = unit_pair_table(U, model, sims.V, fs.local, det["flank"].to_numpy(dtype=object), clustered)
    det = _unit_columns(det.assign(model=source), U, top_k, review_below)
    det, review_info = apply_decisions(det, None if decisions is False else decisions, known=cat.individuals,
                                       new_prefix=new_prefix, issues=issues)
    issue_table = issues.table()
    res = IdentifyResult(det, issue_table, _summary(imgs, det, issue_table, review_info, md_counts, cat, t_start),
                         posterior=post, unit_pairs=pairs)
    if out is not None:
        res.write(out)
    return res
