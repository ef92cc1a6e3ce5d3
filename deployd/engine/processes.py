"""Jobs on the live release's processes, with no new release: `scale`, `restart`, `stop`
and `start`.

Scaling and restarting happen in the live slot, with no dropped request: new web
processes pass their health check before nginx's switch counts them, removed ones leave
the switch before they stop (after the drain time), and a rolling restart first starts one
extra web process so that every old one can be replaced while the others serve. Stopping
parks the app's address ("stopped", 503) and suspends its live slot; starting resumes it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from deployd.build.artifacts import is_built
from deployd.build.native import BuildError
from deployd.domain import formation
from deployd.domain.errors import DomainError
from deployd.domain.formation import ProcessName
from deployd.domain.lifecycle import JobStep
from deployd.domain.manifest import Manifest
from deployd.domain.slots import SlotEvent, SlotState
from deployd.proxy.nginx import Live, ProxyError
from deployd.runtime.base import StartError
from deployd.runtime.docker import DockerUnavailable
from deployd.store import apps as app_store
from deployd.store import databases as database_store
from deployd.store import processes as process_store
from deployd.store.apps import SlotRow
from deployd.store.processes import ProcessRow
from deployd.store.releases import ReleaseRow

from . import restore, slots
from .building import DeployFailed, artifact_dir
from .health import Unhealthy, wait_ready
from .pipeline import Job, run_release_command, wait_for_drain
from .sites import serve
from .slots import Started

MIGRATE_OUTPUT_KEPT = 4000
"""Characters of a `db migrate`'s output kept for `db show`."""


@dataclass(frozen=True, slots=True)
class LiveRelease:
    """The slot that serves, and what it runs."""

    slot: SlotRow
    release: ReleaseRow
    manifest: Manifest
    artifact: Path

    @property
    def number(self) -> int:
        """The release's number (v<number>)."""
        return int(self.release.version)


async def live_release(job: Job, *, state: SlotState = SlotState.LIVE) -> LiveRelease | None:
    """The app's live slot (in `state`) and its release; None when nothing is deployed."""
    live = await job.db(lambda c: app_store.live(c, job.name))
    if live is None or live.slot.state is not state:
        return None
    release = live.release
    if not release.build_key or release.manifest is None:
        return None
    artifact = artifact_dir(job.platform, job.name, release.build_key)
    if not is_built(artifact):
        raise DeployFailed(f"v{release.version}'s build is gone: deploy again")
    return LiveRelease(live.slot, release, release.built_manifest(), artifact)


async def _processes(job: Job, live: LiveRelease) -> list[ProcessRow]:
    return list(await job.db(lambda c: process_store.of_slot(c, job.name, live.slot.name)))


async def _start(
    job: Job, live: LiveRelease, counted: dict[str, int], names: list[ProcessName]
) -> list[Started]:
    """Start `names` in the live slot and wait until they are ready; on any failure the
    ones started are stopped again and the job fails saying why."""
    started: list[Started] = []
    try:
        for name in names:
            started += await slots.launch(
                job.platform,
                live.slot,
                live.release,
                live.manifest,
                live.artifact,
                counted,
                only=name,
            )
        if started:
            await wait_ready(job.platform, live.slot, live.release, live.manifest, started)
    except (StartError, Unhealthy) as exc:
        await _stop(job, live, [s.name for s in started])
        raise DeployFailed(f"{exc}; the processes that were running still are") from None
    return started


async def _stop(job: Job, live: LiveRelease, names: list[ProcessName]) -> None:
    wanted = set(names)
    for proc in await _processes(job, live):
        if proc.name in wanted:
            await slots.stop_one(job.platform, live.slot, proc, live.manifest.stop_timeout)


async def _serve_web(job: Job, live: LiveRelease, web: int) -> None:
    try:
        await serve(job.platform, job.name, Live(live.slot.name, live.number, web))
    except ProxyError as exc:
        raise DeployFailed(f"nginx refused the new site: {exc}") from None


async def _drain(job: Job, live: LiveRelease) -> None:
    seconds = live.manifest.drain_seconds
    await job.output(f"the removed web processes drain for {seconds:g}s, then stop")
    await asyncio.sleep(seconds)


async def scale(job: Job) -> None:
    """`deployctl scale NAME web=3 worker=1`: counts saved once the processes run."""
    name = job.name
    changes: dict[str, int] = {k: int(v) for k, v in job.row.params["changes"].items()}
    live = await live_release(job)
    if live is None or job.app.stopped:
        await job.db(lambda c: process_store.set_formation(c, name, changes))
        why = "is stopped" if job.app.stopped else "has no live release"
        await job.step(JobStep.SCALE, f"saved {formation.describe(changes)}: {name} {why} yet")
        return
    try:
        formation.check_scale(live.manifest.runnable(), changes)
    except DomainError as exc:
        raise DeployFailed(str(exc)) from None
    before = await slots.counts(job.platform, name, live.manifest)
    after = {**before, **changes}
    await job.step(
        JobStep.SCALE,
        f"{formation.describe(before)} → {formation.describe(after)} "
        f"(v{live.number} in the {live.slot.name} slot)",
    )
    added = [
        ProcessName(kind, index)
        for kind in sorted(after)
        for index in range(before.get(kind, 0) + 1, after[kind] + 1)
    ]
    removed = [
        ProcessName(kind, index)
        for kind in sorted(before)
        for index in range(after[kind] + 1, before[kind] + 1)
    ]
    if added:
        await job.step(JobStep.HEALTH, f"starting {', '.join(map(str, added))}")
        await _start(job, live, after, added)
    if after.get("web", 0) != before.get("web", 0):
        await _serve_web(job, live, after.get("web", 0))
    if any(n.web for n in removed):
        await _drain(job, live)
    if removed:
        await job.output(f"stopping {', '.join(map(str, removed))}")
        await _stop(job, live, removed)
    await job.db(lambda c: process_store.set_formation(c, name, changes))
    await job.step(JobStep.SCALE, f"{name} runs {formation.describe(after)}")


async def restart(job: Job) -> None:
    """`deployctl restart NAME [TYPE]`: other processes all at once; web processes one at
    a time behind one extra, so that at least as many serve as before throughout."""
    name = job.name
    kind: str | None = job.row.params.get("type")
    if job.app.stopped:
        raise DeployFailed(f"{name} is stopped: `deployctl start {name}` starts it")
    live = await live_release(job)
    if live is None:
        raise DeployFailed(f"{name} has no release running: deploy it first")
    counted = await slots.counts(job.platform, name, live.manifest)
    if kind is not None and kind not in counted:
        raise DeployFailed(f"{name}'s v{live.number} has no process type {kind}")
    running = [p.name for p in await _processes(job, live) if kind is None or p.name.type == kind]
    others = [n for n in running if not n.web]
    web = sorted(n for n in running if n.web)
    if not running:
        raise DeployFailed(f"no {kind + ' ' if kind else ''}process runs: nothing to restart")
    if others:
        await job.step(JobStep.RESTART, f"restarting {', '.join(map(str, others))}")
        await _stop(job, live, others)
        await _start(job, live, counted, others)
    if web:
        await _rolling(job, live, counted, web)
    await job.step(JobStep.RESTART, f"restarted {len(running)} processes of v{live.number}")


async def _rolling(
    job: Job, live: LiveRelease, counted: dict[str, int], web: list[ProcessName]
) -> None:
    count = counted.get("web", 0)
    extra = ProcessName("web", count + 1)
    surged = {**counted, "web": count + 1}
    await job.step(JobStep.RESTART, f"starting {extra} to serve while each web process restarts")
    await _start(job, live, surged, [extra])
    await _serve_web(job, live, count + 1)
    for name in web:
        await job.step(JobStep.RESTART, f"restarting {name}")
        await _stop(job, live, [name])
        await _start(job, live, surged, [name])
    await _serve_web(job, live, count)
    await _drain(job, live)
    await _stop(job, live, [extra])


async def stop(job: Job) -> None:
    """`deployctl stop NAME`: the address answers 503 "stopped", nothing runs, and
    nothing brings it back (crash watcher, daemon start) until `start`."""
    platform, name = job.platform, job.name
    await wait_for_drain(job)
    await job.db(lambda c: app_store.set_stopped(c, name, True))
    await job.step(JobStep.STOP, f"{name}'s address answers 503 (stopped)")
    try:
        await serve(platform, name, None, "stopped")
    except ProxyError as exc:
        raise DeployFailed(f"nginx refused the site: {exc}") from None
    live = await live_release(job)
    if live is None:
        return
    await job.step(JobStep.STOP, f"stopping v{live.number}'s processes")
    await slots.transition(
        platform, name, live.slot, SlotEvent.SUSPEND, timeout=live.manifest.stop_timeout
    )


async def start(job: Job) -> None:
    """`deployctl start NAME`: the stopped release runs and serves again."""
    platform, name = job.platform, job.name
    await job.db(lambda c: app_store.set_stopped(c, name, False))
    live = await live_release(job, state=SlotState.SUSPENDED)
    if live is None:
        if await live_release(job) is not None:
            await job.step(JobStep.START, f"{name} runs already")
            return
        raise DeployFailed(f"{name} has no release to start: deploy it")
    await job.step(JobStep.START, f"starting v{live.number} in the {live.slot.name} slot")
    try:
        await restore.bring_back(platform, live.slot)
    except (StartError, Unhealthy, ProxyError) as exc:
        await serve(platform, name, None, "down")
        raise DeployFailed(f"v{live.number} did not start: {exc}") from None


async def migrate(job: Job) -> None:
    """The live release's `release:` command, run again as the release phase runs it (its
    config, its account, its runtime); its outcome and last lines are kept on every
    database linked to the app, for `db show`."""
    live = await live_release(job, state=SlotState.LIVE) or await live_release(
        job, state=SlotState.SUSPENDED
    )
    if live is None:
        raise DeployFailed(f"{job.name} has no live release to run its release command of")
    command = live.manifest.release
    if not command:
        raise DeployFailed(f"v{live.number} has no `release:` command in its Procfile")
    await job.step(JobStep.RELEASE, f"running the release command of v{live.number}: {command}")
    failure: str | None = None
    try:
        await run_release_command(
            job,
            live.release,
            live.manifest,
            live.artifact,
            live.slot,
            command,
            "the release command",
        )
    except (BuildError, DockerUnavailable) as exc:
        failure = str(exc)
    output = "\n".join([*job.recent, *([failure] if failure else [])])[-MIGRATE_OUTPUT_KEPT:]
    async with job.platform.pool.connection() as conn:
        for link in await database_store.links(conn, app=job.name):
            await database_store.record_migration(
                conn, link.database, job.name, 0 if failure is None else 1, output
            )
    if failure is not None:
        raise DeployFailed(failure)
