"""Docker builds: the repository's Dockerfile, built by the Engine.

The build log streams line by line into the job's output (which masks it and stores it per
release); the image is tagged `<repository>:<release>`; the app's config goes in as build
arguments, but only for the names the Dockerfile declares with `ARG` (the others would
only draw a warning), and their values are part of the build's cache key; the Engine's
layer cache is reused between releases. Build arguments are visible in the image's
history (`docker history`), as with any docker build: a Dockerfile should not declare an
ARG for a secret. The build context is the source's saved tar stream, handed to the Engine
as it is: the daemon never reads the source's files by name. The artifact is an empty
directory with a marker naming the image, like a native build's, so caching, rollback and
pruning treat both alike.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from deployd.domain.databases import docker_hosts

from .artifacts import write_marker
from .native import BuildError

LogLine = Callable[[str], Awaitable[None]]
TRANSPORT_ERRORS = (requests.exceptions.RequestException, OSError)
"""The Engine going away in the middle of a call."""
ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE | re.IGNORECASE)


def declared_args(dockerfile: str) -> set[str]:
    return set(ARG.findall(dockerfile))


async def build(
    client: docker.DockerClient,
    context: Path,
    dockerfile: str,
    artifact: Path,
    *,
    tag: str,
    config: dict[str, str],
    log: LogLine,
) -> str:
    """Build the tar stream in `context` with its Dockerfile (whose text is `dockerfile`);
    returns the image id."""
    args = {k: v for k, v in config.items() if k in declared_args(dockerfile)}
    image: str = await _stream(lambda: _build(client, context, tag, args), log)
    shutil.rmtree(artifact, ignore_errors=True)
    artifact.mkdir(mode=0o755)
    write_marker(artifact, artifact.name, image=image)
    return image


def _build(client: docker.DockerClient, context: Path, tag: str, args: dict[str, str]) -> Any:
    """The Engine's build output, one decoded item at a time (runs in a thread)."""
    image: str | None = None
    try:
        with context.open("rb") as stream:
            items = client.api.build(
                fileobj=stream,
                custom_context=True,
                tag=tag,
                buildargs=args,
                rm=True,
                forcerm=True,
                decode=True,
            )
            for item in items:
                if "error" in item:
                    raise BuildError(f"docker build failed: {item['error'].strip()}")
                if "stream" in item:
                    yield from item["stream"].rstrip("\n").splitlines()
                elif "status" in item:
                    yield str(item["status"])
                aux = item.get("aux")
                if isinstance(aux, dict) and "ID" in aux:
                    image = aux["ID"]
        if image is None:
            image = client.images.get(tag).id
    except docker.errors.APIError as exc:
        raise BuildError(f"docker build failed: {exc.explanation}") from None
    except (docker.errors.DockerException, *TRANSPORT_ERRORS) as exc:
        raise BuildError(f"the Docker Engine is not available: {exc}") from None
    return image


async def run_once(
    client: docker.DockerClient,
    image: str,
    command: str,
    *,
    env: dict[str, str],
    network: str,
    log: LogLine,
) -> None:
    """Run a one-off command in a container of `image` (the `release:` command), streaming
    its output; raise BuildError if it fails."""

    def run() -> Any:
        container = client.containers.run(
            image,
            entrypoint=["/bin/sh", "-c"],
            command=[command],
            environment=env,
            network_mode="host" if network == "host" else "bridge",
            extra_hosts=docker_hosts(network),
            detach=True,
        )
        try:
            for chunk in container.logs(stream=True, follow=True):
                yield from chunk.decode(errors="replace").rstrip("\n").splitlines()
            code = container.wait().get("StatusCode", 1)
        finally:
            container.remove(force=True)
        if code != 0:
            raise BuildError(f"`{command}` exited with status {code}")
        return None

    try:
        await _stream(run, log)
    except (docker.errors.DockerException, *TRANSPORT_ERRORS) as exc:
        raise BuildError(f"docker could not run the command: {exc}") from None


async def _stream(produce: Callable[[], Any], log: LogLine) -> Any:
    """Run a generator in a thread, hand each line it yields to `log` on the event loop,
    and return what it returns (or raise what it raises)."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def worker() -> None:
        try:
            generator = produce()
            while True:
                try:
                    line = next(generator)
                except StopIteration as done:
                    loop.call_soon_threadsafe(lines.put_nowait, ("done", done.value))
                    return
                loop.call_soon_threadsafe(lines.put_nowait, ("line", line))
        except BaseException as exc:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(lines.put_nowait, ("error", exc))

    threading.Thread(target=worker, daemon=True, name="docker-stream").start()
    while True:
        kind, value = await lines.get()
        if kind == "line":
            await log(value)
        elif kind == "error":
            raise value
        else:
            return value
