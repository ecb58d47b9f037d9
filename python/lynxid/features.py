"""Per-detection features: the global embedding and the local keypoints, computed in one pass.

Each image is read and decoded once (at the reduced size the larger of the two crops needs)
in a thread pool that runs ahead of the network; both results are cached on disk by
content, so an interrupted run resumes and a repeated run costs only the hashing.

On a CPU the pipeline is decode-bound for full-size camera-trap JPEGs (entropy decoding of
a 12 MP JPEG costs more than the network even at 1/8 scale), so by default the network gets
half the cores and the decoders the rest: with all cores given to torch, its OpenMP threads
spin while the decoders hold a core and throughput drops several-fold on a busy laptop
(benchmarks/results/throughput.md). :func:`runtime` overrides device, threads and batch
size for everything run inside it (the CLI's ``--device/--threads/--batch-size``).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import contextvars
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import cache as cache_mod
from .decode import DecodeError, crop_box_pixels, open_image, to_square_array
from .ingest import Issues
from .dense import DENSE_VERSION, extract_dense
from .keypoints import LOCAL_VERSION, LocalFeatures, extract

__all__ = ["FeatureSet", "extract_features", "LOCAL_SIZE", "runtime", "cpu_count", "default_threads"]

LOCAL_SIZE = 512        # long side of the crop that keypoints are found on
LOCAL_KEYPOINTS = 512
COMPACT_ABOVE = 64      # merge a cache namespace's small shards when it has more than this
CPU_BATCH = 8           # default detections per network call on a CPU (GPUs take the embedder's)


@dataclass
class FeatureSet:
    """Features of a table of detections, row-aligned with it."""

    vectors: np.ndarray                  # N x D, L2-normalised; zeros where not ok
    ok: np.ndarray                       # N bool: features could be computed
    local: list = field(default_factory=list)   # N LocalFeatures or None
    issues: pd.DataFrame = field(default_factory=lambda: Issues().table())
    local_keys: list = field(default_factory=list)  # N cache keys of the local features (or None)
    stats: dict = field(default_factory=dict)        # what was computed and what came from the cache
    keys: list = field(default_factory=list)         # N cache keys of the embeddings (None where not ok)

    def __len__(self):
        return len(self.vectors)

    def subset(self, idx) -> "FeatureSet":
        idx = np.asarray(idx)
        return FeatureSet(self.vectors[idx], self.ok[idx],
                          [self.local[i] for i in idx] if self.local else [], self.issues,
                          [self.local_keys[i] for i in idx] if self.local_keys else [], dict(self.stats),
                          [self.keys[i] for i in idx] if self.keys else [])


def _bbox(row):
    return (float(row["bbox_x"]), float(row["bbox_y"]), float(row["bbox_w"]), float(row["bbox_h"]))


class _Worker:
    """Reads, hashes, decodes and crops one detection; runs SIFT when needed."""

    def __init__(self, embedder, local: bool, emb_cache, loc_cache, local_size: int, pad: float = 0.05):
        self.embedder = embedder
        self.local = local
        self.emb_cache = emb_cache
        self.loc_cache = loc_cache
        self.local_size = local_size
        self.pad = pad

    def __call__(self, row):
        try:
            data = Path(row["path"]).read_bytes()
        except OSError as exc:
            return None, f"cannot read file: {exc}"
        if not data:
            return None, "zero-byte file"
        digest = cache_mod.file_digest(data)
        bbox = _bbox(row)
        ek = cache_mod.content_key(digest, bbox, self.embedder.tag)
        lk = local_key(digest, bbox, self.local_size)
        need_e = self.emb_cache is None or ek not in self.emb_cache
        need_l = self.local and (self.loc_cache is None or lk not in self.loc_cache)
        out = {"ekey": ek, "lkey": lk, "array": None, "local": None}
        if not (need_e or need_l):
            return out, None
        size = self.embedder.spec.input_size
        want = max(size, self.local_size if need_l else 0)
        try:
            im = open_image(data, bbox, int(want * (1 + 2 * self.pad)))
            crop = im.crop(crop_box_pixels(im.size, bbox, self.pad))
        except DecodeError as exc:
            return None, str(exc)
        if need_e:
            out["array"] = to_square_array(crop, size)
        if need_l:
            s = min(1.0, self.local_size / max(crop.size))
            lc = crop if s >= 1 else crop.resize((max(1, round(crop.size[0] * s)), max(1, round(crop.size[1] * s))))
            out["local"] = local_features(np.asarray(lc))
        return out, None


def local_key(digest: str, bbox, local_size: int = LOCAL_SIZE) -> str:
    """Cache key of a detection's local features (keypoints and dense grid)."""
    return cache_mod.content_key(digest, bbox, LOCAL_VERSION, DENSE_VERSION, local_size, LOCAL_KEYPOINTS)


def local_features(rgb: np.ndarray) -> LocalFeatures:
    """RootSIFT keypoints and the dense CNN grid of one crop (RGB uint8, long side LOCAL_SIZE)."""
    lf = extract(rgb, max_keypoints=LOCAL_KEYPOINTS)
    lf.dense_xy, lf.dense_desc = extract_dense(rgb)
    return lf


def extract_features(detections: pd.DataFrame, embedder, local: bool = True, cache_dir=None,
                     progress: bool = True, desc: str = "features", local_size: int = LOCAL_SIZE,
                     workers: int | None = None, batch_size: int | None = None,
                     compact: bool = True, threads: int | None = None) -> FeatureSet:
    """Global embeddings (and local features when ``local``) for each detection.

    ``detections`` needs ``path`` and ``bbox_x/_y/_w/_h``; ``file`` (if present) names the
    detection in the issues table. A detection that fails (unreadable, truncated, empty box)
    gets ``ok = False`` and a row in ``issues``; the rest go on.

    With ``cache_dir`` every batch is saved as it finishes, so a killed run restarted with
    the same arguments computes only what is missing and returns the same result (network
    outputs do not depend on how detections are grouped into batches). ``workers``: decode
    threads (default: the cores torch does not use); ``batch_size``: detections per network
    call (default: the embedder's, at most ``CPU_BATCH`` on a CPU). ``compact``: merge the
    cache's small shards every ``COMPACT_ABOVE`` batches (off for cluster workers sharing one
    cache). ``stats`` on the result counts what
    was computed and what came from the cache. ``threads``: torch threads while extracting
    on a CPU (default :func:`default_threads`; restored afterwards).
    """
    rt = _RUNTIME.get()
    if rt.get("device"):
        _place(embedder, rt["device"])
    batch_size = batch_size if batch_size is not None else rt.get("batch_size")
    workers = workers or rt.get("workers")
    threads = threads or rt.get("threads") or getattr(embedder, "threads", None)
    if getattr(getattr(embedder, "device", None), "type", "cpu") != "cpu":
        return _extract(detections, embedder, local, cache_dir, progress, desc, local_size, workers,
                        batch_size, compact)
    # on a CPU small batches pipeline better with the decoders (and cost the network no more
    # per image): 8 ran 30 % faster than 32 in benchmarks/throughput.py
    if batch_size is None:
        batch_size = min(embedder.batch_size, CPU_BATCH)
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads or default_threads()))
    try:
        fs = _extract(detections, embedder, local, cache_dir, progress, desc, local_size,
                      workers or max(1, cpu_count() - torch.get_num_threads() + 1), batch_size, compact)
        fs.stats["torch_threads"] = torch.get_num_threads()
        return fs
    finally:
        torch.set_num_threads(before)


def _extract(detections, embedder, local, cache_dir, progress, desc, local_size, workers, batch_size,
             compact) -> FeatureSet:
    """The extraction itself: workers decode two batches ahead while the network embeds one."""
    import time

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    n = len(detections)
    emb_cache = cache_mod.ArrayCache(cache_dir, "embeddings") if cache_dir else None
    loc_cache = cache_mod.ArrayCache(cache_dir, "local") if (cache_dir and local) else None
    worker = _Worker(embedder, local, emb_cache, loc_cache, local_size)
    rows = detections[["path", "bbox_x", "bbox_y", "bbox_w", "bbox_h"]].to_dict("records")
    names = detections["file"].tolist() if "file" in detections else [r["path"] for r in rows]
    bs = int(embedder.batch_size if batch_size is None else batch_size)
    if bs < 1:
        raise ValueError(f"batch_size must be at least 1, not {bs}")
    batches = [list(range(i, min(n, i + bs))) for i in range(0, n, bs)]
    stats = dict(detections=n, embedded=0, embeddings_cached=0, local_computed=0, local_cached=0, failed=0,
                 batch_size=bs, decode_workers=int(workers or embedder.workers))
    result = _Collector(n, embedder.dim, local, names, emb_cache, loc_cache, stats)
    written = 0   # batches written since the last compaction
    bar = tqdm(total=n, desc=desc, disable=not progress, unit="det")
    with cf.ThreadPoolExecutor(stats["decode_workers"]) as ex:
        pending = [[ex.submit(worker, rows[i]) for i in b] for b in batches[:2]]
        for bi, b in enumerate(batches):
            results = [f.result() for f in pending.pop(0)]
            if bi + 2 < len(batches):   # keep two batches decoding while the network runs
                pending.append([ex.submit(worker, rows[i]) for i in batches[bi + 2]])
            written += result.add(b, results, embedder)
            if compact and written >= COMPACT_ABOVE:   # keep the folder to a few hundred files
                _compact(emb_cache, loc_cache)
                written = 0
            bar.update(len(b))
    bar.close()
    if compact and written > 1:
        _compact(emb_cache, loc_cache)
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return result.feature_set()


@dataclass
class _Batch:
    """One batch's worker results, sorted: what the network must embed, what the cache holds."""

    todo: list = field(default_factory=list)        # rows to embed, with their arrays and keys
    arrays: list = field(default_factory=list)
    ekeys: list = field(default_factory=list)
    cached_e: list = field(default_factory=list)    # (row, key) of cached embeddings
    cached_l: list = field(default_factory=list)    # (row, key) of cached local features
    new_local: dict = field(default_factory=dict)   # key -> arrays of freshly computed local features


class _Collector:
    """The result of one extraction, filled batch by batch: row-aligned vectors, local features
    and cache keys, the issues, and counts of what was computed and what came from the cache."""

    def __init__(self, n: int, dim: int, local: bool, names: list, emb_cache, loc_cache, stats: dict):
        self.vectors = np.zeros((n, dim), np.float32)
        self.ok = np.zeros(n, bool)
        self.locs: list = [None] * n if local else []
        self.lkeys: list = [None] * n if local else []
        self.ekeys: list = [None] * n
        self.issues = Issues()
        self.local, self.names = local, names
        self.emb_cache, self.loc_cache = emb_cache, loc_cache
        self.stats = stats

    def add(self, rows: list, results: list, embedder) -> bool:
        """Store one batch: read what is cached, embed the rest and cache it. Returns whether
        anything was computed (and so written to the cache)."""
        batch = self._sort(rows, results)
        if batch.cached_e:
            got = self.emb_cache.get_many([k for _, k in batch.cached_e])
            for i, k in batch.cached_e:
                self.vectors[i] = got[k]["vec"]
        if batch.cached_l:
            got = self.loc_cache.get_many([k for _, k in batch.cached_l])
            for i, k in batch.cached_l:
                self.locs[i] = LocalFeatures.from_arrays(got[k])
        if batch.arrays:
            vec = embedder.embed_arrays(batch.arrays)
            self.vectors[batch.todo] = vec
            if self.emb_cache is not None:
                self.emb_cache.put_many({k: {"vec": v} for k, v in zip(batch.ekeys, vec)})
        if batch.new_local and self.loc_cache is not None:
            self.loc_cache.put_many(batch.new_local)
        self.stats["embedded"] += len(batch.arrays)
        self.stats["embeddings_cached"] += len(batch.cached_e)
        self.stats["local_computed"] += len(batch.new_local)
        self.stats["local_cached"] += len(batch.cached_l)
        return bool(batch.arrays) or bool(batch.new_local)

    def _sort(self, rows: list, results: list) -> _Batch:
        """Record failures and keys; keep freshly computed local features in their stored form."""
        batch = _Batch()
        for i, (res, err) in zip(rows, results):
            if err is not None:
                self.issues.add(self.names[i], "features", err)
                self.stats["failed"] += 1
                continue
            self.ekeys[i] = res["ekey"]
            if res["array"] is not None:
                batch.todo.append(i)
                batch.arrays.append(res["array"])
                batch.ekeys.append(res["ekey"])
            else:
                batch.cached_e.append((i, res["ekey"]))
            if self.local:
                self.lkeys[i] = res["lkey"]
                if res["local"] is not None:
                    # keep the stored (quantised) form so fresh and cached runs agree exactly
                    arrs = res["local"].to_arrays()
                    self.locs[i] = LocalFeatures.from_arrays(arrs)
                    batch.new_local[res["lkey"]] = arrs
                else:
                    batch.cached_l.append((i, res["lkey"]))
            self.ok[i] = True
        return batch

    def feature_set(self) -> FeatureSet:
        return FeatureSet(self.vectors, self.ok, self.locs, self.issues.table(), self.lkeys, self.stats, self.ekeys)


def _compact(*caches) -> None:
    for c in caches:
        if c is not None:
            c.compact(small_rows=cache_mod.SMALL_SHARD)


# --------------------------------------------------------------------------------------
# run-time settings
# --------------------------------------------------------------------------------------
_RUNTIME: contextvars.ContextVar[dict] = contextvars.ContextVar("lynxid_runtime", default={})


@contextlib.contextmanager
def runtime(device: str | None = None, threads: int | None = None, batch_size: int | None = None,
            workers: int | None = None):
    """Settings for every :func:`extract_features` call inside the block, e.g. from the CLI:
    ``device`` ("cpu", "cuda", "cuda:1"; default: the embedder's, which is CUDA when present),
    torch ``threads``, network ``batch_size`` and decode ``workers``. ``None`` keeps the default."""
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch size must be at least 1, not {batch_size}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    if device:
        _check_device(device)
    new = {**_RUNTIME.get(), **{k: v for k, v in dict(device=device, threads=threads, batch_size=batch_size,
                                                      workers=workers).items() if v is not None}}
    token = _RUNTIME.set(new)
    try:
        yield new
    finally:
        _RUNTIME.reset(token)


def cpu_count() -> int:
    """Cores this process may use (respects affinity masks and cluster job limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Torch threads for CPU extraction: half the cores (the other half decode JPEGs)."""
    return max(1, cpu_count() // 2)


def _check_device(device: str) -> None:
    import torch
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here "
                         "(no NVIDIA GPU or a CPU-only torch); use --device cpu")


def _place(embedder, device: str) -> None:
    """Move the embedder's network to ``device`` (channels-last on a CPU)."""
    import torch
    dev = torch.device(device)
    if getattr(embedder, "device", None) == dev:
        return
    _check_device(device)
    embedder.model.to(dev)
    if dev.type == "cpu":
        embedder.model.to(memory_format=torch.channels_last)
    embedder.device = dev
