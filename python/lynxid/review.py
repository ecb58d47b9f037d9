"""Human review of the matches the machine is unsure about: the report.

:func:`build_report` writes one self-contained HTML file (crops embedded as base64 JPEG, no
network) with a card per uncertain or new animal (:func:`review_items`) -- the query crop
beside its best candidates, their probabilities and, where local features matched, the
matched keypoints drawn between the two crops. The reviewer confirms, reassigns, marks new or
rejects, and downloads ``decisions.csv``; a decisions file can be imported back. Reading,
saving and applying decisions is ``decisions``; adding the reviewed animals to the catalogue
is ``enrol.add_reviewed_to_catalogue``.
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
from .catalogue import Catalogue
from .decisions import DECISION_COLUMNS, REVIEW_DECISIONS, decisions_path, read_decisions
from .results import read_detections
from .review_priority import PRIORITY_FILE

__all__ = ["review_items", "build_report"]

# --------------------------------------------------------------------------------------
# what to review
# --------------------------------------------------------------------------------------
def review_items(det: pd.DataFrame, which: str = "uncertain", priority: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per animal to review: detections grouped by event and assigned identity.

    ``which``: ``"uncertain"`` (flagged ``needs_review`` or new, not yet reviewed),
    ``"new"`` (new only), ``"all"``. Columns: ``key``, ``event_id``, ``individual_id``,
    ``detection_ids`` (list), ``rows`` (positions in ``det``), ``rep`` (the best-framed
    detection), ``station``, ``time``, ``probability``, ``p_new``, ``is_new``, and with
    ``priority`` (``review_priority.rank_for_review``'s table: what a density fit with
    imputations ranked) ``priority`` and ``share_reduction``: items in that order, those it
    did not rank after them, least certain first; without it, least certain first."""
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
    # least certain first, unless a density fit ranked the units by how much their review is
    # expected to cut the identification part of its variance: then that order
    rank = pd.Series(dtype=float)
    share = pd.Series(dtype=float)
    if priority is not None and len(priority):
        by_event = priority.groupby(priority["event_id"].astype(str))
        rank, share = by_event["priority"].min(), by_event["share_reduction"].max()
    items["priority"] = items["event_id"].map(rank).astype(float) if len(items) else []
    items["share_reduction"] = items["event_id"].map(share).astype(float) if len(items) else []
    if len(items):
        certainty = np.where(items["is_new"], items["p_new"], items["probability"])
        items = items.assign(_c=certainty).sort_values(["priority", "_c", "key"], na_position="last") \
            .drop(columns="_c").reset_index(drop=True)
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
                 title: str | None = None, image_height: int = 200, progress: bool = True, priority=None) -> Path:
    """Write the review report (a single self-contained HTML file) and return its path.

    ``results``: identify's output folder (it reads ``detections.parquet``, the feature
    cache and ``decisions.csv``). ``catalogue``: the catalogue folder (or Catalogue).
    ``out``: the HTML file (default ``RESULTS/review.html``). ``which``: ``"uncertain"``
    (flagged or new, default), ``"new"`` or ``"all"``. Earlier decisions (``decisions``,
    default ``RESULTS/decisions.csv``) are shown and kept in the page's export. For each
    candidate the pair of crops with the most matching keypoints is shown, searched among the
    event's ``photos_matched`` best-framed photos and ``refs_per_candidate`` references.
    ``priority``: the review order of a density fit with imputations (table or CSV; default
    ``RESULTS/review_priority.csv`` when there is one; False: least certain first)."""
    from tqdm.auto import tqdm

    from .cache import ArrayCache

    det, root = read_detections(results)
    det = det.reset_index(drop=True)
    cat = catalogue if isinstance(catalogue, Catalogue) else Catalogue.load(catalogue)
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
    if priority is None and root is not None and (root / PRIORITY_FILE).exists():
        priority = root / PRIORITY_FILE
    if priority is not None and priority is not False and not isinstance(priority, pd.DataFrame):
        priority = storage.read_table(priority)
    items = review_items(det, which, priority if priority is not False else None)
    n_total = len(items)
    if max_items is not None:
        items = items.head(max_items)
    gallery = _Gallery(cat, image_height)
    cards = []
    for it in tqdm(list(items.itertuples(index=False)), desc="review report", disable=not progress, unit="card"):
        queries = _query_photos(det, it, qcache)
        rep_row = det.iloc[it.rep]
        cands = json.loads(rep_row["candidates"]) if isinstance(rep_row.get("candidates"), str) and rep_row["candidates"] else []
        panels = [gallery.panel(str(c["individual"]), float(c["probability"]), det, queries[:photos_matched],
                                refs_per_candidate) for c in cands[:max_candidates]]
        cards.append(_card(it, det, queries, panels))
    known = sorted(map(str, cat.individuals))
    machine_new = sorted({str(v) for v in det.loc[det["is_new"].astype(bool), "individual_id"].dropna()})
    data = dict(
        title=title or "lynxid review", created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        results=str(root) if root is not None else None, catalogue=str(cat.root),
        report_id=hashlib.sha1(f"{root}|{cat.root}|{len(det)}".encode()).hexdigest()[:12],
        which=which, ranked=bool(len(items) and items["priority"].notna().any()), n_items=len(cards), n_items_total=int(n_total), n_detections=int(len(det)),
        known=known, machine_new=machine_new, columns=DECISION_COLUMNS,
        previous=prev[DECISION_COLUMNS].to_dict("records"), cards=cards)
    page = _render(data)
    storage.write_text(out, page)
    return out


def _query_photos(det: pd.DataFrame, it, qcache) -> list:
    """``(row position, crop image, LocalFeatures or None)`` of an item's best-framed photo and
    up to five more."""
    queries = []
    for i in [it.rep] + [r for r in it.rows if r != it.rep][:5]:
        row = det.iloc[i]
        try:
            lf = _query_local(row["path"], _bbox(row), qcache)
            img = _crop_image(row["path"], _bbox(row), lf.size)
        except Exception as exc:  # noqa: BLE001
            lf, img = None, _placeholder(f"photo not readable:\n{type(exc).__name__}")
        queries.append((i, img, lf))
    return queries


def _card(it, det: pd.DataFrame, queries: list, panels: list) -> dict:
    rows = det.iloc[it.rows]
    t = it.time
    return dict(
        key=it.key, event_id=it.event_id, machine_id=it.individual_id, is_new=bool(it.is_new),
        probability=round(float(it.probability), 4), p_new=round(float(it.p_new), 4),
        priority=None if pd.isna(it.priority) else int(it.priority),
        share_reduction=None if pd.isna(it.share_reduction) else round(float(it.share_reduction), 4),
        station=it.station, time=None if pd.isna(t) else str(t),
        detection_ids=list(it.detection_ids), files=rows["file"].astype(str).tolist() if "file" in rows else [],
        n=len(it.rows), photos=[dict(detection_id=str(det["detection_id"].iat[qi]), image=_jpeg_uri(img))
                                for qi, img, _ in queries],
        candidates=panels)


class _Gallery:
    """The catalogue's side of the report: each candidate's reference photos, cropped once."""

    def __init__(self, cat: Catalogue, image_height: int):
        self.refs = cat.references()
        self.table = cat.table.reset_index(drop=True)
        self.by_ind = {k: np.asarray(v) for k, v in self.table.groupby(self.table["individual"].astype(str)).indices.items()}
        self.height = image_height
        self.crops: dict = {}

    def local(self, j):
        return self.refs.local[j] if self.refs.local else None

    def image(self, j):
        if j not in self.crops:
            row = self.table.iloc[j]
            lf = self.local(j)
            try:
                self.crops[j] = _crop_image(row["path"], _bbox(row), lf.size if lf is not None else None)
            except Exception as exc:  # noqa: BLE001 - a moved catalogue photo must not stop the report
                self.crops[j] = _placeholder(f"reference photo\nnot readable:\n{type(exc).__name__}")
        return self.crops[j]

    def panel(self, name: str, probability: float, det: pd.DataFrame, queries: list, refs_per_candidate: int) -> dict:
        """A candidate's panel: the pair of crops (one of ``queries``, one of its first
        ``refs_per_candidate`` comparable references) with the most matching keypoints, the
        matches drawn. Keypoint matching is the slow part (~30 ms a pair): the best-framed
        photos only."""
        from .keypoints import match as match_local
        from .match import flank_compatible
        idx = self.by_ind.get(name, np.array([], int))
        best = None   # (inliers, query k, ref j, pairs)
        for k, (qi, _, qlf) in enumerate(queries):
            qflank = det["flank"].iat[qi] if "flank" in det else None
            ok = flank_compatible(self.refs.flanks[idx], np.full(len(idx), qflank, dtype=object))
            for j in idx[np.asarray(ok, bool)][:refs_per_candidate]:
                rl = self.local(j)
                m = match_local(qlf, rl) if (qlf is not None and rl is not None) else None
                score = m.inliers if m is not None else 0
                if best is None or score > best[0]:
                    best = (score, k, int(j), m.pairs if m is not None else None)
        if best is None:
            return dict(individual=name, probability=probability, inliers=0,
                        image=_jpeg_uri(_placeholder(f"{name}: no reference photo\nin the catalogue")), reference=None)
        score, k, j, pairs = best
        qi, qimg, qlf = queries[k]
        rl = self.local(j)
        fig = _match_figure(qimg, self.image(j), qlf.xy[pairs[:, 0]] if score and pairs is not None else None,
                            rl.xy[pairs[:, 1]] if score and pairs is not None else None, height=self.height)
        return dict(individual=name, probability=round(probability, 4), inliers=int(score), image=_jpeg_uri(fig),
                    reference=str(self.table["file"].iat[j]), query=str(det["detection_id"].iat[qi]))


def _bbox(row):
    return (float(row["bbox_x"]), float(row["bbox_y"]), float(row["bbox_w"]), float(row["bbox_h"]))


def _render(data: dict) -> str:
    tpl = (Path(__file__).parent / "templates" / "review.html").read_text(encoding="utf-8")
    # JSON inside <script>: "</" must not close the element
    blob = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return tpl.replace("__LYNXID_TITLE__", html.escape(data["title"])).replace("/*__LYNXID_DATA__*/null", blob)
