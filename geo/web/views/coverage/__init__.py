"""Support for the planner's coverage page, by concern; the page (``pages/3_覆盖_Coverage.py``) only arranges widgets.

What it shows is computed from a :class:`geo.analysis.coverage.CoverageResult`:

* :mod:`~geo.web.views.coverage.choices`: the regions and standards the page offers;
* :mod:`~geo.web.views.coverage.bands`: the travel bands of the choropleth and their labels;
* :mod:`~geo.web.views.coverage.layers`: the map's layers, dissolved and simplified
  (drawn by :func:`geo.web.maps.coverage.coverage_map`);
* :mod:`~geo.web.views.coverage.tables`: headline figures and the district and gap tables;
* :mod:`~geo.web.views.coverage.uploads`: population tables and demand points from the user,
  and the shared census table;
* :mod:`~geo.web.views.coverage.downloads`: the bytes of every export.

None of it imports streamlit.
"""
