"""Failed-login counts in the PostGIS registry's database: every server sees the same counts and locks."""
from __future__ import annotations

import subprocess
import sys

import pytest

from geo.registry.auth.errors import AuthError, LockedError, LoginFailed
from geo.registry.auth.login import LoginGuard, authenticate
from geo.registry.auth.passwords import hash_password
from geo.registry.store.pg_login import PostgisLoginGuard, login_guard

from conftest import ROOT


class _Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_two_servers_share_the_counts_and_the_lock(pg_url):
    clock = _Clock(1_800_000_000.0)
    one = PostgisLoginGuard(pg_url, clock=clock, max_failures=3, window_s=600, lockout_s=900)
    other = PostgisLoginGuard(pg_url, clock=clock, max_failures=3, window_s=600, lockout_s=900)
    assert one.record_failure("张三", "10.0.0.1") is None
    assert other.record_failure("张三 ", "10.0.0.2") is None  # the same name, as typed elsewhere
    assert one.failures("张三") == 2 and other.failures("张三") == 2
    until = one.record_failure("张三", "10.0.0.3")
    assert until == clock.now + 900
    assert other.locked_until("张三") == until  # locked on the other server too
    clock.now += 901
    assert other.locked_until("张三") is None and one.failures("张三") == 0


def test_authenticate_locks_after_wrong_passwords_counted_in_the_database(pg_url):
    accounts = {"李四": hash_password("a long enough password", username="李四")}
    guard = PostgisLoginGuard(pg_url, max_failures=2)
    with pytest.raises(LoginFailed):
        authenticate("李四", "wrong", accounts, guard)
    with pytest.raises(LockedError):
        authenticate("李四", "wrong again", accounts, guard)
    with pytest.raises(LockedError):  # even the right password, while locked
        authenticate("李四", "a long enough password", accounts, PostgisLoginGuard(pg_url, max_failures=2))


def test_failures_counted_at_once_by_two_processes_are_all_kept(pg_url):
    script = ("import sys; from geo.registry.store.pg_login import PostgisLoginGuard\n"
              "g = PostgisLoginGuard(sys.argv[1], max_failures=1000)\n"
              "for _ in range(40): g.record_failure('王五')\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_url], cwd=ROOT) for _ in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    assert PostgisLoginGuard(pg_url, max_failures=1000).failures("王五") == 80


def test_the_deployment_counts_where_its_registry_is(pg_url, tmp_path, monkeypatch):
    monkeypatch.delenv("GEO_LOGIN_STATE", raising=False)
    monkeypatch.setenv("GEO_REGISTRY", pg_url)
    assert isinstance(login_guard(), PostgisLoginGuard)
    monkeypatch.setenv("GEO_LOGIN_STATE", str(tmp_path / "logins.sqlite"))  # a file named on purpose wins
    assert type(login_guard()) is LoginGuard
    monkeypatch.delenv("GEO_LOGIN_STATE")
    monkeypatch.setenv("GEO_REGISTRY", str(tmp_path / "r.gpkg"))
    assert type(login_guard()) is LoginGuard


def test_an_unreachable_database_fails_closed(pg_server, monkeypatch):
    from geo import settings

    monkeypatch.setattr(settings, "PG_CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(AuthError) as exc:
        PostgisLoginGuard(f"postgresql://geo@127.0.0.1:{pg_server.port}/no_such_database")
    assert "Login is unavailable" in str(exc.value.en) and "no_such_database" not in str(exc.value)
