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
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from deployd import failpoints
from deployd.build import native
from deployd.build.native import BuildError
from deployd.domain.errors import DomainError
from deployd.domain.manifest import Manifest, parse_manifest
from deployd.domain.retention import ReleaseRef, artifacts_to_prune, rollback_target
from deployd.domain.slots import SlotEvent, SlotState, other
from deployd.proxy.nginx import Live, ProxyError, Site
from deployd.runtime.process import StartError
from deployd.sources import git, local
from deployd.store import apps as app_store
from deployd.store import env as env_store
from deployd.store import jobs as job_store
from deployd.store import releases as release_store
from deployd.store.db import Row

from . import appconfig, slots
from .health import Unhealthy, wait_healthy
from .platform import Platform

TAIL_LINES = 10
log = logging.getLogger(__name__)


class DeployFailed(Exception):
    """Why a deploy or rollback did not go live, in words for the person who ran it."""


class Job:
    """One running job: its step bookkeeping and its output."""

    def __init__(self, platform: Platform, row: Row, app: Row) -> None:
        self.platform = platform
        self.row = row
        self.app = app
        self.name: str = app["name"]
        self.release_id: int | None = row["release_id"]
        self.build_log: Path | None = None

    async def step(self, name: str, message: str) -> None:
        async with self.platform.pool.connection() as conn:
            await job_store.set_step(conn, self.row["id"], name)
        await self.platform.emit(
            "deploy.step",
            message,
            self.name,
            job=self.row["id"],
            step=name,
            release=self.release_id,
        )

    async def output(self, line: str) -> None:
        line = self.platform.mask(self.name, line)
        if self.build_log is not None:
            try:
                with self.build_log.open("a") as fh:
                    fh.write(line + "\n")
            except OSError as exc:  # a full log disk must not fail the deploy
                log.warning("cannot write %s: %s", self.build_log, exc.strerror)
                self.build_log = None
        await self.platform.bus.publish(
            "deploy.output", line, app=self.name, data={"job": self.row["id"]}, persist=False
        )

    async def db(self, action: Callable[[Any], Awaitable[Any]]) -> Any:
        async with self.platform.pool.connection() as conn:
            return await action(conn)


def _artifact(platform: Platform, app: str, build_key: str) -> Path:
    return platform.paths.app_dir(app) / "builds" / build_key


async def deploy(job: Job) -> None:
    platform = job.platform
    release = await job.db(
        lambda c: release_store.insert(
            c,
            app=job.name,
            ref=job.row["params"].get("ref"),
            created_by=job.row["actor"] or "deployd",
            env_version=job.app["env_version"],
        )
    )
    job.release_id = release["id"]
    await job.db(lambda c: job_store.set_release(c, job.row["id"], release["id"]))
    job.build_log = platform.paths.app_logs(job.name) / f"build-{release['id']}.log"
    job.build_log.parent.mkdir(parents=True, exist_ok=True)
    try:
        config = await appconfig.values(platform, job.name, release["env_version"])
        artifact, manifest = await _fetch_and_build(job, config)
    except DeployFailed as exc:
        error = platform.mask(job.name, str(exc))
        await job.db(lambda c: release_store.update(c, release["id"], status="failed", error=error))
        raise
    await activate(job, release, manifest, artifact)


async def _fetch_and_build(job: Job, config: dict[str, str]) -> tuple[Path, Manifest]:
    platform = job.platform
    tmp = platform.paths.app_dir(job.name) / "tmp" / str(job.release_id)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        commit = await _fetch(job, tmp)
        try:
            manifest = _read_manifest(tmp)
        except DomainError as exc:
            raise DeployFailed(str(exc)) from None
        build_key = f"{commit}-{manifest.build_fingerprint()}"
        artifact = _artifact(platform, job.name, build_key)
        await job.db(
            lambda c: release_store.update(
                c,
                job.release_id,
                commit=commit,
                build_key=build_key,
                manifest=manifest.to_json(),
                status="building",
            )
        )
        if native.is_built(artifact):
            await job.step("build", f"build cached: {commit[:12]} was built before")
        else:
            await job.step("build", f"building {commit[:12]} ({manifest.stack or 'Procfile'})")
            try:
                await native.build(
                    tmp,
                    artifact,
                    manifest,
                    account=platform.account,
                    env=config,
                    log=job.output,
                    python=platform.settings.python,
                )
            except BuildError as exc:
                raise DeployFailed(f"build failed: {exc}") from None
        await job.db(lambda c: release_store.update(c, job.release_id, status="built"))
        return artifact, manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _fetch(job: Job, dest: Path) -> str:
    """Put the source in `dest`; returns its commit (or a content digest for a directory)."""
    app = job.app
    ref: str | None = job.row["params"].get("ref") or app["branch"]
    if app["source_kind"] == "path":
        await job.step("fetch", f"copying {app['source']}")
        try:
            commit = await asyncio.to_thread(local.copy_tree, Path(app["source"]), dest)
        except (local.SourceError, OSError) as exc:
            raise DeployFailed(f"cannot copy the source: {exc}") from None
        return commit
    await job.step("fetch", f"fetching {ref or 'the default branch'} from {app['source']}")
    mirror = job.platform.paths.app_dir(job.name) / "repo.git"
    try:
        await asyncio.to_thread(git.sync_mirror, app["source"], mirror)
        if ref is None:
            ref = await asyncio.to_thread(git.default_branch, mirror)
        commit = await asyncio.to_thread(git.resolve, mirror, ref)
        await asyncio.to_thread(git.export, mirror, commit, dest)
    except git.GitError as exc:
        raise DeployFailed(f"git: {exc}") from None
    await job.output(f"{ref} is {commit}")
    return commit


def _read_manifest(source: Path) -> Manifest:
    procfile = source / "Procfile"
    if not procfile.is_file():
        raise DomainError("no Procfile in the repository: add one with a `web:` line")
    toml = source / "deployd.toml"
    return parse_manifest(
        procfile.read_text(errors="replace"),
        toml.read_text(errors="replace") if toml.is_file() else None,
        native.detect_stack(source),
    )


async def rollback(job: Job) -> None:
    """Back to a kept release, with the config it ran with (`keep_env`: with today's)."""
    releases = await job.db(lambda c: release_store.for_app(c, job.name, limit=1000))
    live = next((r for r in releases if r["status"] == "live"), None)
    refs = [ReleaseRef(r["id"], r["build_key"], r["live_at"] is not None) for r in releases]
    wanted = job.row["params"].get("to")
    if wanted is None:
        target = rollback_target(refs, live["id"] if live else None)
        if target is None:
            raise DeployFailed("there is no earlier release to roll back to")
        wanted = target.id
    row = next((r for r in releases if r["id"] == wanted), None)
    if row is None or row["build_key"] is None or row["manifest"] is None:
        raise DeployFailed(f"release {wanted} cannot be rolled back to (it was never built)")
    artifact = _artifact(job.platform, job.name, row["build_key"])
    if not native.is_built(artifact):
        raise DeployFailed(f"release {wanted}'s build was pruned; deploy its commit instead")
    current = job.app["env_version"]
    if job.row["params"].get("keep_env") and row["env_version"] != current:
        row = await _new_release_of(job, row, current, f"rollback to {wanted}, today's config")
    else:
        job.release_id = wanted
        await job.db(lambda c: job_store.set_release(c, job.row["id"], wanted))
        job.build_log = job.platform.paths.app_logs(job.name) / f"build-{wanted}.log"
    await activate(job, row, Manifest.from_json(row["manifest"]), artifact)


async def reconfigure(job: Job) -> None:
    """A config release: the live build again, with the new config version."""
    releases = await job.db(lambda c: release_store.for_app(c, job.name, limit=100))
    live = next((r for r in releases if r["status"] == "live"), None)
    if live is None or live["build_key"] is None:
        raise DeployFailed("nothing is live: the new config applies at the next deploy")
    artifact = _artifact(job.platform, job.name, live["build_key"])
    if not native.is_built(artifact):
        raise DeployFailed("the live release's build is gone: deploy to apply the new config")
    version = job.row["params"]["env_version"]
    row = await _new_release_of(job, live, version, f"config version {version}")
    await activate(job, row, Manifest.from_json(row["manifest"]), artifact)


async def _new_release_of(job: Job, base: Row, env_version: int | None, why: str) -> Row:
    """A new release of `base`'s build with another config: no fetch, no build."""
    row = await job.db(
        lambda c: release_store.insert(
            c,
            app=job.name,
            ref=base["ref"],
            created_by=job.row["actor"] or "deployd",
            env_version=env_version,
            commit=base["commit"],
            build_key=base["build_key"],
            manifest=base["manifest"],
            status="built",
        )
    )
    job.release_id = row["id"]
    await job.db(lambda c: job_store.set_release(c, job.row["id"], row["id"]))
    await job.step("config", f"release {row['id']}: the build of release {base['id']}, {why}")
    return row


async def activate(job: Job, release: Row, manifest: Manifest, artifact: Path) -> None:
    """Start `release` in the idle slot, check it, switch nginx to it, drain the old one."""
    platform, name = job.platform, job.name
    release_id: int = release["id"]
    await wait_for_drain(job)
    app = await job.db(lambda c: app_store.get(c, name))
    by_name = await slots.load(platform, name)
    live_name: str | None = app["live_slot"]
    target = by_name[other(live_name) if live_name else "blue"]
    target = await _settle(platform, name, target)

    if manifest.release:
        await job.step("release", f"running the release command: {manifest.release}")
        env = appconfig.platform_env(
            name, release_id, target["name"], target["port"], artifact, release["env_version"]
        )
        del env["PORT"]
        config = await appconfig.values(platform, name, release["env_version"])
        try:
            await native.run_command(
                ["/bin/sh", "-c", manifest.release],
                artifact,
                {**env, **config},
                platform.account,
                job.output,
            )
        except BuildError as exc:
            raise DeployFailed(f"the release command failed: {exc}") from None

    await job.step(
        "start", f"starting release {release_id} in {target['name']} (port {target['port']})"
    )
    log_file = slots.log_file(platform, name, target["name"])
    try:
        handle = await slots.launch(platform, target, release, manifest.web, artifact)
    except StartError as exc:
        raise DeployFailed(str(exc)) from None
    target = await slots.transition(
        platform, name, target, SlotEvent.START, release_id=release_id, handle=handle
    )
    failpoints.hit("after-start")
    await job.db(  # a new release starts with a clean record for the crash watcher
        lambda c: app_store.save_healing(
            c, name, target["name"], restarts=0, next_restart_at=None, last_exit=None
        )
    )

    await job.step("health", f"checking GET {manifest.health.path} on port {target['port']}")
    try:
        await wait_healthy(platform.runtime, handle, target["port"], manifest.health)
    except Unhealthy as exc:
        await slots.stop_process(platform, target, manifest.stop_timeout)
        await slots.transition(platform, name, target, SlotEvent.FAILED)
        raise DeployFailed(f"{exc}\n{_tail(log_file)}".rstrip()) from None
    target = await slots.transition(platform, name, target, SlotEvent.PASSED)

    await job.step("switch", f"switching nginx to release {release_id}")
    await _switch(job, target, release, manifest)

    await platform.emit(
        "deploy.live",
        f"release {release_id} is live at {platform.url(name)}",
        name,
        job=job.row["id"],
        release=release_id,
        slot=target["name"],
    )
    if live_name is not None:
        await _retire(job, live_name, manifest)
    await prune(job)


async def _retire(job: Job, slot_name: str, manifest: Manifest) -> None:
    """Take the previously live slot out of service, whatever happened to it meanwhile."""
    platform, name = job.platform, job.name
    for _ in range(3):  # the crash watcher may move it while we look: look again
        row = (await slots.load(platform, name))[slot_name]
        state = SlotState(row["state"])
        try:
            if state is SlotState.LIVE:
                row = await slots.transition(platform, name, row, SlotEvent.DRAIN)
                await job.output(f"{slot_name} drains for {manifest.drain_seconds:g}s, then stops")
                platform.drains[name] = asyncio.create_task(
                    _drain(platform, name, row, manifest), name=f"drain-{name}"
                )
            elif state is SlotState.CRASHED:
                await slots.stop_process(platform, row)
                await slots.transition(platform, name, row, SlotEvent.ABORT)
            elif state is SlotState.STARTING:  # a restart under way: no longer wanted
                await slots.stop_process(platform, row)
                await slots.transition(platform, name, row, SlotEvent.FAILED)
            return
        except slots.StaleSlot:
            continue


async def _drain(platform: Platform, app: str, old: Row, manifest: Manifest) -> None:
    """Give the old slot's in-flight requests the grace period, then stop it."""
    try:
        await asyncio.sleep(manifest.drain_seconds)
        await slots.stop_process(platform, old, manifest.stop_timeout)
        await slots.transition(platform, app, old, SlotEvent.STOPPED)
    finally:
        if platform.drains.get(app) is asyncio.current_task():
            del platform.drains[app]


async def wait_for_drain(job: Job) -> None:
    drain = job.platform.drains.get(job.name)
    if drain is not None and not drain.done():
        await job.step("drain", "waiting for the previous release to finish draining")
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(drain)


def site_for(platform: Platform, app: str, by_name: dict[str, Row]) -> Site:
    return Site(app, by_name["blue"]["port"], by_name["green"]["port"], (platform.hostname(app),))


async def _switch(job: Job, target: Row, release: Row, manifest: Manifest) -> None:
    """Point nginx at the new slot: flip the switch, (re)load the site only when it is new
    or its ports/names changed, verify through nginx. On failure, flip back. A rollback
    makes its release's config the app's current one, in the same transaction."""
    platform, name = job.platform, job.name
    release_id, config = release["id"], release["env_version"]
    restores_config = job.row["kind"] == "rollback" and config != job.app["env_version"]
    nginx = platform.nginx
    previous_live = nginx.live(name)
    previous_site = nginx.current(name)
    site = nginx.render(site_for(platform, name, await slots.load(platform, name)))
    try:
        await asyncio.to_thread(nginx.switch, name, Live(target["name"], release_id))
        failpoints.hit("after-switch")
        if site != previous_site:
            await asyncio.to_thread(nginx.apply, name, site)
        await nginx.verify(platform.hostname(name), release_id)
        failpoints.hit("after-verify")
    except ProxyError as exc:
        await asyncio.to_thread(nginx.switch, name, previous_live)
        if site != previous_site:
            with contextlib.suppress(ProxyError):
                await asyncio.to_thread(nginx.apply, name, previous_site)
        await slots.stop_process(platform, target, manifest.stop_timeout)
        await slots.transition(platform, name, target, SlotEvent.ABORT)
        raise DeployFailed(f"switch failed, the previous release keeps serving: {exc}") from None
    await slots.transition(platform, name, target, SlotEvent.PROMOTE)

    async def record(conn: Any) -> None:
        async with conn.transaction():
            await app_store.set_live_slot(conn, name, target["name"])
            await release_store.mark_live(conn, name, release_id)
            if restores_config:
                await env_store.set_current(conn, name, config)

    await job.db(record)
    if restores_config:
        await appconfig.refresh_masks(platform, name)
        await platform.emit(
            "env.restored",
            f"config version {config or 0} is current again, with release {release_id}",
            name,
            version=config,
            release=release_id,
        )


async def _settle(platform: Platform, app: str, row: Row) -> Row:
    """Bring a slot left mid-way (by a failure or a crash) to a state that can start."""
    settle = {
        SlotState.STARTING: SlotEvent.FAILED,
        SlotState.HEALTHY: SlotEvent.ABORT,
        SlotState.DRAINING: SlotEvent.STOPPED,
    }
    event = settle.get(SlotState(row["state"]))
    if event is not None:
        await slots.stop_process(platform, row)
        row = await slots.transition(platform, app, row, event)
    return row


def _tail(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()[-TAIL_LINES:]
    except FileNotFoundError:
        return ""
    return "last output:\n" + "\n".join("  " + line for line in lines) if lines else ""


async def prune(job: Job) -> None:
    releases = await job.db(lambda c: release_store.for_app(c, job.name, limit=10_000))
    live = next((r["id"] for r in releases if r["status"] == "live"), None)
    refs = [ReleaseRef(r["id"], r["build_key"], r["live_at"] is not None) for r in releases]
    for key in artifacts_to_prune(refs, live):
        await asyncio.to_thread(
            shutil.rmtree, _artifact(job.platform, job.name, key), ignore_errors=True
        )
