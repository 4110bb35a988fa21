"""Settings: paths follow the environment when asked for, not when geo.settings was imported."""
from __future__ import annotations

from pathlib import Path

import pytest

from geo import settings

PATHS = [
    (settings.registry_path, "GEO_REGISTRY", settings.DATA_DIR / "registry.gpkg"),
    (settings.network_dir, "GEO_NETWORK_DIR", settings.ROOT / "network"),
    (settings.scenario_dir, "GEO_SCENARIO_DIR", settings.DATA_DIR / "scenarios"),
    (settings.accounts_path, "GEO_ACCOUNTS", Path.home() / ".config" / "gd-worker-map" / "accounts.toml"),
]


@pytest.mark.parametrize("setting, variable, default", PATHS, ids=[p[1] for p in PATHS])
def test_a_path_follows_the_environment_at_call_time(setting, variable, default, monkeypatch, tmp_path):
    monkeypatch.setenv(variable, str(tmp_path / "chosen"))
    assert setting() == tmp_path / "chosen"
    monkeypatch.setenv(variable, "")  # set but empty: the default
    assert setting() == default
    monkeypatch.delenv(variable)
    assert setting() == default


def test_the_login_state_file_defaults_to_none(monkeypatch, tmp_path):
    monkeypatch.delenv("GEO_LOGIN_STATE", raising=False)
    assert settings.login_state_path() is None
    monkeypatch.setenv("GEO_LOGIN_STATE", str(tmp_path / "logins.sqlite"))
    assert settings.login_state_path() == tmp_path / "logins.sqlite"


def test_the_old_path_constants_are_gone():
    # A constant would freeze the environment at import; the functions replace them.
    for name in ("REGISTRY_PATH", "NETWORK_DIR", "SCENARIO_DIR", "ACCOUNTS_PATH", "LOGIN_STATE_PATH"):
        assert not hasattr(settings, name), name
