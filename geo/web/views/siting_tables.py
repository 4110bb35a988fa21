"""The siting page's figures, texts and tables: what a result says beside the map.

Made from the :class:`geo.analysis.siting.result.SitingResult` the page is
showing (:mod:`geo.web.views.siting` makes its inputs and map layers):
the headline figures (:func:`headline_html`), which solver answered and
how good the answer is (:func:`solver_text`), whether LSCP's target is met
(:func:`target_text`), the before/after, sites and gaps tables, the
comparison of saved scenarios and the download names. Every data string
is HTML-escaped where it goes into HTML; tables come with column specs the
page turns into ``st.column_config``.
"""
from __future__ import annotations

import html
import math
import re

import numpy as np
import pandas as pd

from geo.analysis.siting.result import SitingResult
from geo.core.i18n import pick, t
from geo.registry.io.writers import csv_bytes
from geo.web.views.siting import MODELS, site_names

#: Remaining gaps listed on the page (the map outlines ``MAP_MAX_GAPS``).
TABLE_GAPS = 20


# --------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------


def _pct(share: float | None, digits: int = 1) -> str:
    if share is None or not math.isfinite(float(share)):
        return "—"
    return f"{100.0 * float(share):.{digits}f}%"


def _amount(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(float(value)):
        return "—"
    return f"{float(value):,.{digits}f}"


def _gap_pct(gap: float) -> str:
    # Small gaps keep two significant figures: 0.0004 is "0.04%", not "0.0%".
    pct = 100.0 * gap
    return f"{pct:.2g}%" if 0 < pct < 1 else f"{pct:.1f}%"


def method_label(result: SitingResult, lang: str = "zh") -> str:
    """``贪心预览`` / ``精确解（HiGHS）`` and, for an exact answer, whether it is proven optimal."""
    if result.method != "exact":
        return t("si_method_greedy", lang)
    if result.status == "optimal" and (result.gap is None or result.gap <= 1e-9):
        return f"{t('si_method_exact', lang)} · {t('si_optimal', lang)}"
    return t("si_method_exact", lang)


def method_short(result: SitingResult, lang: str = "zh") -> str:
    """A few words for the headline tile: ``贪心预览``, ``精确解`` or ``精确 · 已证最优``."""
    if result.method != "exact":
        return t("si_method_greedy", lang)
    if result.status == "optimal" and (result.gap is None or result.gap <= 1e-9):
        return t("si_method_optimal_short", lang)
    return t("si_method_exact_short", lang)


def solver_text(result: SitingResult, lang: str = "zh", time_limit: float | None = None) -> str:
    """Which solver answered and what is known of the answer's quality, in one sentence (plain text).

    Greedy: its guarantee (e.g. (1−1/e) of the optimum for MCLP) and, when
    it certified one, its gap to the optimum. Exact: "proven optimal (gap
    0)", or the gap at the time limit.
    """
    parts = [method_label(result, lang)]
    gap = result.gap
    if result.method == "exact":
        if result.status == "optimal" and (gap is None or gap <= 1e-9):
            pass
        elif result.status == "time_limit":
            parts.append(t("si_time_limit_hit", lang, gap=_gap_pct(gap)) if gap is not None
                         else t("si_gap_unknown", lang))
        else:
            parts.append(t("si_status", lang, status=result.status))
            if gap is not None:
                parts.append(t("si_gap_bound", lang, gap=_gap_pct(gap)))
    else:
        if result.guarantee:
            parts.append(t("si_guarantee", lang, text=pick(result.guarantee, lang)))
        if gap is not None and math.isfinite(gap):
            parts.append(t("si_gap_bound", lang, gap=_gap_pct(gap)))
    return " · ".join(parts)


def target_text(result: SitingResult, lang: str = "zh") -> str | None:
    """For LSCP: whether the target share is reached (None for other models)."""
    if result.model != "lscp" or result.target_share is None:
        return None
    target = _pct(result.target_share)
    if result.target_met:
        return t("si_target_met", lang, target=target)
    return t("si_target_missed", lang, target=target, p=result.p)


def headline(result: SitingResult) -> dict:
    """The page's headline figures of a result.

    Returns
    -------
    dict
        ``before_share``, ``after_share``, ``gain_points``, ``added_demand``,
        ``sites``, ``method``, ``status``, ``gap``, ``gaps``, ``travel``
        (p-median's ``before_mean``/``after_mean``, else None).
    """
    return {"before_share": float(result.before_share), "after_share": float(result.after_share),
            "gain_points": 100.0 * (float(result.after_share) - float(result.before_share)),
            "added_demand": float(result.added_demand), "sites": int(len(result.sites)),
            "method": result.method, "status": result.status, "gap": result.gap, "gaps": int(len(result.gaps)),
            "travel": result.travel if result.model == "pmedian" else None}


def change_text(result: SitingResult, lang: str = "zh") -> str:
    """What the sites did to the gaps, in ``lang`` ("" for a scenario saved without it)."""
    return pick(result.change_text, lang) if result.change_text else ""


def headline_html(result: SitingResult, demand_unit: str, lang: str = "zh") -> str:
    """The headline figures as one compact HTML block (the coverage page's ``cv-figs`` classes), escaped."""
    esc = html.escape
    f = headline(result)
    items = [
        ("share", t("si_fig_share", lang),
         t("si_fig_share_value", lang, before=_pct(f["before_share"]), after=_pct(f["after_share"]))),
        ("gain", t("si_fig_gain", lang), t("si_fig_gain_value", lang, points=f"{f['gain_points']:.1f}")),
        ("added", t("si_fig_added", lang, unit=demand_unit), _amount(f["added_demand"])),
        ("sites", t("si_fig_sites", lang), f"{f['sites']:,}"),
    ]
    travel = f["travel"]
    if travel:
        unit = t("cv_unit_min" if travel.get("unit") == "min" else "cv_unit_m", lang)
        items.append(("travel", t("si_fig_travel", lang, unit=unit),
                      f"{_amount(travel.get('before_mean'))} → {_amount(travel.get('after_mean'))}"))
    items.append(("method", t("si_fig_method", lang), method_short(result, lang)))
    change = result.change
    if change:
        # Uncovered area before -> after, not a bare gap count that rises when gaps split.
        items.append(("uncovered", t("si_fig_uncovered", lang),
                      f"{change['uncovered_area_km2_before']:,.1f} → {change['uncovered_area_km2_after']:,.1f}"))
    else:
        items.append(("gaps", t("si_fig_gaps", lang), f"{f['gaps']:,}"))
    parts = [f'<div class="cv-fig" data-fig="{key}"><div class="cv-fig-label">{esc(label)}</div>'
             f'<div class="cv-fig-value">{esc(value)}</div></div>' for key, label, value in items]
    return f'<div class="cv-figs si-figs">{"".join(parts)}</div>'


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


def _total_row(result: SitingResult) -> dict:
    return {"adcode": "", "name": None, "demand": float(result.demand_total),
            "before_share": float(result.before_share), "after_share": float(result.after_share),
            "added_demand": float(result.added_demand), "new_sites": int(len(result.sites))}


def before_after_frame(result: SitingResult, lang: str = "zh") -> pd.DataFrame:
    """Coverage before and after, the region's total first, then each district (shares in [0, 1])."""
    total = _total_row(result)
    total["name"] = f"{t('si_total', lang)} · {result.region.get('name', '')}".strip(" ·")
    rows = pd.concat([pd.DataFrame([total]), result.districts[list(total)]], ignore_index=True)
    rows["gain_points"] = 100.0 * (rows["after_share"].astype(float) - rows["before_share"].astype(float))
    return rows[["name", "adcode", "demand", "before_share", "after_share", "gain_points", "added_demand",
                 "new_sites"]]


def before_after_table(result: SitingResult, demand_unit: str,
                       lang: str = "zh") -> tuple[pd.DataFrame, dict[str, dict]]:
    """The before/after table to show (shares as percentages) and each column's spec.

    Returns
    -------
    (DataFrame, dict)
        Rows: the total, then each district. Specs as in
        :func:`geo.web.views.coverage.tables.district_table`: ``{"label", "type", "format"}``.
    """
    df = before_after_frame(result, lang)
    for c in ("before_share", "after_share"):
        df[c] = df[c].astype(float) * 100.0
    specs = {
        "name": {"label": t("si_col_name", lang), "type": "text"},
        "before_share": {"label": t("si_col_before", lang), "type": "number", "format": "%.1f%%"},
        "after_share": {"label": t("si_col_after", lang), "type": "number", "format": "%.1f%%"},
        "gain_points": {"label": t("si_col_gain", lang), "type": "number", "format": "%.1f"},
        "added_demand": {"label": t("si_col_added", lang, unit=demand_unit), "type": "number", "format": "%.1f"},
        "new_sites": {"label": t("si_col_new_sites", lang), "type": "number", "format": "%d"},
        "demand": {"label": t("si_col_demand", lang, unit=demand_unit), "type": "number", "format": "%.1f"},
        "adcode": {"label": t("cv_col_adcode", lang), "type": "text"},
    }
    return df[list(specs)].reset_index(drop=True), specs


def before_after_csv(result: SitingResult, lang: str = "zh") -> bytes:
    """The before/after table as CSV: total and districts, shares in [0, 1], plus the scenario, solver and travel method."""
    df = before_after_frame(result, lang)
    df.insert(0, "scenario", result.scenario)
    df["model"], df["method"], df["status"] = result.model, result.method, result.status
    # What the travel was measured with, as the share of cells by method (never just "road network").
    df["travel_method"] = result.travel_label or result.travel_method
    return csv_bytes(df)


def sites_table(result: SitingResult, demand_unit: str, lang: str = "zh") -> tuple[pd.DataFrame, dict[str, dict]]:
    """The proposed sites in rank order, and each column's spec (cost and travel saved only when known).

    Each site is named by its readable label (nearest named road and
    district, :mod:`geo.analysis.siting.labels`); its H3 cell and candidate
    id stay as columns. A scenario saved before labels existed shows its
    candidate's name.
    """
    s = result.sites.copy()
    if "h3" not in s:
        s["h3"] = None
    s["label"] = site_names(s, lang)
    specs = {
        "rank": {"label": t("si_col_rank", lang), "type": "number", "format": "%d"},
        "label": {"label": t("si_col_site", lang), "type": "text"},
        "district": {"label": t("si_col_district", lang), "type": "text"},
        "added_demand": {"label": t("si_col_added", lang, unit=demand_unit), "type": "number", "format": "%.1f"},
        "travel_saved": {"label": t("si_col_saved", lang, unit=t(
            "cv_unit_min" if (result.travel or {}).get("unit") == "min" else "cv_unit_m", lang)),
            "type": "number", "format": "%.1f"},
        "cost": {"label": t("si_col_cost", lang), "type": "number", "format": "%.1f"},
        "lon": {"label": t("cv_col_lon", lang), "type": "number", "format": "%.5f"},
        "lat": {"label": t("cv_col_lat", lang), "type": "number", "format": "%.5f"},
        "h3": {"label": t("si_col_h3", lang), "type": "text"},
        "candidate_id": {"label": t("si_col_candidate", lang), "type": "text"},
    }
    if result.model != "pmedian" or not s["travel_saved"].notna().any():
        specs.pop("travel_saved")
    if not s["cost"].notna().any():
        specs.pop("cost")
    return s[list(specs)].reset_index(drop=True), specs


def gaps_table(result: SitingResult, demand_unit: str, lang: str = "zh",
               top: int = TABLE_GAPS) -> tuple[pd.DataFrame, dict[str, dict]]:
    """The largest remaining gaps (most demand first) and their column specs."""
    g = result.gaps.head(top).copy()
    if not len(g):
        return pd.DataFrame(columns=["gap"]), {"gap": {"label": t("cv_col_gap", lang), "type": "number",
                                                       "format": "%d"}}
    names = dict(zip(result.districts["adcode"].astype(str), result.districts["name"].astype(str)))
    g["district_name"] = g["district"].astype(str).map(lambda c: names.get(c, c))
    g["station_km"] = pd.to_numeric(g["station_distance_m"], errors="coerce").astype(float) / 1000.0
    g["station_km"] = g["station_km"].where(np.isfinite(g["station_km"]))
    specs = {
        "gap": {"label": t("cv_col_gap", lang), "type": "number", "format": "%d"},
        "district_name": {"label": t("cv_col_name", lang), "type": "text"},
        "area_km2": {"label": t("cv_col_area", lang), "type": "number", "format": "%.1f"},
        "demand": {"label": t("cv_col_demand", lang, unit=demand_unit), "type": "number", "format": "%.1f"},
        "cells": {"label": t("cv_col_cells", lang), "type": "number", "format": "%d"},
        "station_km": {"label": t("cv_col_station_km", lang), "type": "number", "format": "%.2f"},
        "lat": {"label": t("cv_col_lat", lang), "type": "number", "format": "%.5f"},
        "lon": {"label": t("cv_col_lon", lang), "type": "number", "format": "%.5f"},
    }
    if demand_unit == "km²":
        specs.pop("demand")  # by area the demand is the area
    return g[list(specs)].reset_index(drop=True), specs


_SHARE_MEASURES = ("before_share", "after_share", "target_share")


def compare_table(table: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """:func:`geo.analysis.scenarios.compare_scenarios` for people: measures named in ``lang``, values as text.

    Shares become percentages, the gap a percentage, yes/no words, numbers
    grouped; per-district rows are named by district. Every value is text,
    so the table shows the same in any grid (one column mixes words and
    numbers).

    Returns
    -------
    DataFrame
        Index: the measure's label; one column per scenario.
    """
    labels, rows = [], []
    for measure, values in table.iterrows():
        m = str(measure)
        if m.startswith("after_share "):
            parts = m.split(" ", 2)
            label = t("si_m_district", lang, name=parts[2] if len(parts) > 2 else parts[-1])
            fmt = _pct
        else:
            key = f"si_m_{m}"
            try:
                label = t(key, lang)
            except KeyError:
                label = m
            fmt = _pct if m in _SHARE_MEASURES else None
        out = []
        for v in values.tolist():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                out.append("—")
            elif isinstance(v, (bool, np.bool_)):
                out.append(t("si_yes" if v else "si_no", lang))
            elif fmt is not None:
                out.append(fmt(v))
            elif m == "gap":
                out.append(_gap_pct(float(v)))
            elif m == "model":
                out.append(t(f"si_model_{v}", lang) if v in MODELS else str(v))
            elif m == "method":
                out.append(t(f"si_method_{v}", lang) if v in ("greedy", "exact") else str(v))
            elif m == "status":
                out.append(t(f"si_status_{v}", lang) if v in ("optimal", "time_limit", "greedy") else str(v))
            elif m == "standard":
                out.append(pick(str(v), lang))
            elif isinstance(v, (int, np.integer)):
                out.append(f"{int(v):,}")
            elif isinstance(v, (float, np.floating)):
                out.append(_amount(float(v), 2 if m == "gain_points" else 1))
            else:
                out.append(str(v))
        labels.append(label)
        rows.append(out)
    out = pd.DataFrame(rows, columns=[str(c) for c in table.columns])
    out.index = pd.Index(labels, name=t("si_measure", lang))
    return out


def scenario_table(listing: pd.DataFrame, lang: str = "zh") -> tuple[pd.DataFrame, dict[str, dict]]:
    """Saved scenarios (:func:`geo.analysis.scenarios.list_scenarios`) to show, newest first, and column specs."""
    df = listing.copy()
    df["model"] = df["model"].map(lambda v: t(f"si_model_{v}", lang) if v in MODELS else str(v))
    df["method"] = df["method"].map(lambda v: t(f"si_method_{v}", lang) if v in ("greedy", "exact") else str(v))
    for c in ("before_share", "after_share"):
        df[c] = pd.to_numeric(df[c], errors="coerce") * 100.0
    df["saved_at"] = df["saved_at"].astype(str).str.replace("T", " ").str.replace("+00:00", " UTC", regex=False)
    specs = {
        "name": {"label": t("si_col_scenario", lang), "type": "text"},
        "region": {"label": t("si_col_region", lang), "type": "text"},
        "model": {"label": t("si_col_model", lang), "type": "text"},
        "method": {"label": t("si_col_method", lang), "type": "text"},
        "new_sites": {"label": t("si_col_new_sites", lang), "type": "number", "format": "%d"},
        "before_share": {"label": t("si_col_before", lang), "type": "number", "format": "%.1f%%"},
        "after_share": {"label": t("si_col_after", lang), "type": "number", "format": "%.1f%%"},
        "saved_at": {"label": t("si_col_saved_at", lang), "type": "text"},
        "note": {"label": t("si_col_note", lang), "type": "text"},
    }
    return df[list(specs)].reset_index(drop=True), specs


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------


def file_stem(result: SitingResult) -> str:
    """A file-system-safe stem for downloads, from the scenario name (e.g. ``440300-rest_station-mclp-p5``)."""
    stem = re.sub(r"[^\w\-]+", "_", result.scenario, flags=re.UNICODE).strip("_")[:80]
    return stem or "siting"


def proposal_name(result: SitingResult) -> str:
    """File name of the proposal download."""
    return f"{file_stem(result)}_proposal.geojson"


def report_name(result: SitingResult, ext: str) -> str:
    """File name of the one-page report download (``html`` or ``pdf``)."""
    return f"{file_stem(result)}_report.{ext}"


def table_name(result: SitingResult) -> str:
    """File name of the before/after table download."""
    return f"{file_stem(result)}_before_after.csv"
