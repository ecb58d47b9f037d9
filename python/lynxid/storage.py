"""Atomic file writes and table I/O (Parquet / CSV), shared by every module that writes.

Everything lynxid writes goes through here so that a run killed half way never leaves a
half-written file behind: data goes to a temporary file in the same folder and is renamed
over the target (rename is atomic on POSIX and on NTFS for files on one volume).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

__all__ = ["atomic_path", "write_bytes", "write_text", "write_json", "read_json",
           "write_table", "read_table", "session_file"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()   # read once, at import: os.umask can only be read by setting it


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the permissions open() would, so
        # colleagues on a shared server can read the results
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(target, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def write_json(target, obj: Any) -> Path:
    return write_text(target, json.dumps(obj, indent=2, default=str) + "\n")


def read_json(path) -> Any:
    with open(path, "r", encoding="utf-8") as fh:
        return json.load(fh)


def write_table(df: pd.DataFrame, target, fmt: str | None = None) -> Path:
    """Write ``df`` atomically as Parquet or CSV (chosen from the suffix unless ``fmt``)."""
    target = Path(target)
    fmt = fmt or ("parquet" if target.suffix.lower() in (".parquet", ".pq") else "csv")
    with atomic_path(target) as tmp:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        elif fmt == "csv":
            df.to_csv(tmp, index=False)
        else:
            raise ValueError(f"unknown table format {fmt!r}; use 'parquet' or 'csv'")
    return target


def read_table(path, **csv_kwargs) -> pd.DataFrame:
    """Read a Parquet or CSV table, with a clear error if the file is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"table not found: {path}")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, **csv_kwargs)
    except Exception as exc:  # pragma: no cover - message wrapping
        raise ValueError(f"could not read table {path}: {exc}. Is it a valid CSV or Parquet file?") from exc


def session_file(base: str, session, n_sessions: int, ext: str) -> str:
    """The file name of one session's part of a multi-file format: ``base.ext`` for a single
    session, else ``base_<session>.ext`` with the label made safe for file systems."""
    if n_sessions == 1:
        return f"{base}.{ext}"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(session))
    if safe != str(session):
        # "a b" and "a_b" would share a file: a label changed for the file system gets a tag of its own
        safe += "-" + hashlib.sha1(str(session).encode("utf-8")).hexdigest()[:6]
    return f"{base}_{safe}.{ext}"
