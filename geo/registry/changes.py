"""What changed between two versions of a station, computed in one place.

The store uses it to tell an import that changes nothing from one that
does, to leave a restore that would change nothing unwritten, and to list
the changed fields in a station's history; the editor's history and
conflict tables (:mod:`geo.registry.audit`) show the same fields as text.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from geo.core.schema import FIELDS, FIELDS_BY_NAME

#: The fields compared: all but the bookkeeping ``version`` and
#: ``updated_at``, which differ between any two versions.
CONTENT_FIELDS = tuple(f.name for f in FIELDS if f.name not in ("version", "updated_at"))


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def same_value(a, b, field_name: str) -> bool:
    """Whether two values of one field are the same, by the field's type.

    Lists compare item by item (missing is empty), numbers within 1e-9
    (missing equals missing only), yes/no and counts exactly, text with
    missing as empty.

    Parameters
    ----------
    a, b
        The two values.
    field_name
        A field of :data:`geo.core.schema.FIELDS`.
    """
    dtype = FIELDS_BY_NAME[field_name].dtype
    if dtype == "list":
        return list(a or []) == list(b or [])
    if dtype in ("int", "bool", "float"):
        if _missing(a) or _missing(b):
            return _missing(a) and _missing(b)
        return abs(float(a) - float(b)) < 1e-9 if dtype == "float" else a == b
    return (a or "") == (b or "")


def changed_fields(before: Mapping | None, after: Mapping | None) -> list[str]:
    """The names of the :data:`CONTENT_FIELDS` whose values differ, in schema order.

    Parameters
    ----------
    before, after
        Two versions of a station; ``None`` where it did not exist (then
        nothing is listed: the whole station was added or removed).
    """
    if before is None or after is None:
        return []
    return [f for f in CONTENT_FIELDS if not same_value(before.get(f), after.get(f), f)]
