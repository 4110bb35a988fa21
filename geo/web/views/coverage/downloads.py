"""The coverage page's downloads: the same files as ``python -m geo coverage`` writes, as bytes."""
from __future__ import annotations

import tempfile
from pathlib import Path

from geo.analysis.coverage import CoverageResult
from geo.analysis.export import write_layer

#: Download choices: key -> (layer, extension, MIME type).
EXPORTS: dict[str, tuple[str, str, str]] = {
    "gaps_geojson": ("gaps", "geojson", "application/geo+json"),
    "cells_csv": ("cells", "csv", "text/csv"),
    "cells_geojson": ("cells", "geojson", "application/geo+json"),
    "districts_csv": ("districts", "csv", "text/csv"),
    "report_html": ("report", "html", "text/html"),
}


def export_name(result: CoverageResult, key: str) -> str:
    """File name of an export, e.g. ``coverage_440304_rest_station_r8_gaps.geojson``."""
    layer, ext, _ = EXPORTS[key]
    kinds = "+".join(result.standard.kinds)
    return f"coverage_{result.region.adcode}_{kinds}_r{result.resolution}_{layer}.{ext}"


def export_bytes(result: CoverageResult, key: str, *, registry: str | None = None) -> bytes:
    """The bytes of one export: the same files as ``python -m geo coverage`` writes.

    Parameters
    ----------
    result
        A coverage run.
    key
        One of :data:`EXPORTS`.
    registry
        The registry's version (:func:`geo.web.report.registry_version`), printed on the report.
    """
    layer, ext, _ = EXPORTS[key]
    if layer == "report":
        from geo.web.report import render_report

        return render_report(result, registry=registry).encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="gd-planner-") as tmp:
        path = write_layer(result, layer, Path(tmp) / f"{layer}.{ext}")
        return path.read_bytes()
