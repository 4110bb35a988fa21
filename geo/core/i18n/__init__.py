"""User-interface strings in Chinese (the default) and English.

Every string the app shows goes through :func:`t` or one of the label
helpers, so a page never carries text of its own. The string tables live
beside this module, one per part of the app (``strings_app``,
``strings_data``, ``strings_finder``, ``strings_coverage``,
``strings_siting``); add a string to the table of the page that shows it.
Layer, facility, status and field names are not repeated there: they come
from :mod:`geo.core.schema`, which is their single source.

This package is plain Python and never imports streamlit, so the map
builder and the tests can use it outside the app.
"""
from __future__ import annotations

from collections.abc import Mapping

from geo.core import schema
from geo.core.i18n import (strings_app, strings_coverage, strings_data, strings_finder, strings_reports,
                          strings_siting)

#: Supported UI languages; the first is the default.
LANGS: tuple[str, ...] = ("zh", "en")

#: How each language names itself in the language switch.
LANG_NAMES: dict[str, str] = {"zh": "中文", "en": "English"}


def merge_tables(*tables: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """One string table out of several, refusing a key defined in two of them.

    Parameters
    ----------
    *tables
        ``{key: (Chinese, English)}`` tables.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If a key is in more than one table: one would silently hide the other.
    """
    merged: dict[str, tuple[str, str]] = {}
    for table in tables:
        twice = sorted(merged.keys() & table.keys())
        if twice:
            raise ValueError(f"UI string keys defined twice: {', '.join(twice)}")
        merged.update(table)
    return merged


_STRINGS = merge_tables(strings_app.STRINGS, strings_data.STRINGS, strings_finder.STRINGS,
                        strings_coverage.STRINGS, strings_siting.STRINGS, strings_reports.STRINGS)



def t(key: str, lang: str = "zh", **fmt: object) -> str:
    """Return the UI string ``key`` in ``lang``, formatted with ``fmt``.

    Parameters
    ----------
    key : str
        A key of the string table.
    lang : str, default "zh"
        ``"zh"`` or ``"en"``; anything else falls back to Chinese.
    **fmt
        Values for the ``{placeholders}`` in the string.

    Returns
    -------
    str

    Raises
    ------
    KeyError
        If ``key`` is not in the table, so that a typo fails in the tests
        instead of showing a raw key to a user.
    """
    zh, en = _STRINGS[key]
    text = en if _lang(lang) == "en" else zh
    return text.format(**fmt) if fmt else text


def keys() -> tuple[str, ...]:
    """All keys of the string table (for tests and translators)."""
    return tuple(_STRINGS)


def normalize_lang(lang: object) -> str:
    """Return ``lang`` if supported, else the default ``"zh"``.

    Accepts what arrives from a URL query parameter, such as ``"EN"``,
    ``"en-US"`` or a one-element list.
    """
    if isinstance(lang, (list, tuple)):
        lang = lang[0] if lang else ""
    code = str(lang or "").strip().lower()[:2]
    return code if code in LANGS else LANGS[0]


def _lang(lang: str) -> str:
    return "en" if lang == "en" else "zh"


def kind_label(code: str, lang: str = "zh") -> str:
    """Name of the layer ``code`` (e.g. ``rest_station``); the code itself if unknown."""
    kind = schema.KINDS.get(code)
    if kind is None:
        return str(code)
    return kind.en if _lang(lang) == "en" else kind.zh


def facility_label(code: str, lang: str = "zh", icon: bool = False) -> str:
    """Name of the facility ``code``, optionally prefixed by its icon."""
    fac = schema.FACILITIES.get(code)
    if fac is None:
        return str(code)
    label = fac.en if _lang(lang) == "en" else fac.zh
    return f"{fac.icon} {label}" if icon else label


def status_label(code: str, lang: str = "zh") -> str:
    """Name of the status ``code`` (``open``, ``closed`` ...); the code itself if unknown."""
    pair = schema.STATUSES.get(code)
    if pair is None:
        return str(code)
    return pair[1] if _lang(lang) == "en" else pair[0]


def field_label(name: str, lang: str = "zh") -> str:
    """Label of the canonical field ``name``; the name itself if unknown.

    ``lonlat`` (one column holding both coordinates) and ``extra`` (text
    kept verbatim) are not stored fields but can be chosen in the column
    mapping, so they have labels too; so has ``coord_system``, the column
    our CSV and XLSX exports add.
    """
    if name in ("lonlat", "extra"):
        return t(f"mapping_{name}", lang)
    if name == "coord_system":
        return t("field_coord_system", lang)
    fld = schema.FIELDS_BY_NAME.get(name)
    if fld is None:
        return str(name)
    return fld.en if _lang(lang) == "en" else fld.zh


def crs_label(code: str, lang: str = "zh") -> str:
    """Label of a coordinate-system choice of the importer (``auto``, ``wgs84`` ...)."""
    key = f"crs_{code}"
    return t(key, lang) if key in _STRINGS else str(code)


def error_text(exc: BaseException, lang: str = "zh") -> str:
    """The message of an exception in ``lang``.

    The library's errors carry ``zh`` and ``en`` attributes (see
    :class:`geo.registry.io.readers.ReadError`); any other exception is shown as it is.
    """
    text = getattr(exc, "en" if _lang(lang) == "en" else "zh", None)
    return str(text) if text else str(exc)


def pick(text: str, lang: str = "zh") -> str:
    """One language out of a library message written as ``"中文 / English"``.

    Reports and errors from :mod:`geo.registry.validate` carry both languages joined
    by ``" / "``. When the text splits into exactly two such parts, the one
    for ``lang`` is returned; otherwise (a value inside the message contained
    ``" / "`` too, or the text is in one language only) it is returned
    whole, since showing both languages is better than cutting a sentence.
    """
    parts = str(text).split(" / ")
    if len(parts) != 2:
        return str(text)
    return parts[1] if _lang(lang) == "en" else parts[0]
