"""Reading one cell's text into a field's value: counts, yes/no, facilities, notes, extra.

Coordinates have their own module, :mod:`geo.registry.coordinates`.
"""
from __future__ import annotations

import json
import re
import unicodedata

import numpy as np

from geo.core.schema import FACILITY_SPLIT, parse_facilities, parse_status

#: Largest count a whole-number field accepts (SQLite integers are 64-bit;
#: no station has a million parking spaces).
_MAX_COUNT = 1_000_000


def parse_count(text: str) -> int | None:
    """A non-negative whole number such as ``12`` or ``１２个`` (at most a million).

    Returns
    -------
    int or None
        ``None`` for an empty cell.

    Raises
    ------
    ValueError
        For anything else.
    """
    s = unicodedata.normalize("NFKC", str(text)).strip()
    s = re.sub(r"[个辆位]$", "", s)
    if not s:
        return None
    value = float(s)
    if not np.isfinite(value) or not value.is_integer() or not 0 <= value <= _MAX_COUNT:
        raise ValueError(s)
    return int(value)


def is_truthy(text: str) -> bool:
    """Whether a yes/no cell (``is_sample``) says yes: 1, true, yes, y, t or 是."""
    return str(text).strip().lower() in ("1", "true", "yes", "y", "是", "t")


_PUBLIC_WORDS = ("1", "true", "yes", "y", "t", "是", "公开", "对外公开", "public")


def is_public(text: str) -> bool:
    """Whether a ``public`` cell allows publishing: empty means yes.

    Anything else that is not a clear yes (否, 不公开, 内部, 0, private, or
    text not understood) means no: a station is kept out of public exports
    rather than its contacts published by mistake.
    """
    s = str(text).strip().lower()
    return s == "" or s in _PUBLIC_WORDS


#: What precedes a status not understood, kept at the end of the notes.
STATUS_NOTE = "原状态 / original status: "


def split_facilities(facilities_cell: str, other_cell: str) -> tuple[list[str], list[str], list[str]]:
    """A row's facilities as stored.

    Parameters
    ----------
    facilities_cell, other_cell
        The ``facilities`` and ``facilities_other`` cells.

    Returns
    -------
    (list of str, list of str, list of str)
        The facility codes, ``facilities_other`` as stored (the other cell
        kept verbatim, then the words of the facilities cell not in the
        vocabulary) and those words alone (for the warning).
    """
    facilities, unmapped = parse_facilities(facilities_cell)
    # A facilities_other cell is kept verbatim: mapping it again dropped every
    # part containing a vocabulary word (饮水机, 儿童休息区) from both lists.
    kept = [w.strip() for w in FACILITY_SPLIT.split(other_cell)
            if w.strip() and w.strip().lower() not in ("nan", "none", "无")]
    return facilities, list(dict.fromkeys(kept + unmapped)), unmapped


def extra_object(text: str) -> dict:
    """The ``extra`` cell as a dict: a JSON object, or the text under the key ``extra``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return {"extra": text}
    return value if isinstance(value, dict) else {"extra": text}


def extra_chars(extra: dict) -> int:
    """What the ``extra`` limit counts: the characters of the values kept."""
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v, ensure_ascii=False)) for v in extra.values())


def notes_stored(notes: str, status: str) -> str:
    """The notes as stored: a status not understood is kept at their end."""
    if parse_status(status) is None:
        return "；".join(x for x in (notes, f"{STATUS_NOTE}{status}") if x)
    return notes
