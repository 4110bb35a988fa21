"""Support for the planner's siting page: uploads, map layers and candidate names.

``pages/4_选址_Siting.py`` only arranges widgets; what it shows is made
here from a :class:`geo.analysis.siting.problem.SitingProblem` and the
:class:`geo.analysis.siting.result.SitingResult` the page is showing (a
greedy preview or an exact answer):

* **Inputs** (:func:`read_candidate_upload`, :func:`read_exclusion_upload`):
  a candidate file read with the registry's import rules
  (:func:`geo.analysis.siting.candidates.read_candidates`), with its
  rejected rows beside their original cells for download; exclusion
  polygons from a GeoJSON upload.
* **Map layers** (:func:`siting_layers`): the cells the new sites newly
  cover, dissolved per district and simplified like the coverage page's
  bands; the largest remaining gaps, dissolved; and the numbered sites. The
  existing coverage underneath is the coverage page's own
  :func:`geo.web.views.coverage.layers.map_layers` of the problem's baseline, so the siting
  map costs the browser little more than the coverage map.

The figures, texts and tables beside the map are
:mod:`geo.web.views.siting_tables`. This module never imports streamlit;
the folium map itself is :func:`geo.web.maps.siting.siting_map`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.analysis.gaps import dissolve_cells, gap_geometries, gap_labels, gap_table
from geo import settings
from geo.core.i18n import pick
from geo.registry.io.readers import read_features, read_table
from geo.registry.io.writers import csv_bytes
from geo.web.maps.encoding import encoded_frame
from geo.web.views.coverage.layers import MAP_MAX_GAPS, MapLayers
from geo.analysis.siting.candidates import Candidates, read_candidates, read_exclusions
from geo.analysis.siting.problem import SitingProblem
from geo.analysis.siting.result import SitingResult

#: Models offered, the default first.
MODELS: tuple[str, ...] = ("mclp", "lscp", "pmedian")

#: Where candidates come from, the default first.
CANDIDATE_SOURCES: tuple[str, ...] = ("generated", "upload")

#: Coordinate systems a candidate upload may be in (as for a registry import).
CANDIDATE_CRS: tuple[str, ...] = ("auto", "wgs84", "gcj02", "bd09")

#: Most sites the budget slider offers; a city rarely plans more at once,
#: and the greedy preview stays well under a second up to here.
SLIDER_MAX = 50

#: The budget slider's first position.
DEFAULT_SITES = 5

#: LSCP's "at most this many sites" first position: room to reach a target.
DEFAULT_MAX_SITES = 30


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


def reach_for(model: str) -> float:
    """How far (times the threshold) the reach matrix must go for ``model``: p-median looks farther."""
    return float(settings.SITING_PMEDIAN_REACH) if model == "pmedian" else 1.0


@dataclass
class CandidateUpload:
    """A candidate file read with the registry's import rules.

    Attributes
    ----------
    candidates : Candidates
        The accepted rows, ready for :func:`geo.analysis.siting.problem.build_problem`.
    rejects : DataFrame
        One row per rejected row: ``row`` (1-based, as in the file),
        ``reason_code``, ``message`` (bilingual), then the row's original
        cells.
    """

    candidates: Candidates
    rejects: pd.DataFrame

    @property
    def rows(self) -> int:
        """Rows read from the file."""
        return int(self.candidates.summary.get("rows", 0))

    @property
    def accepted(self) -> int:
        """Rows accepted as candidates."""
        return int(self.candidates.summary.get("accepted", 0))

    @property
    def rejected(self) -> int:
        """Rows rejected."""
        return int(self.candidates.summary.get("rejected", 0))

    def rejects_csv(self) -> bytes:
        """The rejected rows as CSV (UTF-8 with BOM, formula cells escaped), as the Data page writes them."""
        return csv_bytes(self.rejects)


def read_candidate_upload(data: bytes, filename: str, kind: str, crs: str = "auto") -> CandidateUpload:
    """Read an uploaded candidate file exactly as ``python -m geo plan --candidates`` does.

    Parameters
    ----------
    data
        The upload.
    filename
        Its name (the format is told by the extension).
    kind
        The analysed kind (every candidate is taken as this kind).
    crs
        ``auto`` or the file's coordinate system (see :data:`CANDIDATE_CRS`).

    Returns
    -------
    CandidateUpload

    Raises
    ------
    geo.registry.io.readers.ReadError
        The file cannot be read at all.
    """
    cands = read_candidates(data, kind, filename=filename, crs=crs)
    rejects = pd.DataFrame(cands.summary.get("rejects") or [], columns=["row", "reason_code", "message"])
    if len(rejects):
        # The engine lists why; a planner fixing the file also wants what the row said.
        raw = read_table(data, filename=filename).df
        raw = raw[[c for c in raw.columns if not str(c).startswith("__")]]
        pos = rejects["row"].to_numpy(int) - 1
        ok = (pos >= 0) & (pos < len(raw))
        cells = raw.iloc[pos[ok]].reset_index(drop=True)
        cells.columns = [c if c not in rejects.columns else f"{c} ({i})" for i, c in enumerate(cells.columns)]
        rejects = pd.concat([rejects[ok].reset_index(drop=True), cells], axis=1)
    return CandidateUpload(cands, rejects)


def read_exclusion_upload(data: bytes, filename: str) -> tuple[shapely.Geometry | None, int]:
    """Exclusion polygons from an upload (GeoJSON, GeoPackage or zipped Shapefile).

    Returns
    -------
    (geometry or None, int)
        The union of the polygons (WGS-84; a file without a CRS is taken as
        WGS-84), and how many polygon features there were.
    """
    frame = read_features(data, filename=Path(filename or "exclusions.geojson").name)
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    polys = frame[frame.geometry.notna()]
    polys = polys[polys.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    return read_exclusions(polys) if len(polys) else None, int(len(polys))


# --------------------------------------------------------------------------
# Map layers
# --------------------------------------------------------------------------


def chosen_candidates(problem: SitingProblem, result: SitingResult) -> np.ndarray:
    """Positions in ``problem.candidates`` of the result's sites, in rank order."""
    pos = {c: i for i, c in enumerate(problem.candidates["id"].astype(str))}
    ids = result.sites["candidate_id"].astype(str) if len(result.sites) else []
    return np.array([pos[c] for c in ids if c in pos], dtype=np.int64)


def covered_after(problem: SitingProblem, result: SitingResult) -> np.ndarray:
    """Cells within the standard of an existing station or a new site (capacities ignored, as the engine does)."""
    chosen = chosen_candidates(problem, result)
    out = problem.covered0.copy()
    if len(chosen):
        cover = problem.cover()
        for j in chosen:
            out[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] = True
    return out


@dataclass
class SitingLayers:
    """What the siting map draws over the baseline coverage layers.

    Attributes
    ----------
    sites : DataFrame
        ``rank``, ``name`` (the candidate's), ``lon``, ``lat``,
        ``added_demand``, ``district``, ``candidate_id``.
    new_cover : GeoDataFrame
        Newly covered cells dissolved per district: ``district``, ``cells``,
        ``area_km2``, ``demand``, simplified geometry.
    gaps : GeoDataFrame
        The largest remaining gaps: ``gap``, ``cells``, ``area_km2``,
        ``demand``, ``district``, ``station_distance_m``, geometry.
    gaps_total : int
        Remaining gaps in all.
    new_cells : int
        Cells newly covered.
    gain_points : float
        Percentage points of covered demand gained.
    precision : float
        Coordinate step of the encoded geometry (the baseline layers').
    demand_unit : str
    """

    sites: pd.DataFrame
    new_cover: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    gaps_total: int
    new_cells: int
    gain_points: float
    precision: float
    demand_unit: str
    _texts: dict = field(default_factory=dict, repr=False)

    def geometry_texts(self, layer: str) -> list[str]:
        """Encoded geometry (:func:`geo.web.maps.encoding.encode_geometries`) of ``new_cover`` or ``gaps``.

        Built once per layers object.
        """
        return encoded_frame(getattr(self, layer), self.precision, cache=self._texts, key=layer)

    def payload_bytes(self) -> int:
        """About how many bytes the overlay adds to the map page."""
        geo = sum(len(s) for layer in ("new_cover", "gaps") for s in self.geometry_texts(layer))
        return geo + 70 * (len(self.new_cover) + len(self.gaps)) + 200 * len(self.sites)


def siting_layers(problem: SitingProblem, result: SitingResult, base: MapLayers,
                  max_gaps: int = MAP_MAX_GAPS, lang: str = "zh") -> SitingLayers:
    """Light map layers of a result: newly covered cells, remaining gaps and the sites.

    Parameters
    ----------
    problem
        The problem the result answers (its baseline carries the grid).
    result
        The answer shown.
    base
        :func:`geo.web.views.coverage.layers.map_layers` of ``problem.baseline``: the same
        simplification tolerance and coordinate step are used, so the new
        polygons sit exactly on the bands underneath.
    max_gaps
        Remaining gaps outlined, most demand first.
    lang
        ``zh`` or ``en``: the language of the candidates' names where the engine named them.

    Returns
    -------
    SitingLayers
    """
    baseline = problem.baseline
    grid = baseline.grid
    after = covered_after(problem, result)
    new = np.flatnonzero(after & ~problem.covered0)
    district = grid.district.astype(str)
    codes, geoms, ncells, area, demand = [], [], [], [], []
    if len(new):
        order = new[np.argsort(district[new], kind="stable")]
        d = district[order]
        starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for s, e in zip(starts, ends):
            members = order[s:e]
            codes.append(d[s])
            geoms.append(dissolve_cells(grid, members))
            ncells.append(len(members))
            area.append(float(grid.area_km2[members].sum()))
            demand.append(float(problem.demand[members].sum()))
    geoms_arr = np.asarray(geoms, dtype=object)
    if len(geoms_arr) and base.tolerance > 0:
        try:
            # As a coverage: neighbouring districts keep their shared edges.
            geoms_arr = np.asarray(shapely.coverage_simplify(geoms_arr, base.tolerance), dtype=object)
        except (shapely.errors.GEOSException, ValueError, AttributeError):  # pragma: no cover - GEOS < 3.12
            geoms_arr = np.asarray(shapely.simplify(geoms_arr, base.tolerance, preserve_topology=True), dtype=object)
    new_cover = gpd.GeoDataFrame({"district": codes, "cells": np.asarray(ncells, dtype=np.int64),
                                  "area_km2": np.asarray(area, float), "demand": np.asarray(demand, float)},
                                 geometry=list(geoms_arr), crs="EPSG:4326")

    # Remaining gaps, ranked with the engine's own functions so "#1" is the gap the table lists first.
    chosen = chosen_candidates(problem, result)
    labels = gap_labels(grid, ~after)
    stations = pd.concat([baseline.stations[["lon", "lat"]], problem.candidates.iloc[chosen][["lon", "lat"]]],
                         ignore_index=True)
    table, rank = gap_table(grid, labels, problem.demand, problem.travel0, stations)
    n = min(int(max_gaps), len(table))
    found = gap_geometries(grid, rank, n) if n else {}
    gap_geoms = [shapely.simplify(found.get(r, shapely.Polygon()), base.tolerance) for r in range(1, n + 1)]
    gaps = gpd.GeoDataFrame(table.head(n)[["gap", "cells", "area_km2", "demand", "district",
                                           "station_distance_m"]].reset_index(drop=True),
                            geometry=gap_geoms, crs="EPSG:4326")

    sites = result.sites[["rank", "name", "lon", "lat", "added_demand", "district", "candidate_id"]].copy()
    sites["name"] = site_names(result.sites, lang)
    return SitingLayers(sites=sites.reset_index(drop=True), new_cover=new_cover, gaps=gaps,
                        gaps_total=int(len(table)), new_cells=int(len(new)),
                        gain_points=100.0 * (result.after_share - result.before_share),
                        precision=base.precision, demand_unit=baseline.demand.unit)


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------

# Names the engine gives candidates itself, in both languages; a planner's own
# names are shown as written, even when they hold " / ".
_ENGINE_NAME = re.compile(r"^(缺口格网 [0-9a-f]+ / uncovered cell [0-9a-f]+|候选点 \d+ / Candidate \d+)$")


def site_names(sites: pd.DataFrame, lang: str = "zh") -> list[str]:
    """Each proposed site as people read it, in ``lang``: its label (nearest road, district), else its name.

    A scenario saved before sites had labels has none; its candidate's name
    is shown as before (:func:`candidate_label`).
    """
    labels = sites["label"] if "label" in sites else pd.Series([None] * len(sites), index=sites.index)
    return [pick(label, lang) if isinstance(label, str) and label else candidate_label(name, lang)
            for label, name in zip(labels, sites["name"])]


def candidate_label(name: str, lang: str = "zh") -> str:
    """A candidate's name in ``lang`` when the engine named it (generated cells, unnamed rows), else as given."""
    text = "" if name is None else str(name)
    return pick(text, lang) if _ENGINE_NAME.match(text) else text
