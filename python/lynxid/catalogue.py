"""The catalogue: reference detections of known individuals, their features and a search index.

On disk a catalogue is a folder::

    catalogue.json       format version, embedder tag, counts, ``config`` (how the catalogue
                         identifies: ``config.IdentificationConfig``), ``model`` (the fitted
                         ``openset.IdentificationModel``), ``issues``
    references.parquet   one row per reference detection (file, individual, flank, box, vector)
    index.faiss          nearest-neighbour index over the vectors (rebuilt if out of step)
    cache/               content-keyed embeddings and local features (resumable)

Every file is written atomically, ``catalogue.json`` last; a catalogue whose files disagree
(a crash between two writes) is repaired on load from ``references.parquet``.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import storage
from .search import VectorIndex

if TYPE_CHECKING:
    from .match import References

__all__ = ["Catalogue", "FORMAT_VERSION"]

FORMAT_VERSION = 1
REF_COLUMNS = ["detection_id", "file", "path", "individual", "flank", "sighting",
               "bbox_x", "bbox_y", "bbox_w", "bbox_h", "source", "local_key"]


class Catalogue:
    """Known individuals: reference detections with embeddings, and the fitted matcher."""

    def __init__(self, root, table: pd.DataFrame, vectors: np.ndarray, meta: dict):
        self.root = Path(root)
        self.table = table.reset_index(drop=True)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.meta = meta
        self._index: VectorIndex | None = None

    # -- construction -------------------------------------------------------------------
    @classmethod
    def empty(cls, root, embedder_tag: str, dim: int) -> "Catalogue":
        meta = {"format_version": FORMAT_VERSION, "embedder": embedder_tag, "dim": dim,
                "created": _now(), "model": None}
        return cls(root, pd.DataFrame(columns=REF_COLUMNS), np.zeros((0, dim), np.float32), meta)

    @classmethod
    def load(cls, root) -> "Catalogue":
        root = Path(root)
        meta_p = root / "catalogue.json"
        if not meta_p.exists():
            raise FileNotFoundError(f"no catalogue at {root} (catalogue.json missing); build one with "
                                    f"'lynxid catalogue build {root} --images FOLDER'")
        meta = storage.read_json(meta_p)
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"catalogue {root} was written by a newer lynxid (format "
                             f"{meta['format_version']}); upgrade lynxid")
        refs_p = root / "references.parquet"
        if not refs_p.exists():
            raise FileNotFoundError(f"catalogue {root} is incomplete (references.parquet missing): rebuild it with "
                                    f"'lynxid catalogue build'")
        refs = pd.read_parquet(refs_p)
        vectors = np.stack(refs.pop("vector").to_numpy()).astype(np.float32) if len(refs) else \
            np.zeros((0, meta["dim"]), np.float32)
        cat = cls(root, refs, vectors, meta)
        idx_p = root / "index.faiss"
        if idx_p.exists():
            idx = VectorIndex.load(idx_p)
            if len(idx) == len(refs):
                cat._index = idx
        return cat

    def save(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        refs = self.table.copy()
        refs["vector"] = list(self.vectors)
        storage.write_table(refs, self.root / "references.parquet")
        self.index.save(self.root / "index.faiss")
        self.meta.update(n_references=len(self.table), n_individuals=int(self.table["individual"].nunique()),
                         updated=_now())
        storage.write_json(self.root / "catalogue.json", self.meta)
        return self.root

    # -- content ------------------------------------------------------------------------
    def add(self, refs: pd.DataFrame, vectors: np.ndarray) -> None:
        """Append reference detections (with ``individual``) and their vectors."""
        if len(refs) != len(vectors):
            raise ValueError("one vector per reference detection is needed")
        if "individual" not in refs or refs["individual"].isna().any():
            raise ValueError("every reference detection needs an 'individual'")
        if vectors.shape[1] != self.vectors.shape[1]:
            raise ValueError(f"vectors have dimension {vectors.shape[1]}, the catalogue {self.vectors.shape[1]}: "
                             "was it built with another backbone?")
        refs = refs.copy()
        for c in REF_COLUMNS:
            if c not in refs:
                refs[c] = None
        refs["individual"] = refs["individual"].astype(str)
        # re-adding a photo already in the catalogue is a no-op; detection ids are relative to
        # the folder they were read from (``L01/01_left.jpg#0``), so the photo's path is part
        # of the key: a second folder with the same layout adds its photos
        key = _ref_key(refs)
        dup = key.notna().to_numpy() & key.isin(set(_ref_key(self.table).dropna())).to_numpy()
        keep = ~dup
        new_table = refs.loc[keep, REF_COLUMNS]
        self.table = new_table if self.table.empty else pd.concat([self.table, new_table], ignore_index=True)
        self.vectors = np.concatenate([self.vectors, vectors[keep].astype(np.float32)])
        self._index = None
        self.meta["model"] = None   # the fitted matcher no longer describes the catalogue

    def references(self, model=None) -> "References":
        """The catalogue prepared for matching (its cached local features loaded); with
        ``model`` (an ``openset.IdentificationModel``), its vectors in the model's space
        (``model.embed``)."""
        from .cache import ArrayCache
        from .keypoints import LocalFeatures
        from .match import References
        locs = [None] * len(self)
        if "local_key" in self.table and self.table["local_key"].notna().any():
            store = ArrayCache(self.root / "cache", "local")
            keys = self.table["local_key"].tolist()
            got = store.get_many([k for k in keys if isinstance(k, str)])
            locs = [LocalFeatures.from_arrays(got[k]) if isinstance(k, str) and k in got else None for k in keys]
        sight = self.table["sighting"] if "sighting" in self.table else pd.Series([None] * len(self))
        sight = sight.where(sight.notna(), self.table["detection_id"]).astype(str).to_numpy()
        vectors = self.vectors if model is None else model.embed(self.vectors)
        return References(vectors, locs, self.table["individual"].astype(str).to_numpy(),
                          self.table["flank"].to_numpy(dtype=object), sight)

    @property
    def individuals(self) -> list[str]:
        return sorted(self.table["individual"].astype(str).unique())

    @property
    def index(self) -> VectorIndex:
        if self._index is None or len(self._index) != len(self.vectors):
            self._index = VectorIndex.build(self.vectors)
        return self._index

    def __len__(self) -> int:
        return len(self.table)

    def summary(self) -> dict:
        """Counts and how it identifies: ``fitted`` (its own model), ``model`` (which model
        decides: "catalogue", "default" -- lynxid's default model, while it cannot fit its own
        -- or None; as the last build or addition recorded it) and ``model_switched_from``
        (the model the last addition replaced, None if it changed nothing)."""
        t = self.table
        own = self.meta.get("model") is not None
        return {"references": len(t), "individuals": int(t["individual"].nunique()),
                "with_flank": int(t["flank"].notna().sum()), "embedder": self.meta.get("embedder"),
                "fitted": own, "model": "catalogue" if own else self.meta.get("model_source"),
                "model_switched_from": self.meta.get("model_switched_from")}

    def __repr__(self):
        s = self.summary()
        return f"<Catalogue {self.root}: {s['individuals']} individuals, {s['references']} references>"


def _ref_key(t: pd.DataFrame) -> pd.Series:
    """What makes a reference detection unique: its photo's path and its detection id."""
    did = t["detection_id"].astype(object)
    path = t["path"].astype(object) if "path" in t else pd.Series(None, index=t.index, dtype=object)
    key = path.where(path.notna(), "").astype(str) + "\x00" + did.astype(str)
    return key.where(did.notna(), None)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
