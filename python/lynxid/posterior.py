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
  the units called new, and between them and the other units that could be new (P(new) at
  least :data:`NEW_FLOOR`): how units drawn new are grouped into new animals.

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
    """The pairwise probabilities a draw groups new units with (:data:`PAIR_COLUMNS`,
    ``unit_a < unit_b``): between the units called new (``clustered = (their unit ids, P)``,
    the clustering's own matrix), and between each other unit whose P(new) is at least
    ``floor`` and its ``neighbours`` nearest units called new. Two units both called known are
    not compared: both would have to be drawn new in one draw for it to matter, and
    comparing every pair of a survey's units would cost local matching quadratic in its
    size. Pairs without evidence (opposite flanks only, not checked) are left out: they are
    never drawn into one animal."""
    new_ids, P_new = clustered if clustered is not None else (np.zeros(0, object), np.zeros((0, 0)))
    is_new = U["unit_id"].isin(set(new_ids)).to_numpy() if len(U) else np.zeros(0, bool)
    extra = np.flatnonzero(~is_new & (U["p_new"].to_numpy(float) >= floor)) if len(U) else np.zeros(0, int)
    parts = [_pairs(np.asarray(new_ids, object), np.asarray(new_ids, object), P_new)]
    if len(extra) and len(new_ids):
        pos = {u: k for k, u in enumerate(U["unit_id"])}
        rows = np.concatenate([extra, [pos[u] for u in new_ids]]).astype(int)
        e = np.zeros(len(rows), bool)
        e[:len(extra)] = True
        P = unit_pair_probability(model.calibrator, model.matcher, vectors, local, list(U["members"].iloc[rows]),
                                  flanks, k_local=neighbours, checkable=e[:, None] != e[None, :])
        ids = U["unit_id"].to_numpy(object)[rows]
        parts.append(_pairs(ids, ids, np.where(e[:, None] & ~e[None, :], P, np.nan)))
    out = pd.concat(parts, ignore_index=True)
    # the share of matching pairs the calibrator was fitted on: what a probability of p_same
    # says beyond that base rate is the evidence (``imputation``)
    diag = model.diagnostics or {}
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
