"""Identities drawn inside the SCR model: a latent-identity Gibbs sampler.

``imputation.IdentitySampler`` draws each unit's identity from its own probabilities and
never asks whether an animal's captures lie near each other. Where many calls are wrong
(nyala's error rates) its draws merge animals that live far apart, an SCR fit reads each
merge as one wide-ranging animal, and D comes out far too low with an interval that often
misses the truth (benchmarks/README.md, "Inside the draws"). Drawing the identities
together with the SCR model makes such a merge improbable, because two captures far apart
are unlikely for one animal with the fitted sigma. :class:`LatentIdentitySampler` does that.

The model (each session on its own, as secr's sessions are):

* **Animals**: each of the catalogue's ``C`` animals is present with probability ``phi``;
  a Poisson number of animals not in the catalogue, mean ``Lambda``; activity centres uniform
  on the session's mask, integrated out over its cells for every animal.
* **Detections**: each unit (an event: one passage, both flanks) is one detection at its
  station; an animal's detections at a station are Poisson with hazard
  ``lam0 exp(-d^2 / 2 sigma^2)`` per day of the station's effort. (The density itself is then
  fitted to each draw's capture history by lynxid's engine with the survey's own occasions
  and detection function: this model only weighs where an animal's captures may be.)
* **Identity evidence**: a unit's calibrated posterior ``q`` over {its candidates, new}
  (``posterior``) read as a likelihood. The calibration weighs known and unknown queries
  equally and spreads the known half over the catalogue's ``C`` animals, so catalogue animal
  ``a`` against an animal not in the catalogue is ``(q_a / q_new) * C``; catalogue animals
  outside a unit's shortlist share what its posterior leaves (next to nothing: identify's
  posteriors sum to one; one named in no shortlist is ``CAT*001`` ... in a draw). Two units
  in one animal multiply in their pair's likelihood ratio, read from ``unit_pairs``' probability
  by a map *measured* on pairs of photos called new (``pair_evidence``; read from the
  calibration's base rate instead, it fails: benchmarks/README.md). Units without a pair are
  uninformative about each other (ratio 1): the spatial model decides.
* **Rules kept** as ``IdentitySampler`` keeps them: reviewed units fixed, both flanks of a
  unit one animal, cannot-link (another station within ``cannot_link_minutes``, another box
  of the same photo), units less likely new than ``posterior.NEW_FLOOR`` never new.
* **Priors**: flat on log lam0; flat on log sigma from half a mask cell to the detectors'
  extent (``SessionDesign.sigma_range``: unbounded, the posterior is improper -- past the mask
  the likelihood stops changing with sigma, and chains ran off to thousands of kilometres,
  merging animals at no spatial cost); flat on Lambda and on phi (a grid of 99 values).

Sampling: Gibbs over units (each to a present animal, a catalogue animal not yet detected, or
an animal not seen before), Metropolis swaps of two units' animals (single-unit moves cannot
exchange the animals of two units that may not share one), three random-walk Metropolis steps
for (lam0, sigma), then Lambda and phi given them. It starts from one ``IdentitySampler``
draw, discards ``burn`` sweeps and keeps every ``thin``-th. Units in no session's capture
history (no station, say) take ``IdentitySampler``'s draw: they do not enter the density.
Assumptions beyond the model: the units' identity evidence is independent given the animals
(one animal's photos share pose and light, so pair evidence is a little over-counted); the
pair map measured on one collection holds for the survey's photos; and ``C`` is the number of
animals the posterior's calibration spread "known" over -- true of a catalogue's own model,
not checked for lynxid's default model (calibrated on its own catalogue). Measured against
the independent draws in benchmarks/README.md ("Identities drawn inside the SCR model").

Cost: a sweep weighs every movable unit against every animal of its session over the mask's
cells; the demo survey's 50 draws take about 20 s, a survey of thousands of events minutes to
an hour (benchmarks/imputation_speed.py), with a progress bar.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cluster import CANNOT_LINK_MINUTES
from .imputation import DRAWN_NEW_PREFIX, IdentitySampler
from .posterior import NEW_ANSWER

__all__ = ["LatentIdentitySampler", "SessionDesign", "unit_design", "DEFAULT_BURN", "DEFAULT_THIN"]

DEFAULT_BURN = 100       # sweeps discarded: the pilot's chains had settled well before
DEFAULT_THIN = 5         # sweeps between kept draws
_PHI_GRID = np.linspace(0.01, 0.99, 99)
_FLOOR = 1e-6             # the least probability a catalogue animal outside a unit's shortlist keeps
OTHER_PREFIX = "CAT*"     # a catalogue animal named in no unit's shortlist (which one, nobody can say)
_UNLISTED, _OTHER = object(), object()     # options: a catalogue animal outside the shortlist, named / not


@dataclass
class SessionDesign:
    """One session's layout for the sampler: ``units`` (indices into the sampler's units),
    ``trap`` (each of those units' detector, an index into ``effort``), ``effort`` (days per
    detector), ``d2`` (squared distance, mask cells x detectors), ``xy`` (the detectors) and
    ``spacing`` (the mask's cells, m)."""
    units: np.ndarray
    trap: np.ndarray
    effort: np.ndarray
    d2: np.ndarray
    xy: np.ndarray
    spacing: float

    def sigma_range(self) -> tuple[float, float]:
        """Where sigma may be (module doc, priors): from half a mask cell to the detectors'
        extent (at least two cells)."""
        xy = self.xy
        extent = float(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1).max())) if len(xy) > 1 else 0.0
        return self.spacing / 2, max(extent, 2 * self.spacing)


def unit_design(detections: pd.DataFrame, stations, masks: dict, **capture) -> dict:
    """Per session (of ``masks``, name -> ``mask.Mask``): which units were captured where,
    with every unit its own animal in a capture history built as the density's is
    (``capture``: ``capture.capture_history``'s options); units it leaves out are in no
    session. Keys of the result are the units' ids."""
    from .capture import capture_history
    from .scr_data import from_capture_history
    det = detections[detections["unit_id"].notna()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # every unit its own animal: its warnings are not the user's
        ch = capture_history(det.assign(individual_id=det["unit_id"].astype(str)), stations, **capture)
    out = {}
    for s in from_capture_history(ch).sessions:
        if str(s.name) not in masks:
            continue
        ids = np.asarray([str(a) for a in s.animals], object)
        first = pd.DataFrame({"a": s.animal, "t": s.trap}).groupby("a")["t"].first()
        xy = np.asarray(masks[str(s.name)].xy, float)
        out[str(s.name)] = {"units": ids[first.index.to_numpy()], "trap": first.to_numpy(int),
                            "effort": np.asarray(s.usage, float).sum(1), "xy": np.asarray(s.xy, float),
                            "spacing": float(masks[str(s.name)].spacing),
                            "d2": ((xy[:, None, :] - np.asarray(s.xy, float)[None]) ** 2).sum(-1)}
    return out


def _lme(v: np.ndarray):
    """log of the mean of exp(v) over the mask's cells (the last axis; numpy only: scipy's
    logsumexp costs more in checks than in sums at this size)."""
    top = v.max(axis=-1, keepdims=True)
    return np.log(np.exp(v - top).mean(axis=-1)) + top[..., 0]


class LatentIdentitySampler:
    """Draws identity assignments with the SCR model (module doc). Settings: ``seed``,
    ``burn``, ``thin``, ``cannot_link_minutes``. :meth:`fit` takes identify's tables, the
    design (:func:`unit_design`), the catalogue's size and the pair evidence; :meth:`sample`
    returns draws as ``IdentitySampler.sample`` does, and ``trace_`` the model's parameters
    at each kept draw."""

    def __init__(self, seed: int = 0, burn: int = DEFAULT_BURN, thin: int = DEFAULT_THIN,
                 cannot_link_minutes: float = CANNOT_LINK_MINUTES):
        self.seed, self.burn, self.thin = seed, int(burn), int(thin)
        self.cannot_link_minutes = cannot_link_minutes

    def fit(self, detections: pd.DataFrame, posterior: pd.DataFrame, unit_pairs: pd.DataFrame | None,
            design: dict, catalogue_size: int, pair_evidence, sigma: dict | None = None) -> "LatentIdentitySampler":
        """``design``: :func:`unit_design`'s; ``catalogue_size``: the catalogue's animals
        (identify's ``summary.json``, ``catalogue_individuals``); ``pair_evidence``: a fitted
        ``pair_evidence.PairEvidence``; ``sigma``: per session, the sigma (m) to start from
        (default: a quarter of the detectors' extent)."""
        if posterior is None or not len(posterior):
            raise ValueError("the latent-identity sampler needs identify's posterior.parquet (rerun identify)")
        if self.burn < 0 or self.thin < 1:
            raise ValueError(f"burn must be >= 0 and thin >= 1, not {self.burn} and {self.thin}")
        det = detections.reset_index(drop=True)
        self.base_ = S = IdentitySampler(self.seed, self.cannot_link_minutes).fit(det, posterior, unit_pairs)
        self._known_names(det)
        self.catalogue_size_ = max(int(catalogue_size), len(self.catalogue_))
        self._evidence()
        self.pairs_ = _pair_lr(S.units_.ids, unit_pairs, pair_evidence)
        self.conflicts_ = S.units_.conflict_lists()
        pos = {u: k for k, u in enumerate(S.units_.ids)}
        # units none of whose detections can enter a capture history (rejected, or left
        # without an animal by identify) are not captures of any draw
        gone = pd.isna(pd.Series(S.to_detections(np.full(len(pos), "x", object)))).groupby(S.units_.of_det).all()
        self.sessions_ = {}
        for name, d in design.items():
            units = np.array([pos[str(u)] for u in d["units"]], int)
            keep = ~gone.reindex(units).fillna(True).to_numpy(bool)
            self.sessions_[name] = SessionDesign(units[keep], np.asarray(d["trap"], int)[keep],
                                                 np.asarray(d["effort"], float), np.asarray(d["d2"], float),
                                                 np.asarray(d["xy"], float), float(d["spacing"]))
        self.sigma_start_ = dict(sigma or {})
        return self

    def _known_names(self, det: pd.DataFrame) -> None:
        """The catalogue's animals the survey names: every candidate of a posterior, and the
        identities of units that cannot move (reviewed, or without a posterior) that are not new."""
        S = self.base_
        names = {str(a) for ans in S.answers_ if ans is not None for a in ans if a != NEW_ANSWER}
        new = det["is_new"].fillna(False).astype(bool).to_numpy() if "is_new" in det else np.zeros(len(det), bool)
        for i, (h, u) in enumerate(zip(S.hard_, S.units_.of_det)):
            fixed = S.unit_fixed_[u]
            if fixed is not None and not S.unit_fixed_new_[u]:
                names.add(str(fixed))
            elif fixed is None and S.answers_[u] is None and h is not None and not new[i]:
                names.add(str(h))
        self.catalogue_ = names

    def _evidence(self) -> None:
        """Each unit's log likelihood per catalogue animal of its shortlist (``ev_``) and
        for an animal not in the catalogue (``ev_new_``): module doc."""
        S, C = self.base_, self.catalogue_size_
        n = len(S.units_.ids)
        self.ev_, self.ev_new_, self.rest_ = [dict() for _ in range(n)], np.full(n, -np.inf), np.full(n, -np.inf)
        self.movable_ = np.zeros(n, bool)
        for u in range(n):
            ans, q = S.answers_[u], S.probs_[u]
            if ans is None or S.unit_fixed_[u] is not None:
                continue
            self.movable_[u] = True
            qn = float(q[ans == NEW_ANSWER].sum())
            listed = [(str(a), float(p)) for a, p in zip(ans, q) if a != NEW_ANSWER]
            # what the posterior leaves to the catalogue's other animals, shared evenly (identify's
            # posteriors sum to one over shortlist and new: then next to nothing)
            left = max(_FLOOR, 1 - qn - sum(p for _, p in listed)) / max(1, C - len(listed))
            self.ev_[u] = {a: float(np.log(p * C)) for a, p in listed if p > 0}
            self.rest_[u] = float(np.log(left * C))
            self.ev_new_[u] = float(np.log(qn)) if qn > 0 else -np.inf

    # ------------------------------------------------------------------ drawing
    def sample(self, n_draws: int, progress: bool = False) -> pd.DataFrame:
        """``n_draws`` assignments after ``burn`` sweeps, every ``thin``-th sweep: a table with
        ``detection_id`` and one column per draw (``draw_1`` ...), as ``IdentitySampler.sample``."""
        from tqdm.auto import tqdm
        S = self.base_
        rng = np.random.default_rng([self.seed, 71])
        label = S.draw_units(rng)
        multi = len(self.sessions_) > 1
        chains = [_Chain(self, name, d, label, rng, f"{DRAWN_NEW_PREFIX}{name}-" if multi else DRAWN_NEW_PREFIX)
                  for name, d in self.sessions_.items()]
        cols, trace = {}, []
        total = self.burn + int(n_draws) * self.thin
        for sweep in tqdm(range(total), desc="identities with the SCR model", unit="sweep", disable=not progress):
            for c in chains:
                c.sweep(label)
                c.swaps(label)
                c.parameters()
            if sweep >= self.burn and (sweep - self.burn) % self.thin == self.thin - 1:
                k = len(cols) + 1
                draw = S.draw_units(rng)                      # units in no session: drawn independently
                inside = np.zeros(len(draw), bool)
                for c in chains:
                    inside[c.units] = True
                    trace.append({"draw": f"draw_{k}", "session": c.name, **c.state()})
                draw[inside] = label[inside]
                cols[f"draw_{k}"] = S.to_detections(draw)
        self.trace_ = pd.DataFrame(trace)
        return pd.DataFrame({"detection_id": S.detection_ids_, **cols})


def _pair_lr(ids: np.ndarray, unit_pairs: pd.DataFrame | None, pair_evidence) -> list:
    """Per unit, its pairs' log likelihood ratios by the other unit (``pair_evidence``)."""
    pos = {u: k for k, u in enumerate(ids)}
    out = [dict() for _ in ids]
    if unit_pairs is None or not len(unit_pairs):
        return out
    base = unit_pairs["base_rate"].to_numpy(float) if "base_rate" in unit_pairs else np.full(len(unit_pairs), 0.5)
    llr = pair_evidence.log_lr(unit_pairs["p_same"].to_numpy(float), base)
    for a, b, x in zip(unit_pairs["unit_a"].astype(str), unit_pairs["unit_b"].astype(str), llr):
        if a in pos and b in pos:
            out[pos[a]][pos[b]] = out[pos[b]][pos[a]] = float(x)
    return out


class _Chain:
    """One session's Gibbs state: its animals (groups of units, each with its captures per
    detector) and parameters; ``label`` (every unit's, shared by the chains) is updated in place."""

    def __init__(self, m: LatentIdentitySampler, name: str, d: SessionDesign, label: np.ndarray, rng, prefix: str):
        self.m, self.name, self.rng, self.prefix = m, name, rng, prefix
        self.units, self.d2, self.effort = d.units, d.d2, d.effort
        self.trap = dict(zip(d.units.tolist(), d.trap.tolist()))
        self.mine = np.zeros(len(label), bool)
        self.mine[d.units] = True
        self.groups: dict = {}
        self.counts: dict = {}
        for u in d.units:
            self._add(u, str(label[u]))
            label[u] = str(label[u])
        self.is_cat = set(m.catalogue_)         # grows by the animals OTHER_PREFIX names
        self.named = sorted(m.catalogue_)
        self.unnamed = m.catalogue_size_ - len(self.named)
        self.lo, self.hi = d.sigma_range()
        self.sigma = float(np.clip(m.sigma_start_.get(name) or self.hi / 4, self.lo, self.hi))
        self.phi, self.lam0 = 0.8, 0.01
        self._theta()
        self.lam = max(1.0, self._n_new()) / max(self.p_dot, 1e-3)
        grid = np.exp(np.linspace(np.log(1e-4), 0.0, 41))
        ll = [self._at(g, self.sigma) for g in grid]       # lam0 to start: the best on a grid, sigma fixed
        self.lam0 = float(grid[int(np.argmax(ll))])
        self._theta()

    def _add(self, u: int, k: str) -> None:
        self.groups.setdefault(k, []).append(u)
        c = self.counts.setdefault(k, np.zeros(len(self.effort)))
        c[self.trap[u]] += 1

    def _remove(self, u: int, k: str) -> None:
        self.groups[k].remove(u)
        self.counts[k][self.trap[u]] -= 1
        if not self.groups[k]:
            del self.groups[k], self.counts[k]

    def _ev(self, u: int, k: str) -> float:
        """Unit ``u``'s identity evidence for animal ``k`` (a catalogue animal's, or new's)."""
        return self.m.ev_[u].get(k, self.m.rest_[u]) if k in self.is_cat else self.m.ev_new_[u]

    def _n_new(self) -> int:
        return sum(k not in self.is_cat for k in self.groups)

    def _theta(self) -> None:
        self.LT = (np.log(self.lam0) - self.d2 / (2 * self.sigma ** 2)).T.copy()   # detectors x cells
        self.b = -(np.exp(self.LT) * self.effort[:, None]).sum(0)                    # log P(never detected | cell)
        self.p_dot = 1 - float(np.mean(np.exp(self.b)))
        self.missed = float(np.log(1 - self.phi + self.phi * np.exp(_lme(self.b))))  # a catalogue animal not seen

    def _at(self, lam0: float, sigma: float) -> float:
        self.lam0, self.sigma = lam0, sigma
        self._theta()
        return self.loglik()

    def _V(self, names) -> np.ndarray:
        return self.b + np.stack([self.counts[k] for k in names]) @ self.LT

    def loglik(self) -> float:
        """log P(the session's captures | lam0, sigma, phi, Lambda), identities given."""
        names = list(self.groups)
        t = float(_lme(self._V(names)).sum()) if names else 0.0
        cat = sum(k in self.is_cat for k in names)
        return (t + cat * np.log(self.phi) + (len(names) - cat) * np.log(self.lam)
                + (self.m.catalogue_size_ - cat) * self.missed - self.lam * self.p_dot)

    def sweep(self, label: np.ndarray) -> None:
        """Each movable unit of the session, in random order, to where the model draws it."""
        m = self.m
        for u in self.rng.permutation(self.units):
            if not m.movable_[u]:
                continue
            self._remove(u, label[u])
            opts, lw = self._options(u, label)
            w = np.exp(lw - lw.max())
            k = self._name(opts[self.rng.choice(len(w), p=w / w.sum())], u)
            label[u] = k
            self._add(u, k)

    def _name(self, k, u: int) -> str:
        """The animal an option stands for: a fresh name for an animal not seen before (None)
        or one of the catalogue's named nowhere, a random one of those outside ``u``'s shortlist."""
        if k is None or k is _OTHER:
            prefix = self.prefix if k is None else OTHER_PREFIX
            k = next(f"{prefix}{i:03d}" for i in range(1, 10 ** 6) if f"{prefix}{i:03d}" not in self.groups)
            if prefix == OTHER_PREFIX:
                self.is_cat.add(k)
        elif k is _UNLISTED:
            pool = [a for a in self.named if a not in self.groups and a not in self.m.ev_[u]]
            k = pool[self.rng.integers(len(pool))]
        return k

    def swaps(self, label: np.ndarray) -> None:
        """Metropolis swaps of two units' animals. Moving one unit at a time cannot exchange the
        animals of two units that may not share one (cannot-link: u1 X and u2 Y never reach u1
        Y and u2 X), and crosses between such modes slowly elsewhere; so a swap is proposed for
        every cannot-link pair of movable units, and for random pairs, a quarter as many as units."""
        m = self.m
        mov = self.units[m.movable_[self.units]]
        if len(mov) < 2:
            return
        pairs = [(u, v) for u in mov for v in m.conflicts_[u] if u < v and self.mine[v] and m.movable_[v]]
        pairs += [(mov[a], mov[b]) for a, b in self.rng.integers(0, len(mov), (len(mov) // 4 + 1, 2)) if a != b]
        for u, v in pairs:
            a, b = label[u], label[v]
            if a != b and np.log(self.rng.random()) < self._swap_gain(u, v, a, b):
                self._remove(u, a), self._remove(v, b), self._add(u, b), self._add(v, a)
                label[u], label[v] = b, a

    def _swap_gain(self, u: int, v: int, a: str, b: str) -> float:
        """log posterior ratio of unit ``u`` in animal ``b`` and ``v`` in ``a`` against as they are."""
        m, e = self.m, self._ev
        lr = lambda w, group: sum(m.pairs_[w].get(x, 0.0) for x in group)  # noqa: E731
        gain = e(u, b) + e(v, a) - e(u, a) - e(v, b)
        rest_a = [x for x in self.groups[a] if x != u]
        rest_b = [x for x in self.groups[b] if x != v]
        if not np.isfinite(gain) or np.isin(m.conflicts_[u], rest_b).any() or np.isin(m.conflicts_[v], rest_a).any():
            return -np.inf
        gain += lr(u, rest_b) + lr(v, rest_a) - lr(u, rest_a) - lr(v, rest_b)
        tu, tv = self.trap[u], self.trap[v]
        if tu != tv:
            ca, cb = self.counts[a].copy(), self.counts[b].copy()
            ca[tu], ca[tv], cb[tv], cb[tu] = ca[tu] - 1, ca[tv] + 1, cb[tv] - 1, cb[tu] + 1
            r = _lme(self.b + np.stack([self.counts[a], self.counts[b], ca, cb]) @ self.LT)
            gain += r[2] + r[3] - r[0] - r[1]
        return float(gain)

    def _options(self, u: int, label: np.ndarray) -> tuple[list, np.ndarray]:
        """Where unit ``u`` may go, and the log weight of each (None: an animal not seen before)."""
        m, ev, ev_new = self.m, self.m.ev_[u], self.m.ev_new_[u]
        Lu = self.LT[self.trap[u]]
        barred = {label[v] for v in m.conflicts_[u] if self.mine[v]}
        lr: dict = {}
        for v, x in m.pairs_[u].items():
            if self.mine[v] and v != u:
                lr[label[v]] = lr.get(label[v], 0.0) + x
        names, e = [], []
        rest = m.rest_[u]
        for k in self.groups:
            x = self._ev(u, k)
            if np.isfinite(x) and k not in barred:
                names.append(k)
                e.append(x + lr.get(k, 0.0))
        lw = []
        if names:
            V = self._V(names)
            r = _lme(np.concatenate([V + Lu, V, (self.b + Lu)[None]]))
            lw = list(np.asarray(e) + r[:len(names)] - r[len(names):-1])
            first = float(r[-1])
        else:
            first = float(_lme(self.b + Lu))        # the first capture of an animal not seen yet
        absent = np.log(self.phi) + first - self.missed
        for k, x in ev.items():
            if k not in self.groups:
                names.append(k)
                lw.append(x + absent)
        # the catalogue's animals outside the shortlist not detected yet, named elsewhere and not
        named_out = len(self.named) - sum(k in m.catalogue_ for k in self.groups) - (len(names) - len(e))
        other_out = self.unnamed - sum(k.startswith(OTHER_PREFIX) for k in self.groups)
        for token, count in ((_UNLISTED, named_out), (_OTHER, other_out)):
            if count > 0 and np.isfinite(rest):
                names.append(token)
                lw.append(np.log(count) + rest + absent)
        if np.isfinite(ev_new):
            names.append(None)
            lw.append(ev_new + np.log(self.lam) + first)
        return names, np.asarray(lw, float)

    def parameters(self) -> None:
        """(lam0, sigma) by three Metropolis steps on the log scale, then Lambda and phi given them."""
        cur = self.loglik()
        for _ in range(3):
            old = (self.lam0, self.sigma)
            lam0, sigma = (old[0] * np.exp(0.15 * self.rng.standard_normal()),
                           old[1] * np.exp(0.1 * self.rng.standard_normal()))
            if not self.lo <= sigma <= self.hi:          # outside the prior's range: rejected
                continue
            new = self._at(lam0, sigma)
            if np.log(self.rng.random()) < new - cur:
                cur = new
            else:
                self._at(*old)
        self.lam = float(self.rng.gamma(self._n_new() + 1, 1 / max(self.p_dot, 1e-12)))
        seen = len(self.groups) - self._n_new()
        unseen = self.m.catalogue_size_ - seen
        lp = seen * np.log(_PHI_GRID) + unseen * np.log(1 - _PHI_GRID + _PHI_GRID * np.exp(_lme(self.b)))
        w = np.exp(lp - lp.max())
        self.phi = float(self.rng.choice(_PHI_GRID, p=w / w.sum()))
        self._theta()

    def state(self) -> dict:
        return {"lam0": self.lam0, "sigma": self.sigma, "phi": self.phi, "Lambda": self.lam,
                "animals": len(self.groups), "not_in_catalogue": self._n_new()}
