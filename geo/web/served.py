"""The registry the servers answer from: one store object per registry and process.

The popup API, the public API and the reports API all read the registry the
app is configured with (``GEO_REGISTRY``, else the default GeoPackage).
Opening a store checks its schema, so it is opened once per process, not
per request; what changes between requests is told by the store's
``change_stamp()``.
"""
from __future__ import annotations

from functools import lru_cache

from geo import settings
from geo.registry.store import open_store
from geo.registry.store.base import RegistryStore
from geo.registry.store.pg import PostgisStore, is_database_url


@lru_cache(maxsize=4)
def _store_at(location: str) -> RegistryStore:
    # A fresh install starts from the sample registry, as the app does.
    return open_store(location, seed_sample=True)


def served_store() -> RegistryStore:
    """The configured registry's store, opened once per process.

    A GeoPackage removed since it was opened is made again, as at the first
    request.

    Returns
    -------
    RegistryStore
    """
    location = settings.registry_location()
    store = _store_at(location)
    if getattr(store, "path", None) is not None and not store.path.exists():
        _store_at.cache_clear()
        store = _store_at(location)
    return store


@lru_cache(maxsize=4)
def _replica_at(url: str) -> RegistryStore:
    return PostgisStore(url, read_only=True)


def served_reader() -> RegistryStore:
    """Where the public reads go: the read replica (``GEO_REGISTRY_READ``) if there is one, else :func:`served_store`.

    Only for reading stations; writes always go to :func:`served_store`.

    Raises
    ------
    ValueError
        When ``GEO_REGISTRY_READ`` is set but is not a ``postgresql://`` URL.
    """
    url = settings.registry_read_location()
    if url is None:
        return served_store()
    if not is_database_url(url):
        raise ValueError("GEO_REGISTRY_READ 应为 PostgreSQL 只读副本的 postgresql:// 地址 / "
                         "GEO_REGISTRY_READ must be the postgresql:// URL of a PostgreSQL read replica")
    return _replica_at(url)
