"""Benchmark: are density intervals that include identification error honest?

SCR surveys simulated from the model (lynxid.scr_simulate, known D), each detection event
identified by an *emulation* of identify at the error rates lynxid measures on labelled photos
(the open-set posteriors of benchmarks/posterior_calibration.py, else reid.py), then D fitted
from the ``truth`` IDs, the ``hard`` calls taken as certain and ``imputed`` IDs
(lynxid.fit_density_imputed): relative bias, coverage of the true D by the 95 % interval, mean
interval width, share of variance due to identification. ``--pipeline N``: N surveys through
the image pipeline (lynxid.run_demo) fitted the same three ways.

Rerun (from the repository root; every survey is cached in benchmarks/_work/id_coverage/*.jsonl
under its bank, seed, K and design, so a rerun resumes):

    nice .venv/bin/python benchmarks/id_coverage.py --surveys 100 --imputations 20        # emulated part
    nice .venv/bin/python benchmarks/id_coverage.py --surveys 0 --pipeline 20             # image pipeline
    nice .venv/bin/python benchmarks/id_coverage.py --surveys 100 --pipeline 20 --report  # writes results/

The emulation (:func:`emulate_identification`), stated: every capture (animal x station x day)
is one event (unit) with one photo at a random working time of that day; 60 % of the
population (detected or not) is in the catalogue. Each unit draws a record from the bank of its
scenario (``known``: its animal is in the catalogue, else ``unknown``): the calibrated
probabilities of the best candidates and "new", the decided answer and the truth's slot. Known:
the truth slot holds the animal, the other slots random other catalogue animals (none holds it
when the truth was not a candidate); unknown: every slot a random catalogue animal, "new" the
truth. The hard call is the decided answer; units are identified independently. Units called
new are grouped by lynxid.cluster.agglomerate (with cannot-link) on pair probabilities drawn,
independently per pair, from the bank of pairs of photos called new (same animal or not, by the
truth); unit_pairs holds those and, drawn the same way, each unit with P(new) >= NEW_FLOOR
against every other unit (identify: against its 10 nearest by the embedding).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, WORK, load_snapshot, machine, machine_line, write_results  # noqa: E402

import lynxid  # noqa: E402
from lynxid.cluster import agglomerate, cannot_link, provisional_names  # noqa: E402
from lynxid.density_demo import habitat_mask  # noqa: E402
from lynxid.posterior import NEW_ANSWER, NEW_FLOOR  # noqa: E402
from lynxid.scr_simulate import simulate_scr, trap_grid  # noqa: E402

# where the banks are read from, first found first: (file, the key of the open set in a dataset);
# benchmarks/posterior_calibration.py writes the first
BANK_FILES = [(ROOT / "benchmarks" / "results" / "posterior_calibration.json", None),
              (ROOT / "benchmarks" / "results" / "reid.json", "open_set")]
FALLBACK_BANK = None
LEVELS = {"high": "simulated", "low": "nyala"}          # accuracy level -> dataset of the bank
FALLBACK_LOW = ("lion",)                                # "low" while no nyala bank has been measured
CACHE = WORK / "id_coverage"
# the SCR design: 6 x 5 stations 3 km apart, 60 days (set up over the first week, taken down over
# the last), HN g0 0.03 per day, sigma 2.5 km, D 3 per 100 km^2 in the detectors' box + 10 km
# (4 sigma); fitted by 5-day occasions with that box as the habitat
DESIGN = dict(nx=6, ny=5, spacing=3000.0, days=60, g0=0.03, sigma=2500.0, D=3e-4, region=10000.0,
              known_share=0.6, occasion_length=5, start="2024-03-01", mask_cells=30)
DETECTFN = "HN"
# identify's rule for unit_pairs.parquet (posterior.unit_pair_table) the cached pipeline runs were made with
PAIRS_RULE = "newable-vs-nearest-10"
SAMPLER = "crp-lr-known-start2"   # the identity sampler's version: rows cached with another are recomputed


# ----------------------------------------------------------------------------- banks
def load_bank(dataset: str) -> tuple[dict, str]:
    """The measured identification bank of one dataset (the first of BANK_FILES that has it):
    ``known`` / ``unknown`` posterior records, the pair probabilities of ``same`` / ``diff``
    animals and a fingerprint ``tag`` (caches are keyed by it); with where it came from."""
    for path, inner in BANK_FILES:
        if dataset == "simulated" or path != FALLBACK_BANK:
            o = json.loads(path.read_text()) if path.exists() else {}
            o = o.get("datasets", {}).get(dataset, {}) if path != FALLBACK_BANK else o
            o = (o.get(inner) or {}) if inner else o
            if o.get("posteriors") and o.get("new_pairs"):
                src = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{dataset}"
                break
    else:
        raise LookupError(f"no open-set posteriors for {dataset!r} in {', '.join(str(p) for p, _ in BANK_FILES)}")
    tag = hashlib.sha1(json.dumps([o["posteriors"], o["new_pairs"]]).encode()).hexdigest()[:8]
    pairs = np.array([(float(p), bool(s)) for p, s in o["new_pairs"]], float).reshape(-1, 2)
    bank = {sc: [r for r in o["posteriors"] if r["scenario"] == sc] for sc in ("known", "unknown")}
    bank["same"], bank["diff"], bank["tag"] = pairs[pairs[:, 1] == 1, 0], pairs[pairs[:, 1] == 0, 0], tag
    # the share of matching pairs the bank's calibrator was fitted on (what imputation takes out
    # of a pair probability); runs before lynxid reported it: one own individual among the
    # shortlist of min(60, catalogue) candidates
    known = max(1, int(o.get("individuals", 0)) // 2)
    bank["base_rate"] = float(o.get("pair_base_rate") or 1.0 / min(60, known))
    if not all(len(bank[k]) for k in ("known", "unknown", "same", "diff")):
        raise LookupError(f"the {src} bank lacks a scenario or a pair kind")
    return bank, src


def level_bank(level: str) -> tuple[dict, str]:
    """The bank of an accuracy level (``low`` falls back to lion while nyala is not measured)."""
    for name in (LEVELS[level],) + (FALLBACK_LOW if level == "low" else ()):
        try:
            return load_bank(name)
        except LookupError:
            continue
    raise LookupError(f"no bank for level {level!r}")


def bank_rates(bank: dict) -> dict:
    """What a bank says: records, hard-call accuracy per scenario, pair probabilities."""
    out = {f"records_{sc}": len(bank[sc]) for sc in ("known", "unknown")}
    out |= {k: float(np.mean([r["decided"] == r["truth"] for r in bank[sc]]))
            for k, sc in (("known_called_right", "known"), ("unknown_called_new", "unknown"))}
    return out | {f"mean_p_{k}_pair": float(bank[k].mean()) for k in ("same", "diff")} | {
        f"pairs_{k}": len(bank[k]) for k in ("same", "diff")}


# ----------------------------------------------------------------------------- the survey
def station_table(rng, d=DESIGN) -> pd.DataFrame:
    """Stations of the grid, set up over the first week and taken down over the last."""
    xy = trap_grid(d["nx"], d["ny"], d["spacing"])
    t0 = pd.Timestamp(d["start"])
    setup = t0 + pd.to_timedelta(rng.integers(0, 7, len(xy)), unit="D")
    retrieval = t0 + pd.to_timedelta(d["days"] - 1 - rng.integers(0, 7, len(xy)), unit="D")
    return pd.DataFrame({"Station": [f"S{k + 1:02d}" for k in range(len(xy))], "utm_x": xy[:, 0], "utm_y": xy[:, 1],
                         "Setup_date": setup.strftime("%Y-%m-%d"), "Retrieval_date": retrieval.strftime("%Y-%m-%d")})


def simulate_survey(seed: int, d=DESIGN) -> dict:
    """One SCR survey with known truth: stations, one record per capture (animal, station,
    time) and the catalogue."""
    rng = np.random.default_rng([seed, 31])
    st = station_table(rng, d)
    op = lynxid.camera_operation(st).fillna(0.0)                 # days of effort per station and day
    usage = op.loc[st["Station"]].to_numpy(float)
    data, truth = simulate_scr(st[["utm_x", "utm_y"]].to_numpy(), usage, d["D"], DETECTFN,
                               {"g0": d["g0"], "sigma": d["sigma"]}, d["region"], seed=[seed, 37])
    s = data.sessions[0]
    days = pd.to_datetime(op.columns)
    day = days[s.occasion]
    setup_day = day == pd.to_datetime(st["Setup_date"].to_numpy()[s.trap])
    retrieval_day = day == pd.to_datetime(st["Retrieval_date"].to_numpy()[s.trap])
    # a time inside the station's working part of the day (date-only setup / retrieval: half days)
    hour = np.where(setup_day, 13 + 10 * rng.random(len(day)),
                    np.where(retrieval_day, 1 + 10 * rng.random(len(day)), 1 + 22 * rng.random(len(day))))
    det = pd.DataFrame({"animal": [f"A{int(s.animals[a]):03d}" for a in s.animal],
                        "station": st["Station"].to_numpy()[s.trap],
                        "timestamp": day + pd.to_timedelta(np.round(hour * 3600), unit="s")})
    det = det.sort_values("timestamp", ignore_index=True)
    N = truth["N"]
    animals = [f"A{k + 1:03d}" for k in range(N)]
    catalogue = sorted(rng.choice(animals, size=round(d["known_share"] * N), replace=False).tolist())
    xy = st[["utm_x", "utm_y"]].to_numpy()
    habitat = [xy[:, 0].min() - d["region"], xy[:, 0].max() + d["region"],
               xy[:, 1].min() - d["region"], xy[:, 1].max() + d["region"]]
    return dict(stations=st, det=det, catalogue=catalogue, N=N, D_100km2=d["D"] * 1e4, habitat=habitat)


# ----------------------------------------------------------------------------- identification
def _slots(rec: dict, animal: str, known: bool, pool: list, rng) -> tuple[list, np.ndarray, int]:
    """One unit's candidate names and probabilities (new last) and its decided index."""
    p = np.asarray(rec["p"], float)
    m = len(p) - 1
    t = rec["truth"] if known and rec["truth"] is not None and rec["truth"] < m else None
    others = [a for a in pool if a != animal]
    cap = len(others) + (t is not None)
    keep = list(range(m))
    if cap < m:                                   # a catalogue smaller than the candidate list
        must = {k for k in (t, rec["decided"]) if k is not None and k < m}
        keep = sorted(must | set([k for k in range(m) if k not in must][:cap - len(must)]))
    fill = iter(rng.choice(others, size=len(keep) - (t is not None and t in keep), replace=False).tolist())
    names = [animal if k == t else next(fill) for k in keep]
    return names, np.append(p[keep], p[m]), len(names) if rec["decided"] >= m else keep.index(rec["decided"])


def _pair_p(same: bool, bank: dict, rng) -> float:
    b = bank["same"] if same else bank["diff"]
    return float(b[rng.integers(len(b))])


def emulate_identification(survey: dict, bank: dict, rng) -> lynxid.IdentifyResult:
    """What identify would leave for the survey's captures at the bank's error rates (module
    doc): detections, posterior and unit pairs."""
    det = survey["det"].reset_index(drop=True)
    cat = survey["catalogue"]
    in_cat = set(cat)
    n = len(det)
    uid = np.array([f"U{i + 1:04d}" for i in range(n)], object)
    names, probs, decided = [], [], []
    for a in det["animal"]:
        sc = "known" if a in in_cat else "unknown"
        rec = bank[sc][rng.integers(len(bank[sc]))]
        nm, p, d = _slots(rec, a, sc == "known", cat, rng)
        names.append(nm), probs.append(p), decided.append(d)
    is_new = np.array([d == len(nm) for d, nm in zip(decided, names)])
    p_new = np.array([p[-1] for p in probs])
    truth = det["animal"].to_numpy(object)
    files = np.array([f"{s}/IMG_{i + 1:05d}.JPG" for i, s in enumerate(det["station"])], object)
    ind = np.array([None if is_new[i] else names[i][decided[i]] for i in range(n)], object)
    new_idx = np.flatnonzero(is_new)
    P = np.full((len(new_idx), len(new_idx)), np.nan)
    for a in range(len(new_idx)):
        for b in range(a + 1, len(new_idx)):
            P[a, b] = P[b, a] = _pair_p(truth[new_idx[a]] == truth[new_idx[b]], bank, rng)
    if len(new_idx):
        units = pd.DataFrame({"t0": det["timestamp"].iloc[new_idx].to_numpy(), "station": det["station"].iloc[new_idx],
                              "files": [{f} for f in files[new_idx]]})
        labels = agglomerate(P, cannot_link(units))
        ind[new_idx] = provisional_names(labels, units["t0"].to_numpy())
    rows = [(uid[i], k + 1, nm, float(p)) for i in range(n) for k, (nm, p) in enumerate(zip(names[i], probs[i]))]
    rows += [(uid[i], 0, NEW_ANSWER, float(p_new[i])) for i in range(n)]
    posterior = pd.DataFrame(rows, columns=["unit_id", "rank", "answer", "probability"])
    pairs = [(uid[new_idx[a]], uid[new_idx[b]], P[a, b]) for a, b in zip(*np.triu_indices(len(new_idx), 1))]
    # as identify: every unit that may be drawn new against the others (not two units called new:
    # the clustering's pairs above)
    newable = is_new | (p_new >= NEW_FLOOR)
    pairs += [(uid[a], uid[b], _pair_p(truth[a] == truth[b], bank, rng))
              for a, b in zip(*np.triu_indices(n, 1)) if (newable[a] or newable[b]) and not (is_new[a] and is_new[b])]
    unit_pairs = pd.DataFrame([(min(a, b), max(a, b), p) for a, b, p in pairs], columns=["unit_a", "unit_b", "p_same"])
    unit_pairs["base_rate"] = bank["base_rate"]
    prob = np.array([p[d] for p, d in zip(probs, decided)])
    cands = [json.dumps([{"individual": nm, "probability": round(float(q), 5)} for nm, q in zip(names[i], probs[i])])
             for i in range(n)]
    detections = pd.DataFrame({
        "detection_id": [f"{f}#0" for f in files], "unit_id": uid, "event_id": np.arange(1, n + 1),
        "station": det["station"], "timestamp": det["timestamp"], "file": files, "individual_id": ind,
        "probability": prob, "p_new": p_new, "is_new": is_new, "candidates": cands, "needs_review": prob < 0.95,
        "reviewed_by": pd.Series([None] * n, dtype=object), "decision": np.where(is_new, "new", "known"),
        "truth": truth})                          # the truth rides along (ignored by lynxid)
    summary = {"detections": n, "events": n, "individuals": int(pd.Series(ind).nunique()),
               "new_individuals": int(pd.Series(ind[is_new]).nunique())}
    return lynxid.IdentifyResult(detections, pd.DataFrame(columns=["file", "stage", "severity", "reason"]), summary,
                                 posterior=posterior, unit_pairs=unit_pairs)


# ----------------------------------------------------------------------------- fits
def fit_scr(det: pd.DataFrame, stations, mask, **capture):
    """The design's SCR fit of the detections' ``individual_id`` taken as certain (detections
    without one left out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ch = lynxid.capture_history(det[det["individual_id"].notna()], stations,
                                    occasion_length=DESIGN["occasion_length"], **capture)
        return lynxid.fit_density(ch, DETECTFN, mask=mask, check_buffer=False)


def fit_ids(det: pd.DataFrame, stations, mask, **capture) -> dict:
    """D from the detections' ``individual_id`` taken as certain (the truth IDs)."""
    fit = fit_scr(det, stations, mask, **capture)
    e = fit.estimates_dict()["D_100km2"]
    return {k: float(e[k]) for k in ("estimate", "lcl", "ucl")} | {"animals": int(fit.n)}


def fit_imputed(result, survey: dict, mask, K: int, seed: int, d=DESIGN, **sampling):
    """The multiple-imputation fit (with the hard-call fit inside it); ``sampling``: how the
    identities are drawn (``fit_density_imputed``'s ``sampler``, ``pair_evidence``, ...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lynxid.fit_density_imputed(result, survey["stations"], imputations=K, mask=mask, detectfn=DETECTFN,
                                          occasion_length=d["occasion_length"], seed=seed, n_jobs=1, progress=False,
                                          **sampling)


def imputed_row(imp) -> dict:
    """The figures of an ImputedDensity for one survey (its first session) and its hard fit."""
    e = imp.estimates.iloc[0]
    hard = next(iter(imp.hard.values()))
    failed = int(imp.draws["error"].notna().sum())
    return {"imputed": {k: float(e[k]) for k in ("estimate", "lcl", "ucl", "lcl_ids_certain", "ucl_ids_certain",
                                                 "share_identification")}
            | {"draws_failed": failed, "animals": imp.animals_detected().get("mean")},
            "hard": {k: float(hard[k]) for k in ("estimate", "lcl", "ucl")} | {"animals": imp.settings["hard_animals"]}}


def survey_mask(survey: dict, d=DESIGN):
    return habitat_mask(survey["habitat"], d["mask_cells"])


def run_survey(level: str, seed: int, bank: dict, K: int) -> dict:
    """One emulated survey: truth, hard and imputed fits."""
    t0 = time.perf_counter()
    sv = simulate_survey(seed)
    mask = survey_mask(sv)
    res = emulate_identification(sv, bank, np.random.default_rng([seed, 41]))
    det = res.detections
    row = {"level": level, "seed": seed, "K": K, "D_true": sv["D_100km2"], "N": sv["N"],
           "catalogue": len(sv["catalogue"]), "units": len(det), "called_new": int(det["is_new"].sum()),
           "hard_right": float(np.where(det["truth"].isin(sv["catalogue"]), det["individual_id"] == det["truth"],
                                        det["is_new"]).mean()),       # the known animal, or new for an unknown one
           "animals_true": int(sv["det"]["animal"].nunique())}
    truth_ids = sv["det"].assign(individual_id=sv["det"]["animal"])
    for name, fn in (("truth", lambda: fit_ids(truth_ids, sv["stations"], mask)), ("imputed", lambda: imputed_row(
            fit_imputed(res, sv, mask, K, seed)))):
        try:
            out = fn()
            row.update(out if name == "imputed" else {name: out})
        except ValueError as exc:                 # e.g. no recaptures
            row.setdefault("errors", {})[name] = str(exc)
    row["seconds"] = round(time.perf_counter() - t0, 2)
    return row


# ----------------------------------------------------------------------------- caching
def design_tag(d=DESIGN) -> str:
    """A short fingerprint of the design (a cached survey is reused only for the same one)."""
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def keys(bank: dict, n: int, K: int) -> list:
    """``(cache key, seed)`` of surveys 0..n-1: a cached row is reused for the same bank, K and design."""
    return [(f"{bank['tag']}|{s}|{K}|{design_tag()}|{SAMPLER}", s) for s in range(n)]


def cached_rows(path: Path) -> dict:
    """The rows of a JSON-lines cache by their ``key`` (empty where there is no file yet)."""
    if not path.exists():
        return {}
    return {r["key"]: r for r in map(json.loads, filter(str.strip, path.read_text().splitlines()))}


def resumable(path: Path, items, compute, label: str) -> list:
    """``compute(item)`` for each ``(key, item)``, each row cached in the JSON-lines file
    ``path`` under its key: a rerun computes only what is not there yet."""
    done = cached_rows(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for key, item in items:
        if key not in done:
            done[key] = dict(compute(item), key=key)
            with path.open("a") as f:
                f.write(json.dumps(done[key]) + "\n")
            print(f"{label} {item}: {done[key]['seconds']} s", flush=True)
        rows.append(done[key])
    return rows


def run_level(level: str, n: int, K: int, survey=None, name: str = "emulated") -> tuple[list, str]:
    """Surveys 0..n-1 at one accuracy level, each ``survey(level, seed, bank, K)`` (default
    :func:`run_survey`), cached in ``<name>_<level>.jsonl``."""
    bank, src = level_bank(level)
    survey = survey or run_survey
    label = f"{level} survey" if name == "emulated" else f"{name} {level} survey"
    rows = resumable(CACHE / f"{name}_{level}.jsonl", keys(bank, n, K),
                     lambda s: dict(survey(level, s, bank, K), bank=src), label)
    return rows, src


# ----------------------------------------------------------------------------- the image pipeline
def run_pipeline_seed(seed: int, K: int) -> dict:
    """One run_demo survey (photos -> identify -> capture history) fitted three ways."""
    out = CACHE / "pipeline" / f"seed_{seed}"
    t0 = time.perf_counter()
    done = out / "demo_summary.json"
    summary = (json.loads(done.read_text()) if done.exists() and (out / "identified" / "posterior.parquet").exists()
               else lynxid.run_demo(out, seed=seed, quiet=True, progress=False, imputations=2))
    rule = out / "identified" / "pairs_rule.txt"
    if not rule.exists() or rule.read_text() != PAIRS_RULE:
        # identified with an earlier rule for the unit pairs: again, from the cached features (the
        # hard calls do not change)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lynxid.identify(out / "survey" / "images", out / "catalogue", megadetector=out / "survey" / "megadetector.json",
                            out=out / "identified", progress=False)
        rule.write_text(PAIRS_RULE)
    meta = json.loads((out / "survey" / "survey.json").read_text())
    mask = habitat_mask(meta["habitat"])
    stations = out / "survey" / "stations.csv"
    dens = summary["density"]
    row = {"seed": seed, "K": K, "D_true": dens["truth"], "accuracy": summary["accuracy"],
           "demo_seconds": summary["seconds"]["total"]}
    if "error" not in dens:
        row["hard"] = {k: dens[k] for k in ("estimate", "lcl", "ucl")} | {"animals": dens.get("animals_detected")}
    res = lynxid.IdentifyResult.read(out / "identified")
    if "base_rate" not in res.unit_pairs:   # identify runs before unit_pairs carried it
        diag = json.loads((out / "catalogue" / "catalogue.json").read_text())["model"]["diagnostics"]
        res.unit_pairs["base_rate"] = diag["matching_pairs"] / diag["pairs"]
    truth = pd.read_csv(out / "survey" / "truth" / "images.csv")[["file", "individual"]]
    det = res.detections.drop(columns=["individual_id"]).merge(truth, on="file", how="left")
    det = det.rename(columns={"individual": "individual_id"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in (("truth", lambda: fit_ids(det, stations, mask, unknown_stations="exclude")),
                         ("imputed", lambda: imputed_row(fit_pipeline_imputed(res, out, K, seed))["imputed"])):
            try:
                row[name] = fn()
            except ValueError as exc:
                row.setdefault("errors", {})[name] = str(exc)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def fit_pipeline_imputed(res, out: Path, K: int, seed: int, **sampling):
    """A pipeline survey's multiple-imputation fit as this benchmark fits them (HN on the
    simulator's habitat, 5-day occasions, detections at stations not in the table left out);
    ``sampling``: how the identities are drawn (``fit_density_imputed``'s ``sampler`` ...)."""
    habitat = json.loads((out / "survey" / "survey.json").read_text())["habitat"]
    return lynxid.fit_density_imputed(res, out / "survey" / "stations.csv", imputations=K, detectfn=DETECTFN,
                                      mask=habitat_mask(habitat), occasion_length=5, unknown_stations="exclude",
                                      seed=seed, n_jobs=1, progress=False, **sampling)


def run_pipeline(n: int, K: int) -> list:
    return resumable(CACHE / "pipeline.jsonl", [(f"{s}|{K}|{SAMPLER}", s) for s in range(1, n + 1)],
                     lambda s: run_pipeline_seed(s, K), "pipeline seed")


# ----------------------------------------------------------------------------- summary
WAYS = ("truth", "hard", "imputed")


def summarise(rows: list, ways=WAYS) -> dict:
    """Per way: surveys fitted, relative bias of D (with its MC SE), coverage of the true D by
    the 95 % interval (with its binomial SE), mean interval width; imputed: the mean share of
    variance due to identification and the coverage of its identities-certain interval."""
    out = {}
    for w in ways:
        ok = [r for r in rows if w in r]
        if not ok:
            continue
        t = np.array([r["D_true"] for r in ok])
        est, lcl, ucl = (np.array([r[w][k] for r in ok]) for k in ("estimate", "lcl", "ucl"))
        rel, cov = est / t - 1, (lcl <= t) & (t <= ucl)
        s = {"surveys": len(ok), "failed": len(rows) - len(ok), "relative_bias": float(rel.mean()),
             "bias_mcse": float(rel.std(ddof=1) / np.sqrt(len(ok))) if len(ok) > 1 else None,
             "relative_rmse": float(np.sqrt((rel ** 2).mean())), "coverage": float(cov.mean()),
             "coverage_se": float(np.sqrt(cov.mean() * (1 - cov.mean()) / len(ok))),
             "mean_ci_width": float((ucl - lcl).mean()), "mean_relative_ci_width": float(((ucl - lcl) / t).mean()),
             "mean_animals": float(np.mean([r[w].get("animals", np.nan) or np.nan for r in ok]))}
        if "share_identification" in ok[0][w]:           # an imputation (independent or latent)
            lc, uc = (np.array([r[w][k] for r in ok]) for k in ("lcl_ids_certain", "ucl_ids_certain"))
            s |= {"mean_share_identification": float(np.mean([r[w]["share_identification"] for r in ok])),
                  "coverage_ids_certain": float(((lc <= t) & (t <= uc)).mean()),
                  "draws_failed": int(sum(r[w].get("draws_failed", 0) for r in ok))}
        out[w] = s
    return out


def _table(title: str, summaries: dict, n_label: str) -> list:
    lines = [title, "", f"| {n_label} | IDs | surveys | rel. bias of D (MC SE) | 95 % coverage (SE) | mean CI width "
             "(per 100 km²) | mean CI width / D | animals | ID share of variance |", "|---" * 9 + "|"]
    for lev, s in summaries.items():
        for w, q in s.items():
            share = f"{100 * q['mean_share_identification']:.0f} %" if "mean_share_identification" in q else ""
            mc = f"{100 * q['bias_mcse']:.1f}" if q["bias_mcse"] is not None else "-"
            lines.append(f"| {lev} | {w} | {q['surveys']} | {100 * q['relative_bias']:+.1f} % ({mc}) | "
                         f"{q['coverage']:.2f} ({q['coverage_se']:.2f}) | {q['mean_ci_width']:.2f} | "
                         f"{q['mean_relative_ci_width']:.2f} | {q['mean_animals']:.1f} | {share} |")
    return lines


def markdown(res: dict, cmds: list, info: dict) -> str:
    lines = ["# Density intervals that include identification error: coverage", "", *[f"`{c}`" for c in cmds], ""]
    if res.get("emulated"):
        d = DESIGN
        lines += [f"SCR surveys simulated from the model ({d['nx']} x {d['ny']} stations {d['spacing'] / 1000:g} km "
                  f"apart, {d['days']} days, HN g0 {d['g0']} per day, sigma {d['sigma'] / 1000:g} km, D "
                  f"{d['D'] * 1e4:g} per 100 km², {100 * d['known_share']:.0f} % of the animals in the catalogue), "
                  "identified by an emulation of identify at the error rates measured by benchmarks/posterior_calibration.py "
                  f"(K = {res['imputations']} imputations):", ""]
        for lev, r in res["emulated"].items():
            b = r["bank_rates"]
            lines.append(f"* {lev}: bank {r['bank']} ({b['records_known']} + {b['records_unknown']} records) — known "
                         f"animals called right {100 * b['known_called_right']:.0f} %, unknown called new "
                         f"{100 * b['unknown_called_new']:.0f} %; per survey {r['mean_units']:.0f} units (events), "
                         f"hard calls right {100 * r['mean_hard_right']:.0f} %")
        lines += [""] + _table("## Emulated identification", {k: v["summary"] for k, v in res["emulated"].items()},
                               "accuracy")
    if res.get("pipeline"):
        p = res["pipeline"]
        lines += ["", f"## Through the image pipeline (run_demo: {p['surveys']} seeds, 12 lynx, 8 known, 40 days; "
                  f"K = {res['pipeline_imputations']})", "",
                  f"Mean identification accuracy {100 * p['mean_accuracy']:.0f} % of detections "
                  f"(ARI {p['mean_ari']:.2f}).", ""] + _table("", {"pipeline": p["summary"]}, "part")[2:]
    lines += ["", "Coverage counts intervals containing the true D; bias and width are means over surveys fitted "
              "(a survey whose fit raised, e.g. no recaptures, is left out of that row). Imputed: Rubin's rules over "
              "the draws (lynxid.fit_density_imputed); 'ID share' is the mean share of the variance of log D due to "
              "identification.", "", machine_line(info)]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--surveys", type=int, default=100, help="emulated surveys per accuracy level")
    ap.add_argument("--imputations", type=int, default=20, help="K, draws per imputed fit")
    ap.add_argument("--level", choices=list(LEVELS), action="append", help="accuracy level(s) (default both)")
    ap.add_argument("--pipeline", type=int, default=0, help="run_demo surveys through the image pipeline")
    ap.add_argument("--pipeline-imputations", type=int, default=20)
    ap.add_argument("--report", action="store_true", help="write results/id_coverage.* (default: when all ran)")
    a = ap.parse_args()
    info = {"machine": machine(), "load": load_snapshot(0.5)}
    res = {"design": DESIGN, "imputations": a.imputations, "pipeline_imputations": a.pipeline_imputations,
           "emulated": {}}
    with threadpool_limits(1):
        for lev in (a.level or list(LEVELS)) if a.surveys else []:
            rows, src = run_level(lev, a.surveys, a.imputations)
            res["emulated"][lev] = {"bank": src, "bank_rates": bank_rates(level_bank(lev)[0]), "surveys": a.surveys,
                                    "mean_units": float(np.mean([r["units"] for r in rows])),
                                    "mean_hard_right": float(np.mean([r["hard_right"] for r in rows])),
                                    "summary": summarise(rows), "rows": rows}
        if a.pipeline:
            rows = run_pipeline(a.pipeline, a.pipeline_imputations)
            res["pipeline"] = {"surveys": a.pipeline, "summary": summarise(rows),
                               "mean_accuracy": float(np.mean([r["accuracy"]["accuracy"] for r in rows])),
                               "mean_ari": float(np.mean([r["accuracy"]["ari"] for r in rows])), "rows": rows}
    if a.report or (a.surveys and a.pipeline):
        cmds = [f"nice .venv/bin/python benchmarks/id_coverage.py --surveys {a.surveys} --imputations {a.imputations}"
                f" --pipeline {a.pipeline} --pipeline-imputations {a.pipeline_imputations} --report"]
        write_results("id_coverage", dict(info, command=cmds[0], **res), markdown(res, cmds, info))
    else:
        print(json.dumps({k: v["summary"] for k, v in (res["emulated"] | {"pipeline": res.get("pipeline")}).items()
                          if v}, indent=1))


if __name__ == "__main__":
    main()
