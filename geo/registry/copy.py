"""Copy a registry between backends, and prove the copy whole: ``python -m geo registry copy SRC DST``.

The source is read as one consistent state (a GeoPackage in one read
transaction, PostGIS in one repeatable-read snapshot), so it may stay in
use. The target must be new: a GeoPackage path where no file is, or a
PostGIS database holding no registry yet (its schema is made by the
migrations); a copy never overwrites. The target is written in one
transaction (a GeoPackage appears only once complete), then read back and
compared with what was read from the source: stations per layer, rows of
the import log, audit log and reports, saved scenarios and their log, and a
SHA-256 of all of it (:meth:`geo.registry.store.content.RegistryContent.checksum`).

Copied: stations, the import log, the audit log (with its ids, so history
and restore work the same), workers' reports, saved siting scenarios (their
text byte for byte) and the scenario log. Not copied: the report limits'
client hashes (they never leave a registry), and what is not kept in the
registry (editor accounts are their own file; scenario files of an old
folder are imported into the configured registry by
:func:`geo.analysis.scenarios.import_scenario_folder`, not by a copy).
"""
from __future__ import annotations

from pathlib import Path

from geo.registry.store import open_store
from geo.registry.store.content import RegistryContent, read_gpkg, write_gpkg
from geo.registry.store.pg import PostgisStore, is_database_url, public_location


class CopyError(Exception):
    """A copy that was refused or did not verify, in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en = code, zh, en


def read_registry(location: str | Path) -> RegistryContent:
    """Everything a registry holds (see :class:`~geo.registry.store.content.RegistryContent`), as of one moment.

    Raises
    ------
    CopyError
        When a GeoPackage named does not exist.
    """
    if is_database_url(location):
        return PostgisStore(str(location)).snapshot()
    path = Path(location)
    if not path.is_file():
        raise CopyError("not_found", f"登记库不存在：{path}", f"registry not found: {path}")
    open_store(path)  # an older file gains the tables it lacks before it is read
    return read_gpkg(path)


def _shown(location: str | Path) -> str:
    return public_location(str(location)) if is_database_url(location) else str(location)


def copy_registry(source: str | Path, target: str | Path) -> dict:
    """Copy the registry at ``source`` to the new registry ``target`` and verify the copy.

    Parameters
    ----------
    source, target
        GeoPackage paths or ``postgresql://`` URLs, in any combination.

    Returns
    -------
    dict
        ``source``, ``target`` (URLs without password), ``counts``
        (stations per layer, log, report and scenario rows) and ``sha256`` of the
        content, equal on both sides.

    Raises
    ------
    CopyError
        ``same`` (source and target are one registry), ``not_found``,
        ``target_exists`` (a file, or a database that holds a registry),
        ``verify`` (the copy read back differs: then the target is left for
        inspection and says so).
    """
    if str(source) == str(target):
        raise CopyError("same", "源与目标是同一个登记库", "source and target are the same registry")
    content = read_registry(source)
    if is_database_url(target):
        store = PostgisStore(str(target))
        if not store.snapshot().is_empty():
            raise CopyError("target_exists", f"目标数据库已有登记库，不会覆盖：{_shown(target)}",
                            f"the target database already holds a registry and is not overwritten: {_shown(target)}")
        store.replace_contents(content)
    else:
        try:
            write_gpkg(target, content)
        except FileExistsError as exc:
            raise CopyError("target_exists", f"目标文件已存在，不会覆盖：{target}",
                            f"the target file exists and is not overwritten: {target}") from exc
    copied = read_registry(target)
    counts, checksum = content.counts(), content.checksum()
    if copied.counts() != counts or copied.checksum() != checksum:
        raise CopyError("verify", f"复制后的登记库与源不一致（{copied.counts()} ≠ {counts}），请检查目标 {_shown(target)}",
                        f"the copy differs from the source ({copied.counts()} != {counts}); "
                        f"inspect the target {_shown(target)}")
    return {"source": _shown(source), "target": _shown(target), "counts": counts, "sha256": checksum}
