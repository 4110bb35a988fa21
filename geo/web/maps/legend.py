"""The one legend of every map: a foldable box in the map's corner, built from items.

Each map says what its legend lists (:func:`geo.web.maps.registry.registry_legend_html`,
:func:`geo.web.maps.coverage.coverage_legend_html`,
:func:`geo.web.maps.siting.siting_legend_html`); :func:`legend_html` puts the
items in the same ``<details>`` box and :class:`Legend` shows it with
``L.gdLegend`` of ``static/gd/gd-layers.js``, folded on a phone. Every text
is escaped here; marks (pins, swatches) are HTML made by the code, never
from data.
"""
from __future__ import annotations

import html

from folium.elements import JSCSSMixin
from folium.template import Template

from geo.web.maps.encoding import script_json


def legend_item(text: str, mark: str = "", *, note: bool = False, share: str | None = None) -> str:
    """One line of a legend.

    Parameters
    ----------
    text
        What the line says (escaped here).
    mark
        HTML drawn before it: a pin, a swatch or a dot.
    note
        Set the text smaller and grey, as an explanation.
    share
        A figure right-aligned after the text (class ``cv-share``).
    """
    cls = ' class="gd-note"' if note else ""
    tail = f'<span class="cv-share">{html.escape(share)}</span>' if share is not None else ""
    return f"<li>{mark}<span{cls}>{html.escape(text)}</span>{tail}</li>"


def legend_group(text: str) -> str:
    """A heading line between a legend's items (class ``cv-group``; text escaped here)."""
    return f'<li class="cv-group">{html.escape(text)}</li>'


def legend_html(title: str, items: list[str], *, rows: list[str] | None = None, foot: str | None = None) -> str:
    """A legend as an HTML fragment: a ``<details>`` box that can be folded away on a phone.

    Parameters
    ----------
    title
        The summary line (escaped here).
    items
        Lines from :func:`legend_item` and :func:`legend_group`.
    rows
        Text lines above the items (the coverage maps' standard and
        method); given, the box takes the compact ``cv-legend`` style.
    foot
        A note below the items (escaped here), in the compact style.
    """
    body = f'<ul>{"".join(items)}</ul>'
    if rows is not None or foot is not None:
        note = f'<div class="gd-note">{html.escape(foot)}</div>' if foot is not None else ""
        body = f'<div class="cv-legend">{"".join(rows or [])}{body}{note}</div>'
    return f'<details class="gd-legend-body" open><summary>{html.escape(title)}</summary>{body}</details>'


class Legend(JSCSSMixin):
    """The legend as a Leaflet control, so it lives inside the map frame (``L.gdLegend``).

    Parameters
    ----------
    html_text
        From :func:`legend_html`, escaped.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.gdLegend({{ this.html_json }});
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, html_text: str):
        super().__init__()
        self._name = "GdLegend"
        self.html_json = script_json(html_text)
