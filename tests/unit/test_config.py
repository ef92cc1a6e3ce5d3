from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from deployd.config import Paths, load_settings, resource_dir
from deployd.store.cluster import ClusterError, PrivateCluster


def test_production_paths() -> None:
    paths = Paths.for_root(None)
    assert paths.socket == Path("/run/deployd/deployd.sock")
    assert paths.data_dir == Path("/var/lib/deployd")
    assert not paths.rerooted


def test_one_root_re_roots_every_path(tmp_path: Path) -> None:
    paths = Paths.for_root(tmp_path)
    for path in (
        paths.config_dir,
        paths.data_dir,
        paths.log_dir,
        paths.run_dir,
        paths.socket,
        paths.lock_file,
        paths.pg_dir,
    ):
        assert tmp_path in path.parents or path == tmp_path


def test_the_environment_wins_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deployd.toml").write_text(
        'group = "ops"\nsocket_mode = "0640"\nidle_timeout = 5\n'
    )
    monkeypatch.setenv("DEPLOYD_ROOT", str(tmp_path))
    monkeypatch.setenv("DEPLOYD_IDLE_TIMEOUT", "9")
    settings = load_settings()
    assert settings.group == "ops"
    assert settings.socket_mode == 0o640
    assert settings.idle_timeout == 9


def test_unknown_settings_in_the_file_are_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deployd.toml").write_text("grup = 'typo'\n")
    monkeypatch.setenv("DEPLOYD_ROOT", str(tmp_path))
    with pytest.raises(ValidationError):
        load_settings()


def test_bad_socket_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYD_SOCKET_MODE", "rw-rw----")
    with pytest.raises(ValidationError):
        load_settings()


def test_resources_are_found() -> None:
    assert (resource_dir("migrations") / "0001_base.sql").is_file()


def test_a_root_too_long_for_a_unix_socket_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="too long"):
        PrivateCluster(tmp_path / ("x" * 120))
