"""lynxid: identify individually marked animals in camera-trap photos and turn the
identified detections into capture histories and density estimates.

The public API: the names below, spelled as the R package's functions. They are imported on
first use, so ``import lynxid`` stays fast and does not load PyTorch; examples, the command
line, R and the benchmarks use these names rather than reaching into modules.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> (module, attribute); the data flow's order: photos -> catalogue ->
# identities -> review -> capture histories -> density. No public name is also a module's
# name: importing that module would replace the function on the package.
_API = {
    "simulate_survey": ("simulate", "simulate_survey"),
    "detect_animals": ("detect", "detect_animals"),
    "BoxFilter": ("box_filter", "BoxFilter"),
    "build_catalogue": ("enrol", "build_catalogue"),
    "add_to_catalogue": ("enrol", "add_to_catalogue"),
    "add_reviewed": ("enrol", "add_reviewed_to_catalogue"),
    "write_default_model": ("default_model", "write_default_model"),
    "load_default_model": ("default_model", "load_default_model"),
    "read_default_model": ("default_model", "read_default_model"),
    "Catalogue": ("catalogue", "Catalogue"),
    "IdentificationModel": ("openset", "IdentificationModel"),
    "Matcher": ("match", "Matcher"),
    "identify": ("identification", "identify"),
    "IdentifyResult": ("results", "IdentifyResult"),
    "candidate_table": ("results", "candidate_table"),
    "review_report": ("review", "build_report"),
    "review_items": ("review", "review_items"),
    "read_decisions": ("decisions", "read_decisions"),
    "save_decisions": ("decisions", "save_decisions"),
    "apply_decisions": ("decisions", "apply_decisions"),
    "evaluate_dataset": ("evaluate", "evaluate_dataset"),
    "format_evaluation": ("evaluate", "format_report"),
    "survey_accuracy": ("evaluate", "survey_accuracy"),
    "adapt_embedding": ("adapt", "adapt"),
    "read_stations": ("stations", "read_stations"),
    "camera_operation": ("effort", "camera_operation"),
    "check_clocks": ("clocks", "check_clocks"),
    "apply_time_shifts": ("time_shifts", "apply_time_shifts"),
    "read_time_shifts": ("time_shifts", "read_time_shifts"),
    "capture_history": ("capture", "capture_history"),
    "CaptureHistory": ("capture", "CaptureHistory"),
    "write_capture_history": ("export", "write_formats"),
    "as_capthist": ("capthist", "as_capthist"),
    "to_rds": ("capthist", "to_rds"),
    "read_rds": ("rbridge", "read_rds"),
    "write_rds": ("rbridge", "write_rds"),
    "read_camera_operation": ("camera_operation_check", "read_camera_operation"),
    "read_secr_tables": ("scr_data", "read_secr_tables"),
    "make_mask": ("mask", "make_mask"),
    "read_mask": ("mask", "read_mask"),
    "fit_density": ("density", "fit_density"),
    "fit_density_imputed": ("density_imputation", "fit_density_imputed"),
    "ImputedDensity": ("density_imputation", "ImputedDensity"),
    "IdentitySampler": ("imputation", "IdentitySampler"),
    "LatentIdentitySampler": ("latent_identity", "LatentIdentitySampler"),
    "PairEvidence": ("pair_evidence", "PairEvidence"),
    "rank_for_review": ("review_priority", "rank_for_review"),
    "DensityFit": ("density_result", "DensityFit"),
    "plot_stations": ("plots", "station_map"),
    "plot_timeline": ("plots", "capture_timeline"),
    "plot_effort": ("plots", "effort_heatmap"),
    "plot_scores": ("plots", "score_distribution"),
    "run_demo": ("demo", "run_demo"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value          # later look-ups skip this function
        return value
    raise AttributeError(f"module 'lynxid' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
