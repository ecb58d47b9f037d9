"""How an event's photos are pooled before the open-set decision, on simulated surveys with truth.

Each seed simulates the demo's survey (12 lynx, 8 in the catalogue, 40 days; ``lynxid demo``
is seed 1), builds the catalogue once, and identifies the survey with each variant:

* ``mean`` / ``max``: an event's evidence pooled by ``match.pool(how=...)`` (identify pools by the
  mean; ``max`` is patched in here) with 20 s events (the default gap);
* ``photo``: ``event_gap=0``, every photo decided on its own (no pooling at all);
* ``10 neighbours``: new events clustered after local matching with only their 10 nearest
  new events by the embedding (``cluster.CLUSTER_NEIGHBOURS`` is 40); in both, pairs not
  checked carry no evidence (until commit fa42032 they were scored by the embedding alone,
  which split new lynx further: 81.8 % right with ``mean`` in that commit's results);
* ``fitted flank-blind``: the catalogue's model fitted on its references with their flanks
  blanked, so that each leave-one-out query is matched against references of both flanks, as
  the survey's untagged photos are (until this benchmark did it itself, ``IdentificationModel.fit`` had a
  ``query_flanks=False`` flag for it; blanking the flanks also lets the learned metric's choice
  see no flanks);
* ``no-dense max``: the model fitted without the dense evidence (no pair verifier), as the
  release before the verifier had it.

Every variant's model is refitted from the catalogue's references by this lynxid.
Figures from ``evaluate.survey_accuracy``: share of detections right, of known animals'
detections given their name, of new animals' detections called new, ARI.

    .venv/bin/python benchmarks/event_pooling.py [--seeds 1 2 3]

writes benchmarks/results/event_pooling.{json,md}. Surveys and catalogues are kept under
benchmarks/_work/event_pooling/ and reused.
"""
from __future__ import annotations

import argparse
import json
import time
from unittest import mock

from _common import RESULTS, WORK, load_snapshot, machine

# (name, how the catalogue's model is fitted, how identify pools)
VARIANTS = [
    ("mean", dict(), dict(pooling="mean")),
    ("max", dict(), dict(pooling="max")),
    ("photo", dict(), dict(event_gap=0)),
    ("mean, 10 neighbours", dict(), dict(pooling="mean", neighbours=10)),
    ("max, 10 neighbours", dict(), dict(pooling="max", neighbours=10)),
    ("max, fitted flank-blind", dict(flank_blind=True), dict(pooling="max")),
    ("no-dense max", dict(dense=False), dict(pooling="max")),
]


def _fit(cat, dense=True, flank_blind=False):
    """The catalogue's model refitted by this lynxid; ``dense=False``: as IdentificationModel.fit makes it
    when no pair verifier can be fitted; ``flank_blind``: on the references with their flanks
    blanked (each leave-one-out query then meets both flanks)."""
    import dataclasses

    import numpy as np

    from lynxid import openset
    from lynxid.match import Matcher
    refs = cat.references()
    if flank_blind:
        refs = dataclasses.replace(refs, flanks=np.full(len(refs), None, dtype=object))
    if dense:
        return openset.IdentificationModel(Matcher(use_local=True)).fit(refs, progress=False)
    with mock.patch.object(openset, "dense_evidence",
                           lambda pairs, ptab, verifier=None: (0 * pairs["g"].to_numpy(), None)):
        return openset.IdentificationModel(Matcher(use_local=True)).fit(refs, progress=False)


SETTINGS = {"demo": dict(n_individuals=12, n_known=8, n_days=40),
            # tests/test_identify_e2e.py's survey
            "small": dict(n_individuals=8, n_known=5, n_days=25, image_size=(640, 480))}


def run_seed(seed: int, variants, setting: str = "demo") -> list[dict]:
    from lynxid import cluster, identification, match
    from lynxid.catalogue import Catalogue
    from lynxid.enrol import build_catalogue
    from lynxid.evaluate import survey_accuracy
    from lynxid.identification import identify
    from lynxid.simulate import SimulatedSurvey, simulate_survey

    root = WORK / "event_pooling" / (f"seed{seed}" if setting == "demo" else f"{setting}-seed{seed}")
    if (root / "survey" / "survey.json").exists():
        survey = SimulatedSurvey.load(root / "survey")
    else:
        survey = simulate_survey(root / "survey", seed=seed, progress=False, **SETTINGS[setting])
    if (root / "catalogue" / "catalogue.json").exists():
        cat = Catalogue.load(root / "catalogue")
    else:
        cat = build_catalogue(root / "catalogue", survey.catalogue_images,
                              megadetector=survey.catalogue_megadetector_json, progress=False)
    truth = survey.truth("images")
    models = {}
    rows = []
    for name, fit_kw, kw in variants:
        key = json.dumps(fit_kw, sort_keys=True)
        if key not in models:
            models[key] = _fit(cat, **fit_kw).to_dict()
        cat.meta["model"] = models[key]
        kw = dict(kw)
        t0 = time.time()
        how = kw.pop("pooling", "mean")
        with mock.patch.object(cluster, "CLUSTER_NEIGHBOURS", kw.pop("neighbours", cluster.CLUSTER_NEIGHBOURS)), \
                mock.patch.object(identification, "pool", lambda evs, how=how: match.pool(evs, how)):
            res = identify(survey.images, cat, megadetector=survey.megadetector_json, cache_dir=root / "cache",
                           progress=False, **kw)
        acc = survey_accuracy(res.detections, truth)
        rows.append({"seed": seed, "variant": name, "seconds": round(time.time() - t0, 1),
                     "events": res.summary["events"], "new_weight": round(models[key]["new_weight"], 4), **acc})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--variants", nargs="+", default=[v for v, _, _ in VARIANTS])
    ap.add_argument("--setting", choices=sorted(SETTINGS), default="demo",
                    help="demo: lynxid demo's survey; small: the end-to-end test's (8 lynx, 5 known, 25 days)")
    a = ap.parse_args()
    variants = [v for v in VARIANTS if v[0] in a.variants]
    if len(variants) != len(a.variants):
        ap.error(f"variants are {[v for v, _, _ in VARIANTS]}")
    rows = [r for s in a.seeds for r in run_seed(s, variants, a.setting)]
    stem = "event_pooling" if a.setting == "demo" else f"event_pooling_{a.setting}"
    cfg = SETTINGS[a.setting]
    out = {"machine": machine(), "load": load_snapshot(), "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1))
    import pandas as pd
    t = pd.DataFrame(rows)
    lines = [f"# Events and new individuals on simulated surveys ({cfg['n_individuals']} lynx, {cfg['n_known']} "
             f"known, {cfg['n_days']} days)", "",
             f"`.venv/bin/python benchmarks/event_pooling.py --setting {a.setting} --seeds "
             + " ".join(map(str, a.seeds)) + (" --variants " + " ".join(f"'{v}'" for v in a.variants)
                                              if len(a.variants) < len(VARIANTS) else "") + "`"
             + ("; seed 1 is `lynxid demo`'s survey" if a.setting == "demo" else "; the end-to-end test's survey")
             + ". Shares of detections, from `evaluate.survey_accuracy`.", "",
             "| seed | variant | events | right | known named | new called new | ARI |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['variant']} | {r['events']} | {100 * r['accuracy']:.1f} % | "
                     f"{100 * r['known_accuracy']:.1f} % | {100 * r['new_recall']:.1f} % | {r['ari']:.3f} |")
    m = t.groupby("variant", sort=False)[["accuracy", "known_accuracy", "new_recall", "ari"]].mean()
    lines += ["", "Mean over seeds:", "", "| variant | right | known named | new called new | ARI |",
              "|---|---|---|---|---|"]
    for v, r in m.iterrows():
        lines.append(f"| {v} | {100 * r.accuracy:.1f} % | {100 * r.known_accuracy:.1f} % | "
                     f"{100 * r.new_recall:.1f} % | {r.ari:.3f} |")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
