"""JSON forms of analysis tables: rows as JSON-ready records, frames as GeoJSON text.

Every value is made plain for JSON: numpy scalars become Python ones, and
NaN, infinity and missing values become ``null``, which strict JSON readers
(and browsers) require.
"""
from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.analysis.standard import Standard


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


def _geojson_value(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if v is None or v is pd.NA:
        return None
    return v


def to_geojson(frame: gpd.GeoDataFrame, *, standard: Standard | None = None) -> str:
    """A GeoDataFrame as RFC 7946 GeoJSON text (WGS-84, 7 decimals; inf and NaN -> null).

    Parameters
    ----------
    frame
        WGS-84 features; every column but the geometry becomes a property.
    standard
        When given, the collection carries it as a ``standard`` member.
    """
    props = [c for c in frame.columns if c != frame.geometry.name]
    geoms = shapely.to_geojson(shapely.set_precision(frame.geometry.to_numpy(), 1e-7)) if len(frame) else []
    parts = []
    for rec, g in zip(frame[props].to_dict("records"), geoms):
        p = json.dumps({k: _geojson_value(v) for k, v in rec.items()}, ensure_ascii=False)
        parts.append(f'{{"type":"Feature","geometry":{g or "null"},"properties":{p}}}')
    head = {"type": "FeatureCollection"}
    if standard is not None:
        head["standard"] = standard.to_dict()
    text = json.dumps(head, ensure_ascii=False)[:-1]
    return text + ',"features":[' + ",".join(parts) + "]}"
