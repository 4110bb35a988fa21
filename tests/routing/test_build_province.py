"""A scaled-down Guangdong (bench/make_province_pbf.py, about 200k nodes) built through the real command.

The file is written by the same generator the province benchmark uses and
built by ``python -m geo network build`` in a child process, whose peak
memory is measured there (``resource.getrusage``) and bounded in proportion
to the file; the graphs are checked against networkx and against what the
rules allow, and an interrupted build must leave nothing that looks built.
"""
import json
import mmap
import os
import signal
import subprocess
import sys
import time

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from geo.routing.network import MODES, clear_graph_cache, load_graph
from geo.routing.rules import HIGHWAY_CLASS_ID
from geo.routing.search import origin_exits, settle_stations, station_costs
from geo.routing.snap import snap_point
from geo.routing.stations import index_stations
from conftest import ROOT

SCALE = 0.01  # about 200k nodes, 24k ways, 1.3 MB
# Peak memory of the build beyond the interpreter's imports, per byte of PBF.
# The province (117 MB) would be allowed 7.1 GB: the bound is 8 GB.
BYTES_PER_PBF_BYTE = 60
# What the build holds whatever the file: the reader's buffers and threads, the location index's first blocks.
FIXED_BYTES = 100_000_000

_MEASURE = """
import resource, sys
sys.argv = ["geo"] + sys.argv[1:]
{imports}
code = 0
if len(sys.argv) > 1:
    from geo.cli.main import main
    code = main(sys.argv[1:])
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""
_IMPORTS = "import geo.cli.main, geo.routing.build, geo.routing.dijkstra, osmium, scipy.sparse.csgraph"


def _run_measured(*args, cwd=ROOT):
    code = _MEASURE.format(imports=_IMPORTS)
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    kb = int(done.stdout.split("MAXRSS_KB")[-1].split()[0])
    return kb * 1024, done.stderr


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    folder = tmp_path_factory.mktemp("province")
    pbf = folder / "guangdong-small.osm.pbf"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_province_pbf.py"), "--scale", str(SCALE),
                    "--seed", "1", "--out", str(pbf)], check=True, capture_output=True, timeout=120)
    out = folder / "net"
    base_rss, _ = _run_measured()
    t = time.perf_counter()
    build_rss, log = _run_measured("network", "build", pbf, "--out", out, "--no-places")
    return {"pbf": pbf, "out": out, "base_rss": base_rss, "build_rss": build_rss, "log": log,
            "build_s": time.perf_counter() - t}


def test_the_generated_file_is_a_province_in_miniature(province):
    import osmium

    counts = {"nodes": 0, "ways": 0, "highways": 0, "buildings": 0}
    classes = set()
    for obj in osmium.FileProcessor(str(province["pbf"])):
        if obj.is_node():
            counts["nodes"] += 1
        elif obj.is_way():
            counts["ways"] += 1
            if "highway" in obj.tags:
                counts["highways"] += 1
                classes.add(obj.tags["highway"])
            counts["buildings"] += "building" in obj.tags
    assert 150_000 < counts["nodes"] < 260_000
    assert 0.3 < counts["highways"] / counts["ways"] < 0.5
    assert counts["buildings"] > counts["highways"]  # what the builder must skip
    assert {"motorway", "trunk", "primary", "residential", "service", "footway", "path"} <= classes


def test_every_mode_is_built_and_nothing_half_written_is_left(province):
    out = province["out"]
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert set(meta["modes"]) == set(MODES)
    assert sorted(p.name for p in out.iterdir()) == sorted(["meta.json"] + [f"{m}.npz" for m in MODES])
    # Progress was shown: percent of the file read, and the graphs built.
    assert "%" in province["log"] and "left" in province["log"]


def test_build_memory_stays_proportional_to_the_file(province):
    extra = province["build_rss"] - province["base_rss"]
    bound = FIXED_BYTES + BYTES_PER_PBF_BYTE * province["pbf"].stat().st_size
    assert extra <= bound, f"build used {extra / 1e6:.0f} MB beyond its imports; bound {bound / 1e6:.0f} MB"


def test_graphs_load_memory_mapped_without_a_copy(province):
    clear_graph_cache()
    t = time.perf_counter()
    g = load_graph(province["out"], "drive")
    assert time.perf_counter() - t < 1.0
    for name in ("csr_indices", "csr_time", "geom_x", "grid_seg", "node_lon"):
        base = getattr(g, name)
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        assert isinstance(base, mmap.mmap), name
    # Copy-on-write: writing a loaded array changes neither the file nor a fresh load.
    before = float(g.csr_time[0])
    g.csr_time[0] = before + 1.0
    clear_graph_cache()
    assert float(load_graph(province["out"], "drive").csr_time[0]) == before


def test_rules_hold_on_the_province(province):
    walk = load_graph(province["out"], "walk")
    drive = load_graph(province["out"], "drive")
    motor = [HIGHWAY_CLASS_ID[c] for c in ("motorway", "motorway_link")]
    foot = [HIGHWAY_CLASS_ID[c] for c in ("footway", "path", "steps", "pedestrian", "cycleway")]
    assert not np.isin(walk.edge_class, motor).any()
    assert not np.isin(drive.edge_class, foot).any()
    assert np.isin(drive.edge_class, motor).any() and np.isin(walk.edge_class, foot).any()
    assert drive.n_nodes < walk.n_nodes


def test_province_answers_equal_networkx(province):
    g = load_graph(province["out"], "drive")
    # networkx from the edges (not from the CSR arrays the search reads).
    G = nx.DiGraph()
    for u, v, ok in ((g.edge_u, g.edge_v, g.edge_fwd), (g.edge_v, g.edge_u, g.edge_bwd)):
        for a, b, c in zip(u[ok].tolist(), v[ok].tolist(), g.edge_dur_s[ok].tolist()):
            if a != b and c < G.get_edge_data(a, b, {"w": np.inf})["w"]:
                G.add_edge(a, b, w=c)
    rng = np.random.default_rng(2)
    # Stations and origins around Guangzhou-Foshan, where the network is dense.
    st = pd.DataFrame({"id": [f"S{i}" for i in range(300)], "kind": "rest_station",
                       "lon": rng.uniform(112.9, 113.6, 300), "lat": rng.uniform(22.8, 23.4, 300)})
    idx = index_stations(g, st)
    cand = np.flatnonzero(idx.edge >= 0)
    assert len(cand) > 200
    checked = 0
    for lon, lat in zip(rng.uniform(112.9, 113.6, 30), rng.uniform(22.8, 23.4, 30)):
        origin = snap_point(g, lon, lat)
        if origin is None:
            continue
        cost, _how, _pred = settle_stations(g, idx, cand, origin, lon=lon, lat=lat, k=5, weight="time")
        G.add_node("o")
        for node, w, _ in origin_exits(g, origin, weight="time"):
            if not G.has_edge("o", node) or G["o"][node]["w"] > w:
                G.add_edge("o", node, w=w)
        dist = nx.single_source_dijkstra_path_length(G, "o", weight="w")
        G.remove_node("o")
        d = np.full(g.n_nodes + 1, np.inf)
        keys = [k for k in dist if k != "o"]
        d[keys] = [dist[k] for k in keys]
        want, _ = station_costs(g, idx, cand, origin, d, weight="time")
        best = np.argsort(want, kind="stable")[:5]
        np.testing.assert_allclose(cost[best], want[best], rtol=1e-9)
        checked += 1
    assert checked >= 20


def test_an_interrupted_build_leaves_the_old_graphs_and_no_temporary_folder(province, tmp_path):
    out = tmp_path / "net"
    out.mkdir()
    old = (province["out"] / "walk.npz").read_bytes()
    (out / "walk.npz").write_bytes(old)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # SIGINT as at a terminal: a suite started in the background of a non-interactive shell
    # inherits it ignored, and Python then keeps it ignored.
    proc = subprocess.Popen([sys.executable, "-m", "geo", "network", "build", str(province["pbf"]), "--out",
                             str(out), "--no-places"], cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Interrupt once the build has started writing into its temporary folder.
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".build-") for p in out.iterdir()):
        assert proc.poll() is None, "the build ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-1000:]
    assert "interrupted" in err
    assert sorted(p.name for p in out.iterdir()) == ["walk.npz"]
    assert (out / "walk.npz").read_bytes() == old
