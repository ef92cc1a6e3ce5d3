"""The deploy and rollback pipelines of ARCHITECTURE.md §2.

fetch → build (cached) → [release command] → start in the idle slot → health → switch
nginx → verify through nginx → drain and stop the old slot → prune. Each step is recorded
on the job before it runs and announced on the event bus. Any failure before the switch
leaves the live slot untouched; a failed switch puts the old nginx site back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from deployd import failpoints
from deployd.build import artifacts, native
from deployd.build import docker as docker_build
from deployd.build.artifacts import image_of, is_built
from deployd.build.native import BuildError
from deployd.domain import envvars, formation
from deployd.domain.lifecycle import JobKind, JobStep, ReleaseStatus
from deployd.domain.manifest import Manifest
from deployd.domain.retention import ReleaseRef, artifacts_to_prune, rollback_target
from deployd.domain.slots import SlotEvent, SlotState, other
from deployd.protocol.events import EventType
from deployd.proxy.nginx import Live, ProxyError
from deployd.runtime import appmount, logs
from deployd.runtime.base import StartError
from deployd.runtime.docker import DockerUnavailable
from deployd.store import apps as app_store
from deployd.store import env as env_store
from deployd.store import jobs as job_store
from deployd.store import releases as release_store
from deployd.store.apps import AppRow, SlotRow
from deployd.store.jobs import JobRow
from deployd.store.releases import ReleaseRow

from . import appconfig, building, slots
from .building import DeployFailed, artifact_dir
from .health import Unhealthy, wait_ready
from .platform import Platform
from .sites import site_for

TAIL_LINES = 10
log = logging.getLogger(__name__)
T = TypeVar("T")


class Job:
    """One running job: its step bookkeeping and its output."""

    def __init__(self, platform: Platform, row: JobRow, app: AppRow) -> None:
        self.platform = platform
        self.row = row
        self.app = app
        self.name: str = app.name
        self.release_id: int | None = row.release_id
        self.number: int | None = row.release
        """The release's number (v<number>), as users know it."""
        self.build_log: Path | None = None
        self.logged = 0
        """Bytes of output so far: past DEPLOYD_MAX_BUILD_LOG the rest is dropped."""
        self.current_step: JobStep | None = None
        self.recent: deque[str] = deque(maxlen=TAIL_LINES)
        """The current step's last lines of output, for the reason it failed."""
        self.made_release = False
        """This job created its release (a deploy, a config change): if the job fails, so
        did the release. A rollback to a kept release leaves that release as it was."""

    async def step(self, name: JobStep, message: str) -> None:
        self.current_step = name
        self.recent.clear()
        async with self.platform.pool.connection() as conn:
            await job_store.set_step(conn, self.row.id, name)
        await self.platform.emit(
            EventType.DEPLOY_STEP,
            message,
            self.name,
            job=self.row.id,
            step=name,
            release=self.number,
        )

    async def output(self, line: str) -> None:
        limit = self.platform.settings.max_build_log
        if self.logged > limit:
            return
        self.logged += len(line) + 1
        if self.logged > limit:
            line = f"[deployd: output beyond {limit} bytes is not kept (DEPLOYD_MAX_BUILD_LOG)]"
        line = self.platform.mask(self.name, line)
        self.recent.append(line)
        if self.build_log is not None:
            try:
                with _build_log(self.build_log) as fh:
                    fh.write(line + "\n")
            except OSError as exc:  # a full log disk must not fail the deploy
                log.warning("cannot write %s: %s", self.build_log, exc.strerror)
                self.build_log = None
        await self.platform.bus.publish(
            EventType.DEPLOY_OUTPUT, line, app=self.name, data={"job": self.row.id}
        )

    async def db(self, action: Callable[[Any], Awaitable[T]]) -> T:
        async with self.platform.pool.connection() as conn:
            return await action(conn)

    def last_output(self) -> str:
        """The current step's last lines, indented, for an error message ('' if none)."""
        if not self.recent:
            return ""
        return "\nlast output:\n" + "\n".join("  " + line for line in self.recent)

    async def failed(self, error: str) -> None:
        """Record on the job's own release that, where and why it failed."""
        if not self.made_release or self.release_id is None:
            return
        release_id, step = self.release_id, self.current_step
        await self.db(
            lambda c: release_store.update(
                c, release_id, status=ReleaseStatus.FAILED, error=error, failed_step=step
            )
        )


async def deploy(job: Job) -> None:
    platform = job.platform
    release = await job.db(
        lambda c: release_store.insert(
            c,
            app=job.name,
            ref=job.row.params.get("ref"),
            created_by=job.row.actor or "deployd",
            env_version=job.app.env_version,
        )
    )
    job.release_id, job.number, job.made_release = release.id, release.version, True
    await job.db(lambda c: job_store.set_release(c, job.row.id, release.id))
    job.build_log = platform.paths.app_logs(job.name) / f"build-{release.id}.log"
    job.build_log.parent.mkdir(parents=True, exist_ok=True)
    with _build_log(job.build_log):  # a build that prints nothing still has an empty log
        pass
    config = await appconfig.values(platform, job.name, release.env_version)
    artifact, manifest = await building.fetch_and_build(job, config)
    built = await job.db(lambda c: release_store.get(c, release.id))
    assert built is not None, "a release is deleted only with its app, which waits for jobs"
    await activate(job, built, manifest, artifact)


async def rollback(job: Job) -> None:
    """Back to a kept release, with the config it ran with (`keep_env`: with today's)."""
    releases = await job.db(lambda c: release_store.for_app(c, job.name, limit=1000))
    live = next((r for r in releases if r.status == ReleaseStatus.LIVE), None)
    refs = [ReleaseRef(r.id, r.build_key, r.live_at is not None) for r in releases]
    wanted = job.row.params.get("to")
    if wanted is None:
        target = rollback_target(refs, live.id if live else None)
        if target is None:
            raise DeployFailed("there is no earlier release to roll back to")
        wanted = target.id
    row = next((r for r in releases if r.id == wanted), None)
    if row is None or row.build_key is None or row.manifest is None:
        raise DeployFailed("that release cannot be rolled back to (it was never built)")
    version = row.version
    artifact = artifact_dir(job.platform, job.name, row.build_key)
    if not is_built(artifact):
        raise DeployFailed(f"v{version}'s build was pruned; deploy its commit instead")
    current = job.app.env_version
    if job.row.params.get("keep_env") and row.env_version != current:
        row = await _new_release_of(job, row, current, f"rollback to v{version}, today's config")
    else:
        job.release_id, job.number = wanted, version  # its build log stays that build's
        await job.db(lambda c: job_store.set_release(c, job.row.id, wanted))
    await activate(job, row, row.built_manifest(), artifact)


async def reconfigure(job: Job) -> None:
    """A config release: the live build again, with the new config version."""
    releases = await job.db(lambda c: release_store.for_app(c, job.name, limit=100))
    live = next((r for r in releases if r.status == ReleaseStatus.LIVE), None)
    if live is None or live.build_key is None:
        raise DeployFailed("nothing is live: the new config applies at the next deploy")
    artifact = artifact_dir(job.platform, job.name, live.build_key)
    if not is_built(artifact):
        raise DeployFailed("the live release's build is gone: deploy to apply the new config")
    version = job.row.params["env_version"]
    row = await _new_release_of(job, live, version, f"config version {version}")
    await activate(job, row, row.built_manifest(), artifact)


async def _new_release_of(
    job: Job, base: ReleaseRow, env_version: int | None, why: str
) -> ReleaseRow:
    """A new release of `base`'s build with another config: no fetch, no build."""
    row = await job.db(
        lambda c: release_store.insert(
            c,
            app=job.name,
            ref=base.ref,
            created_by=job.row.actor or "deployd",
            env_version=env_version,
            commit=base.commit,
            build_key=base.build_key,
            manifest=base.manifest,
            status=ReleaseStatus.BUILT,
            runtime=base.runtime,
        )
    )
    job.release_id, job.number, job.made_release = row.id, row.version, True
    await job.db(lambda c: job_store.set_release(c, job.row.id, row.id))
    await job.step(JobStep.CONFIG, f"v{row.version}: the build of v{base.version}, {why}")
    return row


async def activate(job: Job, release: ReleaseRow, manifest: Manifest, artifact: Path) -> None:
    """Start `release` in the idle slot, check it, switch nginx to it, drain the old one."""
    platform, name = job.platform, job.name
    number: int = release.version
    await wait_for_drain(job)
    app = await job.db(lambda c: app_store.get(c, name))
    assert app is not None, "an app is deleted only when no job runs"
    by_name = await slots.load(platform, name)
    live_name: str | None = app.live_slot
    target = by_name[other(live_name) if live_name else "blue"]
    if target.state != SlotState.LIVE:  # left mid-way by a failure or a crash
        target = await slots.rest(platform, name, target)

    for what, command in (
        ("the release command", manifest.release),
        ("app.json's predeploy script", manifest.predeploy),
    ):
        if command:
            await job.step(JobStep.RELEASE, f"running {what}: {command}")
            try:
                await run_release_command(job, release, manifest, artifact, target, command, what)
            except (BuildError, DockerUnavailable) as exc:
                raise DeployFailed(f"{what} failed: {exc}{job.last_output()}") from None

    await building.tag_image(platform, name, number, artifact)
    job.build_log = None  # a build log holds the build (and release command) output only
    counted = await slots.counts(platform, name, manifest)
    await job.step(
        JobStep.START, f"starting v{number} in {target.name}: {formation.describe(counted)}"
    )
    idle = {t: n for t, n in counted.items() if n == 0}
    if idle:
        await job.output(
            f"not running {', '.join(sorted(idle))} (0 processes): "
            f"`deployctl scale {name} {next(iter(sorted(idle)))}=1` starts one"
        )
    plan = slots.Launch(manifest, artifact, counted)
    try:
        target, started = await slots.start_release(
            platform, target, SlotEvent.START, release, plan, timeout=manifest.stop_timeout
        )
    except StartError as exc:
        raise DeployFailed(str(exc)) from None
    failpoints.hit("after-start")
    await job.db(  # a new release starts with a clean record for the crash watcher
        lambda c: app_store.save_healing(
            c, name, target.name, restarts=0, next_restart_at=None, last_exit=None
        )
    )

    web = [s for s in started if s.port is not None]
    ports = ", ".join(str(s.port) for s in web)
    checking = f"checking GET {manifest.health.path} on port {ports}" if web else "watching"
    others = len(started) - len(web)
    if others:
        checking += f"; the other processes must keep running {manifest.settle_seconds:g}s"
    await job.step(JobStep.HEALTH, checking)
    try:
        await wait_ready(platform, target, release, manifest, started)
    except Unhealthy as exc:
        await slots.transition(
            platform, name, target, SlotEvent.FAILED, timeout=manifest.stop_timeout
        )
        tail = await _tail(slots.log_file(platform, name), number)
        raise DeployFailed(f"{exc}\n{tail}".rstrip()) from None
    target = await slots.transition(platform, name, target, SlotEvent.PASSED)

    await job.step(JobStep.SWITCH, f"switching nginx to v{number}")
    await _switch(job, target, release, manifest, web=len(web))

    await platform.emit(
        EventType.DEPLOY_LIVE,
        f"v{number} is live at {platform.url(name)}",
        name,
        job=job.row.id,
        release=number,
        slot=target.name,
    )
    if live_name is not None:
        await _retire(job, live_name, manifest)
    await _after_switch(job, release, manifest, artifact, target, first=live_name is None)
    await prune(job)


async def run_release_command(
    job: Job,
    release: ReleaseRow,
    manifest: Manifest,
    artifact: Path,
    target: SlotRow,
    command: str,
    what: str,
) -> None:
    """A command of the release's own (the Procfile's `release:`, app.json's scripts):
    with the release's config, on its runtime, as the app's account, never with a PORT.
    Raises BuildError or DockerUnavailable when it fails."""
    platform, name = job.platform, job.name
    config = await appconfig.values(platform, name, release.env_version)
    image = image_of(artifact)
    at_app = platform.app_mount and image is None
    env = appconfig.platform_env(release, target.name, artifact, at_app=at_app)
    if image is not None:
        network = manifest.docker_network or platform.settings.docker_network
        seen = await appconfig.seen_from_container(
            platform, name, config, bridge=network == "bridge"
        )
        await docker_build.run_once(
            platform.docker.client(),
            image,
            command,
            env={**env, **seen},
            network=network,
            log=job.output,
        )
    else:
        account = await platform.accounts.prepare(name)
        argv = ["/bin/sh", "-c", command]
        if at_app:  # the helper drops to the app's account once /app is in place
            argv, account = appmount.wrap(argv, artifact, account.owner), account.as_root()
        await native.run_command(
            argv,
            artifact,
            {**env, **config},
            account,
            job.output,
            timeout=platform.settings.build_timeout,
            what=what,
            shown=command,
        )


async def _after_switch(
    job: Job, release: ReleaseRow, manifest: Manifest, artifact: Path, target: SlotRow, first: bool
) -> None:
    """app.json's postdeploy scripts, once the release serves: Dokku's after every deploy,
    Heroku's after the app's first only. The release is live already: a failure is told
    (the job's output, an event), not undone."""
    scripts = [("app.json's postdeploy script", manifest.postdeploy)]
    if first:
        scripts.append(("app.json's first-deploy postdeploy script", manifest.first_postdeploy))
    for what, command in scripts:
        if not command:
            continue
        await job.step(JobStep.POSTDEPLOY, f"running {what}: {command}")
        try:
            await run_release_command(job, release, manifest, artifact, target, command, what)
        except (BuildError, DockerUnavailable) as exc:
            message = f"{what} failed; the release is live all the same: {exc}"
            await job.platform.emit(
                EventType.DEPLOY_WARNING, f"{message}{job.last_output()}", job.name, job=job.row.id
            )


async def _retire(job: Job, slot_name: str, manifest: Manifest) -> None:
    """Take the previously live slot out of service, whatever happened to it meanwhile."""
    platform, name = job.platform, job.name
    for _ in range(3):  # the crash watcher may move it while we look: look again
        row = (await slots.load(platform, name))[slot_name]
        state = row.state
        try:
            if state is SlotState.LIVE:
                row = await slots.transition(platform, name, row, SlotEvent.DRAIN)
                await job.output(f"{slot_name} drains for {manifest.drain_seconds:g}s, then stops")
                platform.drains[name] = asyncio.create_task(
                    _drain(platform, name, row, manifest), name=f"drain-{name}"
                )
            else:  # crashed, suspended, or a restart under way: no longer wanted
                await slots.rest(platform, name, row)
            return
        except slots.StaleSlot:
            continue


async def _drain(platform: Platform, app: str, old: SlotRow, manifest: Manifest) -> None:
    """Give the old slot's in-flight requests the grace period, then stop it."""
    try:
        await asyncio.sleep(manifest.drain_seconds)
        await slots.transition(platform, app, old, SlotEvent.STOPPED, timeout=manifest.stop_timeout)
    finally:
        if platform.drains.get(app) is asyncio.current_task():
            del platform.drains[app]


async def wait_for_drain(job: Job) -> None:
    drain = job.platform.drains.get(job.name)
    if drain is not None and not drain.done():
        await job.step(JobStep.DRAIN, "waiting for the previous release to finish draining")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(drain)


async def _switch(
    job: Job, target: SlotRow, release: ReleaseRow, manifest: Manifest, web: int
) -> None:
    """Point nginx at the new slot: (re)load the site only when it is new or its ports or
    names changed, flip the switch, verify through nginx. On failure, flip back. A rollback
    makes its release's config the app's current one, in the same transaction."""
    platform, name = job.platform, job.name
    release_id, number, config = release.id, release.version, release.env_version
    restores_config = job.row.kind == JobKind.ROLLBACK and config != job.app.env_version
    nginx = platform.nginx
    previous_live = nginx.live(name)
    previous_site = nginx.current(name)
    site = nginx.render(await site_for(platform, name))
    try:
        if site != previous_site:  # first: the switch may name an upstream only it defines
            await asyncio.to_thread(nginx.apply, name, site)
        await asyncio.to_thread(nginx.switch, name, Live(target.name, number, web))
        failpoints.hit("after-switch")
        await nginx.verify(platform.hostname(name), number)
        failpoints.hit("after-verify")
    except ProxyError as exc:
        await asyncio.to_thread(nginx.switch, name, previous_live)
        if site != previous_site:
            with contextlib.suppress(ProxyError):
                await asyncio.to_thread(nginx.apply, name, previous_site)
        await slots.transition(
            platform, name, target, SlotEvent.ABORT, timeout=manifest.stop_timeout
        )
        raise DeployFailed(f"switch failed, the previous release keeps serving: {exc}") from None
    await slots.transition(platform, name, target, SlotEvent.PROMOTE)

    async def record(conn: Any) -> bool:
        """True when the rollback's config became current (not when one was staged
        meanwhile: that stays)."""
        async with conn.transaction():
            await app_store.set_live_slot(conn, name, target.name)
            await app_store.set_stopped(conn, name, False)  # a deploy starts a stopped app
            await release_store.mark_live(conn, name, release_id)
            if not restores_config:
                return False
            return await env_store.restore(conn, name, config, expected=job.app.env_version)

    if await job.db(record):
        await appconfig.refresh_masks(platform, name)
        before = await appconfig.values(platform, name, job.app.env_version)
        changes = envvars.difference(before, await appconfig.values(platform, name, config))
        message = (
            f"the config changed with this rollback: version {config or 0}, "
            f"v{number}'s, is current again ({changes or 'the same values'}); "
            f"`deployctl env history {name}` lists every version"
        )
        # the config's history, then the job's
        for kind in (EventType.ENV_RESTORED, EventType.DEPLOY_CONFIG):
            await platform.emit(kind, message, name, version=config, release=number, job=job.row.id)
        left = job.row.params.get("from")  # a crash-loop rollback: say it on that release
        if isinstance(left, int):
            note = f"{job.row.params.get('reason', 'rolled back')}; rolled back: {message}"
            await job.db(lambda c: release_store.update(c, left, error=note))


async def _tail(log_file: Path, release: int) -> str:
    """The release's last lines in the app's log (other releases' lines left out)."""
    lines = await asyncio.to_thread(logs.tail, log_file, TAIL_LINES, logs.of_release(release))
    return "last output:\n" + "\n".join("  " + line for line in lines) if lines else ""


async def prune(job: Job) -> None:
    releases = await job.db(lambda c: release_store.for_app(c, job.name, limit=10_000))
    live = next((r.id for r in releases if r.status == ReleaseStatus.LIVE), None)
    refs = [ReleaseRef(r.id, r.build_key, r.live_at is not None) for r in releases]
    for key in artifacts_to_prune(refs, live):
        tags = [r.version for r in releases if r.build_key == key]
        await remove_build(job.platform, job.name, artifact_dir(job.platform, job.name, key), tags)


async def remove_build(platform: Platform, app: str, artifact: Path, releases: list[int]) -> None:
    """A pruned (or deleted app's) build: its directory, and for a docker build the image
    tags of `releases` (the Engine removes the image with its last tag; an image another
    kept build shares keeps that build's tag)."""
    if image_of(artifact) is not None and releases:
        try:
            await asyncio.to_thread(platform.docker.untag, app, releases)
        except DockerUnavailable as exc:
            log.warning("could not remove %s's images: %s", app, exc)
    artifacts.forget(artifact)  # first: a half-removed build must not count as built
    await asyncio.to_thread(shutil.rmtree, artifact, ignore_errors=True)


def _build_log(path: Path) -> TextIO:
    """A build log opened to append: created 0640 (build output may name internal hosts
    and paths, and is no one else's), never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(path, flags, 0o640), "a")
