"""SQLite writes that land whole or not at all (the registry, the login counts)."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def committed(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Commit what the block writes in the transaction begun on ``conn``, or roll all of it back.

    Parameters
    ----------
    conn
        A connection in autocommit mode (``isolation_level=None``) on which
        the caller has run ``BEGIN IMMEDIATE``.

    Yields
    ------
    sqlite3.Connection
        ``conn``. Any exception, an interrupt included, rolls back and is raised again.
    """
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
