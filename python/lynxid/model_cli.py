"""The ``lynxid adapt``, ``lynxid evaluate`` and ``lynxid features`` commands (registered in
:mod:`lynxid.cli`): the image model and its features -- fine-tune it on labelled photos,
measure its accuracy, and compute features ahead of time (on one machine or a Dask cluster)."""
from __future__ import annotations

from .metric import DEFAULT_NAME as DEFAULT_METRIC, NAMES as METRIC_NAMES
from .runtime_cli import add_cache_dir_arg, add_runtime_args, runtime_from_args

__all__ = ["add_adapt", "add_evaluate", "add_features"]


def add_adapt(sub, formatter):
    p = sub.add_parser("adapt", formatter_class=formatter,
                       help="fine-tune the image model on labelled photos of your species (CPU, slow)",
                       description="Teach the default image model (EfficientNet-Lite0, ImageNet) which individual is "
                       "which, from labelled photos (DATASET/<individual>/<image>; flank from 'left'/'right' in file "
                       "names). Writes a .safetensors weights file to use with 'catalogue build --weights' and "
                       "'evaluate --weights'. Check it with 'lynxid evaluate' on individuals it was not trained on.")
    p.add_argument("dataset", help="labelled photos: DATASET/<individual>/<image>")
    p.add_argument("--out", required=True, help="weights file to write (.safetensors); a .json record goes beside it")
    p.add_argument("--megadetector", help="MegaDetector JSON with boxes for the photos")
    p.add_argument("--epochs", type=int, default=12, help="passes over the photos (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="photos per step (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (default: %(default)s)")
    p.add_argument("--loss", choices=["triplet", "arcface"], default="triplet",
                   help="metric-learning loss (default: %(default)s)")
    p.add_argument("--freeze-blocks", type=int, default=2, help="early network blocks kept frozen (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    def run(a):
        from . import adapt_embedding
        rec = adapt_embedding(a.dataset, a.out, megadetector=a.megadetector, epochs=a.epochs,
                              batch_size=a.batch_size, lr=a.lr, loss=a.loss, freeze_blocks=a.freeze_blocks,
                              seed=a.seed, threads=a.threads, progress=not a.quiet)
        print(f"adapted on {rec['photos']} photos of {rec['individuals']} individuals in {rec['seconds']} s; "
              f"final loss {rec['log'][-1]['loss']:.3f}; weights: {a.out}")
    p.set_defaults(func=run)


def add_evaluate(sub, formatter):
    p = sub.add_parser("evaluate", formatter_class=formatter,
                       help="measure identification accuracy on a labelled dataset (folder per individual)",
                       description="Leave-one-out evaluation on a folder-per-individual dataset: rank-1/rank-5, mAP, "
                       "MAP@R for all photos, same-flank only and excluding the same sighting; open-set BAKS/BAUS; "
                       "clustering ARI; calibration error. Flank from 'left'/'right' in file names, sighting from "
                       "the file name's part before '_'.")
    p.add_argument("dataset", help="dataset folder: DATASET/<individual>/<image>")
    p.add_argument("--backbone", default="efficientnet-lite0", help="image model (default: %(default)s)")
    p.add_argument("--weights", help="local weights file for the backbone")
    p.add_argument("--megadetector", help="MegaDetector JSON with boxes for the dataset's images")
    p.add_argument("--global-only", action="store_true", help="evaluate the global embedding alone (fast)")
    p.add_argument("--no-dense", action="store_true",
                   help="leave the dense CNN grid score out of the fused method (ablation: keypoints only)")
    p.add_argument("--metric", choices=list(METRIC_NAMES), default=DEFAULT_METRIC,
                   help="the embedding's learned metric, as 'catalogue build --metric' (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the individual splits (default: %(default)s)")
    p.add_argument("--model", choices=["catalogue", "default"], default="catalogue",
                   help="what decides the open set: 'catalogue' (a model fitted on the catalogue half, cross-fitted "
                   "by individual) or 'default' (lynxid's shipped default model, as a catalogue that cannot fit its "
                   "own uses; the catalogue-fitted figures are reported beside it, both without the learned metric) "
                   "(default: %(default)s)")
    p.add_argument("--open-set-only", action="store_true",
                   help="skip the closed-set protocols (the open set alone: much faster)")
    add_cache_dir_arg(p, "feature cache folder (default: none)")
    p.add_argument("--out", help="write the full report as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_runtime_args(p)

    def run(a):
        from . import evaluate_dataset, format_evaluation
        from .config import metric_whiten
        with runtime_from_args(a):
            rep = evaluate_dataset(a.dataset, backbone=a.backbone, weights=a.weights, megadetector=a.megadetector,
                                   methods=("global",) if a.global_only else ("global", "full"), seed=a.seed,
                                   cache_dir=a.cache_dir, out=a.out, progress=not a.quiet, dense=not a.no_dense,
                                   whiten=metric_whiten(a.metric), model=a.model,
                                   **({"protocols": ()} if a.open_set_only else {}))
        print(format_evaluation(rep))
    p.set_defaults(func=run)


def add_features(sub, formatter):
    from .embed import BACKBONES
    p = sub.add_parser("features", formatter_class=formatter,
                       help="compute embeddings and local features for a file list (one machine or a Dask cluster)",
                       description="Compute the features 'identify' and 'catalogue build' need, ahead of time, into a "
                       "cache folder: on this machine, on a local cluster (--workers) or on a Dask cluster "
                       "(--scheduler; e.g. started with dask-jobqueue on SLURM/PBS). Interrupted runs resume. The cache "
                       "folder and the images must be visible to every worker at the same paths. 'identify' with "
                       "the same --cache-dir (and the same boxes) then computes nothing: it reads each photo once, "
                       "to hash it, and takes the features from the cache.")
    p.add_argument("files", help="a folder of images, a CSV/Parquet table with a 'path' column (optional "
                   "bbox_x/_y/_w/_h), or a text file with one image path per line")
    add_cache_dir_arg(p, "feature cache folder (shared by all workers)", required=True)
    p.add_argument("--out", help="table to write: one row per detection with ok, cache keys and the embedding "
                   "vector (default: features.parquet in the --cache-dir folder); issues go beside it "
                   "(NAME_issues.csv)")
    p.add_argument("--megadetector", help="MegaDetector batch output JSON with the boxes of these images")
    p.add_argument("--threshold", type=float, default=0.2, help="MegaDetector confidence threshold (default: %(default)s)")
    p.add_argument("--backbone", default="efficientnet-lite0", choices=list(BACKBONES),
                   help="image model (default: %(default)s; use the catalogue's)")
    p.add_argument("--weights", help="local weights file for the backbone")
    p.add_argument("--no-local", action="store_true", help="global embeddings only")
    c = p.add_argument_group("cluster")
    c.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786) or a scheduler JSON file")
    c.add_argument("--workers", type=int, help="start a local Dask cluster of this many worker processes")
    c.add_argument("--chunk-size", type=int, default=256, help="detections per cluster task (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_runtime_args(p)
    p.set_defaults(func=run_features)


def run_features(a):
    from pathlib import Path

    from . import storage
    from .distributed import extract_features_distributed, features_table, read_file_list
    det, issues = read_file_list(a.files, megadetector=a.megadetector, threshold=a.threshold)
    if det.empty:
        raise ValueError(f"no images to process in {a.files}")
    if a.scheduler or a.workers:
        from dask.distributed import Client
        client = None
        if a.scheduler:
            client = Client(scheduler_file=a.scheduler) if a.scheduler.endswith(".json") else Client(a.scheduler)
        try:
            fs = extract_features_distributed(det, a.cache_dir, client=client, n_workers=a.workers, backbone=a.backbone,
                                              weights=a.weights, local=not a.no_local, device=a.device or "auto",
                                              batch_size=a.batch_size or 32, threads=a.threads or 1,
                                              chunk_size=a.chunk_size, progress=not a.quiet)
        finally:
            if client is not None:
                client.close()
    else:
        from .embed import Embedder
        from .features import extract_features
        with runtime_from_args(a):
            fs = extract_features(det, Embedder(a.backbone, weights=a.weights), local=not a.no_local,
                                  cache_dir=a.cache_dir, progress=not a.quiet)
    out = Path(a.out) if a.out else Path(a.cache_dir) / "features.parquet"
    storage.write_table(features_table(det, fs), out)
    import pandas as pd
    issues = pd.concat([issues, fs.issues], ignore_index=True)
    issues_p = out.with_name(out.stem + "_issues.csv")
    storage.write_table(issues, issues_p)
    st = fs.stats
    print(f"{int(fs.ok.sum())} of {len(det)} detections have features "
          f"({st.get('embedded', 0)} computed, {st.get('embeddings_cached', 0)} from the cache); "
          f"{len(issues)} issue(s): {issues_p}")
    print(f"written: {out}")
    return 0
