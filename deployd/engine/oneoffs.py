"""One-off processes of the live release (`deployctl run`): with its config, as the app's
account, on its runtime; attached to the caller's terminal, or detached with its output
in the app's log."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from deployd.build.artifacts import image_of, is_built
from deployd.domain.manifest import Manifest
from deployd.domain.slots import SlotState
from deployd.runtime import appmount
from deployd.runtime.base import LaunchSpec, StartError
from deployd.runtime.oneoff import Handoff, run_attached, run_in_container
from deployd.runtime.process import LAUNCHER_ENV
from deployd.store import apps as app_store
from deployd.store.apps import SlotRow
from deployd.store.releases import ReleaseRow
from deployd.unix.accounts import Account

from . import appconfig, slots
from .building import artifact_dir
from .platform import Platform

REAP_SECONDS = 1.0
"""How often a detached container's launcher is looked at, to remove the container."""


class NothingToRun(Exception):
    """The app has no release running to take a one-off from."""


@dataclass(frozen=True, slots=True)
class OneOff:
    app: str
    name: str
    """`run.4821`: how its log lines are named."""
    release: ReleaseRow
    slot: SlotRow
    artifact: Path
    account: Account
    image: str | None
    """A docker release's image: the one-off runs in a container of it."""
    network: str
    app_mount: bool

    @property
    def number(self) -> int:
        """The release's number (v<number>)."""
        return int(self.release.version)

    @property
    def at_app(self) -> bool:
        return self.image is None and self.app_mount


async def prepare(platform: Platform, app: str, name: str) -> OneOff:
    async with platform.pool.connection() as conn:
        live = await app_store.live(conn, app)
    if live is None:
        raise NothingToRun(f"{app} has no live release to run a command of: deploy it")
    slot, release = live.slot, live.release
    if slot.state not in (SlotState.LIVE, SlotState.SUSPENDED):
        raise NothingToRun(f"{app}'s live slot is {slot.state}: try again in a moment")
    if not release.build_key:
        raise NothingToRun(f"{app}'s live release has no build")
    artifact = artifact_dir(platform, app, release.build_key)
    if not is_built(artifact):
        raise NothingToRun(f"the build of v{release.version} is gone: deploy again")
    manifest = Manifest.from_json(release.manifest) if release.manifest else None
    return OneOff(
        app=app,
        name=name,
        release=release,
        slot=slot,
        artifact=artifact,
        account=await platform.accounts.prepare(app),
        image=image_of(artifact),
        network=(manifest.docker_network if manifest else None) or platform.settings.docker_network,
        app_mount=platform.app_mount,
    )


async def _environment(platform: Platform, one: OneOff) -> dict[str, str]:
    config = await appconfig.seen_from_container(
        platform,
        one.app,
        await appconfig.values(platform, one.app, one.release.env_version),
        bridge=one.image is not None and one.network == "bridge",
    )
    env = appconfig.platform_env(
        one.release, one.slot.name, one.artifact, one.name, at_app=one.at_app
    )
    return {**env, **config}


def _native(one: OneOff, argv: list[str]) -> tuple[list[str], Account]:
    """The command as it starts on the host, and as whom: through the /app helper (as
    root: it drops to the app's account itself), or as the app's account directly."""
    if one.at_app:
        return appmount.wrap(argv, one.artifact, one.account.owner), one.account.as_root()
    return argv, one.account


async def attached(platform: Platform, one: OneOff, argv: list[str], handoff: Handoff) -> int:
    """Wait for the client's descriptors, run `argv` on them, return its exit status."""
    conn, fds = await asyncio.to_thread(handoff.accept)
    env = await _environment(platform, one)
    await slots.mark(platform, one.app, one.number, f"{one.name} starts, attached to a terminal")
    if one.image is not None:
        status = await asyncio.to_thread(
            run_in_container,
            platform.docker.client(),
            one.image,
            argv,
            env=env,
            network=one.network,
            fds=fds,
            control=conn,
        )
    else:
        command, account = _native(one, argv)
        status = await asyncio.to_thread(
            run_attached,
            command,
            cwd=one.artifact,
            env=env,
            fds=fds,
            control=conn,
            popen_kwargs=account.popen_kwargs(),
        )
    await slots.mark(platform, one.app, one.number, f"{one.name} exited with status {status}")
    return status


async def detached(platform: Platform, one: OneOff, argv: list[str]) -> None:
    """Start `argv` in the background through a launcher, like a process of the slot: its
    output, masked and named `run.N`, goes to the app's log."""
    env_file = await appconfig.write_process_env(
        platform, one.slot, one.release, one.artifact, one.name, None
    )
    log_file = slots.log_file(platform, one.app)
    if one.image is not None:
        await _detached_container(platform, one, argv, env_file, log_file)
        return
    command, account = _native(one, argv)
    user = ["--user", "{}:{}".format(*account.owner)] if account.owner else []
    launcher = [sys.executable, "-I", "-m", "deployd.runtime.launch"]
    launcher += ["--env-file", str(env_file), "--log", str(log_file)]
    launcher += ["--name", one.name, "--release", str(one.number), *user, "--", *command]
    await slots.mark(platform, one.app, one.number, f"{one.name} starts in the background")
    process = await asyncio.create_subprocess_exec(
        *launcher,
        cwd=one.artifact,
        env=LAUNCHER_ENV,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )

    async def reap() -> None:
        try:
            status = await process.wait()
            await slots.mark(
                platform, one.app, one.number, f"{one.name} exited with status {status}"
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                env_file.unlink()

    task = asyncio.create_task(reap(), name=f"{one.app}-{one.name}")
    platform.background.add(task)
    task.add_done_callback(platform.background.discard)


async def _detached_container(
    platform: Platform, one: OneOff, argv: list[str], env_file: Path, log_file: Path
) -> None:
    """A container of the release's image, followed by a launcher as a slot's process is
    (its output in the app's log as `run.N`), removed once it ends. It carries its slot's
    label: the reconciler removes it when that slot no longer runs."""
    docker = platform.runtimes["docker"]
    slot: str = one.slot.name
    spec = LaunchSpec(
        app=one.app,
        slot=slot,
        release=one.number,
        port=None,
        command=argv[2] if argv[:2] == ["/bin/sh", "-c"] else shlex.join(argv),
        workdir=one.artifact,
        env_file=env_file,
        log_file=log_file,
        pid_file=platform.paths.app_dir(one.app) / f"{one.name}.pid",
        process=one.name,
        image=one.image,
        network=one.network,
    )
    await slots.mark(platform, one.app, one.number, f"{one.name} starts in the background")
    try:
        handle = await asyncio.to_thread(docker.start, spec)
    except StartError as exc:
        env_file.unlink(missing_ok=True)
        raise NothingToRun(str(exc)) from None

    async def reap() -> None:
        try:
            while platform.runtime.alive(handle):
                await asyncio.sleep(REAP_SECONDS)
        finally:
            await docker.stop(one.app, slot, one.name, [handle], 1.0)
            env_file.unlink(missing_ok=True)
            spec.pid_file.unlink(missing_ok=True)
            await slots.mark(platform, one.app, one.number, f"{one.name} ended")

    task = asyncio.create_task(reap(), name=f"{one.app}-{one.name}")
    platform.background.add(task)
    task.add_done_callback(platform.background.discard)
