"""Unions and intersections of many time intervals at once, by group: the one sweep that
camera operation (working time of cameras and stations) and camtrapR's rules (merged
malfunction periods) both need.
"""
from __future__ import annotations

import numpy as np

__all__ = ["sweep_intervals"]


def sweep_intervals(group: np.ndarray, start: np.ndarray, end: np.ndarray, channel: np.ndarray, n_channels: int,
           keep) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals where ``keep(counts, group)`` holds, per group.

    ``counts[:, c]`` is how many input intervals of channel ``c`` cover a stretch of time.
    Returns merged half-open intervals ``(group, start, end)`` sorted by group and start.
    """
    m = len(group)
    if m == 0:
        e = np.array([], dtype=np.int64)
        return e, e, e
    g = np.concatenate([group, group]).astype(np.int64)
    t = np.concatenate([start, end]).astype(np.int64)
    delta = np.zeros((2 * m, n_channels), dtype=np.int32)
    delta[np.arange(m), channel] = 1
    delta[m + np.arange(m), channel] = -1
    order = np.lexsort((t, g))
    g, t, delta = g[order], t[order], delta[order]
    counts = np.cumsum(delta, axis=0)
    same = g[:-1] == g[1:]
    seg_s, seg_e, seg_g = t[:-1], t[1:], g[:-1]
    ok = same & (seg_e > seg_s) & keep(counts[:-1], seg_g)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        e = np.array([], dtype=np.int64)
        return e, e, e
    s_, e_, g_ = seg_s[idx], seg_e[idx], seg_g[idx]
    new_run = np.ones(idx.size, dtype=bool)
    new_run[1:] = (g_[1:] != g_[:-1]) | (s_[1:] != e_[:-1])
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], idx.size) - 1
    return g_[starts], s_[starts], e_[ends]
