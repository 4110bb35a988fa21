"""The naive registry page, for ``bench/ui.py`` only: what a first version does.

Every station of the registry becomes a ``folium.Marker`` with its own
popup and tooltip, and ``st_folium`` ships the whole map on every run.
The benchmark runs a copy of it from a temporary folder beside a link to
the project's ``static/`` (Streamlit serves ``static/`` next to the main
script), with ``GD_ROOT`` naming the project.
"""
import os
import sys
from pathlib import Path

import streamlit as st
from streamlit_folium import st_folium

ROOT = Path(os.environ.get("GD_ROOT", Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from geo.registry.store import open_store  # noqa: E402
from ui import naive_map  # noqa: E402

st.set_page_config(layout="wide")
stations = open_store().load()
st_folium(naive_map(stations, asset_base="../../app/static/vendor/"), returned_objects=[], height=560,
          use_container_width=True, key="naive_map")
