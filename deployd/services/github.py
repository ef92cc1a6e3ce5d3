"""`github.*`: the server's GitHub account, its repositories, and apps that follow one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Literal

import psycopg
import psycopg_pool

from deployd.domain import apps as app_rules
from deployd.domain import envvars
from deployd.domain import github as github_rules
from deployd.domain.errors import DomainError
from deployd.engine import applications
from deployd.engine import github as engine
from deployd.engine import github_connect as connecting
from deployd.engine import github_hooks as hooks
from deployd.protocol.errors import (
    RpcError,
    conflict,
    forbidden,
    invalid,
    not_found,
    unavailable,
)
from deployd.protocol.events import EventType
from deployd.protocol.github import (
    GithubAccount,
    GithubAppParams,
    GithubBranch,
    GithubBranchesParams,
    GithubBranchesResult,
    GithubConnection,
    GithubConnectParams,
    GithubDeliveriesParams,
    GithubDeliveriesResult,
    GithubDelivery,
    GithubDisconnectResult,
    GithubLoginProgress,
    GithubLoginStarted,
    GithubRedeliverParams,
    GithubRedeliverResult,
    GithubRepo,
    GithubReposParams,
    GithubReposResult,
    HookDeliveryParams,
    HookDeliveryResult,
    HookVerdict,
)
from deployd.sources.github import DeviceCode, DeviceFlow, GitHub, GitHubError, GitHubErrorKind
from deployd.store import apps as app_store
from deployd.store import github as store
from deployd.store.github import ConnectionRow

from . import audit
from .core import Caller, Core

log = logging.getLogger(__name__)
USER_CODE = re.compile(r"[A-Z0-9-]{4,20}")
"""What a device code looks like (`WDJB-MJHT`): anything else is not shown."""


def rpc_error(exc: GitHubError) -> RpcError:
    """GitHub's refusal as the CLI shows it: in words, never with a token. A token GitHub
    no longer takes is deployd's trouble, not the caller's role: unavailable, with the words
    to log in again."""
    if exc.kind is GitHubErrorKind.FORBIDDEN:
        return forbidden(str(exc))
    if exc.kind is GitHubErrorKind.NOT_FOUND:
        return not_found(str(exc))
    if exc.kind is GitHubErrorKind.REFUSED:
        return invalid(str(exc))
    return unavailable(str(exc))


async def account(core: Core, caller: Caller) -> GithubAccount:
    async with core.pool.connection() as conn:
        row = await store.account(conn)
    settings = core.settings
    return GithubAccount(
        login=row.login if row else None,
        scope=row.scope if row else None,
        logged_in_at=row.logged_in_at if row else None,
        logged_in_by=row.logged_in_by if row else None,
        expires_at=row.expires_at if row else None,
        api_url=settings.github_api_url,
        client_id=settings.github_client_id,
    )


async def login(
    core: Core, caller: Caller, _: object
) -> tuple[GithubLoginStarted, AsyncIterator[GithubLoginProgress]]:
    """The device flow: a code for the person to enter, then the wait for their yes."""
    client_id = core.settings.github_client_id
    if client_id is None:
        raise unavailable(
            "no GitHub OAuth app is configured: set DEPLOYD_GITHUB_CLIENT_ID to the client id "
            "of an OAuth app with the device flow enabled"
        )
    endpoints = engine.endpoints(core.platform)
    async with DeviceFlow(endpoints) as flow:
        try:
            code = await flow.start(client_id)
        except GitHubError as exc:
            raise rpc_error(exc) from None
    if not endpoints.on_web(code.verification_uri) or not USER_CODE.fullmatch(code.user_code):
        raise unavailable("GitHub's answer to the login is not one deployd can show")
    started = GithubLoginStarted(
        user_code=code.user_code, verification_uri=code.verification_uri, expires_in=code.expires_in
    )
    return started, _progress(core, caller, code)


async def _progress(
    core: Core, caller: Caller, code: DeviceCode
) -> AsyncIterator[GithubLoginProgress]:
    """Every way this ends is said to the waiting CLI: it never waits on a silent stream."""
    said: asyncio.Queue[str] = asyncio.Queue()
    async with DeviceFlow(engine.endpoints(core.platform)) as flow:
        waiting = asyncio.create_task(flow.poll(code, on_wait=said.put_nowait))
        getter: asyncio.Task[str] | None = None
        try:
            while not waiting.done():
                getter = asyncio.create_task(said.get())
                await asyncio.wait({waiting, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    message = getter.result()
                    state = "slow_down" if "less often" in message else "waiting"
                    yield GithubLoginProgress(state=state, message=message)
                else:
                    getter.cancel()
            try:
                grant = waiting.result()
            except GitHubError as exc:
                yield GithubLoginProgress(state=_ended(exc), message=str(exc))
                return
            try:
                async with GitHub(engine.endpoints(core.platform), grant.access_token) as client:
                    user = await client.user()
                await engine.save_login(core.platform, grant, user.login, caller.name)
            except GitHubError as exc:
                yield GithubLoginProgress(state="failed", message=str(exc))
                return
            except Exception:
                log.exception("the GitHub login could not be finished")
                yield GithubLoginProgress(
                    state="failed", message="internal error; the daemon log has details"
                )
                return
            await core.bus.publish(
                EventType.GITHUB_LOGGED_IN,
                f"{caller.name} connected deployd to GitHub as {user.login}",
                actor=caller.name,
                data={"login": user.login, "scope": grant.scope},
            )
            yield GithubLoginProgress(
                state="done", message=f"logged in to GitHub as {user.login}", login=user.login
            )
        finally:
            for task in (waiting, getter):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task


def _ended(exc: GitHubError) -> Literal["denied", "expired", "failed"]:
    """How the device flow's own refusal ended the login."""
    if exc.kind is GitHubErrorKind.FORBIDDEN:
        return "denied"
    if exc.kind is GitHubErrorKind.AUTH:
        return "expired"
    return "failed"


@contextlib.asynccontextmanager
async def _account_client(core: Core) -> AsyncIterator[GitHub]:
    """The account's client, its refusals in words the CLI shows."""
    try:
        async with await engine.client(core.platform) as client:
            yield client
    except GitHubError as exc:
        raise rpc_error(exc) from None
    except DomainError as exc:
        raise invalid(str(exc)) from None


async def repos(core: Core, caller: Caller, params: GithubReposParams) -> GithubReposResult:
    async with _account_client(core) as client:
        found = await client.repos(params.org)
    return GithubReposResult(
        repos=[
            GithubRepo(
                full_name=repo.full_name,
                private=repo.private,
                default_branch=repo.default_branch,
                html_url=repo.html_url,
            )
            for repo in found
        ]
    )


async def branches(
    core: Core, caller: Caller, params: GithubBranchesParams
) -> GithubBranchesResult:
    async with _account_client(core) as client:
        found = await client.branches(params.repo)
    return GithubBranchesResult(
        repo=params.repo,
        branches=[
            GithubBranch(name=branch.name, sha=branch.sha, protected=branch.protected)
            for branch in found
        ],
    )


async def receive(core: Core, caller: Caller, params: HookDeliveryParams) -> HookDeliveryResult:
    """A webhook `deployd web` received: checked, recorded and answered here; any peer may
    hand one over, since only GitHub knows the secret that makes it count."""
    received = await hooks.receive(core.platform, params)
    if received.verdict is not HookVerdict.REJECTED:  # signed by a connected app's secret
        try:
            await audit.record(
                core,
                caller,
                method="github.receive",
                target=received.app,
                outcome=received.verdict.value,
                detail=f"{params.event} {params.delivery}: {received.reason}",
            )
        except (psycopg.Error, psycopg_pool.PoolTimeout):
            log.exception("could not audit webhook delivery %s", params.delivery)
    return HookDeliveryResult(
        status=received.status, verdict=received.verdict, reason=received.reason, job=received.job
    )


async def connect(core: Core, caller: Caller, params: GithubConnectParams) -> GithubConnection:
    try:
        if params.branch is not None:
            app_rules.check_ref(params.branch)
        app_rules.check_app_name(params.app)
        github_rules.check_repository(params.repo)
        exclude = [envvars.check_name(name) for name in params.preview_exclude]
    except DomainError as exc:
        raise invalid(str(exc)) from None
    async with core.pool.connection() as conn:
        existing = await store.connection(conn, params.app)
    if existing is not None and existing.preview_of is not None:
        raise conflict(
            f"{params.app} is a preview of {existing.preview_of}: it follows its pull request"
        )
    try:
        done = await connecting.connect(
            core.platform,
            app=params.app,
            repo=params.repo,
            branch=params.branch,
            previews_on=params.previews,
            preview_exclude=exclude,
            deploy=params.deploy,
            actor=caller.name,
        )
    except connecting.NoHookUrl as exc:
        raise unavailable(str(exc)) from None
    except connecting.AlreadyConnected as exc:
        raise conflict(str(exc)) from None
    except GitHubError as exc:
        raise rpc_error(exc) from None
    except (applications.AppExists, applications.NoPorts) as exc:
        raise conflict(str(exc)) from None
    except applications.CannotPrepare as exc:
        raise unavailable(str(exc)) from None
    return _connection(
        done.connection, private=done.private, created=done.created_app, job=done.job
    )


def _connection(
    row: ConnectionRow,
    *,
    private: bool = False,
    created: bool = False,
    job: int | None = None,
    previews: list[str] | None = None,
) -> GithubConnection:
    return GithubConnection(
        app=row.app,
        repo=row.repo,
        branch=row.branch,
        hook_id=row.hook_id,
        hook_url=row.hook_url,
        previews=row.previews,
        private=private,
        created_app=created,
        connected_by=row.connected_by,
        connected_at=row.connected_at,
        job=job,
        preview_apps=previews or [],
        preview_exclude=row.preview_exclude,
    )


async def show(core: Core, caller: Caller, params: GithubAppParams) -> GithubConnection:
    async with core.pool.connection() as conn:
        row = await store.connection(conn, params.app)
        if row is None:
            raise not_found(f"{params.app} is not connected to GitHub")
        previews = [p.app for p in await store.previews_of(conn, params.app)]
    return _connection(row, previews=previews)


async def deliveries(
    core: Core, caller: Caller, params: GithubDeliveriesParams
) -> GithubDeliveriesResult:
    async with core.pool.connection() as conn:
        if await app_store.get(conn, params.app) is None:
            raise not_found(f"no app named {params.app}")
        rows = await store.deliveries(conn, params.app, params.limit)
    return GithubDeliveriesResult(
        app=params.app,
        deliveries=[
            GithubDelivery(
                id=row.id,
                received_at=row.received_at,
                delivery=row.delivery,
                event=row.event,
                verdict=HookVerdict(row.verdict),
                reason=row.reason,
                commit=row.commit_sha,
                target=row.target,
                job=row.job_id,
                reported=row.reported,
                report_error=row.report_error,
            )
            for row in rows
        ],
    )


async def redeliver(
    core: Core, caller: Caller, params: GithubRedeliverParams
) -> GithubRedeliverResult:
    try:
        message = await connecting.redeliver(core.platform, params.app, params.delivery)
    except LookupError as exc:
        raise not_found(str(exc)) from None
    except GitHubError as exc:
        raise rpc_error(exc) from None
    return GithubRedeliverResult(app=params.app, delivery=params.delivery, message=message)


async def disconnect(core: Core, caller: Caller, params: GithubAppParams) -> GithubDisconnectResult:
    try:
        row, removed, previews = await connecting.disconnect(core.platform, params.app, caller.name)
    except LookupError as exc:
        raise not_found(str(exc)) from None
    except GitHubError as exc:
        raise rpc_error(exc) from None
    said = (
        f"removed the webhook on {row.repo}"
        if removed
        else f"the webhook on {row.repo} is shared with another app: kept"
    )
    return GithubDisconnectResult(
        app=params.app,
        repo=row.repo,
        hook_removed=removed,
        message=f"{params.app} no longer follows {row.repo}; {said}",
        previews_removed=previews,
    )
