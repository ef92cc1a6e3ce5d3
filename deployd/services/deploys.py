"""`deploys.*` and `releases.list`: queue deploys and rollbacks, watch them, list releases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from deployd.build.artifacts import is_built
from deployd.domain import apps as rules
from deployd.domain.errors import DomainError
from deployd.domain.lifecycle import JobKind, JobState, ReleaseStatus
from deployd.engine.building import artifact_dir
from deployd.engine.events import EventFilter
from deployd.protocol.apps import (
    DeploysRollbackParams,
    DeploysStartParams,
    DeploysWatchParams,
    JobInfo,
    ReleaseInfo,
    ReleasesListParams,
    ReleasesListResult,
)
from deployd.protocol.errors import conflict, invalid, not_found
from deployd.protocol.events import Event, EventType
from deployd.store import apps as app_store
from deployd.store import jobs as store
from deployd.store import releases as release_store
from deployd.store.releases import ReleaseRow

from .core import Caller, Core
from .events import relay

FINAL = (EventType.DEPLOY_SUCCEEDED, EventType.DEPLOY_FAILED)


async def enqueue(
    core: Core, caller: Caller, app: str, kind: JobKind, params: dict[str, object]
) -> JobInfo:
    async with core.pool.connection() as conn:
        if await app_store.get(conn, app) is None:
            raise not_found(f"no app named {app}")
        try:
            job = await store.enqueue(conn, app=app, kind=kind, params=params, actor=caller.name)
        except store.AppBusy as busy:
            active = busy.active
            detail = (
                f"job {active.id} ({active.kind}, {active.step or 'queued'})"
                if active
                else "another job"
            )
            raise conflict(f"{app} already has {detail} under way: wait for it to finish") from None
    core.jobs.wake()
    return JobInfo.model_validate(job, from_attributes=True)


async def start(core: Core, caller: Caller, params: DeploysStartParams) -> JobInfo:
    if params.ref is not None:
        try:
            rules.check_ref(params.ref)
        except DomainError as exc:
            raise invalid(str(exc)) from None
    return await enqueue(
        core, caller, params.app, JobKind.DEPLOY, {"ref": params.ref} if params.ref else {}
    )


async def rollback(core: Core, caller: Caller, params: DeploysRollbackParams) -> JobInfo:
    job_params: dict[str, object] = {}
    if params.to is not None:
        async with core.pool.connection() as conn:
            release = await release_store.numbered(conn, params.app, params.to)
        if release is None:
            raise not_found(f"{params.app} has no release v{params.to}")
        if release.status == ReleaseStatus.LIVE:
            raise conflict(f"v{params.to} is already live")
        if not release.build_key or not is_built(_artifact(core, release)):
            raise conflict(f"v{params.to} was never built or its build was pruned")
        job_params["to"] = release.id
    if params.keep_env:
        job_params["keep_env"] = True
    return await enqueue(core, caller, params.app, JobKind.ROLLBACK, job_params)


def _artifact(core: Core, release: ReleaseRow) -> Path:
    assert release.build_key is not None
    return artifact_dir(core.platform, release.app, release.build_key)


async def show(core: Core, caller: Caller, params: DeploysWatchParams) -> JobInfo:
    async with core.pool.connection() as conn:
        job = await store.get(conn, params.job)
    if job is None:
        raise not_found(f"no job {params.job}")
    return JobInfo.model_validate(job, from_attributes=True)


async def watch(
    core: Core, caller: Caller, params: DeploysWatchParams
) -> tuple[JobInfo, AsyncIterator[Event]]:
    job = await show(core, caller, params)
    _, rows = await core.bus.stream(
        EventFilter(kinds=("deploy",), app=job.app, job=job.id), after_id=0
    )
    if job.state in (JobState.QUEUED, JobState.RUNNING):
        core.jobs.watched(job.id)  # subscribed: it may start, none of its output is lost
    return job, relay(core, rows, until=FINAL)


async def releases(core: Core, caller: Caller, params: ReleasesListParams) -> ReleasesListResult:
    async with core.pool.connection() as conn:
        if await app_store.get(conn, params.app) is None:
            raise not_found(f"no app named {params.app}")
        rows = await release_store.for_app(conn, params.app, params.limit)
    return ReleasesListResult(
        releases=[
            ReleaseInfo(
                version=r.version,
                commit=r.commit,
                ref=r.ref,
                status=r.status,
                error=r.error,
                failed_step=r.failed_step,
                created_by=r.created_by,
                created_at=r.created_at,
                live_at=r.live_at,
                env_version=r.env_version,
                live=r.status == ReleaseStatus.LIVE,
                kept=bool(r.build_key) and is_built(_artifact(core, r)),
            )
            for r in rows
        ]
    )
