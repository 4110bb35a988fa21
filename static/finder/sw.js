/*
 * Service worker of the worker page: after one visit /finder opens with no
 * connection, and a lookup offline answers from the saved public station list.
 * geo/web/worker_page.py fills in each file's ?v= hash, so this file changes
 * with every release and the browser installs the new worker.
 *
 * - the page (/finder with any query): network first, the saved copy offline;
 * - the page's files (versioned): from the cache, fetched once;
 * - /api/v1/stations?bbox=… (the public stations around the last lookup): network
 *   first, saved under /api/v1/stations for the page's offline lookups;
 * - everything else (lookups, place search, map tiles) goes to the network untouched.
 */
'use strict';

var SHELL = ['finder.js?v=', 'finder.css?v=', 'leaflet.js?v=', 'leaflet.css?v=', 'gd-map.js?v=',
             'manifest.webmanifest?v=', 'icon.svg?v='];
var CACHE = 'gd-finder-' + SHELL.join('|');
var PAGE = '/finder';
var STATIONS = '/api/v1/stations';

self.addEventListener('install', function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(SHELL.map(function (f) { return '/finder/' + f; }).concat([PAGE]));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf('gd-finder-') === 0 && n !== CACHE; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

function networkFirst(request, key) {
  return fetch(request).then(function (resp) {
    if (!resp.ok) { return resp; }
    // Answered once saved, so the page knows a later offline lookup will find it.
    var copy = resp.clone();
    return caches.open(CACHE).then(function (cache) { return cache.put(key, copy); })
      .then(function () { return resp; }, function () { return resp; });
  }).catch(function () {
    return caches.open(CACHE).then(function (cache) { return cache.match(key); }).then(function (hit) {
      if (hit) { return hit; }
      throw new Error('offline and not saved');
    });
  });
}

self.addEventListener('fetch', function (event) {
  var req = event.request;
  if (req.method !== 'GET') { return; }
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname === PAGE || url.pathname === PAGE + '/') {
    // One saved page for every query: the state is read from the address by the script.
    event.respondWith(networkFirst(req, PAGE));
  } else if (url.pathname === STATIONS && url.searchParams.has('bbox')) {
    // The stations around the rider's last lookup, kept under one key for offline lookups.
    event.respondWith(networkFirst(req, STATIONS));
  } else if (url.pathname.indexOf('/finder/') === 0 && url.searchParams.has('v')) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(req).then(function (hit) {
        return hit || fetch(req).then(function (resp) {
          if (resp.ok) { cache.put(req, resp.clone()); }
          return resp;
        });
      });
    }));
  }
});
