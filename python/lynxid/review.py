"""Human review of the matches the machine is unsure about.

Three parts:

* **the report** (:func:`build_report`): one self-contained HTML file (crops embedded as
  base64 JPEG, no network) with a card per uncertain or new animal -- the query crop beside
  its best candidates, their probabilities and, where local features matched, the matched
  keypoints drawn between the two crops. The reviewer confirms, reassigns, marks new or
  rejects, and downloads ``decisions.csv``; a decisions file can be imported back;
* **the decisions file** (``decisions.csv`` in identify's output folder): one row per
  detection and decision, never rewritten by :func:`identify`, only appended to
  (:func:`save_decisions`); for each detection the latest decision counts. Keyed by
  ``detection_id`` (image file + box number), which is stable when identification is rerun,
  unlike event numbers;
* **applying them** (:func:`apply_decisions`, called by ``identify``): a reviewer's decision
  overrides the machine's, and :func:`add_reviewed_to_catalogue` grows the catalogue with
  the reviewed animals.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage

__all__ = ["ACTIONS", "DECISION_COLUMNS", "REVIEW_DECISIONS", "read_decisions", "latest_decisions",
           "save_decisions", "apply_decisions", "review_items", "build_report",
           "add_reviewed_to_catalogue", "decisions_path"]

ACTIONS = ("confirm", "reassign", "new", "reject")
DECISION_COLUMNS = ["detection_id", "event_id", "file", "action", "individual_id", "reviewer", "timestamp", "note"]
# values of identify's ``decision`` column set by a reviewer (the machine's are "known"/"new")
REVIEW_DECISIONS = ("confirmed", "reviewed", "rejected")
DECISIONS_FILE = "decisions.csv"


def decisions_path(results) -> Path:
    """The decisions file of an identify output folder."""
    return Path(results) / DECISIONS_FILE


# --------------------------------------------------------------------------------------
# the decisions file
# --------------------------------------------------------------------------------------
def read_decisions(src, name: str | None = None) -> pd.DataFrame:
    """Read and check a decisions table (CSV / Parquet path or DataFrame).

    Required columns: ``detection_id`` and ``action`` (one of :data:`ACTIONS`); a
    ``reassign`` needs ``individual_id``. Missing optional columns are added empty. Errors
    name the file and row."""
    if isinstance(src, pd.DataFrame):
        d, name = src.copy(), name or "decisions table"
    else:
        name = name or str(src)
        d = storage.read_table(src, dtype=str, keep_default_na=False) if str(src).lower().endswith(".csv") \
            else storage.read_table(src)
    d.columns = [str(c).strip() for c in d.columns]
    missing = [c for c in ("detection_id", "action") if c not in d]
    if missing:
        raise ValueError(f"{name}: column(s) {', '.join(missing)} missing; a decisions file has the columns "
                         f"{', '.join(DECISION_COLUMNS)} (as downloaded from the review report)")
    for c in DECISION_COLUMNS:
        if c not in d:
            d[c] = ""
    d = d[DECISION_COLUMNS + [c for c in d.columns if c not in DECISION_COLUMNS]]
    for c in DECISION_COLUMNS:
        d[c] = d[c].astype(object).where(d[c].notna(), "").astype(str).str.strip()
    d["action"] = d["action"].str.lower()
    for i, r in enumerate(d.itertuples(index=False)):
        where = f"{name}, row {i + 1} (detection {r.detection_id!r})"
        if not r.detection_id:
            raise ValueError(f"{name}, row {i + 1}: detection_id is empty")
        if r.action not in ACTIONS:
            raise ValueError(f"{where}: action {r.action!r} is not one of {', '.join(ACTIONS)}")
        if r.action == "reassign" and not r.individual_id:
            raise ValueError(f"{where}: 'reassign' needs the individual_id to assign")
    return d.reset_index(drop=True)


def latest_decisions(d: pd.DataFrame) -> pd.DataFrame:
    """One row per detection: its latest decision (by ``timestamp``; rows without a time
    count as older, and among equal times the later row wins)."""
    if not len(d):
        return d.copy()
    t = pd.to_datetime(d["timestamp"], utc=True, errors="coerce", format="ISO8601")
    order = pd.DataFrame({"t": t.fillna(pd.Timestamp("1970-01-01", tz="UTC")), "i": np.arange(len(d))})
    idx = order.sort_values(["t", "i"], kind="mergesort").index
    return d.loc[idx].drop_duplicates("detection_id", keep="last").sort_index().reset_index(drop=True)


def save_decisions(new, target) -> Path:
    """Add decisions to the file ``target`` (or ``target/decisions.csv`` for a folder),
    keeping every earlier row: the file is the review's history, and the latest decision
    per detection is the one that counts. Identical rows are stored once."""
    target = Path(target)
    if target.is_dir() or not target.suffix:
        target = target / DECISIONS_FILE
    new = read_decisions(new) if not isinstance(new, pd.DataFrame) else read_decisions(new, "new decisions")
    old = read_decisions(target) if target.exists() else pd.DataFrame(columns=DECISION_COLUMNS)
    both = pd.concat([old, new], ignore_index=True)[DECISION_COLUMNS]
    both = both.drop_duplicates(ignore_index=True)
    return storage.write_table(both, target)


def apply_decisions(det: pd.DataFrame, decisions=None, *, known=(), new_prefix: str = "NEW-",
                    issues=None) -> tuple[pd.DataFrame, dict]:
    """Override the machine's identifications with a reviewer's decisions.

    Adds ``machine_individual_id`` (the machine's call) and ``reviewed_by`` to ``det``
    (always, so the table's columns do not depend on whether there are decisions). Per
    detection, its latest decision:

    * ``confirm``: the identity stays (the decision's ``individual_id`` if given, which wins
      should a rerun change the machine's mind); ``decision = "confirmed"``;
    * ``reassign``: the given ID with ``probability = 1``; ``decision = "reviewed"``;
    * ``new``: a new individual: the given ID, else the machine's provisional ID if the
      machine also called it new, else ``{new_prefix}R001, ...`` (one per event);
      ``decision = "reviewed"``;
    * ``reject``: no individual (not the species, unusable); ``decision = "rejected"``. The
      row stays in the table and is listed in ``issues``; capture histories leave it out.

    ``needs_review`` becomes False for reviewed detections. Decisions about detections that
    are not in ``det`` are reported in ``issues`` (a lynxid.ingest.Issues), never dropped
    from the decisions file."""
    det = det.copy()
    det["machine_individual_id"] = det["individual_id"]
    det["reviewed_by"] = pd.Series([None] * len(det), index=det.index, dtype=object)
    info = {"decisions": 0, "applied": 0, "confirmed": 0, "reassigned": 0, "new": 0, "rejected": 0,
            "unmatched": 0}
    if decisions is None or (isinstance(decisions, pd.DataFrame) and decisions.empty):
        return det, info
    d = latest_decisions(read_decisions(decisions))
    info["decisions"] = int(len(d))
    if not isinstance(decisions, pd.DataFrame):
        info["source"] = str(decisions)
    pos = pd.Series(np.arange(len(det)), index=det["detection_id"].astype(str))
    pos = pos[~pos.index.duplicated()]
    hit = d["detection_id"].isin(pos.index)
    for r in d[~hit].itertuples(index=False):
        info["unmatched"] += 1
        if issues is not None:
            issues.add(r.file or r.detection_id, "review",
                       f"reviewer decision '{r.action}' for detection {r.detection_id} matches no detection of "
                       "this run (file moved, renamed or no longer detected?); it is kept in the decisions file",
                       "warning")
    d = d[hit]
    known = set(map(str, known))
    ind = det["individual_id"].astype(object).to_numpy().copy()
    prob = det["probability"].astype(float).to_numpy().copy()
    pnew = det["p_new"].astype(float).to_numpy().copy()
    is_new = det["is_new"].astype(bool).to_numpy().copy()
    review = det["needs_review"].astype(bool).to_numpy().copy()
    decision = det["decision"].astype(object).to_numpy().copy()
    who = det["reviewed_by"].to_numpy().copy()
    provisional: dict = {}
    for r in d.itertuples(index=False):
        i = int(pos[r.detection_id])
        given = r.individual_id or None
        if r.action == "confirm":
            if given and given != ind[i]:
                ind[i], prob[i] = given, 1.0
            decision[i] = "confirmed"
            is_new[i] = str(ind[i]) not in known
            info["confirmed"] += 1
        elif r.action == "reassign":
            ind[i], prob[i], decision[i] = given, 1.0, "reviewed"
            is_new[i] = given not in known
            pnew[i] = 1.0 if is_new[i] else 0.0
            info["reassigned"] += 1
        elif r.action == "new":
            if not given:
                if is_new[i] and ind[i]:
                    given = ind[i]
                else:
                    key = r.event_id or r.detection_id
                    given = provisional.setdefault(key, f"{new_prefix}R{len(provisional) + 1:03d}")
            ind[i], prob[i], pnew[i], is_new[i], decision[i] = given, 1.0, 1.0, True, "reviewed"
            info["new"] += 1
        else:  # reject
            ind[i], is_new[i], decision[i] = None, False, "rejected"
            info["rejected"] += 1
            if issues is not None:
                issues.add(det["file"].iat[i] if "file" in det else r.detection_id, "review",
                           f"rejected by reviewer {r.reviewer or '(unnamed)'}" + (f": {r.note}" if r.note else "")
                           + "; kept in the detections table without an individual, left out of capture histories",
                           "excluded")
        review[i] = False
        who[i] = r.reviewer or "reviewer"
        info["applied"] += 1
    det["individual_id"] = ind
    det["probability"] = prob
    det["p_new"] = pnew
    det["is_new"] = is_new
    det["needs_review"] = review
    det["decision"] = decision
    det["reviewed_by"] = who
    return det, info


# --------------------------------------------------------------------------------------
# what to review
# --------------------------------------------------------------------------------------
def _read_results(results) -> tuple[pd.DataFrame, Path | None]:
    if isinstance(results, pd.DataFrame):
        return results.copy(), None
    root = Path(results)
    p = root / "detections.parquet" if root.is_dir() else root
    if not p.exists():
        raise FileNotFoundError(f"no identification results at {root} (detections.parquet missing); "
                                "run identify with out= (command line: --out) first")
    det = storage.read_table(p)
    if "path" not in det:
        raise ValueError(f"{p} has no 'path' column (image locations); use identify's detections.parquet, "
                         "not detections.csv")
    return det, (root if root.is_dir() else root.parent)


def review_items(det: pd.DataFrame, which: str = "uncertain") -> pd.DataFrame:
    """One row per animal to review: detections grouped by event and assigned identity.

    ``which``: ``"uncertain"`` (flagged ``needs_review`` or new, not yet reviewed),
    ``"new"`` (new only), ``"all"``. Columns: ``key``, ``event_id``, ``individual_id``,
    ``detection_ids`` (list), ``rows`` (positions in ``det``), ``rep`` (the best-framed
    detection), ``station``, ``time``, ``probability``, ``p_new``, ``is_new``."""
    if which not in ("uncertain", "new", "all"):
        raise ValueError("which must be 'uncertain', 'new' or 'all'")
    det = det.reset_index(drop=True)
    reviewed = det["decision"].isin(REVIEW_DECISIONS) if "decision" in det else pd.Series(False, index=det.index)
    if which == "uncertain":
        sel = (det["needs_review"].astype(bool) | det["is_new"].astype(bool)) & ~reviewed
    elif which == "new":
        sel = det["is_new"].astype(bool) & ~reviewed
    else:
        sel = pd.Series(True, index=det.index)
    sub = det[sel]
    rows = []
    ident = sub["individual_id"].astype(object).where(sub["individual_id"].notna(), "")
    for (ev, iid), g in sub.groupby([sub["event_id"].astype(str), ident], sort=False):
        area = (g["bbox_w"].astype(float) * g["bbox_h"].astype(float)) * g.get("det_conf", pd.Series(1.0, index=g.index)).fillna(1.0)
        rep = int(area.idxmax())
        t = pd.to_datetime(g["timestamp"], errors="coerce") if "timestamp" in g else pd.Series(pd.NaT, index=g.index)
        rows.append(dict(key=f"{ev}|{iid}", event_id=ev, individual_id=iid or None,
                         detection_ids=g["detection_id"].astype(str).tolist(), rows=g.index.tolist(), rep=rep,
                         station=None if pd.isna(g["station"].iat[0]) else str(g["station"].iat[0]),
                         time=t.min(), probability=float(g["probability"].astype(float).max()),
                         p_new=float(g["p_new"].astype(float).max()), is_new=bool(g["is_new"].astype(bool).any())))
    items = pd.DataFrame(rows, columns=["key", "event_id", "individual_id", "detection_ids", "rows", "rep", "station",
                                        "time", "probability", "p_new", "is_new"])
    # least certain first: that is where a reviewer's minute is worth most
    if len(items):
        certainty = np.where(items["is_new"], items["p_new"], items["probability"])
        items = items.assign(_c=certainty).sort_values(["_c", "key"]).drop(columns="_c").reset_index(drop=True)
    return items


# --------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------
def _crop_image(path, bbox, size=None):
    """The detection's crop as features.py makes it (5 % padding); resized to ``size``."""
    from PIL import Image

    from .decode import crop_box_pixels, open_image
    im = open_image(str(path), bbox, None, fast=False)
    crop = im.crop(crop_box_pixels(im.size, bbox, 0.05))
    if size is not None:
        crop = crop.resize(tuple(int(v) for v in size), Image.BILINEAR)
    return crop


def _query_local(path, bbox, cache):
    """Local features of a survey detection: from identify's cache, else computed as there."""
    from . import cache as cache_mod
    from .decode import crop_box_pixels, open_image
    from .features import LOCAL_SIZE, local_features, local_key
    from .keypoints import LocalFeatures
    data = Path(path).read_bytes()
    key = local_key(cache_mod.file_digest(data), bbox)
    if cache is not None and key in cache:
        return LocalFeatures.from_arrays(cache.get_many([key])[key])
    im = open_image(data, bbox, int(LOCAL_SIZE * 1.1))
    crop = im.crop(crop_box_pixels(im.size, bbox, 0.05))
    s = min(1.0, LOCAL_SIZE / max(crop.size))
    if s < 1:
        crop = crop.resize((max(1, round(crop.size[0] * s)), max(1, round(crop.size[1] * s))))
    return LocalFeatures.from_arrays(local_features(np.asarray(crop)).to_arrays())


def _jpeg_uri(im, quality: int = 78) -> str:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _placeholder(text: str, w: int = 200, h: int = 150):
    from PIL import Image, ImageDraw
    im = Image.new("RGB", (w, h), (225, 225, 225))
    d = ImageDraw.Draw(im)
    d.multiline_text((8, h // 2 - 10), text, fill=(90, 90, 90))
    return im


def _fit_height(im, h: int):
    from PIL import Image
    s = h / im.size[1]
    return im.resize((max(1, round(im.size[0] * s)), h), Image.BILINEAR), s


_LINE_COLOURS = [(255, 214, 0), (0, 229, 255), (255, 64, 129), (118, 255, 3), (255, 145, 0), (213, 0, 249)]


def _match_figure(q_img, r_img, q_xy=None, r_xy=None, height: int = 200, gap: int = 8, max_lines: int = 40):
    """Query and reference side by side, matched keypoints joined by lines."""
    from PIL import Image, ImageDraw
    q, sq = _fit_height(q_img, height)
    r, sr = _fit_height(r_img, height)
    canvas = Image.new("RGB", (q.size[0] + gap + r.size[0], height), (255, 255, 255))
    canvas.paste(q, (0, 0))
    canvas.paste(r, (q.size[0] + gap, 0))
    if q_xy is not None and len(q_xy):
        d = ImageDraw.Draw(canvas)
        sel = np.linspace(0, len(q_xy) - 1, min(max_lines, len(q_xy))).round().astype(int)
        for k, j in enumerate(sel):
            x0, y0 = q_xy[j] * sq
            x1, y1 = r_xy[j] * sr
            x1 += q.size[0] + gap
            c = _LINE_COLOURS[k % len(_LINE_COLOURS)]
            d.line([(x0, y0), (x1, y1)], fill=c, width=1)
            for x, y in ((x0, y0), (x1, y1)):
                d.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], outline=c, width=2)
    return canvas


# --------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------
def build_report(results, catalogue, out=None, *, which: str = "uncertain", max_candidates: int = 3,
                 refs_per_candidate: int = 4, photos_matched: int = 3, decisions=None, max_items: int | None = None,
                 title: str | None = None, image_height: int = 200, progress: bool = True) -> Path:
    """Write the review report (a single self-contained HTML file) and return its path.

    ``results``: identify's output folder (it reads ``detections.parquet``, the feature
    cache and ``decisions.csv``). ``catalogue``: the catalogue folder (or Catalogue).
    ``out``: the HTML file (default ``RESULTS/review.html``). ``which``: ``"uncertain"``
    (flagged or new, default), ``"new"`` or ``"all"``. Earlier decisions (``decisions``,
    default ``RESULTS/decisions.csv``) are shown and kept in the page's export. For each
    candidate the pair of crops with the most matching keypoints is shown, searched among the
    event's ``photos_matched`` best-framed photos and ``refs_per_candidate`` references."""
    from tqdm.auto import tqdm

    from .cache import ArrayCache
    from .catalogue import Catalogue
    from .identify import references
    from .keypoints import match as match_local
    from .match import flank_compatible

    det, root = _read_results(results)
    det = det.reset_index(drop=True)
    cat = catalogue if isinstance(catalogue, Catalogue) else Catalogue.load(catalogue)
    refs = references(cat)
    if out is None:
        if root is None:
            raise ValueError("give out= (the HTML file) when results is a table")
        out = root / "review.html"
    out = Path(out)
    if decisions is None and root is not None and decisions_path(root).exists():
        decisions = decisions_path(root)
    prev = read_decisions(decisions) if decisions is not None and decisions is not False \
        else pd.DataFrame(columns=DECISION_COLUMNS)
    qcache = ArrayCache(root / "cache", "local") if root is not None and (root / "cache").exists() else None
    items = review_items(det, which)
    n_total = len(items)
    if max_items is not None:
        items = items.head(max_items)
    cat_table = cat.table.reset_index(drop=True)
    by_ind = {k: np.asarray(v) for k, v in cat_table.groupby(cat_table["individual"].astype(str)).indices.items()}
    ref_crops: dict = {}

    def ref_image(j):
        if j not in ref_crops:
            row = cat_table.iloc[j]
            lf = refs.local[j] if refs.local else None
            try:
                ref_crops[j] = _crop_image(row["path"], _bbox(row), lf.size if lf is not None else None)
            except Exception as exc:  # noqa: BLE001 - a moved catalogue photo must not stop the report
                ref_crops[j] = _placeholder(f"reference photo\nnot readable:\n{type(exc).__name__}")
        return ref_crops[j]

    cards = []
    for it in tqdm(list(items.itertuples(index=False)), desc="review report", disable=not progress, unit="card"):
        rows = det.iloc[it.rows]
        queries = []   # (row position, crop image, LocalFeatures or None)
        for i in [it.rep] + [r for r in it.rows if r != it.rep][:5]:
            row = det.iloc[i]
            try:
                lf = _query_local(row["path"], _bbox(row), qcache)
                img = _crop_image(row["path"], _bbox(row), lf.size)
            except Exception as exc:  # noqa: BLE001
                lf, img = None, _placeholder(f"photo not readable:\n{type(exc).__name__}")
            queries.append((i, img, lf))
        rep_row = det.iloc[it.rep]
        cands = json.loads(rep_row["candidates"]) if isinstance(rep_row.get("candidates"), str) and rep_row["candidates"] else []
        panels = []
        for c in cands[:max_candidates]:
            name = str(c["individual"])
            idx = by_ind.get(name, np.array([], int))
            best = None   # (inliers, query k, ref j, pairs)
            # keypoint matching is the slow part (~30 ms a pair): the best-framed photos only
            for k, (qi, _, qlf) in enumerate(queries[:photos_matched]):
                qflank = det["flank"].iat[qi] if "flank" in det else None
                ok = flank_compatible(refs.flanks[idx], np.full(len(idx), qflank, dtype=object))
                for j in idx[np.asarray(ok, bool)][:refs_per_candidate]:
                    rl = refs.local[j] if refs.local else None
                    m = match_local(qlf, rl) if (qlf is not None and rl is not None) else None
                    score = m.inliers if m is not None else 0
                    if best is None or score > best[0]:
                        best = (score, k, int(j), m.pairs if m is not None else None)
            if best is None:
                panels.append(dict(individual=name, probability=float(c["probability"]), inliers=0,
                                   image=_jpeg_uri(_placeholder(f"{name}: no reference photo\nin the catalogue")),
                                   reference=None))
                continue
            score, k, j, pairs = best
            qi, qimg, qlf = queries[k]
            rl = refs.local[j] if refs.local else None
            fig = _match_figure(qimg, ref_image(j),
                                qlf.xy[pairs[:, 0]] if score and pairs is not None else None,
                                rl.xy[pairs[:, 1]] if score and pairs is not None else None, height=image_height)
            panels.append(dict(individual=name, probability=round(float(c["probability"]), 4), inliers=int(score),
                               image=_jpeg_uri(fig), reference=str(cat_table["file"].iat[j]),
                               query=str(det["detection_id"].iat[qi])))
        t = it.time
        cards.append(dict(
            key=it.key, event_id=it.event_id, machine_id=it.individual_id, is_new=bool(it.is_new),
            probability=round(float(it.probability), 4), p_new=round(float(it.p_new), 4),
            station=it.station, time=None if pd.isna(t) else str(t),
            detection_ids=list(it.detection_ids), files=rows["file"].astype(str).tolist() if "file" in rows else [],
            n=len(it.rows), photos=[dict(detection_id=str(det["detection_id"].iat[qi]), image=_jpeg_uri(img))
                                    for qi, img, _ in queries],
            candidates=panels))
    known = sorted(map(str, cat.individuals))
    machine_new = sorted({str(v) for v in det.loc[det["is_new"].astype(bool), "individual_id"].dropna()})
    data = dict(
        title=title or "lynxid review", created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        results=str(root) if root is not None else None, catalogue=str(cat.root),
        report_id=hashlib.sha1(f"{root}|{cat.root}|{len(det)}".encode()).hexdigest()[:12],
        which=which, n_items=len(cards), n_items_total=int(n_total), n_detections=int(len(det)),
        known=known, machine_new=machine_new, columns=DECISION_COLUMNS,
        previous=prev[DECISION_COLUMNS].to_dict("records"), cards=cards)
    page = _render(data)
    storage.write_text(out, page)
    return out


def _bbox(row):
    return (float(row["bbox_x"]), float(row["bbox_y"]), float(row["bbox_w"]), float(row["bbox_h"]))


def _render(data: dict) -> str:
    tpl = (Path(__file__).parent / "templates" / "review.html").read_text(encoding="utf-8")
    # JSON inside <script>: "</" must not close the element
    blob = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return tpl.replace("__LYNXID_TITLE__", html.escape(data["title"])).replace("/*__LYNXID_DATA__*/null", blob)


# --------------------------------------------------------------------------------------
# growing the catalogue
# --------------------------------------------------------------------------------------
def add_reviewed_to_catalogue(catalogue, results, *, include_new: bool = True, progress: bool = True):
    """Add the detections a reviewer confirmed, reassigned or named as new to the catalogue
    (as references of their individual) and refit its identification model.

    ``results``: identify's output folder (``detections.parquet``, decisions applied) or
    that table. Machine calls nobody reviewed are never added. Returns ``(catalogue,
    added)`` where ``added`` lists the detections added (already present ones are skipped)."""
    from .catalogue import Catalogue
    from .features import extract_features
    from .identify import _embedder_for, catalogue_whiten, fit_model, references

    det, _ = _read_results(results)
    cat = catalogue if isinstance(catalogue, Catalogue) else Catalogue.load(catalogue)
    if "reviewed_by" not in det:
        raise ValueError("these results carry no review (no 'reviewed_by' column): rerun identify with the "
                         "decisions file, then add the reviewed detections")
    sel = det["decision"].isin(["confirmed", "reviewed"]) & det["individual_id"].notna() & det["reviewed_by"].notna()
    if not include_new:
        sel &= ~det["is_new"].astype(bool)
    sub = det[sel].reset_index(drop=True)
    refs = pd.DataFrame({
        "detection_id": "reviewed:" + sub["path"].astype(str) + "#" + sub["detection_id"].astype(str).str.rsplit("#", n=1).str[-1],
        "file": sub["file"].astype(str), "path": sub["path"].astype(str),
        "individual": sub["individual_id"].astype(str),
        "flank": sub["flank"] if "flank" in sub else None,
        "sighting": "reviewed:" + sub["station"].astype(str) + "@" + sub.groupby("event_id")["timestamp"].transform("min").astype(str),
        "bbox_x": sub["bbox_x"], "bbox_y": sub["bbox_y"], "bbox_w": sub["bbox_w"], "bbox_h": sub["bbox_h"],
        "source": str(results) if not isinstance(results, pd.DataFrame) else "reviewed detections"})
    refs = refs[~refs["detection_id"].isin(set(cat.table["detection_id"].astype(str)))].reset_index(drop=True)
    if not len(refs):
        return cat, refs
    emb = _embedder_for(cat.meta["backbone"], cat.meta.get("weights"))
    local = cat.meta.get("local", True)
    fs = extract_features(refs, emb, local=local, cache_dir=cat.root / "cache", progress=progress,
                          desc="reviewed detections")
    refs = refs.assign(local_key=fs.local_keys if local else None)
    keep = np.nonzero(fs.ok)[0]
    added = refs.iloc[keep].reset_index(drop=True)
    target = (cat.meta.get("model") or {}).get("target", "gmean")   # read before add() clears the model
    cat.add(added, fs.vectors[keep])
    try:
        cat.meta["model"] = fit_model(references(cat), use_local=local, target=target, progress=progress,
                                      whiten=catalogue_whiten(cat)).to_dict()
    except ValueError as exc:
        cat.meta["model"] = None
        cat.meta.setdefault("issues", []).append({"file": str(results), "stage": "catalogue", "severity": "warning",
                                                  "reason": f"identification model not fitted: {exc}"})
    cat.meta.setdefault("issues", []).extend(
        {"file": str(f), "stage": "catalogue", "severity": "excluded", "reason": str(r)}
        for f, r in zip(fs.issues.get("file", []), fs.issues.get("reason", [])))
    cat.save()
    return cat, added
