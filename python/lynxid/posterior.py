"""What identify leaves behind for carrying identification uncertainty forward.

A hard call per photo ("L06", "new") hides how sure it was; a density estimate that treats
every call as certain is too sure of itself. So identify also writes, for every unit (an
event, or one box where an event holds several animals; ``events``):

* **the posterior** (``posterior.parquet``): one row per unit and answer -- each catalogue
  candidate the unit was matched against, and "new" -- with its calibrated probability
  (``reported.ReportedProbability.posterior``): the distribution ``imputation`` draws each
  unit's identity from;
* **the unit pairs** (``unit_pairs.parquet``): the calibrated probability that two units
  show one animal (``cluster.unit_pair_probability``, the clustering's own evidence) between
  the units called new, and between each unit that may be drawn new and its nearest other
  units: how units drawn new are grouped into animals. The units called known matter too:
  a photo the catalogue could not place may well match the survey's own photos of a known
  animal; without those pairs each such unit drawn new becomes an animal of its own, and
  the animals are over-counted.

Both are keyed by ``unit_id``, a column of identify's detections table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .cluster import unit_pair_probability

__all__ = ["posterior_table", "unit_pair_table", "NEW_ANSWER", "NEW_FLOOR", "POSTERIOR_COLUMNS",
           "PAIR_COLUMNS"]

NEW_ANSWER = "<new>"        # the answer "an animal not in the catalogue" (no catalogue name has <>)
# units less likely new than this are never drawn new: the pairs of every unit against every
# other would cost local matching quadratic in the survey for probability nobody would draw
NEW_FLOOR = 0.01
EXTRA_NEIGHBOURS = 10       # units called new each other unit is compared with (nearest by the embedding)
POSTERIOR_COLUMNS = ["unit_id", "rank", "answer", "probability"]
PAIR_COLUMNS = ["unit_a", "unit_b", "p_same", "base_rate"]


def posterior_table(U: pd.DataFrame) -> pd.DataFrame:
    """The units' posteriors (identify's unit table ``U`` with calibrated ``names``, ``pk``
    and ``p_new``) as a long table: per unit its candidates best first, then "new"
    (:data:`NEW_ANSWER`); ``rank`` counts from 1 over the candidates, 0 for "new"."""
    rows = []
    for r in U.itertuples():
        rows += [(r.unit_id, k, str(n), float(p)) for k, (n, p) in enumerate(zip(r.names, r.pk), start=1)]
        rows.append((r.unit_id, 0, NEW_ANSWER, float(r.p_new)))
    out = pd.DataFrame(rows, columns=POSTERIOR_COLUMNS)
    return out.astype({"unit_id": str, "rank": "int64", "answer": str, "probability": "float64"})


def unit_pair_table(U: pd.DataFrame, model, vectors: np.ndarray, local, flanks: np.ndarray,
                    clustered: tuple | None = None, floor: float = NEW_FLOOR,
                    neighbours: int = EXTRA_NEIGHBOURS) -> pd.DataFrame:
    """The pairwise probabilities a draw groups units drawn new with (:data:`PAIR_COLUMNS`,
    ``unit_a < unit_b``): between the units called new (``clustered = (their unit ids, P)``,
    the clustering's own matrix), and between every unit that may be drawn new (called new,
    or P(new) at least ``floor``) and its ``neighbours`` nearest units of any kind (by the
    embedding; local matching is the expensive part, so not every pair). Two units that
    cannot be drawn new are not compared: neither can join anything. Pairs without evidence
    (opposite flanks only, not checked) are left out: they are never drawn into one
    animal."""
    new_ids, P_new = clustered if clustered is not None else (np.zeros(0, object), np.zeros((0, 0)))
    is_new = U["unit_id"].isin(set(new_ids)).to_numpy() if len(U) else np.zeros(0, bool)
    newable = is_new | (U["p_new"].to_numpy(float) >= floor) if len(U) else np.zeros(0, bool)
    parts = [_pairs(np.asarray(new_ids, object), np.asarray(new_ids, object), P_new)]
    if newable.any() and len(U) > 1:
        # the pairs of two units called new are the clustering's own (above)
        checkable = (newable[:, None] | newable[None, :]) & ~(is_new[:, None] & is_new[None, :])
        P = unit_pair_probability(model.calibrator_, model.matcher_, vectors, local, list(U["members"]),
                                  flanks, k_local=neighbours, checkable=checkable)
        ids = U["unit_id"].to_numpy(object)
        parts.append(_pairs(ids, ids, np.where(checkable, P, np.nan)))
    out = pd.concat(parts, ignore_index=True)
    # the share of matching pairs the calibrator was fitted on: what a probability of p_same
    # says beyond that base rate is the evidence (``imputation``)
    diag = model.diagnostics_ or {}
    out["base_rate"] = diag["matching_pairs"] / diag["pairs"] if diag.get("pairs") else 0.5
    return out.astype({"unit_a": str, "unit_b": str, "p_same": "float64", "base_rate": "float64"})


def _pairs(ids_a, ids_b, P: np.ndarray) -> pd.DataFrame:
    """The finite entries of ``P`` (rows ``ids_a``, columns ``ids_b``), each pair once with
    ``unit_a < unit_b``."""
    i, j = np.nonzero(np.isfinite(P))
    a, b = ids_a[i].astype(str), ids_b[j].astype(str)
    keep = a < b
    return pd.DataFrame({"unit_a": a[keep], "unit_b": b[keep], "p_same": P[i[keep], j[keep]]},
                        columns=PAIR_COLUMNS[:3])
