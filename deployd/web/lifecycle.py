"""An app's processes from its page: restart (every one, or one type), stop, start, and
scale each process type. Each is a job of the daemon's; the page follows it in its feed."""

from __future__ import annotations

import re

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from deployd.protocol.apps import AppParams, AppsRestartParams, AppsScaleParams, JobInfo

from .guard import Visit, action
from .pages import app_name

SCALE_FIELD = re.compile(r"scale\.([a-z][a-z0-9_-]{0,62})")
"""A process type's count field in the scale form (the daemon checks the type itself)."""


def _started(visit: Visit, job: JobInfo, what: str) -> Response:
    visit.session.notice = f"{what} {job.app} started (job {job.id})."
    return RedirectResponse(f"/apps/{job.app}#processes", status_code=303)


@action
async def restart(visit: Visit, fields: dict[str, str]) -> Response:
    kind = fields.get("type", "").strip() or None
    try:
        params = AppsRestartParams(app=app_name(visit.request), type=kind)
    except ValidationError:
        raise HTTPException(
            400, "`type` must be a process type of the app (web, worker…)"
        ) from None
    job = await visit.daemon.call(JobInfo, "apps.restart", params)
    return _started(visit, job, f"Restart of {kind} of" if kind else "Restart of")


@action
async def stop(visit: Visit, fields: dict[str, str]) -> Response:
    job = await visit.daemon.call(JobInfo, "apps.stop", AppParams(name=app_name(visit.request)))
    return _started(visit, job, "Stop of")


@action
async def start(visit: Visit, fields: dict[str, str]) -> Response:
    job = await visit.daemon.call(JobInfo, "apps.start", AppParams(name=app_name(visit.request)))
    return _started(visit, job, "Start of")


@action
async def scale(visit: Visit, fields: dict[str, str]) -> Response:
    """The form has one `scale.TYPE` count per process type; each is sent as typed
    (`TYPE=COUNT`) and the daemon says what is wrong with one."""
    changes = []
    for field, value in fields.items():
        found = SCALE_FIELD.fullmatch(field)
        if found and value.strip():
            changes.append(f"{found[1]}={value.strip()[:16]}")
    try:
        params = AppsScaleParams(app=app_name(visit.request), changes=changes)
    except ValidationError:
        raise HTTPException(400, "give a count for at least one process type") from None
    job = await visit.daemon.call(JobInfo, "apps.scale", params)
    return _started(visit, job, f"Scaling ({', '.join(changes)}) of")
