"""What the open-set model is fitted on: a labelled catalogue's queries against the rest.

Two tables, one shape wherever they are collected (a catalogue's leave-one-out here, the
evaluation harness's protocols in ``evaluate``):

* **candidates** -- one row per (query, candidate individual): the evidence ``g``, ``l``,
  ``d`` (``match.Evidence``), ``y`` (the candidate is the query's individual) and ``truth``
  (the query's individual); :func:`candidate_rows`;
* **photo pairs** -- one row per (query, reference photo) local matching checked, with the
  pair verifier's inputs (``verify.PAIR_FEATURES``) in column ``X``; :func:`pair_rows`,
  :func:`pair_table`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .match import Evidence, Matcher, References, flank_compatible
from .verify import pair_matrix

__all__ = ["leave_one_out", "candidate_rows", "pair_rows", "pair_table", "CANDIDATE_COLUMNS"]

CANDIDATE_COLUMNS = ["query", "individual", "g", "l", "d", "y", "truth"]
MAX_QUERIES = 1500     # a larger catalogue's leave-one-out uses this many of its photos as queries


def candidate_rows(q, ev: Evidence, truth, *extra, shortlisted: bool = False) -> list:
    """Rows (:data:`CANDIDATE_COLUMNS`, then the ``extra`` values, then with ``shortlisted``
    whether the candidate was among the shortlist's) of query ``q``'s candidates."""
    sh = [(bool(s),) for s in ev.shortlisted] if shortlisted else [()] * len(ev.individuals)
    return [(q, name, g, l, d, int(name == truth), truth, *extra, *s)
            for name, g, l, d, s in zip(ev.individuals, ev.g, ev.l, ev.d, sh)]


def pair_rows(q, ev: Evidence, refs: References, sims: np.ndarray, truth) -> list:
    """The photo pairs local matching checked for query ``q`` (rows for :func:`pair_table`)."""
    out = []
    for r, (kp, dense) in (ev.pair_local or {}).items():
        if dense is not None:
            out.append((q, refs.individuals[r], truth, int(refs.individuals[r] == truth), float(sims[r]), kp, dense))
    return out


def pair_table(rows: list) -> pd.DataFrame:
    """Photo pairs with the verifier's inputs: query, individual (of the reference), truth (the
    query's individual), y, and the ``verify.PAIR_FEATURES`` matrix in column ``X``."""
    t = pd.DataFrame([r[:4] for r in rows], columns=["query", "individual", "truth", "y"])
    t["X"] = list(pair_matrix(np.stack([r[6] for r in rows]), [r[4] for r in rows], [r[5] for r in rows])) \
        if rows else []
    return t


def leave_one_out(refs: References, matcher: Matcher, progress: bool = True, max_queries: int = MAX_QUERIES,
                  seed: int = 0, sims=None, rank_sims=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every reference (up to ``max_queries``) as a query against the rest, its own sighting
    excluded, matched by ``matcher``. ``sims(qs)``, if given, returns the queries'
    similarities to every reference (default: cosine of ``refs.vectors``); ``rank_sims(qs)``,
    those that choose the shortlist (``match.evidence``), when not ``sims``.

    Returns ``(candidates, photo pairs)``: the candidates with ``eligible`` (can the query's
    individual be found at all: another sighting of a compatible flank)."""
    from tqdm.auto import tqdm
    n = len(refs)
    qs = np.arange(n)
    if n > max_queries:
        qs = np.sort(np.random.default_rng(seed).choice(n, max_queries, replace=False))
    sims_q = refs.vectors[qs] @ refs.vectors.T if sims is None else sims(qs)   # only the rows used (not n x n)
    rank_q = None if rank_sims is None else rank_sims(qs)
    rows, prow = [], []
    for row, q in enumerate(tqdm(qs, desc="calibrating on the catalogue", disable=not progress, unit="ref")):
        excl = refs.sightings == refs.sightings[q]
        q_flank = refs.flanks[q]
        ev = matcher.evidence(refs.vectors[q], refs.local[q] if refs.local else None, q_flank, refs,
                              exclude=excl, sims=sims_q[row], rank_sims=None if rank_q is None else rank_q[row])
        own = refs.individuals[q]
        eligible = bool(((refs.individuals == own) & ~excl &
                         flank_compatible(refs.flanks, np.full(n, q_flank, dtype=object))).any())
        rows += candidate_rows(q, ev, own, eligible)
        prow += pair_rows(q, ev, refs, sims_q[row], own)
    return pd.DataFrame(rows, columns=CANDIDATE_COLUMNS + ["eligible"]), pair_table(prow)
