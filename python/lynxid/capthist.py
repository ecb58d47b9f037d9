"""secr's ``capthist``, built in R through rpy2 from lynxid's data, and the ``.rds`` hand-over.

Python's twin of the R package's ``as_capthist()`` (rpkg/R/secr.R): the same ingredients
(:func:`lynxid.export.secr_data`: captures ``Session, ID, Occasion, Detector`` with one row
per detection for count detectors, per session the traps with their covariates in the usage
matrix's row order, the usage, the number of occasions) cross to R as vectors and data
frames, not files, and ``secr::make.capthist`` builds the object there, with the traps'
usage and covariates and secr's ``noncapt`` row for a session without captures. Where secr
is not installed, the hand-over is the ingredients as an R list (class ``lynxid_secr_data``,
as R's ``as_capthist()`` gives it) with a ``note`` saying how to build the capthist.

:func:`ingredients_from_scr` gives the same from :class:`~lynxid.scr_data.SCRData`, the data a
density fit checked (R's ``scr_ingredients``), so that ``fit_density(engine="secr")`` fits
exactly what lynxid fits.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import rbridge
from .export import secr_data

__all__ = ["as_capthist", "to_rds", "capthist_from_ingredients", "ingredients_from_scr", "HOW_TO_BUILD"]

HOW_TO_BUILD = (
    "secr was not installed where this was written, so this is the capthist's ingredients. With secr: "
    "trl <- lapply(names(x$traps), function(s) { t <- x$traps[[s]]; "
    "tr <- secr::read.traps(data = data.frame(x = t$x, y = t$y, row.names = t$detector), detector = x$detector, "
    "binary.usage = FALSE); secr::usage(tr) <- as.matrix(x$usage[[s]])[t$detector, , drop = FALSE]; tr }); "
    "ch <- secr::make.capthist(x$captures, if (length(trl) == 1) trl[[1]] else trl, fmt = \"trapID\", "
    "noccasions = unname(unlist(x$noccasions))); or library(lynxid) and as_capthist() on the capture history. "
    "A session without captures needs secr's 'noncapt' row in x$captures (ID \"NONE\").")

# make.capthist on the ingredients: rpkg/R/secr.R's secr_capthist(), without its fast fill
_BUILD = """
function(d) {
  sessions <- as.character(d$sessions)
  trl <- lapply(sessions, function(s) {
    t <- d$traps[[s]]
    xy <- data.frame(x = t$x, y = t$y, row.names = t$detector)
    tr <- secr::read.traps(data = xy, detector = d$detector, binary.usage = FALSE)
    secr::usage(tr) <- as.matrix(d$usage[[s]])[t$detector, , drop = FALSE]
    covs <- as.character(unlist(d$covariates))
    if (length(covs)) secr::covariates(tr) <- t[, covs, drop = FALSE]
    tr
  })
  names(trl) <- sessions
  caps <- d$captures
  empty <- sessions[!sessions %in% as.character(caps$Session)]
  if (length(empty)) {
    caps <- rbind(caps, data.frame(Session = empty, ID = "NONE", Occasion = 1L,
                                   Detector = vapply(empty, function(s) d$traps[[s]]$detector[1], ""),
                                   stringsAsFactors = FALSE))
  }
  caps$Session <- factor(as.character(caps$Session), levels = sessions)
  K <- as.integer(unlist(d$noccasions[sessions]))
  if (length(trl) == 1) secr::make.capthist(caps, trl[[1]], fmt = "trapID", noccasions = K)
  else secr::make.capthist(caps, trl, fmt = "trapID", noccasions = K)
}
"""

_LIST = """
function(d, note) structure(c(d[c("captures", "traps", "usage", "noccasions", "detector")], list(note = note)),
                            class = "lynxid_secr_data")
"""


def _r_ingredients(d: dict):
    """The ingredients as R objects: usage matrices with the detectors as row names."""
    usage = {s: (u.set_index("detector") if "detector" in u.columns else u) for s, u in d["usage"].items()}
    usage = {s: u.set_axis([str(c) for c in u.columns], axis=1) for s, u in usage.items()}
    return rbridge.to_r({"captures": d["captures"], "traps": d["traps"], "usage": usage,
                         "noccasions": {s: int(k) for s, k in d["noccasions"].items()}, "detector": d["detector"],
                         "sessions": list(d["sessions"]), "covariates": list(d.get("covariates", []))})


def capthist_from_ingredients(d: dict, require_secr: bool = True):
    """The R object: secr's capthist (secr installed), else, unless ``require_secr``, the
    ingredients as an R list with :data:`HOW_TO_BUILD` as its ``note``."""
    ro = rbridge.robjects()
    if rbridge.r_package_available("secr"):
        try:
            return ro.r(_BUILD)(_r_ingredients(d))
        except Exception as exc:
            raise ValueError(f"secr::make.capthist refused the capture history: {exc}") from exc
    if require_secr:
        rbridge.require_r_package("secr", "a secr capthist")
    return ro.r(_LIST)(_r_ingredients(d), HOW_TO_BUILD)


def as_capthist(ch, require_secr: bool = False):
    """The capture history as an R object for rpy2 users: secr's ``capthist`` (traps with
    usage and covariates, every session) where R has secr, else its ingredients as an R
    list (R's ``as_capthist()`` alike); ``require_secr=True`` makes the latter an error."""
    return capthist_from_ingredients(secr_data(ch), require_secr=require_secr)


def to_rds(ch, path, require_secr: bool = False) -> dict:
    """Save the capture history for R as ``.rds`` (``readRDS(path)``): a secr ``capthist``
    where secr is installed, else the ingredients with a note on building it. Returns
    ``{"path", "kind": "capthist" | "ingredients", "note"}``."""
    obj = as_capthist(ch, require_secr=require_secr)
    is_capthist = "capthist" in list(rbridge.robjects().r["class"](obj))
    rbridge.write_rds(obj, path)
    return {"path": str(path), "kind": "capthist" if is_capthist else "ingredients",
            "note": "" if is_capthist else HOW_TO_BUILD}


def ingredients_from_scr(data) -> dict:
    """:func:`lynxid.export.secr_data`'s ingredients from an :class:`~lynxid.scr_data.SCRData`
    (R's ``scr_ingredients``): a count detector's captures one row per detection."""
    caps, traps, usage, K = [], {}, {}, {}
    for s in data.sessions:
        rep = np.asarray(s.count, dtype=np.int64)
        ids = np.asarray(s.animals, dtype=object)[s.animal].astype(str)
        dets = np.asarray(s.trap_ids, dtype=object)[s.trap].astype(str)
        caps.append(pd.DataFrame({"Session": s.name, "ID": np.repeat(ids, rep),
                                  "Occasion": np.repeat(np.asarray(s.occasion, dtype=np.int64) + 1, rep),
                                  "Detector": np.repeat(dets, rep)}))
        traps[s.name] = pd.DataFrame({"detector": list(s.trap_ids), "x": s.xy[:, 0], "y": s.xy[:, 1]})
        usage[s.name] = pd.DataFrame(np.asarray(s.usage, float), index=pd.Index(list(s.trap_ids)),
                                     columns=[str(k + 1) for k in range(s.usage.shape[1])])
        K[s.name] = int(s.usage.shape[1])
    cap = pd.concat(caps, ignore_index=True) if caps else pd.DataFrame(columns=["Session", "ID", "Occasion", "Detector"])
    cap = cap.astype({"Session": str})
    return {"captures": cap, "traps": traps, "usage": usage, "noccasions": K, "detector": data.detector,
            "sessions": [s.name for s in data.sessions], "covariates": []}
