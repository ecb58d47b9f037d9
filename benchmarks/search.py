"""Benchmark 2: catalogue search latency and recall, exact (flat) vs approximate (IVF-SQ8).

Rerun (from the repository root; ~30-40 min on 2 cores, most of it building the 10^6 IVF
indexes, peak memory ~5.5 GB for the exact 10^6 case):

    .venv/bin/python benchmarks/search.py                  # writes benchmarks/results/search.{json,md}
    .venv/bin/python benchmarks/search.py --sizes 10000    # one size, minutes

Vectors have the default backbone's dimension (1280 for efficientnet-lite0), unit length.
Two workloads at each catalogue size:

* ``uniform``: database and queries are independent random unit vectors -- the literal
  worst case. In 1280 dimensions their similarities are all 0 +- 0.03: the 10 "nearest"
  are barely nearer than the 1000th, so no index can find them without looking at almost
  everything (recall of any sublinear method is low; this is the curse of dimensionality,
  not a tuning problem).
* ``clustered``: what re-identification looks like -- individuals with 10 reference vectors
  each around an individual-specific direction (cosine ~0.7 between photos of one animal),
  and queries that are new photos of catalogued individuals, so the true top-10 are that
  individual's references.

For each: build time (for IVF: k-means on 40 points per cluster, then ``nprobe`` tuned as
``VectorIndex.build`` does it -- doubled from 16 until recall@10 on 200 database vectors used as
queries reaches 0.95 -- the test queries are not used for tuning), single-query latency p50/p95 (one query per call, as when a user
looks one photo up), exact search's per-query time when 100 queries go in one call (how
``identify`` batches), recall@10 against exact search, index memory per million vectors
and the process's peak RSS. HNSW is timed at 10^4 only: its build time on 1280-d vectors is
why ``search.py`` picks IVF for large catalogues. Each case runs in its own process.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import emit, load_snapshot, machine, run_case, write_results  # noqa: E402

NAME = "search"
CHUNK = 100_000
PER_INDIVIDUAL = 10
SPREAD = 0.65            # noise scale: cosine ~0.7 between two photos of one individual
N_QUERIES = 200


def _dim() -> int:
    import timm

    from lynxid.embed import BACKBONES
    return int(timm.create_model(BACKBONES["efficientnet-lite0"].arch, pretrained=False).num_features)


def _unit(x):
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32, copy=False)


def chunk(workload: str, c: int, n: int, d: int, seed: int = 0) -> np.ndarray:
    """Rows [c*CHUNK, c*CHUNK + n) of the database, regenerated identically on demand."""
    rng = np.random.default_rng([seed, c, 1 if workload == "uniform" else 2])
    if workload == "uniform":
        return _unit(rng.standard_normal((n, d), dtype=np.float32))
    cent = _unit(rng.standard_normal((CHUNK // PER_INDIVIDUAL, d), dtype=np.float32))[: -(-n // PER_INDIVIDUAL)]
    noise = _unit(rng.standard_normal((n, d), dtype=np.float32))
    return _unit(np.repeat(cent, PER_INDIVIDUAL, axis=0)[:n] + SPREAD * noise)


def chunks(workload, n, d):
    for c, s in enumerate(range(0, n, CHUNK)):
        yield s, chunk(workload, c, min(CHUNK, n - s), d)


def queries(workload: str, n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, 99])
    if workload == "uniform":
        return _unit(rng.standard_normal((N_QUERIES, d), dtype=np.float32))
    rows = np.sort(rng.integers(0, n, N_QUERIES))
    out = np.empty((N_QUERIES, d), np.float32)
    for c in np.unique(rows // CHUNK):      # the individual's direction, regenerated from its chunk
        crng = np.random.default_rng([seed, int(c), 2])
        cent = _unit(crng.standard_normal((CHUNK // PER_INDIVIDUAL, d), dtype=np.float32))
        sel = rows // CHUNK == c
        out[sel] = cent[(rows[sel] % CHUNK) // PER_INDIVIDUAL]
    return _unit(out + SPREAD * _unit(rng.standard_normal((N_QUERIES, d), dtype=np.float32)))


def exact_topk(workload, n, d, q, k=10) -> np.ndarray:
    """Ground truth by streaming the database (never all of it in memory)."""
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.zeros((len(q), k), np.int64)
    for s, x in chunks(workload, n, d):
        sims = q @ x.T
        cand_s = np.concatenate([best_s, sims], axis=1)
        cand_i = np.concatenate([best_i, np.broadcast_to(np.arange(s, s + len(x)), sims.shape)], axis=1)
        top = np.argpartition(-cand_s, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, top, 1), np.take_along_axis(cand_i, top, 1)
    return best_i


def case(kind: str, workload: str, n: int) -> dict:
    import faiss

    from lynxid.search import VectorIndex, bytes_per_vector, default_nlist
    d = _dim()
    q = queries(workload, n, d)
    t0 = time.perf_counter()
    if kind == "flat":
        idx = VectorIndex(d, "flat")
        for _, x in chunks(workload, n, d):
            idx.add(x)
    elif kind == "ivf":
        idx = VectorIndex(d, "ivf", n_hint=n)
        # training sample spread over the whole database: 40 points per cluster
        m = min(n, 40 * default_nlist(n))
        per = -(-m // (-(-n // CHUNK)))
        sample = np.concatenate([x[np.random.default_rng(s).choice(len(x), min(per, len(x)), replace=False)]
                                 for s, x in chunks(workload, n, d)])
        t_train = time.perf_counter()
        idx.train(sample)
        t_train = time.perf_counter() - t_train
        del sample
        for _, x in chunks(workload, n, d):
            idx.add(x)
    elif kind == "hnsw":
        idx = VectorIndex(d, "hnsw", ef_construction=80, ef_search=128)
        for _, x in chunks(workload, n, d):
            idx.add(x)
    else:
        raise SystemExit(kind)
    build = time.perf_counter() - t0
    truth = exact_topk(workload, n, d, q)
    if kind == "ivf":
        # what VectorIndex.build does: tune nprobe on database vectors used as queries (not on
        # the test queries), to recall@10 >= 0.95 against exact search
        t = time.perf_counter()
        rows = np.sort(np.random.default_rng(5).choice(n, 200, replace=False))
        selfq = np.concatenate([x[rows[(rows >= s) & (rows < s + len(x))] - s] for s, x in chunks(workload, n, d)])
        self_recall = idx.tune(selfq, exact_topk(workload, n, d, selfq))
        tune_s = time.perf_counter() - t
    n_lat = 30 if (kind == "flat" and n >= 1_000_000) else N_QUERIES
    ts = []
    got = np.zeros((N_QUERIES, 10), np.int64)
    idx.search(q[:1], 10)
    for i in range(N_QUERIES):
        t = time.perf_counter()
        got[i] = idx.search(q[i:i + 1], 10)[1][0]
        dt = time.perf_counter() - t
        if i < n_lat:
            ts.append(dt)
        elif kind == "flat":
            break
    if kind == "flat" and n_lat < N_QUERIES:          # the rest in one batch (exact anyway)
        got[n_lat:] = idx.search(q[n_lat:], 10)[1]
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)]))
    out = dict(kind=kind, workload=workload, n=n, dim=d, build_s=round(build, 2),
               p50_ms=round(1000 * float(np.percentile(ts, 50)), 3), p95_ms=round(1000 * float(np.percentile(ts, 95)), 3),
               latency_queries=len(ts), recall_at_10=round(recall, 4),
               index_bytes_per_vector=round(bytes_per_vector(kind, d), 1),
               index_gb_per_million=round(bytes_per_vector(kind, d) * 1e6 / 1e9, 2),
               faiss_threads=faiss.omp_get_max_threads())
    if kind == "ivf":
        out.update(nlist=int(idx.index.nlist), nprobe=int(idx.nprobe), train_s=round(t_train, 2),
                   tune_s=round(tune_s, 2), self_query_recall=round(self_recall, 4),
                   index_memory_gb=round(idx.memory_bytes() / 1e9, 3))
        sweep = []
        for p in (4, 16, 64, 256):
            if p > idx.index.nlist:
                continue
            idx.nprobe = p
            tt, g2 = [], np.zeros_like(got)
            for i in range(N_QUERIES):
                t = time.perf_counter()
                g2[i] = idx.search(q[i:i + 1], 10)[1][0]
                tt.append(time.perf_counter() - t)
            sweep.append(dict(nprobe=p, p50_ms=round(1000 * float(np.percentile(tt, 50)), 3),
                              recall_at_10=round(float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(g2, truth)])), 4)))
        out["nprobe_sweep"] = sweep
    if kind == "flat":
        t = time.perf_counter()
        idx.search(q[:100], 10)
        out["batch100_ms_per_query"] = round(1000 * (time.perf_counter() - t) / 100, 3)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--nice", type=int, default=0, help="niceness of the cases (negative needs root); recorded")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        kind, workload, n = a.case.split(":")
        emit(case(kind, workload, int(n)))
        return
    import os
    if a.nice:
        os.nice(a.nice)
    sizes = [int(float(s)) for s in a.sizes.split(",")]
    rows = []
    for n in sizes:
        for workload in ("uniform", "clustered"):
            kinds = ["flat", "ivf"] + (["hnsw"] if n <= 10_000 else [])
            for kind in kinds:
                r = run_case(Path(__file__), f"{kind}:{workload}:{n}", [], timeout=7200)
                rows.append(r)
                print(f"{n:>8} {workload:9s} {kind:5s} build {r['build_s']:7.1f}s  p50 {r['p50_ms']:8.2f} ms  "
                      f"p95 {r['p95_ms']:8.2f} ms  recall@10 {r['recall_at_10']:.3f}  RSS {r['peak_rss_mib']:.0f} MiB  "
                      f"load {r['load_before']}", flush=True)
    data = dict(benchmark=NAME, when=time.strftime("%Y-%m-%d %H:%M:%S"), machine=machine(), niceness=a.nice,
                load_after=load_snapshot(), results=rows,
                target="p50 < 10 ms per query at 10^6 with recall@10 >= 0.95")
    write_results(NAME, data, _markdown(data))


def _markdown(d) -> str:
    m = d["machine"]
    lines = [f"# Catalogue search: exact vs IVF-SQ8 ({d['when']})", "",
             f"{m['cpu_count']} cores; faiss threads {d['results'][0]['faiss_threads']}; niceness {d['niceness']}. "
             "Command: `.venv/bin/python benchmarks/search.py`", "",
             "| size | workload | index | build s | p50 ms | p95 ms | recall@10 | exact, 100 queries/call: ms/query | "
             "index GB per 10^6 | peak RSS MiB |", "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in d["results"]:
        kind = r["kind"] + (f" (nlist {r['nlist']}, nprobe {r['nprobe']})" if r["kind"] == "ivf" else "")
        lines.append(f"| {r['n']:,} | {r['workload']} | {kind} | {r['build_s']:.1f} | {r['p50_ms']:.2f} | "
                     f"{r['p95_ms']:.2f} | {r['recall_at_10']:.3f} | {r.get('batch100_ms_per_query', '')} | "
                     f"{r['index_gb_per_million']} | {r['peak_rss_mib']:.0f} |")
    lines += ["", "IVF nprobe sweep on the test queries (nprobe: p50 ms / recall@10):", ""]
    for r in d["results"]:
        if r["kind"] == "ivf":
            sw = ", ".join(f"{s['nprobe']}: {s['p50_ms']:.2f} / {s['recall_at_10']:.3f}" for s in r["nprobe_sweep"])
            lines.append(f"* {r['n']:,} {r['workload']}: {sw}")
    loads = [r["load_before"]["other_processes_cores_busy"] for r in d["results"]]
    lines += ["", f"Load from other processes before the cases: {min(loads):.1f}-{max(loads):.1f} cores busy "
              f"(of {m['cpu_count']}). Target: {d['target']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
