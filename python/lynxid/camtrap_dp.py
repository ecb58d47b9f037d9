"""Camera Trap Data Package (Camtrap DP 1.0) export of a capture history, with the UTM ->
longitude/latitude conversion it needs (``lynxid.export`` re-exports :func:`write_camtrap_dp`
and :func:`utm_to_lonlat`; ``write_formats(..., "camtrapdp")`` calls it)."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage
from .capture import CaptureHistory

__all__ = ["utm_to_lonlat", "write_camtrap_dp"]


def utm_to_lonlat(easting, northing, zone: int, south: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 UTM -> (longitude, latitude) in degrees (Krueger series to n^3, about 1 mm)."""
    a, f = 6378137.0, 1 / 298.257223563
    n = f / (2 - f)
    A = a / (1 + n) * (1 + n ** 2 / 4 + n ** 4 / 64)
    beta = [n / 2 - 2 / 3 * n ** 2 + 37 / 96 * n ** 3, 1 / 48 * n ** 2 + 1 / 15 * n ** 3, 17 / 480 * n ** 3]
    delta = [2 * n - 2 / 3 * n ** 2 - 2 * n ** 3, 7 / 3 * n ** 2 - 8 / 5 * n ** 3, 56 / 15 * n ** 3]
    k0 = 0.9996
    E = np.asarray(easting, dtype=float) - 500000.0
    N = np.asarray(northing, dtype=float) - (10_000_000.0 if south else 0.0)
    xi = N / (k0 * A)
    eta = E / (k0 * A)
    xp, ep = xi.copy(), eta.copy()
    for j, b in enumerate(beta, start=1):
        xp = xp - b * np.sin(2 * j * xi) * np.cosh(2 * j * eta)
        ep = ep - b * np.cos(2 * j * xi) * np.sinh(2 * j * eta)
    chi = np.arcsin(np.sin(xp) / np.cosh(ep))
    lat = chi.copy()
    for j, d in enumerate(delta, start=1):
        lat = lat + d * np.sin(2 * j * chi)
    lon0 = math.radians(zone * 6 - 183)
    lon = lon0 + np.arctan2(np.sinh(ep), np.cos(xp))
    return np.degrees(lon), np.degrees(lat)


def _parse_crs(crs) -> tuple[int, bool]:
    s = str(crs).strip().upper().replace(" ", "")
    m = re.fullmatch(r"(?:EPSG:)?32([67])(\d{2})", s)
    if m:
        return int(m.group(2)), m.group(1) == "7"
    m = re.fullmatch(r"UTM(?:ZONE)?(\d{1,2})([NS])", s)
    if m:
        return int(m.group(1)), m.group(2) == "S"
    raise ValueError(f"crs {crs!r}: give a WGS84 UTM zone as 'EPSG:326NN' / 'EPSG:327NN' or 'UTM 33N', or put "
                     "'latitude' and 'longitude' columns in the station table (as covariate_cols)")


def _iso(ns, tz) -> pd.Series:
    from .stations import _zone
    t = pd.Series(pd.to_datetime(np.asarray(ns, dtype=np.int64)))
    # Camtrap DP requires every time: a wall-clock time in the hour repeated when clocks go back
    # is taken as its first (summer-time) occurrence, one in the skipped hour moves forward
    t = t.dt.tz_localize(_zone(tz), ambiguous=np.ones(len(t), dtype=bool), nonexistent="shift_forward")
    return t.map(lambda v: v.isoformat() if not pd.isna(v) else "")


def write_camtrap_dp(ch: CaptureHistory, out_dir, *, crs=None, scientific_name: str | None = None,
                     title: str = "lynxid camera-trap survey", contributors: list | None = None) -> dict:
    """A Camera Trap Data Package (Camtrap DP 1.0) in ``out_dir/camtrap-dp``.

    Deployments are the working periods of each camera: a deployment with a malfunction is
    split in two at the Problem period (camtrapR's ``readcamtrapDP`` reads such gaps back as
    Problems). Media are the image files, observations one per record with
    ``individualID``. Coordinates need ``crs`` (a WGS84 UTM zone) or ``latitude`` /
    ``longitude`` station covariates; times need the survey time zone (``tz`` of the capture
    history).
    """
    from .effort import operating_intervals
    st = ch.station_table
    raw = ch.raw_detections
    if st is None or raw is None:
        raise ValueError("this capture history does not carry its inputs; build it with capture_history()")
    tz = ch.settings.get("tz")
    if not tz:
        raise ValueError("Camtrap DP needs times with a UTC offset: give the survey time zone (tz=, camtrapR's timeZone)")
    out = Path(out_dir) / "camtrap-dp"
    issues = []
    dep = st.deployments.reset_index(drop=True)
    units = operating_intervals(st, by_camera=True)
    g, s_, e_, _ = units.work
    # coordinates
    if "latitude" in dep.columns and "longitude" in dep.columns:
        lat, lon = pd.to_numeric(dep.latitude, errors="coerce").to_numpy(), pd.to_numeric(dep.longitude, errors="coerce").to_numpy()
    elif crs is not None:
        zone, south = _parse_crs(crs)
        lon, lat = utm_to_lonlat(dep.x.to_numpy(), dep.y.to_numpy(), zone, south)
    else:
        lat = lon = np.full(len(dep), np.nan)
        issues.append("no crs and no latitude/longitude columns: deployments.csv has empty latitude/longitude, "
                      "which Camtrap DP requires; pass crs='EPSG:326NN'")
    part = pd.Series(g).groupby(g).cumcount().to_numpy() + 1
    nparts = np.bincount(g, minlength=len(dep))[g]
    base = dep.station.astype(str).to_numpy(object)[g]
    if st.has_cameras:
        base = base + "_" + dep.camera.astype(str).to_numpy(object)[g]
    if st.has_sessions:
        base = base + "_s" + dep.session.astype(str).to_numpy(object)[g]
    dep_id = np.where(nparts > 1, base + "_" + part.astype(str), base)
    deployments = pd.DataFrame({
        "deploymentID": dep_id, "locationID": dep.station.to_numpy(object)[g],
        "locationName": dep.station.to_numpy(object)[g], "latitude": np.round(lat[g], 6), "longitude": np.round(lon[g], 6),
        "deploymentStart": _iso(s_, tz).to_numpy(), "deploymentEnd": _iso(e_, tz).to_numpy(),
        "cameraID": dep.camera.to_numpy(object)[g] if st.has_cameras else None,
        "deploymentGroups": ("session:" + dep.session.astype(str).to_numpy(object)[g]) if st.has_sessions else None,
        "deploymentComments": np.where(nparts > 1, "working period " + part.astype(str) + " of " + nparts.astype(str)
                                       + " (split at malfunction periods of the station table)", None)})
    storage.write_table(deployments, out / "deployments.csv")

    # records -> deployment working periods
    rec = ch.records
    # every identified record of the focal species is an observation (effort or not); records
    # of other species are not: they would be written under the focal scientificName
    okrec = rec[rec.station.notna() & rec.time.notna() & rec.individual.notna() & (rec.reason != "other species")]
    dep_key = pd.DataFrame({"unit": g, "start": s_, "end": e_, "deploymentID": dep_id,
                            "station": dep.station.to_numpy(object)[g],
                            "camera": dep.camera.astype(object).to_numpy()[g],
                            "session": dep.session.to_numpy(object)[g]})
    r = okrec[["row", "station", "camera", "session", "time", "individual"]].copy()
    r["t"] = r.time.to_numpy("datetime64[ns]").view(np.int64)
    if st.has_cameras:
        # a record without a camera (a table with none) is matched to whichever camera of its
        # station was working: the station's deployments are added under the station alone
        no_cam = r.camera.isna().to_numpy()
        r["_k"] = np.where(no_cam, r.station.astype(str), r.station.astype(str) + "\x1f" + r.camera.astype(str))
        by_station = dep_key.assign(_k=dep_key.station.astype(str))
        dep_key["_k"] = dep_key.station.astype(str) + "\x1f" + dep_key.camera.astype(str)
        if no_cam.any():
            dep_key = pd.concat([dep_key, by_station], ignore_index=True)
            issues.append(f"{int(no_cam.sum())} observation(s) have no camera: each is attached to a working "
                          "deployment of its station")
    else:
        r["_k"] = r.station.astype(str)
        dep_key["_k"] = dep_key.station.astype(str)
    r = r.sort_values("t")
    dk = dep_key.sort_values("start")
    m = pd.merge_asof(r, dk[["start", "end", "deploymentID", "_k"]], left_on="t", right_on="start", by="_k",
                      direction="backward")
    inside = m.end > m.t
    nearest = pd.merge_asof(r, dk[["start", "deploymentID", "_k"]], left_on="t", right_on="start", by="_k",
                            direction="nearest")
    m["deploymentID"] = np.where(inside, m.deploymentID, nearest.deploymentID.to_numpy())
    if (~inside).any():
        issues.append(f"{int((~inside).sum())} observation(s) fall outside every working period of their camera; "
                      "they are attached to the nearest deployment")
    nodep = m.deploymentID.isna()
    if nodep.any():
        issues.append(f"{int(nodep.sum())} observation(s) have no deployment (their station/camera is not in the "
                      "station table) and are left out")
        m = m[~nodep]
    m = m.sort_values("row")
    rawr = raw.reset_index(drop=True).iloc[m.row.to_numpy() - 1]
    def col(*names):
        for c in names:
            if c in rawr.columns:
                return rawr[c].to_numpy()
        return None
    path = col("path", "Directory")
    fname = col("file", "FileName")
    if fname is not None and path is not None and "Directory" in rawr.columns and "FileName" in rawr.columns:
        fpath = (pd.Series(rawr.Directory.astype(str).to_numpy()) + "/" + pd.Series(rawr.FileName.astype(str).to_numpy())).to_numpy()
    elif fname is not None:
        fpath = fname.astype(str)
    else:
        fpath = None
    ts = _iso(m.t.to_numpy(), tz).to_numpy()
    if fpath is not None:
        media_key = pd.Series(fpath).astype(str)
        codes, uniq = pd.factorize(media_key)
        media_id = np.array([f"m{c + 1}" for c in range(len(uniq))], dtype=object)[codes]
        first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
        media = pd.DataFrame({"mediaID": media_id[first], "deploymentID": m.deploymentID.to_numpy()[first],
                              "captureMethod": "activityDetection", "timestamp": ts[first],
                              "filePath": np.asarray(uniq, dtype=object), "filePublic": "false",
                              "fileName": [Path(p).name for p in uniq], "fileMediatype": "image/jpeg"})
    else:
        media_id = np.full(len(m), None, dtype=object)
        media = pd.DataFrame(columns=["mediaID", "deploymentID", "captureMethod", "timestamp", "filePath",
                                      "filePublic", "fileName", "fileMediatype"])
        issues.append("the detections have no file names: media.csv is empty and observations are event-level")
    storage.write_table(media, out / "media.csv")
    species = scientific_name or ch.settings.get("species")
    ev = col("event_id")
    prob = col("probability")
    obs = pd.DataFrame({
        "observationID": ["o" + str(x) for x in m.row.to_numpy()], "deploymentID": m.deploymentID.to_numpy(),
        "mediaID": media_id, "eventID": ev if ev is not None else None,
        "eventStart": ts, "eventEnd": ts,
        "observationLevel": "media" if fpath is not None else "event", "observationType": "animal",
        "scientificName": species, "count": 1, "individualID": m.individual.to_numpy(),
        "bboxX": col("bbox_x"), "bboxY": col("bbox_y"), "bboxWidth": col("bbox_w"), "bboxHeight": col("bbox_h"),
        "classificationMethod": "machine" if prob is not None else "human",
        "classifiedBy": "lynxid" if prob is not None else None,
        "classificationProbability": prob})
    storage.write_table(obs, out / "observations.csv")
    tstart = str(pd.Timestamp(dep.setup.min()).date())
    tend = str(pd.Timestamp(dep.retrieval.max()).date())
    okl = ~np.isnan(lat)
    spatial = ({"type": "Polygon", "coordinates": [[[float(np.min(lon[okl])), float(np.min(lat[okl]))],
                                                    [float(np.max(lon[okl])), float(np.min(lat[okl]))],
                                                    [float(np.max(lon[okl])), float(np.max(lat[okl]))],
                                                    [float(np.min(lon[okl])), float(np.max(lat[okl]))],
                                                    [float(np.min(lon[okl])), float(np.min(lat[okl]))]]]}
               if okl.any() else None)
    schema = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/{}-table-schema.json"
    pkg = {
        "profile": "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/camtrap-dp-profile.json",
        "name": re.sub(r"[^a-z0-9._-]+", "-", title.lower()).strip("-"),
        "title": title,
        "created": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "contributors": contributors or [{"title": "to be completed", "role": "contact"}],
        "project": {"title": title, "samplingDesign": "targeted", "captureMethod": ["activityDetection"],
                    "individualAnimals": True, "observationLevel": ["media"] if fpath is not None else ["event"]},
        "spatial": spatial, "temporal": {"start": tstart, "end": tend},
        "taxonomic": [{"scientificName": species}] if species else [],
        "resources": [{"name": n, "path": f"{n}.csv", "profile": "tabular-data-resource", "format": "csv",
                       "mediatype": "text/csv", "encoding": "utf-8", "schema": schema.format(n)}
                      for n in ("deployments", "media", "observations")],
    }
    if contributors is None:
        issues.append("datapackage.json: fill in 'contributors' (required by Camtrap DP)")
    storage.write_json(out / "datapackage.json", pkg)
    return {"camtrapdp": str(out), "issues": issues}
