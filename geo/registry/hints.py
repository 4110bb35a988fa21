"""Advice on the header mapping: which column to choose when a reject comes from the mapping, not the row."""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from geo.core.schema import parse_kind
from geo.registry.coordinates import parse_coordinate, split_lonlat

#: Cells read to judge what a column holds.
_HINT_SAMPLE = 200
_DECIMAL = re.compile(r"^[-+]?\d{1,3}\.\d{3,}$")
_NAME_WORDS = ("名", "站", "name", "title")
_AXES = {"lonlat": ("经纬度", "combined lon,lat column"), "lon": ("经度", "longitude"), "lat": ("纬度", "latitude")}


def _sample(df: pd.DataFrame, column: str) -> list[str]:
    values = df[column].fillna("").astype(str).str.strip()
    return values[values != ""].head(_HINT_SAMPLE).tolist()


def _share(cells: list[str], test) -> float:
    return sum(1 for c in cells if test(c)) / len(cells) if cells else 0.0


def _is_pair(text: str) -> bool:
    a, b = split_lonlat(text)
    try:
        x, y = parse_coordinate(a), parse_coordinate(b)
    except (ValueError, TypeError, OverflowError):
        return False
    return bool(np.isfinite(x) and np.isfinite(y) and abs(x) <= 180 and abs(y) <= 180)


def _coordinate_columns(df: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """Columns among ``columns`` whose cells look like coordinates: ``{field: column}``.

    A column of ``lon,lat`` pairs is a combined column; columns of decimal
    degrees (three decimals or more, so a running number is not taken) are
    single axes, the larger magnitude being the longitude (true in China).
    """
    found: dict[str, str] = {}
    axes: list[tuple[float, str]] = []
    for c in columns:
        cells = _sample(df, c)
        if _share(cells, _is_pair) >= 0.5:
            found.setdefault("lonlat", c)
        elif _share(cells, lambda v: bool(_DECIMAL.match(unicodedata.normalize("NFKC", v)))) >= 0.5:
            values = [float(unicodedata.normalize("NFKC", v)) for v in cells if _DECIMAL.match(unicodedata.normalize("NFKC", v))]
            magnitude = float(np.median(np.abs(values)))
            if magnitude <= 180:
                axes.append((magnitude, c))
    axes.sort(key=lambda a: -a[0])
    if len(axes) >= 2:
        found["lon"], found["lat"] = axes[0][1], axes[1][1]
    elif axes:
        found["lon" if axes[0][0] > 90 else "lat"] = axes[0][1]
    return found


def _coord_hint(df: pd.DataFrame, cols: dict) -> list[tuple[str, dict]] | None:
    """How to map the coordinates, when the mapping (not the row) is what is missing."""
    coordinate_fields = ("lon", "lat", "lonlat")
    others = {c for f, c in cols.items() if c and f not in coordinate_fields}
    active = [cols["lon"], cols["lat"]] if cols.get("lon") and cols.get("lat") else \
        [cols["lonlat"]] if cols.get("lonlat") else []
    if active and all(_coordinate_columns(df, [c]) for c in active):
        return None  # mapped to columns of coordinates: the row itself lacks them
    free = [c for c in df.columns if not str(c).startswith("__") and c not in others]
    seen = _coordinate_columns(df, free)
    if "lonlat" in seen and seen["lonlat"] not in active:
        wanted = {"lonlat": seen["lonlat"]}
    else:
        wanted = {f: c for f, c in seen.items() if f != "lonlat" and cols.get(f) != c}
    if wanted:
        return [("coord_column", {"column": c, "field": f, "what_zh": _AXES[f][0], "what_en": _AXES[f][1]})
                for f, c in wanted.items()]
    if active:
        return None
    missing = [f for f in ("lon", "lat") if not cols.get(f)]
    return [("coord_unmapped", {"what_zh": "和".join(_AXES[f][0] for f in missing),
                                "what_en": " and ".join(_AXES[f][1] for f in missing)})]


def _column_for(df: pd.DataFrame, cols: dict, test, words: tuple[str, ...] = ()) -> str | None:
    """The unmapped column whose cells most often pass ``test`` (at least half), if any."""
    used = {c for c in cols.values() if c}
    best: tuple | None = None
    for pos, c in enumerate(df.columns):
        if str(c).startswith("__") or c in used:
            continue
        share = _share(_sample(df, c), test)
        if share >= 0.5:
            named = any(w in str(c).lower() for w in words)
            key = (named, share, -pos)
            if best is None or key > best[0]:
                best = (key, c)
    return best[1] if best else None


def _is_text(value: str) -> bool:
    try:
        parse_coordinate(value)
    except (ValueError, TypeError, OverflowError):
        return True
    return False


def add_mapping_hints(rejects: dict[int, tuple[str, dict]], df: pd.DataFrame, cols: dict, *,
                      kind: str | None) -> None:
    """Add to each reject a mapping change would fix how to make it (names the column).

    Worked out once per file, and only when such a reject occurs: a row
    without coordinates while no column (or a column of something else) is
    mapped to them, a name missing because no column is mapped to it, a
    layer unknown because there is no type column and none was chosen.

    Parameters
    ----------
    rejects
        ``{row index: (reason code, values)}``; a ``hint`` is added to the
        values in place (see :func:`geo.registry.reasons.message`).
    df
        The file's cells.
    cols
        ``{field: column}`` as applied.
    kind
        The layer chosen for the whole file, or ``None``.
    """
    by_code: dict[str, list[int]] = {}
    for i, (code, values) in rejects.items():
        if code in ("coord_missing", "coord_not_numeric") or (code == "name_missing" and not cols.get("name")) \
                or (code == "unknown_kind" and values.get("value") == "—" and not cols.get("kind") and kind is None):
            by_code.setdefault("coord" if code.startswith("coord") else code, []).append(i)
    hints: dict[str, list[tuple[str, dict]] | None] = {}
    if "coord" in by_code:
        hints["coord"] = _coord_hint(df, cols)
    if "name_missing" in by_code:
        column = _column_for(df, cols, _is_text, _NAME_WORDS)
        hints["name_missing"] = [("name_column", {"column": column}) if column else ("name_unmapped", {})]
    if "unknown_kind" in by_code:
        column = _column_for(df, cols, lambda v: parse_kind(v) is not None)
        hints["unknown_kind"] = [("kind_column", {"column": column}) if column else ("kind_unmapped", {})]
    for key, rows in by_code.items():
        if hints.get(key):
            for i in rows:
                rejects[i] = (rejects[i][0], {**rejects[i][1], "hint": hints[key]})
