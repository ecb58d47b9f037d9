"""On-disk cache of per-detection arrays (embeddings, keypoints, descriptors).

A run over 10^5-10^6 photos takes hours; if it is killed it must resume where it stopped
and give the same result. Every computed batch is written as one Parquet shard (atomic
rename), keyed by ``content hash of the file + box + model + preprocessing version``, so:

* a restarted run finds every finished batch and computes only what is missing;
* a moved or renamed file is still found (the key is its content, not its path);
* changing the model or the preprocessing never serves stale vectors (the key changes);
* several processes (or cluster workers) can fill one cache folder at once: each writes its
  own uniquely named shards, and nothing is ever rewritten in place.

Arrays are stored as raw bytes plus dtype and shape (no pickle). Many small shards are
merged by :meth:`ArrayCache.compact` (streaming, atomic, safe to interrupt); large shards are
read by row group, so a lookup never loads a whole merged shard.
"""
from __future__ import annotations

import hashlib
import threading
import uuid
from bisect import bisect_right
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import storage

__all__ = ["ArrayCache", "content_key", "file_digest"]

ROW_GROUP = 1024          # rows per Parquet row group in merged shards (unit of a read)
SMALL_SHARD = 1024        # shards with fewer rows are merged by compact()


def file_digest(data: bytes) -> str:
    """Short content hash of a file's bytes (BLAKE2b, 128 bit)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def content_key(digest: str, bbox, *parts) -> str:
    """Cache key for one detection: file content, box (rounded) and model/preprocessing tags."""
    box = ",".join(f"{float(v):.4f}" for v in bbox)
    return hashlib.blake2b("|".join([digest, box, *map(str, parts)]).encode(), digest_size=16).hexdigest()


class ArrayCache:
    """A folder of Parquet shards mapping a key to a few named numpy arrays.

    Thread-safe for concurrent lookups and writes from one process; other processes'
    shards written after the index was loaded are picked up by :meth:`refresh`.
    """

    def __init__(self, root, namespace: str):
        self.dir = Path(root) / namespace
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[int, int]] | None = None
        self._shards: list[Path] = []          # shard id -> path
        self._rows: list[int] = []             # shard id -> row count
        self._lock = threading.RLock()

    # -- index -------------------------------------------------------------------------
    def _load_index(self) -> dict[str, tuple[int, int]]:
        idx = self._index
        if idx is None:
            with self._lock:
                if self._index is None:
                    # build privately, publish when complete: a thread that sees an index
                    # must never see half of one (it would recompute cached rows)
                    self._shards, self._rows = [], []
                    fresh: dict[str, tuple[int, int]] = {}
                    self._scan(fresh)
                    self._index = fresh
                idx = self._index
        return idx

    def _scan(self, index: dict) -> None:
        known = set(self._shards)
        for shard in sorted(self.dir.glob("shard-*.parquet")):
            if shard in known:
                continue
            try:
                keys = pq.read_table(shard, columns=["key"]).column("key").to_pylist()
            except Exception:   # a foreign or damaged file (or one just compacted away): recompute
                continue
            self._add_shard(index, shard, keys)

    def _add_shard(self, index: dict, shard: Path, keys) -> None:
        sid = len(self._shards)
        self._shards.append(shard)
        self._rows.append(len(keys))
        for i, k in enumerate(keys):
            index[k] = (sid, i)

    def refresh(self) -> None:
        """Pick up shards that other processes wrote since the index was loaded."""
        with self._lock:
            if self._index is None:
                self._load_index()
            else:
                self._scan(self._index)

    def __contains__(self, key: str) -> bool:
        return key in self._load_index()

    def __len__(self) -> int:
        return len(self._load_index())

    def missing(self, keys) -> list[str]:
        idx = self._load_index()
        return [k for k in keys if k not in idx]

    @property
    def n_shards(self) -> int:
        return len(list(self.dir.glob("shard-*.parquet")))

    # -- read / write ------------------------------------------------------------------
    def get_many(self, keys, _retry: bool = True) -> dict[str, dict[str, np.ndarray]]:
        """Arrays of the ``keys`` that are cached (missing keys are left out)."""
        by_shard: dict[int, list[tuple[str, int]]] = {}
        with self._lock:   # index and shard list must come from the same scan
            idx = self._load_index()
            for k in keys:
                if k in idx:
                    sid, i = idx[k]
                    by_shard.setdefault(sid, []).append((k, i))
            paths = {sid: self._shards[sid] for sid in by_shard}
        out = {}
        for sid, items in by_shard.items():
            try:
                tab, rows = _read_rows(paths[sid], sorted({i for _, i in items}))
            except FileNotFoundError:
                if _retry:   # merged away by another process's compact(): look again
                    with self._lock:
                        self._index = None
                    out.update(self.get_many([k for k, _ in items], _retry=False))
                continue
            names = [c[:-6] for c in tab.column_names if c.endswith("__data")]
            cols = {c: tab.column(c) for c in tab.column_names if c != "key"}
            for k, i in items:
                j = rows[i]
                out[k] = {n: np.frombuffer(cols[n + "__data"][j].as_py(), dtype=cols[n + "__dtype"][j].as_py())
                          .reshape(cols[n + "__shape"][j].as_py()).copy() for n in names}
        return out

    def put_many(self, items: dict[str, dict[str, np.ndarray]]) -> Path | None:
        """Write one shard atomically with all ``items`` (``key -> {name: array}``)."""
        if not items:
            return None
        keys = list(items)
        target = self.dir / f"shard-{uuid.uuid4().hex}.parquet"
        with storage.atomic_path(target) as tmp:
            pq.write_table(_to_table(keys, items), tmp, row_group_size=ROW_GROUP)
        with self._lock:
            self._add_shard(self._load_index(), target, keys)
        return target

    def compact(self, small_rows: int | None = None) -> int:
        """Merge shards into one, streaming (memory: one shard at a time); returns how many
        shards were merged. ``small_rows``: merge only shards with fewer rows than this.

        Safe to interrupt: the merged shard is written atomically before the old ones are
        removed, and duplicate keys in two shards hold the same arrays.
        """
        with self._lock:
            self._index = None   # rescan: shards of other processes count too
            self._load_index()
            chosen = [(p, n) for p, n in zip(self._shards, self._rows) if small_rows is None or n < small_rows]
        # shards written by another version of an entry (other array names) are merged apart:
        # one Parquet file holds one schema
        groups: dict[tuple, list] = {}
        for path, _ in chosen:
            try:
                groups.setdefault(tuple(pq.read_schema(path).names), []).append(path)
            except Exception:
                continue
        merged = sum(self._merge(paths) for paths in groups.values() if len(paths) >= 2)
        with self._lock:
            self._index = None
        return merged

    def _merge(self, paths: list) -> int:
        target = self.dir / f"shard-{uuid.uuid4().hex}.parquet"
        seen: set[str] = set()
        merged = []
        with storage.atomic_path(target) as tmp:
            writer = None
            try:
                for path in paths:
                    try:
                        tab = pq.read_table(path)
                    except Exception:
                        continue
                    keep = [i for i, k in enumerate(tab.column("key").to_pylist()) if k not in seen]
                    seen.update(tab.column("key").to_pylist())
                    merged.append(path)
                    if not keep:
                        continue
                    tab = tab.take(pa.array(keep))
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, tab.schema)
                    writer.write_table(tab.cast(writer.schema), row_group_size=ROW_GROUP)
            finally:
                if writer is not None:
                    writer.close()
        if writer is None:   # nothing readable to merge; atomic_path left an empty file
            target.unlink(missing_ok=True)
            return 0
        for path in merged:
            path.unlink(missing_ok=True)
        return len(merged)


def _to_table(keys, items) -> pa.Table:
    names = sorted(items[keys[0]])
    data = {"key": keys}
    for n in names:
        arrs = [np.ascontiguousarray(items[k][n]) for k in keys]
        data[n + "__data"] = pa.array([a.tobytes() for a in arrs], pa.binary())
        data[n + "__dtype"] = [a.dtype.str for a in arrs]
        data[n + "__shape"] = pa.array([list(a.shape) for a in arrs], pa.list_(pa.int64()))
    return pa.table(data)


def _read_rows(path: Path, rows: list[int]) -> tuple[pa.Table, dict[int, int]]:
    """Read the row groups of ``path`` holding ``rows``; map each row to its place in the result."""
    pf = pq.ParquetFile(path)
    md = pf.metadata
    if md.num_row_groups == 1:
        return pf.read(), {r: r for r in rows}
    starts, s = [], 0
    for g in range(md.num_row_groups):
        starts.append(s)
        s += md.row_group(g).num_rows
    groups = sorted({bisect_right(starts, r) - 1 for r in rows})
    tab = pf.read_row_groups(groups)
    offset, pos = {}, 0
    for g in groups:
        offset[g] = pos
        pos += md.row_group(g).num_rows
    return tab, {r: offset[bisect_right(starts, r) - 1] + r - starts[bisect_right(starts, r) - 1] for r in rows}
