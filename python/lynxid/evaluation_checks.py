"""What a labelled dataset must hold for the evaluation (``evaluate``), checked before the work
starts, and which step failed when one does.

An individual is a query only with another photo of it to be found: the ``all`` protocol
needs two photos of it, ``excl-sighting`` photos from two sightings, and the open set (which
never shows a query its own sighting, and compares a left flank only with left ones or
photos whose flank is unknown) photos of one flank from two sightings. The full method fits its calibration on other
individuals' matching pairs (cross-validated by individual, and in the open set on a random
half of them), so it needs several such individuals (:data:`MIN_FULL`). A dataset short of
that stops before the features' work, naming the individuals that lack photos, rather than
deep inside a fit, after numpy's warnings, with a message about a "catalogue" the user
never built.
"""
from __future__ import annotations

import contextlib

import pandas as pd

__all__ = ["check_dataset", "individual_counts", "step", "MIN_FULL"]

MIN_FULL = 4          # individuals with photos of one flank from two sightings the full method needs
N_NAMED = 5           # individuals named in a message, the rest counted


def individual_counts(det: pd.DataFrame) -> pd.DataFrame:
    """Per individual of the labelled detections ``det``: its ``photos``, ``sightings``, and
    ``one_flank_twice``: whether photos of one flank (or of an unknown flank, which may be
    compared with either) come from two sightings."""
    by = det["individual"].astype(str)
    c = det.groupby(by).agg(photos=("file", "size"), sightings=("sighting", "nunique"))
    c["one_flank_twice"] = pd.Series({ind: _one_flank_twice(g) for ind, g in det.groupby(by)})
    return c


def _one_flank_twice(g: pd.DataFrame) -> bool:
    unknown = g["flank"].isna()
    return any(g.loc[unknown | (g["flank"] == f), "sighting"].nunique() >= 2
               for f in (g["flank"].dropna().unique().tolist() or [None]))


def check_dataset(det: pd.DataFrame, root, methods) -> dict:
    """Refuse (``ValueError``) a dataset with too few individuals to ask with: at least one
    with two photos for the global embedding alone, :data:`MIN_FULL` with photos of one
    flank from two sightings for the full method. Returns what the report says about it:
    how many individuals can be queries, and which cannot."""
    c = individual_counts(det)
    one_photo = c.index[c.photos < 2].tolist()
    one_sighting = c.index[(c.photos >= 2) & (c.sightings < 2)].tolist()
    flank_apart = c.index[(c.sightings >= 2) & ~c.one_flank_twice].tolist()
    usable = int(c.one_flank_twice.sum())
    full = "full" in methods
    have, need = (usable, MIN_FULL) if full else (int((c.photos >= 2).sum()), 1)
    if have < need:
        lack = [f"{_names(one_photo)} {'has' if len(one_photo) == 1 else 'have'} one photo each"] if one_photo else []
        if one_sighting:
            lack.append(f"{_names(one_sighting)} {'has' if len(one_sighting) == 1 else 'have'} photos of one "
                        "sighting only")
        if flank_apart:
            lack.append(f"{_names(flank_apart)} {'has' if len(flank_apart) == 1 else 'have'} each flank from one "
                        "sighting only (a left flank is never compared with a right one)")
        raise ValueError(
            f"{root} is too little to evaluate on: {'; '.join(lack) or 'no individual has two photos'}. An individual "
            "is used as a query only with at least two photos of one flank of it from two sightings (one to ask "
            "with, one to be found; the sighting is the file name's part before '_', e.g. 2024-03-01a_left.jpg): "
            f"{usable} of {len(c)} individuals {'is' if usable == 1 else 'are'} usable, "
            + (f"and the full method needs at least {MIN_FULL} (the global embedding alone, --global-only, needs one "
               "with two photos)" if full else "and the evaluation needs one with two photos at least")
            + ". Add photos of these individuals from other sightings.")
    return {"individuals": int(len(c)), "usable": usable, "with_two_photos": int((c.photos >= 2).sum()),
            "one_photo": one_photo, "one_sighting": one_sighting, "each_flank_once": flank_apart}


@contextlib.contextmanager
def step(name: str, hint: str = ""):
    """Name the evaluation step in which a ``ValueError`` arises (the fit's own message
    speaks of a catalogue: here it is the step's share of the dataset); ``hint``: what the
    step needs, added to the message."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"evaluation step '{name}' failed: {exc}" + (f" ({hint})" if hint else "")) from exc


def _names(names: list) -> str:
    shown = ", ".join(names[:N_NAMED])
    return f"individual{'s' if len(names) > 1 else ''} {shown}" + (
        f" and {len(names) - N_NAMED} more" if len(names) > N_NAMED else "")
