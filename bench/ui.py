"""How fast the registry map shows 20,000 stations, in Chromium.

Two measurements, both in Debian's Chromium driven by Playwright:

1. **Standalone map pages**, the fair comparison of rendering approaches:
   ``geo.maps.registry_map`` (per-kind client-side clusters, one compact JSON
   array per layer, popups built when opened) against naive folium, one
   ``folium.Marker`` with its own popup and tooltip per station, added
   straight to the map. Both load the same vendored Leaflet from disk, so
   only the approach differs. Timed from navigation until markers are in
   the DOM.
2. **The app itself**: ``streamlit run app.py`` on a 20,000-station
   registry, timed from navigation until the map iframe has its markers,
   with the bytes the page received (HTTP responses and websocket frames).

Run from the project root::

    .venv/bin/python bench/ui.py [--stations 20000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import html
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import folium  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from geo.export import to_geojson  # noqa: E402
from geo.maps import VENDOR_DIR, registry_map  # noqa: E402
from geo.sample import generate_sample  # noqa: E402
from geo.store import create_registry  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MARKERS_JS = "() => document.querySelectorAll('.leaflet-marker-icon, .marker-cluster').length > 0"


def naive_map(stations) -> folium.Map:
    """What a first folium version does: a Marker, Popup and Tooltip per station."""
    asset = VENDOR_DIR.as_uri() + "/leaflet-1.9.4/"
    m = folium.Map(location=[23.1, 113.3], zoom_start=7, tiles=None)
    m.default_js = [("leaflet", asset + "leaflet.js")]
    m.default_css = [("leaflet_css", asset + "leaflet.css")]
    for row in stations.itertuples():
        popup = f"<b>{html.escape(row.name)}</b><br>{html.escape(row.address)}<br>{html.escape(row.opening_hours)}"
        folium.Marker([row.lat, row.lon], popup=folium.Popup(popup, max_width=300),
                      tooltip=html.escape(row.name)).add_to(m)
    return m


def _time_page(browser, url: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_function(MARKERS_JS, timeout=300_000, polling=50)
        times.append(time.perf_counter() - start)
        page.close()
    return times


def standalone(browser, stations, tmp: Path, repeat: int) -> dict:
    out = {}
    for name, build in (("ours", lambda: registry_map(stations, asset_base=VENDOR_DIR.as_uri() + "/")),
                        ("naive folium", lambda: naive_map(stations))):
        start = time.perf_counter()
        page_html = build().get_root().render()
        build_s = time.perf_counter() - start
        path = tmp / f"{name.replace(' ', '_')}.html"
        path.write_text(page_html, encoding="utf-8")
        times = _time_page(browser, path.as_uri(), repeat)
        out[name] = {"build_s": build_s, "bytes": path.stat().st_size, "times": times,
                     "median_s": statistics.median(times)}
        print(f"  {name:13s} build {build_s:6.2f} s · page {path.stat().st_size / 1e6:6.2f} MB · "
              f"time to markers {', '.join(f'{t:.2f}' for t in times)} s (median {statistics.median(times):.2f} s)")
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_app(browser, stations, tmp: Path, repeat: int) -> dict:
    sample = tmp / "stations.geojson"
    sample.write_text(to_geojson(stations), encoding="utf-8")
    registry = tmp / "registry.gpkg"
    start = time.perf_counter()
    create_registry(registry, seed=sample)
    print(f"  registry of {len(stations):,} stations created in {time.perf_counter() - start:.1f} s")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GEO_REGISTRY": str(registry)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                             "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        times, received = [], []
        for i in range(repeat + 1):  # the first load warms Streamlit's caches; it is reported apart
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            got = {"http": 0, "ws": 0}
            page.on("response", lambda r: got.__setitem__("http", got["http"] + int(r.headers.get("content-length") or 0)))
            page.on("websocket", lambda ws: ws.on(
                "framereceived", lambda payload: got.__setitem__("ws", got["ws"] + len(payload))))
            start = time.perf_counter()
            page.goto(url, wait_until="commit")
            frame = page.wait_for_selector('iframe[src*="st_folium"]', timeout=300_000).content_frame()
            frame.wait_for_function(MARKERS_JS, timeout=300_000, polling=50)
            elapsed = time.perf_counter() - start
            page.close()
            label = "cold (first load after start)" if i == 0 else f"warm #{i}"
            print(f"  app {label:30s} time to markers {elapsed:6.2f} s · received "
                  f"{got['http'] / 1e6:.2f} MB HTTP + {got['ws'] / 1e6:.2f} MB websocket")
            if i:
                times.append(elapsed)
                received.append(got["http"] + got["ws"])
        return {"times": times, "median_s": statistics.median(times), "bytes": statistics.median(received)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    stations = generate_sample(args.stations, seed=7)
    print(f"{len(stations):,} generated stations; Chromium {CHROMIUM}")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        print("Standalone map pages (same vendored Leaflet, no tiles):")
        pages = standalone(browser, stations, Path(tmp), args.repeat)
        print("The app (streamlit run app.py, home map, all layers):")
        app = in_app(browser, stations, Path(tmp), args.repeat)
        browser.close()
    ours, naive = pages["ours"], pages["naive folium"]
    print("\nSummary")
    print(f"  time to markers, standalone: ours {ours['median_s']:.2f} s vs naive {naive['median_s']:.2f} s "
          f"-> {naive['median_s'] / ours['median_s']:.1f}x faster (target >= 5x)")
    print(f"  page size, standalone: ours {ours['bytes'] / 1e6:.2f} MB vs naive {naive['bytes'] / 1e6:.2f} MB "
          f"-> {naive['bytes'] / ours['bytes']:.1f}x smaller")
    print(f"  build in Python: ours {ours['build_s']:.2f} s vs naive {naive['build_s']:.2f} s")
    print(f"  in the app, warm: time to markers {app['median_s']:.2f} s (target <= 3 s), "
          f"page received {app['bytes'] / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
