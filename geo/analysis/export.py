"""Writing one layer of a coverage result to a file: gaps, cells or districts, as GeoJSON or CSV."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.analysis.coverage import CoverageResult, method_mix
from geo.core.regions import load_boundaries
from geo.registry.io.writers import csv_bytes, frame_to_geojson


def method_member(result: CoverageResult) -> dict:
    """What a run used, for a file: ``method``, ``label`` (shares, both languages), ``share`` and ``cells`` per method.

    Parameters
    ----------
    result
        A coverage run.
    """
    return {"method": result.method, "label": result.method_label,
            "share": {m: round(v, 6) for m, v in method_mix(result.method_cells).items()},
            "cells": {m: int(n) for m, n in result.method_cells.items() if n}}


def write_layer(result: CoverageResult, layer: str, path: str | Path) -> Path:
    """Write one layer of a result: ``gaps``, ``cells`` or ``districts``.

    The format follows the extension: ``.geojson``/``.json`` (districts get
    their boundary polygons) or ``.csv`` (UTF-8 with BOM, formula cells
    escaped; geometry dropped, cells and gaps keep their centre lon/lat).
    Every file says what the run really used: CSV in ``method_mix`` and
    ``sample`` columns, GeoJSON in ``method`` and ``sample`` members beside
    the ``standard``.

    Parameters
    ----------
    result
        A coverage run.
    layer
        ``"gaps"``, ``"cells"`` or ``"districts"``.
    path
        The file to write (its folder is made).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if layer == "gaps":
        frame = result.gaps
    elif layer == "cells":
        frame = result.cells
    elif layer == "districts":
        b = load_boundaries("district")[["adcode", "geometry"]]
        frame = gpd.GeoDataFrame(result.districts.merge(b, on="adcode", how="left"), geometry="geometry",
                                 crs="EPSG:4326")
    else:
        raise ValueError(f"unknown layer {layer!r} (gaps, cells, districts)")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        table = pd.DataFrame(frame.drop(columns=frame.geometry.name)).copy()
        table.insert(0, "sample", result.sample)
        table.insert(0, "method_mix", result.method_label)
        table.insert(0, "unit", result.standard.unit)
        table.insert(0, "standard", result.standard.describe())
        for col in table.columns:
            if table[col].dtype.kind == "f":
                table[col] = table[col].where(np.isfinite(table[col]))
        path.write_bytes(csv_bytes(table))
    else:
        path.write_text(frame_to_geojson(frame, members={"standard": result.standard.to_dict(),
                                                         "method": method_member(result),
                                                         "sample": result.sample}), encoding="utf-8")
    return path
