"""The travel bands of the coverage choropleth: cuts, colours, labels and shares.

The travel to the nearest station is cut at a third, two thirds, one and
two times the standard's threshold (≤5, 5–10, 10–15, 15–30, >30 min for a
15-minute standard), plus "unreachable". Colours are ColorBrewer's YlOrRd,
a sequential palette that stays ordered for the common colour-vision
deficiencies; every band also has a text label, so colour is never the
only cue.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.analysis.coverage import CoverageResult
from geo.analysis.standard import Standard
from geo.core.i18n import t

#: Fill colours of the travel bands, nearest first (ColorBrewer YlOrRd, 5
#: classes, marked colour-blind safe), and of unreachable cells.
BAND_COLOURS: tuple[str, ...] = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
UNREACHABLE_COLOUR = "#8c8c8c"


@dataclass(frozen=True)
class Band:
    """One class of the travel choropleth.

    Attributes
    ----------
    index : int
        Position, nearest first; the unreachable band is last.
    lower, upper : float
        Travel range ``(lower, upper]`` in the standard's unit; ``upper`` is
        ``inf`` for the last reachable band, and both are ``inf`` for
        unreachable cells.
    colour : str
        Fill colour.
    covered : bool
        Whether the band lies within the standard.
    """

    index: int
    lower: float
    upper: float
    colour: str
    covered: bool

    @property
    def reachable(self) -> bool:
        """False for the band of cells with no reachable station."""
        return math.isfinite(self.lower)


def _nice(x: float) -> float:
    # Two significant figures: 6.67 -> 6.7, 333.3 -> 330; whole numbers stay.
    if x <= 0 or float(x).is_integer():
        return float(x)
    digits = 1 - int(math.floor(math.log10(abs(x))))
    return float(round(x, digits))


def travel_bands(standard: Standard) -> list[Band]:
    """The choropleth's bands for a standard.

    Cut at a third, two thirds, one and two times the threshold: ≤5, 5–10,
    10–15, 15–30 and >30 minutes for a 15-minute standard (the inner cuts
    rounded to two significant figures), then unreachable. The first three
    bands are exactly the covered cells (travel ≤ threshold).

    Returns
    -------
    list of Band
        Six bands, nearest first, unreachable last.
    """
    th = standard.threshold
    cuts = [_nice(th / 3), _nice(2 * th / 3), th, 2 * th]
    lows = [0.0, *cuts]
    highs = [*cuts, math.inf]
    bands = [Band(i, lo, hi, BAND_COLOURS[i], hi <= th) for i, (lo, hi) in enumerate(zip(lows, highs))]
    bands.append(Band(len(bands), math.inf, math.inf, UNREACHABLE_COLOUR, False))
    return bands


def band_index(values: np.ndarray, bands: list[Band]) -> np.ndarray:
    """Band of each travel value (``inf`` and NaN: the unreachable band)."""
    values = np.asarray(values, dtype=float)
    cuts = np.array([b.upper for b in bands if b.reachable and math.isfinite(b.upper)])
    out = np.searchsorted(cuts, values, side="left").astype(np.int64)
    out[~np.isfinite(values)] = len(bands) - 1
    return out


def _amount(x: float) -> str:
    return format(float(x), ",g")


def band_label(band: Band, unit: str, lang: str = "zh") -> str:
    """Text label of a band, e.g. ``5–10 分钟`` / ``>30 min`` / ``无法到达``."""
    if not band.reachable:
        return t("cv_band_unreachable", lang)
    u = t("cv_unit_min" if unit == "min" else "cv_unit_m", lang)
    if band.lower <= 0:
        return t("cv_band_le", lang, b=_amount(band.upper), unit=u)
    if not math.isfinite(band.upper):
        return t("cv_band_gt", lang, a=_amount(band.lower), unit=u)
    return t("cv_band_range", lang, a=_amount(band.lower), b=_amount(band.upper), unit=u)


def band_summary(result: CoverageResult) -> pd.DataFrame:
    """Cells, area and demand per band, with their shares of the region.

    Returns
    -------
    DataFrame
        One row per band (``band``, ``cells``, ``area_km2``, ``demand``,
        ``share_area``, ``share_demand``), unreachable included.
    """
    bands = travel_bands(result.standard)
    b = band_index(result.cells["travel"].to_numpy(float), bands)
    k = len(bands)
    area = result.cells["area_km2"].to_numpy(float)
    dem = result.cells["demand"].to_numpy(float)
    a = np.bincount(b, weights=area, minlength=k)
    d = np.bincount(b, weights=dem, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({"band": np.arange(k), "cells": np.bincount(b, minlength=k), "area_km2": a,
                             "demand": d, "share_area": a / a.sum() if a.sum() > 0 else np.zeros(k),
                             "share_demand": d / d.sum() if d.sum() > 0 else np.zeros(k)})
