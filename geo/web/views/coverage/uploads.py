"""What the user brings to the coverage page: population tables and demand points; and the shared census table."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from geo import settings

#: The 7th census county table beside the repository. Optional: the page
#: offers it when present and otherwise asks for an upload.
CENSUS_PATH = settings.ROOT.parent / "shared" / "data" / "guangdong_county_population_2020.csv"


def census_path() -> Path | None:
    """The shared census table, when it is there at run time (the page must work without it)."""
    return CENSUS_PATH if CENSUS_PATH.is_file() else None


def _with_temp_file(data: bytes, filename: str, read):
    # The readers take paths (they dispatch on the extension); an upload is
    # written to a private temporary folder and removed after reading.
    name = Path(filename or "upload.csv").name
    with tempfile.TemporaryDirectory(prefix="gd-planner-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return read(path)


def read_population_upload(data: bytes, filename: str) -> pd.Series:
    """A county population table from an upload (see :func:`geo.analysis.demand.read_population_table`).

    Raises
    ------
    ValueError, geo.registry.io.readers.ReadError
        When the file has no adcode or population column, or cannot be read.
    """
    from geo.analysis.demand import read_population_table

    series = _with_temp_file(data, filename, read_population_table)
    if not len(series):
        raise ValueError("人口表没有可用的行 / the population table has no usable rows")
    return series


def read_census() -> pd.Series | None:
    """The shared census table as adcode -> population, or None when it is absent."""
    from geo.analysis.demand import read_population_table

    path = census_path()
    return read_population_table(path) if path is not None else None


def upload_columns(data: bytes, filename: str) -> list[str]:
    """The columns of an uploaded table (for choosing a weight column)."""
    from geo.registry.io.readers import read_table

    raw = read_table(data, filename=filename)
    return [str(c) for c in raw.df.columns if not str(c).startswith("__")]


def read_points_upload(data: bytes, filename: str, weight_column: str | None = None,
                       crs: str = "auto") -> tuple[pd.DataFrame, list[str]]:
    """Demand points from an upload, in WGS-84 (see :func:`geo.analysis.demand.read_demand_points`).

    Returns
    -------
    (DataFrame, list of str)
        ``lon``, ``lat``, ``weight``; and bilingual notes on what was assumed.
    """
    from geo.analysis.demand import read_demand_points

    pts, notes = _with_temp_file(data, filename, lambda p: read_demand_points(p, weight_column, crs))
    if not len(pts):
        raise ValueError("需求点文件没有可用的点 / the demand file has no usable points")
    return pts, notes
