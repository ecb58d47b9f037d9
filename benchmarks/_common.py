"""Helpers shared by the benchmarks: machine/load description, isolated runs, result files.

Each timed case runs in a fresh Python process (``run_case``) so that its peak memory
(maximum RSS) is its own and one case's warm caches or threads do not help another.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "benchmarks" / "_work"
sys.path.insert(0, str(ROOT / "python"))


def machine() -> dict:
    """What the figures were measured on, including how busy the machine was."""
    import psutil
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "processor": platform.processor() or platform.machine()}
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads_default"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return info


def load_snapshot(sample_s: float = 1.0) -> dict:
    """Load average and the CPU used by *other* processes (cores) over ``sample_s`` seconds."""
    import psutil
    me = os.getpid()
    procs = [p for p in psutil.process_iter(["pid"]) if p.pid != me]
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(sample_s)
    busy = 0.0
    for p in procs:
        try:
            busy += p.cpu_percent(None)
        except psutil.Error:
            pass
    return {"loadavg_1m": round(os.getloadavg()[0], 2), "other_processes_cores_busy": round(busy / 100, 2)}


def run_case(script: Path, case: str, args: list[str], env: dict | None = None, timeout: float = 3600) -> dict:
    """Run ``script --case CASE args`` in a fresh interpreter; it prints one JSON line last."""
    e = dict(os.environ)
    e.update(env or {})
    before = load_snapshot(0.5)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(script), "--case", case, *args], capture_output=True, text=True,
                         env=e, timeout=timeout, cwd=ROOT)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = round(wall, 2)
    res["load_before"] = before
    return res


def peak_rss_mib() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(r / 1024 / (1024 if sys.platform == "darwin" else 1), 1)


def emit(obj: dict) -> None:
    """Last line of a case's stdout: its result as JSON."""
    obj["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(obj), flush=True)


def machine_line(info: dict) -> str:
    """The results' closing line for a run that recorded ``{"machine": machine(), "load":
    load_snapshot()}``."""
    return (f"Machine: {info['machine']['processor']}, {info['machine']['cpu_count']} cores shared with other jobs; "
            f"load before: {info['load']}.")


def dataset_footer(res: dict) -> list:
    """The closing lines of a per-dataset results table: each dataset's command, then the
    machine (``res["datasets"][name]["command"]``, ``res["machine"]``)."""
    return (["", "Commands:", ""] + [f"- {n}: `{r['command']}`" for n, r in res["datasets"].items()]
            + ["", f"Machine: {res['machine']}.", ""])


def write_results(name: str, data: dict, markdown: str) -> None:
    from lynxid import storage
    storage.write_json(RESULTS / f"{name}.json", data)
    storage.write_text(RESULTS / f"{name}.md", markdown)
    print(markdown)
