"""The feature columns as the models see them: numbers as float64, everything else as text.

A search's models are trained on this form of the user's columns, and fed it again when they
predict through MLflow (:class:`~hpo_plugin.models.served.ServedModel`), so a frame read
from the same file predicts as it is: integer columns, pandas' nullable integer, boolean and
string dtypes, booleans read as objects, missing values and absent optional columns alike.
No MLflow here: it is part of every served model's pickle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def numeric_columns(frame: pd.DataFrame) -> tuple:
    """Columns a model reads as numbers: numeric and boolean dtypes, and objects holding only
    booleans (pandas reads a boolean column with missing values as objects)."""
    return tuple(c for c in frame.columns if _is_numeric(frame[c]))


def model_frame(frame: pd.DataFrame, columns: Sequence, numeric: Sequence) -> pd.DataFrame:
    """``frame``'s ``columns`` in order (absent ones missing): float64 for ``numeric`` ones,
    objects with NaN for missing values for the others."""
    numeric = set(numeric)
    out = {}
    for c in columns:
        if c not in frame.columns:
            out[c] = np.full(len(frame), np.nan, dtype=float if c in numeric else object)
        elif c in numeric:
            out[c] = pd.to_numeric(frame[c].astype(object).where(frame[c].notna(), np.nan)).astype("float64")
        else:
            column = frame[c].astype(object)
            out[c] = column.where(column.notna(), np.nan)
    return pd.DataFrame(out, index=frame.index, columns=list(columns))


def holds_booleans(column: pd.Series) -> bool:
    """Objects that are all booleans, missing values aside: how pandas reads a boolean column
    with gaps."""
    values = column.dropna()
    return column.dtype == object and len(values) > 0 and all(isinstance(v, bool | np.bool_) for v in values)


def _is_numeric(column: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column) or holds_booleans(column)
    )
