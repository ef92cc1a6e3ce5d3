"""The pages: the dashboard, the apps, an app; and the deploy and roll back its page
offers (its config's actions are in `config`, its domains' in `domains`).

Each page is drawn from the daemon's answers to the person's own calls, and names the
event id it is current to (`data-after`), from which its live stream carries on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from deployctl.state import State
from deployd.protocol.apps import (
    AppInfo,
    AppParams,
    AppsPsResult,
    DeploysRollbackParams,
    DeploysStartParams,
    JobInfo,
    ReleaseInfo,
    ReleasesListParams,
    ReleasesListResult,
)
from deployd.protocol.common import NoParams
from deployd.protocol.domains import DomainsListParams, DomainsListResult
from deployd.protocol.env import (
    EnvAppParams,
    EnvCompareParams,
    EnvCompareResult,
    EnvHistoryParams,
    EnvHistoryResult,
    EnvListResult,
)
from deployd.protocol.events import EventsListParams, EventsListResult
from deployd.protocol.snapshot import SnapshotResult
from deployd.protocol.stats import StatsParams, StatsResult

from . import views
from .guard import Visit, action, page, require

FEED_SHOWN = 100
APP_EVENTS = 30
RELEASES_SHOWN = 10
CONFIG_VERSIONS_SHOWN = 8


def app_name(request: Request) -> str:
    """The app the path names; 404 for a name no app can have."""
    name = str(request.path_params["name"])
    try:
        return AppParams(name=name).name
    except ValidationError:
        raise HTTPException(404, "no app has such a name") from None


def _apps(snapshot: SnapshotResult, state: State) -> list[dict[str, object]]:
    traffic = {stats.app: stats for stats in snapshot.traffic}
    return [views.app_row(state, name, traffic) for name in sorted(state.apps)]


@page
async def dashboard(visit: Visit) -> Response:
    snapshot = await visit.daemon.call(SnapshotResult, "system.snapshot", NoParams())
    state = State.from_snapshot(snapshot)
    requests = views.per_minute(snapshot.traffic_series, datetime.now(UTC))
    return visit.render(
        "dashboard.html",
        {
            "status": snapshot.status,
            "host": views.host_fields(snapshot.host),
            "counts": views.counts(state),
            "apps": _apps(snapshot, state),
            "feed": [views.feed_item(e) for e in list(state.feed)[:FEED_SHOWN]],
            "spark": views.spark(requests),
            "requests_hour": sum(requests),
            "requests_peak": max(requests),
            "after": snapshot.last_event_id,
            "events_url": "/events",
        },
    )


@page
async def apps(visit: Visit) -> Response:
    snapshot = await visit.daemon.call(SnapshotResult, "system.snapshot", NoParams())
    state = State.from_snapshot(snapshot)
    return visit.render(
        "apps.html",
        {"apps": _apps(snapshot, state), "after": snapshot.last_event_id, "events_url": "/events"},
    )


@page
async def app(visit: Visit) -> Response:
    name = app_name(visit.request)
    info = await visit.daemon.call(AppInfo, "apps.show", AppParams(name=name))
    ps, releases, recent, stats, (env, history), domains = await asyncio.gather(
        visit.daemon.call(AppsPsResult, "apps.ps", AppParams(name=name)),
        visit.daemon.call(
            ReleasesListResult,
            "releases.list",
            ReleasesListParams(app=name, limit=RELEASES_SHOWN),
        ),
        visit.daemon.call(
            EventsListResult, "events.list", EventsListParams(app=name, limit=APP_EVENTS)
        ),
        visit.daemon.call(StatsResult, "stats.show", StatsParams(app=name, since="1h")),
        _config(visit, name),
        visit.daemon.call(DomainsListResult, "domains.list", DomainsListParams(app=name)),
    )
    state = State(role=visit.daemon.identity.role, apps={name: info})
    for event in recent.events:  # oldest first: the marks (a crash loop) as they came
        state.apply(event)
    requests = views.per_minute(stats.series, datetime.now(UTC))
    kept = [r for r in releases.releases if r.kept and not r.live]
    return visit.render(
        "app.html",
        {
            "app": info,
            "row": views.app_row(state, name),
            "ps": ps,
            "releases": releases.releases,
            "can_roll_back": bool(kept),
            "env": env,
            "config_versions": history.versions,
            "domains": domains.domains,
            "feed": [views.feed_item(e) for e in list(state.feed)],
            "spark": views.spark(requests),
            "requests_hour": sum(requests),
            "requests_peak": max(requests),
            "after": recent.events[-1].id if recent.events else 0,
            "events_url": f"/events?app={name}",
        },
    )


async def _config(visit: Visit, name: str) -> tuple[EnvListResult, EnvHistoryResult]:
    """The config, masked, and its last versions (who changed which names, no values)."""
    return await asyncio.gather(
        visit.daemon.call(EnvListResult, "env.list", EnvAppParams(app=name)),
        visit.daemon.call(
            EnvHistoryResult, "env.history", EnvHistoryParams(app=name, limit=CONFIG_VERSIONS_SHOWN)
        ),
    )


@action
async def deploy(visit: Visit, fields: dict[str, str]) -> Response:
    name = app_name(visit.request)
    job = await visit.daemon.call(JobInfo, "deploys.start", DeploysStartParams(app=name))
    visit.session.notice = f"Deploy of {name} started (job {job.id})."
    return RedirectResponse(f"/apps/{name}/deploys/{job.id}", status_code=303)


def _rollback_params(name: str, to: str, keep_env: bool = False) -> DeploysRollbackParams:
    try:
        return DeploysRollbackParams(app=name, to=int(to) if to else None, keep_env=keep_env)
    except ValueError:  # pydantic's ValidationError is one
        raise HTTPException(400, "`to` must be a release's number") from None


def _rollback_target(name: str, releases: list[ReleaseInfo], to: int | None) -> ReleaseInfo:
    """The kept release a rollback goes to: `to`, else the newest kept one that went live,
    older than the live one (as `deployctl rollback` picks, near enough: a build pruned
    meanwhile is the daemon's to refuse). The confirmation names it and its form sends it,
    so what is asked is what is done."""
    kept = [r for r in releases if r.kept and not r.live]
    if to is not None:
        found = next((r for r in kept if r.version == to), None)
        if found is None:
            raise HTTPException(404, f"{name} has no kept release v{to} to roll back to")
        return found
    live = next((r.version for r in releases if r.live), None)
    earlier = [r for r in kept if r.live_at is not None and (live is None or r.version < live)]
    if not earlier:
        raise HTTPException(409, f"{name} has no earlier release to roll back to")
    return max(earlier, key=lambda r: r.version)


@page
async def rollback_confirm(visit: Visit) -> Response:
    """What a rollback will do, asked before it is done (as the TUI asks): the kept build
    starts again with the config it ran with, so the daemon's comparison of that config
    with today's (names only) is shown: what comes back, goes (a linked database's URL,
    say) or changes, unless today's config is kept."""
    name = app_name(visit.request)
    require(visit.daemon.identity, "deploys.rollback", f"rolling {name} back")
    params = _rollback_params(name, visit.request.query_params.get("to", "").strip())
    releases = await visit.daemon.call(
        ReleasesListResult, "releases.list", ReleasesListParams(app=name, limit=1000)
    )
    chosen = _rollback_target(name, releases.releases, params.to)
    changes = await visit.daemon.call(
        EnvCompareResult, "env.compare", EnvCompareParams(app=name, version=chosen.env_version)
    )
    return visit.render("rollback.html", {"app_name": name, "chosen": chosen, "changes": changes})


@action
async def rollback(visit: Visit, fields: dict[str, str]) -> Response:
    name = app_name(visit.request)
    keep_env = fields.get("config", "") == "today"
    params = _rollback_params(name, fields.get("to", "").strip(), keep_env)
    job = await visit.daemon.call(JobInfo, "deploys.rollback", params)
    target = f"v{params.to}" if params.to else "the release before"
    config = ", today's config" if keep_env else ""
    visit.session.notice = f"Rollback of {name} to {target}{config} started (job {job.id})."
    return RedirectResponse(f"/apps/{name}/deploys/{job.id}", status_code=303)
