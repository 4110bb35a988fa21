"""Stations as the pages list them: chosen by the sidebar's filters, searched, labelled.

The map page (``app.py``) and the Data page only arrange widgets; which
stations they show, and the table a visitor without a login reads, are
computed here so they can be tested without Streamlit.
"""
from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import pandas as pd

from geo.core.i18n import facility_label, field_label, kind_label, status_label
from geo.registry.export import filter_stations

#: Columns of the registry table shown to anyone (stations already redacted).
PUBLIC_COLUMNS: tuple[str, ...] = ("id", "name", "kind", "status", "city", "district", "address",
                                   "opening_hours", "phone", "facilities", "is_sample")

#: Most stations a picker lists: a longer list is searched, not scrolled.
PICK_LIMIT = 500


def chosen_stations(stations: gpd.GeoDataFrame, *, kinds: Iterable[str], statuses: Iterable[str],
                    region: str | None = None) -> gpd.GeoDataFrame:
    """The stations of the chosen layers and statuses, inside ``region``.

    Parameters
    ----------
    stations
        Canonical stations.
    kinds, statuses
        Layer and status codes ticked in a multiselect.
    region
        Adcode of the province, a city or a district; None for all.

    Returns
    -------
    geopandas.GeoDataFrame
        Empty when no layer or no status is ticked: an empty multiselect
        means "none", not "any" as it does for :func:`filter_stations`.
    """
    kinds, statuses = list(kinds), list(statuses)
    chosen = filter_stations(stations, kinds=kinds or None, region=region, statuses=statuses or None)
    return chosen if kinds and statuses else chosen.iloc[0:0]


def sample_count(stations: pd.DataFrame) -> int:
    """How many of ``stations`` are generated examples (``is_sample``)."""
    return int(stations["is_sample"].fillna(False).astype(bool).sum())


def search_stations(stations: gpd.GeoDataFrame, query: str) -> gpd.GeoDataFrame:
    """The stations whose name or id contains ``query`` (case-insensitive, as typed; blank keeps all)."""
    query = query.strip()
    if not query:
        return stations
    return stations[stations["name"].fillna("").str.contains(query, case=False, regex=False)
                    | stations["id"].fillna("").str.contains(query, case=False, regex=False)]


def station_labels(stations: pd.DataFrame, *, lang: str = "zh") -> dict[str, str]:
    """``{id: "name · layer · id"}`` for a picker, at most :data:`PICK_LIMIT` of them, in table order."""
    labels = {sid: f"{name} · {kind_label(kind, lang)} · {sid}"
              for sid, name, kind in zip(stations["id"], stations["name"], stations["kind"])}
    return dict(list(labels.items())[:PICK_LIMIT])


def public_table(stations: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """The registry as anyone may read it: :data:`PUBLIC_COLUMNS` with codes and headers in ``lang``.

    Parameters
    ----------
    stations
        Stations already redacted (``geo.registry.export.redact_private``).
    lang
        ``"zh"`` or ``"en"``.
    """
    table = pd.DataFrame(stations[list(PUBLIC_COLUMNS)]).assign(
        kind=lambda d: d["kind"].map(lambda c: kind_label(c, lang)),
        status=lambda d: d["status"].map(lambda c: status_label(c, lang)),
        facilities=lambda d: d["facilities"].map(
            lambda codes: "、".join(facility_label(c, lang) for c in (codes or []))))
    return table.rename(columns={c: field_label(c, lang) for c in PUBLIC_COLUMNS})
