"""The registry's store: the interface every backend implements, and how a registry is opened.

* :mod:`~geo.registry.store.base`: :class:`~geo.registry.store.base.RegistryStore`
  (the interface pages and the command line use), its errors and the rules
  every backend shares;
* :mod:`~geo.registry.store.gpkg`: the GeoPackage backend, one file
  (:mod:`~geo.registry.store.gpkg_schema` its tables, :mod:`~geo.registry.store.lock`
  the folder lock a restore takes).

:func:`open_store` and :func:`create_registry` choose the backend; a server
database (PostGIS) is to be added beside the GeoPackage one, chosen here.
"""
from __future__ import annotations

from pathlib import Path

from geo import settings
from geo.registry.io.readers import read_table
from geo.registry.store.gpkg import GeoPackageStore, create_gpkg
from geo.registry.validate import validate_table


def create_registry(path: str | Path, seed: str | Path | None = None) -> GeoPackageStore:
    """Create a new registry, optionally seeded from a station file.

    Nothing is left behind when it fails: the file appears only once complete.

    Parameters
    ----------
    path
        The new registry (a GeoPackage); an existing file is never overwritten.
    seed
        A station file (any format :func:`geo.registry.io.readers.read_table`
        reads, WGS-84) to start with.

    Raises
    ------
    FileExistsError
        When a file is at ``path`` already.
    """
    if Path(path).exists():
        raise FileExistsError(f"登记库已存在，不会覆盖 / a registry already exists there and is not overwritten: {path}")
    report = validate_table(read_table(seed), None, crs="wgs84") if seed is not None else None
    return create_gpkg(path, seed=report)


def open_store(path: str | Path | None = None, *, seed_sample: bool = False) -> GeoPackageStore:
    """Open the registry, creating it if missing.

    Parameters
    ----------
    path
        Default :func:`geo.settings.registry_path` (environment ``GEO_REGISTRY``).
    seed_sample
        Seed a new registry with the bundled 示例数据 / sample data. The app
        does, so a fresh install shows a map; the command line does not, so
        a union office's own registry never mixes in sample stations.
    """
    path = Path(path or settings.registry_path())
    if not path.exists():
        create_registry(path, settings.SAMPLE_PATH if seed_sample else None)
    return GeoPackageStore(path)
