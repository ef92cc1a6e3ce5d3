"""`env.*`: an app's config. Listed masked, revealed only to deployers and admins (and
recorded), changed in versions; a change to a running app is applied by a config release:
the live build, restarted with the new config through the normal start → health → switch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from deployd.domain import envvars
from deployd.domain.errors import DomainError
from deployd.domain.lifecycle import JobKind
from deployd.engine import appconfig
from deployd.protocol.apps import JobInfo
from deployd.protocol.env import (
    EnvAppParams,
    EnvCompareParams,
    EnvCompareResult,
    EnvHistoryParams,
    EnvHistoryResult,
    EnvListResult,
    EnvSetParams,
    EnvSetResult,
    EnvVar,
    EnvVersion,
)
from deployd.protocol.errors import conflict, invalid, not_found, unavailable
from deployd.protocol.events import EventType
from deployd.store import apps as app_store
from deployd.store import env as store
from deployd.store import jobs as job_store
from deployd.store import releases as release_store
from deployd.vault.keyring import VaultKeyError

from .core import Caller, Core


async def _exists(core: Core, app: str) -> None:
    async with core.pool.connection() as conn:
        if await app_store.get(conn, app) is None:
            raise not_found(f"no app named {app}")


async def _listing(core: Core, app: str, *, reveal: bool) -> EnvListResult:
    await _exists(core, app)
    try:
        config = await appconfig.current(core.platform, app)
    except VaultKeyError as exc:
        raise unavailable(str(exc)) from None
    async with core.pool.connection() as conn:
        live = await release_store.live(conn, app)
    return EnvListResult(
        app=app,
        version=config.version,
        live_version=live.env_version if live else None,
        revealed=reveal,
        vars=[
            EnvVar(name=name, value=value if reveal else envvars.display(value))
            for name, value in sorted(config.values.items())
        ],
    )


async def list_env(core: Core, caller: Caller, params: EnvAppParams) -> EnvListResult:
    return await _listing(core, params.app, reveal=False)


async def reveal(core: Core, caller: Caller, params: EnvAppParams) -> EnvListResult:
    return await _listing(core, params.app, reveal=True)


async def set_env(core: Core, caller: Caller, params: EnvSetParams) -> EnvSetResult:
    await _exists(core, params.app)
    change, version, job = await change_config(
        core,
        caller,
        params.app,
        params.set,
        params.unset,
        replace=params.replace,
        restart=params.restart,
    )
    return EnvSetResult(
        app=params.app,
        version=version,
        changed=not change.empty,
        set=list(change.set),
        unset=list(change.unset),
        job=job,
    )


async def change_config(
    core: Core,
    caller: Caller,
    app: str,
    set_values: Mapping[str, str],
    unset: Sequence[str],
    *,
    replace: bool = False,
    restart: bool = True,
    also: Callable[[Any], Awaitable[None]] | None = None,
) -> tuple[envvars.Change, int | None, JobInfo | None]:
    """A new config version of `app`, applied by a config release unless `restart` is
    off or nothing is deployed; `also` runs in the version's transaction (a database's
    link is recorded with the URL it gives). Errors come out as protocol errors."""

    async def then(conn: Any, version: int) -> Any:
        """In the version's transaction: if the app cannot take the config release now,
        the version is not made either, and the caller is told why."""
        if also is not None:
            await also(conn)
        if not restart or await release_store.live(conn, app) is None:
            return None
        try:
            return await job_store.enqueue(
                conn,
                app=app,
                kind=JobKind.CONFIG,
                params={"env_version": version},
                actor=caller.name,
            )
        except job_store.AppBusy as busy:
            active = busy.active
            raise conflict(
                f"{app} has job {active.id if active else '?'} under way: try again "
                "when it has finished, or stage the change with --no-restart"
            ) from None

    try:
        change, version, job = await appconfig.change(
            core.platform, app, set_values, unset, replace=replace, actor=caller.name, then=then
        )
    except DomainError as exc:
        raise invalid(str(exc)) from None
    except VaultKeyError as exc:
        raise unavailable(str(exc)) from None
    if not change.empty:
        await core.bus.publish(
            EventType.ENV_CHANGED,
            f"config version {version}: " + _named(change.set, change.unset),
            app=app,
            actor=caller.name,
            data={"version": version, "set": list(change.set), "unset": list(change.unset)},
        )
    if job is not None:
        core.jobs.wake()
    info = JobInfo.model_validate(job, from_attributes=True) if job is not None else None
    return change, version, info


async def compare(core: Core, caller: Caller, params: EnvCompareParams) -> EnvCompareResult:
    """Names only, so a viewer may ask: what a rollback with its own config would do."""
    await _exists(core, params.app)
    try:
        today = await appconfig.current(core.platform, params.app)
        other = await appconfig.values(core.platform, params.app, params.version)
    except LookupError:
        raise not_found(f"{params.app} has no config version {params.version}") from None
    except VaultKeyError as exc:
        raise unavailable(str(exc)) from None
    found = envvars.compare(today.values, other)
    return EnvCompareResult(
        app=params.app,
        current=today.version,
        version=params.version,
        back=list(found.back),
        gone=list(found.gone),
        changed=list(found.changed),
    )


async def history(core: Core, caller: Caller, params: EnvHistoryParams) -> EnvHistoryResult:
    await _exists(core, params.app)
    async with core.pool.connection() as conn:
        current = await store.current(conn, params.app)
        rows = await store.history(conn, params.app, params.limit)
    now = current["version"] if current else None
    return EnvHistoryResult(
        app=params.app,
        versions=[
            EnvVersion(
                version=r["version"],
                created_by=r["created_by"],
                created_at=r["created_at"],
                set=r["set_names"],
                unset=r["unset_names"],
                current=r["version"] == now,
            )
            for r in rows
        ],
    )


NAMED_IN_MESSAGE = 10
"""The most variables an event's message names (an import of thousands would make one
feed row the size of a page); its data lists them all."""


def _named(set_names: tuple[str, ...], unset_names: tuple[str, ...]) -> str:
    parts = [*(f"set {n}" for n in set_names), *(f"unset {n}" for n in unset_names)]
    if len(parts) > NAMED_IN_MESSAGE:
        parts = [*parts[:NAMED_IN_MESSAGE], f"and {len(parts) - NAMED_IN_MESSAGE} more"]
    return ", ".join(parts)
