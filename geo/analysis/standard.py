"""The service standard of a coverage run: what "within reach" means.

A standard names the station kinds that serve, the travel mode and one
threshold, in minutes or metres. Its defaults per kind are
``settings.COVERAGE_STANDARDS``; :func:`service_standard` builds one from
those defaults and what a user gives.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from geo import settings
from geo.core.schema import KINDS
from geo.registry.reports import NotServingRule
from geo.routing.network import MODES

_UNIT = {"time": "min", "distance": "m"}
_MODE_ZH = {"walk": "步行", "ebike": "电动自行车", "drive": "驾车", "truck": "货车"}
_MODE_EN = {"walk": "on foot", "ebike": "by e-bike", "drive": "by car", "truck": "by truck"}


@dataclass(frozen=True)
class Standard:
    """What "within reach" means: kinds, travel mode and threshold.

    Attributes
    ----------
    kinds : tuple of str
        Station kinds that serve (any of them counts).
    mode : str
        Travel mode (``walk``, ``ebike``, ``drive``, ``truck``).
    minutes, meters : float or None
        The threshold: exactly one is set.
    source : str
        ``"settings"`` when taken from ``settings.COVERAGE_STANDARDS``,
        ``"user"`` when given, ``"settings+user"`` when mixed.
    radius : bool
        A straight-line service radius (服务半径, e.g. "500 米服务半径"): the
        great-circle distance in metres, no roads and no detour factor. A
        planner's standard is often written this way, and it is a different
        question from travel on the roads, so it is its own method.
    """

    kinds: tuple[str, ...]
    mode: str
    minutes: float | None = None
    meters: float | None = None
    source: str = "settings"
    radius: bool = False
    #: Workers' reports take stations out of service (:class:`geo.registry.reports.NotServingRule`); off: None.
    not_serving: NotServingRule | None = None

    @property
    def weight(self) -> str:
        """Graph weight: ``"time"`` for a minutes standard, else ``"distance"``."""
        return "time" if self.minutes is not None else "distance"

    @property
    def unit(self) -> str:
        """Unit of travel values: ``"min"`` or ``"m"``."""
        return _UNIT[self.weight]

    @property
    def threshold(self) -> float:
        """The threshold in :attr:`unit`."""
        return float(self.minutes if self.minutes is not None else self.meters)

    def describe(self) -> str:
        """Bilingual one-liner, e.g. ``15 分钟 电动自行车 / 15 min by e-bike``."""
        if self.not_serving is not None:  # the reports rule is part of what "within reach" meant
            zh, en = replace(self, not_serving=None).describe().split(" / ", 1)
            return f"{zh}；{self.not_serving.zh} / {en}; {self.not_serving.en}"
        kinds_zh = "、".join(KINDS[k].zh for k in self.kinds)
        kinds_en = ", ".join(KINDS[k].en.lower() for k in self.kinds)
        amount = f"{self.threshold:g}"
        if self.radius:
            return (f"{kinds_zh}：直线 {amount} 米服务半径内 / "
                    f"{kinds_en} within a {amount} m straight-line service radius")
        if self.weight == "time":
            return (f"{kinds_zh}：{_MODE_ZH[self.mode]} {amount} 分钟内 / "
                    f"{kinds_en} within {amount} min {_MODE_EN[self.mode]}")
        return (f"{kinds_zh}：{_MODE_ZH[self.mode]} {amount} 米内 / "
                f"{kinds_en} within {amount} m {_MODE_EN[self.mode]}")

    def to_dict(self) -> dict:
        """JSON form; carried by every result."""
        return {"kinds": list(self.kinds), "mode": self.mode, "minutes": self.minutes, "meters": self.meters,
                "unit": self.unit, "threshold": self.threshold, "source": self.source,
                "radius": self.radius, "label": self.describe(),
                "not_serving": None if self.not_serving is None else self.not_serving.to_dict()}


def service_standard(kinds: str | Iterable[str] | None = None, *, mode: str | None = None,
                     minutes: float | None = None, meters: float | None = None,
                     radius: bool = False) -> Standard:
    """The standard of a run: the settings' default for the first kind, overridden by what is given.

    Parameters
    ----------
    kinds
        Default ``settings.COVERAGE_DEFAULT_KINDS``.
    mode
        Travel mode; default the first kind's.
    minutes, meters
        At most one. Without either, the first kind's threshold is used.
    radius
        A straight-line service radius: needs ``meters``.

    Raises
    ------
    ValueError
        Unknown kind or mode, both thresholds, a threshold not above 0, or
        a radius without metres.
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds or settings.COVERAGE_DEFAULT_KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"未知图层 / unknown kind: {bad} (choose from {', '.join(KINDS)})")
    kinds = tuple(dict.fromkeys(kinds))
    if minutes is not None and meters is not None:
        raise ValueError("分钟与米只能给一个 / give minutes or meters, not both")
    if radius and meters is None:
        raise ValueError("服务半径须以米给出 / a straight-line service radius needs a distance in metres (--meters)")
    base = settings.COVERAGE_STANDARDS[kinds[0]]
    if mode is not None and mode not in MODES:
        raise ValueError(f"未知出行方式 / unknown travel mode: {mode!r} (choose from {', '.join(MODES)})")
    if minutes is None and meters is None:
        minutes, meters = base.get("minutes"), base.get("meters")
        source = "settings" if mode is None else "settings+user"
    else:
        source = "user" if mode is not None else "settings+user"
    value = minutes if minutes is not None else meters
    if value is None or not np.isfinite(value) or value <= 0:
        raise ValueError(f"阈值须大于 0 / the threshold must be above 0: {value!r}")
    return Standard(kinds=kinds, mode=mode or base["mode"],
                    minutes=None if minutes is None else float(minutes),
                    meters=None if meters is None else float(meters), source=source, radius=bool(radius))
