"""On-disk cache of per-detection arrays (embeddings, keypoints, descriptors).

A run over 10^5-10^6 photos takes hours; if it is killed it must resume where it stopped
and give the same result. Every computed batch is written as one Parquet shard (atomic
rename), keyed by ``content hash of the file + box + model + preprocessing version``, so:

* a restarted run finds every finished batch and computes only what is missing;
* a moved or renamed file is still found (the key is its content, not its path);
* changing the model or the preprocessing never serves stale vectors (the key changes).

Arrays are stored as raw bytes plus dtype and shape (no pickle).
"""
from __future__ import annotations

import hashlib
import threading
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import storage

__all__ = ["ArrayCache", "content_key", "file_digest"]


def file_digest(data: bytes) -> str:
    """Short content hash of a file's bytes (BLAKE2b, 128 bit)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def content_key(digest: str, bbox, *parts) -> str:
    """Cache key for one detection: file content, box (rounded) and model/preprocessing tags."""
    box = ",".join(f"{float(v):.4f}" for v in bbox)
    return hashlib.blake2b("|".join([digest, box, *map(str, parts)]).encode(), digest_size=16).hexdigest()


class ArrayCache:
    """A folder of Parquet shards mapping a key to a few named numpy arrays."""

    def __init__(self, root, namespace: str):
        self.dir = Path(root) / namespace
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[Path, int]] | None = None
        self._lock = threading.Lock()

    # -- index -------------------------------------------------------------------------
    def _load_index(self):
        if self._index is None:
            idx = {}
            for shard in sorted(self.dir.glob("shard-*.parquet")):
                try:
                    keys = pq.read_table(shard, columns=["key"]).column("key").to_pylist()
                except Exception:   # a foreign or damaged file: ignore it, recompute
                    continue
                for i, k in enumerate(keys):
                    idx[k] = (shard, i)
            self._index = idx
        return self._index

    def __contains__(self, key: str) -> bool:
        return key in self._load_index()

    def __len__(self) -> int:
        return len(self._load_index())

    def missing(self, keys) -> list[str]:
        idx = self._load_index()
        return [k for k in keys if k not in idx]

    # -- read / write ------------------------------------------------------------------
    def get_many(self, keys) -> dict[str, dict[str, np.ndarray]]:
        idx = self._load_index()
        by_shard: dict[Path, list[tuple[str, int]]] = {}
        for k in keys:
            if k in idx:
                s, i = idx[k]
                by_shard.setdefault(s, []).append((k, i))
        out = {}
        for shard, items in by_shard.items():
            tab = pq.read_table(shard)
            names = [c[:-6] for c in tab.column_names if c.endswith("__data")]
            cols = {c: tab.column(c).to_pylist() for c in tab.column_names if c != "key"}
            for k, i in items:
                out[k] = {n: np.frombuffer(cols[n + "__data"][i], dtype=cols[n + "__dtype"][i])
                          .reshape(cols[n + "__shape"][i]).copy() for n in names}
        return out

    def put_many(self, items: dict[str, dict[str, np.ndarray]]) -> None:
        """Write one shard atomically with all ``items`` (``key -> {name: array}``)."""
        if not items:
            return
        keys = list(items)
        names = sorted(items[keys[0]])
        data = {"key": keys}
        for n in names:
            arrs = [np.ascontiguousarray(items[k][n]) for k in keys]
            data[n + "__data"] = [a.tobytes() for a in arrs]
            data[n + "__dtype"] = [a.dtype.str for a in arrs]
            data[n + "__shape"] = [list(a.shape) for a in arrs]
        table = pa.table(data)
        target = self.dir / f"shard-{uuid.uuid4().hex}.parquet"
        with storage.atomic_path(target) as tmp:
            pq.write_table(table, tmp)
        with self._lock:
            idx = self._load_index()
            for i, k in enumerate(keys):
                idx[k] = (target, i)

    def compact(self) -> None:
        """Merge all shards into one (after a long run with many small batches)."""
        shards = sorted(self.dir.glob("shard-*.parquet"))
        if len(shards) < 2:
            return
        tables = [pq.read_table(s) for s in shards]
        merged = pa.concat_tables(tables, promote_options="default").to_pandas()
        merged = merged.drop_duplicates("key", keep="last")
        target = self.dir / f"shard-{uuid.uuid4().hex}.parquet"
        with storage.atomic_path(target) as tmp:
            pq.write_table(pa.Table.from_pandas(merged, preserve_index=False), tmp)
        for s in shards:
            s.unlink()
        self._index = None

    def keys_frame(self) -> pd.DataFrame:
        idx = self._load_index()
        return pd.DataFrame({"key": list(idx), "shard": [str(v[0].name) for v in idx.values()]})
