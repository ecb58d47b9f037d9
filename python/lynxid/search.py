"""Nearest-neighbour search over unit vectors (cosine similarity = inner product) with faiss.

Small catalogues are searched exactly (``IndexFlatIP``). From ``APPROX_FROM`` vectors an
inverted-file index with 8-bit scalar quantisation (IVF-SQ8) is built instead: it scans only
the ``nprobe`` closest of ``nlist`` (~4 sqrt(n)) clusters and stores one byte per dimension.
``build`` tunes ``nprobe`` until recall@10 against exact search reaches 0.95 on a sample of
the catalogue, so the index is approximate only as far as the data allow.

IVF-SQ8 stores about a quarter of what exact search and HNSW do. HNSW is available
(``kind="hnsw"``) but never chosen automatically: on 1280-d vectors its graph is several
times slower to build than IVF. ``benchmarks/search.py`` measures all of this (figures in
benchmarks/README.md and ``benchmarks/results/search.md``).
Indexes are saved in faiss's own binary format (no pickle).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import storage

__all__ = ["VectorIndex", "APPROX_FROM", "bytes_per_vector", "default_nlist", "exact_neighbours", "recall_at_k"]

# From this many vectors "auto" builds the approximate index: below it exact search costs a
# few tens of milliseconds per query and its exactness is worth more than the milliseconds;
# above, the approximate index wins by one to two orders of magnitude
# (benchmarks/results/search.md).
APPROX_FROM = 50_000
NPROBE = 16          # clusters scanned per query to start with; build() raises it as needed
TARGET_RECALL = 0.95  # recall@10 against exact search that build() tunes an IVF index to
FEW_QUERIES = 8      # up to this many queries per call are searched on one thread


def bytes_per_vector(kind: str, dim: int, hnsw_m: int = 32) -> float:
    """Index memory per stored vector (codes + ids; centroids and graph links included)."""
    if kind == "flat":
        return 4.0 * dim
    if kind == "ivf":
        return dim + 8.0             # SQ8 code + 64-bit id (+ centroids, negligible per vector)
    if kind == "hnsw":
        return 4.0 * dim + 2 * hnsw_m * 4 * 1.05   # vectors + level-0 links (+ upper levels)
    raise ValueError(kind)




def default_nlist(n: int) -> int:
    """Clusters for ``n`` vectors: ~4 sqrt(n), and at least 39 training points per cluster."""
    return int(max(1, min(round(4 * math.sqrt(max(n, 1))), n // 39, 65536)))


class VectorIndex:
    """A faiss index over L2-normalised float32 rows; ids are row numbers."""

    def __init__(self, dim: int, kind: str = "auto", n_hint: int = 0, hnsw_m: int = 32,
                 ef_search: int = 128, ef_construction: int = 200, nlist: int | None = None,
                 nprobe: int = NPROBE):
        import faiss
        if kind == "auto":
            kind = "ivf" if n_hint >= APPROX_FROM else "flat"
        self.kind = kind
        self.dim = dim
        self.recall: float | None = None    # recall@10 measured by build()/tune() (IVF)
        if kind == "flat":
            self.index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction
            self.index.hnsw.efSearch = ef_search
        elif kind == "ivf":
            nlist = nlist or default_nlist(n_hint)
            self._quantizer = faiss.IndexFlatIP(dim)     # keep a reference: faiss does not own it
            self.index = faiss.IndexIVFScalarQuantizer(self._quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                       faiss.METRIC_INNER_PRODUCT)
            self.index.nprobe = min(nprobe, nlist)
            self.index.cp.niter = 10                      # k-means iterations: enough for coarse cells
        else:
            raise ValueError(f"unknown index kind {kind!r}: use 'auto', 'flat', 'ivf' or 'hnsw'")

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto", seed: int = 0, target_recall: float | None = TARGET_RECALL,
              **kw) -> "VectorIndex":
        """Index ``vectors``. An IVF index is then tuned: ``nprobe`` is doubled until recall@10
        against exact search reaches ``target_recall`` on a sample of the vectors used as queries
        (``self.recall`` holds what was measured), so an approximate index never silently
        misses more than that -- on data without neighbourhood structure it ends up scanning
        almost everything, i.e. as slow as exact search, not wrong."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        idx = cls(vectors.shape[1], kind, n_hint=len(vectors), **kw)
        if idx.kind == "ivf":
            idx.train(vectors, seed=seed)
        idx.add(vectors)
        if idx.kind == "ivf" and target_recall:
            rng = np.random.default_rng(seed)
            q = vectors[rng.choice(len(vectors), min(len(vectors), 200), replace=False)]
            idx.tune(q, exact_neighbours(vectors, q, 10), target_recall)
        return idx

    def tune(self, queries: np.ndarray, truth: np.ndarray, target_recall: float = TARGET_RECALL) -> float:
        """Smallest ``nprobe`` (from the current one, doubling) whose recall@k against the exact
        neighbours ``truth`` (one row of ids per query) reaches ``target_recall``; returns it."""
        if self.kind != "ivf":
            raise ValueError("only IVF indexes are tuned")
        k = truth.shape[1]
        while True:
            _, got = self.search(queries, k)
            self.recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(got, truth)]))
            if self.recall >= target_recall or self.index.nprobe >= self.index.nlist:
                return self.recall
            self.nprobe = self.index.nprobe * 2

    def train(self, vectors: np.ndarray, seed: int = 0, per_cluster: int = 40) -> None:
        """Train the IVF clusters on a random sample (``per_cluster`` points per cluster)."""
        if self.kind != "ivf" or self.index.is_trained:
            return
        nlist = self.index.nlist
        if len(vectors) < nlist:
            raise ValueError(f"an IVF index with {nlist} clusters needs at least {nlist} training vectors, "
                             f"got {len(vectors)}; use kind='flat' for small collections")
        rng = np.random.default_rng(seed)
        m = min(len(vectors), per_cluster * nlist)
        sample = vectors if m == len(vectors) else vectors[np.sort(rng.choice(len(vectors), m, replace=False))]
        self.index.cp.seed = int(seed)
        self.index.train(np.ascontiguousarray(sample, dtype=np.float32))

    def add(self, vectors: np.ndarray) -> None:
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.kind == "ivf" and not self.index.is_trained:
            self.train(v)
        self.index.add(v)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def nprobe(self) -> int | None:
        return int(self.index.nprobe) if self.kind == "ivf" else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.kind != "ivf":
            raise ValueError("nprobe applies to IVF indexes only")
        self.index.nprobe = int(max(1, min(value, self.index.nlist)))

    def memory_bytes(self) -> int:
        """Approximate memory of the index (what it holds per vector, plus centroids)."""
        extra = self.index.nlist * self.dim * 4 if self.kind == "ivf" else 0
        return int(len(self) * bytes_per_vector(self.kind, self.dim) + extra)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (similarities, row ids) per query; ids are -1 where fewer exist."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if len(self) == 0:
            return np.full((len(q), 1), -np.inf, np.float32), np.full((len(q), 1), -1, np.int64)
        k = max(1, min(k, len(self)))
        if len(q) > FEW_QUERIES:
            return self.index.search(q, k)
        # a handful of queries: one thread. faiss's OpenMP threads spin at every barrier, and
        # on a laptop whose other core is busy that makes a single query several times slower
        import faiss
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(q, k)
        finally:
            faiss.omp_set_num_threads(before)

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
        obj.recall = None
        if isinstance(index, faiss.IndexHNSWFlat):
            obj.kind = "hnsw"
        elif isinstance(index, faiss.IndexIVF):
            obj.kind = "ivf"
        else:
            obj.kind = "flat"
        return obj


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Ids of the exact top-``k`` (inner product) rows of ``vectors`` per query, unordered."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    k = min(k, len(v))
    exact = np.empty((len(q), k), np.int64)
    for s in range(0, len(q), 256):           # blocks keep the similarity matrix small
        sims = q[s:s + 256] @ v.T
        exact[s:s + 256] = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return exact


def recall_at_k(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Share of the exact top-``k`` neighbours (inner product over ``vectors``) that ``index``
    returns for ``queries``: how much an approximate index misses."""
    exact = exact_neighbours(vectors, queries, k)
    _, got = index.search(np.atleast_2d(queries), exact.shape[1])
    return float(np.mean([len(set(a) & set(b)) / exact.shape[1] for a, b in zip(exact, got)]))
