"""Many servers, one database (issue 14): bench/servers.py's harness, bounded, on a real PostGIS.

The full run (3 servers, 50 riders, 5 editors, 2 minutes; figures in
bench/RESULTS.md) is not part of the suite. This runs the same functions
for 12 seconds with 3 ``python -m geo serve`` processes, 6 riders and 3
editor processes that all edit one shared station, so that the harness
cannot rot: no errors, conflicts really reported, every acknowledged save
in the audit log, and an edit seen by every server within 2 s.
"""
from __future__ import annotations

import threading

import pytest
from conftest import SHENZHEN_PBF, load_bench

servers = load_bench("servers")

pytestmark = pytest.mark.skipif(not SHENZHEN_PBF.exists(), reason=f"needs the Shenzhen extract {SHENZHEN_PBF}")


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg_server, shenzhen_network):
    folder = tmp_path_factory.mktemp("servers")
    network = shenzhen_network
    # The sample's ~100 stations in the network's area, not 3,000: on a busy machine each server's reload
    # after an edit (whole registry) must stay cheap for the 2-second check to be about the servers, not the CPU.
    return servers.prepare(pg_server.new_database("servers"), network, folder, editors=3, shared=1, own=0,
                           probes=1, area_only=True)


def _used(world) -> set[str]:
    """The stations the harness's editors and probes edit."""
    return set(world.shared) | {s for own in world.own for s in own} | set(world.probes)


def _untouched(world, store, i: int) -> str:
    """A station neither the harness's editors nor its probes edit (the i-th), for tests of their own."""
    return sorted(set(store.load()["id"]) - _used(world))[i]


@pytest.mark.slow
@pytest.mark.serial  # the 2-second visibility is measured against the machine
def test_three_servers_riders_and_editors_lose_nothing(world):
    running = servers.start_servers(world, 3)
    try:
        urls = [u for _, u in running]
        phase = servers.run_phase(world, urls, riders=6, editors=3, seconds=12, tag="t", think=0.5,
                                  edit_think=1.0, hold=1.5, probe_every=3)
    finally:
        servers.stop_servers(running)
    check = servers.verify(world.url, phase["saves"], phase["conflicts"])
    assert phase["riders"]["errors"] == 0 and phase["editor_errors"] == []
    assert all(s["lookups"] > 0 for s in phase["servers"].values()) and len(phase["servers"]) == 3
    # All three editors share one station and hold it before saving: conflicts really happen, and are reported.
    assert len(phase["conflicts"]) > 0 and len(phase["saves"]) > len(phase["conflicts"])
    assert check["acknowledged"] == len(phase["saves"]) and check["conflicts"] == len(phase["conflicts"])
    assert {k: check[k] for k in ("lost", "broken_chains", "conflicted_but_written", "unacknowledged",
                                  "wrong_final")} == dict.fromkeys(("lost", "broken_chains", "conflicted_but_written",
                                                                    "unacknowledged", "wrong_final"), 0)
    # Every probe edit was answered by each of the 3 servers, within the 2 s.
    probes = phase["probes"]
    assert probes["n"] >= 1 and probes["not_seen"] == 0 and probes["errors"] == []
    assert probes["delay"]["n"] == 3 * probes["n"]
    assert probes["delay"]["max_ms"] < servers.VISIBLE_WITHIN_S * 1000
    assert servers.log_problems(world.folder) == 0
    assert servers.failed([phase], check, 0) == []


def test_an_overwrite_without_the_version_check_is_caught(world):
    # What the check exists for: an editor saving without the version it read silently replaces a save it never saw.
    from geo.registry.store import open_store
    from geo.registry.store.base import ConflictError

    store = open_store(world.url)
    sid = _untouched(world, store, 0)
    read = int(store.get(sid)["version"])
    first = store.update(sid, {"notes": "first"}, expected_version=read, editor="bench-editor-0")
    blind = store.update(sid, {"notes": "blind"}, editor="bench-editor-1")  # no expected version: last writer wins
    saves = [{"editor": "bench-editor-0", "station": sid, "base": read, "version": int(first["version"]),
              "value": "first"},
             {"editor": "bench-editor-1", "station": sid, "base": read, "version": int(blind["version"]),
              "value": "blind"}]
    check = servers.verify(world.url, saves, [])
    assert check["lost"] == 1 and check["broken_chains"] == 0
    assert "saved over v" in check["problems"][0]
    with pytest.raises(ConflictError):  # the store's own check refuses it
        store.update(sid, {"notes": "stale"}, expected_version=read, editor="bench-editor-1")


def test_requests_after_an_edit_update_the_registry_once_from_what_changed(world, monkeypatch):
    # After an edit every request of a busy server finds its copy stale; one brings it up to date
    # from the changed station (not a load of all), the others wait for it.
    from geo.registry.store import open_store
    from geo.web import public_api
    from geo.web.served import served_store

    monkeypatch.setenv("GEO_REGISTRY", world.url)
    store = served_store()
    public_api.stations()
    calls: list[str] = []
    for name in ("load", "station_changes"):
        def counted(*args, _real=getattr(store, name), _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)
        monkeypatch.setattr(store, name, counted)
    editor = open_store(world.url)
    sid = _untouched(world, editor, 1)  # as another server would: a second store object
    editor.update(sid, {"notes": "seen once"}, expected_version=int(editor.get(sid)["version"]), editor="test")
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(public_api.stations())) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(answers) == 12 and calls == ["station_changes"]
    assert all(a.loc[a["id"] == sid, "notes"].item() == "seen once" for a in answers)


def test_a_burst_of_the_same_station_list_query_is_answered_once_per_change(world, monkeypatch):
    # Riders of one city ask for the same area; the answer is made once per registry change, and an edit
    # (from another server's store) shows in the next answer.
    import asyncio
    import json

    from starlette.requests import Request

    from geo.registry.store import open_store
    from geo.web import public_api

    monkeypatch.setenv("GEO_REGISTRY", world.url)
    made, real = [], public_api.to_geojson
    monkeypatch.setattr(public_api, "to_geojson", lambda *a, **k: made.append(1) or real(*a, **k))
    endpoint = next(r.endpoint for r in public_api.routes() if r.path == "/api/v1/stations")
    query = f"bbox={servers.AREA[0]:.1f},{servers.AREA[1]:.1f},{servers.AREA[2]:.1f},{servers.AREA[3]:.1f}".encode()

    def get() -> dict:
        request = Request({"type": "http", "method": "GET", "path": "/api/v1/stations", "query_string": query,
                           "headers": []})
        response = asyncio.run(endpoint(request))
        assert response.status_code == 200
        return json.loads(response.body)

    def burst() -> list[dict]:
        answers: list = []
        threads = [threading.Thread(target=lambda: answers.append(get())) for _ in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(answers) == 12 and all(a == answers[0] for a in answers)
        return answers

    before = burst()[0]
    assert made == [1]
    editor = open_store(world.url)
    sid = sorted({f["id"] for f in before["features"]} - _used(world))[-1]  # a public station in the area
    editor.update(sid, {"notes": "in the next answer"}, expected_version=int(editor.get(sid)["version"]),
                  editor="test")
    after = burst()[0]
    assert made == [1, 1]
    assert {f["id"]: f["properties"]["notes"] for f in after["features"]}[sid] == "in the next answer"
