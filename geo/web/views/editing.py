"""The Data page's station editor: which fields its form has, and how a refused save is explained.

Saving and the version check are :mod:`geo.registry.store`; what a form
or a refused save changed is :mod:`geo.registry.audit`. This module makes
what the page shows of them.
"""
from __future__ import annotations

import pandas as pd

from geo.core import schema
from geo.core.i18n import field_label, t
from geo.core.text import md_escape
from geo.registry import audit
from geo.web.views.history import short_time

#: Text fields of the editor's form, in the order drawn (two columns, left first).
TEXT_FIELDS: tuple[str, ...] = ("name", "subtype", "address", "opening_hours", "operator", "phone", "title",
                                "verified_at", "notes")


def text_fields(kind: str) -> list[str]:
    """The text fields of the form for a station of layer ``kind``: legal aid adds the lawyer's hours."""
    fields = list(TEXT_FIELDS)
    if kind == "legal_aid":
        fields.insert(5, "lawyer_hours")
    return fields


def split_list(text: str) -> list[str]:
    """The items of a list typed in one text box, separated by ``schema.LIST_SEP``, blanks dropped."""
    return [s.strip() for s in text.split(schema.LIST_SEP) if s.strip()]


def conflict_detail(attempted: dict, current: dict, history: pd.DataFrame, *, lang: str = "zh") -> str:
    """The Markdown line saying which version was opened, which is stored, and who saved it when.

    Parameters
    ----------
    attempted, current
        ``ConflictError.attempted`` and ``ConflictError.current``.
    history
        ``store.history(station_id)``, to find who saved the current version.
    lang
        ``"zh"`` or ``"en"``.
    """
    who, at = audit.saved_by(history, int(current["version"])) or ("?", current.get("updated_at") or "")
    return t("conflict_detail", lang, opened=attempted.get("version"), now=current["version"],
             who=md_escape(who), at=short_time(at) + " UTC")


def conflict_table(attempted: dict, current: dict, *, lang: str = "zh") -> pd.DataFrame:
    """Where a refused save differs from the stored station: field, yours, now stored (empty when equal)."""
    rows = [(field_label(name, lang), yours, stored)
            for name, yours, stored in audit.conflict_fields(attempted, current)]
    return pd.DataFrame(rows, columns=[t("history_field", lang), t("conflict_yours", lang),
                                       t("conflict_stored", lang)])
