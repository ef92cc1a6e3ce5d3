"""The start-up hint names a command that works where deployd was started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployd.daemon import reach_hint


@pytest.fixture
def here(tmp_path: Path) -> Path:
    (tmp_path / ".deployd").mkdir()
    (tmp_path / ".deployd" / "deployd.sock").touch()
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    script = tmp_path / "venv" / "bin" / "deployctl"
    script.touch()
    script.chmod(0o755)
    return tmp_path


def test_under_uv_run_from_the_clone_it_is_uv_run_deployctl_status(here: Path) -> None:
    environ = {"UV": "/usr/bin/uv", "PATH": "/usr/bin"}
    hint = reach_hint(here / ".deployd" / "deployd.sock", environ, here, str(here / "venv"))
    if Path("/run/deployd/deployd.sock").exists():  # a system daemon answers first
        assert hint == f"uv run deployctl --socket {here}/.deployd/deployd.sock status"
    else:
        assert hint == "uv run deployctl status"


def test_off_the_path_it_names_the_program_and_the_socket(here: Path) -> None:
    elsewhere = here / "state" / "deployd.sock"
    hint = reach_hint(elsewhere, {"PATH": "/usr/bin"}, here, str(here / "venv"))
    assert hint == f"{here}/venv/bin/deployctl --socket {elsewhere} status"


def test_on_the_path_and_named_by_deployd_socket_it_is_plain(here: Path) -> None:
    elsewhere = here / "state" / "deployd.sock"
    environ = {"PATH": f"{here}/venv/bin{os.pathsep}/usr/bin", "DEPLOYD_SOCKET": str(elsewhere)}
    assert reach_hint(elsewhere, environ, here, str(here / "venv")) == "deployctl status"
