"""Back up the registry and restore it, each with one command.

``python -m geo backup --out FILE`` copies the registry with SQLite's online
backup API, so the copy is one consistent state even while the app or an
import is writing, and writes ``FILE.manifest.json`` beside it: a SHA-256
of the file and the number of stations per layer and of log rows.

``python -m geo restore FILE`` first checks the backup: the manifest's
checksum and counts, ``PRAGMA integrity_check``, the GeoPackage
``application_id`` and the three station layers. Only a backup that passes
every check replaces the registry, atomically (a temporary file beside the
registry, then ``os.replace``), and the registry it replaces is kept as
``REGISTRY.before-restore``.

A restore may run while the app is serving: it takes the registry's folder
lock (:func:`geo.registry.store.lock.lock_registry`) exclusively, so it waits for every
open store connection to close and no store operation starts until the new
file is in place; writes from other programs are held off with SQLite's own
write lock. A save either lands before the swap (it is then in
``.before-restore`` and counted in ``replaced_changes``) or waits and lands
in the restored registry. See ``docs/trust.md``.

A PostGIS registry (a ``postgresql://`` URL) is backed up to the same kind
of file: a GeoPackage registry written from one repeatable-read snapshot,
with the same manifest and checks, so a backup restores into either
backend. Its restore replaces every table in one transaction (servers keep
reading the old state until the commit, and writers wait for it); what it
replaced is kept as ``BACKUP.before-restore-<time>.gpkg`` beside the backup.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from geo.core.files import create_private, private_dir, write_private
from geo.core.schema import KINDS
from geo.registry.store.base import RegistryBusyError, RegistryUnavailableError, now_iso
from geo.registry.store.content import read_gpkg, write_gpkg
from geo.registry.store.lock import file_identity, registry_lock
from geo.registry.store.pg import PostgisStore, is_database_url, public_location

#: ``PRAGMA application_id`` of every GeoPackage ("GPKG").
GPKG_APPLICATION_ID = 0x47504B47
#: Suffix of the manifest written beside a backup.
MANIFEST_SUFFIX = ".manifest.json"
#: Suffix of the copy of the registry a restore replaced.
BEFORE_RESTORE_SUFFIX = ".before-restore"
_MANIFEST_FORMAT = "geo-registry-backup/1"


class BackupError(Exception):
    """A backup that cannot be made or must not be restored, in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en = code, zh, en


def manifest_path(backup: str | Path) -> Path:
    """Where the manifest of ``backup`` lives: ``backup`` + ``.manifest.json``."""
    backup = Path(backup)
    return backup.with_name(backup.name + MANIFEST_SUFFIX)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    # The rename itself must reach the disk too (POSIX); not possible on Windows.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _counts(conn: sqlite3.Connection) -> dict:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    out = {"layers": {k: conn.execute(f'SELECT count(*) FROM "{k}"').fetchone()[0] for k in KINDS if k in tables}}
    for log in ("import_log", "audit_log"):
        out[log] = conn.execute(f"SELECT count(*) FROM {log}").fetchone()[0] if log in tables else None
    # Workers' reports (None in a registry made before them, and in its manifest).
    out["reports"] = conn.execute("SELECT count(*) FROM station_reports").fetchone()[0] \
        if "station_reports" in tables else None
    return out


def _forget_clients(path: Path) -> None:
    """Delete the report limits' client hashes from a copy: they are kept only for their window, in the registry."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'report_limits'").fetchone():
            conn.execute("PRAGMA secure_delete = ON")  # overwritten, not left in free pages
            conn.execute("DELETE FROM report_limits")


def _check_database(path: Path) -> dict:
    """Checks that need no manifest; returns the counts. Raises :class:`BackupError`."""
    try:
        # Read-only and immutable: checking a file must never change it (no
        # journal recovery, no upgrade), whatever it holds.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise BackupError("not_sqlite", f"无法打开备份：{exc}", f"cannot open the backup: {exc}") from exc
    with closing(conn):
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError("not_sqlite", f"备份不是有效的 SQLite/GeoPackage 文件：{exc}",
                              f"the backup is not a valid SQLite/GeoPackage file: {exc}") from exc
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            result = [str(exc)]
        if result != ["ok"]:
            raise BackupError("integrity", f"备份已损坏（integrity_check：{'；'.join(result[:3])}）",
                              f"the backup is damaged (integrity_check: {'; '.join(result[:3])})")
        if app_id != GPKG_APPLICATION_ID:
            raise BackupError("not_gpkg", f"备份不是 GeoPackage（application_id {app_id:#x}）",
                              f"the backup is not a GeoPackage (application_id {app_id:#x})")
        try:
            layers = {r[0] for r in conn.execute(
                "SELECT c.table_name FROM gpkg_contents c JOIN gpkg_geometry_columns g "
                "ON g.table_name = c.table_name WHERE c.data_type = 'features'")}
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise BackupError("not_registry", f"备份不是站点登记库：{exc}",
                              f"the backup is not a station registry: {exc}") from exc
        missing = [k for k in KINDS if k not in layers or k not in tables]
        if missing or "import_log" not in tables:
            what = ", ".join(missing or ["import_log"])
            raise BackupError("not_registry", f"备份不是站点登记库：缺少 {what}",
                              f"the backup is not a station registry: {what} missing")
        return _counts(conn)


def verify_backup(backup: str | Path) -> dict:
    """Check a backup before it may be restored.

    Parameters
    ----------
    backup : str or Path
        A file written by :func:`backup_registry`, with its manifest beside it.

    Returns
    -------
    dict
        The manifest (checksum, counts) the backup matched.

    Raises
    ------
    BackupError
        When the file or its manifest is missing, the checksum or a count
        differs, SQLite finds damage, or the file is no station registry.
    """
    backup = Path(backup)
    if not backup.is_file():
        raise BackupError("not_found", f"找不到备份文件：{backup}", f"backup file not found: {backup}")
    mpath = manifest_path(backup)
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError("no_manifest", f"找不到备份清单 {mpath.name}（应与备份放在一起）",
                          f"backup manifest {mpath.name} not found (it must sit beside the backup)") from exc
    except (OSError, ValueError) as exc:
        raise BackupError("bad_manifest", f"备份清单无法读取：{exc}", f"cannot read the backup manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
        raise BackupError("bad_manifest", "备份清单格式不对", "the backup manifest is not in the expected format")
    size = backup.stat().st_size
    if size != manifest.get("bytes") or _sha256(backup) != manifest.get("sha256"):
        raise BackupError("checksum", "备份文件与清单的校验和不符：文件已被改动或损坏",
                          "the backup does not match its manifest's checksum: the file was changed or damaged")
    counts = _check_database(backup)
    expected = {k: manifest.get(k) for k in ("layers", "import_log", "audit_log", "reports")}
    if counts != expected:
        raise BackupError("counts", f"备份中的记录数与清单不符：{counts} ≠ {expected}",
                          f"the record counts do not match the manifest: {counts} != {expected}")
    return manifest


def backup_registry(registry: str | Path, out: str | Path) -> dict:
    """Copy the registry to ``out`` and write its manifest beside it.

    Uses SQLite's online backup API: the copy is one consistent state even
    while other processes write (a writer waits for the few milliseconds the
    copy takes). The copy is written to a temporary file, checked, and only
    then renamed to ``out``.

    Parameters
    ----------
    registry : str or Path
        The registry GeoPackage.
    out : str or Path
        The backup file to write (replaced if it exists).

    Returns
    -------
    dict
        The manifest, also written to ``out`` + ``.manifest.json``.
    """
    if is_database_url(registry):
        return _backup_postgis(str(registry), Path(out))
    registry, out = Path(registry), Path(out)
    if not registry.is_file():
        raise BackupError("not_found", f"登记库不存在：{registry}", f"registry not found: {registry}")
    if out.exists() and out.resolve() == registry.resolve():
        raise BackupError("same_file", "备份不能写到登记库自身", "the backup cannot overwrite the registry itself")
    private_dir(out.parent)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        create_private(tmp)  # SQLite keeps the 0600 of the file it is given
        # The folder lock (shared) keeps a restore from swapping the file under the copy.
        with registry_lock(registry), closing(sqlite3.connect(registry, timeout=30)) as src, \
                closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)  # all pages in one step, under one read lock: one consistent state
        _forget_clients(tmp)
        return _publish(tmp, out, str(registry.resolve()))
    finally:
        tmp.unlink(missing_ok=True)


def _publish(tmp: Path, out: Path, registry: str) -> dict:
    """Check the finished copy ``tmp``, move it to ``out`` and write its manifest beside it."""
    _fsync(tmp)
    counts = _check_database(tmp)
    manifest = {"format": _MANIFEST_FORMAT, "created_at": now_iso(), "registry": registry,
                "bytes": tmp.stat().st_size, "sha256": _sha256(tmp), **counts}
    os.replace(tmp, out)
    mtmp = manifest_path(out).with_name(f".{manifest_path(out).name}.tmp")
    write_private(mtmp, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    os.replace(mtmp, manifest_path(out))
    _fsync_dir(out.parent)
    return manifest


def _unavailable(exc: RegistryUnavailableError) -> BackupError:
    return BackupError("unavailable", str(exc).split(" / ")[0], str(exc).split(" / ", 1)[-1])


def _backup_postgis(url: str, out: Path) -> dict:
    # A PostGIS registry is backed up as a GeoPackage registry: one snapshot
    # (repeatable read, while the servers keep writing), the same manifest and
    # checks, restorable into either backend.
    private_dir(out.parent)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        write_gpkg(tmp, PostgisStore(url).snapshot())
        return _publish(tmp, out, public_location(url))
    except RegistryUnavailableError as exc:
        raise _unavailable(exc) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _restore_postgis(backup: Path, url: str) -> dict:
    manifest = verify_backup(backup)
    content = read_gpkg(backup)
    # What is replaced is kept beside the backup (a database has no folder of its own),
    # written inside the restore's transaction: if it cannot be written, nothing is replaced.
    kept = backup.with_name(f"{backup.stem}.before-restore-{now_iso().replace(':', '')}.gpkg")

    def keep(previous) -> None:
        if not previous.is_empty():
            write_gpkg(kept, previous)
    try:
        previous = PostgisStore(url).replace_contents(content, keep=keep)
    except RegistryUnavailableError as exc:
        raise _unavailable(exc) from exc

    def entries(rows: list[dict]) -> set:
        return {(r["fid"], r["at"], r["station_id"], r["action"], r["version"]) for r in rows}
    return {"restored": public_location(url), "before_restore": str(kept) if kept.exists() else None,
            "manifest": manifest, "replaced_changes": len(entries(previous.audit_log) - entries(content.audit_log))}


def restore_registry(backup: str | Path, registry: str | Path, timeout: float | None = None) -> dict:
    """Replace the registry with a verified backup, safely while the app runs.

    Nothing is changed unless the backup passes :func:`verify_backup`. The
    backup is copied to a temporary file beside the registry and checked
    again there. Then, holding the registry's folder lock exclusively (so
    no store connection is open on the file and none opens until the swap
    is done) and SQLite's write lock (so no other program is half way
    through a save), the current registry is copied to
    ``REGISTRY.before-restore`` through SQLite and the temporary file is
    renamed over the registry in one atomic step.

    A save made at the same moment therefore either finished before the
    swap (it is in ``.before-restore`` and counted in ``replaced_changes``)
    or waited and was written into the restored registry; a save that read
    the station before the swap and writes after it reads it again from
    the restored file (see :meth:`geo.registry.store.gpkg.GeoPackageStore.update`).

    Parameters
    ----------
    backup : str or Path
    registry : str or Path
        The registry to replace (created if it does not exist).
    timeout : float, optional
        Seconds to wait for open connections to close; default
        ``settings.REGISTRY_LOCK_TIMEOUT_S``.

    Returns
    -------
    dict
        ``{"restored": path, "before_restore": path or None, "manifest": {...},
        "replaced_changes": n}``: ``replaced_changes`` counts the audit-log
        entries of the replaced registry that the backup does not hold
        (changes made since the backup, now only in ``.before-restore``).

    Raises
    ------
    BackupError
        When the backup fails verification, or (``busy``) the registry
        stayed in use longer than ``timeout``; the registry is then untouched.
    """
    if is_database_url(registry):
        return _restore_postgis(Path(backup), str(registry))
    backup, registry = Path(backup), Path(registry)
    manifest = verify_backup(backup)
    private_dir(registry.parent)
    tmp = registry.with_name(f".{registry.name}.{os.getpid()}.restore.tmp")
    kept_tmp = registry.with_name(f".{registry.name}.{os.getpid()}.before-restore.tmp")
    kept = None
    try:
        create_private(tmp)  # copyfile truncates it and keeps its 0600
        shutil.copyfile(backup, tmp)
        _fsync(tmp)
        if _sha256(tmp) != manifest["sha256"]:  # the copy itself went wrong
            raise BackupError("checksum", "复制备份时出错，校验和不符", "copying the backup failed its checksum")
        try:
            with registry_lock(registry, exclusive=True, timeout=timeout):
                if registry.exists():
                    kept = registry.with_name(registry.name + BEFORE_RESTORE_SUFFIX)
                    _swap_live(registry, tmp, kept, kept_tmp)
                else:
                    os.replace(tmp, registry)
                _fsync_dir(registry.parent)
        except RegistryBusyError as exc:
            raise BackupError("busy", f"登记库一直在使用中，未恢复：{exc.args[0]}",
                              f"the registry stayed in use, nothing was restored: {exc.args[0]}") from exc
    finally:
        tmp.unlink(missing_ok=True)
        kept_tmp.unlink(missing_ok=True)
    return {"restored": str(registry), "before_restore": str(kept) if kept else None, "manifest": manifest,
            "replaced_changes": _changes_not_in(kept, backup) if kept else 0}


def _swap_live(registry: Path, tmp: Path, kept: Path, kept_tmp: Path) -> None:
    """Under the folder lock: keep the live registry and put ``tmp`` in its place, under SQLite's write lock."""
    for _ in range(5):
        before = file_identity(registry)
        with closing(sqlite3.connect(registry, timeout=30, isolation_level=None)) as live:
            # A read first: SQLite rolls back a hot journal left by a crash,
            # so the copy kept below is a clean, whole state and no journal
            # is left to pair with the restored file. Then the write lock,
            # for writers that do not take the folder lock (other programs).
            live.execute("SELECT count(*) FROM sqlite_master").fetchone()
            live.execute("BEGIN IMMEDIATE")
            try:
                if file_identity(registry) != before:
                    continue  # replaced by someone else meanwhile: lock the file that is there now
                # Copied through SQLite (a read beside this write lock, so
                # the copy is exactly what is swapped out), never by opening
                # the file otherwise: closing a plain second descriptor of the
                # database would drop this process's POSIX locks, SQLite's
                # included. SQLite keeps its own descriptors open until then.
                create_private(kept_tmp)
                with closing(sqlite3.connect(registry, timeout=30)) as src, \
                        closing(sqlite3.connect(kept_tmp)) as copy:
                    src.backup(copy)
                _forget_clients(kept_tmp)
                _fsync(kept_tmp)
                os.replace(kept_tmp, kept)
                os.replace(tmp, registry)
                return
            finally:
                live.execute("ROLLBACK")
    raise BackupError("busy", "登记库文件不断被替换，未恢复", "the registry file kept being replaced; nothing was restored")


def _changes_not_in(replaced: Path, backup: Path) -> int:
    """Audit-log entries of ``replaced`` that ``backup`` does not hold: changes made since the backup."""
    def entries(path: Path) -> set:
        try:
            with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
                return set(conn.execute("SELECT fid, at, station_id, action, version FROM audit_log"))
        except sqlite3.Error:
            return set()
    return len(entries(replaced) - entries(backup))
