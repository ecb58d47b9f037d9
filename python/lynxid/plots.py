"""Report figures (matplotlib): station map, capture timeline, effort heatmap, score distribution.

Each function takes identify's detections table (a DataFrame or the path of
detections.csv/.parquet) and/or a station table or camera-operation matrix, returns a
matplotlib ``Figure`` and, with ``path=``, saves it (PNG at 150 dpi). Figures are built
without pyplot, so they work headless and never open windows.

What each figure draws comes from a data function (:func:`station_map_data`,
:func:`timeline_data`, :func:`score_data`, :func:`capture_station_data`,
:func:`capture_individual_data`): the R package draws the same figures with ggplot2
(rpkg/R/plots.R) from the same functions, so the two cannot disagree on what is counted.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import storage
from .results import candidate_table
from .times import as_datetimes

__all__ = ["station_map", "capture_timeline", "effort_heatmap", "score_distribution", "best_candidate_probability",
           "detection_events", "station_map_data", "timeline_data", "score_data", "capture_station_data",
           "capture_individual_data"]


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


def detection_events(detections) -> pd.DataFrame:
    """One row per event and individual -- independent detections, not the photos of a
    burst: ``individual_id``, ``event_id``, ``station``, ``timestamp`` (its first photo) and
    ``is_new``. Rejected and unidentified detections are left out."""
    d = _identified(_table(detections, "detections")).copy()
    need = [c for c in ("individual_id", "station") if c not in d]
    if need:
        raise ValueError(f"the detections lack the column(s) {', '.join(need)}")
    d["timestamp"] = as_datetimes(d["timestamp"]) if "timestamp" in d else pd.Series(pd.NaT, index=d.index)
    key = d["event_id"] if "event_id" in d else pd.Series(d.index.astype(str), index=d.index)
    d = d.assign(event_id=key.astype(str), individual_id=d["individual_id"].astype(str),
                 is_new=d["is_new"].astype(bool) if "is_new" in d else False)
    return (d.groupby(["individual_id", "event_id"], sort=False)
            .agg(station=("station", "first"), timestamp=("timestamp", "min"), is_new=("is_new", "max"))
            .reset_index())


def station_map_data(detections, stations, *, station_col: str = "Station", x_col: str = "utm_x",
                     y_col: str = "utm_y") -> dict:
    """What :func:`station_map` draws: ``stations`` (``station, x, y``) and ``points``, one
    per individual and station where it was detected: ``individual_id, station, n`` (events),
    its position ``x, y`` (individuals at one station sit on a small circle around it, so none
    hides another), the individual's centre of detections ``cx, cy`` (weighted by events) and
    ``events``, its events at all stations. ``n_events``: events drawn."""
    det = _table(detections, "detections")
    st = _table(stations, "stations")
    for c in (station_col, x_col, y_col):
        if c not in st:
            raise ValueError(f"station table has no column {c!r} (columns: {', '.join(map(str, st.columns))}); "
                             "pass station_col=, x_col=, y_col=")
    xy = pd.DataFrame({"station": st[station_col].astype(str).to_numpy(), "x": st[x_col].astype(float).to_numpy(),
                       "y": st[y_col].astype(float).to_numpy()})
    ev = detection_events(det)
    ev = ev[ev["station"].astype(str).isin(set(xy["station"]))]
    counts = (ev.assign(station=ev["station"].astype(str)).groupby(["individual_id", "station"]).size()
              .rename("n").reset_index())
    span = float(max(np.ptp(xy["x"].to_numpy()), np.ptp(xy["y"].to_numpy()), 1.0)) if len(xy) else 1.0
    per_station = counts.groupby("station")["individual_id"].transform(lambda s: np.arange(len(s)))
    n_station = counts.groupby("station")["individual_id"].transform("size")
    ang = 2 * np.pi * per_station / n_station
    r = np.where(n_station > 1, 0.025 * span, 0.0)
    at = xy.drop_duplicates("station").set_index("station").loc[counts["station"]]
    counts = counts.assign(x=at["x"].to_numpy() + r * np.cos(ang), y=at["y"].to_numpy() + r * np.sin(ang))
    w = counts.assign(wx=counts["x"] * counts["n"], wy=counts["y"] * counts["n"]).groupby("individual_id")
    centre = pd.DataFrame({"cx": w["wx"].sum() / w["n"].sum(), "cy": w["wy"].sum() / w["n"].sum(),
                           "events": w["n"].sum()})
    counts = counts.join(centre, on="individual_id")
    counts["n"] = counts["n"].astype("int64")
    counts["events"] = counts["events"].astype("int64")
    return {"stations": xy, "points": counts.reset_index(drop=True), "n_events": int(len(ev))}


def station_map(detections, stations, *, station_col: str = "Station", x_col: str = "utm_x", y_col: str = "utm_y",
                path=None, title: str | None = None):
    """Stations (triangles) and, per individual, where it was detected: a dot per station
    (size = number of events), joined to the individual's centre of detections
    (:func:`station_map_data`)."""
    data = station_map_data(detections, stations, station_col=station_col, x_col=x_col, y_col=y_col)
    xy, counts = data["stations"], data["points"]
    inds = sorted(counts["individual_id"].astype(str).unique())
    col = _colours(inds)
    fig = _figure(7.5, 6)
    ax = fig.add_subplot()
    ax.scatter(xy["x"], xy["y"], marker="^", s=70, c="white", edgecolors="0.35", zorder=2, label="station")
    for sname, x, y in zip(xy["station"], xy["x"], xy["y"]):
        ax.annotate(sname, (x, y), xytext=(0, -16), textcoords="offset points", ha="center", fontsize=7, color="0.3",
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7), zorder=5)
    for ind in inds:
        c = counts[counts["individual_id"].astype(str) == ind]
        cx, cy = c["cx"].iat[0], c["cy"].iat[0]
        for x, y in zip(c["x"], c["y"]):
            ax.plot([cx, x], [cy, y], color=col[ind], lw=1, alpha=0.6, zorder=3)
        ax.scatter(c["x"], c["y"], s=25 + 25 * c["n"], color=col[ind], edgecolors="black", linewidths=0.4,
                   zorder=4, label=f"{ind} ({int(c['n'].sum())})")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"{x_col} (m)")
    ax.set_ylabel(f"{y_col} (m)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=8)
    ax.set_title(title or f"Detections per individual: {len(inds)} individuals, {data['n_events']} events")
    if inds:
        ax.legend(title="individual (events)", fontsize=7, title_fontsize=8, loc="center left",
                  bbox_to_anchor=(1.01, 0.5), frameon=False, markerscale=0.6)
    return _save(fig, path)


def timeline_data(detections) -> pd.DataFrame:
    """What :func:`capture_timeline` draws: the events with a time (:func:`detection_events`)
    and ``status`` (``"catalogue"`` or ``"new"``), individuals (``individual_id``, ordered
    by first detection: ``order`` 1 = first)."""
    ev = detection_events(detections).dropna(subset=["timestamp"])
    first = ev.groupby("individual_id")["timestamp"].min().sort_values(kind="stable")
    order = {ind: k + 1 for k, ind in enumerate(first.index.astype(str))}
    return ev.assign(status=np.where(ev["is_new"].to_numpy(bool), "new", "catalogue"),
                     order=ev["individual_id"].map(order).astype("int64")).reset_index(drop=True)


def capture_timeline(detections, *, path=None, title: str | None = None):
    """When each individual was detected: one row per individual, a mark per event
    (hollow for individuals new to the catalogue), coloured by station."""
    ev = timeline_data(detections)
    ts = ev["timestamp"]
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_localize(None)          # local wall clock of the survey
    ev = ev.assign(t=ts)
    inds = list(ev.sort_values("order").drop_duplicates("individual_id")["individual_id"].astype(str))
    stations = sorted(ev["station"].astype(str).unique())
    col = _colours(stations)
    fig = _figure(8, max(2.5, 0.32 * len(inds) + 1.4))
    ax = fig.add_subplot()
    ypos = {ind: k for k, ind in enumerate(inds)}
    for s in stations:
        e = ev[ev["station"].astype(str) == s]
        y = e["individual_id"].astype(str).map(ypos)
        new = (e["status"] == "new").to_numpy()
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


def best_candidate_probability(detections, candidates=None) -> pd.Series:
    """Per detection, the probability of the best catalogue candidate (0 when none), from
    ``candidates`` (:func:`~lynxid.results.candidate_table`'s long table) or else the
    detections' own ``candidates`` column."""
    det = _table(detections, "detections")
    if candidates is None:
        if "candidates" not in det:
            return pd.Series(np.nan, index=det.index)
        candidates = candidate_table(det)
    best = candidates.groupby(candidates["detection_id"].astype(str))["probability"].max()
    return det["detection_id"].astype(str).map(best).fillna(0.0).astype(float)


def score_data(detections, candidates=None, *, new_prefix: str = "NEW-") -> pd.DataFrame:
    """What :func:`score_distribution` draws: one row per event and machine call --
    ``event_id``, ``call`` (the machine's own: ``"known"`` or ``"new"``, also for detections a
    reviewer has decided since), ``best`` (probability of the best catalogue candidate) and
    ``p_new``. ``candidates``: the long candidate table, when the detections have no
    ``candidates`` column."""
    det = _table(detections, "detections").copy()
    if "detection_id" not in det:
        det["detection_id"] = [str(i) for i in range(len(det))]
    if "event_id" not in det:
        det["event_id"] = det["detection_id"]
    det["best"] = best_candidate_probability(det, candidates)
    machine_new = det["is_new"].astype(bool).to_numpy()
    if "machine_individual_id" in det and "decision" in det:
        # a reviewed detection counts with the machine's own call (its provisional NEW- ID)
        machine_new = np.where(det["decision"].isin(["confirmed", "reviewed", "rejected"]),
                               det["machine_individual_id"].astype(object).fillna("").astype(str).str.startswith(new_prefix),
                               machine_new)
    det["call"] = np.where(machine_new, "new", "known")
    ident = det["machine_individual_id"] if "machine_individual_id" in det else det["individual_id"]
    det["_k"] = det["event_id"].astype(object).fillna("").astype(str) + "|" + ident.astype(object).fillna("").astype(str)
    ev = det.groupby("_k", sort=False).agg(event_id=("event_id", "first"), call=("call", "first"),
                                          best=("best", "max"), p_new=("p_new", "max"))
    return ev.reset_index(drop=True).astype({"best": float, "p_new": float})


def score_distribution(detections, *, review_below: float | None = 0.9, new_prefix: str = "NEW-", path=None,
                       title: str | None = None):
    """How sure the machine was, for animals it called known and new: per event, the
    probability of the best catalogue candidate (left) and P(new) (right), from
    :func:`score_data`. Well separated histograms mean clear decisions; the middle is what the
    review report is for."""
    ev = score_data(detections, new_prefix=new_prefix)
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


def _session(ch, session) -> str:
    return str(session) if session is not None else str(ch.sessions[0])


def capture_station_data(ch, session=None) -> pd.DataFrame:
    """Per detector (station) of one session of a capture history: ``detector, x, y``,
    ``detections`` (sum of the counts), ``individuals`` (distinct animals detected) and
    ``operated`` (any effort), in the usage's order: R's ``plot(ch, "stations")``."""
    u = ch.usage_matrix(session)
    s = _session(ch, session)
    d = ch.detections[ch.detections.session.astype(str) == s]
    tr = ch.traps[ch.traps.session.astype(str) == s].set_index("detector").loc[list(u.index)]
    det = d.assign(detector=d.detector.astype(str), individual=d.individual.astype(str))
    n = det.groupby("detector")["count"].sum()
    k = det.groupby("detector")["individual"].nunique()
    ids = pd.Index([str(v) for v in u.index])
    return pd.DataFrame({"detector": list(ids), "x": tr["x"].to_numpy(float), "y": tr["y"].to_numpy(float),
                         "detections": n.reindex(ids, fill_value=0).to_numpy("int64"),
                         "individuals": k.reindex(ids, fill_value=0).to_numpy("int64"),
                         "operated": u.to_numpy().sum(axis=1) > 0})


def capture_individual_data(ch, session=None) -> pd.DataFrame:
    """Per individual of one session of a capture history: ``individual``, ``detections``
    (sum of the counts) and ``stations`` (distinct detectors), fewest detections first:
    R's ``plot(ch, "individuals")``."""
    ch.usage_matrix(session)                       # checks the session
    s = _session(ch, session)
    d = ch.detections[ch.detections.session.astype(str) == s]
    d = d.assign(individual=d.individual.astype(str), detector=d.detector.astype(str))
    g = d.groupby("individual", sort=False)
    out = pd.DataFrame({"detections": g["count"].sum().astype("int64"),
                        "stations": g["detector"].nunique().astype("int64")}).reset_index()
    return out.sort_values("detections", kind="stable").reset_index(drop=True)
