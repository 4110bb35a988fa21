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
