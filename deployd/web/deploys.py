"""A deploy's page (`/apps/{name}/deploys/{job}`): its steps, their state and timing, its
build output, and how it ended; and its live stream (`.../events`), which relays the
daemon's `deploys.watch` as the person logged in, so the page follows the job without a
reload, as `deployctl deploy` and the TUI's deploy screen do.

The page is drawn from the job (`deploys.show`), its stored events (`events.list`) and its
build log (`logs.read`); the stream carries on from there. `deploys.watch` replays the
job's stored events at each connection, so a stream that dropped (the 10-minute bound, a
proxy, a tab that slept) comes back whole: the steps are sent as whole rows. Build output
is not stored as events: lines printed while the browser was away are in the build log
(the page's link), not in the stream. The stream ends with the job's outcome (`outcome`,
then `end`, on which the browser stops); without a session it is one `signed-out` event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from deployctl.state import JOB_FINISHED
from deployd.protocol.apps import (
    AppInfo,
    AppParams,
    DeploysWatchParams,
    JobInfo,
    LogsReadParams,
    LogsReadResult,
)
from deployd.protocol.errors import RpcError
from deployd.protocol.events import Event, EventsListParams, EventsListResult

from . import forms, streams, views
from .guard import Visit, Web, page, session_of, web
from .link import UserConnection
from .loglines import bounded
from .pages import app_name
from .sessions import Session
from .steps import OUTPUT_KEPT, Progress, progress_of

EVENTS_READ = 300
"""The app's latest stored `deploy.*` events read for the page: a job's dozen are among
them unless many deploys of the app came after it (then the page shows its outcome)."""


def path_of(name: str, job: int) -> str:
    return f"/apps/{name}/deploys/{job}"


def job_number(request: Request) -> int:
    found = forms.number(str(request.path_params["job"]), 11)
    if not found:
        raise HTTPException(404, "no job has such a number")
    return found


async def _job_of(daemon: UserConnection, name: str, number: int) -> JobInfo:
    job = await daemon.call(JobInfo, "deploys.show", DeploysWatchParams(job=number))
    if job.app != name:
        raise HTTPException(404, f"{name} has no job {number}")
    return job


def outcome(job: JobInfo, app: AppInfo, progress: Progress) -> dict[str, Any]:
    """How the job ended, as the page says it: the live URL, or where and why it failed
    (a stop's ends with nothing live)."""
    failed = job.state != "succeeded"
    stopped = job.kind == "stop" and not failed
    step = (progress.failed_step() or job.step or "") if failed else ""
    if failed:
        said = f"{job.kind.capitalize()} {job.state}{f' at {step}' if step else ''}."
    elif stopped:
        said = f"{app.name} is stopped: its address answers 503 until it is started."
    else:
        said = f"{f'v{job.release}' if job.release else 'It'} is live."
    return {
        "state": job.state,
        "failed": failed,
        "said": said,
        "release": f"v{job.release}" if job.release else "",
        "url": "" if failed or stopped else app.url,
        "step": step,
        "error": (job.error or progress.message or job.state) if failed else "",
    }


@page
async def show(visit: Visit) -> Response:
    name, number = app_name(visit.request), job_number(visit.request)
    job = await _job_of(visit.daemon, name, number)
    app, stored = await asyncio.gather(
        visit.daemon.call(AppInfo, "apps.show", AppParams(name=name)),
        visit.daemon.call(
            EventsListResult,
            "events.list",
            EventsListParams(app=name, kinds=["deploy"], limit=EVENTS_READ),
        ),
    )
    progress = progress_of(job.id, stored.events)
    output: list[str] = []
    if job.kind == "deploy" and job.release:
        with contextlib.suppress(RpcError):  # not written yet, or a build that never began
            log_read = await visit.daemon.call(
                LogsReadResult,
                "logs.read",
                LogsReadParams(app=name, build=job.release, lines=OUTPUT_KEPT),
            )
            output = [bounded(line) for line in log_read.lines]
    done = job.state in JOB_FINISHED
    return visit.render(
        "deploy.html",
        {
            "app": app,
            "job": job,
            "steps": progress.rows(),
            "output": output,
            "outcome": outcome(job, app, progress) if done else None,
            "stream": None if done else f"{path_of(name, job.id)}/events",
        },
    )


async def events(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return streams.once("signed-out", {"login": "/login"})
    try:
        here, name, number = web(request), app_name(request), job_number(request)
    except HTTPException as exc:  # an answer the browser would only ask again for
        return streams.once("end", {"why": exc.detail})

    async def frames(
        daemon: UserConnection, first: Any, bursts: streams.Bursts
    ) -> AsyncIterator[str]:
        if not isinstance(first, JobInfo) or first.app != name:
            yield views.sse("end", {"why": f"{name} has no job {number}"})
            return
        yield views.sse("live", {"user": daemon.identity.user})
        async for frame in _frames(here, session, name, first, bursts):
            yield frame

    params = DeploysWatchParams(job=number)
    what = f"the stream of job {number}"
    return streams.respond(streams.relay(here, session, "deploys.watch", params, frames, what))


async def _frames(
    here: Web, session: Session, name: str, job: JobInfo, bursts: streams.Bursts
) -> AsyncIterator[str]:
    """The job's events as frames: each output line as it comes, the step rows once a
    burst is over (a replay is a dozen events: one `steps` frame), the outcome at the end."""
    progress = Progress(job.id)
    async for burst in bursts:
        if burst is None:
            yield streams.KEEPALIVE
            continue
        steps_changed = False
        for item in burst:
            try:
                event = Event.model_validate(item)
            except ValidationError:
                continue
            change = progress.apply(event)
            if change == "output":
                yield views.sse("output", {"line": progress.output[-1]})
            steps_changed = steps_changed or change in ("steps", "outcome")
        if steps_changed:
            yield views.sse("steps", {"steps": progress.rows()})
        if progress.outcome is not None:
            break
    if progress.outcome is None:
        return  # the time is up (the browser comes back) or the daemon went away
    async with here.link.as_user(session.token) as daemon:
        final = await daemon.call(JobInfo, "deploys.show", DeploysWatchParams(job=job.id))
        app = await daemon.call(AppInfo, "apps.show", AppParams(name=name))
    yield views.sse("outcome", outcome(final, app, progress))
    yield views.sse("end", {"why": final.state})
