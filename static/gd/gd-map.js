/*
 * The project's own map code, loaded after Leaflet by every map
 * (geo/web/maps/base.py). Kept in a static file so the browser caches it
 * and every rerun of a page ships only data; the overlays drawn from that
 * data are in gd-layers.js, the styles in gd-map.css.
 *
 * - GdCoord: WGS-84 <-> GCJ-02, the same formulas as geo/core/crs.py
 *   (tested against it on the 3,191-point oracle in Chromium).
 * - L.CRS.GdGcj02: Web Mercator of GCJ-02 coordinates. Over Amap tiles
 *   the map uses this CRS: every point, line and polygon, which all stay
 *   in WGS-84 in the data, is shifted to GCJ-02 when it is drawn, and
 *   clicks and located positions come back as WGS-84.
 * - gdMapSetup: the station popup builder and pin icons, from the labels
 *   of the page's language.
 * - L.GdStations: one kind of station, clustered with Supercluster and
 *   drawn only where the map looks, so 20,000 stations cost a few hundred
 *   markers. Popups are built when opened, from inline rows or fetched
 *   from the app's API.
 * - gdMapControls: scale bar, locate-me, full screen and the notice shown
 *   when no basemap tile loads (offline).
 */
(function (root) {
  'use strict';

  // ------------------------------------------------------------------ GCJ-02
  var A = 6378245.0;
  var EE = 0.00669342162296594323;
  var PI = Math.PI;

  function outOfChina(lon, lat) {
    return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
  }

  function delta(lon, lat) {
    var x = lon - 105.0, y = lat - 35.0;
    var sx = Math.sqrt(Math.abs(x));
    var common = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common +
      (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0 +
      (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common +
      (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0 +
      (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var radlat = lat / 180.0 * PI;
    var magic = 1.0 - EE * Math.sin(radlat) * Math.sin(radlat);
    var sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrtmagic) * PI);
    dlon = (dlon * 180.0) / (A / sqrtmagic * Math.cos(radlat) * PI);
    return [dlon, dlat];
  }

  function wgsToGcj(lon, lat) {
    if (outOfChina(lon, lat)) { return [lon, lat]; }
    var d = delta(lon, lat);
    return [lon + d[0], lat + d[1]];
  }

  // Fixed-point inverse, as geo/core/crs.py: the shift is a small smooth
  // perturbation, so a few rounds reach 1e-10 degrees.
  function gcjToWgs(lon, lat) {
    var wl = lon, wb = lat;
    for (var i = 0; i < 30; i++) {
      var f = wgsToGcj(wl, wb);
      var el = f[0] - lon, eb = f[1] - lat;
      wl -= el; wb -= eb;
      if (Math.abs(el) < 1e-10 && Math.abs(eb) < 1e-10) { break; }
    }
    return [wl, wb];
  }

  root.GdCoord = {wgsToGcj: wgsToGcj, gcjToWgs: gcjToWgs, outOfChina: outOfChina};

  var L = root.L;
  if (!L) { return; }  // node, for the tests of GdCoord

  // ------------------------------------------------------------------- CRS
  var merc = L.Projection.SphericalMercator;
  L.Projection.GdGcj02 = {
    bounds: merc.bounds,
    project: function (ll) {
      var g = wgsToGcj(ll.lng, ll.lat);
      return merc.project(L.latLng(g[1], g[0]));
    },
    unproject: function (point) {
      var g = merc.unproject(point);
      var w = gcjToWgs(g.lng, g.lat);
      return L.latLng(w[1], w[0]);
    }
  };
  L.CRS.GdGcj02 = L.extend({}, L.CRS.EPSG3857, {code: 'GD:GCJ02', projection: L.Projection.GdGcj02});

  // ------------------------------------------------------------------ setup
  // labels: {kinds, facilities, statuses, pins, sample, status, open_now, ...}
  // from geo.web.maps.base.MapSetup, every text HTML-escaped in Python.
  root.gdMapSetup = function (labels) {
    function row(label, value) {
      return value ? '<tr><th>' + label + '</th><td>' + value + '</td></tr>' : '';
    }
    // r holds strings already HTML-escaped in Python (geo.web.maps.records);
    // only codes checked against a fixed list are used in class names.
    root.gdStationPopup = function (r, kind) {
      var k = labels.kinds[kind] || {label: kind, color: '#777'};
      var h = '<div class="gd-popup">';
      h += '<div class="gd-popup-title">' + (r.n || '') + '</div>';
      if (r.x) { h += '<div class="gd-sample-tag">' + labels.sample + '</div>'; }
      h += '<div class="gd-popup-kind">' + k.label + (r.s ? ' · ' + r.s : '') + '</div>';
      h += '<table>';
      h += row(labels.status, '<span class="gd-status gd-status-' + r.st + '">' +
                              (labels.statuses[r.st] || r.st) + '</span>');
      var open = r.o === 1 ? ['yes', labels.open_yes] : (r.o === 0 ? ['no', labels.open_no]
                                                                   : ['unknown', labels.open_unknown]);
      h += row(labels.open_now, '<span class="gd-open-' + open[0] + '">' + open[1] + '</span>');
      h += row(labels.hours, r.h);
      h += row(labels.address, r.a);
      h += row(labels.phone, r.p ? (r.pt ? '<a href="tel:' + r.pt + '">' + r.p + '</a>' : r.p) : '');
      h += row(labels.operator, r.op);
      h += row(labels.lawyer_hours, r.lh);
      h += row(labels.truck_spaces, r.tp);
      var fac = (r.f || []).map(function (c) { return '<li>' + (labels.facilities[c] || c) + '</li>'; });
      (r.fo || []).forEach(function (s) { fac.push('<li>' + s + '</li>'); });
      if (fac.length) { h += row(labels.facilities_title, '<ul class="gd-facilities">' + fac.join('') + '</ul>'); }
      h += '</table>';
      var foot = [];
      if (r.v) { foot.push(labels.verified + ' ' + r.v); }
      if (r.src) { foot.push(labels.source + ' ' + r.src); }
      if (r.id) { foot.push(labels.id + ' ' + r.id); }
      if (foot.length) { h += '<div class="gd-popup-foot">' + foot.join(' · ') + '</div>'; }
      return h + '</div>';
    };
    root.gdIcons = {};
    root.gdIcon = function (kind, inactive, sample) {
      var key = kind + (inactive ? ':i' : '') + (sample ? ':s' : '');
      if (!root.gdIcons[key]) {
        var pin = (labels.pins[kind] || labels.pins._)[(inactive ? 1 : 0) + (sample ? 2 : 0)];
        var size = kind === 'legal_aid' ? 26 : 22;
        root.gdIcons[key] = L.divIcon({html: pin, className: 'gd-marker',
          iconSize: [size, size], iconAnchor: [size / 2, size / 2],
          popupAnchor: [0, -size / 2], tooltipAnchor: [0, -size / 2]});
      }
      return root.gdIcons[key];
    };
    return labels;
  };

  // --------------------------------------------------------------- stations
  function decode(b64, Type) {
    var bin = root.atob(b64 || '');
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return new Type(bytes.buffer);
  }

  L.GdStations = L.Layer.extend({
    // d: {kind, n, pts: base64 Int32 [lat*1e6, lon*1e6]..., fl: base64 Uint8
    //     flags (1 not open, 2 sample), rows: inline popup records or null,
    //     ids: station ids for fetched popups or null, url: API base}
    initialize: function (d) {
      this._d = d;
      var pts = decode(d.pts, Int32Array);
      this._flags = decode(d.fl, Uint8Array);
      var features = new Array(d.n);
      for (var i = 0; i < d.n; i++) {
        features[i] = {type: 'Feature', properties: {i: i},
                       geometry: {type: 'Point', coordinates: [pts[2 * i + 1] / 1e6, pts[2 * i] / 1e6]}};
      }
      this._index = new root.Supercluster({radius: 60, maxZoom: 16, minPoints: 3}).load(features);
    },

    onAdd: function (map) {
      this._group = L.layerGroup().addTo(map);
      map.on('moveend', this._draw, this);
      this._draw();
    },

    onRemove: function (map) {
      map.off('moveend', this._draw, this);
      map.removeLayer(this._group);
    },

    _draw: function () {
      var map = this._map;
      if (!map) { return; }
      var b = map.getBounds().pad(0.25);
      var z = Math.floor(map.getZoom());
      var items = this._index.getClusters([Math.max(-180, b.getWest()), Math.max(-85, b.getSouth()),
                                           Math.min(180, b.getEast()), Math.min(85, b.getNorth())], z);
      var group = this._group;
      group.clearLayers();
      for (var k = 0; k < items.length; k++) {
        var f = items[k], c = f.geometry.coordinates;
        group.addLayer(f.properties.cluster ? this._cluster(f, c) : this._point(f.properties.i, c));
      }
    },

    _cluster: function (f, c) {
      var n = f.properties.point_count, kind = this._d.kind, index = this._index, map = this._map;
      var size = n < 10 ? 'small' : (n < 100 ? 'medium' : 'large');
      var label = (this._d.label || '') + ' ' + n;
      var m = L.marker([c[1], c[0]], {
        icon: L.divIcon({html: '<div><span>' + n + '</span></div>', iconSize: L.point(40, 40),
                         className: 'marker-cluster gd-cluster gd-cluster-' + kind + ' marker-cluster-' + size}),
        title: label, alt: label, keyboard: true, riseOnHover: true
      });
      m.on('click keypress', function () {
        var zoom = Math.min(index.getClusterExpansionZoom(f.properties.cluster_id), map.getMaxZoom());
        map.setView([c[1], c[0]], zoom);
      });
      return m;
    },

    _point: function (i, c) {
      var d = this._d, kind = d.kind, fl = this._flags[i];
      var m = L.marker([c[1], c[0]], {icon: root.gdIcon(kind, (fl & 1) === 1, (fl & 2) === 2),
                                       title: d.label || '', alt: d.label || '', keyboard: true});
      if (d.rows) {
        var r = d.rows[i];
        m.bindTooltip(r.n || '', {direction: 'top'});
        m.bindPopup(function () { return root.gdStationPopup(r, kind); }, {maxWidth: 300, autoPanPadding: [20, 20]});
      } else {
        m.bindPopup(d.loading || '…', {maxWidth: 300, autoPanPadding: [20, 20]});
        m.on('popupopen', function (e) {
          var popup = e.popup;
          if (popup._gdLoaded) { return; }
          root.fetch(d.url + encodeURIComponent(d.ids[i]) + '/popup', {credentials: 'same-origin'})
            .then(function (resp) { if (!resp.ok) { throw new Error(resp.status); } return resp.json(); })
            .then(function (r) { popup._gdLoaded = true; popup.setContent(root.gdStationPopup(r, kind)); })
            .catch(function () { popup.setContent(d.failed || '!'); });
        });
      }
      return m;
    }
  });

  L.gdStations = function (d) { return new L.GdStations(d); };

  // --------------------------------------------------------------- controls
  function button(bar, text, title, onClick) {
    var a = L.DomUtil.create('a', 'gd-ctl-btn', bar);
    a.href = '#';
    a.setAttribute('role', 'button');
    a.title = title;
    a.setAttribute('aria-label', title);
    a.innerHTML = text;
    L.DomEvent.on(a, 'click', function (e) { L.DomEvent.preventDefault(e); onClick(a); });
    return a;
  }

  function notice(map, position) {
    var ctl = L.control({position: position});
    ctl.onAdd = function () {
      var div = L.DomUtil.create('div', 'gd-notice');
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    ctl.addTo(map);
    var el = ctl.getContainer();
    el.style.display = 'none';
    // A fitted view makes room for the notice (L.gdFitBounds listens).
    var shown = false;
    var set = function (on) { if (on !== shown) { shown = on; map.fire('gdoverlaychange'); } };
    return {
      show: function (text) { el.textContent = text; el.style.display = ''; set(true); },
      hide: function () { el.style.display = 'none'; set(false); }
    };
  }

  function titled(el, text) {
    if (el && text) { el.title = text; el.setAttribute('aria-label', text); }
  }

  // Leaflet writes "Layers" into the layer switch when it is added (after
  // these controls, by st_folium): name it in the map's language then.
  if (L.Control.Layers && !L.Control.Layers.prototype._gdTitled) {
    var initLayout = L.Control.Layers.prototype._initLayout;
    L.Control.Layers.prototype._initLayout = function () {
      initLayout.apply(this, arguments);
      var labels = this._map && this._map._gdLabels;
      if (labels) { titled(this._layersLink, labels.layers); }
    };
    L.Control.Layers.prototype._gdTitled = true;
  }

  // labels: {scale, locate, locating, locate_failed, full_screen, offline, zoom_in, zoom_out, layers}
  // (plain text, set with textContent or as attributes, never as HTML).
  root.gdMapControls = function (map, tiles, labels) {
    map._gdLabels = labels;
    // Leaflet's own controls carry English titles ("Zoom in", "Layers").
    if (map.zoomControl) {
      titled(map.zoomControl._zoomInButton, labels.zoom_in);
      titled(map.zoomControl._zoomOutButton, labels.zoom_out);
    }
    var links = map.getContainer().querySelectorAll('.leaflet-control-layers-toggle');
    for (var i = 0; i < links.length; i++) { titled(links[i], labels.layers); }
    L.control.scale({imperial: false, position: 'bottomright'}).addTo(map);

    var status = notice(map, 'bottomright');
    var bar = L.DomUtil.create('div', 'leaflet-bar gd-ctl');
    var ctl = L.control({position: 'topleft'});
    ctl.onAdd = function () { return bar; };
    ctl.addTo(map);
    L.DomEvent.disableClickPropagation(bar);

    var here = L.layerGroup().addTo(map);
    button(bar, '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><circle cx="12" cy="12" r="4" ' +
           'fill="currentColor"/><path d="M12 2v4M12 18v4M2 12h4M18 12h4" stroke="currentColor" stroke-width="2"/>' +
           '<circle cx="12" cy="12" r="7.5" fill="none" stroke="currentColor" stroke-width="2"/></svg>',
           labels.locate, function () {
      status.show(labels.locating);
      // Only the browser sees the position: it is drawn here and sent nowhere.
      map.locate({setView: true, maxZoom: 16, enableHighAccuracy: true, timeout: 15000});
    });
    map.on('locationfound', function (e) {
      status.hide();
      here.clearLayers();
      L.circle(e.latlng, {radius: e.accuracy, weight: 1, color: '#1a73e8', fillOpacity: 0.08,
                          interactive: false}).addTo(here);
      L.circleMarker(e.latlng, {radius: 7, weight: 3, color: '#ffffff', fillColor: '#1a73e8', fillOpacity: 1,
                                className: 'gd-located'}).addTo(here);
    });
    map.on('locationerror', function () { status.show(labels.locate_failed); });

    var box = map.getContainer();
    var fsTarget = box.requestFullscreen ? box : null;
    if (fsTarget && root.document.fullscreenEnabled !== false) {
      button(bar, '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M4 9V4h5M15 4h5v5' +
             'M20 15v5h-5M9 20H4v-5" fill="none" stroke="currentColor" stroke-width="2.2"/></svg>',
             labels.full_screen, function () {
        if (root.document.fullscreenElement) { root.document.exitFullscreen(); } else { fsTarget.requestFullscreen(); }
      });
      root.document.addEventListener('fullscreenchange', function () { map.invalidateSize(); });
    }

    // Offline, or a tile server blocked: say so and show a plain background;
    // boundaries and stations are drawn either way.
    if (tiles) {
      var loaded = 0, failed = 0, offline = notice(map, 'topright');
      tiles.on('tileload', function () {
        loaded += 1;
        L.DomUtil.removeClass(box, 'gd-no-tiles');
        offline.hide();
      });
      tiles.on('tileerror', function () {
        failed += 1;
        if (!loaded && failed >= 2) {
          L.DomUtil.addClass(box, 'gd-no-tiles');
          offline.show(labels.offline);
        }
      });
    }
  };
})(typeof window !== 'undefined' ? window : globalThis);
