"""Saved siting scenarios in the registry, the same on both backends: their tables' rules and the store methods.

A scenario is a planner's proposal kept under a name (made and read by
:mod:`geo.analysis.scenarios`; here it is an opaque serialised text). It
lives in the registry's database, so every app server of a deployment sees
the scenarios any of them saved, and a copy, backup or restore of the
registry carries them. Two tables (GeoPackage: made by
:mod:`geo.registry.store.gpkg_schema`, PostGIS: migration 4 of
:mod:`geo.registry.store.pg_schema`):

* ``scenarios``: ``fid``, ``name`` (unique, :func:`scenario_name`),
  ``saved_at`` (UTC ISO 8601), ``editor``, ``version`` (of the serialised
  format), ``content`` (the text as given, returned byte for byte);
* ``scenario_log``: ``fid``, ``at``, ``editor``, ``action`` (``save``,
  ``replace``, ``delete``), ``name``: who saved, replaced or deleted which
  scenario, written in the transaction of the change.

Why a log of its own rather than rows of the station ``audit_log``: that
log is per station (``station_id`` is required, a restore brings a
station's version back, a removal row lists the station as removed, and its
newest row is the registry's station change stamp), so a scenario row there
would be taken for a removed station and make every server reload its
stations. A scenario is not station data; its history is kept beside it.

Writes do not move the stations' change stamp (as workers' reports do not).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

from geo import settings
from geo.registry.store.base import SqlDialect, editor_name, now_iso

#: ``scenario_log.action`` values.
SCENARIO_ACTIONS = ("save", "replace", "delete")
#: Longest scenario name, in characters.
MAX_NAME_CHARS = 200
#: Columns of the two tables, in the order both backends hold them (also what a copy carries).
SCENARIO_COLUMNS = ["fid", "name", "saved_at", "editor", "version", "content"]
SCENARIO_LOG_COLUMNS = ["fid", "at", "editor", "action", "name"]
#: Advisory lock that queues scenario writers on PostGIS (any fixed 64-bit number).
_PG_LOCK = 0x7363_656E_6172  # "scenar"


class ScenarioLimitError(ValueError):
    """The registry already holds ``limit`` scenarios and the name is new; nothing was saved.

    Attributes
    ----------
    zh, en : str
        The message in each language (``geo.core.i18n.error_text`` picks one).
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.zh = f"方案已达上限（{limit} 个），未保存。请先删除不再需要的方案，或替换同名方案。"
        self.en = (f"The registry already holds the most scenarios allowed ({limit} scenarios); nothing was saved. "
                   "Delete scenarios no longer needed first, or replace one of the same name.")
        super().__init__(f"{self.zh} / {self.en}")

    def __reduce__(self):
        return type(self), (self.limit,)


class ScenarioExistsError(FileExistsError):
    """A scenario of that name is saved and replacing it was not asked for (a ``FileExistsError``, as before)."""

    def __init__(self, name: str):
        self.name_ = name
        super().__init__(f"方案已存在 / a scenario called {name!r} exists (overwrite=True to replace)")

    def __reduce__(self):
        return type(self), (self.name_,)


class ScenarioNotFoundError(FileNotFoundError):
    """No scenario of that name is saved (a ``FileNotFoundError``, as before; the message names no folder)."""

    def __init__(self, name: str):
        self.name_ = name
        super().__init__(f"找不到方案 / no scenario called {name!r}")

    def __reduce__(self):
        return type(self), (self.name_,)


def scenario_name(name: str) -> str:
    """A scenario's name as kept: white space runs made one space, trimmed.

    Raises
    ------
    ValueError
        Empty, or longer than :data:`MAX_NAME_CHARS` characters (in Chinese and English).
    """
    name = re.sub(r"\s+", " ", str(name or "")).strip()
    if not name:
        raise ValueError("方案名称不能为空 / a scenario needs a name")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"方案名称过长（最多 {MAX_NAME_CHARS} 字） / a scenario name has at most "
                         f"{MAX_NAME_CHARS} characters")
    return name


class ScenarioMethods(SqlDialect):
    """The scenario methods of both stores.

    Each backend gives the connections: the store's ``_reading()`` (a read
    connection) and ``_scenario_write()`` (a write transaction), as
    :class:`GeoPackageScenarios` and :class:`PostgisScenarios` and the stores
    themselves define them. The SQL is written with ``?`` placeholders
    (:class:`~geo.registry.store.base.SqlDialect`).
    """

    def save_scenario(self, name: str, content: str, *, editor: str = settings.EDITOR_APP, version: int = 1,
                      saved_at: str | None = None, overwrite: bool = False, limit: int | None = None) -> dict:
        """Save (or replace) a scenario and log it, in one transaction.

        Parameters
        ----------
        name
            Checked by :func:`scenario_name`.
        content
            The serialised scenario, kept and returned as given.
        editor
            Who saves: kept with the scenario and in ``scenario_log``.
        version
            The serialised format's version.
        saved_at
            Default now (UTC); a one-time import keeps the file's own time.
        overwrite
            Replace a scenario of the same name; otherwise that is an error.
        limit
            Most scenarios the registry may hold (default
            ``settings.SCENARIO_MAX_FILES``); replacing one is always allowed.

        Returns
        -------
        dict
            ``name``, ``saved_at``, ``editor``, ``replaced`` (bool).

        Raises
        ------
        ScenarioExistsError
        ScenarioLimitError
        ValueError
            A refused name, no editor, or content that is not text.
        """
        name, editor = scenario_name(name), editor_name(editor)
        if not isinstance(content, str):
            raise ValueError("方案内容须为文本 / a scenario's content must be text")
        limit = settings.SCENARIO_MAX_FILES if limit is None else int(limit)
        stamp = saved_at or now_iso()
        with self._scenario_write() as conn:
            # In the write transaction (writers queue): two saves cannot both pass the limit.
            there = conn.execute(self._q("SELECT 1 FROM scenarios WHERE name = ?"), (name,)).fetchone() is not None
            if there and not overwrite:
                raise ScenarioExistsError(name)
            if not there and conn.execute("SELECT count(*) FROM scenarios").fetchone()[0] >= limit:
                raise ScenarioLimitError(limit)
            if there:
                conn.execute(self._q("UPDATE scenarios SET saved_at = ?, editor = ?, version = ?, content = ? "
                                     "WHERE name = ?"), (stamp, editor, int(version), content, name))
            else:
                conn.execute(self._q("INSERT INTO scenarios (name, saved_at, editor, version, content) "
                                     "VALUES (?, ?, ?, ?, ?)"), (name, stamp, editor, int(version), content))
            conn.execute(self._q("INSERT INTO scenario_log (at, editor, action, name) VALUES (?, ?, ?, ?)"),
                         (now_iso(), editor, "replace" if there else "save", name))
        return {"name": name, "saved_at": stamp, "editor": editor, "replaced": there}

    def scenario(self, name: str) -> dict | None:
        """One saved scenario (``name``, ``saved_at``, ``editor``, ``version``, ``content``), or None."""
        name = scenario_name(name)
        with self._reading() as conn:
            row = conn.execute(self._q("SELECT name, saved_at, editor, version, content FROM scenarios "
                                       "WHERE name = ?"), (name,)).fetchone()
        return None if row is None else dict(zip(SCENARIO_COLUMNS[1:], tuple(row)))

    def scenarios(self) -> list[dict]:
        """Every saved scenario, as :meth:`scenario` returns one, in the order they were first saved."""
        with self._reading() as conn:
            rows = conn.execute("SELECT name, saved_at, editor, version, content FROM scenarios ORDER BY fid"
                                ).fetchall()
        return [dict(zip(SCENARIO_COLUMNS[1:], tuple(r))) for r in rows]

    def count_scenarios(self) -> int:
        """How many scenarios are saved (what ``settings.SCENARIO_MAX_FILES`` limits)."""
        with self._reading() as conn:
            return int(conn.execute("SELECT count(*) FROM scenarios").fetchone()[0])

    def delete_scenario(self, name: str, *, editor: str = settings.EDITOR_APP) -> bool:
        """Delete a saved scenario and log it; returns whether there was one (nothing is logged if not)."""
        name, editor = scenario_name(name), editor_name(editor)
        with self._scenario_write() as conn:
            gone = conn.execute(self._q("DELETE FROM scenarios WHERE name = ?"), (name,)).rowcount > 0
            if gone:
                conn.execute(self._q("INSERT INTO scenario_log (at, editor, action, name) VALUES (?, ?, ?, ?)"),
                             (now_iso(), editor, "delete", name))
        return gone

    def scenario_log(self, limit: int | None = 200) -> pd.DataFrame:
        """Who saved, replaced and deleted which scenario, newest first (``limit=None``: all)."""
        query = "SELECT fid, at, editor, action, name FROM scenario_log ORDER BY fid DESC"
        args: tuple = ()
        if limit is not None:
            query, args = query + " LIMIT ?", (int(limit),)
        with self._reading() as conn:
            rows = conn.execute(self._q(query), args).fetchall()
        return pd.DataFrame([tuple(r) for r in rows], columns=SCENARIO_LOG_COLUMNS)


class GeoPackageScenarios(ScenarioMethods):
    """Scenario methods on the GeoPackage store's connections (one SQLite write transaction each)."""

    def _scenario_write(self):
        return self._transaction()


class PostgisScenarios(ScenarioMethods):
    """Scenario methods on the PostGIS store's pool: writers queue on an advisory lock, the change counter stays."""

    @contextmanager
    def _scenario_write(self) -> Iterator:
        with self._connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK,))
            yield conn
