"""Many servers, one database (issue 14): 3 API processes on one PostGIS, riders and editors at once.

On loopback only (127.0.0.1). A throwaway PostgreSQL/PostGIS server
(``tests/pg_server.py``) holds the registry, seeded with the bundled sample
(3,000 stations, 示例数据 / sample data) as a fresh install of the app is
(``bench/load.py``'s :func:`sample_registry`). The Shenzhen road network
is built once from ``../shared/data`` (``bench/load.py``'s
:func:`build_network`).

``--servers`` (3) separate ``python -m geo serve`` processes, one worker
each, on their own ports, all with ``GEO_REGISTRY`` = the database's URL
and the per-client rate limit off (every simulated rider comes from
127.0.0.1). Then, at once, for ``--duration`` seconds:

* **riders**: ``--riders`` (50) simulated riders spread round the servers,
  each doing what the worker page does (``bench/load.py``'s
  :func:`run_riders`: the page and the public stations around it once, then
  ``/api/v1/nearest`` lookups with a think time);
* **editors**: ``--editors`` (5) separate processes, each opening the same
  registry with ``geo.registry.store.open_store`` and saving edits with
  ``store.update(..., expected_version=<the version it read>)``. The HTTP
  API has no edit endpoint: editors edit in the Streamlit app's Data page,
  whose processes write through this same store call, so that is the path
  several servers really share. Every editor edits ``--shared`` stations
  that all editors edit (so version conflicts really happen) and stations
  of its own, each save on one drawn uniformly from both; it holds the
  station up to ``--hold`` s (the form open) before saving a unique value
  into ``notes``, and records every acknowledged save
  (station, the version it read, the new version, the value) and every
  conflict reported to it;
* **visibility probes**: every ``--probe-every`` s this process saves a
  unique value to a probe station through its own store and polls
  ``GET /api/v1/stations/{id}`` on every server until each answers it; the
  delay from the acknowledged save to the first answer showing it is
  recorded per server (the issue asks for 2 s).

At the end the audit log in the database is checked against the editors'
records (:func:`verify`): every acknowledged save is there with its value
and version, made from the version the editor read; every station's
history is a chain of versions without gap or repeat, each row's
``before`` equal to the previous row's ``after`` (nothing overwritten
unseen); no conflicted attempt's value was written; no bench write was
left unacknowledged; each station ends as its last save left it.

The obvious alternative, measured in the same run: the same riders,
editors and probes against **one** of the servers
(``--compare-duration``, default ``--duration``; 0 leaves it out). The
ratio of the lookup p95 and throughput is printed.

Exit status 1 when any rider, editor or probe failed, any edit was lost or
silently overwritten, a server logged a traceback, or the visibility p95
was over 2 s.

Usage::

    .venv/bin/python bench/servers.py                      # 3 servers, 50 riders, 5 editors, 120 s (+120 s on 1)
    .venv/bin/python bench/servers.py --duration 20 --compare-duration 0 --riders 10

Tests use :func:`prepare`, :func:`start_servers`, :func:`run_phase` and
:func:`verify` (``tests/registry/test_pg_servers.py``).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench", ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import load  # noqa: E402  (bench/load.py: network, sample registry, servers, riders)

#: The network's area (Futian and Nanshan), where riders look and editors' stations are taken from.
AREA = (113.954, 22.479, 114.094, 22.606)
#: What the issue asks: an edit through one process seen by the other servers within this many seconds.
VISIBLE_WITHIN_S = 2.0
EDITOR = "bench-editor-{}"
PROBE_EDITOR = "bench-probe"


class World:
    """The database, the network, a folder for logs and records, and the stations editors and probes edit.

    (A plain class: tests load this script as a module outside ``sys.modules``, where dataclasses fail.)
    """

    def __init__(self, *, url: str, network: Path, folder: Path, shared: list[str], own: list[list[str]],
                 probes: list[str]) -> None:
        self.url, self.network, self.folder = url, network, folder
        self.shared, self.own, self.probes = shared, own, probes
        self.run_id = f"{os.getpid()}-{int(time.time())}"


def prepare(url: str, network: Path, folder: Path, *, editors: int, shared: int = 2, own: int = 2,
            probes: int = 2, area_only: bool = False) -> World:
    """Seed the registry at ``url`` with the bundled sample and choose the edited stations.

    Parameters
    ----------
    url : str
        A ``postgresql://`` database holding no registry yet.
    network : Path
        A built road network (``load.build_network``).
    folder : Path
        Where editors' records and server logs go.
    editors, shared, own, probes : int
        Editors; stations every editor edits; stations each editor edits
        alone; stations only the visibility probes edit.
    area_only : bool
        Seed only the sample stations inside the network's area (about
        100, not 3,000), so that each server's reload after an edit is
        cheap: for the bounded test on a busy machine.
    """
    import dataclasses

    from geo import settings
    from geo.registry.io.readers import read_table
    from geo.registry.store import open_store
    from geo.registry.store.pg import PostgisStore
    from geo.registry.validate import validate_table

    if area_only:
        report = validate_table(read_table(settings.SAMPLE_PATH), None, crs="wgs84")
        inside = report.accepted.cx[AREA[0]:AREA[2], AREA[1]:AREA[3]]
        PostgisStore(url).commit_import(dataclasses.replace(report, accepted=inside, rows=len(inside)))
    else:
        load.sample_registry(url)
    stations = open_store(url).load()
    inside = stations.cx[AREA[0]:AREA[2], AREA[1]:AREA[3]]
    ids = sorted(inside.loc[inside["public"].fillna(True).astype(bool), "id"])
    need = shared + editors * own + probes
    if len(ids) < need:
        raise RuntimeError(f"only {len(ids)} public stations in the network's area, {need} needed")
    mine = [ids[shared + i * own: shared + (i + 1) * own] for i in range(editors)]
    return World(url=url, network=network, folder=folder, shared=ids[:shared], own=mine,
                 probes=ids[shared + editors * own: need])


def start_servers(world: World, n: int) -> list[tuple[subprocess.Popen, str]]:
    """``n`` separate ``python -m geo serve`` processes on the world's database, each warmed up."""
    servers = []
    try:
        for i in range(n):
            servers.append(load.serve_api(world.url, world.network, world.folder / f"server-{i}.log", workers=1,
                                          env={"GEO_API_RATE_PER_MINUTE": "0"}))
        for _, url in servers:
            load.warm_up(url)
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: list[tuple[subprocess.Popen, str]]) -> None:
    """Stop servers started by :func:`start_servers`."""
    for proc, _ in servers:
        load.stop_app(proc)


# --------------------------------------------------------------------------
# Editors (separate processes)
# --------------------------------------------------------------------------


def editor_main(spec: dict) -> int:
    """One editor process: save edits until the stop time the go file names; every outcome as a JSON line.

    ``spec``: ``url``, ``index``, ``shared``, ``own`` (station ids),
    ``think``, ``hold`` (seconds), ``seed``, ``tag``, ``out`` (the record
    file) and ``go`` (the file that holds the stop time, written once every
    editor is ready).
    """
    from geo.registry.store import open_store
    from geo.registry.store.base import ConflictError

    store = open_store(spec["url"])
    rng = random.Random(spec["seed"])
    name = EDITOR.format(spec["index"])
    go = Path(spec["go"])
    with open(spec["out"], "a", encoding="utf-8") as out:
        def record(event: dict) -> None:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
            out.flush()

        record({"event": "ready"})
        deadline = time.time() + 300
        while not go.exists() and time.time() < deadline:
            time.sleep(0.05)
        stop_at = float(go.read_text())
        n = 0
        while time.time() < stop_at:
            sid = rng.choice(spec["shared"] + spec["own"])
            value = f"bench {spec['tag']} {name} #{n}"
            n += 1
            base = None
            try:
                base = int(store.get(sid)["version"])
                time.sleep(rng.uniform(0, spec["hold"]))  # the form is open; others may save meanwhile
                t0 = time.perf_counter()
                saved = store.update(sid, {"notes": value}, expected_version=base, editor=name)
                record({"event": "saved", "editor": name, "station": sid, "base": base,
                        "version": int(saved["version"]), "value": value, "seconds": time.perf_counter() - t0})
            except ConflictError as exc:
                record({"event": "conflict", "editor": name, "station": sid, "base": base,
                        "current": int(exc.current["version"]), "value": value})
            except Exception as exc:  # anything else is an error of the run, reported, never hidden
                record({"event": "error", "editor": name, "station": sid, "value": value,
                        "error": f"{type(exc).__name__}: {exc}"[:300]})
            time.sleep(max(0.0, min(rng.uniform(0, 2 * spec["think"]), stop_at - time.time())))
    return 0


def _start_editors(world: World, n: int, *, think: float, hold: float, tag: str, go: Path) -> list:
    procs = []
    for i in range(n):
        out = world.folder / f"editor-{tag}-{i}.jsonl"
        spec = {"url": world.url, "index": i, "shared": world.shared, "own": world.own[i], "think": think,
                "hold": hold, "seed": sum(map(ord, tag)) * 100 + i, "tag": f"{world.run_id}/{tag}", "out": str(out),
                "go": str(go)}
        log = open(world.folder / f"editor-{tag}-{i}.log", "wb")
        procs.append((subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--editor", json.dumps(spec)],
                                       cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), out, log))
    return procs


def _read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------
# Visibility probes
# --------------------------------------------------------------------------


def _shown_notes(conn: http.client.HTTPConnection, station: str) -> str | None:
    conn.request("GET", f"/api/v1/stations/{station}", headers={"Accept-Encoding": "identity"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}")
    return json.loads(body)["properties"].get("notes")


def probe_once(store, station: str, urls: list[str], value: str, *, timeout: float = 10.0) -> dict:
    """Save ``value`` to a station through ``store`` and time how soon each server answers it.

    Returns
    -------
    dict
        ``saved`` (the save's record), ``delays_s`` (per server URL, None
        when not seen within ``timeout``) and ``errors``.
    """
    current = store.get(station)
    saved = store.update(station, {"notes": value}, expected_version=int(current["version"]), editor=PROBE_EDITOR)
    acked = time.perf_counter()
    delays: dict[str, float | None] = {}
    errors: list[str] = []

    def watch(url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            while time.perf_counter() - acked < timeout:
                if _shown_notes(conn, station) == value:
                    delays[url] = time.perf_counter() - acked
                    return
                time.sleep(0.02)
            delays[url] = None
        except (OSError, http.client.HTTPException, RuntimeError, ValueError, KeyError) as exc:
            errors.append(f"{url}: {type(exc).__name__}: {exc}"[:200])
            delays[url] = None
        finally:
            conn.close()

    threads = [threading.Thread(target=watch, args=(u,)) for u in urls]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {"saved": {"event": "saved", "editor": PROBE_EDITOR, "station": station, "base": int(current["version"]),
                      "version": int(saved["version"]), "value": value}, "delays_s": delays, "errors": errors}


# --------------------------------------------------------------------------
# One phase: riders, editors and probes at once
# --------------------------------------------------------------------------


def run_phase(world: World, urls: list[str], *, riders: int, editors: int, seconds: float, tag: str,
              think: float = 1.0, edit_think: float = 2.0, hold: float = 1.0, probe_every: float = 10.0,
              clients: int = 1) -> dict:
    """Riders on ``urls`` (spread round them), ``editors`` editor processes and visibility probes, for ``seconds``.

    Returns
    -------
    dict
        ``servers`` (per URL: ``load.run_riders`` figures), ``riders``
        (pooled: lookups, errors, ``latency``), ``saves``, ``conflicts`` and
        ``editor_errors`` (the editors' records), ``probes``
        (delays) and the load average before and after.
    """
    from geo.registry.store import open_store

    go = world.folder / f"go-{tag}"
    procs = _start_editors(world, editors, think=edit_think, hold=hold, tag=tag, go=go)
    try:
        deadline = time.monotonic() + 120
        while not all(_read_events(out) for _, out, _ in procs):
            if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p, _, _ in procs):
                raise RuntimeError(f"editors did not start; see {world.folder}/editor-{tag}-*.log")
            time.sleep(0.1)
        origins = load.Origins(world.network, seed=len(tag))  # set-up, before the clock starts
        load_before = os.getloadavg()
        go.write_text(str(time.time() + seconds))
        split = [riders // len(urls) + (i < riders % len(urls)) for i in range(len(urls))]
        per_server: dict[str, dict] = {}

        def ride(url: str, users: int) -> None:
            per_server[url] = load.run_riders(url, origins, users=users, seconds=seconds, think=think,
                                              clients=clients, keep_latencies=True)

        threads = [threading.Thread(target=ride, args=(u, n)) for u, n in zip(urls, split) if n]
        for th in threads:
            th.start()
        store = open_store(world.url)
        probes, stop_at, i = [], time.monotonic() + seconds, 0
        while time.monotonic() + 1 < stop_at:
            probes.append(probe_once(store, world.probes[i % len(world.probes)], urls,
                                     f"bench {world.run_id}/{tag} probe #{i}"))
            i += 1
            time.sleep(max(0.0, min(probe_every, stop_at - time.monotonic())))
        for th in threads:
            th.join()
        for p, _, _ in procs:
            p.wait(timeout=120)
        load_after = os.getloadavg()
    finally:
        for p, _, log in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()
    events = [e for _, out, _ in procs for e in _read_events(out)]
    latencies = [x for r in per_server.values() for x in r.pop("latencies_s")]
    delays = [d for p in probes for d in p["delays_s"].values()]
    return {
        "tag": tag, "servers": per_server, "seconds": seconds,
        "riders": {"users": riders, "lookups": len(latencies), "errors": sum(r["errors"] for r in per_server.values()),
                   "per_second": round(len(latencies) / seconds, 1), "latency": load.summarize(latencies)},
        "saves": [e for e in events if e["event"] == "saved"] + [p["saved"] for p in probes],
        "conflicts": [e for e in events if e["event"] == "conflict"],
        "editor_errors": [e for e in events if e["event"] == "error"],
        "probes": {"n": len(probes), "not_seen": sum(d is None for d in delays),
                   "errors": [x for p in probes for x in p["errors"]],
                   "delay": load.summarize([d for d in delays if d is not None]),
                   "slowest_s": [max((d for d in p["delays_s"].values() if d is not None), default=None)
                                 for p in probes],
                   "per_server": {u: load.summarize([p["delays_s"][u] for p in probes if p["delays_s"].get(u)])
                                  for u in urls}},
        "load_average": [round(load_before[0], 1), round(load_after[0], 1)],
    }


# --------------------------------------------------------------------------
# What the database says
# --------------------------------------------------------------------------


def verify(url: str, saves: list[dict], conflicts: list[dict]) -> dict:
    """Check the registry's audit log against every acknowledged save and reported conflict.

    Returns
    -------
    dict
        ``acknowledged``, ``conflicts``, ``stations``, ``lost`` (acknowledged
        saves not in the audit log as acknowledged, or made over a version
        their editor had not read), ``broken_chains`` (a gap, a repeated
        version, or a ``before`` that is not the previous ``after``),
        ``conflicted_but_written``, ``unacknowledged`` (bench writes nobody
        was told about), ``wrong_final`` (a station not as its last save left
        it) and ``problems`` (the first few, in words).
    """
    from geo.registry.store import open_store

    store = open_store(url)
    problems: list[str] = []
    acked = {(s["station"], s["version"]): s for s in saves}
    conflicted = {c["value"] for c in conflicts}
    out = {"acknowledged": len(saves), "conflicts": len(conflicts), "stations": 0, "lost": 0, "broken_chains": 0,
           "conflicted_but_written": 0, "unacknowledged": 0, "wrong_final": 0}
    if len(acked) != len(saves):
        out["lost"] += len(saves) - len(acked)
        problems.append("two acknowledged saves name the same station and version")
    for sid in sorted({s["station"] for s in saves} | {c["station"] for c in conflicts}):
        out["stations"] += 1
        rows = store.history(sid).sort_values("audit_id").to_dict("records")
        by_version: dict[int, dict] = {}
        for prev, row in zip([None, *rows], rows):
            version = int(row["version"])
            if version in by_version or (prev is not None and (
                    version != int(prev["version"]) + 1 or (row["before"] or {}).get("version") != prev["version"]
                    or (row["before"] or {}).get("notes") != (prev["after"] or {}).get("notes"))):
                out["broken_chains"] += 1
                problems.append(f"{sid}: version {version} does not follow audit row {prev and prev['audit_id']}")
            by_version.setdefault(version, row)
            value = (row["after"] or {}).get("notes")
            if value in conflicted:
                out["conflicted_but_written"] += 1
                problems.append(f"{sid}: a conflicted save was written ({value})")
            if str(row["editor"]).startswith(("bench-editor-", PROBE_EDITOR)) and (sid, version) not in acked:
                out["unacknowledged"] += 1
                problems.append(f"{sid}: version {version} by {row['editor']} was never acknowledged")
        for (station, version), save in acked.items():
            if station != sid:
                continue
            row = by_version.get(version)
            if (row is None or (row["after"] or {}).get("notes") != save["value"] or row["editor"] != save["editor"]
                    or (row["before"] or {}).get("version") != save["base"] or version != save["base"] + 1):
                out["lost"] += 1
                problems.append(f"{sid}: acknowledged save v{version} ({save['value']}) is not in the audit log "
                                f"as saved over v{save['base']}")
        current = store.get(sid)
        if rows and (int(current["version"]) != int(rows[-1]["version"])
                     or current["notes"] != (rows[-1]["after"] or {}).get("notes")):
            out["wrong_final"] += 1
            problems.append(f"{sid}: stored version {current['version']} is not the audit log's last")
    out["problems"] = problems[:10]
    return out


def failed(phases: list[dict], check: dict, log_problems: int) -> list[str]:
    """Why the run failed (empty when it did not): errors, lost edits, stale servers, tracebacks."""
    why = []
    for ph in phases:
        if ph["riders"]["errors"]:
            why.append(f"{ph['tag']}: {ph['riders']['errors']} rider errors")
        if ph["editor_errors"]:
            why.append(f"{ph['tag']}: {len(ph['editor_errors'])} editor errors, e.g. {ph['editor_errors'][0]}")
        if ph["probes"]["errors"]:
            why.append(f"{ph['tag']}: {len(ph['probes']['errors'])} probe reads failed, e.g. {ph['probes']['errors'][0]}")
        if ph["probes"]["not_seen"]:
            why.append(f"{ph['tag']}: {ph['probes']['not_seen']} probe answers never showed the edit (10 s)")
        if ph["probes"]["delay"].get("p95_ms", 0) > VISIBLE_WITHIN_S * 1000:
            why.append(f"{ph['tag']}: visibility p95 {ph['probes']['delay']['p95_ms']} ms > {VISIBLE_WITHIN_S} s")
    for key in ("lost", "broken_chains", "conflicted_but_written", "unacknowledged", "wrong_final"):
        if check[key]:
            why.append(f"{check[key]} {key.replace('_', ' ')}: {check['problems'][:3]}")
    if log_problems:
        why.append(f"{log_problems} server log lines with Traceback or ERROR")
    return why


def log_problems(folder: Path) -> int:
    """Lines with a traceback or an error in the servers' logs."""
    return sum(1 for log in folder.glob("server-*.log") for line in log.read_text(errors="replace").splitlines()
               if "Traceback" in line or "ERROR" in line)


def _print_phase(ph: dict) -> None:
    r = ph["riders"]
    lat = r["latency"]
    print(f"\n## {ph['tag']}: {len(ph['servers'])} server process(es), {r['users']} riders, "
          f"{len(ph['saves'])} saves acknowledged, {len(ph['conflicts'])} conflicts reported, "
          f"{len(ph['editor_errors'])} editor errors; load average {ph['load_average'][0]} -> {ph['load_average'][1]}")
    for url, s in ph["servers"].items():
        sl = s["latency"]
        print(f"  {url}: {s['users']} riders, {s['lookups']:,} lookups + {s['page_gets']} page reads, "
              f"{s['errors']} errors, p50 {sl.get('p50_ms')} ms, p95 {sl.get('p95_ms')} ms, max {sl.get('max_ms')} ms")
    print(f"  all: {r['lookups']:,} lookups ({r['per_second']}/s), {r['errors']} errors, p50 {lat.get('p50_ms')} ms, "
          f"p95 {lat.get('p95_ms')} ms, p99 {lat.get('p99_ms')} ms, max {lat.get('max_ms')} ms")
    saved = load.summarize([e["seconds"] for e in ph["saves"] if "seconds" in e])
    print(f"  editors' saves (store.update with the version check): p50 {saved.get('p50_ms')} ms, "
          f"p95 {saved.get('p95_ms')} ms, max {saved.get('max_ms')} ms")
    p, d = ph["probes"], ph["probes"]["delay"]
    print(f"  visibility: {p['n']} probe edits x {len(ph['servers'])} servers: seen after p50 {d.get('p50_ms')} ms, "
          f"p95 {d.get('p95_ms')} ms, max {d.get('max_ms')} ms; not seen within 10 s {p['not_seen']} "
          f"({len(p['errors'])} of them failed reads)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--riders", type=int, default=50)
    ap.add_argument("--editors", type=int, default=5)
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of the many-servers run")
    ap.add_argument("--compare-duration", type=float, help="seconds of the same load on 1 server (default "
                                                             "--duration; 0: not measured)")
    ap.add_argument("--think", type=float, default=1.0, help="riders' mean think time (s)")
    ap.add_argument("--edit-think", type=float, default=10.0, help="editors' mean time between saves (s)")
    ap.add_argument("--hold", type=float, default=5.0, help="longest time an editor holds a station before saving")
    ap.add_argument("--shared", type=int, default=2, help="stations every editor edits")
    ap.add_argument("--probe-every", type=float, default=10.0, help="seconds between visibility probes")
    ap.add_argument("--clients", type=int, default=1, help="load-generator processes per server (1: threads here)")
    ap.add_argument("--network", type=Path, help="a built network folder (default: built from the Shenzhen extract)")
    ap.add_argument("--json", type=Path, help="write the figures here as well")
    ap.add_argument("--keep", type=Path, help="keep the servers' and editors' logs and records in this new folder")
    ap.add_argument("--editor", help=argparse.SUPPRESS)  # internal: run one editor process
    args = ap.parse_args(argv)
    if args.editor:
        return editor_main(json.loads(args.editor))
    compare = args.duration if args.compare_duration is None else args.compare_duration
    if args.riders > 200 or args.duration > 600 or compare > 600 or args.servers > 8 or args.editors > 20:
        ap.error("bounded: at most 200 riders, 600 s per phase, 8 servers and 20 editors")
    from pg_server import PgServer

    print(f"# {load.datetime_now()} · {platform.node()} · {os.cpu_count()} CPUs · load average "
          f"{os.getloadavg()[0]:.1f}")
    print("# editors: separate processes saving through geo.registry.store.open_store(URL).update(..., "
          "expected_version=<read>) (the HTTP API has no edit endpoint; the Data page saves this way)")
    server = PgServer()
    try:
        with tempfile.TemporaryDirectory(prefix="geo-servers-") as tmp:
            folder = Path(tmp) if args.keep is None else args.keep
            folder.mkdir(exist_ok=args.keep is None)
            network = args.network or load.build_network(folder / "net")
            world = prepare(server.new_database("servers"), network, folder, editors=args.editors,
                            shared=args.shared)
            servers = start_servers(world, args.servers)
            urls = [u for _, u in servers]
            try:
                common = dict(riders=args.riders, editors=args.editors, think=args.think, edit_think=args.edit_think,
                              hold=args.hold, probe_every=args.probe_every, clients=args.clients)
                phases = [run_phase(world, urls, seconds=args.duration, tag=f"{args.servers}-servers", **common)]
                if compare > 0:
                    phases.append(run_phase(world, urls[:1], seconds=compare, tag="1-server", **common))
            finally:
                stop_servers(servers)
            check = verify(world.url, [s for ph in phases for s in ph["saves"]],
                           [c for ph in phases for c in ph["conflicts"]])
            problems = log_problems(folder)
    finally:
        server.stop()
    for ph in phases:
        _print_phase(ph)
    print(f"\n## the database: {check['acknowledged']} acknowledged saves on {check['stations']} stations, "
          f"{check['conflicts']} conflicts reported; lost {check['lost']}, broken chains {check['broken_chains']}, "
          f"conflicted but written {check['conflicted_but_written']}, unacknowledged writes "
          f"{check['unacknowledged']}, wrong final state {check['wrong_final']}")
    result = {"phases": phases, "verify": check, "server_log_problems": problems}
    if len(phases) == 2:
        many, one = phases[0]["riders"], phases[1]["riders"]
        result["ratio"] = {"p95_one_over_many": round(one["latency"]["p95_ms"] / many["latency"]["p95_ms"], 2),
                           "lookups_per_s_many_over_one": round(many["per_second"] / one["per_second"], 2)}
        print(f"ratio: lookup p95 on 1 server / on {args.servers} servers = {result['ratio']['p95_one_over_many']}; "
              f"lookups/s {args.servers} servers / 1 = {result['ratio']['lookups_per_s_many_over_one']}")
    why = failed(phases, check, problems)
    print("result: " + ("FAILED: " + "; ".join(why) if why else "0 errors, 0 lost edits"))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return 1 if why else 0


if __name__ == "__main__":
    sys.exit(main())
