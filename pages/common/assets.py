"""The app's own scripts and styles, kept in ``static/gd/`` rather than in Python strings.

Streamlit serves that folder at ``/app/static/gd/`` (``enableStaticServing``);
the elements that take a script or a style inline get the file's text here.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st

from geo import settings

#: The folder of the app's own scripts and styles.
GD_DIR: Path = settings.ROOT / "static" / "gd"


@cache
def static_text(name: str) -> str:
    """The text of ``static/gd/<name>`` (read once per server)."""
    return (GD_DIR / name).read_text(encoding="utf-8")


def page_style(name: str) -> None:
    """Apply the page's stylesheet ``static/gd/<name>`` (a ``.css`` file) to this run's page."""
    st.html(GD_DIR / name)
