"""Camera Trap Data Package (Camtrap DP 1.0) export of a capture history, with the UTM ->
longitude/latitude conversion it needs (``lynxid.export`` re-exports :func:`write_camtrap_dp`
and :func:`utm_to_lonlat`; ``write_formats(..., "camtrapdp")`` calls it).

Written from the capture history's ``deployments`` (the cameras' working periods),
``records`` and ``media`` (the photo of each record), not from the input tables."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import storage
from .capture import CaptureHistory
from .times import zone

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
                     "'latitude' and 'longitude' columns in the station table (as station_covariates)")


def _iso(ns, tz) -> pd.Series:
    t = pd.Series(pd.to_datetime(np.asarray(ns, dtype=np.int64)))
    # Camtrap DP requires every time: a wall-clock time in the hour repeated when clocks go back
    # is taken as its first (summer-time) occurrence, one in the skipped hour moves forward
    t = t.dt.tz_localize(zone(tz), ambiguous=np.ones(len(t), dtype=bool), nonexistent="shift_forward")
    return t.map(lambda v: v.isoformat() if not pd.isna(v) else "")


def _coordinates(periods: pd.DataFrame, crs, issues: list) -> tuple[np.ndarray, np.ndarray]:
    """(latitude, longitude) of each working period's station, from ``latitude`` /
    ``longitude`` covariates or from UTM coordinates and ``crs``; NaN if neither."""
    if "latitude" in periods.columns and "longitude" in periods.columns:
        return (pd.to_numeric(periods.latitude, errors="coerce").to_numpy(),
                pd.to_numeric(periods.longitude, errors="coerce").to_numpy())
    if crs is not None:
        zone_number, south = _parse_crs(crs)
        lon, lat = utm_to_lonlat(periods.x.to_numpy(), periods.y.to_numpy(), zone_number, south)
        return lat, lon
    issues.append("no crs and no latitude/longitude columns: deployments.csv has empty latitude/longitude, "
                  "which Camtrap DP requires; pass crs='EPSG:326NN'")
    nan = np.full(len(periods), np.nan)
    return nan, nan.copy()


def _deployments(periods: pd.DataFrame, lat, lon, tz) -> pd.DataFrame:
    """deployments.csv: one deployment per working period; a camera with malfunctions has
    several (``<id>_1``, ``<id>_2``, ...), which camtrapR's ``readcamtrapDP`` reads back as
    Problems."""
    has_cameras, has_sessions = periods.camera.notna().any(), periods.session.notna().any()
    g = periods.deployment.to_numpy()
    part = pd.Series(g).groupby(g).cumcount().to_numpy() + 1
    nparts = pd.Series(g).map(pd.Series(g).value_counts()).to_numpy()
    base = periods.station.astype(str).to_numpy(object)
    if has_cameras:
        base = base + "_" + periods.camera.astype(str).to_numpy(object)
    if has_sessions:
        base = base + "_s" + periods.session.astype(str).to_numpy(object)
    return pd.DataFrame({
        "deploymentID": np.where(nparts > 1, base + "_" + part.astype(str), base),
        "locationID": periods.station.to_numpy(object), "locationName": periods.station.to_numpy(object),
        "latitude": np.round(lat, 6), "longitude": np.round(lon, 6),
        "deploymentStart": _iso(periods.start.to_numpy("datetime64[ns]").view(np.int64), tz).to_numpy(),
        "deploymentEnd": _iso(periods.end.to_numpy("datetime64[ns]").view(np.int64), tz).to_numpy(),
        "cameraID": periods.camera.to_numpy(object) if has_cameras else None,
        "deploymentGroups": ("session:" + periods.session.astype(str).to_numpy(object)) if has_sessions else None,
        "deploymentComments": np.where(nparts > 1, "working period " + part.astype(str) + " of " + nparts.astype(str)
                                       + " (split at malfunction periods of the station table)", None)})


def _observed_in(records: pd.DataFrame, periods: pd.DataFrame, dep_id: np.ndarray, issues: list) -> pd.DataFrame:
    """The records with the deployment (working period) each was taken in -- or, outside
    every working period of its camera, the nearest; records of unknown stations are dropped."""
    has_cameras = periods.camera.notna().any()
    # every identified record of the focal species is an observation (effort or not); records
    # of other species are not: they would be written under the focal scientificName
    rec = records[records.station.notna() & records.time.notna() & records.individual.notna()
                  & (records.reason != "other species")]
    dep_key = pd.DataFrame({"start": periods.start.to_numpy("datetime64[ns]").view(np.int64),
                            "end": periods.end.to_numpy("datetime64[ns]").view(np.int64), "deploymentID": dep_id,
                            "station": periods.station.to_numpy(object),
                            "camera": periods.camera.astype(object).to_numpy()})
    r = rec[["row", "station", "camera", "session", "time", "individual"]].copy()
    r["t"] = r.time.to_numpy("datetime64[ns]").view(np.int64)
    if has_cameras:
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
    return m.sort_values("row")


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
    if ch.deployments is None or ch.media is None:
        raise ValueError("this capture history has no deployments and media (Camtrap DP needs them); build it with "
                         "capture_history()")
    tz = ch.settings.get("tz")
    if not tz:
        raise ValueError("Camtrap DP needs times with a UTC offset: give the survey time zone (tz=, camtrapR's timeZone)")
    out = Path(out_dir) / "camtrap-dp"
    issues = []
    every = ch.deployments
    lat_all, lon_all = _coordinates(every, crs, issues)
    working = every.start.notna().to_numpy()
    periods = every[working].reset_index(drop=True)
    deployments = _deployments(periods, lat_all[working], lon_all[working], tz)
    storage.write_table(deployments, out / "deployments.csv")
    m = _observed_in(ch.records, periods, deployments.deploymentID.to_numpy(), issues)
    species = scientific_name or ch.settings.get("species")
    media, obs = _media_and_observations(m, ch.media.iloc[m.row.to_numpy() - 1], tz, species, issues)
    storage.write_table(media, out / "media.csv")
    storage.write_table(obs, out / "observations.csv")
    pkg = _package(title, contributors, species, media_level="file_path" in ch.media.columns, lat=lat_all,
                   lon=lon_all, temporal={"start": str(pd.Timestamp(every.setup.min()).date()),
                                          "end": str(pd.Timestamp(every.retrieval.max()).date())})
    if contributors is None:
        issues.append("datapackage.json: fill in 'contributors' (required by Camtrap DP)")
    storage.write_json(out / "datapackage.json", pkg)
    return {"camtrapdp": str(out), "issues": issues}


def _media_and_observations(m: pd.DataFrame, photos: pd.DataFrame, tz, species, issues: list):
    """media.csv (one row per image file) and observations.csv (one per record, with its
    ``individualID``); without file names, no media and event-level observations."""
    def col(name):
        return photos[name].to_numpy() if name in photos.columns else None
    fpath = col("file_path")
    ts = _iso(m.t.to_numpy(), tz).to_numpy()
    if fpath is not None:
        codes, uniq = pd.factorize(pd.Series(fpath).astype(str))
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
    return media, obs


def _package(title, contributors, species, *, media_level: bool, lat, lon, temporal: dict) -> dict:
    """datapackage.json: the project, its extent in space (the stations' bounding box) and
    time, the taxon and the three resources."""
    ok = ~np.isnan(lat)
    lat, lon = lat[ok], lon[ok]
    spatial = ({"type": "Polygon", "coordinates": [[[float(np.min(lon)), float(np.min(lat))],
                                                    [float(np.max(lon)), float(np.min(lat))],
                                                    [float(np.max(lon)), float(np.max(lat))],
                                                    [float(np.min(lon)), float(np.max(lat))],
                                                    [float(np.min(lon)), float(np.min(lat))]]]}
               if ok.any() else None)
    schema = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/{}-table-schema.json"
    return {
        "profile": "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/camtrap-dp-profile.json",
        "name": re.sub(r"[^a-z0-9._-]+", "-", title.lower()).strip("-"),
        "title": title,
        "created": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "contributors": contributors or [{"title": "to be completed", "role": "contact"}],
        "project": {"title": title, "samplingDesign": "targeted", "captureMethod": ["activityDetection"],
                    "individualAnimals": True, "observationLevel": ["media"] if media_level else ["event"]},
        "spatial": spatial, "temporal": temporal,
        "taxonomic": [{"scientificName": species}] if species else [],
        "resources": [{"name": n, "path": f"{n}.csv", "profile": "tabular-data-resource", "format": "csv",
                       "mediatype": "text/csv", "encoding": "utf-8", "schema": schema.format(n)}
                      for n in ("deployments", "media", "observations")],
    }
