"""Connecting an app to a GitHub repository, and disconnecting it.

`connect` makes the repository's webhook with a fresh random secret (kept encrypted; it
never leaves the daemon), makes the app follow the repository (creating the app if there
is none), and starts the first deploy. `disconnect` removes the webhook on GitHub, the
app's previews, and the connection; the app keeps its source and its releases.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from dataclasses import dataclass

from deployd.domain.lifecycle import JobKind
from deployd.protocol.events import EventType
from deployd.sources.github import GitHubError, GitHubErrorKind
from deployd.store import apps as app_store
from deployd.store import github as store
from deployd.store import jobs as job_store
from deployd.store.github import ConnectionRow

from . import applications, building, previews
from . import github as account
from .platform import Platform

HOOK_EVENTS = ("push", "pull_request")


class NoHookUrl(Exception):
    pass


class AlreadyConnected(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Connected:
    connection: ConnectionRow
    private: bool
    created_app: bool
    job: int | None


def hook_url(platform: Platform) -> str:
    settings = platform.settings
    if settings.github_hook_url:
        return settings.github_hook_url
    if settings.control_domain:
        return f"https://{settings.control_domain}/hooks/github"
    raise NoHookUrl(
        "GitHub needs an address to send webhooks to: set DEPLOYD_CONTROL_DOMAIN (deployd web "
        "behind nginx with TLS answers https://<it>/hooks/github)"
    )


def clone_url(platform: Platform, repo: str) -> str:
    return f"{platform.settings.github_url}/{repo}.git"


async def connect(
    platform: Platform,
    *,
    app: str,
    repo: str,
    branch: str | None,
    previews_on: bool,
    preview_exclude: list[str],
    deploy: bool,
    actor: str,
) -> Connected:
    url = hook_url(platform)
    async with platform.pool.connection() as conn:
        earlier = await store.connection(conn, app)
    if earlier is not None and earlier.repo.lower() != repo.lower():
        raise AlreadyConnected(
            f"{app} follows {earlier.repo}: `deployctl github disconnect {app}` first"
        )
    async with platform.pool.connection() as conn:
        sharing = [
            c for c in await store.connections_of(conn, repo) if c.app != app and c.hook_url == url
        ]
    # one webhook per repository and URL: apps that follow the same repository (one per
    # branch) share its secret, or the newest would lock the others out
    secret = (
        platform.vault.decrypt(sharing[0].secret).decode() if sharing else secrets.token_hex(32)
    )
    async with await account.client(platform) as github:
        found = await github.repository(repo)
        if found.archived:
            raise GitHubError(GitHubErrorKind.REFUSED, f"{found.full_name} is archived")
        branch = branch or found.default_branch
        if branch not in {b.name for b in await github.branches(found.full_name)}:
            raise GitHubError(
                GitHubErrorKind.NOT_FOUND, f"{found.full_name} has no branch named {branch}"
            )
        hook = await github.create_hook(found.full_name, url, secret, HOOK_EVENTS)
    source = clone_url(platform, found.full_name)
    async with platform.pool.connection() as conn:
        existing = await app_store.get(conn, app)
    created = existing is None
    if created:
        await applications.create(
            platform,
            name=app,
            source_kind="git",
            source=source,
            branch=branch,
            runtime="auto",
            source_uid=None,
            actor=actor,
        )
    async with platform.pool.connection() as conn, conn.transaction():
        await app_store.set_source(conn, app, "git", source, branch)
        await store.save_connection(
            conn,
            app=app,
            repo=found.full_name,
            branch=branch,
            hook_id=hook.id,
            hook_url=url,
            secret=platform.vault.encrypt(secret.encode()),
            previews=previews_on,
            preview_exclude=preview_exclude,
            by=actor,
        )
        connection = await store.connection(conn, app)
    assert connection is not None
    await platform.bus.publish(
        EventType.GITHUB_CONNECTED,
        f"{actor} connected {app} to {found.full_name} ({branch}"
        + (", with previews)" if previews_on else ")"),
        app=app,
        actor=actor,
        data={"repo": found.full_name, "branch": branch, "hook_id": hook.id},
    )
    job = None
    if deploy:
        async with platform.pool.connection() as conn:
            try:
                started = await job_store.enqueue(
                    conn, app=app, kind=JobKind.DEPLOY, params={"ref": branch}, actor=actor
                )
                job = started.id
            except job_store.AppBusy:
                job = None
        platform.wake_jobs()
    return Connected(connection, found.private, created, job)


async def disconnect(
    platform: Platform, app: str, actor: str
) -> tuple[ConnectionRow, bool, list[str]]:
    """Returns the connection that was, whether GitHub's webhook was removed (False: it
    was not there any more, or GitHub refused: said by the caller), and the previews
    removed."""
    async with platform.pool.connection() as conn:
        connection = await store.connection(conn, app)
        if connection is None or connection.preview_of is not None:
            raise LookupError(f"{app} is not connected to GitHub")
        shared = [c for c in await store.connections_of(conn, connection.repo) if c.app != app]
        own_previews = await store.previews_of(conn, app)
    removed_hook = False
    if connection.hook_id is not None and not any(c.hook_id == connection.hook_id for c in shared):
        async with await account.client(platform) as github:
            await github.delete_hook(connection.repo, connection.hook_id)
        removed_hook = True
    removed = []
    for preview in own_previews:
        if await previews.remove(platform, preview.app, actor):
            removed.append(preview.app)
    async with platform.pool.connection() as conn:
        await store.remove_connection(conn, app)
    # the mirror is of that repository: a later connect to another starts afresh
    mirror = building.github_mirror(platform, app)
    await asyncio.to_thread(shutil.rmtree, mirror, ignore_errors=True)
    await platform.bus.publish(
        EventType.GITHUB_DISCONNECTED,
        f"{actor} disconnected {app} from {connection.repo}",
        app=app,
        actor=actor,
        data={"repo": connection.repo, "hook_removed": removed_hook, "previews": removed},
    )
    return connection, removed_hook, removed


async def redeliver(platform: Platform, app: str, delivery: str) -> str:
    """Ask GitHub to send a delivery again; the next copy of it is acted on once more."""
    async with platform.pool.connection() as conn:
        connection = await store.connection(conn, app)
    if connection is None or connection.hook_id is None:
        raise LookupError(f"{app} is not connected to GitHub")
    async with await account.client(platform) as github:
        found = await github.deliveries(connection.repo, connection.hook_id, limit=100)
        match = next((d for d in found if d.guid == delivery), None)
        if match is None:
            raise GitHubError(
                GitHubErrorKind.NOT_FOUND,
                f"GitHub has no delivery {delivery} of {app}'s webhook among its latest 100 "
                "(it keeps them 3 days)",
            )
        async with platform.pool.connection() as conn:
            await store.allow_redelivery(conn, app, delivery)
        await github.redeliver(connection.repo, connection.hook_id, match.id)
    return f"GitHub sends delivery {delivery} ({match.event}) again"
