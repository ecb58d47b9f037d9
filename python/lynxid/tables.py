"""The user's tables (station tables, record tables) as lynxid reads them.

A CSV is read as text, every cell as written, so that IDs keep their leading zeros and dates
reach :mod:`lynxid.times` unaltered; Parquet files and DataFrames keep their types. IDs
(stations, cameras, sessions, individuals) are compared as text (:func:`text_ids`) and
ordered as secr orders them (:func:`secr_order`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import storage

__all__ = ["read_user_table", "text_ids", "secr_order", "MISSING_TEXT"]

# how R (write.csv), pandas and databases write a missing value into a text file: an ID that
# reads "NA" is a record without an ID, not an individual called "NA"
MISSING_TEXT = frozenset({"", "na", "nan", "<na>", "null", "none", "n/a"})


def read_user_table(source, what: str) -> tuple[pd.DataFrame, str]:
    """``(table, name)``: a DataFrame as it is (named ``what`` in messages), or a CSV / text
    file read as text, a Parquet file, or an R data frame saved with ``saveRDS`` (``.rds``,
    needs R and rpy2; dates and time zones kept), named by its path."""
    if isinstance(source, pd.DataFrame):
        return source, what
    name = str(source)
    if name.lower().endswith(".rds"):          # a data frame saved with R's saveRDS, through rpy2
        from .rbridge import read_rds_table
        return read_rds_table(source, what), name
    if name.lower().endswith((".csv", ".txt")):
        return storage.read_table(source, dtype=str, keep_default_na=False), name
    return storage.read_table(source), name


def text_ids(col: pd.Series) -> pd.Series:
    """IDs as text: 12.0 (a float column with blanks) becomes '12'; blanks and R's/pandas'
    missing-value markers ("NA", "NaN", "NULL", ...) become NA."""
    if pd.api.types.is_float_dtype(col.dtype):
        ok = col.notna()
        if ok.any() and np.all(np.mod(col[ok].to_numpy(), 1) == 0):
            out = pd.Series(pd.NA, index=col.index, dtype="string")
            out[ok] = col[ok].astype("int64").astype(str)
            return out
    s = col.astype("string").str.strip()
    return s.where(s.notna() & ~s.str.lower().isin(MISSING_TEXT), pd.NA)


def secr_order(labels) -> list:
    """Labels (sessions, animal IDs) in secr's order: numerically when every label is a
    number, else as text -- the order of secr's sessions and of ``make.capthist``'s animals."""
    labels = [str(x) for x in labels]
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)
