"""How fast the registry map shows 20,000 stations, in Chromium.

Two measurements, both in Debian's Chromium driven by Playwright:

1. **Standalone map pages**, the browser alone: ``geo.web.maps.registry.registry_map``
   (per-kind Supercluster layers over base64 positions; here with every
   popup record inline, as there is no server to fetch them from) against
   naive folium, one ``folium.Marker`` with its own popup and tooltip per
   station, added straight to the map. Both load the same vendored Leaflet
   from disk, so only the approach differs. Timed from navigation until
   markers are in the DOM.
2. **The app itself**: ``streamlit run serve.py`` on a 20,000-station
   registry, timed from navigation until the map iframe has its markers,
   with the bytes the page received (HTTP responses and websocket frames);
   and the same registry drawn the naive way through ``st_folium`` by
   ``bench/naive_app.py``, in the same run.

Run from the project root::

    .venv/bin/python bench/ui.py [--stations 20000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import html
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import folium  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from geo.registry.export import to_geojson  # noqa: E402
from geo.web.maps.base import VENDOR_DIR  # noqa: E402
from geo.web.maps.registry import registry_map  # noqa: E402
from geo.registry.sample import generate_sample  # noqa: E402
from geo.registry.store import create_registry  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MARKERS_JS = "() => document.querySelectorAll('.leaflet-marker-icon, .marker-cluster').length > 0"


# folium's popups call jQuery's $(html)[0]; jQuery's CDN is out of reach
# here, so this one-line stand-in parses the HTML the same way (and no
# slower than jQuery would). Without it the naive page stops at its first
# popup with "$ is not defined", which made an earlier naive figure wrong.
_JQUERY_STAND_IN = ("window.$ = function (s) { var t = document.createElement('template'); "
                    "t.innerHTML = String(s).trim(); return [t.content.firstChild]; };")


def naive_map(stations, asset_base: str = VENDOR_DIR.as_uri() + "/") -> folium.Map:
    """What a first folium version does: a Marker, Popup and Tooltip per station."""
    asset = asset_base + "leaflet-1.9.4/"
    m = folium.Map(location=[23.1, 113.3], zoom_start=7, tiles=None)
    m.default_js = [("leaflet", asset + "leaflet.js"),
                    ("jquery_stand_in", "data:text/javascript," + urllib.parse.quote(_JQUERY_STAND_IN))]
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
    asset = VENDOR_DIR.as_uri() + "/"
    # "ours, fetched" is what the app ships: positions only, popups from the API when opened.
    for name, build in (("ours, inline", lambda: registry_map(stations, asset_base=asset)),
                        ("ours, fetched", lambda: registry_map(stations, asset_base=asset,
                                                               details_url="../../api/v1/stations/")),
                        ("naive folium", lambda: naive_map(stations))):
        start = time.perf_counter()
        page_html = build().get_root().render()
        build_s = time.perf_counter() - start
        path = tmp / f"{name.replace(' ', '_')}.html"
        path.write_text(page_html, encoding="utf-8")
        times = _time_page(browser, path.as_uri(), repeat)
        out[name] = {"build_s": build_s, "bytes": path.stat().st_size, "times": times,
                     "median_s": statistics.median(times)}
        print(f"  {name:14s} build {build_s:6.2f} s · page {path.stat().st_size / 1e6:6.2f} MB · "
              f"time to markers {', '.join(f'{t:.2f}' for t in times)} s (median {statistics.median(times):.2f} s)")
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_registry(stations, tmp: Path) -> Path:
    sample = tmp / "stations.geojson"
    sample.write_text(to_geojson(stations), encoding="utf-8")
    registry = tmp / "registry.gpkg"
    start = time.perf_counter()
    create_registry(registry, seed=sample)
    print(f"  registry of {len(stations):,} stations created in {time.perf_counter() - start:.1f} s")
    return registry


def in_app(browser, registry: Path, script: Path, repeat: int, timeout: int = 300) -> dict:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GEO_REGISTRY": str(registry), "GD_ROOT": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless",
                             "true", "--server.port", str(port), "--browser.gatherUsageStats", "false",
                             "--server.fileWatcherType", "none"],
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
            try:
                frame = page.wait_for_selector('iframe[src*="st_folium"]', timeout=timeout * 1000).content_frame()
                frame.wait_for_function(MARKERS_JS, timeout=timeout * 1000, polling=50)
                elapsed = time.perf_counter() - start
            except PlaywrightTimeout:
                # Reported as the time limit: the true time is longer still.
                elapsed = float(timeout)
                print(f"  {script.name:13s} no markers within {timeout} s")
            page.close()
            label = "cold (first load after start)" if i == 0 else f"warm #{i}"
            print(f"  {script.name:13s} {label:30s} time to markers {elapsed:6.2f} s · received "
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
    parser.add_argument("--naive-repeat", type=int, default=1,
                        help="warm loads of the naive app (each takes tens of seconds)")
    args = parser.parse_args()
    stations = generate_sample(args.stations, seed=7)
    print(f"{len(stations):,} generated stations; Chromium {CHROMIUM}")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        print("Standalone map pages (same vendored Leaflet, no tiles):")
        pages = standalone(browser, stations, Path(tmp), args.repeat)
        print("The app (streamlit run, home map, all layers), ours and the naive folium page:")
        registry = make_registry(stations, Path(tmp))
        app = in_app(browser, registry, ROOT / "serve.py", args.repeat)
        naive_dir = Path(tmp) / "naive"
        naive_dir.mkdir()
        (naive_dir / "static").symlink_to(ROOT / "static")
        shutil.copy(ROOT / "bench" / "naive_app.py", naive_dir / "naive_app.py")
        naive_app = in_app(browser, registry, naive_dir / "naive_app.py", args.naive_repeat)
        browser.close()
    naive = pages["naive folium"]
    print("\nSummary")
    for name in ("ours, inline", "ours, fetched"):
        ours = pages[name]
        print(f"  standalone, {name}: time to markers {ours['median_s']:.2f} s vs naive {naive['median_s']:.2f} s "
              f"-> {naive['median_s'] / ours['median_s']:.1f}x faster; page {ours['bytes'] / 1e6:.2f} MB vs "
              f"{naive['bytes'] / 1e6:.2f} MB; Python build {ours['build_s']:.2f} s vs {naive['build_s']:.2f} s")
    print(f"  in the app, warm: time to markers {app['median_s']:.2f} s (target <= 3 s), "
          f"page received {app['bytes'] / 1e6:.2f} MB")
    print(f"  naive folium in the app, warm: {naive_app['median_s']:.2f} s (300 s = no markers by the limit), received {naive_app['bytes'] / 1e6:.2f} MB "
          f"-> ours {naive_app['median_s'] / app['median_s']:.1f}x faster (target >= 5x)")


if __name__ == "__main__":
    main()
