/*
 * The worker page (/finder): where is the nearest rest station, and how do I get there.
 *
 * Plain ES2017 for the Android WebView of WeChat's browser. Leaflet and
 * gd-map.js (GCJ-02 shift of Amap tiles, GdCoord) are preloaded by the page
 * and run from here once a shared link's lookup is on its way: on a slow
 * phone their parse time then overlaps the request instead of preceding it.
 * Settings and strings come from <html data-config> (geo/web/worker_page.py).
 *
 * - State lives in the URL (lon, lat, place, kind, fac, open, mode, by, sel,
 *   lang), so a link reopens the same answer. A position from the browser's
 *   location is rounded there (config.located_digits, about 100 m) and has no
 *   place label; the lookup itself uses the exact fix, kept in memory only.
 * - Lookups go to /api/v1/nearest. Offline (or when the API cannot be
 *   reached) the page answers from the public stations around the last
 *   lookup that the service worker saved (/api/v1/stations?bbox=…) with
 *   straight-line estimates, labelled as such.
 * - Everything from data is set as text (textContent), never as HTML.
 * - After each render of the cards it dispatches "gd:cards" with
 *   {cards: [{id, element}]} for static/finder/report.js.
 */
(function () {
  'use strict';

  var doc = document;
  var CFG = JSON.parse(doc.documentElement.getAttribute('data-config') || '{}');
  var KINDS = ['rest_station', 'driver_home', 'legal_aid', 'all'];
  var MODES = ['walk', 'ebike', 'drive', 'truck'];
  var MODE_ICONS = {walk: '🚶', ebike: '🛵', drive: '🚗', truck: '🚚'};
  var BYS = ['time', 'distance'];
  var K = 5;
  var URL_DIGITS = 6;  // 0.1 m: what the user typed, tapped or shared stays where it was
  var TAP_MIN_ZOOM = 13;  // ~18 m a pixel in Guangdong: a fingertip is a few hundred metres, not kilometres
  var TILES = 'https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}';

  var params = new URLSearchParams(location.search);
  var lang = params.get('lang') === 'en' ? 'en' : 'zh';
  var LI = lang === 'en' ? 1 : 0;

  function t(key, fmt) {
    var pair = CFG.strings && CFG.strings[key];
    var s = pair ? pair[LI] : key;
    if (fmt) {
      s = s.replace(/\{(\w+)\}/g, function (m, k) { return Object.prototype.hasOwnProperty.call(fmt, k) ? String(fmt[k]) : m; });
    }
    return s;
  }
  function kindLabel(code) { return code === 'all' ? t('fd_kind_all') : (CFG.kinds[code] || [code, code])[LI]; }
  // A place search result's kind (Place.kind of /api/v1/places) as a word; a
  // kind this script has no label for says "place", never the raw code.
  function placeKindLabel(code) {
    var own = Object.prototype.hasOwnProperty;
    if (own.call(CFG.kinds, code)) { return kindLabel(code); }
    return t(own.call(CFG.strings || {}, 'fd_pk_' + code) ? 'fd_pk_' + code : 'fd_pk_other');
  }
  function facLabel(code) { return (CFG.facilities[code] || [code, code])[LI]; }
  function modeLabel(mode) { return MODE_ICONS[mode] + ' ' + t('fd_mode_' + mode); }
  function $(id) { return doc.getElementById(id); }
  function el(tag, cls, text) {
    var e = doc.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function num(v) { var x = parseFloat(v); return isFinite(x) ? x : null; }
  function round(x, d) { var f = Math.pow(10, d); return Math.round(x * f) / f; }
  function choice(v, allowed, dflt) { return allowed.indexOf(v) >= 0 ? v : dflt; }

  // ------------------------------------------------------------------ state
  var state = {
    lonText: null, latText: null, lon: null, lat: null, place: (params.get('place') || '').slice(0, 60),
    exact: null, located: false, accuracy: null,
    kind: choice(params.get('kind'), KINDS, 'rest_station'),
    fac: (params.get('fac') || '').split(',').filter(function (c) { return CFG.facilities[c]; }),
    open: params.get('open') !== '0',
    mode: choice(params.get('mode'), MODES, CFG.mode || 'ebike'),
    by: choice(params.get('by'), BYS, 'time'),
    sel: params.get('sel') || null
  };
  (function () {
    var lon = num(params.get('lon')), lat = num(params.get('lat'));
    if (lon !== null && lat !== null) {
      state.lon = lon; state.lat = lat;
      state.lonText = params.get('lon').trim(); state.latText = params.get('lat').trim();
    } else {
      state.place = '';
    }
  })();

  function setOrigin(lon, lat, place, opts) {
    opts = opts || {};
    state.located = !!opts.located;
    state.exact = opts.located ? [lon, lat] : null;
    state.accuracy = opts.accuracy || null;
    var digits = opts.located ? CFG.located_digits : URL_DIGITS;
    state.lon = round(lon, digits); state.lat = round(lat, digits);
    // Typed WGS-84 coordinates keep the user's own digits.
    state.lonText = opts.lonText || state.lon.toFixed(digits).replace(/\.?0+$/, '');
    state.latText = opts.latText || state.lat.toFixed(digits).replace(/\.?0+$/, '');
    state.place = opts.located ? '' : String(place || '').slice(0, 60);
    state.sel = null;
  }

  function query(withLang) {
    var q = new URLSearchParams();
    if (state.lon !== null) {
      q.set('lon', state.lonText); q.set('lat', state.latText);
      if (state.place && !state.located) { q.set('place', state.place); }
    }
    if (state.kind !== 'rest_station') { q.set('kind', state.kind); }
    if (state.fac.length) { q.set('fac', state.fac.join(',')); }
    if (!state.open) { q.set('open', '0'); }
    if (state.mode !== (CFG.mode || 'ebike')) { q.set('mode', state.mode); }
    if (state.by !== 'time') { q.set('by', state.by); }
    if (state.sel) { q.set('sel', state.sel); }
    if (withLang) { q.set('lang', withLang); }
    return q;
  }

  function syncUrl() {
    var q = query(lang === 'en' ? 'en' : null).toString();
    history.replaceState(null, '', '/finder' + (q ? '?' + q : ''));
    $('lang').setAttribute('href', '/finder?' + query(lang === 'en' ? null : 'en').toString());
    $('summary').textContent = summary();
  }

  function summary() {
    var parts = [kindLabel(state.kind), modeLabel(state.mode), t('fd_by_' + state.by)];
    if (state.open) { parts.push(t('fd_open_now')); }
    if (state.fac.length) { parts.push(t('fd_n_facilities', {n: state.fac.length})); }
    return parts.join(' · ');
  }

  function originText() {
    var lon = state.exact ? state.exact[0] : state.lon, lat = state.exact ? state.exact[1] : state.lat;
    var coords = '(' + lon.toFixed(5) + ', ' + lat.toFixed(5) + ')';
    var place = state.located ? t('fd_place_gps', {acc: Math.round(state.accuracy || 0)}) : state.place;
    return t('fd_origin', {place: place ? place + ' ' + coords : coords});
  }

  function status(text, isError) {
    var s = $('status');
    s.textContent = text || '';
    s.className = 'status' + (isError ? ' error' : '');
  }

  // --------------------------------------------------------------- coordinates
  var X_PI = Math.PI * 3000.0 / 180.0;
  function gcjToBd(lon, lat) {
    var z = Math.sqrt(lon * lon + lat * lat) + 0.00002 * Math.sin(lat * X_PI);
    var th = Math.atan2(lat, lon) + 0.000003 * Math.cos(lon * X_PI);
    return [z * Math.cos(th) + 0.0065, z * Math.sin(th) + 0.006];
  }
  function bdToGcj(lon, lat) {  // fixed-point inverse of Baidu's formula, as geo/core/crs.py
    var x = lon, y = lat;
    for (var i = 0; i < 50; i++) {
      var f = gcjToBd(x, y), ex = f[0] - lon, ey = f[1] - lat;
      x -= ex; y -= ey;
      if (Math.abs(ex) < 1e-10 && Math.abs(ey) < 1e-10) { break; }
    }
    return [x, y];
  }
  function toWgs(lon, lat, crs) {
    if (crs === 'gcj02') { return GdCoord.gcjToWgs(lon, lat); }
    if (crs === 'bd09') { var g = bdToGcj(lon, lat); return GdCoord.gcjToWgs(g[0], g[1]); }
    return [lon, lat];
  }

  /** "114.0635，22.5460" (Amap's copy), "22.5,114.0" (latitude first), "114.06 22.54": [lon, lat, texts] or null. */
  function parseCoords(text) {
    var m = String(text).trim().match(/^(-?\d{1,3}(?:\.\d+)?)\s*[,，;；\s]\s*(-?\d{1,3}(?:\.\d+)?)$/);
    if (!m) { return null; }
    var a = parseFloat(m[1]), b = parseFloat(m[2]);
    if (Math.abs(a) <= 90 && Math.abs(b) > 90) { return {lon: b, lat: a, lonText: m[2], latText: m[1], swapped: true}; }
    if (Math.abs(a) > 180 || Math.abs(b) > 90) { return null; }
    return {lon: a, lat: b, lonText: m[1], latText: m[2], swapped: false};
  }

  // ------------------------------------------------------------------ hand-off
  // The links of geo/routing/handoff.py: Amap and Apple in GCJ-02, Baidu in BD-09.
  var AMAP_MODES = {walk: 'walk', ebike: 'ride', drive: 'car', truck: 'car'};
  var BAIDU_MODES = {walk: 'walking', ebike: 'riding', drive: 'driving', truck: 'driving'};
  var APPLE_MODES = {walk: 'w', ebike: 'w', drive: 'd', truck: 'd'};
  function label(name, fallback) {
    var s = String(name || '').split(/\s+/).filter(Boolean).join(' ') || fallback;
    s = s.replace(/,/g, '，').replace(/\|/g, '｜').replace(/:/g, '：');
    return encodeURIComponent(s).replace(/[!'()*]/g, function (c) { return '%' + c.charCodeAt(0).toString(16).toUpperCase(); });
  }
  function f6(v) { return v.toFixed(6); }
  function handoff(r, origin, originName) {
    var g = GdCoord.wgsToGcj(r.lon, r.lat), b = gcjToBd(g[0], g[1]);
    var og = origin ? GdCoord.wgsToGcj(origin[0], origin[1]) : null;
    var ob = og ? gcjToBd(og[0], og[1]) : null;
    var src = CFG.handoff_source;
    var amap = (og ? 'from=' + f6(og[0]) + ',' + f6(og[1]) + ',' + label(originName, '起点') + '&' : '') +
      'to=' + f6(g[0]) + ',' + f6(g[1]) + ',' + label(r.name, '终点') + '&mode=' + AMAP_MODES[state.mode] +
      '&coordinate=gaode&callnative=1&src=' + src;
    var baidu = (ob ? 'origin=latlng:' + f6(ob[1]) + ',' + f6(ob[0]) + '|name:' + label(originName, '起点') + '&' : '') +
      'destination=latlng:' + f6(b[1]) + ',' + f6(b[0]) + '|name:' + label(r.name, '终点') +
      '&mode=' + BAIDU_MODES[state.mode] + '&coord_type=bd09ll&output=html&src=' + src;
    var apple = (og ? 'saddr=' + f6(og[1]) + ',' + f6(og[0]) + '&' : '') + 'daddr=' + f6(g[1]) + ',' + f6(g[0]) +
      '&dirflg=' + APPLE_MODES[state.mode] + '&q=' + label(r.name, '终点');
    return {amap: 'https://uri.amap.com/navigation?' + amap, baidu: 'https://api.map.baidu.com/direction?' + baidu,
            apple: 'https://maps.apple.com/?' + apple};
  }

  // ------------------------------------------------------------------- the map
  var map = null, layer = null, shown = null;

  function loadScript(name) {
    var pre = doc.querySelector('link[rel=preload][href*="' + name + '"]');
    return new Promise(function (resolve, reject) {
      var s = doc.createElement('script');
      s.src = pre ? pre.href : name;
      s.onload = resolve;
      s.onerror = reject;
      doc.head.appendChild(s);
    });
  }
  var libs = loadScript('leaflet.js').then(function () { return loadScript('gd-map.js'); });

  function ll(c) { return L.latLng(c[1], c[0]); }
  function initMap() {
    map = L.map('map', {crs: L.CRS.GdGcj02, zoomSnap: 0.25, attributionControl: true, zoomControl: false})
      .fitBounds([[20.2, 109.6], [25.6, 117.4]]);
    // Leaflet's own zoom buttons are titled in English.
    L.control.zoom({zoomInTitle: t('map_zoom_in'), zoomOutTitle: t('map_zoom_out')}).addTo(map);
    // Plain-text credits: a link there would be a tap target far under 44 px.
    map.attributionControl.setPrefix('Leaflet');
    L.tileLayer(TILES, {subdomains: '1234', maxZoom: 18, attribution: '&copy; 高德地图 AutoNavi'}).addTo(map);
    layer = L.featureGroup().addTo(map);
    map.on('click', function (e) {
      var w = e.latlng;  // the GdGcj02 CRS gives clicks back in WGS-84
      // At province scale a fingertip covers kilometres (or open sea): zoom to
      // the tap and ask again rather than route from a point nobody meant.
      if (map.getZoom() < TAP_MIN_ZOOM) {
        map.setView(w, TAP_MIN_ZOOM);
        status(t('fd_zoom_to_tap'));
        return;
      }
      setOrigin(w.lng, w.lat, t('fd_place_map'));
      lookup();
    });
  }

  function pin(n, selected) {
    return L.divIcon({className: '', html: '<span class="pin' + (selected ? ' sel' : '') + '">' + (n | 0) + '</span>',
                      iconSize: [26, 26], iconAnchor: [13, 13]});
  }

  function draw(results, chosen) {
    shown = [results, chosen];
    if (!map) { return; }
    layer.clearLayers();
    var origin = state.exact || [state.lon, state.lat];
    var bounds = L.latLngBounds([ll(origin)]);
    L.circleMarker(ll(origin), {radius: 8, color: '#fff', weight: 3, fillColor: '#0d47a1', fillOpacity: 1})
      .bindTooltip(t('fd_origin_tip')).addTo(layer);
    results.forEach(function (r, i) {
      var m = L.marker(ll([r.lon, r.lat]), {icon: pin(i + 1, chosen && r.id === chosen.id), title: r.name,
                                             alt: r.name, keyboard: false});
      m.on('click', function () { select(r.id); });
      m.addTo(layer);
    });
    if (chosen) {
      bounds.extend(ll([chosen.lon, chosen.lat]));
      if (chosen.route) {
        var line = chosen.route.coordinates.map(ll);
        L.polyline(line, {color: '#b71c1c', weight: 5, opacity: 0.85, className: 'fd-road'}).addTo(layer);
        line.forEach(function (p) { bounds.extend(p); });
      }
      // The stretches off the road are walked: dashed, so nobody takes them for a road.
      [chosen.access, chosen.egress].forEach(function (g) {
        if (g && g.coordinates) {
          L.polyline(g.coordinates.map(ll), {color: '#0d47a1', weight: 4, dashArray: '4 8', className: 'fd-walk'})
            .addTo(layer);
        }
      });
    }
    map.fitBounds(bounds, {padding: [28, 28], maxZoom: 17});
  }

  // ------------------------------------------------------------------- cards
  var last = {results: [], offline: false};

  function km(m) { return m >= 1000 ? (m / 1000).toFixed(1) + ' km' : Math.round(m) + ' m'; }
  function minutes(s) { return t('fd_minutes', {n: Math.max(1, Math.round(s / 60))}); }

  function card(r, n, chosen, origin, originName) {
    var est = r.method !== 'network';
    var li = el('li', 'card' + (chosen ? ' selected' : ''));
    li.setAttribute('data-station-id', r.id);
    var h = el('h3');
    h.appendChild(el('span', 'num', n));
    h.appendChild(el('span', 'name', r.name));
    li.appendChild(h);
    var kind = el('div', 'meta', kindLabel(r.kind));
    var badge = r.open_now === true ? ['b-open', t('open_now_yes')] : r.open_now === false ?
      ['b-closed', t('open_now_no')] : ['b-unknown', t('fd_hours_unknown')];
    kind.appendChild(el('span', 'badge ' + badge[0], badge[1]));
    if (r.is_sample) { kind.appendChild(el('span', 'tag sample', t('sample_tag'))); }
    li.appendChild(kind);
    var figs = el('div', 'figs');
    var dist = el('span', 'fig', (est ? '≈ ' : '') + km(r.distance_m));
    var time = el('span', 'fig', (est ? '≈ ' : '') + minutes(r.duration_s) + ' ' + modeLabel(r.mode || state.mode));
    [dist, time].forEach(function (f) {
      if (est) { f.appendChild(el('span', 'est', r.label || CFG.estimate_label)); }
      figs.appendChild(f);
    });
    li.appendChild(figs);
    if (!est && (r.access_m || r.egress_m)) {
      li.appendChild(el('div', 'walk', t('fd_walk_parts', {a: km(r.access_m || 0), b: km(r.egress_m || 0)})));
    }
    if (r.road_names && r.road_names.length) {
      li.appendChild(el('div', 'roads', t('fd_via') + ' ' + r.road_names.join(' → ')));
    }
    if (r.facilities && r.facilities.length) {
      var ul = el('ul', 'facs');
      r.facilities.forEach(function (c) { ul.appendChild(el('li', null, facLabel(c))); });
      li.appendChild(ul);
    }
    var links = el('div', 'links');
    links.appendChild(el('span', 'muted small', t('fd_navigate')));
    var urls = handoff(r, origin, originName);
    [['amap', 'fd_amap'], ['baidu', 'fd_baidu'], ['apple', 'fd_apple']].forEach(function (p) {
      var a = el('a', 'btn handoff ' + p[0], t(p[1]));
      a.href = urls[p[0]]; a.target = '_blank'; a.rel = 'noopener noreferrer';
      links.appendChild(a);
    });
    if (!chosen) {
      var b = el('button', 'btn show', t(est ? 'fd_show_on_map' : 'fd_show_route'));
      b.type = 'button';
      b.addEventListener('click', function () { select(r.id); });
      links.appendChild(b);
    }
    li.appendChild(links);
    return li;
  }

  function render(results, offline) {
    last = {results: results, offline: offline};
    var chosen = null;
    results.forEach(function (r) { if (r.id === state.sel) { chosen = r; } });
    chosen = chosen || results[0] || null;
    var origin = state.exact || [state.lon, state.lat];
    var originName = state.place || t('fd_start');
    var list = $('cards');
    list.textContent = '';
    var cards = results.map(function (r, i) {
      var c = card(r, i + 1, chosen && r.id === chosen.id, origin, originName);
      list.appendChild(c);
      return {id: r.id, element: c};
    });
    var sample = $('sample');
    sample.hidden = !results.some(function (r) { return r.is_sample; });
    sample.textContent = sample.hidden ? '' : t('sample_banner');
    var note = $('note');
    var estimates = results.some(function (r) { return r.method !== 'network'; });
    note.hidden = !(offline || estimates || !results.length);
    note.textContent = offline ? t('fd_offline') : !results.length ? t('fd_no_results') :
      estimates ? (results[0].note || t('fd_map_estimate')) : '';
    status(originText());
    // The map is drawn after the cards are painted: the card is what the rider waits for.
    requestAnimationFrame(function () { setTimeout(function () { draw(results, chosen); }, 0); });
    doc.dispatchEvent(new CustomEvent('gd:cards', {detail: {cards: cards}}));
  }

  function select(id) {
    state.sel = id;
    syncUrl();
    render(last.results, last.offline);
  }

  // ------------------------------------------------------------------ lookups
  var seq = 0;

  function apiQuery(origin) {
    var q = new URLSearchParams({lon: String(origin[0]), lat: String(origin[1]), k: String(K), mode: state.mode,
                                 by: state.by, open: state.open ? '1' : '0'});
    if (state.kind !== 'all') { q.set('kind', state.kind); }
    if (state.fac.length) { q.set('facility', state.fac.join(',')); }
    return q;
  }

  function lookup() {
    if (state.lon === null) { return; }
    syncUrl();
    var mine = ++seq;
    var origin = state.exact || [state.lon, state.lat];
    status(t('fd_loading'));
    var answer = fetch('/api/v1/nearest?' + apiQuery(origin).toString(), {credentials: 'omit'})
      .then(function (resp) {
        return resp.json().then(function (body) { return {ok: resp.ok, body: body}; });
      });
    // The cards' hand-off links need GdCoord (gd-map.js), loading meanwhile.
    Promise.all([answer, libs]).then(function (both) { return both[0]; })
      .then(function (x) {
        if (mine !== seq) { return; }
        if (!x.ok) {
          var e = x.body && x.body.error;
          status(t('fd_failed', {msg: e ? (lang === 'en' ? e.message_en : e.message_zh) : '?'}), true);
          return;
        }
        render(x.body.results || [], false);
        keepStationsForOffline(origin);
      })
      .catch(function () { if (mine === seq) { offlineLookup(origin, mine); } });
  }

  var SAVED = '/api/v1/stations';
  var AREA = 0.3;  // degrees around the 0.1-degree cell of the lookup: about 70 km across

  /** The public stations the service worker saved (sw.js keeps the last area under this key). */
  function savedStations() {
    if (!window.caches) { return Promise.reject(new Error('no cache')); }
    return caches.match(SAVED).then(function (resp) {
      if (!resp) { throw new Error('nothing saved'); }
      return resp.json();
    });
  }

  var keptOnce = false;
  /** Once a visit, fetch the public stations around the rider for the service worker to keep for offline
   *  lookups: the area, not the whole registry, keeps it small; its corners tell only a ~10 km cell. */
  function keepStationsForOffline(origin) {
    if (keptOnce || !('serviceWorker' in navigator)) { return; }
    keptOnce = true;
    var x = Math.floor(origin[0] * 10) / 10, y = Math.floor(origin[1] * 10) / 10;
    var bbox = [x - AREA, y - AREA, x + 0.1 + AREA, y + 0.1 + AREA].map(function (v) { return v.toFixed(1); });
    var go = function () {
      // Only a fetch the service worker sees is saved: on a first visit it takes control after the page loads.
      whenControlled().then(function () {
        return fetch(SAVED + '?bbox=' + bbox.join(','), {credentials: 'omit'});
      }).then(function (resp) {
        if (resp.ok) { doc.documentElement.setAttribute('data-offline-ready', '1'); }
      }).catch(function () { keptOnce = false; });
    };
    if (window.requestIdleCallback) { window.requestIdleCallback(go, {timeout: 3000}); } else { setTimeout(go, 1000); }
  }

  function whenControlled() {
    if (navigator.serviceWorker.controller) { return Promise.resolve(); }
    return new Promise(function (resolve) {
      navigator.serviceWorker.addEventListener('controllerchange', function () { resolve(); });
    });
  }

  function haversine(a, b) {
    var R = 6371008.8, rad = Math.PI / 180;
    var dlat = (b[1] - a[1]) * rad, dlon = (b[0] - a[0]) * rad;
    var h = Math.sin(dlat / 2) * Math.sin(dlat / 2) +
      Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  /** Straight-line estimates from the saved public station list, as the server does without a road network. */
  function offlineLookup(origin, mine) {
    Promise.all([savedStations(), libs]).then(function (both) {
      var fc = both[0];
      if (mine !== seq) { return; }
      var speed = (CFG.speeds_kmh[state.mode] || 15) / 3.6;
      var found = (fc.features || []).filter(function (f) {
        var p = f.properties || {};
        var have = p.facilities || [];
        return (p.status || 'open') === 'open' && (state.kind === 'all' || p.kind === state.kind) &&
          state.fac.every(function (c) { return have.indexOf(c) >= 0; });
      }).map(function (f) {
        var p = f.properties, c = f.geometry.coordinates;
        var crow = haversine(origin, c), dist = crow * CFG.detour;
        return {id: String(p.id), name: p.name || '', kind: p.kind, lon: c[0], lat: c[1], distance_m: dist,
                duration_s: dist / speed, method: 'estimate', label: CFG.estimate_label, mode: state.mode,
                route: null, road_names: [], facilities: p.facilities || [], is_sample: !!p.is_sample,
                open_now: null};
      });
      found.sort(function (a, b) { return a.distance_m - b.distance_m || (a.id < b.id ? -1 : 1); });
      render(found.slice(0, K), true);
    }).catch(function (err) {
      if (window.console) { console.warn('offline lookup: ' + (err && err.message)); }
      if (mine === seq) { status(t('fd_offline_none'), true); }
    });
  }

  // ------------------------------------------------------------------ search
  function pickButton(text, onPick) {
    var b = el('button', 'btn', text);
    b.type = 'button';
    b.addEventListener('click', function () { $('picks').hidden = true; onPick(); });
    return b;
  }

  function showPicks(nodes, message) {
    var box = $('picks');
    box.textContent = '';
    if (message) { box.appendChild(el('p', 'status', message)); }
    nodes.forEach(function (n) { box.appendChild(n); });
    box.hidden = false;
  }

  function search(text) {
    text = String(text || '').trim();
    if (!text) { return; }
    var c = parseCoords(text);
    if (c) {
      var nodes = ['gcj02', 'bd09', 'wgs84'].map(function (crs) {
        return pickButton(t('fd_crs_' + crs), function () {
          var w = toWgs(c.lon, c.lat, crs);
          var keep = crs === 'wgs84' ? {lonText: c.lonText, latText: c.latText} : {};
          setOrigin(w[0], w[1], t('fd_place_coords'), keep);
          lookup();
        });
      });
      showPicks(nodes, (c.swapped ? t('fd_coords_swapped') + ' ' : '') + t('fd_coords_crs'));
      return;
    }
    fetch('/api/v1/places?' + new URLSearchParams({q: text, limit: '8'}).toString(), {credentials: 'omit'})
      .then(function (resp) {
        if (resp.status === 404) { return {results: []}; }
        if (!resp.ok) { throw new Error(String(resp.status)); }
        return resp.json();
      })
      .then(function (body) { showPlaces(text, body.results || []); })
      .catch(function () { offlineSearch(text); });
  }

  function showPlaces(text, places) {
    if (!places.length) { showPicks([], t('fd_search_none', {q: text})); return; }
    showPicks(places.map(function (p) {
      var name = (lang === 'en' && p.name_en) ? p.name_en : p.name;
      var label = [name, p.district, placeKindLabel(p.kind)].filter(Boolean).join(' · ');
      return pickButton(label, function () { setOrigin(p.lon, p.lat, name); lookup(); });
    }), t('fd_search_pick'));
  }

  function offlineSearch(text) {
    var needle = text.toLowerCase();
    savedStations().then(function (fc) {
      var hits = (fc.features || []).filter(function (f) {
        return String(f.properties.name || '').toLowerCase().indexOf(needle) >= 0;
      }).slice(0, 8).map(function (f) {
        var c = f.geometry.coordinates;
        return {name: f.properties.name, lon: c[0], lat: c[1], kind: 'station'};
      });
      showPlaces(text, hits);
      status(t('fd_search_offline'));
    }).catch(function () { showPicks([], t('fd_search_none', {q: text})); });
  }

  // ------------------------------------------------------------------ location
  function locate() {
    if (!navigator.geolocation) { status(t('fd_locate_unsupported'), true); return; }
    if (!window.isSecureContext) { status(t('fd_locate_insecure'), true); return; }
    status(t('fd_locating'));
    navigator.geolocation.getCurrentPosition(function (pos) {
      setOrigin(pos.coords.longitude, pos.coords.latitude, '', {located: true, accuracy: pos.coords.accuracy});
      lookup();
    }, function (err) {
      var why = {1: 'fd_locate_denied', 2: 'fd_locate_unavailable', 3: 'fd_locate_timeout'}[err && err.code];
      status(t('fd_locate_failed', {error: t(why || 'fd_locate_unavailable')}), true);
    }, {enableHighAccuracy: true, timeout: 20000, maximumAge: 60000});
  }

  // ------------------------------------------------------------------ controls
  function chips(boxId, name, values, type, labelOf, isOn, onChange) {
    var box = $(boxId);
    values.forEach(function (v) {
      var lab = el('label', 'chip');
      var input = el('input');
      input.type = type; input.name = name; input.value = v; input.checked = isOn(v);
      input.addEventListener('change', function () { onChange(v, input.checked); syncUrl(); lookup(); });
      lab.appendChild(input);
      lab.appendChild(el('span', null, labelOf(v)));
      box.appendChild(lab);
    });
  }

  function texts() {
    doc.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
    Array.prototype.forEach.call(doc.querySelectorAll('[data-t]'), function (e) { e.textContent = t(e.getAttribute('data-t')); });
    Array.prototype.forEach.call(doc.querySelectorAll('[data-tp]'), function (e) { e.placeholder = t(e.getAttribute('data-tp')); });
    doc.title = t('finder_title');
    var other = $('lang');
    other.textContent = t('fd_lang_other');
    other.lang = lang === 'en' ? 'zh-CN' : 'en';
    $('map').setAttribute('aria-label', t('fd_map_hint'));
  }

  function start() {
    texts();
    chips('f-kind', 'kind', KINDS, 'radio', kindLabel, function (v) { return v === state.kind; },
          function (v) { state.kind = v; state.sel = null; });
    chips('f-mode', 'mode', MODES, 'radio', modeLabel, function (v) { return v === state.mode; },
          function (v) { state.mode = v; state.sel = null; });
    chips('f-by', 'by', BYS, 'radio', function (v) { return t('fd_by_' + v); }, function (v) { return v === state.by; },
          function (v) { state.by = v; state.sel = null; });
    chips('f-fac', 'fac', Object.keys(CFG.facilities), 'checkbox', facLabel,
          function (v) { return state.fac.indexOf(v) >= 0; },
          function (v, on) {
            state.fac = state.fac.filter(function (c) { return c !== v; });
            if (on) { state.fac.push(v); }
            state.sel = null;
          });
    var open = $('f-open');
    open.checked = state.open;
    open.addEventListener('change', function () { state.open = open.checked; state.sel = null; lookup(); });
    $('search').addEventListener('submit', function (e) { e.preventDefault(); search($('q').value); });
    $('locate').addEventListener('click', locate);
    // A shared link's lookup goes out before the map is built.
    if (state.lon !== null) { lookup(); } else { status(t('fd_intro')); syncUrl(); }
    libs.then(function () {
      initMap();
      if (shown) { draw(shown[0], shown[1]); }
    }).catch(function () { status(t('fd_failed', {msg: 'map'}), true); });
    if ('serviceWorker' in navigator) {
      window.addEventListener('load', function () {
        navigator.serviceWorker.register('/finder/sw.js', {scope: '/finder'}).catch(function () { /* works without */ });
      });
    }
  }

  start();
})();
