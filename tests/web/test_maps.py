"""The registry map: escaping, layers, legend, sample tag, offline assets; and the UI strings."""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from geo.core import i18n, schema
from geo.web.maps.base import BASEMAPS, VENDOR_DIR, basemap_crs
from geo.web.maps.records import station_bounds
from geo.web.maps.registry import registry_legend_html as legend_html, registry_map

AT = datetime(2026, 6, 3, 10, 0)  # a Wednesday morning

PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "attr": '" onmouseover="alert(2)" x="',
    "js_url": "javascript:alert(3)",
    "img": "<img src=x onerror=alert(4)>",
}


def _stations(rows: list[dict]) -> gpd.GeoDataFrame:
    records = []
    for i, row in enumerate(rows):
        rec = {f: None for f in schema.FIELD_NAMES}
        rec.update(id=f"RS-{i:010d}", name=f"驿站{i}", kind="rest_station", subtype="工会驿站",
                   address=f"广州市天河区体育西路{i}号", status="open", facilities=["drinking_water", "toilet"],
                   facilities_other=[], opening_hours="每天 8:00-18:00", opening_hours_osm="Mo-Su 08:00-18:00",
                   is_24h=False, lon=113.30 + i * 0.01, lat=23.10 + i * 0.01, is_sample=False, version=1)
        rec.update(row)
        records.append(rec)
    df = pd.DataFrame(records, columns=list(schema.FIELD_NAMES))
    return gpd.GeoDataFrame(df, geometry=[Point(x, y) for x, y in zip(df["lon"], df["lat"])], crs="EPSG:4326")


def _render(stations: gpd.GeoDataFrame, **kw) -> str:
    return registry_map(stations, at=AT, **kw).get_root().render()


@pytest.fixture(scope="module")
def hostile_html() -> str:
    rows = [
        {"name": PAYLOADS["script"], "address": PAYLOADS["attr"], "phone": PAYLOADS["js_url"],
         "operator": PAYLOADS["img"], "facilities_other": [PAYLOADS["script"], PAYLOADS["js_url"]],
         "subtype": PAYLOADS["attr"], "opening_hours": PAYLOADS["img"], "source": PAYLOADS["script"],
         "lawyer_hours": PAYLOADS["img"], "kind": "legal_aid"},
        {"name": PAYLOADS["attr"], "address": PAYLOADS["script"], "operator": PAYLOADS["js_url"],
         "phone": PAYLOADS["attr"], "kind": "driver_home", "facilities": ["shower", PAYLOADS["img"]]},
        {"name": PAYLOADS["img"], "notes": PAYLOADS["script"], "id": PAYLOADS["script"],
         "status": PAYLOADS["script"]},
    ]
    return _render(_stations(rows))


def _layers(page: str) -> list[dict]:
    """The data of every station layer on the page (``L.gdStations({...})``)."""
    return [json.loads(blob) for blob in re.findall(r"L\.gdStations\((\{.*?\})\);\n", page)]


def _points(layer: dict) -> list[tuple[float, float, int]]:
    """(lat, lon, flags) of each station of a layer, decoded as the browser does."""
    import numpy as np

    pts = np.frombuffer(base64.b64decode(layer["pts"]), dtype="<i4").reshape(-1, 2) / 1e6
    flags = np.frombuffer(base64.b64decode(layer["fl"]), dtype="u1")
    return [(float(a), float(b), int(f)) for (a, b), f in zip(pts, flags)]


def _script_data(page: str) -> list[dict]:
    """Every station record the page carries, with ``i`` (not open) from the layer's flags."""
    out = []
    for layer in _layers(page):
        for rec, (_, _, flags) in zip(layer["rows"], _points(layer)):
            out.append({**rec, "i": flags & 1})
    return out


@pytest.mark.parametrize("name", ["script", "attr", "img"])
def test_raw_markup_never_reaches_the_page(hostile_html, name):
    # Markup and attribute payloads survive only in escaped form.
    assert PAYLOADS[name] not in hostile_html


def test_javascript_urls_stay_text(hostile_html):
    # "javascript:" has nothing to escape; what matters is that no data value
    # ever lands in a link or source: the only href the popup builds is
    # "tel:" + a digits-only number.
    assert not re.search(r"""(href|src)\s*=\s*["']?\s*javascript:""", hostile_html, re.I)
    # The popup builder is in the map's own scripts (static/gd/), which the page loads.
    scripts = "".join((VENDOR_DIR.parent / "gd" / name).read_text(encoding="utf-8")
                      for name in ("gd-map.js", "gd-layers.js"))
    assert re.findall(r"href=\"([a-z]+):' \+ r\.(\w+)", hostile_html + scripts) == [("tel", "pt")]
    assert all("pt" not in r or r["pt"].lstrip("+").isdigit() for r in _script_data(hostile_html))


def test_markup_payloads_arrive_escaped(hostile_html):
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_html
    assert "&lt;img src=x onerror=alert(4)&gt;" in hostile_html
    assert "&quot; onmouseover=&quot;alert(2)&quot; x=&quot;" in hostile_html
    # No data value opens or closes an element anywhere in the station records.
    for rec in _script_data(hostile_html):
        for value in rec.values():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    assert "<" not in text and ">" not in text and '"' not in text


def test_every_text_field_is_escaped_in_records(hostile_html):
    recs = _script_data(hostile_html)
    by_name = {r["n"]: r for r in recs}
    legal = by_name["&lt;script&gt;alert(1)&lt;/script&gt;"]
    assert legal["a"] == "&quot; onmouseover=&quot;alert(2)&quot; x=&quot;"
    assert legal["op"] == "&lt;img src=x onerror=alert(4)&gt;"
    assert legal["p"] == "javascript:alert(3)"  # shown as text ...
    assert "pt" not in legal  # ... and never made into a link
    assert legal["fo"] == ["&lt;script&gt;alert(1)&lt;/script&gt;", "javascript:alert(3)"]
    assert legal["src"] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert legal["lh"] == "&lt;img src=x onerror=alert(4)&gt;"
    truck = by_name["&quot; onmouseover=&quot;alert(2)&quot; x=&quot;"]
    assert truck["f"] == ["shower"]  # only vocabulary codes are looked up as labels
    assert truck["fo"] == ["&lt;img src=x onerror=alert(4)&gt;"]
    odd = by_name["&lt;img src=x onerror=alert(4)&gt;"]
    assert odd["st"] == "unknown"  # a status outside the vocabulary never becomes a CSS class
    assert odd["id"] == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_tooltips_use_the_escaped_name():
    # Leaflet puts tooltip strings into innerHTML; the map binds r.n, which is escaped.
    script = (VENDOR_DIR.parent / "gd" / "gd-map.js").read_text(encoding="utf-8")
    assert "m.bindTooltip(r.n || ''" in script
    assert "innerHTML" not in script.replace("a.innerHTML = text", "")  # control icons are our own SVG


def test_stylesheets_use_the_colours_of_the_python_side():
    # The static stylesheets repeat a few colours the maps also send as data.
    from geo.web.maps.coverage import GAP_COLOUR
    from geo.web.maps.pins import KIND_STYLES
    from geo.web.maps.siting import NEW_COVER_COLOUR

    css = {name: (VENDOR_DIR.parent / "gd" / f"gd-{name}.css").read_text(encoding="utf-8")
           for name in ("map", "coverage", "siting")}
    for code, st in KIND_STYLES.items():
        rgb = ",".join(str(int(st["color"][i:i + 2], 16)) for i in (1, 3, 5))
        assert f".marker-cluster.gd-cluster-{code}{{background:rgba({rgb},.35);}}" in css["map"]
        assert f".marker-cluster.gd-cluster-{code} div{{background:{st['color']};color:{st['ink']};}}" in css["map"]
    assert f"border:2px dashed {GAP_COLOUR};" in css["coverage"]
    assert f".gd-legend .st-new{{background:{NEW_COVER_COLOUR};}}" in css["siting"]


def test_phone_link_only_for_plain_numbers():
    page = _render(_stations([{"phone": "020-8888 1234"}, {"phone": "tel:+86 20;alert(1)"}]))
    recs = _script_data(page)
    assert recs[0]["pt"] == "02088881234"
    assert all(ch.isdigit() or ch == "+" for ch in recs[1].get("pt", ""))


def test_one_layer_per_kind_with_labels():
    gdf = _stations([{"kind": k} for k in schema.KINDS for _ in range(2)])
    m = registry_map(gdf, at=AT, lang="en")
    page = m.get_root().render()
    layers = _layers(page)
    assert sorted(layer["kind"] for layer in layers) == sorted(schema.KINDS)
    assert all(layer["n"] == 2 and len(layer["rows"]) == 2 for layer in layers)
    groups = [c for c in m._children.values() if type(c).__name__ == "FeatureGroup"]
    assert len(groups) == len(schema.KINDS)
    for group, code in zip(groups, schema.KINDS):
        assert group.control and group.overlay
        assert f"{i18n.kind_label(code, 'en')} (2)" in group.layer_name
    assert "L.control.layers(" in page


def test_layers_only_for_kinds_present():
    page = _render(_stations([{"kind": "driver_home"}]))
    assert [layer["kind"] for layer in _layers(page)] == ["driver_home"]


def test_legend_present_and_bilingual():
    zh, en = legend_html("zh"), legend_html("en")
    for code, kind in schema.KINDS.items():
        assert kind.zh in zh and kind.en in en
    assert "图例" in zh and "Legend" in en
    page = _render(_stations([{}]), lang="en")
    assert "gd-legend" in page and "Legend" in page


def test_sample_tag_and_ring():
    page = _render(_stations([{"is_sample": True}, {"is_sample": False}]))
    recs = _script_data(page)
    assert [r.get("x", 0) for r in recs] == [1, 0]
    assert "示例数据 / sample data" in page
    assert "gd-sample" in page


def test_open_now_and_status():
    gdf = _stations([
        {"opening_hours": "每天 8:00-18:00", "opening_hours_osm": "Mo-Su 08:00-18:00"},
        {"opening_hours": "每天 20:00-22:00", "opening_hours_osm": "Mo-Su 20:00-22:00"},
        {"opening_hours": "看情况", "opening_hours_osm": ""},
        {"status": "closed"},
    ])
    recs = _script_data(_render(gdf))
    assert [r.get("o") for r in recs] == [1, 0, None, 0]
    assert [r.get("i", 0) for r in recs] == [0, 0, 0, 1]
    assert recs[3]["st"] == "closed"


def test_offline_assets_are_vendored_and_local():
    page = _render(_stations([{}]))
    scripts = re.findall(r'<script src="([^"]+)"', page)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert scripts and styles
    for url in scripts + styles:
        assert not url.startswith(("http:", "https:", "//")), url
        path = VENDOR_DIR / url.split("/vendor/", 1)[1]
        assert path.is_file(), path
    # No jQuery, Bootstrap or Font Awesome: nothing in the map needs them.
    assert "jquery" not in page.lower() and "bootstrap" not in page.lower()
    for lic in ("leaflet-1.9.4/LICENSE", "leaflet.markercluster-1.5.3/MIT-LICENCE.txt",
                "supercluster-9.1.0/LICENSE"):
        assert (VENDOR_DIR / lic).is_file()


def test_folium_class_defaults_untouched():
    import folium

    _render(_stations([{}]))
    assert any("cdn" in url for _, url in folium.Map.default_js)


@pytest.mark.parametrize("basemap", BASEMAPS)
def test_basemaps(basemap):
    page = _render(_stations([{}]), basemap=basemap)
    hosts = {"osm": "tile.openstreetmap.org", "carto": "basemaps.cartocdn.com", "amap": "is.autonavi.com"}
    # One basemap per map, chosen on the page: switching between WGS-84 and
    # GCJ-02 tiles inside one map would leave everything drawn 600 m off.
    assert [h for h in hosts.values() if h in page] == [hosts[basemap]]
    expected = "GdGcj02" if basemap == "amap" else "EPSG3857"
    assert f"crs: L.CRS.{expected}," in page
    assert basemap_crs(basemap) == ("gcj02" if basemap == "amap" else "wgs84")
    # Whatever the basemap, the data drawn on it stay WGS-84: the display CRS shifts them.
    lat, lon, _ = _points(_layers(page)[0])[0]
    assert (lat, lon) == (23.1, 113.3)


def test_every_map_has_scale_locate_full_screen_and_offline_notice():
    page = _render(_stations([{}]), lang="en")
    assert "window.gdMapControls(" in page
    for text in ("Show my location", "Full screen", "Basemap unreachable"):
        assert text in page
    script = (VENDOR_DIR.parent / "gd" / "gd-map.js").read_text(encoding="utf-8")
    for call in ("L.control.scale(", "map.locate(", "requestFullscreen()", "'tileerror'"):
        assert call in script


def test_popups_fetched_on_demand_ship_only_positions():
    gdf = _stations([{"kind": "rest_station"}, {"kind": "legal_aid", "status": "closed", "is_sample": True}])
    page = _render(gdf, details_url="../../api/v1/stations/")
    layers = {layer["kind"]: layer for layer in _layers(page)}
    assert layers["rest_station"]["rows"] is None and layers["rest_station"]["ids"] == ["RS-0000000000"]
    assert layers["legal_aid"]["url"] == "../../api/v1/stations/"
    assert _points(layers["legal_aid"]) == [(23.11, 113.31, 3)]  # not open and sample
    # Names, addresses and hours stay on the server until a popup asks.
    for text in ("驿站0", "体育西路", "8:00-18:00"):
        assert text not in page


def test_station_bounds():
    gdf = _stations([{}, {}, {"lon": None, "lat": None}])
    gdf.loc[2, "geometry"] = None
    (south, west), (north, east) = station_bounds(gdf)
    assert (south, west, north, east) == pytest.approx((23.1, 113.3, 23.11, 113.31))
    assert station_bounds(gdf.iloc[0:0]) is None


def test_empty_registry_still_renders():
    page = _render(_stations([]).iloc[0:0])
    assert "L.map(" in page and "L.gdStations(" not in page


def test_boundaries_drawn_without_properties():
    from shapely.geometry import LineString

    lines = gpd.GeoDataFrame({"level": ["province"]},
                             geometry=[LineString([(113, 23), (114, 24)])], crs="EPSG:4326")
    page = _render(_stations([{}]), boundaries=lines)
    assert "L.geoJSON(" in page and '"level":"province"' in page


def test_i18n_tables_complete():
    for key in i18n.keys():
        zh, en = i18n.t(key, "zh"), i18n.t(key, "en")
        assert zh and en
    assert i18n.t("app_title", "en") == "Guangdong Worker Service Map"
    assert i18n.t("app_title", "xx") == i18n.t("app_title", "zh")
    assert i18n.t("shown_count", "en", shown=1, total=2) == "Showing 1 of 2 stations in the registry"
    with pytest.raises(KeyError):
        i18n.t("no_such_key")


def test_i18n_labels_from_schema():
    assert i18n.kind_label("driver_home", "zh") == "司机之家"
    assert i18n.kind_label("driver_home", "en") == "Driver home"
    assert i18n.facility_label("toilet", "en", icon=True) == "🚻 Toilet"
    assert i18n.status_label("temporarily_closed", "zh") == "暂停开放"
    assert i18n.field_label("lat", "en") == "Latitude (WGS-84)"
    assert i18n.field_label("lonlat", "zh") == "经纬度（同一列）"
    assert i18n.kind_label("mystery", "en") == "mystery"
    assert i18n.normalize_lang(["EN"]) == "en" and i18n.normalize_lang("en-US") == "en"
    assert i18n.normalize_lang(None) == "zh" and i18n.normalize_lang("fr") == "zh"
    assert i18n.pick("中文 / English", "en") == "English" and i18n.pick("中文 / English") == "中文"
    assert i18n.pick("a / b / c", "en") == "a / b / c"
