"""A server's copy of the stations, kept current from what changed (geo/registry/live.py), on both backends.

After every kind of change the patched copy must equal a fresh load,
values, types and order; after a whole-registry restore it loads again.
"""
from __future__ import annotations

import pandas as pd

from geo.registry.backup import backup_registry, restore_registry
from geo.registry.live import LiveStations
from geo.registry.store import open_store

from conftest import FUTIAN, HAIZHU, TIANHE, YUEXIU
from test_store import mixed_rows, report_of


def _same_as_a_load(live: LiveStations, how: str) -> pd.DataFrame:
    frame = live.frame()
    assert live.last_update == how
    pd.testing.assert_frame_equal(frame, live.store.load())
    return frame


def test_every_kind_of_change_patches_the_copy_to_equal_a_load(registry, registry_location, tmp_path):
    registry.commit_import(report_of(mixed_rows()))
    sample = registry.add({"kind": "rest_station", "name": "示例驿站", "lon": FUTIAN[0] + 0.01, "lat": FUTIAN[1],
                           "is_sample": True})
    live = LiveStations(open_store(registry_location))  # as another server would: its own store object
    first = _same_as_a_load(live, "load")

    ids = dict(zip(first["name"], first["id"]))
    registry.update(ids["天河驿站"], {"notes": "饮水机坏了"})
    assert _same_as_a_load(live, "patch") is not first
    registry.update(ids["越秀司机之家"], {"lon": YUEXIU[0] + 0.002, "lat": YUEXIU[1] + 0.001})
    _same_as_a_load(live, "patch")
    registry.set_status(ids["海珠法律服务站"], "closed")
    _same_as_a_load(live, "patch")
    added = registry.add({"kind": "driver_home", "name": "新司机之家", "lon": HAIZHU[0] + 0.02, "lat": HAIZHU[1]})
    frame = _same_as_a_load(live, "patch")
    assert frame["id"].iloc[-1] != added["id"]  # a new driver home goes to its layer, not to the end
    assert registry.delete_sample() == 1
    frame = _same_as_a_load(live, "patch")
    assert sample["id"] not in set(frame["id"])
    added_row = registry.history(sample["id"]).iloc[1]  # newest first: the removal, then the addition
    registry.restore(sample["id"], int(added_row["audit_id"]))
    assert sample["id"] in set(_same_as_a_load(live, "patch")["id"])
    rows = mixed_rows()
    rows[0]["电话"] = "020-1234"  # an update of an imported station
    rows.append({"名称": "新导入驿站", "经度": TIANHE[0] + 0.03, "纬度": TIANHE[1], "类型": "暖蜂驿站", "编号": "R9"})
    registry.commit_import(report_of(rows))
    _same_as_a_load(live, "patch")

    unchanged = live.frame()
    assert live.frame() is unchanged  # nothing changed: the same frame, no query for stations

    backup_registry(registry_location, tmp_path / "backup.gpkg")
    backed_up = registry.get(ids["天河驿站"])["notes"]
    registry.update(ids["天河驿站"], {"notes": "after the backup"})
    _same_as_a_load(live, "patch")
    restore_registry(tmp_path / "backup.gpkg", registry_location)
    registry = open_store(registry_location)
    # Two edits after the restore take the audit log past where the copy was: only the
    # registry's generation tells that the rows before them are not the ones the copy saw.
    registry.update(ids["越秀司机之家"], {"notes": "after the restore"})
    registry.update(ids["海珠法律服务站"], {"notes": "after the restore"})
    assert _same_as_a_load(live, "load").set_index("id").loc[ids["天河驿站"], "notes"] == backed_up
    registry.update(ids["天河驿站"], {"notes": "after the restore"})
    _same_as_a_load(live, "patch")
