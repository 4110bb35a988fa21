"""Settings in one place.

Every tunable number or path the library uses lives here, so that a union
office can change the defaults without reading the code. Environment
variables override the paths, which is how the app, the command line and the
tests point at a registry of their own.
"""
from __future__ import annotations

import os
from pathlib import Path

#: Project root (the folder holding ``geo/``, ``data/`` and ``app.py``).
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"

#: The registry GeoPackage the app and the command line use by default.
REGISTRY_PATH = Path(os.environ.get("GEO_REGISTRY", DATA_DIR / "registry.gpkg"))

#: The bundled, generated sample registry (示例数据) a fresh install starts from.
SAMPLE_PATH = DATA_DIR / "sample_registry.geojson"

#: Administrative boundaries of Guangdong (WGS-84), derived by ``data/build_boundaries.py``.
BOUNDARIES_PATH = DATA_DIR / "guangdong_boundaries.gpkg"

#: GB/T 2260 code of the default service region (Guangdong province).
SERVICE_REGION = os.environ.get("GEO_SERVICE_REGION", "440000")

#: Two stations of one kind with the same name closer than this are one station.
DUPLICATE_RADIUS_M = 50.0

#: Time zone in which "open now" is judged.
TIMEZONE = "Asia/Shanghai"

#: Largest upload the importer reads, and most rows it accepts from one file.
MAX_UPLOAD_BYTES = int(os.environ.get("GEO_MAX_UPLOAD_BYTES", 50 * 1024 * 1024))
MAX_ROWS = int(os.environ.get("GEO_MAX_ROWS", 200_000))

#: Label carried by every sample station, in the app and in every export.
SAMPLE_LABEL = "示例数据 / sample data"
