"""Coordinates in a file: reading a cell's number, and deciding which coordinate system the file uses."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
from pyproj import CRS

from geo.core.crs import CRS_CHOICES, guess_crs_from_headers, normalize_crs
from geo.registry.io.headers import coord_system_column
from geo.registry.io.table import RawTable

_DMS = re.compile(r"^\s*([NSEW]?)\s*(\d+(?:\.\d+)?)\s*[°度]\s*(?:(\d+(?:\.\d+)?)\s*['′’分]\s*)?"
                  r"(?:(\d+(?:\.\d+)?)\s*(?:[\"″”]|''|′′|秒)\s*)?([NSEW]?)\s*$", re.I)
_HEMI = re.compile(r"^(东经|北纬|西经|南纬)|[NSEWnsew]$|^[NSEWnsew]")


def parse_coordinate(text) -> float:
    """Read one coordinate: decimal, full-width digits or degrees-minutes-seconds.

    Returns NaN for an empty cell. Raises ``ValueError`` for text that is
    not a finite number.
    """
    if text is None:
        return np.nan
    s = unicodedata.normalize("NFKC", str(text)).strip().replace("。", ".")
    if s == "" or s.lower() in ("nan", "none", "null"):
        return np.nan
    sign = -1.0 if re.search(r"西经|南纬|[SWsw]\s*$|^\s*[SWsw]", s) else 1.0
    m = _DMS.match(s.replace("东经", "").replace("北纬", "").replace("西经", "").replace("南纬", ""))
    if m:
        deg, minutes, seconds = (float(g) if g else 0.0 for g in m.group(2, 3, 4))
        return sign * (deg + minutes / 60 + seconds / 3600)
    value = float(_HEMI.sub("", s).strip())
    if not np.isfinite(value):
        raise ValueError(s)
    return sign * value


def split_lonlat(text: str) -> tuple[str, str]:
    """The two parts of a combined ``lon,lat`` cell (comma, semicolon or space between), as text.

    A cell that does not hold exactly two parts gives ``(text, "")``, so the
    reject quotes what was there.
    """
    parts = [p for p in re.split(r"[,，;；\s]+", unicodedata.normalize("NFKC", str(text)).strip()) if p]
    if len(parts) != 2:
        return (text, "") if parts else ("", "")
    return parts[0], parts[1]


def is_geographic(name: str) -> bool:
    """Whether a coordinate system gives degrees (true also for a name pyproj cannot read)."""
    if name in CRS_CHOICES:
        return True
    try:
        return CRS.from_user_input(name).is_geographic
    except Exception:  # pyproj's own errors; normalize_crs accepted it already
        return True


def decide_crs(raw: RawTable, crs: str, mapping: dict, *, use_geometry: bool) -> tuple[str, str]:
    """The coordinate system to read a file's points in, and why.

    In order: the user's choice; a single ``coord_system`` value our own
    exports write; the system the file declares (with geometry); hints in
    the coordinate headers (``经度(高德)``), then in the file name;
    otherwise WGS-84.

    Parameters
    ----------
    raw
        The file as read.
    crs
        ``auto`` or the user's choice.
    mapping
        ``{field: column}`` as it will be applied.
    use_geometry
        Whether the points come from the file's geometry.

    Returns
    -------
    (str, str)
        The system's name and a bilingual note saying why.
    """
    if crs and crs != "auto":
        name = normalize_crs(crs)
        return name, f"按用户指定的坐标系 {name} 读取 / read as {name}, as the user chose"
    # Our own exports mark their datum in a coord_system column (GeoJSON has
    # no other way to say GCJ-02): honour it before the RFC 7946 default.
    declared_other = use_geometry and raw.source_crs not in (None, "wgs84")
    mark_col = coord_system_column(raw.df.columns)  # coord_system, or its label (坐标系) in XLSX
    marks = set(raw.df[mark_col].fillna("").astype(str).str.strip()) - {""} \
        if mark_col is not None and not declared_other else set()
    if len(marks) == 1:
        try:
            name = normalize_crs(marks.pop())
        except ValueError:
            name = None
        if name in ("wgs84", "gcj02", "bd09"):
            return name, f"文件的 coord_system 列标明坐标系为 {name} / the file's coord_system column says {name}"
    if use_geometry and raw.source_crs:
        try:
            name = normalize_crs(raw.source_crs)
        except ValueError:
            # A declaration nothing knows (a made-up EPSG code): judged like a
            # file that declares nothing, and the note says so.
            name = None
        if name is not None:
            return name, f"文件声明的坐标系 {name} / the file declares {name}"
        crs_used, note = decide_crs(RawTable(raw.df, filename=raw.filename), crs, mapping, use_geometry=False)
        zh, _, en = note.partition(" / ")
        shown = str(raw.source_crs)[:60]
        return crs_used, (f"文件声明的坐标系 {shown} 无法识别，已忽略；{zh} / "
                          f"the declared system {shown} is unknown and was ignored; {en or zh}")
    cols = [mapping.get(k) for k in ("lon", "lat", "lonlat") if mapping.get(k)]
    hint = guess_crs_from_headers(cols)
    if hint:
        return hint, f"表头 {'、'.join(cols)} 表明坐标系为 {hint} / headers {', '.join(cols)} indicate {hint}"
    hint = guess_crs_from_headers([Path(raw.filename).stem])
    if hint:
        return hint, f"文件名表明坐标系为 {hint} / the file name indicates {hint}"
    return "wgs84", ("未声明坐标系，按 WGS-84 处理；若来自高德或百度，请选择 gcj02 或 bd09 / "
                     "no coordinate system declared, assumed WGS-84; choose gcj02 or bd09 if the points come from Amap or Baidu")
