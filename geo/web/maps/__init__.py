"""The maps: one module per map, on shared parts; their JavaScript and CSS are in ``static/gd/``.

* :mod:`~geo.web.maps.registry` the home and Data pages' map of the stations
  (the worker finder's map is the page's own script, ``static/finder/``),
  :mod:`~geo.web.maps.coverage` the planner's travel bands, :mod:`~geo.web.maps.siting` the proposed sites;
* :mod:`~geo.web.maps.base` offline assets, basemaps, the empty map and its
  controls; :mod:`~geo.web.maps.legend` the one legend;
  :mod:`~geo.web.maps.boundaries` the province and city outlines;
  :mod:`~geo.web.maps.pins` the pin of each layer; :mod:`~geo.web.maps.records`
  station popups and positions; :mod:`~geo.web.maps.encoding` the JSON and
  compact geometry that carry all of it to the browser.

A new map is a new module here: build on :func:`geo.web.maps.base.base_map`,
send data with :class:`geo.web.maps.base.DataLayer`, and draw it with a
factory in ``static/gd/gd-layers.js``.
"""
