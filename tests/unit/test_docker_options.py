"""How a slot's container is asked for: bridge publishes on loopback only, limits apply, the
config travels as the environment (the tests run containers on the host network only)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deployd.domain.envfile import render
from deployd.runtime.base import LaunchSpec
from deployd.runtime.docker import container_options, instance_prefix


def spec(tmp_path: Path, **changes: object) -> LaunchSpec:
    env_file = tmp_path / "blue.env"
    env_file.write_text(render({"PORT": "20000"}, {"API_TOKEN": "secret-1"}, "test"))
    base = LaunchSpec(
        app="shop",
        slot="blue",
        release=7,
        port=20000,
        command=None,
        workdir=tmp_path,
        env_file=env_file,
        log_file=tmp_path / "blue.log",
        pid_file=tmp_path / "blue.pid",
        image="sha256:abc",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_bridge_publishes_the_slot_port_on_loopback_only(tmp_path: Path) -> None:
    options = container_options(spec(tmp_path), "deployd-shop-blue", "deployd")
    assert options["ports"] == {"20000/tcp": ("127.0.0.1", 20000)}
    assert "network_mode" not in options
    assert options["environment"] == {"PORT": "20000", "API_TOKEN": "secret-1"}
    assert options["restart_policy"] == {"Name": "no"} and options["init"] is True
    assert options["labels"] == {
        "deployd.app": "shop",
        "deployd.slot": "blue",
        "deployd.release": "7",
        "deployd.process": "web.1",
        "deployd.instance": "deployd",
    }
    assert "command" not in options  # the image's own command


def test_a_worker_publishes_nothing_and_gets_no_port(tmp_path: Path) -> None:
    options = container_options(
        spec(tmp_path, port=None, process="worker.2", command="python worker.py"), "n", "deployd"
    )
    assert "ports" not in options
    assert options["labels"]["deployd.process"] == "worker.2"


def test_host_network_limits_and_a_procfile_command(tmp_path: Path) -> None:
    options = container_options(
        spec(tmp_path, network="host", memory_bytes=64 << 20, cpus=0.5, command="serve --x"),
        "n",
        "deployd",
    )
    assert options["network_mode"] == "host" and "ports" not in options
    assert options["mem_limit"] == 64 << 20 and options["nano_cpus"] == 500_000_000
    assert options["entrypoint"] == ["/bin/sh", "-c"] and options["command"] == ["serve --x"]


def test_re_rooted_daemons_name_their_containers_apart() -> None:
    assert instance_prefix(None) == "deployd"
    one, two = instance_prefix(Path("/tmp/a")), instance_prefix(Path("/tmp/b"))
    assert one != two and one.startswith("deployd-")
