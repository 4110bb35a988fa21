"""Trust: a worker's location is never stored or logged on our side.

The worker page (/finder) gets a worker's position (from the URL of a
shared link, the browser's location, a tap on the map or pasted
coordinates) and sends it to ``/api/v1/nearest``; nothing on the server
may keep it. These tests look up distinctive positions and then search for
them, in several forms (6, 5 and 4 decimals, full ``repr``, GCJ-02 and
BD-09 conversions, and as 8-byte doubles), everywhere something could be
written:

* in one process: every log record at DEBUG of every logger, warnings,
  standard output and error (file descriptors included), and every file
  created or changed in the registry's, the network's and a private
  temporary folder, while the API's lookup (:func:`geo.web.public_api.nearest`,
  in every travel mode and coordinate system), the hand-off links and the
  place search run;
* through the app: ``streamlit run serve.py --logger.level debug`` (what
  ``make run`` serves: the worker page and the API beside Streamlit) with its
  own registry, network, scenario folder, ``TMPDIR`` and ``HOME``, opened at
  those positions as a shared link would be (the page, then the page's
  lookup, checked to have really routed from there); then its whole log,
  the registry (byte for byte unchanged), every file in those folders and
  every file of the repository changed meanwhile.

What we do not control (the browser's history, a reverse proxy's access
log, the basemap's tile server) is in docs/trust.md, "The worker's location".
"""
from __future__ import annotations

import hashlib
import logging
import os
import struct
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest
from conftest import ROOT, SHENZHEN_PBF, load_bench

PBF = SHENZHEN_PBF
#: Skipped when reading the repository for files the app changed.
_SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache"}

pytestmark = pytest.mark.skipif(not PBF.exists(), reason=f"needs the Shenzhen extract {PBF}")


load = load_bench("load")

#: An example position (WGS-84, Futian) for checking the search itself.
EXAMPLE = (114.031873, 22.547391)


def _forms(lon: float, lat: float) -> tuple[list[str], list[bytes]]:
    """Text forms of a position that a log or file could hold, and its binary doubles."""
    from geo.core.crs import from_wgs84

    texts = set()
    for x in (lon, lat):
        texts |= {f"{x:.6f}", f"{x:.5f}", f"{x:.4f}", repr(x)}
    for crs in ("gcj02", "bd09"):
        cx, cy = (float(v) for v in from_wgs84(lon, lat, crs))
        texts |= {f"{cx:.6f}", f"{cy:.6f}", f"{cx:.5f}", f"{cy:.5f}"}
    binary = [struct.pack("<d", lon), struct.pack("<d", lat), struct.pack(">d", lon), struct.pack(">d", lat)]
    return sorted(texts), binary


def _found(data: bytes, places) -> list[str]:
    hits = []
    for lon, lat in places:
        texts, binary = _forms(lon, lat)
        hits += [t for t in texts if t.encode() in data]
        hits += [f"double {b.hex()}" for b in binary if b in data]
    return hits


def _files(*folders: Path) -> dict[Path, tuple[int, int]]:
    out = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except OSError:
                    continue
                out[path] = (st.st_mtime_ns, st.st_size)
    return out


def _changed(before: dict, after: dict) -> list[Path]:
    return sorted(p for p, stamp in after.items() if before.get(p) != stamp)


def _leaks(paths, places, limit=50_000_000) -> dict[str, list[str]]:
    out = {}
    for path in paths:
        try:
            if path.stat().st_size > limit:
                continue
            hits = _found(path.read_bytes(), places)
        except OSError:
            continue
        if hits:
            out[str(path)] = hits
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory, shenzhen_network):
    """A network built from the real extract, a sample registry, each in its own folder, and
    three distinctive positions on its roads: none of their forms occurs in the data already."""
    base = tmp_path_factory.mktemp("privacy")
    network = shenzhen_network
    (base / "data").mkdir()
    registry = load.sample_registry(base / "data" / "registry.gpkg")
    baseline = b"".join(p.read_bytes() for p in (registry, *sorted(network.iterdir())))
    origins = load.Origins(network, seed=7)
    rng = origins.rng(0)
    places = []
    while len(places) < 3:
        place = origins.draw(rng)
        if not _found(baseline, [place]):
            places.append(place)
    return base, network, registry, places


def test_the_forms_searched_for_are_found_when_present():
    # The search itself works: every form of a position is found in a text or file that holds it.
    texts, binary = _forms(*EXAMPLE)
    assert "114.031873" in texts and "22.54739" in texts and "114.0319" in texts
    for t in texts:
        assert _found(f"x {t} y".encode(), [EXAMPLE])
    for b in binary:
        assert _found(b"\0" + b + b"\0", [EXAMPLE])
    assert not _found(b"114.0 22.5 nothing here", [EXAMPLE])


def _request(query: str):
    from starlette.requests import Request

    return Request({"type": "http", "method": "GET", "path": "/api/v1/nearest", "query_string": query.encode(),
                    "headers": []})


def test_lookup_functions_log_and_write_nothing_of_the_location(world, capfd, monkeypatch, tmp_path):
    from geo.core.crs import from_wgs84
    from geo.routing.handoff import handoff_urls
    from geo.routing.places import search
    from geo.web import public_api

    base, network, registry, places = world
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setenv("GEO_REGISTRY", str(registry))
    monkeypatch.setenv("GEO_NETWORK_DIR", str(network))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    root = logging.getLogger()
    handler = Keep(level=logging.DEBUG)
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    before = _files(base, private_tmp)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for lon, lat in places:
                for mode in ("ebike", "walk", "drive", "truck"):
                    found = public_api.nearest(_request(f"lon={lon}&lat={lat}&mode={mode}&kind="))
                    assert found["results"] and found["method"] == "network"
                    r = found["results"][0]
                    assert handoff_urls(r["lon"], r["lat"], r["name"], mode, (lon, lat), "起点")
                # The same place pasted from Amap (GCJ-02) and Baidu (BD-09).
                for crs in ("gcj02", "bd09"):
                    x, y = (float(v) for v in from_wgs84(lon, lat, crs))
                    found = public_api.nearest(_request(f"lon={x:.6f}&lat={y:.6f}&crs={crs}"))
                    assert abs(found["origin"]["lon"] - lon) < 1e-5 and abs(found["origin"]["lat"] - lat) < 1e-5
                search(f"{lon:.6f},{lat:.6f}")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    out, err = capfd.readouterr()
    logged = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in records)
    said = "\n".join(str(w.message) for w in caught)
    for where, text in (("log records", logged), ("warnings", said), ("stdout", out), ("stderr", err)):
        assert not _found(text.encode(), places), f"the location is in the {where}"
    changed = _changed(before, _files(base, private_tmp))
    assert not _leaks(changed, places)
    assert not [p for p in changed if base / "data" in p.parents]  # the registry's folder is untouched


def test_the_app_stores_and_logs_no_location(world, tmp_path):
    import json

    base, network, registry, places = world
    data = registry.parent
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    log = tmp_path / "server" / "streamlit.log"
    log.parent.mkdir()
    digest = hashlib.sha256(registry.read_bytes()).hexdigest()
    folders = (data, network, tmp, home, log.parent)
    before, repo_before = _files(*folders), _files(ROOT)
    started = time.time()
    proc, url = load.start_app(registry, network, log, extra_args=["--logger.level", "debug"],
                               env={"TMPDIR": str(tmp), "HOME": str(home)})
    try:
        host, port = url.removeprefix("http://").split(":")
        conn = load.http.client.HTTPConnection(host, int(port), timeout=120)
        for n, (lon, lat) in enumerate(places):
            mode = ("ebike", "walk", "drive")[n]
            with load.urllib.request.urlopen(f"{url}/finder?lon={lon:.6f}&lat={lat:.6f}&mode={mode}",
                                             timeout=60) as resp:
                assert resp.status == 200  # the worker page, as a shared link is opened
            result = load.page_lookup(conn, load.page_query(lon, lat, mode, "all"))
            assert load.lookup_problem(result) is None, result
            assert result["results"] and result["routed"]
            # The server really had the position: the answer gives it back.
            origin = json.loads(result["body"])["origin"]
            assert (round(origin["lon"], 6), round(origin["lat"], 6)) == (lon, lat)
        conn.close()
        # Streamlit's own debug log lines were written meanwhile.
        with load.urllib.request.urlopen(f"{url}/", timeout=60) as resp:
            assert resp.status == 200
    finally:
        load.stop_app(proc)
    text = log.read_bytes()
    assert b"Runtime state:" in text  # debug logging was on
    assert not _found(text, places), "the location is in the server's log"
    assert hashlib.sha256(registry.read_bytes()).hexdigest() == digest
    changed = _changed(before, _files(*folders))
    assert not _leaks(changed, places)
    assert not [p for p in changed if p.parent == data]  # nothing beside the registry either
    # Files of the repository changed meanwhile (by this server, or by anyone).
    repo_changed = [p for p in _changed(repo_before, _files(ROOT)) if p.stat().st_mtime >= started - 1]
    assert not _leaks(repo_changed, places)


def test_usage_statistics_are_off():
    # Streamlit's usage statistics would send page views from the browser to a third party.
    text = (ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert "gatherUsageStats = false" in text
    assert sys.modules  # (the load harness passes --browser.gatherUsageStats false as well)
