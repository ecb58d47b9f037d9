"""Report figures (matplotlib): station map, capture timeline, effort heatmap, score distribution.

Each function takes identify's detections table (a DataFrame or the path of
detections.csv/.parquet) and/or a station table or camera-operation matrix, returns a
matplotlib ``Figure`` and, with ``path=``, saves it (PNG at 150 dpi). Figures are built
without pyplot, so they work headless and never open windows. The R package draws the
same figures with ggplot2 (rpkg/R/plots.R).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage

__all__ = ["station_map", "capture_timeline", "effort_heatmap", "score_distribution", "best_candidate_probability"]


def _table(x, what: str) -> pd.DataFrame:
    if isinstance(x, pd.DataFrame):
        return x
    if isinstance(x, (str, Path)):
        p = Path(x)
        if p.is_dir():
            p = p / "detections.parquet"
        return storage.read_table(p)
    raise TypeError(f"{what} must be a DataFrame or the path of a CSV/Parquet file")


def _figure(w: float, h: float):
    from matplotlib.figure import Figure
    return Figure(figsize=(w, h), layout="constrained")


def _save(fig, path):
    if path is not None:
        with storage.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, format=Path(path).suffix.lstrip(".") or "png")
    return fig


def _colours(names):
    from matplotlib import colormaps
    cmap = colormaps["tab20" if len(names) > 10 else "tab10"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def _identified(det: pd.DataFrame) -> pd.DataFrame:
    """Detections with an individual (rejected and unidentified ones are not drawn)."""
    return det[det["individual_id"].notna() & (det["individual_id"].astype(str) != "")]


def _events(det: pd.DataFrame) -> pd.DataFrame:
    """One row per event and individual: independent detections, not photos of a burst."""
    d = _identified(det).copy()
    d["timestamp"] = pd.to_datetime(d["timestamp"], errors="coerce") if "timestamp" in d else pd.NaT
    key = d["event_id"] if "event_id" in d else d.index.astype(str)
    d = d.assign(_ev=key.astype(str))
    agg = {"station": "first", "timestamp": "min"}
    if "is_new" in d:
        agg["is_new"] = "max"
    return d.groupby(["individual_id", "_ev"], sort=False).agg(agg).reset_index()


def station_map(detections, stations, *, station_col: str = "Station", x_col: str = "utm_x", y_col: str = "utm_y",
                path=None, title: str | None = None):
    """Stations (triangles) and, per individual, where it was detected: a dot per station
    (size = number of events), joined to the individual's centre of detections."""
    det = _table(detections, "detections")
    st = _table(stations, "stations")
    for c in (station_col, x_col, y_col):
        if c not in st:
            raise ValueError(f"station table has no column {c!r} (columns: {', '.join(map(str, st.columns))}); "
                             "pass station_col=, x_col=, y_col=")
    xy = st.set_index(st[station_col].astype(str))[[x_col, y_col]].astype(float)
    ev = _events(det)
    ev = ev[ev["station"].astype(str).isin(xy.index)]
    counts = ev.groupby(["individual_id", "station"]).size().rename("n").reset_index()
    inds = sorted(counts["individual_id"].astype(str).unique())
    col = _colours(inds)
    fig = _figure(7.5, 6)
    ax = fig.add_subplot()
    ax.scatter(xy[x_col], xy[y_col], marker="^", s=70, c="white", edgecolors="0.35", zorder=2, label="station")
    span = float(max(np.ptp(xy[x_col].to_numpy()), np.ptp(xy[y_col].to_numpy()), 1.0))
    for sname, (x, y) in xy.iterrows():
        ax.annotate(sname, (x, y), xytext=(0, -16), textcoords="offset points", ha="center", fontsize=7, color="0.3",
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7), zorder=5)
    # individuals at one station sit on a small circle around it, so none hides another
    per_station = counts.groupby("station")["individual_id"].transform(lambda s: np.arange(len(s)))
    n_station = counts.groupby("station")["individual_id"].transform("size")
    ang = 2 * np.pi * per_station / n_station
    r = np.where(n_station > 1, 0.025 * span, 0.0)
    counts = counts.assign(x=xy.loc[counts["station"].astype(str), x_col].to_numpy() + r * np.cos(ang),
                           y=xy.loc[counts["station"].astype(str), y_col].to_numpy() + r * np.sin(ang))
    for ind in inds:
        c = counts[counts["individual_id"].astype(str) == ind]
        cx, cy = np.average(c["x"], weights=c["n"]), np.average(c["y"], weights=c["n"])
        for x, y in zip(c["x"], c["y"]):
            ax.plot([cx, x], [cy, y], color=col[ind], lw=1, alpha=0.6, zorder=3)
        ax.scatter(c["x"], c["y"], s=25 + 25 * c["n"], color=col[ind], edgecolors="black", linewidths=0.4,
                   zorder=4, label=f"{ind} ({int(c['n'].sum())})")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"{x_col} (m)")
    ax.set_ylabel(f"{y_col} (m)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=8)
    ax.set_title(title or f"Detections per individual: {len(inds)} individuals, {len(ev)} events")
    if inds:
        ax.legend(title="individual (events)", fontsize=7, title_fontsize=8, loc="center left",
                  bbox_to_anchor=(1.01, 0.5), frameon=False, markerscale=0.6)
    return _save(fig, path)


def capture_timeline(detections, *, path=None, title: str | None = None):
    """When each individual was detected: one row per individual, a mark per event
    (hollow for individuals new to the catalogue), coloured by station."""
    det = _table(detections, "detections")
    ev = _events(det).dropna(subset=["timestamp"])
    ts = ev["timestamp"]
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_localize(None)          # local wall clock of the survey
    ev = ev.assign(t=ts)
    first = ev.groupby("individual_id")["t"].min().sort_values()
    inds = list(first.index.astype(str))
    stations = sorted(ev["station"].astype(str).unique())
    col = _colours(stations)
    fig = _figure(8, max(2.5, 0.32 * len(inds) + 1.4))
    ax = fig.add_subplot()
    ypos = {ind: k for k, ind in enumerate(inds)}
    for s in stations:
        e = ev[ev["station"].astype(str) == s]
        y = e["individual_id"].astype(str).map(ypos)
        new = e["is_new"].astype(bool).to_numpy() if "is_new" in e else np.zeros(len(e), bool)
        ax.scatter(e["t"][~new], y[~new], color=col[s], s=36, label=s, zorder=3)
        ax.scatter(e["t"][new], y[new], facecolors="none", edgecolors=col[s], s=36, linewidths=1.5, zorder=3)
    ax.set_yticks(range(len(inds)), inds, fontsize=8)
    ax.set_ylim(-0.7, len(inds) - 0.3)
    ax.invert_yaxis()
    ax.grid(axis="x", color="0.9")
    ax.grid(axis="y", color="0.95")
    ax.set_xlabel("date")
    ax.tick_params(axis="x", labelsize=8)
    fig.autofmt_xdate() if len(ev) else None
    ax.set_title(title or "Capture timeline (filled: catalogue individual, hollow: new)")
    if stations:
        ax.legend(title="station", fontsize=7, title_fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5),
                  frameon=False, ncols=1 if len(stations) <= 16 else 2)
    return _save(fig, path)


def effort_heatmap(effort, *, path=None, title: str | None = None, session=None):
    """Effort per station (row) and occasion or day (column): a camera-operation matrix
    (``lynxid.effort.camera_operation``), a usage matrix, or a CaptureHistory (its usage).
    Grey: no camera deployed (NaN); 0: deployed but not working."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    if hasattr(effort, "usage_matrix"):
        m = effort.usage_matrix(session)
        xlabel = "occasion"
    else:
        m = _table(effort, "effort")
        xlabel = "day"
        first = m.columns[0]
        if not pd.api.types.is_numeric_dtype(m[first]):           # station names as a column (from a CSV)
            m = m.set_index(first)
    m = m.astype(float)
    vals = m.to_numpy()
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    vmax = max(1.0, float(np.nanmax(vals))) if np.isfinite(vals).any() else 1.0
    fig = _figure(min(14, 3 + 0.12 * m.shape[1]), max(2.5, 0.28 * m.shape[0] + 1.4))
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(vals), aspect="auto", cmap=cmap, norm=Normalize(0, vmax),
                   interpolation="nearest")
    ax.set_yticks(range(m.shape[0]), [str(v) for v in m.index], fontsize=8)
    step = max(1, m.shape[1] // 12)
    ticks = list(range(0, m.shape[1], step))
    ax.set_xticks(ticks, [str(m.columns[i]) for i in ticks], fontsize=7, rotation=45, ha="right")
    ax.set_xlabel(xlabel)
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.set_label("days of effort")
    total = np.nansum(vals)
    ax.set_title(title or f"Effort: {total:.1f} trap-days at {m.shape[0]} stations (grey: not deployed)")
    return _save(fig, path)


def best_candidate_probability(detections) -> pd.Series:
    """Per detection, the probability of the best catalogue candidate (0 when none)."""
    det = _table(detections, "detections")

    def best(c):
        try:
            lst = json.loads(c) if isinstance(c, str) and c else []
        except ValueError:
            lst = []
        return max((float(x["probability"]) for x in lst), default=0.0)
    return det["candidates"].map(best) if "candidates" in det else pd.Series(np.nan, index=det.index)


def score_distribution(detections, *, review_below: float | None = 0.9, new_prefix: str = "NEW-", path=None,
                       title: str | None = None):
    """How sure the machine was, for animals it called known and new: per event, the
    probability of the best catalogue candidate (left) and P(new) (right). Well separated
    histograms mean clear decisions; the middle is what the review report is for."""
    det = _table(detections, "detections").copy()
    det["best"] = best_candidate_probability(det)
    machine_new = det["is_new"].astype(bool)
    if "machine_individual_id" in det and "decision" in det:
        # a reviewed detection is plotted with the machine's own call (its provisional NEW- ID)
        machine_new = np.where(det["decision"].isin(["confirmed", "reviewed", "rejected"]),
                               det["machine_individual_id"].astype(object).fillna("").astype(str).str.startswith(new_prefix),
                               machine_new)
    det["call"] = np.where(machine_new, "new", "known")
    ident = det["machine_individual_id"] if "machine_individual_id" in det else det["individual_id"]
    key = det["event_id"].astype(object).fillna("").astype(str) + "|" + ident.astype(object).fillna("").astype(str)
    ev = det.assign(_k=key).groupby("_k").agg(best=("best", "max"), p_new=("p_new", "max"), call=("call", "first"))
    fig = _figure(9, 3.6)
    axes = fig.subplots(1, 2, sharey=True)
    bins = np.linspace(0, 1, 21)
    colours = {"known": "#2e7d32", "new": "#6a1b9a"}
    for ax, col, label in ((axes[0], "best", "probability of the best catalogue candidate"),
                           (axes[1], "p_new", "P(new individual)")):
        data = [ev.loc[ev["call"] == c, col].astype(float).dropna() for c in ("known", "new")]
        ax.hist(data, bins=bins, stacked=True, color=[colours["known"], colours["new"]],
                label=[f"called known ({len(data[0])})", f"called new ({len(data[1])})"], edgecolor="white")
        ax.set_xlabel(label)
        ax.set_xlim(0, 1)
        ax.grid(axis="y", color="0.92")
    if review_below is not None:
        axes[0].axvline(review_below, color="0.3", ls=":", lw=1)
        axes[0].annotate(f"review below {review_below:g}", (review_below, 1), xycoords=("data", "axes fraction"),
                         xytext=(-3, -12), textcoords="offset points", fontsize=7, color="0.3", ha="right")
    axes[0].set_ylabel("events")
    axes[0].legend(fontsize=8, frameon=False, loc="upper left")
    fig.suptitle(title or f"Identification scores of {len(ev)} events", fontsize=11)
    return _save(fig, path)
