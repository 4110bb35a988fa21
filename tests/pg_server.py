"""A throwaway PostgreSQL/PostGIS server for the tests: one per test process, a fresh database per test.

``initdb`` into a temporary folder, ``postgres`` on a free port of
127.0.0.1 with its socket in that folder, run as an unprivileged user when
the tests run as root (PostgreSQL refuses to run as root). Durability is
switched off (``fsync``, ``synchronous_commit``): the server is thrown away
with the run, and a crash test kills the client, not the server.

A template database holds PostGIS and the registry's schema, made once;
every test's database is ``CREATE DATABASE ... TEMPLATE`` of it (a file
copy, tens of milliseconds). Under pytest-xdist each worker process starts
its own server, so workers never wait on each other's databases.
"""
from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")
TEMPLATE = "geo_template"
_SUPERUSER = "geo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demote():
    """``preexec_fn`` that drops root for the server's user (PostgreSQL will not run as root)."""
    if os.getuid() != 0:
        return None
    user = pwd.getpwnam("nobody")

    def drop() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    return drop


class PgServer:
    """A running server: :meth:`new_database` gives a fresh registry database's URL."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL is not installed ({PG_BIN}); `make test` installs "
                               "postgresql and postgresql-15-postgis-3")
        self.dir = Path(tempfile.mkdtemp(prefix="geo-pg-"))
        if os.getuid() == 0:
            user = pwd.getpwnam("nobody")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.data = self.dir / "data"
        self.port = _free_port()
        self._names = itertools.count()
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        run = dict(preexec_fn=_demote(), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                   cwd=self.dir)
        out = subprocess.run([PG_BIN / "initdb", "-D", self.data, "-U", _SUPERUSER, "--auth=trust",
                              "-E", "UTF8", "--no-sync"], **run)
        if out.returncode:
            raise RuntimeError(f"initdb failed: {out.stdout}")
        self._run = run
        self._start()
        self._make_template()

    def _start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                   "-c shared_buffers=32MB -c log_min_messages=warning")
        out = subprocess.run([PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-o", options,
                              "-w", "-t", "60", "start"], **self._run)
        if out.returncode:
            log = (self.dir / "log").read_text(errors="replace") if (self.dir / "log").exists() else ""
            raise RuntimeError(f"postgres did not start: {out.stdout}\n{log}")
        # Also when the run ends without the fixture's teardown (an interrupt): no server left behind.
        atexit.register(self.stop)

    def replica(self) -> "PgServer":
        """A streaming read replica of this server (``pg_basebackup -R``), started on its own port.

        Its databases are this server's, read-only, kept current by
        replication; :meth:`url` names them on the replica.
        """
        copy = object.__new__(PgServer)
        copy.dir = Path(tempfile.mkdtemp(prefix="geo-pg-replica-"))
        if os.getuid() == 0:
            user = pwd.getpwnam("nobody")
            os.chown(copy.dir, user.pw_uid, user.pw_gid)
        copy.data, copy.port, copy._names = copy.dir / "data", _free_port(), itertools.count()
        copy._run = {**self._run, "cwd": copy.dir}
        out = subprocess.run([PG_BIN / "pg_basebackup", "-D", copy.data, "-R", "-X", "stream", "-c", "fast",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", _SUPERUSER], **copy._run)
        if out.returncode:
            raise RuntimeError(f"pg_basebackup failed: {out.stdout}")
        copy._start()
        return copy

    def url(self, database: str) -> str:
        """A ``postgresql://`` URL of one database of this server."""
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        """An autocommit connection to the ``postgres`` database (to create and drop databases)."""
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def _make_template(self) -> None:
        from geo.registry.store.pg import PostgisStore, close_pools

        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        PostgisStore(self.url(TEMPLATE))  # PostGIS and every migration, once
        close_pools(self.url(TEMPLATE))   # a template must have no connections when copied

    def new_database(self, prefix: str = "t") -> str:
        """A new database holding an empty registry (a copy of the template); returns its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`new_database`, closing this process's pool on it first."""
        from geo.registry.store.pg import close_pools

        close_pools(url)
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is kept) and remove its folder."""
        from geo.registry.store.pg import close_pools

        if not self.data.exists():
            return  # stopped already
        close_pools()
        subprocess.run([PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"], **self._run)
        deadline = time.monotonic() + 10
        while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
