"""The import pipeline: file -> raw table -> validated stations -> registry."""
from __future__ import annotations

from pathlib import Path

from geo import settings
from geo.registry.io.readers import read_table
from geo.registry.store import open_store
from geo.registry.store.pg import is_database_url
from geo.registry.validate import ImportReport, validate_table


def import_file(path: str | Path, kind: str | None, crs: str = "auto",
                registry: str | Path | None = None, dry_run: bool = False,
                source: str | None = None, mapping: dict | None = None,
                region: str = settings.SERVICE_REGION, editor: str = settings.EDITOR_CLI) -> tuple[ImportReport, dict | None]:
    """Read, validate and (unless ``dry_run``) commit one file to the registry.

    Parameters
    ----------
    path : str or Path
        CSV, XLSX, GeoJSON, GeoPackage or zipped Shapefile.
    kind : str or None
        Layer to import into; ``None``/``"auto"`` reads it from each row.
    crs : str
        ``auto`` or the coordinate system of the file.
    registry : str or Path, optional
        GeoPackage path or ``postgresql://`` URL; default :func:`geo.settings.registry_location`.
    dry_run : bool
        Validate only; the registry is not changed.
    source, mapping, region
        As in :func:`geo.registry.validate.validate_table`.
    editor : str
        Who imports, for the registry's audit log.

    Returns
    -------
    (ImportReport, dict or None)
        The report, and the commit counts (``None`` for a dry run).

    Raises
    ------
    geo.registry.io.readers.ReadError
        When the file cannot be read.
    """
    raw = read_table(path)
    target = str(registry or settings.registry_location())
    # A dry run compares with the registry if there is one, but never creates it (a database always is one).
    store = open_store(target) if not dry_run or is_database_url(target) or Path(target).exists() else None
    report = validate_table(raw, kind, crs=crs, mapping=mapping, source=source,
                            existing=store.load() if store else None, region=region)
    if dry_run:
        return report, None
    return report, store.commit_import(report, editor=editor)
