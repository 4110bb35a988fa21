"""JSON forms of analysis tables: rows as JSON-ready records, numbers rounded.

Every value is made plain for JSON: numpy scalars become Python ones, and
NaN, infinity and missing values become ``null``, which strict JSON readers
(and browsers) require. GeoJSON files are written by
:func:`geo.registry.io.writers.frame_to_geojson`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


def json_number(value, digits: int = 3):
    """A number rounded for JSON: ``None`` for missing or not finite, the value itself when not a number.

    Parameters
    ----------
    value
        Anything.
    digits
        Decimals to keep.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    return round(f, digits) if math.isfinite(f) else None


def json_records(df: pd.DataFrame) -> list[dict]:
    """A table's rows as JSON-ready dicts.

    Numpy scalars become Python ones, floats are rounded (3 decimals, 6 for
    ``lon``/``lat``) and NaN, infinity and missing values become ``None``.

    Parameters
    ----------
    df
        Any table (districts, gaps, sites).
    """
    out = []
    for rec in df.to_dict("records"):
        row = {}
        for k, v in rec.items():
            if isinstance(v, (bool, np.bool_)):
                row[k] = bool(v)
            elif isinstance(v, (int, np.integer)):
                row[k] = int(v)
            elif isinstance(v, (float, np.floating)):
                row[k] = json_number(v, 3 if k not in ("lon", "lat") else 6)
            elif v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
                row[k] = None
            else:
                row[k] = v
        out.append(row)
    return out

