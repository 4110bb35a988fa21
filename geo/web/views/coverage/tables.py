"""The coverage page's headline figures and its district and gap tables, with column specs for ``st.column_config``."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

from geo import settings
from geo.analysis.coverage import CoverageResult
from geo.core.i18n import pick, t


def headline(result: CoverageResult) -> dict:
    """The page's headline figures.

    Returns
    -------
    dict
        ``share_area``, ``share_demand``, ``demand_kind``, ``cells``,
        ``resolution``, ``area_km2``, ``stations_in_region``,
        ``stations_serving``, ``method``, ``network_cells``,
        ``estimated_cells``, ``off_network_cells`` (beyond
        ``settings.SNAP_MAX_M`` of a road: the figure the notes give too),
        ``radius_cells``, ``method_label`` (share of cells by method, both
        languages), ``unreachable_cells``, ``gaps``, ``sample`` (sample
        stations served).
    """
    mc = result.method_cells
    st = result.stations
    return {
        "share_area": float(result.covered_share_area),
        "share_demand": float(result.covered_share_demand),
        "demand_kind": result.demand.kind,
        "cells": int(len(result.cells)),
        "resolution": int(result.resolution),
        "area_km2": float(result.cells["area_km2"].sum()),
        "stations_in_region": int(result.districts["stations"].sum()),
        "stations_serving": int(len(st)),
        "method": result.method,
        "network_cells": int(mc.get("network", 0)),
        "estimated_cells": int(mc.get("estimate", 0)),
        "off_network_cells": int(result.off_network_cells),
        "radius_cells": int(mc.get("radius", 0)),
        "method_label": result.method_label,
        "unreachable_cells": int(mc.get("unreachable", 0)),
        "gaps": int(len(result.gap_table)),
        "sample": result.sample,
    }


def method_text(figures: dict, lang: str = "zh") -> str:
    """How the travel was computed, as the share of cells by method, largest first (``估算 91 %，路网 9 %``)."""
    return pick(figures["method_label"], lang)


def figures_html(figures: dict, lang: str = "zh") -> str:
    """The headline figures as one compact HTML block (classes ``cv-figs``, ``cv-fig``), every text escaped.

    Parameters
    ----------
    figures
        From :func:`headline`.
    lang : {"zh", "en"}
    """
    esc = html.escape
    items = [("share_area", t("cv_fig_share_area", lang), f"{100 * figures['share_area']:.1f}%",
              t("cv_fig_help_share", lang))]
    if figures["demand_kind"] != "area":
        items.append(("share_demand",
                      t("cv_fig_share_demand", lang, kind=t(f"cv_demand_{figures['demand_kind']}", lang)),
                      f"{100 * figures['share_demand']:.1f}%", t("cv_fig_help_share", lang)))
    items += [
        ("cells", t("cv_fig_cells", lang),
         t("cv_fig_cells_value", lang, n=f"{figures['cells']:,}", res=figures["resolution"]), ""),
        ("stations", t("cv_fig_stations", lang),
         f"{figures['stations_in_region']:,} / {figures['stations_serving']:,}", ""),
        ("method", t("cv_fig_method", lang), method_text(figures, lang), ""),
        ("gaps", t("cv_fig_gaps", lang), f"{figures['gaps']:,}", ""),
    ]
    if figures["estimated_cells"]:
        items.insert(-1, ("estimated", t("cv_fig_estimated", lang),
                          f"{figures['estimated_cells']:,} / {figures['cells']:,}",
                          t("cv_fig_help_estimated", lang, km=f"{settings.SNAP_MAX_M / 1000:g}",
                            factor=settings.DETOUR_FACTOR)))
    estimated = figures["estimated_cells"] > 0
    parts = []
    for key, label, value, tip in items:
        cls = "cv-fig" + (" cv-fig-est" if estimated and key in ("method", "estimated") else "")
        title = f' title="{esc(tip)}"' if tip else ""
        parts.append(f'<div class="{cls}" data-fig="{key}"{title}><div class="cv-fig-label">{esc(label)}</div>'
                     f'<div class="cv-fig-value">{esc(value)}</div></div>')
    return f'<div class="cv-figs">{"".join(parts)}</div>'


def _unit_label(result: CoverageResult, lang: str) -> str:
    return t("cv_unit_min" if result.standard.unit == "min" else "cv_unit_m", lang)


def district_table(result: CoverageResult, lang: str = "zh") -> tuple[pd.DataFrame, dict[str, dict]]:
    """The district table to show, and how to show each column.

    Columns that carry nothing for this run are left out: the city for a
    single city, population and stations per 100k without a census table,
    the demand share when the demand is the area (it equals the area share),
    unreachable cells when there are none.

    Returns
    -------
    (DataFrame, dict)
        The rows (engine column names; shares as percentages, 0-100) and,
        per column, a spec ``{"label": str, "type": "text" | "number",
        "format": str}`` for ``st.column_config``.
    """
    df = result.districts.copy()
    unit = _unit_label(result, lang)
    specs: dict[str, dict] = {
        "name": {"label": t("cv_col_name", lang), "type": "text"},
        "city": {"label": t("cv_col_city", lang), "type": "text"},
        "stations": {"label": t("cv_col_stations", lang), "type": "number", "format": "%d"},
        "population": {"label": t("cv_col_population", lang), "type": "number", "format": "localized"},
        "stations_per_100k": {"label": t("cv_col_per_100k", lang), "type": "number", "format": "%.2f"},
        "covered_share_area": {"label": t("cv_col_share_area", lang), "type": "number", "format": "%.1f%%"},
        "covered_share_demand": {"label": t("cv_col_share_demand", lang), "type": "number", "format": "%.1f%%"},
        "travel_mean": {"label": t("cv_col_travel_mean", lang, unit=unit), "type": "number", "format": "%.1f"},
        "travel_p95": {"label": t("cv_col_travel_p95", lang, unit=unit), "type": "number", "format": "%.1f"},
        "largest_gap_km2": {"label": t("cv_col_gap_km2", lang), "type": "number", "format": "%.1f"},
        "unreachable_cells": {"label": t("cv_col_unreachable", lang), "type": "number", "format": "%d"},
        "open_reports": {"label": t("cv_col_open_reports", lang), "type": "number", "format": "%d"},
        "cells": {"label": t("cv_col_cells", lang), "type": "number", "format": "%d"},
        "area_km2": {"label": t("cv_col_area", lang), "type": "number", "format": "%.1f"},
        "adcode": {"label": t("cv_col_adcode", lang), "type": "text"},
    }
    drop = set()
    if result.region.level != "province":
        drop.add("city")
    if df["population"].isna().all():
        drop |= {"population", "stations_per_100k"}
    if result.demand.kind == "area":
        drop.add("covered_share_demand")
    if not (df["unreachable_cells"] > 0).any():
        drop.add("unreachable_cells")
    if not (df.get("open_reports", pd.Series(dtype=int)) > 0).any():  # workers' open reports (issue 15)
        drop.add("open_reports")
    cols = [c for c in specs if c not in drop]
    for c in ("travel_mean", "travel_p95"):
        df[c] = df[c].where(np.isfinite(df[c].astype(float)))
    for c in ("covered_share_area", "covered_share_demand"):
        df[c] = df[c].astype(float) * 100.0
    return df[cols].reset_index(drop=True), {c: specs[c] for c in cols}


def gap_table(result: CoverageResult, lang: str = "zh", *, top: int = 20) -> tuple[pd.DataFrame, dict[str, dict]]:
    """The largest gaps (most demand first) to show, and their column specs (see :func:`district_table`)."""
    g = result.gap_table.head(top).copy()
    names = dict(zip(result.districts["adcode"].astype(str), result.districts["name"].astype(str)))
    g["district_name"] = g["district"].astype(str).map(lambda c: names.get(c, c))
    g["station_km"] = g["station_distance_m"].astype(float) / 1000.0
    g["station_km"] = g["station_km"].where(np.isfinite(g["station_km"]))
    specs = {
        "gap": {"label": t("cv_col_gap", lang), "type": "number", "format": "%d"},
        "district_name": {"label": t("cv_col_name", lang), "type": "text"},
        "area_km2": {"label": t("cv_col_area", lang), "type": "number", "format": "%.1f"},
        "demand": {"label": t("cv_col_demand", lang, unit=result.demand.unit), "type": "number",
                   "format": "%.1f"},
        "cells": {"label": t("cv_col_cells", lang), "type": "number", "format": "%d"},
        "station_km": {"label": t("cv_col_station_km", lang), "type": "number", "format": "%.2f"},
        "lat": {"label": t("cv_col_lat", lang), "type": "number", "format": "%.5f"},
        "lon": {"label": t("cv_col_lon", lang), "type": "number", "format": "%.5f"},
    }
    if result.demand.kind == "area":
        specs.pop("demand")
    cols = list(specs)
    return g[cols].reset_index(drop=True), specs
