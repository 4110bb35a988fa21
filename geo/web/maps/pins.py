"""The station pins: a colour, a shape and a glyph per layer, shared by markers and legends.

Colours are Okabe-Ito (safe for the common colour-vision deficiencies), and
each layer has its own pin shape and glyph, so colour is never the only cue.
``static/gd/gd-map.css`` styles the shapes and colours the cluster bubbles
with the same colours.
"""
from __future__ import annotations

# "ink" is the glyph and number colour with enough contrast on the fill.
KIND_STYLES: dict[str, dict[str, str]] = {
    "rest_station": {
        "color": "#E69F00", "ink": "#1a1a1a", "shape": "circle",
        # a steaming cup
        "svg": ('<path d="M5 10h11v4.5A4.5 4.5 0 0 1 11.5 19h-2A4.5 4.5 0 0 1 5 14.5z"/>'
                '<path d="M16 11.5h1.5a2.2 2.2 0 0 1 0 4.4H16" fill="none" stroke="currentColor" stroke-width="1.8"/>'
                '<path d="M8.5 4.5c1 1-1 2 0 3.5M12.5 4.5c1 1-1 2 0 3.5" fill="none" stroke="currentColor" '
                'stroke-width="1.5" stroke-linecap="round"/>'),
    },
    "driver_home": {
        "color": "#0072B2", "ink": "#ffffff", "shape": "square",
        # a lorry
        "svg": ('<path d="M2.5 6.5h11v9h-11z"/><path d="M14.5 9.5h3.8l3.2 3.4v2.6h-7z"/>'
                '<circle cx="6.5" cy="17" r="2.1"/><circle cx="17.5" cy="17" r="2.1"/>'),
    },
    "legal_aid": {
        "color": "#CC79A7", "ink": "#1a1a1a", "shape": "diamond",
        # scales of justice
        "svg": ('<path d="M12 4v15M7.5 20h9M5 7h14" fill="none" stroke="currentColor" stroke-width="1.8" '
                'stroke-linecap="round"/>'
                '<path d="M5 7l-2.8 6M5 7l2.8 6M19 7l-2.8 6M19 7l2.8 6" fill="none" stroke="currentColor" '
                'stroke-width="1.2"/>'
                '<path d="M2 13h6a3 2.4 0 0 1-6 0zM16 13h6a3 2.4 0 0 1-6 0z"/>'),
    },
}
_FALLBACK_STYLE = {"color": "#777777", "ink": "#ffffff", "shape": "circle", "svg": '<circle cx="12" cy="12" r="5"/>'}


def kind_style(kind: str) -> dict[str, str]:
    """The style of a layer (``color``, ``ink``, ``shape``, ``svg``); a grey dot for an unknown code."""
    return KIND_STYLES.get(kind, _FALLBACK_STYLE)


def pin_html(kind: str, *, inactive: bool = False, sample: bool = False) -> str:
    """The HTML of one map pin, shared by the markers and the legend.

    Parameters
    ----------
    kind
        Layer code; it picks the colour, shape and glyph.
    inactive
        Draw the pin faded (a station that is not open).
    sample
        Draw a dashed ring (a sample station).
    """
    st = kind_style(kind)
    classes = ["gd-pin", f"gd-shape-{st['shape']}"]
    if inactive:
        classes.append("gd-inactive")
    if sample:
        classes.append("gd-sample")
    return (f'<div class="{" ".join(classes)}" style="background:{st["color"]};color:{st["ink"]}">'
            f'<svg viewBox="0 0 24 24" fill="currentColor" aria-hidden="true">{st["svg"]}</svg></div>')
