"""One log of what was left out of the inputs or looks wrong, and why.

lynxid drops nothing silently: every file, table row or record that is not used, and every
value that is used but looks suspicious, becomes one line ``<where>, stage, severity,
reason``. ``where`` is what the user can look up: the data row of a table (``key="row"``,
counted from 1 under a CSV header, so row 1 is line 2 of the file; ``"-"`` for the whole
table) or an image file (``key="file"``).

``severity`` is ``error`` (collected, then raised together by :meth:`IssuesLog.raise_errors`
so that the user sees every problem at once), ``warning`` (the data are used; check them),
``excluded`` (left out of the result), ``filtered`` (left out by a rule the user asked for,
e.g. temporal independence), ``skipped`` (not an input at all, e.g. a text file in an image
folder) or ``info``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["IssuesLog", "SEVERITIES"]

SEVERITIES = ("error", "warning", "excluded", "filtered", "skipped", "info")


class IssuesLog:
    """Collects issues as ``<key>, stage, severity, reason`` rows (``key`` is ``"row"`` or
    ``"file"``); cheap to add to in bulk (one frame per call, not one dict per row)."""

    def __init__(self, key: str = "row"):
        self.key = key
        self._frames: list[pd.DataFrame] = []

    @property
    def columns(self) -> list[str]:
        return [self.key, "stage", "severity", "reason"]

    def add(self, where, stage: str, severity: str, reason):
        """Add one issue per entry of ``where``; ``where`` and ``reason`` may be scalars or
        arrays (a scalar reason is shared by every row)."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        where = np.atleast_1d(np.asarray(where, dtype=object))
        if where.size == 0:
            return
        reason = np.broadcast_to(np.asarray(reason, dtype=object), where.shape)
        self._frames.append(pd.DataFrame({self.key: where, "stage": stage, "severity": severity,
                                          "reason": reason}))

    def extend(self, other: "IssuesLog | pd.DataFrame | None"):
        """Append another log's issues (or a table with this log's columns)."""
        if other is None:
            return
        df = other.table() if isinstance(other, IssuesLog) else other
        if len(df):
            self._frames.append(df[self.columns])

    def table(self) -> pd.DataFrame:
        if not self._frames:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in self.columns})
        return pd.concat(self._frames, ignore_index=True)

    def records(self) -> list[dict]:
        """The issues as a list of dicts (for JSON)."""
        return self.table().to_dict("records")

    def errors(self) -> pd.DataFrame:
        t = self.table()
        return t[t.severity == "error"]

    def raise_errors(self, what: str, max_lines: int = 25):
        """Raise one ValueError listing every ``error`` (the first ``max_lines``)."""
        err = self.errors()
        if len(err):
            lines = [f"  {self.key} {r}: {m}" if r not in (None, "", "-") else f"  {m}"
                     for r, m in zip(err[self.key], err.reason)]
            more = f"\n  ... and {len(lines) - max_lines} more" if len(lines) > max_lines else ""
            raise ValueError(f"{what}: {len(err)} problem(s) to fix:\n" + "\n".join(lines[:max_lines]) + more)

    def __len__(self):
        return sum(len(f) for f in self._frames)
