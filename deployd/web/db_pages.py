"""The database manager, the provisioning wizard and an app's Database tab: the TUI's
database screen in a browser, every call the person's own (`databases.*`).

Backups, restores and drops run as long as the database takes (the daemon answers when
the work is done, as `deployctl db backup` waits for it). The page waits a few seconds
for the answer; a longer one goes on, on a connection of its own, and the page says it
started: its outcome arrives in the database activity shown live under it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from deployd.protocol.apps import AppsListResult, JobInfo
from deployd.protocol.common import APP_NAME_PATTERN, ENV_NAME_PATTERN, PATTERN_WORDS, NoParams
from deployd.protocol.databases import (
    BackupInfo,
    DbBackupsResult,
    DbCreateParams,
    DbDropParams,
    DbDropResult,
    DbInfo,
    DbLinkParams,
    DbLinkResult,
    DbListResult,
    DbParams,
    DbRestoreParams,
    DbRestoreResult,
    DbScheduleParams,
    DbScheduleResult,
    DbShowParams,
    DbUnlinkParams,
)
from deployd.protocol.events import EventsListParams, EventsListResult

from . import db_views, forms, views
from .guard import Visit, action, page, require, web
from .pages import app_name
from .tabs import app_header

log = logging.getLogger("deployd.web.databases")

M = TypeVar("M", bound=BaseModel)

ANSWER_WAIT = 8.0
"""Seconds a page waits for a backup, restore or drop before it says "started"."""
LONG_SECONDS = 6 * 3600.0
"""A backup or restore of a large database takes as long as it takes (as the CLI's)."""
EVENTS_SHOWN = 30
FAMILY = "db"
EVENTS_URL = f"/events?family={FAMILY}"
RULES = {
    "name": PATTERN_WORDS[APP_NAME_PATTERN],
    "app": PATTERN_WORDS[APP_NAME_PATTERN],
    "variable": PATTERN_WORDS[ENV_NAME_PATTERN],
}
"""The words for each field's pattern, as the CLI says them."""
SHOWN = 40
"""The most of a refused value an error page repeats."""
_running: dict[str, asyncio.Task[Any]] = {}
"""Long calls that outlived their page's answer, by database (kept so they are not
collected): one at a time each, so repeated clicks do not pile up connections."""


def db_name(request: Request) -> str:
    """The database the path names; 404 for a name no database can have."""
    try:
        return DbParams(name=str(request.path_params["name"])).name
    except ValidationError:
        raise HTTPException(404, "no database has such a name") from None


def _field(fields: dict[str, str], key: str) -> str:
    return fields.get(key, "").strip()


async def _db_events(visit: Visit) -> tuple[list[dict[str, Any]], int]:
    """The latest database events, newest first, and the id the live stream goes on from."""
    found = await visit.daemon.call(
        EventsListResult, "events.list", EventsListParams(kinds=[FAMILY], limit=EVENTS_SHOWN)
    )
    feed = [views.feed_item(e) for e in reversed(found.events)]
    return feed, found.events[-1].id if found.events else 0


@page
async def databases(visit: Visit) -> Response:
    listed, (feed, after) = await asyncio.gather(
        visit.daemon.call(DbListResult, "databases.list", NoParams()), _db_events(visit)
    )
    return visit.render(
        "databases.html",
        {
            "databases": [db_views.db_row(db) for db in listed.databases],
            "problem": next((db.problem for db in listed.databases if db.problem), None),
            "feed": feed,
            "after": after,
            "events_url": EVENTS_URL,
        },
    )


@page
async def database(visit: Visit) -> Response:
    name = db_name(visit.request)
    info, backups, (feed, after), apps = await asyncio.gather(
        visit.daemon.call(DbInfo, "databases.show", DbShowParams(name=name)),
        visit.daemon.call(DbBackupsResult, "databases.backups", DbParams(name=name)),
        _db_events(visit),
        visit.daemon.call(AppsListResult, "apps.list", NoParams()),
    )
    linked = {link.app for link in info.links}
    return visit.render(
        "database.html",
        {
            "db": info,
            "row": db_views.db_row(info),
            "chart": db_views.size_chart(info.size_history),
            "backups": [db_views.backup_row(b) for b in backups.backups],
            "unlinked_apps": sorted(a.name for a in apps.apps if a.name not in linked),
            "feed": feed,
            "after": after,
            "events_url": EVENTS_URL,
        },
    )


@action
async def reveal(visit: Visit, fields: dict[str, str]) -> Response:
    """The password and URL, on this answer only (never kept, never redirected to): the
    daemon checks the role and records the reveal in the audit log as this person."""
    name = db_name(visit.request)
    info = await visit.daemon.call(DbInfo, "databases.reveal", DbShowParams(name=name))
    return visit.render("database_revealed.html", {"db": info})


async def _long(visit: Visit, result: type[M], method: str, params: BaseModel) -> M | None:
    """The daemon's answer if it comes within ANSWER_WAIT; None while the call goes on
    (as this person still, on a connection of its own, for up to LONG_SECONDS)."""
    here, token, name = web(visit.request), visit.session.token, db_name(visit.request)
    if name in _running:
        raise HTTPException(
            409, f"a backup, restore or drop of {name} started here is still under way"
        )

    async def call() -> M:
        async with here.link.as_user(token) as daemon:
            return await daemon.call(result, method, params, timeout=LONG_SECONDS)

    task = asyncio.create_task(call())
    _running[name] = task
    task.add_done_callback(lambda done: _finished(name, done))
    await asyncio.wait({task}, timeout=ANSWER_WAIT)
    return task.result() if task.done() else None


def _finished(name: str, task: asyncio.Task[Any]) -> None:
    _running.pop(name, None)
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.info("a long call on %s ended without success: %s", name, exc)


@action
async def backup(visit: Visit, fields: dict[str, str]) -> Response:
    name = db_name(visit.request)
    done = await _long(visit, BackupInfo, "databases.backup", DbParams(name=name))
    if done is None:
        visit.session.notice = (
            f"Backup of {name} started: the activity below says when it is verified."
        )
    else:
        row = db_views.backup_row(done)
        visit.session.notice = (
            f"Backup {done.id} of {name} {done.status}: {row['size']}, {row['contents']}."
        )
    return RedirectResponse(f"/databases/{name}#backups", status_code=303)


def _backup_id(fields: dict[str, str]) -> int:
    found = forms.number(_field(fields, "backup"))
    if not found:
        raise HTTPException(400, "choose one of the backups listed to restore from")
    return found


@page
async def restore_confirm(visit: Visit) -> Response:
    """What a restore does, and the box the person types the database's name in."""
    name = db_name(visit.request)
    require(visit.daemon.identity, "databases.restore", f"restoring {name}")
    chosen = _backup_id(dict(visit.request.query_params))
    info, backups = await asyncio.gather(
        visit.daemon.call(DbInfo, "databases.show", DbShowParams(name=name)),
        visit.daemon.call(DbBackupsResult, "databases.backups", DbParams(name=name)),
    )
    found = next((b for b in backups.backups if b.id == chosen), None)
    if found is None:
        raise HTTPException(404, f"{name} has no backup {chosen}")
    return visit.render("database_restore.html", {"db": info, "backup": db_views.backup_row(found)})


def _confirmed(fields: dict[str, str], name: str, what: str) -> None:
    if not db_views.typed_name_matches(fields.get("confirm", ""), name):
        raise HTTPException(400, f"{what} refused: type the database's name, {name}, to confirm it")


@action
async def restore(visit: Visit, fields: dict[str, str]) -> Response:
    name = db_name(visit.request)
    chosen = _backup_id(fields)
    _confirmed(fields, name, f"restoring {name} from backup {chosen}")
    params = DbRestoreParams(name=name, backup=chosen)
    done = await _long(visit, DbRestoreResult, "databases.restore", params)
    if done is None:
        visit.session.notice = (
            f"Restore of {name} from backup {chosen} started; the activity below says "
            "when it is done."
        )
    else:
        kept = f"; the database it replaced is kept as {done.kept}" if done.kept else ""
        visit.session.notice = (
            f"{name} restored from backup {done.backup}: {done.tables} tables, "
            f"{done.rows:,} rows, checked{kept}."
        )
    return RedirectResponse(f"/databases/{name}", status_code=303)


@action
async def schedule(visit: Visit, fields: dict[str, str]) -> Response:
    name = db_name(visit.request)
    keep = _field(fields, "keep") or "14"
    try:
        params = DbScheduleParams(
            name=name,
            schedule=db_views.schedule_words(fields.get("schedule", "")),
            keep=forms.number(keep, 5) or 0,
        )
    except ValidationError:
        raise HTTPException(
            400,
            "a schedule is `hourly`, `hourly :MM`, `daily HH:MM`, `weekly DAY HH:MM` "
            "(UTC) or `off`, keeping 1 to 1000 backups",
        ) from None
    done = await visit.daemon.call(DbScheduleResult, "databases.schedule", params)
    if done.schedule is None:
        visit.session.notice = f"{name} is no longer backed up on a schedule."
    else:
        visit.session.notice = (
            f"{name} is backed up {done.schedule}; next at {views.when(done.next_run_at)}."
        )
    return RedirectResponse(f"/databases/{name}#backups", status_code=303)


def _restarts(app: str, variable: str, job: JobInfo | None) -> str:
    if job is not None:
        return f"{app} gets {variable} and restarts (job {job.id})"
    return f"{app} gets {variable} at its next deploy (nothing is live to restart)"


@action
async def link(visit: Visit, fields: dict[str, str]) -> Response:
    name = db_name(visit.request)
    params = _link_params(name, fields)
    done = await visit.daemon.call(DbLinkResult, "databases.link", params)
    visit.session.notice = f"{name} linked: {_restarts(done.app, done.variable, done.job)}."
    return RedirectResponse(f"/databases/{name}", status_code=303)


def _link_params(name: str, fields: dict[str, str]) -> DbLinkParams:
    app, variable = _field(fields, "app"), _field(fields, "variable") or "DATABASE_URL"
    try:
        return DbLinkParams(database=name, app=app, variable=variable)
    except ValidationError as exc:
        raise HTTPException(400, _which(exc, app=app, variable=variable)) from None


def _which(exc: ValidationError, **given: str) -> str:
    """What was wrong, by field: the value named (names are no secret), the rule said."""
    said = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        if field in RULES:
            value = given.get(field, "")
            shown = value if len(value) <= SHOWN else value[:SHOWN] + "…"
            said.append(
                f"the {field} {shown!r} is not valid: {RULES[field]}"
                if shown
                else f"the {field} is missing"
            )
    return "; ".join(said) or "the form is not valid"


@action
async def unlink(visit: Visit, fields: dict[str, str]) -> Response:
    name = db_name(visit.request)
    app = _field(fields, "app")
    try:
        params = DbUnlinkParams(database=name, app=app)
    except ValidationError as exc:
        raise HTTPException(400, _which(exc, app=app)) from None
    done = await visit.daemon.call(DbLinkResult, "databases.unlink", params)
    restart = f"; it restarts (job {done.job.id})" if done.job else ""
    visit.session.notice = f"{name} unlinked from {done.app}: {done.variable} unset{restart}."
    return RedirectResponse(f"/databases/{name}", status_code=303)


@action
async def drop(visit: Visit, fields: dict[str, str]) -> Response:
    name = db_name(visit.request)
    kept_only = fields.get("kept_only") == "1"
    _confirmed(fields, name, f"dropping {'the copies kept of ' if kept_only else ''}{name}")
    params = DbDropParams(name=name, kept_only=kept_only)
    done = await _long(visit, DbDropResult, "databases.drop", params)
    if done is None:
        visit.session.notice = (
            f"Dropping {name} started: a final backup first, then the database goes "
            "(the activity says when)."
        )
    else:
        final = f"; its final backup is {done.final_backup.id}" if done.final_backup else ""
        visit.session.notice = f"Dropped {', '.join(done.dropped) or 'nothing'}{final}."
    return RedirectResponse(f"/databases/{name}" if kept_only else "/databases", status_code=303)


@page
async def new(visit: Visit) -> Response:
    """The wizard: a name, and optionally an app to link it to (preselected from `?app=`,
    as the app's Database tab sends it)."""
    require(visit.daemon.identity, "databases.create", "creating a database")
    apps = await visit.daemon.call(AppsListResult, "apps.list", NoParams())
    wanted = visit.request.query_params.get("app", "")
    names = sorted(a.name for a in apps.apps)
    return visit.render(
        "database_new.html",
        {
            "apps": names,
            "chosen": wanted if wanted in names else "",
            "name": f"{wanted}-db" if wanted in names else "",
        },
    )


@action
async def create(visit: Visit, fields: dict[str, str]) -> Response:
    name, app = _field(fields, "name"), _field(fields, "app")
    variable = _field(fields, "variable") or "DATABASE_URL"
    try:
        params = DbCreateParams(name=name, app=app or None, variable=variable)
    except ValidationError as exc:
        raise HTTPException(400, _which(exc, name=name, app=app, variable=variable)) from None
    made = await visit.daemon.call(DbInfo, "databases.create", params)
    said = f"Database {made.name} created"
    if app:
        said += f"; {_restarts(app, variable, made.job)}"
    visit.session.notice = said + "."
    return RedirectResponse(f"/databases/{made.name}", status_code=303)


@page
async def app_database(visit: Visit) -> Response:
    """An app's Database tab: the databases linked to it, and the wizard for another."""
    name = app_name(visit.request)
    header, listed = await asyncio.gather(
        app_header(visit, name),  # 404 if there is no such app
        visit.daemon.call(DbListResult, "databases.list", NoParams()),
    )
    mine = [db for db in listed.databases if any(link.app == name for link in db.links)]
    rows = []
    for db in mine:
        row = db_views.db_row(db)
        row["variables"] = ", ".join(link.variable for link in db.links if link.app == name)
        rows.append(row)
    return visit.render("app_database.html", {**header, "app_name": name, "databases": rows})
