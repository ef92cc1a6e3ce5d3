"""`github.*`: the server's GitHub account, its repositories, and apps that follow one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Literal

from deployd.domain.errors import DomainError
from deployd.engine import github as engine
from deployd.protocol.errors import RpcError, forbidden, invalid, not_found, unavailable
from deployd.protocol.events import EventType
from deployd.protocol.github import (
    GithubAccount,
    GithubBranch,
    GithubBranchesParams,
    GithubBranchesResult,
    GithubLoginProgress,
    GithubLoginStarted,
    GithubRepo,
    GithubReposParams,
    GithubReposResult,
)
from deployd.sources.github import DeviceCode, DeviceFlow, GitHub, GitHubError, GitHubErrorKind
from deployd.store import github as store

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
