"""Preview apps of pull requests: `<app>-pr-<n>`, made from the app the first time a pull
request asks, removed with everything they made when it closes, or by the reaper when
nothing has been pushed to it for `DEPLOYD_PREVIEW_TTL` (a close event that never came).

A preview is given the app's config without the variables that must not leave it: those
of the app's linked databases (a preview never writes to production's data) and those
named at `github connect --preview-exclude`. A database linked to the preview alone goes
with it (after its final backup, as every drop).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from deployd.protocol.events import EventType
from deployd.store import apps as app_store
from deployd.store import databases as database_store
from deployd.store import github as store

from . import appconfig, applications, databases
from .platform import Platform

log = logging.getLogger(__name__)


class PreviewRefused(Exception):
    """The preview's name is taken by an app that is not this pull request's preview."""


async def ensure(platform: Platform, app: str, pull_request: int, name: str, actor: str) -> bool:
    """Make the preview unless it exists; True if made."""
    async with platform.pool.connection() as conn:
        parent = await app_store.get(conn, app)
        connection = await store.connection(conn, app)
        existing = await app_store.get(conn, name)
        mine = await store.connection(conn, name)
    if parent is None or connection is None:
        raise PreviewRefused(f"{app} is no longer connected to GitHub")
    if existing is not None:
        if mine is None or mine.preview_of != app or mine.pull_request != pull_request:
            raise PreviewRefused(f"{name} is an app of its own, not the preview of #{pull_request}")
        return False
    async with platform.pool.connection() as conn:
        made = len(await store.previews_of(conn, app))
    limit = platform.settings.preview_limit
    if made >= limit:
        raise PreviewRefused(
            f"{app} has {made} previews already (DEPLOYD_PREVIEW_LIMIT={limit}): close a pull "
            "request or raise the limit"
        )
    await applications.create(
        platform,
        name=name,
        source_kind=parent.source_kind,
        source=parent.source,
        branch=None,
        runtime=parent.runtime,
        source_uid=None,
        actor=actor,
    )
    async with platform.pool.connection() as conn:
        await store.save_connection(
            conn,
            app=name,
            repo=connection.repo,
            branch=connection.branch,
            hook_id=connection.hook_id,
            hook_url=connection.hook_url,
            secret=connection.secret,
            previews=False,
            by=actor,
            preview_of=app,
            pull_request=pull_request,
        )
        linked = {link.variable for link in await database_store.links(conn, app=app)}
    config = await appconfig.current(platform, app)
    withheld = linked | set(connection.preview_exclude)
    given = {k: v for k, v in config.values.items() if k not in withheld}
    if given:
        await appconfig.change(platform, name, given, [], replace=True, actor=actor)
    await platform.bus.publish(
        EventType.GITHUB_PREVIEW_CREATED,
        f"{name} previews #{pull_request} of {app} (config without "
        f"{', '.join(sorted(withheld)) or 'nothing withheld'})",
        app=name,
        actor=actor,
        data={"app": app, "pull_request": pull_request, "withheld": sorted(withheld)},
    )
    return True


async def remove(
    platform: Platform, name: str, actor: str, of: tuple[str, int] | None = None
) -> bool:
    """Remove a preview (of app and pull request `of`, when given) and the databases
    linked to it alone. True when it is gone (or was never made, or is not that preview:
    left alone); False while a job of it is under way (the next pass tries again)."""
    async with platform.pool.connection() as conn:
        mine = await store.connection(conn, name)
        if await app_store.get(conn, name) is None:
            return True
        if mine is None or mine.preview_of is None:
            log.warning("%s is not a preview: it is left alone", name)
            return True
        if of is not None and (mine.preview_of, mine.pull_request) != of:
            log.warning("%s is not the preview of %s #%d: it is left alone", name, *of)
            return True
        own = [link.database for link in await database_store.links(conn, app=name)]
        alone = [
            db
            for db in own
            if {link.app for link in await database_store.links(conn, db)} == {name}
        ]
    try:
        await applications.delete(platform, name, actor)
    except applications.AppBusy:
        return False
    for database in alone:
        try:
            await databases.drop(platform, database, actor)
        except Exception as exc:  # the preview is gone; the database stays, said
            log.warning("the database %s of preview %s was kept: %s", database, name, exc)
    await platform.bus.publish(
        EventType.GITHUB_PREVIEW_REMOVED,
        f"{name} (preview of #{mine.pull_request} of {mine.preview_of}) was removed"
        + (f" with its database {', '.join(alone)}" if alone else ""),
        app=mine.preview_of,
        actor=actor,
        data={"preview": name, "databases": alone},
    )
    return True


async def reap(platform: Platform, ttl: timedelta, actor: str) -> list[str]:
    """Remove previews nothing was pushed to for `ttl` (their close event was missed), and
    those whose app no longer follows GitHub."""
    now = datetime.now(UTC)
    removed = []
    async with platform.pool.connection() as conn:
        found = await store.all_previews(conn)
    for preview in found:
        async with platform.pool.connection() as conn:
            last = await store.last_activity(conn, preview.app) or preview.connected_at
            parent = await store.connection(conn, preview.preview_of or "")
        orphan = parent is None  # its app was disconnected or deleted
        if (orphan or now - last > ttl) and await remove(platform, preview.app, actor):
            removed.append(preview.app)
    return removed
