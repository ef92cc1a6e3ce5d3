"""The `docker` runtime: each slot is one container, followed by a launcher.

The daemon creates and starts the container through the Engine API (the docker SDK):
named `deployd-<app>-<slot>`, labelled `deployd.app`, `.slot`, `.release`, `.instance`;
its environment is the slot's env file handed over the API (never a command line); no
restart policy (deployd's own back-off restarts it, as on every runtime); memory and CPU
limits from deployd.toml; the slot port published on 127.0.0.1 (bridge) or the host's
network. Then the slot's launcher follows the container's output into the slot's log,
masked, and exits with the container's status when the Engine reports its end (its
`wait`): the slot is alive exactly as long as its launcher, as on every runtime, and a
daemon restart touches neither.

A daemon that is re-rooted (dev, tests) puts a short hash of its root into container names
and image repositories (`deployd-1a2b3c-shop-blue`), so two of them never share one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import psutil
import requests.exceptions
from docker.types import LogConfig

from deployd.domain.databases import docker_hosts
from deployd.domain.envfile import parse

from .base import Handle, LaunchSpec, StartError
from .process import ProcessRuntime

log = logging.getLogger(__name__)

LOG_CONFIG = LogConfig(type="local", config={"max-size": "10m", "max-file": "2"})
"""The Engine keeps a little of each container's output, which the launcher reads from the
start: nothing is lost between the container's start and the launcher's."""


def instance_prefix(root: Path | None) -> str:
    if root is None:
        return "deployd"
    return "deployd-" + hashlib.sha256(str(root).encode()).hexdigest()[:6]


class DockerUnavailable(StartError):
    pass


ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
"""What talking to the Engine can raise: its own errors, and the transport's when it goes
away in the middle of a call."""


def container_options(spec: LaunchSpec, name: str, instance: str) -> dict[str, Any]:
    """How a slot's container is created (docker SDK `containers.create` keywords)."""
    platform, config = parse(spec.env_file.read_text())
    options: dict[str, Any] = {
        "name": name,
        "labels": {
            "deployd.app": spec.app,
            "deployd.slot": spec.slot,
            "deployd.process": spec.process,
            "deployd.release": str(spec.release),
            "deployd.instance": instance,
        },
        "environment": {**platform, **config},
        "detach": True,
        "restart_policy": {"Name": "no"},
        "init": True,  # signals reach the app, zombies are reaped: docker-init is PID 1
        "log_config": LOG_CONFIG,
    }
    if spec.command is not None:  # the Procfile's line replaces the image's command
        options["entrypoint"] = ["/bin/sh", "-c"]
        options["command"] = [spec.command]
    if spec.network == "host":
        options["network_mode"] = "host"
    else:  # the host is `host.docker.internal`: linked databases are reached there
        options["extra_hosts"] = docker_hosts(spec.network)
        if spec.port is not None:  # it listens on PORT; only loopback reaches it, via nginx
            options["ports"] = {f"{spec.port}/tcp": ("127.0.0.1", spec.port)}
    if spec.memory_bytes:
        options["mem_limit"] = spec.memory_bytes
    if spec.cpus:
        options["nano_cpus"] = int(spec.cpus * 1e9)
    return options


def default_bridge(base_url: str | None) -> tuple[str, str] | None:
    """(gateway, subnet) of the Engine's default bridge, IPv4, where its containers find
    the host; None when the Engine is not there (blocking)."""
    try:
        client = (
            docker.DockerClient(base_url=base_url, version="auto")
            if base_url
            else docker.from_env(version="auto")
        )
        with contextlib.closing(client):
            configs = client.networks.get("bridge").attrs.get("IPAM", {}).get("Config") or []
    except ENGINE_ERRORS:
        return None
    for config in configs:
        gateway, subnet = config.get("Gateway"), config.get("Subnet")
        if gateway and subnet and ":" not in subnet:
            return str(gateway), str(subnet)
    return None


class DockerRuntime:
    name = "docker"

    def __init__(
        self, launchers: ProcessRuntime, *, prefix: str = "deployd", base_url: str | None = None
    ) -> None:
        self.launchers = launchers
        self.prefix = prefix
        self.base_url = base_url
        self._client: docker.DockerClient | None = None

    def client(self) -> docker.DockerClient:
        """The Engine, connected on first use; DockerUnavailable says why it is not there."""
        if self._client is None:
            try:
                if self.base_url:
                    self._client = docker.DockerClient(base_url=self.base_url, version="auto")
                else:
                    self._client = docker.from_env(version="auto")
            except ENGINE_ERRORS as exc:
                raise DockerUnavailable(f"the Docker Engine is not running ({exc})") from None
        return self._client

    def engine_up(self) -> bool:
        try:
            return bool(self.client().ping())
        except (DockerUnavailable, *ENGINE_ERRORS):
            self._client = None
            return False

    def container_name(self, app: str, slot: str, process: str) -> str:
        """`deployd-shop.blue.web.1`: an app's name has no dot, so names never collide."""
        return f"{self.prefix}-{app}.{slot}.{process}"

    def repository(self, app: str) -> str:
        return f"{self.prefix}/{app}"

    def init_pid(self, app: str, slot: str, process: str) -> int | None:
        """The host pid of the container's init (docker-init): the app's processes are its
        children, measured as a launcher's are. None when it does not run (blocking)."""
        try:
            container = self.client().containers.get(self.container_name(app, slot, process))
        except (*ENGINE_ERRORS, DockerUnavailable):
            return None
        pid = int(container.attrs.get("State", {}).get("Pid") or 0)
        return pid or None

    def images_bytes(self, app: str) -> int:
        """What the app's images take (layers they share with others counted in each); 0
        when the Engine is not there (blocking: call it in a thread)."""
        try:
            images = self.client().images.list(name=self.repository(app))
        except (*ENGINE_ERRORS, DockerUnavailable):
            return 0
        return sum(int(image.attrs.get("Size") or 0) for image in images)

    def start(self, spec: LaunchSpec) -> Handle:
        if spec.image is None:
            raise StartError(f"release {spec.release} has no image: it was not built with docker")
        client = self.client()
        name = self.container_name(spec.app, spec.slot, spec.process)
        options = container_options(spec, name, self.prefix)
        try:
            self._remove(name)
            container = client.containers.create(spec.image, **options)
            container.start()
        except docker.errors.ImageNotFound:
            raise StartError(f"the image of release {spec.release} is gone: deploy again") from None
        except docker.errors.APIError as exc:
            with contextlib.suppress(*ENGINE_ERRORS):
                self._remove(name)
            raise StartError(f"docker could not start the container: {exc.explanation}") from None
        except ENGINE_ERRORS as exc:
            raise DockerUnavailable(f"the Docker Engine went away: {exc}") from None
        args = ["--container", str(container.id)]
        if self.base_url:
            args += ["--docker", self.base_url]
        return self.launchers.launch(spec, args)

    def ours(self, app: str, slot: str, process: str, handle: Handle) -> Callable[[int], bool]:
        """The container's processes (its cgroup names it) and, on a bridge, the Engine's
        proxy that forwards the published port to this container's address."""
        try:
            container = self.client().containers.get(self.container_name(app, slot, process))
        except (docker.errors.NotFound, DockerUnavailable, *ENGINE_ERRORS):
            return lambda pid: False
        ident = str(container.id)
        networks = container.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
        addresses = {n.get("IPAddress") for n in networks.values() if n.get("IPAddress")}

        def check(pid: int) -> bool:
            try:
                if ident in Path(f"/proc/{pid}/cgroup").read_text():
                    return True
                command = psutil.Process(pid).cmdline()
            except (OSError, psutil.Error):
                return False
            proxy = bool(command) and command[0].endswith("docker-proxy")
            return proxy and any(address in command for address in addresses)

        return check

    async def stop(
        self, app: str, slot: str, process: str, handles: Iterable[Handle], timeout: float
    ) -> None:
        """Stop the container (the Engine sends SIGTERM, then SIGKILL after `timeout`); its
        launcher, which was waiting for exactly that, then records the end and exits (it
        is made to if it does not); only then is the container removed."""
        name = self.container_name(app, slot, process)
        await asyncio.to_thread(self._engine, name, "stop", timeout=max(1, round(timeout)))
        await self.launchers.stop(app, slot, process, handles, 5.0)
        await asyncio.to_thread(self._engine, name, "remove", force=True)

    def _engine(self, name: str, action: str, **options: Any) -> None:
        try:
            getattr(self.client().containers.get(name), action)(**options)
        except docker.errors.NotFound:
            pass
        except (DockerUnavailable, *ENGINE_ERRORS) as exc:
            log.warning("could not %s container %s: %s", action, name, exc)

    def _remove(self, name: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.client().containers.get(name).remove(force=True)

    def containers(self) -> list[tuple[str, str, str]]:
        """(app, slot, name) of every container this deployd made that exists now."""
        found = self.client().containers.list(
            all=True, filters={"label": f"deployd.instance={self.prefix}"}
        )
        return [(c.labels["deployd.app"], c.labels["deployd.slot"], str(c.name)) for c in found]

    def remove(self, name: str) -> None:
        """Stop and remove a container by its name (one no slot runs any more)."""
        self._engine(name, "remove", force=True)

    def tag(self, image: str, app: str, release: int) -> None:
        self.client().images.get(image).tag(self.repository(app), str(release))

    def image_exists(self, image: str) -> bool:
        try:
            self.client().images.get(image)
        except docker.errors.ImageNotFound:
            return False
        except ENGINE_ERRORS as exc:
            raise DockerUnavailable(f"the Docker Engine is not available: {exc}") from None
        return True

    def untag(self, app: str, releases: Iterable[int]) -> None:
        """Remove the tags of pruned releases; an image whose last tag goes is removed by
        the Engine, one another release still tags (same build) stays."""
        for release in releases:
            with contextlib.suppress(*ENGINE_ERRORS):
                self.client().images.remove(f"{self.repository(app)}:{release}")
