"""Capture histories from one flank only (``capture_history(..., flank="left")``).

A spotted cat's left and right flanks carry different patterns, so a photo of one flank
cannot be matched to a photo of the other. Where the survey links the two (paired cameras
photographing both flanks at once, and an identity that holds both), the capture history
uses every detection (``flank=None``, the default). Where it cannot, or to check the linking,
the standard practice is a capture history from one flank only: the left-only and the
right-only histories each describe the whole population, from fewer detections, without
relying on any link between flanks.

This module is that filter, one phase of :func:`lynxid.capture.capture_history`, run on the
:class:`~lynxid.records.RecordLog` before any other: the detections of the other flank and
those whose flank is not known are left out *and listed*, each with its reason, as every
other record left out is (status ``filtered``: they are left out by choice, so ``strict``
does not stop on them). The flank column is read with the words flank tags are read with
(:func:`lynxid.ingest.flank_from_tag`: ``left``/``right`` and their usual translations), so
a detections table gives the same flanks whether it came from ``identify`` or from a
record table tagged by hand.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .records import RecordLog

__all__ = ["FLANKS", "FLANK_COLUMN", "check_flank", "record_flanks", "keep_flank"]

FLANKS = ("left", "right")
FLANK_COLUMN = "flank"      # identify's output column (found in any case: Flank, FLANK)


def check_flank(flank) -> str | None:
    """``flank`` as ``"left"``, ``"right"`` or None (every detection, flanks linked by
    identity); anything else is an error, so that a typo never silently gives the linked
    history."""
    if flank is None:
        return None
    if isinstance(flank, str) and flank.strip().lower() in FLANKS:
        return flank.strip().lower()
    raise ValueError(f"flank must be None (every detection, flanks linked by identity), 'left' or 'right', "
                     f"not {flank!r}")


def record_flanks(frame: pd.DataFrame, flank: str, source: str) -> np.ndarray:
    """Each record's flank (``left``/``right``/None), read from the ``flank`` column of the
    detections table ``frame``; an error when there is no such column or no detection of
    ``flank`` in it, since a capture history of that flank would then be empty by mistake."""
    from .ingest import Issues, flank_from_tag

    col = next((c for c in frame.columns if str(c).strip().lower() == FLANK_COLUMN), None)
    if col is None:
        raise ValueError(f"{source}: flank={flank!r} needs a {FLANK_COLUMN!r} column (left / right per "
                         f"detection, as identify writes it from flank tags); columns are: "
                         f"{', '.join(map(str, frame.columns))}")
    raw = frame[col].reset_index(drop=True).astype("string").str.strip()
    codes, values = pd.factorize(raw)          # one look-up per distinct value; NA is code -1
    read = np.array([flank_from_tag(str(v), "", Issues()) for v in values] + [None], dtype=object)
    flanks = read[codes]
    if not (flanks == flank).any():
        found = ", ".join(repr(str(v)) for v in values[:10]) or "nothing"
        raise ValueError(f"{source}: no detection of the {flank} flank (column {col!r} holds {found})")
    return flanks


def keep_flank(log: RecordLog, flanks: np.ndarray, flank: str) -> None:
    """Leave out, with their reasons, the records (still in use) of the other flank and those
    without a known flank; ``flanks`` as :func:`record_flanks` gives them."""
    vi = log.in_use()
    other = vi[(flanks[vi] != flank) & pd.notna(flanks[vi])]
    unknown = vi[pd.isna(flanks[vi])]
    log.leave_out(other, "filtered", "other flank", "filtered",
                  f"a {'right' if flank == 'left' else 'left'} flank: the capture history is of the {flank} flank "
                  f"only (flank={flank!r})")
    log.leave_out(unknown, "filtered", "flank unknown", "filtered",
                  f"no known flank: the capture history is of the {flank} flank only (flank={flank!r})")
