"""Candidate sites: read from a planner's file, taken from a frame, or generated from the gaps; exclusion areas.

A candidate file goes through the registry's own import and validation, so
a candidate is accepted or rejected for the same reasons as a station.
Without a file, candidates are the centres of uncovered cells, snapped to
the roads. Exclusion areas (polygons) drop the candidates inside them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import settings
from geo.analysis.coverage import CoverageResult
from geo.core import geodesy
from geo.registry.io.readers import read_features, read_table
from geo.routing.network import RoadGraph

_NAME_COL = "__candidate_name"


@dataclass
class Candidates:
    """Candidate sites, ready to be evaluated.

    Attributes
    ----------
    frame : DataFrame
        ``id``, ``name``, ``lon``, ``lat`` (WGS-84, 7 decimals, as the
        registry stores them), ``cost`` and ``capacity`` (NaN when not
        given), ``origin`` (``"file"``, ``"generated"`` or ``"frame"``).
    summary : dict
        Rows read, accepted, rejected (with reasons), excluded, generated.
    """

    frame: pd.DataFrame
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class CandidateSource:
    """Where a problem's candidate sites come from, how a file of them is read, and where none may go.

    Attributes
    ----------
    sites : str, Path, bytes, DataFrame, Candidates or None
        A candidate file (read with :func:`read_candidates`; bytes need
        ``filename``), a frame (:func:`candidates_from_frame`), candidates
        already read, or ``None`` to generate them from uncovered cells
        (:func:`generate_candidates`).
    filename : str or None
        The name of an uploaded file given as bytes (its format is told by the extension).
    crs : str
        ``auto`` or the file's coordinate system.
    cost_column, capacity_column : str or None
        Columns of cost and capacity (:func:`read_candidates` picks them by default).
    exclusions : path, GeoDataFrame, geometry or list of them, optional
        Areas where no site may go (:func:`read_exclusions`); candidates inside are dropped.
    max_generated : int
        Most candidates generated from uncovered cells.
    """

    sites: str | Path | bytes | pd.DataFrame | Candidates | None = None
    filename: str | None = None
    crs: str = "auto"
    cost_column: str | None = None
    capacity_column: str | None = None
    exclusions: str | Path | gpd.GeoDataFrame | shapely.Geometry | list | None = None
    max_generated: int = settings.SITING_MAX_GENERATED

    def candidates(self, kind: str, baseline: CoverageResult, *, graph: RoadGraph | None = None) -> Candidates:
        """The candidates, before exclusions.

        Parameters
        ----------
        kind
            The analysed kind (a file's rows are all taken as this kind).
        baseline
            The coverage run whose uncovered cells give generated candidates.
        graph
            The mode's road graph generated candidates are snapped to.
        """
        if self.sites is None:
            return generate_candidates(baseline, graph, max_sites=self.max_generated)
        if isinstance(self.sites, Candidates):
            return self.sites
        if isinstance(self.sites, pd.DataFrame):
            return candidates_from_frame(self.sites)
        return read_candidates(self.sites, kind, filename=self.filename, crs=self.crs,
                               cost_column=self.cost_column, capacity_column=self.capacity_column)


def _pick_column(columns: Iterable[str], given: str | None, wanted: tuple[str, ...], what: str) -> str | None:
    columns = list(columns)
    if given:
        if given not in columns:
            raise ValueError(f"候选文件中没有 {what} 列 / no {what} column {given!r} in the candidate file")
        return given
    low = {str(c).strip().lower(): c for c in columns}
    return next((low[w.lower()] for w in wanted if w.lower() in low), None)


def _numbers(values: pd.Series) -> np.ndarray:
    text = values.fillna("").astype(str).str.replace(",", "", regex=False).str.strip()
    return pd.to_numeric(text, errors="coerce").to_numpy(float)


def read_candidates(source: str | Path | bytes, kind: str, *, filename: str | None = None, crs: str = "auto",
                    cost_column: str | None = None, capacity_column: str | None = None,
                    mapping: dict | None = None, region: str = settings.SERVICE_REGION) -> Candidates:
    """Read a planner's candidate file with the registry's import and validation.

    The file goes through :func:`geo.registry.io.readers.read_table` and
    :func:`geo.registry.validate.validate_table` exactly as a station import does
    (formats, encodings, coordinate systems, header mapping, the service
    region), so a candidate is accepted or rejected for the same reasons as a
    station. Differences, because candidates are other things (petrol
    stations, EV chargers, union buildings ...): the type column is ignored
    (every candidate is taken as the analysed ``kind``), and a file without a
    name column is named by its source id, else ``候选点 N / Candidate N``.

    Parameters
    ----------
    source
        A path, or an upload's bytes (then ``filename`` is required).
    kind
        The analysed kind.
    filename
        The name of an upload (its format is told by the extension).
    crs
        ``auto`` or the file's coordinate system.
    cost_column, capacity_column
        Columns of cost and capacity; default the first of
        ``settings.SITING_COST_COLUMNS`` / ``SITING_CAPACITY_COLUMNS`` present.
        Capacity is demand a site can serve, in the demand's unit.
    mapping
        Header mapping overrides, as for an import.
    region
        Adcode of the service region; points outside are rejected.

    Returns
    -------
    Candidates

    Raises
    ------
    geo.registry.io.readers.ReadError
        The file cannot be read.
    """
    from geo.registry.io.headers import suggest_mapping
    from geo.registry.validate import validate_table

    raw = read_table(source, filename=filename)
    df = raw.df
    cols = {**suggest_mapping(df.columns), **(mapping or {})}
    overrides = {"kind": None, **(mapping or {})}
    if not cols.get("name"):
        sid = df[cols["source_id"]].astype(str).str.strip() if cols.get("source_id") else pd.Series("", index=df.index)
        fallback = pd.Series([f"候选点 {i + 1} / Candidate {i + 1}" for i in range(len(df))], index=df.index)
        df[_NAME_COL] = sid.where(sid != "", fallback)
        overrides["name"] = _NAME_COL
    cost_col = _pick_column(df.columns, cost_column, settings.SITING_COST_COLUMNS, "cost / 成本")
    cap_col = _pick_column(df.columns, capacity_column, settings.SITING_CAPACITY_COLUMNS, "capacity / 容量")
    report = validate_table(raw, kind, crs=crs, mapping=overrides, region=region)
    acc = report.accepted
    rows = acc["row"].to_numpy(int) - 1
    cost = _numbers(df[cost_col].iloc[rows]) if cost_col else np.full(len(acc), np.nan)
    cap = _numbers(df[cap_col].iloc[rows]) if cap_col else np.full(len(acc), np.nan)
    frame = pd.DataFrame({"id": acc["id"].astype(str).to_numpy(), "name": acc["name"].astype(str).to_numpy(),
                          "lon": acc["lon"].to_numpy(float), "lat": acc["lat"].to_numpy(float),
                          "cost": cost, "capacity": cap, "origin": "file"})
    summary = {"file": report.filename, "rows": int(report.rows), "accepted": int(len(acc)),
               "rejected": int(len(report.rejects)), "crs_used": report.crs_used,
               "cost_column": cost_col, "capacity_column": cap_col,
               "rejects": [{"row": int(r.row), "reason_code": r.reason_code, "message": r.message}
                           for r in report.rejects[["row", "reason_code", "message"]].itertuples()]}
    return Candidates(_dedupe_ids(frame), summary)


def _dedupe_ids(frame: pd.DataFrame) -> pd.DataFrame:
    # The registry id is derived from the source id or name+position, so two
    # rows of a file can share it; candidates must stay distinct.
    ids = frame["id"].astype(str)
    dup = ids.duplicated(keep=False)
    if dup.any():
        n = ids.groupby(ids).cumcount().astype(str)
        frame = frame.copy()
        frame.loc[dup, "id"] = ids[dup] + "#" + n[dup]
    return frame.reset_index(drop=True)


def candidates_from_frame(frame: pd.DataFrame) -> Candidates:
    """Candidates from a frame with WGS-84 ``lon``/``lat`` (and optional ``id``, ``name``, ``cost``, ``capacity``).

    For the app and tests: the frame is taken as already checked; rows
    without finite coordinates are dropped.
    """
    df = pd.DataFrame(frame).reset_index(drop=True)
    lon, lat = df["lon"].to_numpy(float), df["lat"].to_numpy(float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    n = len(df)
    ids = df["id"].astype(str) if "id" in df else pd.Series([f"C{i + 1}" for i in range(n)])
    names = df["name"].astype(str) if "name" in df else ids
    out = pd.DataFrame({"id": ids.to_numpy(), "name": names.to_numpy(), "lon": np.round(lon, 7),
                        "lat": np.round(lat, 7),
                        "cost": df["cost"].to_numpy(float) if "cost" in df else np.full(n, np.nan),
                        "capacity": df["capacity"].to_numpy(float) if "capacity" in df else np.full(n, np.nan),
                        "origin": "frame"})[ok]
    return Candidates(_dedupe_ids(out), {"rows": int(n), "accepted": int(ok.sum()), "rejected": int((~ok).sum())})


def generate_candidates(baseline: CoverageResult, graph: RoadGraph | None = None, *,
                        max_sites: int = settings.SITING_MAX_GENERATED) -> Candidates:
    """Candidate sites at the centres of uncovered cells, snapped to the road network.

    Every uncovered cell with demand gives one candidate at its centre; with
    more than ``max_sites`` of them, uncovered cells are grouped under their
    H3 parent (one resolution coarser at a time) and each group gives one at
    its demand-weighted centre. With a network, each point moves to the
    nearest usable road (:func:`geo.routing.snap.snap_point`, the engine's
    snapping), where a station would be reached from; points farther than
    ``settings.SNAP_MAX_M`` from every road keep their position.
    """
    import h3.api.basic_int as h3i

    from geo.routing.snap import snap_point

    grid = baseline.grid
    if grid is None:
        raise ValueError("this coverage result carries no grid; run coverage() again")
    cells = baseline.cells
    dem = cells["demand"].to_numpy(float)
    idx = np.flatnonzero(~cells["covered"].to_numpy(bool) & (dem > 0))
    codes = grid.cells[idx]
    lon, lat, w = grid.lon[idx], grid.lat[idx], dem[idx]
    res = grid.res
    while len(codes) > max_sites and res > 0:
        res -= 1
        parent = np.array([h3i.cell_to_parent(int(c), res) for c in codes.tolist()], dtype=np.int64)
        codes, inv = np.unique(parent, return_inverse=True)
        xyz = geodesy.xyz(lon, lat) * w[:, None]
        s = np.column_stack([np.bincount(inv, weights=xyz[:, q], minlength=len(codes)) for q in range(3)])
        s /= np.linalg.norm(s, axis=1, keepdims=True)
        lon, lat = np.degrees(np.arctan2(s[:, 1], s[:, 0])), np.degrees(np.arcsin(np.clip(s[:, 2], -1, 1)))
        w = np.bincount(inv, weights=w, minlength=len(codes))
    snapped = np.zeros(len(codes), dtype=bool)
    lon, lat = lon.copy(), lat.copy()
    if graph is not None:
        for i in range(len(codes)):
            sn = snap_point(graph, float(lon[i]), float(lat[i]))
            if sn is not None:
                lon[i], lat[i], snapped[i] = sn.lon, sn.lat, True
    frame = pd.DataFrame({"id": [f"G-{c:x}" for c in codes.tolist()],
                          "name": [f"缺口格网 {c:x} / uncovered cell {c:x}" for c in codes.tolist()],
                          "lon": np.round(lon, 7), "lat": np.round(lat, 7), "cost": np.nan, "capacity": np.nan,
                          "origin": "generated"})
    return Candidates(frame, {"generated": int(len(frame)), "generated_res": int(res),
                              "snapped": int(snapped.sum()) if graph is not None else None})


def read_exclusions(source) -> shapely.Geometry | None:
    """Exclusion areas as one (multi)polygon: a GeoJSON, GeoPackage or zipped Shapefile, a frame or a geometry.

    A file is read by :func:`geo.registry.io.readers.read_features` (checked to be what its
    name says; never opened by GDAL's own guessing). A file without a
    declared CRS is taken as WGS-84; any other CRS is transformed to it.
    Non-polygon features are ignored.
    """
    if source is None:
        return None
    if isinstance(source, (list, tuple)):
        parts = [read_exclusions(s) for s in source]
        parts = [p for p in parts if p is not None and not p.is_empty]
        return shapely.union_all(parts) if parts else None
    if isinstance(source, shapely.Geometry):
        geoms = np.array([source])
    else:
        frame = source if isinstance(source, gpd.GeoDataFrame) else read_features(source)
        if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
            frame = frame.to_crs("EPSG:4326")
        geoms = frame.geometry.to_numpy()
    geoms = geoms[np.isin(shapely.get_type_id(geoms), [3, 6])] if len(geoms) else geoms
    if not len(geoms):
        return None
    return shapely.union_all(shapely.make_valid(geoms))


def apply_exclusions(frame: pd.DataFrame, area: shapely.Geometry | None) -> tuple[pd.DataFrame, int]:
    """Drop the candidates inside ``area`` (on its boundary counts as inside).

    Parameters
    ----------
    frame
        Candidates with WGS-84 ``lon``/``lat``.
    area
        From :func:`read_exclusions`; None drops nothing.

    Returns
    -------
    (DataFrame, int)
        The candidates kept (index reset) and how many were dropped.
    """
    if area is None or not len(frame):
        return frame, 0
    shapely.prepare(area)
    # A site on the boundary is inside: the planner drew the line to keep sites out.
    inside = shapely.intersects_xy(area, frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    return frame[~inside].reset_index(drop=True), int(inside.sum())

