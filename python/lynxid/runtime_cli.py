"""The ``--device/--threads/--batch-size`` options of the commands that compute image features
(``catalogue``, ``identify``, ``evaluate``, ``features``), the run-time settings they make, and
the ``--cache-dir`` option of ``identify``, ``evaluate`` and ``features`` (the API's and R's
``cache_dir``)."""
from __future__ import annotations

import argparse
import sys

__all__ = ["add_cache_dir_arg", "add_runtime_args", "runtime_from_args"]


class _OldCacheOption(argparse.Action):
    """``--cache``, the old spelling of ``--cache-dir``: still accepted, with a note on stderr."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: note: {option_string} is deprecated; use --cache-dir", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_cache_dir_arg(p, help: str, required: bool = False) -> None:
    """``--cache-dir DIR`` (``a.cache_dir``); the old ``--cache`` still works, hidden from --help."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--cache-dir", metavar="DIR", help=help)
    g.add_argument("--cache", dest="cache_dir", action=_OldCacheOption, help=argparse.SUPPRESS)


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
