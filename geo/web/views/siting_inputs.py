"""What the siting page's question offers: the sites slider's range, the target's floor, upload lines.

The uploads themselves are read by :mod:`geo.web.views.siting`; the
problem is :mod:`geo.analysis.siting`. This module only words and bounds
what the page's widgets offer, so the page computes nothing itself.
"""
from __future__ import annotations

from geo.core.i18n import t
from geo.web.views.siting import SLIDER_MAX, CandidateUpload


def sites_top(n_candidates: int) -> int:
    """The most sites the slider offers: every candidate, at most ``SLIDER_MAX``, at least one."""
    return max(1, min(SLIDER_MAX, n_candidates))


def target_floor(before_demand: float, total_demand: float) -> int:
    """The lowest target share (percent) worth asking: just above the share already covered.

    Returns
    -------
    int
        Between 1 and 100; 50 when there is no demand to share.
    """
    floor = int(100 * before_demand / total_demand) + 1 if total_demand > 0 else 50
    return min(max(floor, 1), 100)


def target_range(floor: int, kept: int) -> tuple[int, int]:
    """The target slider's lowest value and its value, from the floor and the share chosen before.

    A slider needs two positions, so a floor of 100 % offers 99 to 100.
    """
    low = floor if floor < 100 else 99
    return low, min(max(int(kept), low), 100)


def sites_start(kept: int, top: int) -> int:
    """The sites slider's value: the number chosen before, within 1 and ``top``."""
    return min(max(int(kept), 1), top)


def upload_summary(upload: CandidateUpload, *, lang: str = "zh") -> str:
    """One Markdown line on a candidate file: rows, accepted, rejected (three metrics do not fit a sidebar)."""
    return (f"{t('si_rows', lang)} **{upload.rows:,}** · {t('si_accepted', lang)} "
            f"**{upload.accepted:,}** · {t('si_rejected', lang)} **{upload.rejected:,}**")


def rejects_name(filename: str) -> str:
    """The name of a candidate file's rejected rows: its name without extension, ``_rejected.csv``."""
    stem = filename.rsplit(".", 1)[0] or "candidates"
    return f"{stem}_rejected.csv"
