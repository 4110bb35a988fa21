"""Text length limits (``settings.TEXT_MAX_CHARS``): rows holding a text too long to store."""
from __future__ import annotations

import numpy as np
import pandas as pd

from geo import settings
from geo.core.schema import FIELDS_BY_NAME, LIST_SEP
from geo.registry.cells import STATUS_NOTE, extra_chars, extra_object, notes_stored, split_facilities

#: Fields whose cells are not text kept as given: coordinates have their own reasons.
_UNLIMITED = frozenset({"lon", "lat", "lonlat"})


def _limit(field_name: str) -> int:
    return int(settings.TEXT_MAX_CHARS.get(field_name, settings.TEXT_MAX_CHARS_DEFAULT))


def overlong_rows(df: pd.DataFrame, cols: dict, col, *, extra_cols: list[str]) -> dict[int, tuple[str, dict]]:
    """Rows holding a text longer than its limit, as ``{row index: ("text_too_long", values)}``.

    Lengths are those of the values as they would be stored (a status not
    understood is added to the notes, unmapped facility words to
    ``facilities_other``, unmapped columns to ``extra``), so an accepted row
    can always be edited and saved again under the same limits. Each
    length is first bounded cheaply for the whole column; only rows over
    the bound are worked out exactly.

    Parameters
    ----------
    df
        The file's cells.
    cols
        ``{field: column}`` as applied.
    col
        ``col(field)`` gives that field's cleaned cells as a Series (cached by the caller).
    extra_cols
        Unmapped columns, kept in ``extra``.
    """
    n = len(df)
    found: dict[int, tuple[str, dict]] = {}

    def over(field_name: str, column, bound: np.ndarray, exact=None) -> None:
        limit = _limit(field_name)
        fld = FIELDS_BY_NAME.get(field_name)
        for i in np.flatnonzero(bound > limit):
            i = int(i)
            length = exact(i) if exact is not None else int(bound[i])
            if i not in found and length > limit:
                found[i] = ("text_too_long", {
                    "field_zh": fld.zh if fld else field_name, "field_en": fld.en if fld else field_name,
                    "column": column(i) if callable(column) else column,
                    "value": f"{length:,}", "limit": f"{limit:,}"})

    def lengths(values: pd.Series) -> np.ndarray:
        return values.fillna("").astype(str).str.len().to_numpy(dtype=np.int64)

    zero = np.zeros(n, dtype=np.int64)
    for field_name, column in cols.items():
        if not column or field_name in _UNLIMITED or field_name == "extra":
            continue
        bound, exact = lengths(col(field_name)), None
        if field_name == "notes" and cols.get("status"):
            notes, status = col("notes").tolist(), col("status").tolist()
            bound = bound + lengths(col("status")) + len(STATUS_NOTE) + 1
            exact = lambda i: len(notes_stored(notes[i], status[i]))  # noqa: E731
        elif field_name == "facilities_other" and cols.get("facilities"):
            fac, oth = col("facilities").tolist(), col("facilities_other").tolist()
            bound = bound + lengths(col("facilities")) + 1
            exact = lambda i: len(LIST_SEP.join(split_facilities(fac[i], oth[i])[1]))  # noqa: E731
        over(field_name, column, bound, exact)
    if cols.get("facilities") and not cols.get("facilities_other"):
        # Words outside the vocabulary go to facilities_other even without its column.
        fac = col("facilities").tolist()
        over("facilities_other", cols["facilities"], lengths(col("facilities")),
             lambda i: len(LIST_SEP.join(split_facilities(fac[i], "")[1])))

    # extra keeps the unmapped columns, a given extra object, and the
    # layer-specific fields of rows of another layer.
    spill = [c for c in (cols.get("extra"), cols.get("truck_parking_spaces"), cols.get("lawyer_hours")) if c]
    if extra_cols or spill:
        bound = zero + sum((lengths(df[c]) for c in [*extra_cols, *spill]), zero)
        given = col("extra").tolist()
        tps, lawyer = col("truck_parking_spaces").tolist(), col("lawyer_hours").tolist()
        unmapped = {c: df[c].fillna("").astype(str).tolist() for c in extra_cols}

        def exact_extra(i: int) -> int:
            kept = extra_object(given[i])
            kept.update({c: v[i] for c, v in unmapped.items() if v[i].strip()})
            kept.update({k: v for k, v in (("truck_parking_spaces", tps[i]), ("lawyer_hours", lawyer[i])) if v})
            return extra_chars(kept)

        def longest(i: int) -> str:
            return max(extra_cols, key=lambda c: len(unmapped[c][i])) if extra_cols else spill[0]

        over("extra", longest, bound, exact_extra)
    return found
