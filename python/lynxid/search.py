"""Nearest-neighbour search over unit vectors (cosine similarity = inner product) with faiss.

Small catalogues are searched exactly (``IndexFlatIP``). Above ``APPROX_FROM`` vectors an
approximate HNSW graph is built instead; its recall against exact search is measured in
``benchmarks/search.py``. Indexes are saved in faiss's own binary format (no pickle).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import storage

__all__ = ["VectorIndex", "APPROX_FROM"]

APPROX_FROM = 200_000   # below this, exact search is fast enough (see benchmarks/search.py)


class VectorIndex:
    """A faiss index over L2-normalised float32 rows; ids are row numbers."""

    def __init__(self, dim: int, kind: str = "auto", n_hint: int = 0, hnsw_m: int = 32,
                 ef_search: int = 128, ef_construction: int = 200):
        import faiss
        if kind == "auto":
            kind = "hnsw" if n_hint >= APPROX_FROM else "flat"
        self.kind = kind
        self.dim = dim
        if kind == "flat":
            self.index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction
            self.index.hnsw.efSearch = ef_search
        else:
            raise ValueError(f"unknown index kind {kind!r}: use 'auto', 'flat' or 'hnsw'")

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto", **kw) -> "VectorIndex":
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        idx = cls(vectors.shape[1], kind, n_hint=len(vectors), **kw)
        idx.add(vectors)
        return idx

    def add(self, vectors: np.ndarray) -> None:
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (similarities, row ids) per query; ids are -1 where fewer exist."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, len(self))) if len(self) else 1
        if len(self) == 0:
            return np.full((len(q), 1), -np.inf, np.float32), np.full((len(q), 1), -1, np.int64)
        return self.index.search(q, k)

    def save(self, path) -> Path:
        import faiss
        with storage.atomic_path(path) as tmp:
            faiss.write_index(self.index, str(tmp))
        return Path(path)

    @classmethod
    def load(cls, path) -> "VectorIndex":
        import faiss
        index = faiss.read_index(str(path))
        obj = cls.__new__(cls)
        obj.index = index
        obj.dim = index.d
        obj.kind = "hnsw" if isinstance(index, faiss.IndexHNSWFlat) else "flat"
        return obj
