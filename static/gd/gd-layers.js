/*
 * What the maps draw from their data, loaded after gd-map.js by every map
 * (geo/web/maps/). Python sends data only, as JSON in which every string
 * was HTML-escaped and every number is a number; these functions turn it
 * into Leaflet layers and controls.
 *
 * - ring, collection: the one decoder of the geometry written by
 *   geo.web.maps.encoding.encode_geometries.
 * - L.gdBoundaryOptions, L.gdLegend, L.gdFitBounds: shared by all four maps.
 * - L.gdCoverageLayer: travel bands, gaps, district outlines, stations.
 * - L.gdSitingLayer: newly covered cells, numbered proposed sites.
 *
 * The data layers are called as factory(d, map) by
 * geo.web.maps.base.DataLayer; folium adds the layer to the map.
 */
(function (root) {
  'use strict';

  var L = root.L;

  // ---------------------------------------------------------------- geometry
  // A ring or line arrives as integer steps of p degrees: the first vertex,
  // then each vertex's difference from the previous one, lon before lat.
  function ring(a, p) {
    var out = [], x = 0, y = 0;
    for (var i = 0; i + 1 < a.length; i += 2) {
      x += a[i]; y += a[i + 1]; out.push([x * p, y * p]);
    }
    return out;
  }

  // d.features: [properties, parts] pairs; parts are polygons (lists of
  // rings) or, when lines, lines.
  function collection(d, lines) {
    var decode = function (a) { return ring(a, d.p); };
    return {type: 'FeatureCollection', features: (d.features || []).map(function (f) {
      var g = lines ? {type: 'MultiLineString', coordinates: f[1].map(decode)}
                    : {type: 'MultiPolygon', coordinates: f[1].map(function (poly) { return poly.map(decode); })};
      return {type: 'Feature', properties: f[0], geometry: g};
    })};
  }

  function tip(body) {
    return '<div class="cv-tip">' + body + '</div>';
  }

  // Cells, area and demand of a band, gap or newly covered area.
  function amounts(d, p) {
    return p.a + ' km² · ' + p.n + ' ' + d.cells + (p.m ? '<br>' + d.demand + ' ' + p.m : '');
  }

  // ------------------------------------------------------------------ shared
  // Options of the administrative outlines' GeoJSON layer: drawn under the
  // stations and not clickable.
  L.gdBoundaryOptions = function () {
    return {
      interactive: false,
      // One canvas instead of an SVG path per outline: it draws several times faster.
      renderer: L.canvas({padding: 0.2}),
      style: function (f) {
        var outer = f.properties && f.properties.level === 'province';
        return {color: outer ? '#444' : '#7a7a7a', weight: outer ? 2 : 1,
                opacity: 0.8, fill: false, dashArray: outer ? null : '4 3'};
      }
    };
  };

  // The legend as a Leaflet control, so it lives inside the map frame; html
  // was built and escaped in Python (geo.web.maps.legend).
  L.gdLegend = function (html) {
    var ctl = L.control({position: 'bottomleft'});
    ctl.onAdd = function (map) {
      var div = L.DomUtil.create('div', 'gd-legend');
      div.innerHTML = html;
      // Fold the legend on a phone or a short map so it does not hide the map.
      if (map.getSize().x < 600 || map.getSize().y < 450) {
        var d = div.querySelector('details');
        if (d) { d.removeAttribute('open'); }
      }
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    return ctl;
  };

  // Fit the map to bounds, again on every resize until the user moves it:
  // streamlit-folium creates the map before its iframe takes the page's
  // width, so a fit made only at start frames the wrong area, worst on a phone.
  //
  // What is fitted stays clear of the boxes drawn over the map: the legend
  // (bottom left) and the notices such as "offline" (top right). Each box
  // takes a strip off the map, along its shorter side: a strip as wide as
  // the box, or as tall, whichever leaves more of the map.
  function clearOf(map, opts) {
    var size = map.getSize();
    var tl = L.point(opts.paddingTopLeft || [0, 0]), br = L.point(opts.paddingBottomRight || [0, 0]);
    var c = map.getContainer();
    var legend = c.querySelector('.leaflet-bottom.leaflet-left .gd-legend');
    if (legend && legend.offsetWidth) {
      var w = legend.offsetWidth + 12, h = legend.offsetHeight + 12;
      if (w / size.x <= h / size.y) { tl.x = Math.max(tl.x, w); } else { br.y = Math.max(br.y, h); }
    }
    var notes = c.querySelectorAll('.leaflet-top.leaflet-right .gd-notice');
    for (var i = 0; i < notes.length; i++) {
      var n = notes[i];
      if (n.style.display === 'none' || !n.offsetWidth) { continue; }
      var nw = n.offsetWidth + 12, nh = n.offsetTop + n.offsetHeight + 12;
      if (nw / size.x <= nh / size.y) { br.x = Math.max(br.x, nw); } else { tl.y = Math.max(tl.y, nh); }
    }
    // A map too small for the boxes (before its frame is sized, or on a phone) keeps the plain padding:
    // padding wider than the map would fit the bounds at the closest zoom.
    if (tl.x + br.x > size.x / 2 || tl.y + br.y > size.y / 2) { return opts; }
    return L.extend({}, opts, {paddingTopLeft: tl, paddingBottomRight: br});
  }

  L.gdFitBounds = function (map, corners, opts) {
    var bounds = L.latLngBounds(corners);
    var touched = false;
    var container = map.getContainer();
    // The legend and the notices change size after the first fit (fonts, the
    // frame's final width, a folded legend opened): fit again when they do.
    var boxes = root.ResizeObserver ? new root.ResizeObserver(function () { fit(); }) : null;
    var fit = function () {
      if (boxes) {
        var els = container.querySelectorAll('.gd-legend, .gd-notice');
        for (var i = 0; i < els.length; i++) { boxes.observe(els[i]); }
      }
      if (!touched && map.getSize().x > 0) { map.fitBounds(bounds, clearOf(map, opts)); }
    };
    ['mousedown', 'touchstart', 'wheel', 'keydown'].forEach(function (ev) {
      L.DomEvent.on(container, ev, function () { touched = true; });
    });
    map.on('resize gdoverlaychange', fit);
    fit();
    return bounds;
  };

  // ---------------------------------------------------------------- coverage
  // d.type: 'bands', 'gaps', 'outlines' or 'stations'.
  L.gdCoverageLayer = function (d) {
    if (d.type === 'bands') {
      return L.geoJSON(collection(d, false), {
        style: function (f) {
          return {stroke: false, fill: true, fillColor: d.colours[f.properties.b],
                  fillOpacity: 0.72, className: 'cv-band cv-band-' + f.properties.b};
        },
        onEachFeature: function (f, l) {
          l.bindTooltip(function () {
            var p = f.properties;
            return tip('<b>' + (d.names[p.d] || p.d) + '</b><br>' + d.labels[p.b] + '<br>' + amounts(d, p));
          }, {sticky: true});
        }
      });
    }
    if (d.type === 'gaps') {
      return L.geoJSON(collection(d, false), {
        style: function () {
          return {color: d.colour, weight: 2.2, opacity: 0.95, dashArray: '6 4',
                  fill: true, fillOpacity: 0, className: 'cv-gap'};
        },
        onEachFeature: function (f, l) {
          l.bindTooltip(function () {
            var p = f.properties;
            return tip('<b>' + d.gap + ' #' + p.g + '</b> · ' + (d.names[p.d] || p.d) + '<br>' + amounts(d, p) +
                       (p.s ? '<br>' + d.nearest + ' ' + p.s + ' km' : ''));
          }, {sticky: true});
        }
      });
    }
    if (d.type === 'outlines') {
      return L.geoJSON(collection(d, true), {
        interactive: false,
        style: function () {
          return {color: '#4d4d4d', weight: 1, opacity: 0.8, fill: false, dashArray: '4 3',
                  className: 'cv-outline'};
        }
      });
    }
    var layer = L.featureGroup();
    d.rows.forEach(function (r) {
      L.circleMarker([r[0], r[1]], {radius: d.radius, color: '#ffffff', weight: 1, opacity: 1,
                                    fillColor: d.colours[r[2]], fillOpacity: 1, className: 'cv-station'})
        .bindTooltip(tip('<b>' + r[3] + '</b><br>' + d.kinds[r[2]] + (r[4] ? '<br>' + d.sample : '')),
                     {direction: 'top'})
        .addTo(layer);
    });
    return layer;
  };

  // ------------------------------------------------------------------ siting
  // d.type: 'new' (the cells the new sites newly cover) or 'sites'.
  L.gdSitingLayer = function (d) {
    if (d.type === 'new') {
      return L.geoJSON(collection(d, false), {
        style: function () {
          return {color: d.colour, weight: 1, opacity: 0.9, fill: true, fillColor: d.colour,
                  fillOpacity: 0.85, className: 'st-new'};
        },
        onEachFeature: function (f, l) {
          var p = f.properties;
          l.bindTooltip(tip('<b>' + d.label + '</b> · ' + (d.names[p.d] || p.d) + '<br>' + amounts(d, p)),
                        {sticky: true});
        }
      });
    }
    var layer = L.featureGroup();
    d.sites.forEach(function (s) {
      var icon = L.divIcon({html: '<div class="st-site"><span class="st-site-num">' + s.i + '</span></div>',
                            className: 'gd-marker st-site-icon', iconSize: [24, 24],
                            iconAnchor: [12, 12], popupAnchor: [0, -12], tooltipAnchor: [0, -12]});
      var rows = [[d.added, s.a], [d.district, s.d], [d.candidate, s.n], [d.position, s.xy]];
      var h = '<div class="st-popup"><div class="st-popup-title">' + s.t + '</div><table>';
      rows.forEach(function (r) { if (r[1]) { h += '<tr><th>' + r[0] + '</th><td>' + r[1] + '</td></tr>'; } });
      h += '</table></div>';
      L.marker([s.la, s.lo], {icon: icon, keyboard: true, zIndexOffset: 1000 - s.i})
        .bindTooltip(s.i + '. ' + s.t + (s.a ? ' · ' + s.a : ''), {direction: 'top'})
        .bindPopup(h, {maxWidth: 300, autoPanPadding: [20, 20]})
        .addTo(layer);
    });
    return layer;
  };
})(window);
