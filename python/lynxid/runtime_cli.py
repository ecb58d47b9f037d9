"""The ``--device/--threads/--batch-size`` options of the commands that compute image features
(``catalogue``, ``identify``, ``evaluate``, ``features``), and the run-time settings they make."""
from __future__ import annotations

__all__ = ["add_runtime_args", "runtime_from_args"]


def add_runtime_args(p) -> None:
    """--device/--threads/--batch-size for commands that compute image features."""
    g = p.add_argument_group("speed")
    g.add_argument("--device", help="where the network runs: cpu, cuda, cuda:1 (default: CUDA when present, else cpu)")
    g.add_argument("--threads", type=int, help="torch threads on a CPU (default: half the cores; the other half "
                   "decode JPEGs)")
    g.add_argument("--batch-size", type=int, help="detections per network call (default: 8 on a CPU, 32 on a GPU)")


def runtime_from_args(a):
    """The :func:`lynxid.features.runtime` block for parsed arguments ``a`` (absent options: defaults)."""
    from .features import runtime
    return runtime(device=getattr(a, "device", None), threads=getattr(a, "threads", None),
                   batch_size=getattr(a, "batch_size", None))
