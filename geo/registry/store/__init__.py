"""The registry's store: the interface every backend implements, and how a registry is opened.

* :mod:`~geo.registry.store.base`: :class:`~geo.registry.store.base.RegistryStore`
  (the interface pages and the command line use), its errors and the rules
  every backend shares;
* :mod:`~geo.registry.store.station_methods`, :mod:`~geo.registry.store.report_methods`,
  :mod:`~geo.registry.store.scenarios`: what both backends do with stations,
  workers' reports and scenarios, written once; each backend supplies only
  its SQL and locking through small hook methods;
* :mod:`~geo.registry.store.gpkg`: the GeoPackage backend, one file
  (:mod:`~geo.registry.store.gpkg_schema` its tables, :mod:`~geo.registry.store.lock`
  the folder lock a restore takes);
* :mod:`~geo.registry.store.pg`: the PostgreSQL/PostGIS backend, one database
  shared by many servers (:mod:`~geo.registry.store.pg_schema` its migrations).

:func:`open_store` and :func:`create_registry` choose the backend from the
registry setting: a ``postgresql://`` URL is a PostGIS database, anything
else a GeoPackage path.
"""
from __future__ import annotations

from pathlib import Path

from geo import settings
from geo.registry.io.readers import read_table
from geo.registry.store.base import RegistryStore
from geo.registry.store.gpkg import GeoPackageStore, create_gpkg
from geo.registry.store.pg import PostgisStore, is_database_url
from geo.registry.validate import validate_table


def create_registry(path: str | Path, seed: str | Path | None = None) -> RegistryStore:
    """Create a new registry, optionally seeded from a station file.

    Nothing is left behind when it fails: the file appears only once complete.

    Parameters
    ----------
    path
        The new registry: a GeoPackage path (an existing file is never
        overwritten) or a ``postgresql://`` URL of a database that holds no
        registry yet.
    seed
        A station file (any format :func:`geo.registry.io.readers.read_table`
        reads, WGS-84) to start with.

    Raises
    ------
    FileExistsError
        When a file is at ``path`` already, or the database holds a registry.
    """
    report = validate_table(read_table(seed), None, crs="wgs84") if seed is not None else None
    if is_database_url(path):
        return _create_postgis(str(path), report)
    if Path(path).exists():
        raise FileExistsError(f"登记库已存在，不会覆盖 / a registry already exists there and is not overwritten: {path}")
    return create_gpkg(path, seed=report)


def _create_postgis(url: str, report) -> PostgisStore:
    store = PostgisStore(url)
    if len(store.import_log()) or len(store.audit_log(limit=1)):
        raise FileExistsError(f"该数据库已有登记库，不会覆盖 / the database already holds a registry and is not "
                              f"overwritten: {store.location}")
    if report is not None:
        store.commit_import(report)
    return store


def open_store(path: str | Path | None = None, *, seed_sample: bool = False) -> RegistryStore:
    """Open the registry, creating it if missing.

    Parameters
    ----------
    path
        A GeoPackage path or a ``postgresql://`` URL; default
        :func:`geo.settings.registry_location` (environment ``GEO_REGISTRY``).
    seed_sample
        Seed a new registry with the bundled 示例数据 / sample data. The app
        does, so a fresh install shows a map; the command line does not, so
        a union office's own registry never mixes in sample stations.
    """
    location = path or settings.registry_location()
    if is_database_url(location):
        store = PostgisStore(str(location))
        if seed_sample and store.import_log().empty and store.audit_log(limit=1).empty:
            # A new database: seeded as a new file is (two servers doing it at once import the same ids twice,
            # the second finding them unchanged).
            store.commit_import(validate_table(read_table(settings.SAMPLE_PATH), None, crs="wgs84"))
        return store
    path = Path(location)
    if not path.exists():
        create_registry(path, settings.SAMPLE_PATH if seed_sample else None)
    return GeoPackageStore(path)
