"""Province and city outlines: made light once for the browser, drawn under every map's data."""
from __future__ import annotations

import html
from functools import lru_cache

import folium
import geopandas as gpd
import pandas as pd
import shapely
from folium.map import Layer
from folium.template import Template

from geo.core.i18n import t
from geo.web.maps.encoding import script_json


class Boundaries(Layer):
    """Administrative outlines, drawn under the stations and not clickable (``L.gdBoundaryOptions``).

    Parameters
    ----------
    gdf
        Outlines in WGS-84; a ``level`` column of ``"province"`` draws that
        row heavier (see :func:`load_map_boundaries`).
    name
        Label in the layer control (escaped).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.geoJSON({{ this.data_json }}, L.gdBoundaryOptions());
        {% endmacro %}
    """)

    def __init__(self, gdf: gpd.GeoDataFrame, name: str):
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "GdBoundaries"
        features = []
        # Only the outlines travel to the browser: names and codes of
        # regions are not shown, and leaving them out keeps the page small.
        for geom, level in zip(gdf.geometry, gdf.get("level", pd.Series(["city"] * len(gdf)))):
            if geom is None or geom.is_empty:
                continue
            features.append({"type": "Feature", "properties": {"level": str(level)},
                             "geometry": geom.__geo_interface__})
        self.data_json = script_json({"type": "FeatureCollection", "features": features})


@lru_cache(maxsize=4)
def load_map_boundaries(*, tolerance: float = 0.004, min_area: float = 1e-4,
                        grid: float = 0.0005) -> gpd.GeoDataFrame | None:
    """Province and city outlines for the map, made light for the browser.

    Parameters
    ----------
    tolerance
        Simplification tolerance in degrees (0.004 is about 400 m, far
        below a pixel at the zooms where whole cities are in view).
    min_area
        Islets smaller than this (square degrees; 1e-4 is about 1 km²) are
        left out.
    grid
        Coordinates are snapped to this grid (degrees): full double
        precision would triple the size of the page for nothing visible.

    Returns
    -------
    geopandas.GeoDataFrame or None
        Columns ``level`` and ``geometry`` (lines, WGS-84); ``None`` when
        the boundary file has not been built, so the map works without it.
    """
    from geo.core import regions  # reads the boundary file; only needed when outlines are drawn

    parts = []
    for level in ("city", "province"):
        try:
            gdf = regions.load_boundaries(level)
        except (FileNotFoundError, ValueError, OSError):
            continue
        lines = []
        for geom in gdf.geometry:
            polys = [p for p in shapely.get_parts(geom) if p.area >= min_area]
            outline = shapely.MultiPolygon(polys).boundary.simplify(tolerance)
            lines.append(shapely.set_precision(outline, grid))
        parts.append(gpd.GeoDataFrame({"level": [level] * len(lines)}, geometry=lines, crs=gdf.crs))
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)


def add_boundaries(m: folium.Map, boundaries: gpd.GeoDataFrame | None, *, lang: str) -> None:
    """Draw ``boundaries`` (see :func:`load_map_boundaries`) on map ``m``, when there are any.

    Parameters
    ----------
    m
        The map.
    boundaries
        Outlines, or None.
    lang
        Language of the label in the layer control.
    """
    if boundaries is not None and len(boundaries):
        Boundaries(boundaries, html.escape(t("boundaries", lang))).add_to(m)
