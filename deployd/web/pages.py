"""The pages: the dashboard, the apps, an app; and the actions an app's page offers
(deploy, roll back, its config, its domains).

Each page is drawn from the daemon's answers to the person's own calls, and names the
event id it is current to (`data-after`), from which its live stream carries on.
"""

from __future__ import annotations

import asyncio
import re
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
    ReleasesListParams,
    ReleasesListResult,
)
from deployd.protocol.common import ENV_NAME_PATTERN, NoParams
from deployd.protocol.domains import (
    DomainInfo,
    DomainParams,
    DomainsAttachParams,
    DomainsDetachResult,
    DomainsListParams,
    DomainsListResult,
)
from deployd.protocol.env import EnvAppParams, EnvListResult, EnvSetParams, EnvSetResult
from deployd.protocol.events import EventsListParams, EventsListResult
from deployd.protocol.snapshot import SnapshotResult
from deployd.protocol.stats import StatsParams, StatsResult

from . import views
from .guard import Visit, action, page

FEED_SHOWN = 100
APP_EVENTS = 30
RELEASES_SHOWN = 10


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
    ps, releases, recent, stats, env, domains = await asyncio.gather(
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
        visit.daemon.call(EnvListResult, "env.list", EnvAppParams(app=name)),  # masked
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
            "domains": domains.domains,
            "feed": [views.feed_item(e) for e in list(state.feed)],
            "spark": views.spark(requests),
            "requests_hour": sum(requests),
            "requests_peak": max(requests),
            "after": recent.events[-1].id if recent.events else 0,
            "events_url": f"/events?app={name}",
        },
    )


@action
async def deploy(visit: Visit, fields: dict[str, str]) -> Response:
    name = app_name(visit.request)
    job = await visit.daemon.call(JobInfo, "deploys.start", DeploysStartParams(app=name))
    visit.session.notice = f"Deploy of {name} started (job {job.id})."
    return RedirectResponse(f"/apps/{name}/deploys/{job.id}", status_code=303)


@action
async def rollback(visit: Visit, fields: dict[str, str]) -> Response:
    name = app_name(visit.request)
    to = fields.get("to", "").strip()
    try:
        params = DeploysRollbackParams(app=name, to=int(to) if to else None)
    except ValueError:  # pydantic's ValidationError is one
        raise HTTPException(400, "`to` must be a release's number") from None
    job = await visit.daemon.call(JobInfo, "deploys.rollback", params)
    target = f"v{params.to}" if params.to else "the release before"
    visit.session.notice = f"Rollback of {name} to {target} started (job {job.id})."
    return RedirectResponse(f"/apps/{name}/deploys/{job.id}", status_code=303)


ENV_NAME_RULE = "uppercase letters, digits and underscores, not starting with a digit"


def _env_name(fields: dict[str, str], key: str) -> str:
    return fields.get(key, "").strip()


@action
async def env_reveal(visit: Visit, fields: dict[str, str]) -> Response:
    """The values themselves, on this answer only (never kept, never redirected to): the
    daemon checks the role and records the reveal in the audit log as this person."""
    name = app_name(visit.request)
    env = await visit.daemon.call(EnvListResult, "env.reveal", EnvAppParams(app=name))
    return visit.render("env_revealed.html", {"app_name": name, "env": env})


@action
async def env_set(visit: Visit, fields: dict[str, str]) -> Response:
    """Set one variable and unset one, as one config change (one version, one config
    release). The value is never put in an answer: an error names the field only."""
    name = app_name(visit.request)
    key, unset = _env_name(fields, "name"), _env_name(fields, "unset")
    value = fields.get("value", "")
    if not key and not unset:
        raise HTTPException(400, "name a variable to set or one to unset")
    for field, given in (("name", key), ("unset", unset)):
        if given and not re.fullmatch(ENV_NAME_PATTERN, given):
            raise HTTPException(
                400, f"the {field} {given!r} is not a variable's name: {ENV_NAME_RULE}"
            )
    if key and key == unset:
        raise HTTPException(400, f"{key} cannot be both set and unset")
    params = EnvSetParams(app=name, set={key: value} if key else {}, unset=[unset] if unset else [])
    result = await visit.daemon.call(EnvSetResult, "env.set", params)
    if not result.changed:
        visit.session.notice = f"Config of {name} unchanged (version {result.version})."
    elif result.job is not None:
        visit.session.notice = (
            f"Config version {result.version} of {name}; restarting (job {result.job.id})."
        )
    else:
        visit.session.notice = (
            f"Config version {result.version} of {name}; no release is live: "
            "it applies at the next deploy."
        )
    return RedirectResponse(f"/apps/{name}#config", status_code=303)


@action
async def domain_attach(visit: Visit, fields: dict[str, str]) -> Response:
    name = app_name(visit.request)
    try:
        params = DomainsAttachParams(
            app=name,
            domain=fields.get("domain", "").strip(),
            tls="tls" in fields,
            hsts="hsts" in fields,
            verify_dns="verify_dns" in fields,
        )
    except ValidationError:
        raise HTTPException(400, "name the domain to attach") from None
    info = await visit.daemon.call(DomainInfo, "domains.attach", params)
    visit.session.notice = f"{info.domain} attached to {name}: {info.url}"
    return RedirectResponse(f"/apps/{name}#domains", status_code=303)


@action
async def domain_detach(visit: Visit, fields: dict[str, str]) -> Response:
    name = app_name(visit.request)
    try:
        params = DomainParams(app=name, domain=fields.get("domain", "").strip())
    except ValidationError:
        raise HTTPException(400, "name the domain to detach") from None
    gone = await visit.daemon.call(DomainsDetachResult, "domains.detach", params)
    visit.session.notice = f"{gone.domain} detached from {name}."
    return RedirectResponse(f"/apps/{name}#domains", status_code=303)
