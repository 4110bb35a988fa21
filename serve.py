"""What ``make run`` serves: the Streamlit app (``app.py``) and its JSON API.

Run with ``streamlit run serve.py``. Streamlit finds the ``app`` object
below and serves ``app.py`` as usual, plus the routes of :mod:`geo.api`
(the registry map fetches station popups from them). ``streamlit run
app.py`` still works, but then map popups of a large registry cannot load
their details.
"""
import streamlit as st

from geo.api import routes

app = st.App("app.py", routes=routes())
