"""Export registry stations for other systems: GeoJSON, GeoPackage, CSV, XLSX.

GeoJSON follows RFC 7946: a FeatureCollection in WGS-84 with ``[lon, lat]``
positions and no ``crs`` member. Property names are the canonical field
names of :mod:`geo.core.schema` (documented in ``docs/schema.md``) and stay
stable. Amap-based systems can ask for GCJ-02 instead; every feature then
says so in its ``coord_system`` property, since RFC 7946 itself has no way
to declare another datum.

Stations marked ``public = false`` keep their phone, exact address and free
text (``notes``, ``extra``) out of every export unless the caller asks for
them (``public_only=False``; ``python -m geo export --include-private``):
see :func:`redact_private`.

Headers: the XLSX export is meant for people (union staff open it in
Excel), so its header row holds the field labels in the chosen language
(``lang``, default Chinese: 名称, 经度(WGS-84) ...; English: Name,
Longitude (WGS-84) ...); cell values stay codes (``rest_station``, ``open``,
``toilet``) so systems can still read them. CSV, GeoJSON and GeoPackage are
for systems and keep the canonical field names; CSV can have the labels on
request (``labels=True``). Every labelled export imports back without loss
(:mod:`geo.registry.io.headers` knows every label in both languages).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import points

from geo import settings
from geo.core import i18n
from geo.core.crs import from_wgs84, normalize_crs
from geo.core.files import private_dir, private_output, write_private
from geo.registry.io.writers import csv_bytes, feature_collection, xlsx_bytes
from geo.core.schema import FIELD_NAMES, FIELDS_BY_NAME, KINDS, LIST_SEP

FORMATS = ("geojson", "gpkg", "csv", "xlsx")
#: Formats whose header row can hold field labels instead of field names.
LABEL_FORMATS = ("csv", "xlsx")
#: Formats meant for people: labelled unless the caller says ``labels=False``.
LABELLED_BY_DEFAULT = ("xlsx",)
_COORD_LABEL = {"wgs84": "WGS-84", "gcj02": "GCJ-02"}
# Positions to 1e-7 degrees (1 cm): what the registry stores, so an export
# re-imports without loss.
_DECIMALS = 7


def adcode_prefix(adcode: str) -> str:
    """The code prefix shared by everything inside a region.

    ``440000`` (province) -> ``44``, ``440300`` (city) -> ``4403``,
    ``440305`` (district) -> ``440305``.
    """
    code = str(adcode).strip()
    if len(code) != 6 or not code.isdigit():
        raise ValueError(f"区划代码应为 6 位数字 / an adcode has 6 digits: {adcode!r}")
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def filter_stations(stations: gpd.GeoDataFrame, kinds: Iterable[str] | None = None,
                    region: str | None = None, statuses: Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """Keep the stations of some layers, inside a region, with some statuses.

    Parameters
    ----------
    stations : GeoDataFrame
        Canonical stations.
    kinds, statuses : iterable of str, optional
    region : str, optional
        Adcode of the province, a city or a district.
    """
    mask = np.ones(len(stations), dtype=bool)
    if kinds:
        mask &= stations["kind"].isin(list(kinds)).to_numpy()
    if statuses:
        mask &= stations["status"].isin(list(statuses)).to_numpy()
    if region:
        mask &= stations["adcode"].fillna("").astype(str).str.startswith(adcode_prefix(region)).to_numpy()
    return stations[mask]


def _positions(stations: gpd.GeoDataFrame, crs: str) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = from_wgs84(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float), crs)
    return np.round(np.atleast_1d(lon), _DECIMALS), np.round(np.atleast_1d(lat), _DECIMALS)


def _clean(value, field_name: str):
    dtype = FIELDS_BY_NAME[field_name].dtype if field_name in FIELDS_BY_NAME else "str"
    if dtype == "list":
        return list(value) if isinstance(value, (list, tuple, np.ndarray)) else []
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


#: Fields of a non-public station that public exports leave empty; its
#: address is replaced by its city and district.
PRIVATE_FIELDS = ("phone", "address", "notes", "extra")


def _public_mask(stations: pd.DataFrame) -> np.ndarray:
    """True where a station may be published in full (an empty ``public`` counts as yes)."""
    if "public" not in stations.columns:
        return np.ones(len(stations), dtype=bool)
    return stations["public"].map(lambda v: True if v is None or v is pd.NA or
                                  (isinstance(v, float) and np.isnan(v)) else bool(v)).to_numpy(bool)


def redact_private(stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy without what non-public stations must not publish.

    For stations whose ``public`` is false: ``phone``, ``notes`` and
    ``extra`` are emptied and ``address`` becomes the city and district the
    point lies in. Position, name, facilities and hours stay, so the station
    can still be found; public stations are untouched. ``public`` is filled
    with ``True`` where empty.
    """
    out = stations.copy()
    public = _public_mask(out)
    out["public"] = public
    private = ~public
    if private.any():
        for name in PRIVATE_FIELDS:
            if name in out.columns:
                out.loc[private, name] = ""
        if "address" in out.columns:
            out.loc[private, "address"] = (out.loc[private, "city"].fillna("").astype(str)
                                           + out.loc[private, "district"].fillna("").astype(str)
                                           if {"city", "district"} <= set(out.columns) else "")
    return out


def _prepare(stations: gpd.GeoDataFrame, public_only: bool) -> gpd.GeoDataFrame:
    if public_only:
        return redact_private(stations)
    out = stations.copy()
    out["public"] = _public_mask(out)
    return out


def _check_crs(crs: str) -> str:
    name = normalize_crs(crs)
    if name not in _COORD_LABEL:
        raise ValueError(f"导出只支持 wgs84 或 gcj02 / export supports wgs84 or gcj02, not {crs}")
    return name


def to_geojson(stations: gpd.GeoDataFrame, crs: str = "wgs84", public_only: bool = True, *,
               members: dict | None = None) -> str:
    """Stations as an RFC 7946 GeoJSON FeatureCollection (text, UTF-8).

    Properties are the canonical fields except ``lon``/``lat`` (the geometry
    holds the position), plus ``coord_system``. Sample stations carry
    ``is_sample: true`` and the collection a ``notice`` member. With
    ``public_only`` (the default) non-public stations are redacted
    (:func:`redact_private`). ``members`` are further foreign members of
    the collection (a plan's ``scenario`` and ``standard``), written by
    :func:`geo.registry.io.writers.feature_collection`.
    """
    crs = _check_crs(crs)
    stations = _prepare(stations, public_only)
    lon, lat = _positions(stations, crs)
    props = [n for n in FIELD_NAMES if n not in ("lon", "lat")]
    features = []
    for i, rec in enumerate(stations[props].to_dict("records")):
        p = {k: _clean(rec[k], k) for k in props}
        p["coord_system"] = _COORD_LABEL[crs]
        features.append({"type": "Feature", "id": p["id"],
                         "geometry": {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]},
                         "properties": p})
    head: dict = {}
    if len(stations) and stations["is_sample"].fillna(False).astype(bool).any():
        head["notice"] = settings.SAMPLE_LABEL
    if crs != "wgs84":
        head["coord_system"] = (f"{_COORD_LABEL[crs]}（仅供高德等系统使用，非 RFC 7946 标准） / "
                                f"{_COORD_LABEL[crs]} for Amap-based systems, not standard RFC 7946")
    return feature_collection(features, members={**head, **(members or {})})


def header_labels(lang: str = "zh") -> dict[str, str]:
    """``{column: label}`` for every column of :func:`to_table`, in ``lang``.

    The labels are :func:`geo.core.i18n.field_label`'s (``编号``, ``经度(WGS-84)``,
    ``Verified on`` ...), plus ``坐标系`` / ``Coordinate system`` for
    ``coord_system``.
    """
    lang = i18n.normalize_lang(lang)
    return {name: i18n.field_label(name, lang) for name in (*FIELD_NAMES, "coord_system")}


def to_table(stations: gpd.GeoDataFrame, crs: str = "wgs84", public_only: bool = True,
             lang: str | None = None) -> pd.DataFrame:
    """Stations as a flat table: lists joined with ``;``, lon/lat in ``crs``.

    With ``public_only`` (the default) non-public stations are redacted
    (:func:`redact_private`). Columns are the canonical field names plus
    ``coord_system``; with ``lang`` (``"zh"`` or ``"en"``) they are the field
    labels in that language instead (:func:`header_labels`). Values are the
    same either way.
    """
    crs = _check_crs(crs)
    stations = _prepare(stations, public_only)
    df = pd.DataFrame(stations[list(FIELD_NAMES)]).copy()
    df["lon"], df["lat"] = _positions(stations, crs)
    for name in ("facilities", "facilities_other"):
        df[name] = df[name].map(lambda v: LIST_SEP.join(v) if isinstance(v, (list, tuple, np.ndarray)) else "")
    df["coord_system"] = _COORD_LABEL[crs]
    if lang is not None:
        df = df.rename(columns=header_labels(lang))
    return df.reset_index(drop=True)


def to_gpkg(stations: gpd.GeoDataFrame, path: str | Path, crs: str = "wgs84", public_only: bool = True) -> None:
    """Write a GeoPackage with a layer per kind, through GDAL (pyogrio)."""
    crs = _check_crs(crs)
    path = Path(path)
    path.unlink(missing_ok=True)
    table = to_table(stations, crs, public_only)
    geometry = points(table["lon"].to_numpy(float), table["lat"].to_numpy(float))
    gdf = gpd.GeoDataFrame(table.drop(columns=["lon", "lat"]), geometry=geometry,
                           crs="EPSG:4326")
    written = False
    for kind in KINDS:
        part = gdf[gdf["kind"] == kind]
        if len(part):
            part.to_file(path, layer=kind, driver="GPKG", engine="pyogrio")
            written = True
    if not written:  # an empty export is still a valid file
        gdf.to_file(path, layer="stations", driver="GPKG", engine="pyogrio")


def _header_lang(fmt: str, lang: str, labels: bool | None) -> str | None:
    """The language of ``fmt``'s header row, or ``None`` for field names."""
    if labels is None:
        labels = fmt in LABELLED_BY_DEFAULT
    if not labels:
        return None
    if fmt not in LABEL_FORMATS:
        raise ValueError(f"{fmt} 导出使用字段名，不能改用标签 / {fmt} exports keep the field names; "
                         f"labels are for {', '.join(LABEL_FORMATS)}")
    return i18n.normalize_lang(lang)


def export_bytes(stations: gpd.GeoDataFrame, fmt: str, crs: str = "wgs84", public_only: bool = True,
                 lang: str = "zh", labels: bool | None = None) -> bytes:
    """Stations in one of :data:`FORMATS`, as bytes ready for a download.

    ``public_only`` (the default, what the app's download buttons use)
    redacts non-public stations; editors pass ``False``.

    ``lang`` (``"zh"``, the default, or ``"en"``) is the language of the
    header labels. ``labels`` chooses labels or canonical field names for
    the header row: by default XLSX (for people) is labelled and CSV (for
    systems) is not; ``labels=True`` labels a CSV too, ``labels=False``
    gives an XLSX with field names. GeoJSON and GeoPackage always keep the
    field names (``labels=True`` is refused).
    """
    if fmt not in FORMATS:
        raise ValueError(f"未知导出格式 / unknown export format: {fmt} ({', '.join(FORMATS)})")
    header = _header_lang(fmt, lang, labels)
    if fmt == "geojson":
        return to_geojson(stations, crs, public_only).encode("utf-8")
    if fmt == "csv":
        return csv_bytes(to_table(stations, crs, public_only, lang=header))
    if fmt == "xlsx":
        return xlsx_bytes(to_table(stations, crs, public_only, lang=header))
    if fmt == "gpkg":
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "export.gpkg"
            to_gpkg(stations, out, crs, public_only)
            return out.read_bytes()
    raise ValueError(f"未知导出格式 / unknown export format: {fmt} ({', '.join(FORMATS)})")


def export_file(stations: gpd.GeoDataFrame, path: str | Path, fmt: str | None = None,
                crs: str = "wgs84", public_only: bool = True, lang: str = "zh",
                labels: bool | None = None) -> Path:
    """Write stations to ``path``; the format defaults to the file extension.

    ``public_only``, ``lang`` and ``labels`` as in :func:`export_bytes`.
    """
    path = Path(path)
    fmt = fmt or {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".csv": "csv", ".xlsx": "xlsx"}.get(
        path.suffix.lower(), "")
    if fmt not in FORMATS:
        raise ValueError(f"未知导出格式 / unknown export format: {fmt or path.suffix} ({', '.join(FORMATS)})")
    _header_lang(fmt, lang, labels)  # refuse labels for GeoPackage before writing anything
    if public_only:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "gpkg":
            to_gpkg(stations, path, crs, public_only)
        else:
            path.write_bytes(export_bytes(stations, fmt, crs, public_only, lang=lang, labels=labels))
        return path
    # Non-public phones and street addresses: for the server's user only (0600, new folders 0700).
    private_dir(path.parent)
    if fmt == "gpkg":
        with private_output(path) as out:  # GDAL creates the file itself
            to_gpkg(stations, out, crs, public_only)
    else:
        write_private(path, export_bytes(stations, fmt, crs, public_only, lang=lang, labels=labels))
    return path
