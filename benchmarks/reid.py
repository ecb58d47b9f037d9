"""Re-identification benchmark on real photos: the evaluation harness on the shared nyala and
lion sets, global-only baseline vs lynxid's full method, optionally with species adaptation,
and the time of one query against a 2,000-photo catalogue.

Rerun (from the repository root; ../shared/data must exist):

    .venv/bin/python benchmarks/reid.py                 # both datasets, ImageNet weights (~30 min on 2 cores)
    .venv/bin/python benchmarks/reid.py --adapt         # + adaptation on 2/3 of nyala's individuals,
                                                        #   tested on the other third (~1 h more)
    .venv/bin/python benchmarks/reid.py --datasets nyala --skip-latency

Writes benchmarks/results/reid.json and benchmarks/results/reid.md (and reliability plots).
Every figure is produced by `lynxid.evaluate.evaluate_dataset`, the function behind
`lynxid evaluate DATASET_DIR`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from lynxid import storage  # noqa: E402
from lynxid.evaluate import METHOD_LABELS, evaluate_dataset, format_report  # noqa: E402
from lynxid.openset_evaluation import REPORTED_MAPS  # noqa: E402

SHARED = Path(os.environ.get("LYNXID_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "benchmarks" / "_work" / "reid"


def split_dataset(src: Path, dst: Path, test_fraction: float, seed: int) -> tuple[Path, Path]:
    """Folder-per-individual split by individual (links, no copies): train and test share no animal."""
    ids = sorted(p.name for p in src.iterdir() if p.is_dir())
    rng = np.random.default_rng(seed)
    rng.shuffle(ids)
    n_test = int(round(len(ids) * test_fraction))
    out = {}
    for part, names in (("test", ids[:n_test]), ("train", ids[n_test:])):
        d = dst / part
        d.mkdir(parents=True, exist_ok=True)
        for i in names:
            link = d / i
            if not link.exists():
                link.symlink_to((src / i).resolve(), target_is_directory=True)
        out[part] = d
    return out["train"], out["test"]


SIM_INDIVIDUALS = 20


def simulated_dataset(seed: int) -> tuple[Path, Path]:
    """The simulator's reference catalogue of SIM_INDIVIDUALS lynx (3 sightings x 2 flanks
    each, file names "01_left.jpg"): lynx-like coats whose truth is known."""
    from lynxid.simulate import SurveyConfig, simulate_survey
    root = WORK / f"simulated-{seed}"
    if not (root / "catalogue_megadetector.json").exists():
        cfg = SurveyConfig(n_individuals=SIM_INDIVIDUALS, n_known=SIM_INDIVIDUALS, n_days=5, max_detections=1,
                           inject_bad_files=False, seed=seed + 1)
        simulate_survey(root, cfg, progress=True)
    return root / "catalogue", root / "catalogue_megadetector.json"


def latency(n_refs: int = 2000, n_queries: int = 100, seed: int = 0) -> dict:
    """One query (global + local evidence, features cached) against ``n_refs`` references."""
    from lynxid.embed import Embedder
    from lynxid.features import extract_features
    from lynxid.ingest import scan_catalogue, whole_image_detections
    from lynxid.match import (DEEP_BUDGET, DEEP_INDIVIDUALS, DEEP_PER_INDIVIDUAL, SHORTLIST_INDIVIDUALS,
                              SHORTLIST_PER_INDIVIDUAL, References, evidence)

    frames = []
    for name in ("nyala", "lion"):
        if (SHARED / "reid" / name).exists():
            imgs, _ = scan_catalogue(SHARED / "reid" / name)
            imgs["individual"] = name + "/" + imgs["individual"]
            frames.append(imgs)
    import pandas as pd
    det = whole_image_detections(pd.concat(frames, ignore_index=True))
    emb = Embedder()
    fs = extract_features(det, emb, local=True, cache_dir=WORK / "cache", progress=False)
    keep = np.nonzero(fs.ok)[0]
    det, fs = det.iloc[keep].reset_index(drop=True), fs.subset(keep)
    rng = np.random.default_rng(seed)
    # the catalogue: n_refs photos (all of them if fewer); queries: others' photos
    idx = rng.permutation(len(det))
    n_refs = min(n_refs, len(det) - n_queries - 20)   # 20 more photos fit the verifier
    ref_i, q_i = idx[:n_refs], idx[n_refs:n_refs + n_queries]
    refs = References(fs.vectors[ref_i], [fs.local[i] for i in ref_i], det["individual"].to_numpy()[ref_i].astype(str),
                      det["flank"].to_numpy(dtype=object)[ref_i], det["sighting"].to_numpy()[ref_i].astype(str))
    # a pair verifier (as a catalogue stores one) fitted on 20 other photos' checked pairs, so the
    # timed queries include applying it; these 20 also warm up the caches and thread pool
    from lynxid.pairs import pair_rows, pair_table
    from lynxid.verify import PairVerifier
    prows = []
    for q in idx[n_refs + n_queries:n_refs + n_queries + 20]:
        ev = evidence(fs.vectors[q], fs.local[q], det["flank"].iat[q], refs)
        prows += pair_rows(q, ev, refs, refs.vectors @ fs.vectors[q], str(det["individual"].iat[q]))
    pt = pair_table(prows)
    verifier = PairVerifier().fit(np.stack(pt["X"].to_numpy()), pt["y"]) if pt["y"].nunique() == 2 else None
    # the learned metric that chooses the shortlist (the default, metric.DEFAULT_USE): fitted and
    # applied to the references once, as a catalogue's model is; each query is mapped and
    # compared with every reference inside the timing
    from lynxid import metric
    W = metric.fit(refs.vectors, refs.individuals) if metric.DEFAULT_USE == "shortlist" else None
    RW = None if W is None else W.apply(refs.vectors)
    times = []
    for q in q_i:
        t = time.perf_counter()
        rank = None if W is None else RW @ W.apply(fs.vectors[q][None])[0]
        evidence(fs.vectors[q], fs.local[q], det["flank"].iat[q], refs, verifier=verifier, rank_sims=rank)
        times.append(time.perf_counter() - t)
    t = np.array(times) * 1000
    return {"measured": time.strftime("%Y-%m-%d %H:%M"), "lynxid_commit": _commit(),
            "references": int(n_refs), "queries": int(len(q_i)), "p50_ms": float(np.percentile(t, 50)),
            "p95_ms": float(np.percentile(t, 95)), "mean_ms": float(t.mean()),
            "verifier": verifier is not None, "shortlist_metric": W is not None,
            "note": f"global similarity to every reference{' (and in the learned metric that picks the shortlist)' if W is not None else ''} + RANSAC-verified keypoint and dense grid matching, pair verifier, against the {SHORTLIST_PER_INDIVIDUAL} best "
                    f"photos of the {SHORTLIST_INDIVIDUALS} best individuals, then up to {DEEP_PER_INDIVIDUAL} photos of the "
                    f"{DEEP_INDIVIDUALS} that matched best ({DEEP_BUDGET} more at most: up to "
                    f"{SHORTLIST_INDIVIDUALS * SHORTLIST_PER_INDIVIDUAL + DEEP_BUDGET} pairs); features cached"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="*", default=["nyala", "lion", "simulated"],
                    help="nyala, lion (../shared/data/reid) and/or simulated (made by lynxid's simulator); "
                         "none (a bare --datasets) with --adapt reruns only the adaptation")
    ap.add_argument("--adapt", action="store_true", help="also adapt on 2/3 of nyala's individuals, test on the rest")
    ap.add_argument("--adapt-epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-latency", action="store_true")
    a = ap.parse_args(argv)
    if not (SHARED / "reid").exists() and set(a.datasets) - {"simulated"}:
        sys.exit(f"shared data not found at {SHARED}; set LYNXID_SHARED_DATA")
    started = time.strftime("%Y-%m-%d %H:%M")
    results = {"measured": started, "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
               "load_average_at_start": os.getloadavg(), "datasets": {}, "adaptation": None, "latency": None}
    prev = RESULTS / "reid.json"
    if prev.exists():   # keep parts not rerun this time
        old = json.loads(prev.read_text())
        results["datasets"].update(old.get("datasets", {}))
        results["adaptation"] = old.get("adaptation")
        results["latency"] = old.get("latency")
    for name in a.datasets:
        print(f"== {name}", flush=True)
        if name == "simulated":
            root, md = simulated_dataset(a.seed)
            rep = evaluate_dataset(root, megadetector=md, cache_dir=WORK / "cache", seed=a.seed, progress=True)
            rep["command"] = (f"lynxid simulate DIR --individuals {SIM_INDIVIDUALS} --known {SIM_INDIVIDUALS} --days 5 "
                              f"--seed {a.seed + 1}; lynxid evaluate DIR/catalogue --megadetector "
                              f"DIR/catalogue_megadetector.json --seed {a.seed}")
        else:
            rep = evaluate_dataset(SHARED / "reid" / name, cache_dir=WORK / "cache", seed=a.seed, progress=True)
            rep["command"] = f"lynxid evaluate ../shared/data/reid/{name} --seed {a.seed}"
        rep["measured"] = time.strftime("%Y-%m-%d %H:%M")
        rep["lynxid_commit"] = _commit()
        results["datasets"][name] = rep
        print(format_report(rep), flush=True)
        _plot(rep, name)
    if a.adapt:
        train, test = split_dataset(SHARED / "reid" / "nyala", WORK / "nyala_split", 1 / 3, a.seed)
        weights = WORK / "nyala_train_adapted.safetensors"
        from lynxid.adapt import adapt
        t = time.time()
        rec = adapt(train, weights, epochs=a.adapt_epochs, seed=a.seed)
        t_adapt = time.time() - t
        base = evaluate_dataset(test, cache_dir=WORK / "cache", seed=a.seed)
        adapted = evaluate_dataset(test, weights=weights, cache_dir=WORK / "cache", seed=a.seed)
        for rep in (base, adapted):
            rep["measured"], rep["lynxid_commit"] = time.strftime("%Y-%m-%d %H:%M"), _commit()
        results["adaptation"] = {
            "measured": time.strftime("%Y-%m-%d %H:%M"),
            "protocol": "nyala individuals split by seed: 2/3 train (lynxid adapt), 1/3 test (never seen in "
                        "training); both rows evaluated on the test third with lynxid evaluate",
            "train_individuals": rec["individuals"], "train_photos": rec["photos"], "epochs": rec["epochs"],
            "adapt_seconds": round(t_adapt, 1), "imagenet": base, "adapted": adapted,
            "commands": [f"lynxid adapt {train} --out nyala_train_adapted.safetensors --epochs {a.adapt_epochs}",
                         f"lynxid evaluate {test}", f"lynxid evaluate {test} --weights nyala_train_adapted.safetensors"]}
        print("== adaptation: ImageNet on the test third\n" + format_report(base), flush=True)
        print("== adaptation: adapted on the train third\n" + format_report(adapted), flush=True)
    if not a.skip_latency:
        results["latency"] = latency()
        print(f"== one query vs {results['latency']['references']} references: "
              f"p50 {results['latency']['p50_ms']:.0f} ms, p95 {results['latency']['p95_ms']:.0f} ms", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    storage.write_json(RESULTS / "reid.json", results)
    storage.write_text(RESULTS / "reid.md", to_markdown(results))
    print(f"written {RESULTS / 'reid.md'}")


def _plot(rep, name):
    import pandas as pd
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:   # pragma: no cover
        return
    r = rep["modes"].get("excl-sighting", {}).get("full")
    if not r:
        return
    t = pd.DataFrame(r["reliability"])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", c="grey", lw=1)
    m = t["n"] > 0
    ax.plot(t.loc[m, "mean_probability"], t.loc[m, "observed_frequency"], "o-", c="#b5651d")
    for _, row in t[m].iterrows():
        ax.annotate(str(int(row["n"])), (row["mean_probability"], row["observed_frequency"]), fontsize=7,
                    xytext=(3, -8), textcoords="offset points")
    ax.set_xlabel("predicted probability (shortlisted candidates)")
    ax.set_ylabel("observed frequency of a true match")
    ax.set_title(f"{name}: reliability, excluding same sighting\nECE = {r['ece']:.3f}", fontsize=9)
    fig.tight_layout()
    with storage.atomic_path(RESULTS / f"reid_reliability_{name}.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _commit() -> str | None:
    """The checkout's commit (with '+changes' when the tree differs from it; this benchmark's
    own results, which it rewrites as it goes, do not count)."""
    import subprocess
    try:
        c = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/results"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return c + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def to_markdown(res: dict) -> str:
    lines = ["# Re-identification benchmark", "",
             f"Last run {res['measured']} on {res['machine']} (load average at start "
             f"{', '.join(f'{x:.1f}' for x in res['load_average_at_start'])}). Rerun: "
             "`.venv/bin/python benchmarks/reid.py [--adapt]`. Every number comes from "
             "`lynxid.evaluate.evaluate_dataset` (`lynxid evaluate DATASET`).", "",
             "Protocols (leave-one-out: every photo a query once against all others; an individual's score is "
             "its best photo): **all** = flanks unknown to the matcher, only the query left out; "
             "**same-flank** = the gallery holds only the query's flank; **excl-sighting** = the query's whole "
             "sighting left out. ECE: fused probability of the shortlisted candidates (cross-validated by "
             "individual); top-1: of the best candidate.", ""]

    def table(rep, title):
        when = (f"Measured {rep['measured']} (lynxid commit {rep.get('lynxid_commit') or 'unknown'}). "
                if rep.get("measured") else f"Measured before {res['measured']}, in an earlier run (see git history). ")
        out = [f"### {title}", "",
               when + f"{rep['images']} photos, {rep['individuals']} individuals, {rep['with_flank']} with a flank; "
               f"backbone `{rep['backbone']}`.", "",
               "| protocol | method | rank-1 | rank-5 | mAP | MAP@R | ECE | ECE top-1 | queries |",
               "|---|---|---|---|---|---|---|---|---|"]
        for mode, r in rep["modes"].items():
            for meth in ("global", "global_whitened", "full"):
                if meth in r:
                    m = r[meth]
                    ece = f"{m['ece']:.3f}" if "ece" in m else ""
                    e1 = f"{m['ece_top1']:.3f}" if "ece_top1" in m else ""
                    out.append(f"| {mode} | {METHOD_LABELS[meth]} | {100 * m['rank1']:.1f} % | {100 * m['rank5']:.1f} % | "
                               f"{100 * m['mAP']:.1f} % | {100 * m['MAP@R']:.1f} % | {ece} | {e1} | {m.get('queries', r['queries'])} |")
        w = rep.get("whitening")
        if w:
            out += ["", "Learned metric of the embedding (`lynxid.metric`): " + (
                f"used ({w['whitening_dim']} dimensions; cross-fitted mean reciprocal rank of the embedding "
                f"{w['mrr_raw']:.3f} raw, {w['mrr_whitened']:.3f} whitened)." if w.get("whitening") else
                f"not used ({w.get('whitening_reason') or 'it did not rank the individuals better: MRR %.3f raw, %.3f whitened' % (w['mrr_raw'], w['mrr_whitened'])}).")]
        o = rep.get("open_set")
        if o:
            out += ["", f"Open set ({o['known_individuals']} known / {o['unknown_individuals']} unknown individuals, "
                    f"flanks known): BAKS {o['BAKS']:.3f}, BAUS {o['BAUS']:.3f}, sqrt(BAKS·BAUS) **{o['gmean']:.3f}**; "
                    f"clustering of the detections called new: ARI {o['ari_new']:.3f}."]
            if "baks_ceiling" in o:
                out += ["", f"What bounds it: the top candidate is right for a balanced {o['baks_ceiling']:.3f} of the "
                        f"known queries (BAKS never exceeds that, so sqrt(BAKS·BAUS) <= {o['gmean_ceiling']:.3f}); the "
                        f"best single 'new' threshold chosen in hindsight on these queries gives "
                        f"{o['gmean_best_threshold_in_hindsight']:.3f}."]
            if "ece_decision" in o:
                out += ["", f"The probability reported with each of these {o['decisions']} decisions (P of the named "
                        f"individual, or P(new)): mean {o['mean_shown_probability']:.3f}, decisions right "
                        f"{o['decision_accuracy']:.3f}, ECE **{o['ece_decision']:.3f}** "
                        f"({o.get('ece_decision_unmapped', float('nan')):.3f} before the catalogue's maps of reported "
                        "probabilities, `reported.ReportedProbability`"
                        + (f"; {o['ece_decision_one_map']:.3f} with one map for named and new decisions alike"
                           if "ece_decision_one_map" in o else "")
                        + "".join(f"; {v:.3f} with {k} maps (how lynxid mapped them before)"
                                  for k, v in o.get("ece_decision_by_map", {}).items() if k != next(iter(REPORTED_MAPS)))
                        + ")."]
            if "posterior" in o:
                q = o["posterior"]
                out += ["", f"The whole posterior over {{each candidate, new}} as identify reports it (detections.csv, "
                        f"R, the review page; `ReportedProbability.posterior`), on the same {q['decisions']} "
                        f"decisions: top-1 ECE **{q['ece_top1']:.3f}** (mean probability {q['mean_top1']:.3f}, "
                        f"right {q['decisions_right']:.3f}); every answer of every query ECE "
                        f"{q['ece_every_answer']:.4f}. Reliability plot: `reid_reliability_<dataset>.png`."]
        s = rep.get("seconds", {})
        if s:
            out += ["", f"Time: {s['total']} s in all; features {1000 * s['features_per_image']:.0f} ms per photo; "
                    f"identification {1000 * s['identification_per_query']:.0f} ms per query."]
        return out + [""]

    for name, rep in res["datasets"].items():
        lines += table(rep, f"{name} (`{rep.get('command', '')}`)")
    ad = res.get("adaptation")
    if ad:
        when = (f"Measured {ad['measured']}" if ad.get("measured") else
                "Measured in an earlier run than the tables above, with the lynxid of that time")
        lines += ["## Adaptation to a species (`lynxid adapt`)", "", f"{when} (`benchmarks/reid.py --adapt`).",
                  ad["protocol"] + ".",
                  f"Trained on {ad['train_photos']} photos of {ad['train_individuals']} individuals, "
                  f"{ad['epochs']} epochs, {ad['adapt_seconds']} s.", "", "Commands: " +
                  "; ".join(f"`{c}`" for c in ad["commands"]), ""]
        lines += table(ad["imagenet"], "test third, ImageNet weights")
        lines += table(ad["adapted"], "test third, adapted weights")
    lat = res.get("latency")
    if lat:
        lines += ["## One query against a catalogue", "",
                  f"{lat['references']} reference photos (nyala + lion), {lat['queries']} queries: "
                  f"p50 **{lat['p50_ms']:.0f} ms**, p95 {lat['p95_ms']:.0f} ms ({lat['note']}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
