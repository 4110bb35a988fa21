"""Data shown in Streamlit's Markdown: as plain text, and without the server's file paths.

Streamlit renders Markdown in ``st.markdown``, ``st.caption``, ``st.info``,
``st.warning``, ``st.error``, ``st.success``, ``st.toast`` and in widget,
expander and status labels. A value from data, a file or a URL put there
as it is could draw an image (``![x](http://host/beacon)``: the browser
fetches it, telling that host who looked and when), a link, or formatting;
so every such value goes through :func:`md_escape` first, and an error
message through :func:`md_error`, which also cuts the folders off any
file path in it: the public learns nothing of where the server keeps its
files (a file's own name, which the user gave, stays).

Text shown with ``st.html`` is escaped with :func:`html.escape` instead;
tables (``st.dataframe``) and ``st.text`` show plain text already.
"""
from __future__ import annotations

import re

from geo.core.i18n import error_text, pick

# Characters with a meaning in Markdown (and Streamlit's :emoji: and $math$).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")

# GitHub-flavoured Markdown turns bare URLs (``http://``, ``https://``,
# ``www.``) and e-mail addresses into links after escapes are resolved, so
# a backslash does not stop it; an invisible WORD JOINER after the scheme or
# ``www`` and after ``@`` breaks its patterns and leaves the text as written.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?:https?|www)(?=[:.])|@")

# An absolute path: a drive letter or a slash, then at least one folder.
# What follows the last separator (the file's own name) is kept.
_PATH = re.compile(r"(?<![\w.:/\\])(?:[A-Za-z]:)?(?:[/\\][^\s/\\'\"()<>|:;,]+)+[/\\](?=[^\s/\\'\"()<>|:;,]*)")


def md_escape(text: object) -> str:
    """``text`` with Markdown's special characters backslash-escaped, to show as written.

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    str
        Markdown that renders as ``str(text)`` (with an invisible
        :data:`WORD_JOINER` inside URLs and e-mail addresses): no link,
        image, HTML, emphasis, heading, emoji short code or formula.
    """
    text = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, str(text))
    return _MD_SPECIAL.sub(r"\\\1", text)


def without_folders(text: object) -> str:
    """``text`` with the folders of every absolute file path cut off (``/srv/app/x.gpkg`` → ``x.gpkg``).

    URLs keep their form (``http://host/path`` is not a file path).

    Parameters
    ----------
    text : object

    Returns
    -------
    str
    """
    return _PATH.sub("", str(text))


def md_text(text: object, lang: str = "zh") -> str:
    """A library message for Markdown: one language of a ``"中文 / English"`` text, no folders, escaped.

    Parameters
    ----------
    text : object
    lang : str

    Returns
    -------
    str
    """
    return md_escape(without_folders(pick(str(text), lang)))


def md_error(exc: BaseException, lang: str = "zh") -> str:
    """The message of ``exc`` in ``lang`` for Markdown: no folders, escaped (see :func:`md_text`).

    Parameters
    ----------
    exc : BaseException
    lang : str

    Returns
    -------
    str
    """
    return md_text(error_text(exc, lang), lang)
