"""Validate the rows of an input file into registry stations.

Every row read ends in exactly one of two places: ``accepted`` (possibly
with warnings) or ``rejects`` with a reason code and a message in Chinese
and English. ``accepted + rejected == rows`` always holds, so nothing the
user gave is lost silently; a rejected row keeps its original cells.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo import settings
from geo.core import regions
from geo.core.crs import to_wgs84
from geo.core.schema import FIELD_NAMES, KINDS, parse_kind
from geo.registry.coordinates import decide_crs, is_geographic, parse_coordinate, split_lonlat
from geo.registry.dedupe import file_duplicates, merge_with_registry
from geo.registry.hints import add_mapping_hints
from geo.registry.io.headers import suggest_mapping, unmapped_columns
from geo.registry.io.table import GEOM_INVALID, GEOM_LAT, GEOM_LON, GEOM_NOTE, RawTable, clean_text
from geo.registry.io.writers import csv_bytes
from geo.registry.lengths import overlong_rows
from geo.registry.reasons import message
from geo.registry.records import ID_PATTERN, build_record, region_label, to_geodataframe


class ValidationError(ValueError):
    """A single record (an edit in the app) that cannot be stored."""


@dataclass
class ImportReport:
    """The outcome of validating one input file.

    Attributes
    ----------
    rows : int
        Data rows read from the file.
    accepted : geopandas.GeoDataFrame
        Canonical stations (``schema.FIELD_NAMES`` + geometry, WGS-84) with
        a ``row`` column giving the 1-based data row they came from.
    rejects : pandas.DataFrame
        ``row``, ``reason_code``, ``message`` and the row's original cells.
    warnings : pandas.DataFrame
        ``row``, ``code``, ``message`` for accepted rows.
    crs_used, crs_note : str
        The coordinate system the input was read in, and why.
    """

    rows: int
    accepted: gpd.GeoDataFrame
    rejects: pd.DataFrame
    warnings: pd.DataFrame
    crs_used: str
    crs_note: str
    mapping: dict
    kind: str | None
    source: str
    filename: str = ""
    format: str = ""
    encoding: str = ""
    notes: list[str] = field(default_factory=list)
    #: Registry stations of the same source that this file no longer lists.
    not_in_file: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """A JSON-ready summary; the ``python -m geo import --json`` contract."""
        return {
            "file": self.filename,
            "format": self.format,
            "encoding": self.encoding,
            "kind": self.kind,
            "source": self.source,
            "rows": int(self.rows),
            "accepted": int(len(self.accepted)),
            "rejected": int(len(self.rejects)),
            "warnings": int(len(self.warnings)),
            "crs_used": self.crs_used,
            "crs_note": self.crs_note,
            "mapping": {k: v for k, v in self.mapping.items() if v},
            "notes": list(self.notes),
            "not_in_file": list(self.not_in_file),
            "rejects": [{"row": int(r.row), "reason_code": r.reason_code, "message": r.message}
                        for r in self.rejects[["row", "reason_code", "message"]].itertuples()],
            "warning_list": [{"row": int(r.row), "code": r.code, "message": r.message}
                             for r in self.warnings.itertuples()],
        }

    def rejects_csv(self) -> bytes:
        """Rejected rows as CSV: the reason beside the original cells."""
        return csv_bytes(self.rejects)


def validate_table(raw: RawTable, kind: str | None, crs: str = "auto",
                   mapping: dict | None = None, source: str | None = None,
                   existing: gpd.GeoDataFrame | None = None,
                   region: str = settings.SERVICE_REGION) -> ImportReport:
    """Validate every row of a raw table into canonical stations.

    Parameters
    ----------
    raw : RawTable
        As returned by :func:`geo.registry.io.readers.read_table`.
    kind : str or None
        The layer being imported, or ``None``/``"auto"`` to take each row's
        layer from its type column.
    crs : str
        ``auto`` (declared, then header and file-name hints, else WGS-84),
        or a name accepted by :func:`geo.core.crs.normalize_crs`.
    mapping : dict, optional
        ``{field: column}`` overrides of :func:`geo.registry.io.headers.suggest_mapping`;
        a value of ``None`` unmaps a field.
    source : str, optional
        Name of the data source; re-importing the same source updates its
        stations by ``source_id``. Default: the file name without extension.
    existing : GeoDataFrame, optional
        The current registry, to merge same-named stations within
        ``settings.DUPLICATE_RADIUS_M`` instead of doubling them.
    region : str
        Adcode of the service region; points outside are rejected.

    Returns
    -------
    ImportReport
    """
    kind = None if kind in (None, "", "auto") else kind
    if kind is not None and kind not in KINDS:
        raise ValueError(f"未知图层 / unknown layer: {kind} ({', '.join(KINDS)})")
    df = raw.df.reset_index(drop=True)
    n = len(df)
    cols = suggest_mapping(df.columns)
    if mapping:
        unknown = [f for f in mapping if f not in cols]
        absent = [c for c in mapping.values() if c and c not in df.columns]
        if unknown or absent:
            raise ValueError(
                "表头映射有误 / bad header mapping: "
                + "; ".join([f"未知字段 / unknown field {f!r}" for f in unknown]
                            + [f"文件中没有列 / no column {c!r} in the file" for c in absent]))
        cols.update(mapping)
    source = source or Path(raw.filename).stem or "upload"

    cache: dict[str, pd.Series] = {}

    def col(name: str) -> pd.Series:
        # Cleaned once per field: rows look cells up many times.
        if name not in cache:
            c = cols.get(name)
            cache[name] = (df[c].fillna("").astype(str).str.strip() if c and c in df.columns
                           else pd.Series([""] * n, dtype=object))
        return cache[name]

    listed: dict[str, list[str]] = {}

    def cells(name: str) -> list[str]:
        # Plain lists: indexing a pandas Series cell by cell is ~10x slower.
        if name not in listed:
            listed[name] = col(name).tolist()
        return listed[name]

    if cols.get("id") and not all(not v or ID_PATTERN.match(v) for v in cells("id")):
        # The file's own "ID" column, not registry ids: it is the source id
        # (so a newer version updates by it), or else kept in extra.
        cols["source_id"] = cols.get("source_id") or cols["id"]
        cols["id"] = None
        cache.pop("id", None)
        listed.pop("id", None)

    extra_cols = unmapped_columns(df.columns, cols)
    # Text longer than its limit is refused first: nothing else is worked out
    # (nor echoed) from a row that will not be stored.
    rejects: dict[int, tuple[str, dict]] = overlong_rows(df, cols, col, extra_cols=extra_cols)
    warnings: list[tuple[int, str, dict]] = []

    # Coordinates: geometry first, then the lon/lat columns, then a combined column.
    lon_txt, lat_txt = col("lon"), col("lat")
    if cols.get("lonlat") and not (cols.get("lon") and cols.get("lat")):
        pairs = col("lonlat").map(split_lonlat)
        lon_txt, lat_txt = pairs.str[0], pairs.str[1]
    use_geometry = raw.has_geometry
    if use_geometry:
        has_geom = df[GEOM_LON].astype(str) != ""
        lon_txt = lon_txt.where(~has_geom, df[GEOM_LON].astype(str))
        lat_txt = lat_txt.where(~has_geom, df[GEOM_LAT].astype(str))
    crs_used, crs_note = decide_crs(raw, crs, cols, use_geometry=use_geometry)

    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    lon_txt, lat_txt = lon_txt.tolist(), lat_txt.tolist()
    invalid_geometry = df[GEOM_NOTE].astype(str).eq(GEOM_INVALID).tolist() if use_geometry and GEOM_NOTE in df.columns \
        else [False] * n
    for i in range(n):
        if i in rejects:
            continue
        if invalid_geometry[i]:
            rejects[i] = ("geometry_invalid", {})
            continue
        try:
            lon[i], lat[i] = parse_coordinate(lon_txt[i]), parse_coordinate(lat_txt[i])
        except (ValueError, TypeError, OverflowError):
            rejects[i] = ("coord_not_numeric", {"value": f"{lon_txt[i]}, {lat_txt[i]}"})
            continue
        if np.isnan(lon[i]) or np.isnan(lat[i]):
            rejects[i] = ("coord_missing", {})
        elif lon[i] == 0 and lat[i] == 0:
            rejects[i] = ("coord_zero", {})

    ok = ~np.isin(np.arange(n), list(rejects))
    wlon, wlat = np.full(n, np.nan), np.full(n, np.nan)
    if is_geographic(crs_used):
        in_range = ok & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    else:  # easting/northing (a GeoPackage or .prj in CGCS2000 / Gauss-Krüger): judge after converting
        in_range = ok.copy()
    if in_range.any():
        wlon[in_range], wlat[in_range] = to_wgs84(lon[in_range], lat[in_range], crs_used)
        in_range &= np.isfinite(wlon) & np.isfinite(wlat) & (np.abs(wlon) <= 180) & (np.abs(wlat) <= 90)
    inside = np.zeros(n, dtype=bool)
    inside[in_range] = regions.in_region(wlon[in_range], wlat[in_range], region)
    # A swapped pair is fixed only when the swap lands inside the region:
    # otherwise we would be guessing.
    retry = ok & ~inside & (np.abs(lon) <= 90) & (np.abs(lat) <= 180)
    if retry.any():
        slon, slat = to_wgs84(lat[retry], lon[retry], crs_used)
        fixed = regions.in_region(slon, slat, region)
        idx = np.flatnonzero(retry)[fixed]
        wlon[idx], wlat[idx] = slon[fixed], slat[fixed]
        inside[idx] = True
        for i in idx:
            warnings.append((i, "coord_swapped", {"value": f"{lon[i]}, {lat[i]}"}))
    region_name = region_label(region)
    for i in np.flatnonzero(ok & ~inside):
        code = "outside_region" if in_range[i] else "coord_out_of_range"
        rejects[i] = (code, {"value": f"{lon[i]}, {lat[i]}", "region": region_name})

    # Names and layers.
    names = cells("name")
    kind_txt = cells("kind")
    kinds: list[str | None] = [None] * n
    subtypes = [""] * n
    for i in range(n):
        if i in rejects:
            continue
        if not names[i]:
            rejects[i] = ("name_missing", {})
            continue
        parsed = parse_kind(kind_txt[i]) if kind_txt[i] else None
        if kind_txt[i] and parsed is None:
            rejects[i] = ("unknown_kind", {"value": kind_txt[i]})
            continue
        if parsed is None and kind is None:
            parsed = parse_kind(names[i])
            if parsed is None:
                rejects[i] = ("unknown_kind", {"value": "—"})
                continue
            warnings.append((i, "kind_from_name", {"value": parsed[0]}))
        if parsed and kind and parsed[0] != kind:
            rejects[i] = ("kind_mismatch", {"value": kind_txt[i], "other": parsed[0]})
            continue
        kinds[i] = parsed[0] if parsed else kind
        by_name = parse_kind(names[i]) if kind_txt[i] or kind else None
        if by_name and by_name[0] != kinds[i]:
            # Taken from the chosen layer or the type column, against what the
            # name says (a 司机之家 imported as a rest station): kept, but said.
            warnings.append((i, "kind_name_mismatch", {"value": names[i], "other": by_name[0], "layer": kinds[i]}))
        subtypes[i] = (parsed[1] if parsed else "") or next(
            (s for s in KINDS[kinds[i]].subtypes if s in names[i]), "")

    # Duplicates inside the file: same source id, or same name within the radius.
    rejects.update(file_duplicates(kinds, names, wlon, wlat, cells("source_id"), skip=set(rejects)))

    good = np.array([i for i in range(n) if i not in rejects], dtype=int)
    located = regions.locate(wlon[good], wlat[good]) if len(good) else pd.DataFrame(
        columns=["adcode", "city", "district"])
    records = []
    geom_notes = df[GEOM_NOTE].tolist() if use_geometry else []
    for pos, i in enumerate(good):
        rec, row_warnings = build_record(
            df.iloc[i], i, cells=cells, kind=kinds[i], subtype=subtypes[i], lon=wlon[i], lat=wlat[i],
            where=located.iloc[pos], source=source, extra_cols=extra_cols)
        records.append(rec)
        warnings.extend((i, code, vals) for code, vals in row_warnings)
        if use_geometry and geom_notes[i]:
            warnings.append((i, "geometry_not_point", {"value": geom_notes[i]}))

    accepted = to_geodataframe(records)
    not_in_file: list[str] = []
    if existing is not None and len(existing) and len(accepted):
        warnings.extend(merge_with_registry(accepted, existing))
    if existing is not None and len(existing):
        # A newer file that no longer lists a station may mean it closed;
        # say so, and leave the decision to a person rather than delete.
        same_source = existing[existing["source"] == source]
        not_in_file = sorted(set(same_source["id"]) - set(accepted["id"]))

    add_mapping_hints(rejects, df, cols, kind=kind)
    reject_rows = sorted(rejects)
    # A re-imported rejects file already has row/reason_code/message: the
    # current reason replaces the old one (duplicate columns broke rejects_csv).
    original = df.drop(columns=[c for c in (GEOM_NOTE, "row", "reason_code", "message") if c in df.columns])
    rejects_df = pd.DataFrame({
        "row": [i + 1 for i in reject_rows],
        "reason_code": [rejects[i][0] for i in reject_rows],
        "message": [message(rejects[i][0], **_fill(rejects[i][1])) for i in reject_rows],
    })
    rejects_df = pd.concat([rejects_df, original.iloc[reject_rows].reset_index(drop=True)], axis=1)
    warnings.sort(key=lambda w: w[0])
    warnings_df = pd.DataFrame({
        "row": [w[0] + 1 for w in warnings],
        "code": [w[1] for w in warnings],
        "message": [message(w[1], **_fill(w[2])) for w in warnings],
    })
    assert len(accepted) + len(rejects_df) == n, "every row is accepted or rejected"
    return ImportReport(
        rows=n, accepted=accepted, rejects=rejects_df, warnings=warnings_df,
        crs_used=crs_used, crs_note=crs_note, mapping=cols, kind=kind, source=source,
        filename=raw.filename, format=raw.format, encoding=raw.encoding, notes=list(raw.notes),
        not_in_file=not_in_file,
    )


def _fill(values: dict) -> dict:
    return {"value": "", "other": "", "region": "", **values}


def validate_record(record: dict, kind: str | None = None) -> dict:
    """Validate one station given as canonical fields (an edit in the app).

    Raises
    ------
    ValidationError
        With the bilingual reason when the record would be rejected.
    """
    cells = {k: clean_text(";".join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else str(v)))
             for k, v in record.items() if k in FIELD_NAMES or k == "extra"}
    for key in ("is_24h", "opening_hours_osm", "adcode", "city", "district", "version", "updated_at"):
        cells.pop(key, None)
    raw = RawTable(pd.DataFrame([cells], dtype=object), filename="edit", format="record")
    report = validate_table(raw, kind or record.get("kind"), crs="wgs84",
                            mapping={k: k for k in cells}, source=record.get("source") or "app")
    if len(report.rejects):
        raise ValidationError(report.rejects["message"].iat[0])
    rec = report.accepted.drop(columns=["geometry", "row"]).iloc[0].to_dict()
    rec["facilities"] = list(rec["facilities"])
    rec["facilities_other"] = list(rec["facilities_other"])
    return rec
