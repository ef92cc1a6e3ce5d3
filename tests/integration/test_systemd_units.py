"""The units deployd writes and ships: golden files, and `systemd-analyze verify` on each
(it runs without systemd as PID 1). The slots' units are started through systemctl only
where systemd runs; this machine's PID 1 is not systemd."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deployd.runtime.base import LaunchSpec
from deployd.runtime.process import ProcessRuntime
from deployd.runtime.systemd import SystemdRuntime, systemd_arg
from tests.support.daemon import BIN, serve
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
ANALYZE = shutil.which("systemd-analyze")


def runtime(unit_dir: Path, python: str = "/usr/bin/python3") -> SystemdRuntime:
    return SystemdRuntime(
        ProcessRuntime(),
        templates=ROOT / "templates",
        unit_dir=unit_dir,
        python=python,
    )


def spec(**changes: object) -> LaunchSpec:
    base = LaunchSpec(
        app="shop",
        slot="green",
        release=42,
        port=20001,
        command="gunicorn app:app --bind 127.0.0.1:$PORT --workers 2 # 100% fine",
        workdir=Path("/var/lib/deployd/apps/shop/builds/abc123-def456"),
        env_file=Path("/var/lib/deployd/apps/shop/green.web.1.env"),
        log_file=Path("/var/log/deployd/apps/shop/app.log"),
        pid_file=Path("/var/lib/deployd/apps/shop/green.web.1.pid"),
        stop_timeout=15,
        user=(65534, 65534),
        memory_bytes=512 * 1024 * 1024,
        cpus=0.5,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_slot_unit_matches_its_golden_file(tmp_path: Path) -> None:
    rendered = runtime(tmp_path).render(spec())
    assert rendered == (GOLDEN / "deployd-shop.green.web.1.service").read_text()


def test_without_limits_the_unit_has_none(tmp_path: Path) -> None:
    rendered = runtime(tmp_path).render(spec(memory_bytes=None, cpus=None))
    assert "MemoryMax" not in rendered and "CPUQuota" not in rendered


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_accepts_the_slot_unit(tmp_path: Path) -> None:
    unit = tmp_path / "deployd-shop-green.service"
    unit.write_text(runtime(tmp_path, python=sys.executable).render(spec()))
    result = verify(unit)
    assert result.returncode == 0, result.stderr
    assert "Unknown key" not in result.stderr and "Failed" not in result.stderr, result.stderr


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", ["deployd.service", "deployd-web.service"])
def test_systemd_analyze_accepts_deployds_own_units(tmp_path: Path, name: str) -> None:
    unit = tmp_path / name
    text = (ROOT / "units" / name).read_text()
    unit.write_text(text.replace("/opt/deployd/current/bin/deployd", str(BIN / "deployd")))
    if name == "deployd-web.service":  # it names deployd.service as a requirement
        (tmp_path / "deployd.service").write_text(
            (ROOT / "units" / "deployd.service")
            .read_text()
            .replace("/opt/deployd/current/bin/deployd", str(BIN / "deployd"))
        )
    result = verify(unit)
    assert result.returncode == 0, result.stderr
    assert "Unknown key" not in result.stderr, result.stderr
    assert "KillMode=process" in text or name != "deployd.service"


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("/usr/bin/python3", "/usr/bin/python3"),
        ("a b", '"a b"'),
        ("echo $HOME", '"echo $$HOME"'),
        ('say "hi" \\o/', '"say \\"hi\\" \\\\o/"'),
        ("100%", '"100%%"'),
    ],
)
def test_arguments_are_quoted_for_systemd(value: str, word: str) -> None:
    assert systemd_arg(value) == word


def test_a_newline_can_never_reach_a_unit_file() -> None:
    with pytest.raises(ValueError):
        systemd_arg("web\nExecStartPre=/bin/rm -rf /")


def test_the_daemon_feeds_the_watchdog(fresh_db: str, tmp_path: Path) -> None:
    """Under systemd (Type=notify, WatchdogSec) the daemon says READY=1, then WATCHDOG=1
    every half watchdog period."""
    address = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(address))
    listener.settimeout(0.2)
    received: list[str] = []
    env = {"NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "400000"}
    try:
        with serve(fresh_db, env):

            def fed_twice() -> bool:
                with contextlib.suppress(TimeoutError):
                    received.append(listener.recv(1024).decode())
                return received.count("WATCHDOG=1") >= 2

            wait_for(fed_twice, timeout=30)
    finally:
        listener.close()
    assert "READY=1" in received
    assert os.environ.get("WATCHDOG_USEC") is None  # the test's own process was not touched


def test_forgetting_an_app_leaves_units_of_apps_with_longer_names(tmp_path: Path) -> None:
    systemd = SystemdRuntime(
        ProcessRuntime(),
        templates=ROOT / "templates",
        unit_dir=tmp_path,
        systemctl="true",
    )
    for unit in (
        "deployd-shop.blue.web.1",
        "deployd-shop.green.worker.2",
        "deployd-shop-blue",  # an older deployd's
        "deployd-shop-api.blue.web.1",
        "deployd-shop-api-blue",
    ):
        (tmp_path / f"{unit}.service").write_text("[Service]\n")
    systemd.forget("shop")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "deployd-shop-api-blue.service",
        "deployd-shop-api.blue.web.1.service",
    ]
