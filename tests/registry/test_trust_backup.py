"""Trust: one-command backup (consistent while writing) and verified, atomic restore.

On both backends (the ``registry`` fixture): a PostGIS registry is backed up to
the same GeoPackage file with the same manifest, and restored in one transaction.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from geo.registry.backup import BackupError, backup_registry, manifest_path, restore_registry, verify_backup
from geo.cli.main import main
from geo.registry.io.table import RawTable
from geo.registry.store import open_store
from geo.registry.store.gpkg import GeoPackageStore
from geo.registry.validate import validate_table
from conftest import ROOT



def _rows(n: int, phone: str = "1") -> pd.DataFrame:
    return pd.DataFrame({"名称": [f"驿站{i}" for i in range(n)],
                         "经度": [str(113.25 + i * 0.0007) for i in range(n)],
                         "纬度": [str(23.05 + i * 0.0005) for i in range(n)],
                         "类型": "驿站", "编号": [f"S{i}" for i in range(n)], "电话": phone}, dtype=object)


def _fill(store, n=60, phone="1"):
    store.commit_import(validate_table(RawTable(_rows(n, phone), filename="s.csv", format="csv"), None, source="s"))
    return store


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _state(location) -> list:
    return sorted(tuple(r) for r in open_store(location).load().drop(columns="geometry")
                  .astype(str).itertuples(index=False))


def _fingerprint(store) -> str:
    """Changes with any committed write: the file's bytes, or the database's change counter."""
    return _digest(store.path) if isinstance(store, GeoPackageStore) else store.change_stamp()


def _kept(store, backup: Path) -> Path:
    """Where a restore keeps the registry it replaced: beside the file, or (PostGIS) beside the backup."""
    if isinstance(store, GeoPackageStore):
        return store.path.with_name(store.path.name + ".before-restore")
    found = sorted(backup.parent.glob(f"{backup.stem}.before-restore-*.gpkg"))
    return found[-1] if found else backup.with_name(f"{backup.stem}.before-restore-none.gpkg")


def _remanifest(backup: Path) -> None:
    """Make the manifest match the file again, as an attacker or a careless copy could."""
    m = json.loads(manifest_path(backup).read_text())
    m.update(bytes=backup.stat().st_size, sha256=_digest(backup))
    manifest_path(backup).write_text(json.dumps(m))


@pytest.fixture
def filled(registry):
    return _fill(registry)


def test_backup_command_writes_a_verified_geopackage_and_manifest(filled, tmp_path, capsys):
    out = tmp_path / "bk" / "registry-backup.gpkg"
    assert main(["backup", "--out", str(out), "--registry", filled.location, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    manifest = json.loads(manifest_path(out).read_text())
    assert printed["sha256"] == manifest["sha256"] == _digest(out)
    assert manifest["layers"] == {"rest_station": 60, "driver_home": 0, "legal_aid": 0}
    assert manifest["audit_log"] == 60 and manifest["import_log"] == 1
    assert verify_backup(out) == manifest
    assert {name for name, _ in pyogrio.list_layers(out)} >= {"rest_station", "driver_home", "legal_aid"}
    assert _state(out) == _state(filled.location)
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temporary files


def test_backup_is_consistent_while_another_process_writes(filled, tmp_path):
    ids = filled.load()["id"].tolist()
    script = ("import sys; from geo.registry.store import open_store\n"
              "s = open_store(sys.argv[1])\n"
              "ids = sys.argv[2].split(',')\n"
              "for i in range(150): s.update(ids[i % len(ids)], {'phone': f'w{i}'}, editor='writer')\n")
    writer = subprocess.Popen([sys.executable, "-c", script, filled.location, ",".join(ids)], cwd=ROOT)
    backups = []
    try:
        deadline = time.monotonic() + 120
        while writer.poll() is None and time.monotonic() < deadline:
            out = tmp_path / f"b{len(backups)}.gpkg"
            backup_registry(filled.location, out)
            backups.append(out)
            time.sleep(0.05)
    finally:
        writer.wait(120)
    assert writer.returncode == 0 and len(backups) >= 2
    for out in backups:
        verify_backup(out)
        conn = sqlite3.connect(out)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            versions = conn.execute("SELECT sum(version - 1) FROM rest_station").fetchone()[0]
            audits = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'update'").fetchone()[0]
        finally:
            conn.close()
        # One consistent moment: every saved edit has its audit row and no more.
        assert versions == audits


def test_restore_replaces_atomically_and_keeps_the_previous_registry(filled, tmp_path, capsys):
    out = tmp_path / "b.gpkg"
    backup_registry(filled.location, out)
    saved = _state(filled.location)
    sid = filled.load()["id"].iat[0]
    filled.update(sid, {"phone": "after the backup"})
    _fill(filled, 70, phone="2")
    changed = _state(filled.location)
    assert changed != saved
    assert main(["restore", str(out), "--registry", filled.location]) == 0
    assert "before-restore" in capsys.readouterr().out
    assert _state(filled.location) == saved
    kept = _kept(filled, out)
    assert _state(kept) == changed
    assert open_store(filled.location).get(sid)["phone"] == "1"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # The restored registry works as before: edits and history go on.
    open_store(filled.location).update(sid, {"phone": "3"})
    assert open_store(filled.location).history(sid)["version"].iat[0] == 2


def test_restore_into_a_new_place(filled, tmp_path):
    out = tmp_path / "b.gpkg"
    backup_registry(filled.location, out)
    target = tmp_path / "elsewhere" / "registry.gpkg"
    result = restore_registry(out, target)
    assert result["before_restore"] is None and _state(target) == _state(filled.location)


def _corruptions(src: Path, tmp_path: Path):
    """(name, path of a bad backup, expected error code)."""
    cases = []

    def copy(name):
        path = tmp_path / f"{name}.gpkg"
        path.write_bytes(src.read_bytes())
        manifest_path(path).write_text(manifest_path(src).read_text())
        return path

    flipped = copy("flipped")
    data = bytearray(flipped.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    flipped.write_bytes(bytes(data))
    cases.append(("flipped bytes", flipped, "checksum"))

    truncated = copy("truncated")
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    cases.append(("truncated", truncated, "checksum"))

    damaged = copy("damaged")  # damaged, but its manifest made to match
    data = bytearray(damaged.read_bytes())
    page = 4096
    for p in range(2, len(data) // page - 1, 3):
        data[p * page + 8: p * page + 200] = b"\xA5" * 192
    damaged.write_bytes(bytes(data))
    _remanifest(damaged)
    cases.append(("damaged pages, manifest rewritten", damaged, "integrity"))

    header = copy("header")
    data = bytearray(header.read_bytes())
    data[:16] = b"not a database!!"
    header.write_bytes(bytes(data))
    _remanifest(header)
    cases.append(("not SQLite", header, "not_sqlite"))

    plain = tmp_path / "plain.gpkg"
    conn = sqlite3.connect(plain)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    manifest_path(plain).write_text(manifest_path(src).read_text())
    _remanifest(plain)
    cases.append(("SQLite but not GeoPackage", plain, "not_gpkg"))

    layerless = copy("layerless")
    conn = sqlite3.connect(layerless)
    conn.execute("DROP TABLE legal_aid")
    conn.commit()
    conn.close()
    _remanifest(layerless)
    cases.append(("a layer missing", layerless, "not_registry"))

    miscounted = copy("miscounted")
    m = json.loads(manifest_path(miscounted).read_text())
    m["layers"]["rest_station"] += 1
    manifest_path(miscounted).write_text(json.dumps(m))
    cases.append(("count differs from manifest", miscounted, "counts"))

    orphan = copy("orphan")
    manifest_path(orphan).unlink()
    cases.append(("no manifest", orphan, "no_manifest"))

    garbled = copy("garbled")
    manifest_path(garbled).write_text("{not json")
    cases.append(("manifest not JSON", garbled, "bad_manifest"))
    return cases


def test_bad_backups_are_refused_and_the_registry_is_untouched(filled, tmp_path, capsys):
    good = tmp_path / "good.gpkg"
    backup_registry(filled.location, good)
    before = _fingerprint(filled)
    for name, bad, code in _corruptions(good, tmp_path):
        with pytest.raises(BackupError) as exc:
            restore_registry(bad, filled.location)
        assert exc.value.code == code, name
        assert exc.value.zh and exc.value.en
        assert main(["restore", str(bad), "--registry", filled.location]) == 2, name
        assert "unchanged" in capsys.readouterr().err
        assert _fingerprint(filled) == before, name
        assert not _kept(filled, bad).exists()
        assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    # The good one still restores.
    assert main(["restore", str(good), "--registry", filled.location]) == 0


def test_backup_refuses_missing_registry_and_itself(tmp_path, filled, capsys):
    assert main(["backup", "--out", str(tmp_path / "x.gpkg"), "--registry", str(tmp_path / "none.gpkg")]) == 2
    assert not (tmp_path / "none.gpkg").exists() and not (tmp_path / "x.gpkg").exists()
    assert "registry not found" in capsys.readouterr().err
    if isinstance(filled, GeoPackageStore):  # a database is no file a backup could overwrite
        with pytest.raises(BackupError) as exc:
            backup_registry(filled.path, filled.path)
        assert exc.value.code == "same_file"
