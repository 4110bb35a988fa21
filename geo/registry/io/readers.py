"""Read the files union offices really have into one raw table.

:func:`read_table` checks a file (its size, and that it is what its name
says) and hands it to the reader of its format: :mod:`~geo.registry.io.csv`,
:mod:`~geo.registry.io.xlsx`, :mod:`~geo.registry.io.geojson`,
:mod:`~geo.registry.io.gpkg_read` or :mod:`~geo.registry.io.shapefile`.
Every reader returns a :class:`~geo.registry.io.table.RawTable`: the rows
as text, exactly as the file gave them, plus the point coordinates when the
file carried geometry. Interpreting the text (headers, coordinates,
facilities) is the job of :mod:`geo.registry.io.headers` and
:mod:`geo.registry.validate`; keeping the raw text is what lets a rejected
row be handed back to the user unchanged. :func:`read_features` keeps the
shapes themselves, for files whose areas matter.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from geo import settings
from geo.registry.io.csv import read_csv
from geo.registry.io.filecheck import ReadError, check_content, check_path
from geo.registry.io.geojson import geojson_parts, read_geojson
from geo.registry.io.gpkg_read import gpkg_layers, read_gpkg_table
from geo.registry.io.shapefile import read_shapefile_zip, shapefile_frame
from geo.registry.io.table import INVALID, RawTable, clean_text, too_many_rows
from geo.registry.io.xlsx import read_xlsx

_FORMATS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".geojson": "geojson", ".json": "geojson",
    ".gpkg": "gpkg",
    ".zip": "shapefile-zip",
}


def read_table(source: str | Path | bytes, filename: str | None = None,
               layer: str | None = None) -> RawTable:
    """Read a CSV, XLSX, GeoJSON, GeoPackage or zipped Shapefile.

    Parameters
    ----------
    source : str, Path or bytes
        A path, or the file's bytes (an upload).
    filename : str, optional
        The file's name; required with bytes, since the format is told by its
        extension.
    layer : str, optional
        Sheet (XLSX) or layer (GeoPackage) to read; default the first with data.

    Returns
    -------
    RawTable

    Raises
    ------
    ReadError
        When the file cannot be read: unknown format, too large, corrupt,
        no table in it, or more rows than ``settings.MAX_ROWS``.
    """
    data, filename, fmt = _load(source, filename)
    with _parsing(filename):
        table = _read(data, fmt, layer)
    table.filename, table.format = filename, fmt
    if len(table.df) > settings.MAX_ROWS:
        raise too_many_rows(len(table.df))
    return table


def read_features(source: str | Path | bytes, *, filename: str | None = None):
    """The features of a GeoJSON, GeoPackage or zipped Shapefile with their geometries.

    For files whose shapes matter, not only a point per row (exclusion
    areas). The same checks as :func:`read_table`: the file must be what its
    name says, and GeoPackages are read without GDAL.

    Parameters
    ----------
    source
        A path, or the file's bytes (then ``filename`` is required).
    filename
        The file's name; its extension tells the format.

    Returns
    -------
    geopandas.GeoDataFrame
        Unreadable geometries are missing (``None``); the CRS is the one the
        file declares (RFC 7946 GeoJSON: WGS-84), or ``None``.

    Raises
    ------
    ReadError
        As :func:`read_table`, and ``no_geometry`` for CSV and XLSX.
    """
    data, filename, fmt = _load(source, filename)
    with _parsing(filename):
        return _features(data, filename, fmt)


def _read(data: bytes, fmt: str, layer: str | None) -> RawTable:
    if fmt == "xlsx":
        return read_xlsx(data, sheet=layer)
    if fmt == "gpkg":
        return read_gpkg_table(data, layer=layer)
    return {"csv": read_csv, "geojson": read_geojson, "shapefile-zip": read_shapefile_zip}[fmt](data)


def _features(data: bytes, filename: str, fmt: str):
    import geopandas as gpd

    if fmt == "gpkg":
        layers = gpkg_layers(data)
        props = [p for lay in layers for p in lay.props]
        geoms, crs = [g for lay in layers for g in lay.geoms], layers[0].crs
    elif fmt == "shapefile-zip":
        return shapefile_frame(data)[0]
    elif fmt == "geojson":
        parts = geojson_parts(data)
        if isinstance(parts, RawTable):
            raise ReadError("no_geometry", f"{filename} 中没有几何", f"{filename} holds no geometry")
        props, geoms, crs = parts[0], parts[1], "EPSG:4326" if parts[2] == "wgs84" else parts[2]
    else:
        raise ReadError("no_geometry", f"{filename} 不是带几何的文件（请用 GeoJSON、GeoPackage 或 Shapefile 压缩包）",
                        f"{filename} is not a file with geometry (use GeoJSON, GeoPackage or a zipped Shapefile)")
    geoms = [None if g is INVALID else g for g in geoms]
    return gpd.GeoDataFrame(pd.DataFrame(props, index=range(len(geoms))), geometry=geoms, crs=crs)


@contextlib.contextmanager
def _parsing(filename: str):
    """Any failure of a parser becomes one clear bilingual ReadError."""
    try:
        yield
    except ReadError:
        raise
    except RecursionError as exc:
        raise ReadError("too_deep", f"文件 {filename} 嵌套层数过多，无法读取",
                        f"{filename} is nested too deeply to read") from exc
    except MemoryError as exc:
        raise ReadError("too_large", f"文件 {filename} 展开后过大，无法读取",
                        f"{filename} expands to more than memory allows") from exc
    except Exception as exc:
        raise ReadError("unreadable", f"无法读取文件 {filename}：{clean_text(str(exc))[:300]}",
                        f"cannot read {filename}: {clean_text(str(exc))[:300]}") from exc


# The format each extension promises, as its first bytes must show it. CSV
# needs no check: it is only ever parsed as text (geo.registry.io.csv).
_CONTENT = {"xlsx": "zip", "geojson": "geojson", "gpkg": "gpkg", "shapefile-zip": "zip"}


def _load(source: str | Path | bytes, filename: str | None) -> tuple[bytes, str, str]:
    """The bytes, name and format of a user's file, refused unless it is what its name says."""
    if isinstance(source, (str, Path)):
        path = check_path(source)
        filename = filename or path.name
        if path.stat().st_size > settings.MAX_UPLOAD_BYTES:
            raise _too_large(path.stat().st_size)
        data = path.read_bytes()
    else:
        data = bytes(source)
        if len(data) > settings.MAX_UPLOAD_BYTES:
            raise _too_large(len(data))
    filename = filename or "upload"
    fmt = _FORMATS.get(Path(filename).suffix.lower())
    if fmt is None:
        raise ReadError(
            "unknown_format",
            f"不支持的文件类型：{filename}（支持 CSV、XLSX、GeoJSON、GeoPackage、Shapefile 压缩包）",
            f"unsupported file type: {filename} (CSV, XLSX, GeoJSON, GeoPackage or zipped Shapefile)",
        )
    if fmt in _CONTENT:
        check_content(data, _CONTENT[fmt], filename)
    return data, filename, fmt


def _too_large(size: int) -> ReadError:
    mb = settings.MAX_UPLOAD_BYTES / 1e6
    limit = f"{mb:.0f}" if mb >= 10 else f"{mb:.2g}"
    return ReadError("too_large", f"文件过大（{size / 1e6:.1f} MB），上限 {limit} MB",
                     f"file too large ({size / 1e6:.1f} MB); the limit is {limit} MB")
