"""Feature extraction over a file list on a Dask cluster, for surveys that outgrow one machine.

Why Dask (and not Ray): it is pure Python (a pip install that works wherever lynxid does,
Windows and macOS laptops and R's reticulate environments included); ``LocalCluster`` uses
every core of one big workstation with no setup; and ``dask-jobqueue`` starts workers as
ordinary batch jobs on SLURM, PBS, SGE or LSF -- the schedulers of the university and
agency HPC centres that large camera-trap programmes actually have -- with no daemon to
install. Ray would add a large binary wheel, its own object store and a head node that
must be started by hand on such clusters; its strengths (actors, GPU placement, streaming
datasets) are not needed for a map over files.

The work is a plain map: the detections are cut into chunks, each chunk runs
:func:`lynxid.features.extract_features` on a worker, which writes its Parquet shards into
the shared cache folder -- the very shards a single-machine run writes, so either path can
resume or reuse the other's work. Workers send back only cache keys, flags and issues; the
driver then reads the vectors from the cache. The cache folder must be on a file system
every worker sees (the cluster's shared scratch); so must the images.

    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster           # pip install dask-jobqueue
    cluster = SLURMCluster(cores=4, memory="8GB", walltime="04:00:00")
    cluster.scale(jobs=20)
    fs = extract_features_distributed(detections, "/scratch/lynx/cache", client=Client(cluster))

or from the command line: ``lynxid features FILELIST --cache-dir DIR --scheduler tcp://host:8786``
(or ``--workers 4`` for a local cluster).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd

from . import cache as cache_mod
from .features import FeatureSet, extract_features
from .ingest import IMAGE_EXTENSIONS, Issues
from .keypoints import LocalFeatures

__all__ = ["extract_features_distributed", "read_file_list", "features_table"]

BOX = ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]
_EMBEDDERS: dict = {}     # per worker process: the network is loaded once, not once per chunk


def read_file_list(src, megadetector=None, threshold: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Detections to process from ``src``: a folder (every image in it), a CSV/Parquet table
    with a ``path`` (or ``file``) column and optional ``bbox_x/_y/_w/_h``, or a text file with
    one path per line. Relative paths are taken from the list's folder. Without boxes each
    image is one whole-frame detection, unless ``megadetector`` (batch output JSON) gives them.

    Returns ``(detections, issues)``; listed files that do not exist are issues, not errors.
    """
    src = Path(src)
    issues = Issues()
    if not src.exists():
        raise FileNotFoundError(f"file list not found: {src}")
    if src.is_dir():
        paths = [p for p in sorted(src.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                 and not p.name.startswith(".")]
        table = pd.DataFrame({"file": [p.relative_to(src).as_posix() for p in paths], "path": [str(p) for p in paths]})
        base = src
    else:
        base = src.parent
        if src.suffix.lower() in (".csv", ".parquet", ".pq"):
            from .storage import read_table
            table = read_table(src)
            if "path" not in table and "file" not in table:
                raise ValueError(f"{src} needs a 'path' (or 'file') column with the image files")
        else:
            lines = [ln.strip() for ln in src.read_text(encoding="utf-8").splitlines()]
            table = pd.DataFrame({"path": [ln for ln in lines if ln and not ln.startswith("#")]})
        col = "path" if "path" in table else "file"
        table["path"] = [str(p if Path(p).is_absolute() else base / p) for p in table[col].astype(str)]
        if "file" not in table:
            table["file"] = [_rel(p, base) for p in table["path"]]
    exists = np.array([Path(p).is_file() for p in table["path"]], bool)
    for f in table.loc[~exists, "file"]:
        issues.add(f, "read", "listed but not found (check the path, or that the folder is mounted here)")
    table = table[exists].reset_index(drop=True)
    if megadetector:
        from .megadetector import load_megadetector
        if set(BOX) <= set(table.columns):
            raise ValueError(f"{src} has boxes already; give either boxes or --megadetector, not both")
        table, iss = load_megadetector(megadetector, table, threshold=threshold)
        issues.extend(iss)
    elif not set(BOX) <= set(table.columns):
        table[BOX] = [0.0, 0.0, 1.0, 1.0]
    if "detection_id" not in table:
        table["detection_id"] = [f"{f}#{i}" for i, f in zip(table.groupby("file").cumcount(), table["file"])]
    return table.reset_index(drop=True), issues.table()


def _rel(p, base: Path) -> str:
    try:
        return Path(p).relative_to(base).as_posix()
    except ValueError:
        return Path(p).as_posix()


def _embedder(spec: dict):
    key = tuple(sorted(spec["embedder"].items()))
    if key not in _EMBEDDERS:
        from .embed import Embedder
        _EMBEDDERS[key] = Embedder(**spec["embedder"])
    return _EMBEDDERS[key]


def _run_chunk(rows: list[dict], cache_dir: str, spec: dict) -> dict:
    """On a worker: features of one chunk into the shared cache; returns keys and issues."""
    emb = _embedder(spec)
    fs = extract_features(pd.DataFrame(rows), emb, local=spec["local"], cache_dir=cache_dir, progress=False,
                          compact=False, threads=spec["threads"], workers=spec["decode_workers"])
    return {"keys": fs.keys, "local_keys": fs.local_keys, "ok": fs.ok.tolist(),
            "issues": fs.issues.to_dict("records"), "stats": fs.stats, "dim": int(emb.dim),
            "worker": f"{socket.gethostname()}:{os.getpid()}"}


def extract_features_distributed(detections: pd.DataFrame, cache_dir, *, client=None, n_workers: int | None = None,
                                 backbone: str = "efficientnet-lite0", weights=None, local: bool = True,
                                 device: str = "auto", batch_size: int = 32, threads: int = 1,
                                 decode_workers: int | None = None, chunk_size: int = 256,
                                 load_local: bool = False, progress: bool = True) -> FeatureSet:
    """:func:`~lynxid.features.extract_features` for ``detections`` spread over a Dask cluster.

    ``client``: a ``dask.distributed.Client`` (any cluster); without one a ``LocalCluster``
    of ``n_workers`` processes is started for the call. ``threads``: torch threads per
    task (match the cores each worker has); ``chunk_size``: detections per task (a killed
    or failed task loses at most this much work; results already in the cache are kept).
    The returned vectors are the same numbers a single-machine run gives. Local features are
    left in the cache (``local_keys``) unless ``load_local`` -- at 64 kB per detection a
    million of them would not fit in memory.
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:   # pragma: no cover - dask is an optional extra
        raise ImportError("the distributed path needs Dask: pip install 'lynxid[dask]'") from exc
    from tqdm.auto import tqdm

    cache_dir = Path(cache_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    det = detections.reset_index(drop=True)
    missing = [c for c in ["path", *BOX] if c not in det]
    if missing:
        raise ValueError(f"detections need the columns {missing}")
    cols = ["path", *BOX] + (["file"] if "file" in det else [])
    rows = det[cols].to_dict("records")
    spec = dict(embedder=dict(backbone=backbone, weights=str(weights) if weights else None, device=device,
                              batch_size=batch_size),
                local=local, threads=threads, decode_workers=decode_workers or threads + 1)
    chunks = [(s, rows[s:s + chunk_size]) for s in range(0, len(rows), max(1, chunk_size))]

    own = None
    if client is None:
        cluster = LocalCluster(n_workers=n_workers or 2, threads_per_worker=1, processes=True)
        own = client = Client(cluster)
    try:
        futures = {client.submit(_run_chunk, part, str(cache_dir), spec, pure=False, retries=2): start
                   for start, part in chunks}
        results = {}
        bar = tqdm(total=len(rows), desc="features (cluster)", disable=not progress, unit="det")
        for fut in as_completed(futures):
            res = fut.result()
            results[futures[fut]] = res
            bar.update(len(res["keys"]))
        bar.close()
    finally:
        if own is not None:
            cluster = own.cluster
            own.close()
            cluster.close()
    return _assemble(det, results, cache_dir, local, load_local)


def _assemble(det, results: dict, cache_dir: Path, local: bool, load_local: bool) -> FeatureSet:
    n = len(det)
    keys, lkeys, ok = [None] * n, [None] * n if local else [], np.zeros(n, bool)
    issues = Issues()
    stats: dict = {"workers": sorted({r["worker"] for r in results.values()}), "tasks": len(results)}
    dim = next((r["dim"] for r in results.values()), 0)
    for start, r in results.items():
        m = len(r["keys"])
        keys[start:start + m] = r["keys"]
        ok[start:start + m] = r["ok"]
        if local:
            lkeys[start:start + m] = r["local_keys"]
        issues.extend(pd.DataFrame(r["issues"], columns=["file", "stage", "severity", "reason"]))
        for k, v in r["stats"].items():
            if k in ("batch_size", "decode_workers", "torch_threads"):
                stats[k] = v
            elif k != "seconds":
                stats[k] = stats.get(k, 0) + v
    vectors = np.zeros((n, dim), np.float32)
    emb_cache = cache_mod.ArrayCache(cache_dir, "embeddings")      # a fresh index: sees every worker's shards
    rows = np.nonzero(ok)[0]
    for s in range(0, len(rows), 4096):
        part = rows[s:s + 4096]
        got = emb_cache.get_many([keys[i] for i in part])
        if len(got) < len(part):
            raise RuntimeError(f"{len(part) - len(got)} embeddings the workers computed are not in the cache "
                               f"{cache_dir} as seen from here: the cache folder must be on a file system that "
                               "every worker and this machine share (e.g. the cluster's scratch), at the same path")
        for i in part:
            vectors[i] = got[keys[i]]["vec"]
    locs: list = []
    if local and load_local:
        loc_cache = cache_mod.ArrayCache(cache_dir, "local")
        locs = [None] * n
        for s in range(0, len(rows), 1024):
            part = rows[s:s + 1024]
            got = loc_cache.get_many([lkeys[i] for i in part])
            for i in part:
                locs[i] = LocalFeatures.from_arrays(got[lkeys[i]])
    for name in ("embeddings", "local") if local else ("embeddings",):
        cache_mod.ArrayCache(cache_dir, name).compact(small_rows=cache_mod.SMALL_SHARD)
    return FeatureSet(vectors, ok, locs, issues.table(), lkeys, stats, keys)


def features_table(detections: pd.DataFrame, fs: FeatureSet) -> pd.DataFrame:
    """One row per detection: its columns, ``ok``, the cache keys and the embedding vector
    (empty where not ok) -- what ``lynxid features --out`` writes."""
    out = detections.reset_index(drop=True).copy()
    out["ok"] = fs.ok
    out["embedding_key"] = fs.keys if fs.keys else None
    out["local_key"] = fs.local_keys if fs.local_keys else None
    out["vector"] = [v if o else np.zeros(0, np.float32) for v, o in zip(fs.vectors, fs.ok)]
    return out
