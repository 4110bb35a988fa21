"""The files the Data page's download tab offers, and their names.

Each download is one format in one coordinate system; the bytes come from
:func:`geo.registry.export.export_bytes` when someone clicks.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Download:
    """One file offered for download.

    Attributes
    ----------
    label : str
        Key of the button's label in :mod:`geo.core.i18n`; also names the button's widget.
    fmt : str
        Export format of :func:`geo.registry.export.export_bytes`.
    crs : str
        Coordinate system of the file's positions.
    suffix : str
        What follows the stem in the file's name.
    mime : str
    """

    label: str
    fmt: str
    crs: str
    suffix: str
    mime: str


#: The downloads, in the order of their buttons.
DOWNLOADS: tuple[Download, ...] = (
    Download("download_geojson", "geojson", "wgs84", ".geojson", "application/geo+json"),
    Download("download_gpkg", "gpkg", "wgs84", ".gpkg", "application/geopackage+sqlite3"),
    Download("download_csv", "csv", "wgs84", ".csv", "text/csv"),
    Download("download_xlsx", "xlsx", "wgs84", ".xlsx",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    Download("download_geojson_gcj", "geojson", "gcj02", "_gcj02.geojson", "application/geo+json"),
)


def file_name(download: Download, *, region: str | None = None) -> str:
    """The name of ``download``'s file: ``stations[_<region adcode>]<suffix>``."""
    return "stations" + (f"_{region}" if region else "") + download.suffix
