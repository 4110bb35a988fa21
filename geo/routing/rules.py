"""Which ways a travel mode may use, in which direction and how fast.

Decided per way from its OSM tags (``highway``, ``oneway``, ``junction``,
``motorroad``, ``expressway``, ``access`` and the mode's own access keys,
``maxspeed``) with the speed table in :data:`geo.settings.ROUTING_SPEEDS_KMH`.
docs/network.md documents the rules and their sources.
"""
from __future__ import annotations

import re

from geo import settings

#: OSM ``highway`` values a graph may contain, in storage order (``edge_class``).
HIGHWAY_CLASSES: tuple[str, ...] = (
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
    "residential", "living_street", "service", "road", "track", "pedestrian",
    "footway", "path", "steps", "cycleway", "corridor", "bridleway", "busway",
)
#: Position of each class in :data:`HIGHWAY_CLASSES` (the stored ``edge_class``).
HIGHWAY_CLASS_ID = {c: i for i, c in enumerate(HIGHWAY_CLASSES)}

# The access keys that apply to a mode, from the most general to the most
# specific; the most specific key present decides (OSM access hierarchy).
_ACCESS_KEYS = {
    "walk": ("access", "foot"),
    "ebike": ("access", "vehicle", "bicycle", "electric_bicycle"),
    "drive": ("access", "vehicle", "motor_vehicle", "motorcar"),
    "truck": ("access", "vehicle", "motor_vehicle", "hgv"),
}
_DENY = frozenset({"no", "private", "agricultural", "forestry", "emergency", "military",
                   "psv", "bus", "disabled", "discouraged"})
_ONEWAY_FWD = frozenset({"yes", "1", "true"})
_ONEWAY_BWD = frozenset({"-1", "reverse"})
_ONEWAY_NO = frozenset({"no", "0", "false"})
# Reversible lanes change direction by time of day, which we do not know:
# routing a vehicle over one could send it against the traffic, so vehicles
# do not use them (as OSRM's car profile does).
_ONEWAY_CLOSED = frozenset({"reversible", "alternating"})
# Motorways and roundabouts are one-way unless tagged otherwise (OSM wiki, Key:oneway).
_IMPLIED_ONEWAY_HIGHWAY = frozenset({"motorway", "motorway_link"})
_IMPLIED_ONEWAY_JUNCTION = frozenset({"roundabout", "circular"})
# Expressways (高速公路 and 城市快速路) are closed to pedestrians and non-motor
# vehicles (道路交通安全法 art. 67; local e-bike rules such as Guangzhou's).
_NO_EXPRESSWAY_MODES = frozenset({"walk", "ebike"})

#: Tags the rules read: ways with equal values here get equal rules.
TAG_KEYS = ("highway", "oneway", "oneway:bicycle", "junction", "motorroad", "expressway",
            "access", "vehicle", "motor_vehicle", "motorcar", "hgv", "bicycle",
            "electric_bicycle", "foot", "maxspeed", "area", "service", "cycleway")
_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.I)


def _parse_maxspeed(value: str | None) -> float | None:
    if not value:
        return None
    m = _MAXSPEED.match(value.split(";")[0])
    if not m:
        return None  # "CN:urban", "none", "signals": no number to use
    speed = float(m.group(1))
    return speed * 1.609344 if (m.group(2) or "").lower() == "mph" else speed


def _is_expressway(tags: dict[str, str]) -> bool:
    hw = tags.get("highway", "")
    if hw in ("motorway", "motorway_link"):
        return True
    return tags.get("motorroad") == "yes" or tags.get("expressway") == "yes"


def way_rule(tags: dict[str, str], mode: str) -> tuple[bool, bool, float] | None:
    """How a mode may use a way.

    Parameters
    ----------
    tags
        OSM tags of the way.
    mode
        One of :data:`geo.routing.network.MODES`.

    Returns
    -------
    tuple or None
        ``(forward, backward, speed_kmh)``, or None when the mode may not use
        the way at all.
    """
    hw = tags.get("highway")
    speeds = settings.ROUTING_SPEEDS_KMH[mode]
    if hw not in speeds or tags.get("area") == "yes":
        return None
    if mode in _NO_EXPRESSWAY_MODES and _is_expressway(tags):
        return None
    if mode in ("drive", "truck") and tags.get("service") == "emergency_access":
        return None
    verdict = None
    for key in _ACCESS_KEYS[mode]:
        value = tags.get(key)
        if value:
            verdict = value.split(";")[0].strip().lower()
    if verdict in _DENY:
        return None

    speed = float(speeds[hw])
    maxspeed = _parse_maxspeed(tags.get("maxspeed"))
    cap = settings.ROUTING_MAX_SPEED_KMH[mode]
    if maxspeed:
        if mode in ("drive", "truck"):
            speed = maxspeed * settings.MAXSPEED_FACTOR
        else:
            speed = min(speed, maxspeed)
    speed = max(min(speed, cap), 1.0)

    if mode == "walk":
        return True, True, speed  # pedestrians may walk either way along a one-way street
    oneway = (tags.get("oneway") or "").strip().lower()
    if mode == "ebike":
        # A one-way street signed "except bicycles" is two-way for riders.
        ow_bike = (tags.get("oneway:bicycle") or "").strip().lower()
        if ow_bike:
            oneway = ow_bike
        elif (tags.get("cycleway") or "").startswith("opposite"):
            oneway = "no"
    if oneway in _ONEWAY_CLOSED:
        return None
    if oneway in _ONEWAY_FWD:
        return True, False, speed
    if oneway in _ONEWAY_BWD:
        return False, True, speed
    if oneway in _ONEWAY_NO:
        return True, True, speed
    if hw in _IMPLIED_ONEWAY_HIGHWAY or tags.get("junction") in _IMPLIED_ONEWAY_JUNCTION:
        return True, False, speed
    return True, True, speed
