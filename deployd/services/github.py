"""`github.*`: the server's GitHub account, its repositories, and apps that follow one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

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


def rpc_error(exc: GitHubError) -> RpcError:
    """GitHub's refusal as the CLI shows it: in words, never with a token."""
    if exc.kind is GitHubErrorKind.AUTH:
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
    flow = DeviceFlow(engine.endpoints(core.platform))
    try:
        code = await flow.start(client_id)
    except GitHubError as exc:
        await flow.aclose()
        raise rpc_error(exc) from None
    started = GithubLoginStarted(
        user_code=code.user_code, verification_uri=code.verification_uri, expires_in=code.expires_in
    )
    return started, _progress(core, caller, flow, code)


async def _progress(
    core: Core, caller: Caller, flow: DeviceFlow, code: DeviceCode
) -> AsyncIterator[GithubLoginProgress]:
    said: asyncio.Queue[str] = asyncio.Queue()
    waiting = asyncio.create_task(flow.poll(code, on_wait=said.put_nowait))
    try:
        while not waiting.done():
            getter = asyncio.create_task(said.get())
            await asyncio.wait({waiting, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                message = getter.result()
                state = "slow_down" if "slow" in message else "waiting"
                yield GithubLoginProgress(state=state, message=message)
            else:
                getter.cancel()
        try:
            grant = waiting.result()
            async with GitHub(engine.endpoints(core.platform), grant.access_token) as client:
                user = await client.user()
        except GitHubError as exc:
            yield GithubLoginProgress(state=_failed(exc), message=str(exc))
            return
        await engine.save_login(core.platform, grant, user.login, caller.name)
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
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, GitHubError):
            await waiting
        await flow.aclose()


def _failed(exc: GitHubError) -> str:
    text = str(exc)
    if "denied" in text:
        return "denied"
    if "expired" in text:
        return "expired"
    return "failed"


async def repos(core: Core, caller: Caller, params: GithubReposParams) -> GithubReposResult:
    try:
        async with await engine.client(core.platform) as client:
            found = await client.repos(params.org)
    except GitHubError as exc:
        raise rpc_error(exc) from None
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
    try:
        async with await engine.client(core.platform) as client:
            found = await client.branches(params.repo)
    except GitHubError as exc:
        raise rpc_error(exc) from None
    return GithubBranchesResult(
        repo=params.repo,
        branches=[
            GithubBranch(name=branch.name, sha=branch.sha, protected=branch.protected)
            for branch in found
        ],
    )
