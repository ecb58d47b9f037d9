"""Group detections into events: photos of one passage of an animal in front of a station.

Trail cameras fire bursts, and paired cameras photograph both flanks of one animal within
seconds. Images at the same station less than ``gap`` seconds apart (chained) form one
event; identification then pools the evidence of all the event's photos. An event is
assumed to show one animal unless an image in it holds several boxes: then its detections
are identified separately.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["assign_events", "DEFAULT_GAP_SECONDS"]

DEFAULT_GAP_SECONDS = 20.0


def assign_events(det: pd.DataFrame, gap_seconds: float = DEFAULT_GAP_SECONDS, station: str = "station",
                  time: str = "timestamp", image: str = "file") -> pd.DataFrame:
    """Return ``det`` with ``event_id`` (the passage) and ``unit_id`` (what is identified as
    one animal: the event, or the single detection where an event has several animals)."""
    out = det.copy()
    n = len(out)
    if n == 0:
        out["event_id"] = pd.Series(dtype=str)
        out["unit_id"] = pd.Series(dtype=str)
        return out
    ts = pd.to_datetime(out[time], errors="coerce") if time in out else pd.Series(pd.NaT, index=out.index)
    st = out[station].astype(object).where(out[station].notna(), None) if station in out else pd.Series([None] * n)
    # stable order: station, time; rows without time or station are events of their own
    secs = np.full(n, np.nan)
    have = ts.notna().to_numpy() & st.notna().to_numpy()
    if have.any():
        tsv = ts[have]
        if getattr(tsv.dt, "tz", None) is not None:
            tsv = tsv.dt.tz_convert("UTC")
        secs[have] = (tsv - pd.Timestamp("1970-01-01", tz=tsv.dt.tz)).dt.total_seconds().to_numpy()
    key = pd.DataFrame({"st": st.fillna("").astype(str).to_numpy(), "t": secs, "i": np.arange(n)})
    key = key.sort_values(["st", "t", "i"], kind="mergesort")
    prev_st = key["st"].shift()
    dt = key["t"].diff()
    new = (key["st"] != prev_st) | ~(dt <= gap_seconds) | key["t"].isna() | (key["st"] == "")
    ev_num = np.cumsum(new.to_numpy())
    event = np.empty(n, dtype=object)
    event[key["i"].to_numpy()] = [f"EV{k:05d}" for k in ev_num]
    out["event_id"] = event
    # several boxes in one image => several animals: identify those detections one by one
    if image in out:
        per_image = out.groupby(image)[image].transform("size")
        multi = out.assign(_m=per_image > 1).groupby("event_id")["_m"].transform("any")
    else:
        multi = pd.Series(False, index=out.index)
    did = out["detection_id"] if "detection_id" in out else pd.Series(np.arange(n).astype(str), index=out.index)
    out["unit_id"] = np.where(multi, out["event_id"] + "/" + did.astype(str), out["event_id"])
    return out
