"""An app's config from its page: reveal the values, set and unset one, import a dotenv
text, apply now or stage for the next deploy.

Values are secrets: no answer of ours carries one except the reveal's own page (the
daemon checks the role and audits it as this person); an error names the field only.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from deployd.protocol.common import ENV_NAME_PATTERN, PATTERN_WORDS
from deployd.protocol.env import (
    EnvAppParams,
    EnvListResult,
    EnvSetParams,
    EnvSetResult,
    dotenv_assignments,
)

from .guard import Visit, action
from .pages import app_name

NAME_WORDS = PATTERN_WORDS[ENV_NAME_PATTERN]
IMPORT_BYTES = 512 * 1024
"""The largest dotenv text a form may bring (the CLI's files are rarely a tenth of it)."""


@action
async def reveal(visit: Visit, fields: dict[str, str]) -> Response:
    """The values themselves, on this answer only (never kept, never redirected to)."""
    name = app_name(visit.request)
    env = await visit.daemon.call(EnvListResult, "env.reveal", EnvAppParams(app=name))
    return visit.render("env_revealed.html", {"app_name": name, "env": env})


def _checked_name(fields: dict[str, str], field: str) -> str:
    """The name in `field`; refused without repeating it (it may be a misplaced secret)."""
    given = fields.get(field, "").strip()
    if given and not re.fullmatch(ENV_NAME_PATTERN, given):
        raise HTTPException(400, f"the {field} is not a variable's name: {NAME_WORDS}")
    return given


def _restart(fields: dict[str, str]) -> bool:
    """Apply now (a config release of the live build), unless the form stages the change."""
    return "stage" not in fields


@action
async def set_one(visit: Visit, fields: dict[str, str]) -> Response:
    """Set one variable and unset one, as one config change (one version, one release)."""
    name = app_name(visit.request)
    key, unset = _checked_name(fields, "name"), _checked_name(fields, "unset")
    if not key and not unset:
        raise HTTPException(400, "name a variable to set or one to unset")
    if key and key == unset:
        raise HTTPException(400, f"{key} cannot be both set and unset")
    params = EnvSetParams(
        app=name,
        set={key: fields.get("value", "")} if key else {},
        unset=[unset] if unset else [],
        restart=_restart(fields),
    )
    return await _apply(visit, params)


async def _import(visit: Visit, fields: dict[str, str]) -> Response:
    """A dotenv text as one config change; `replace` unsets what it does not name."""
    name = app_name(visit.request)
    try:
        values = dotenv_assignments(fields.get("dotenv", ""))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if not values:
        raise HTTPException(400, "the text sets no variable: write NAME=value lines")
    try:
        params = EnvSetParams(
            app=name, set=values, replace="replace" in fields, restart=_restart(fields)
        )
    except ValidationError:
        raise HTTPException(400, "the text cannot be imported") from None
    return await _apply(visit, params)


import_dotenv = action(_import, form_bytes=IMPORT_BYTES)


async def _apply(visit: Visit, params: EnvSetParams) -> Response:
    result = await visit.daemon.call(EnvSetResult, "env.set", params)
    what = ", ".join([*(f"+{n}" for n in result.set), *(f"-{n}" for n in result.unset)])
    if not result.changed:
        notice = f"Config of {params.app} unchanged (version {result.version})."
    elif result.job is not None:
        notice = (
            f"Config version {result.version} of {params.app} ({what}); "
            f"restarting (job {result.job.id})."
        )
    elif not params.restart:
        notice = (
            f"Config version {result.version} of {params.app} ({what}) staged: "
            "it applies at the next deploy or restart."
        )
    else:
        notice = (
            f"Config version {result.version} of {params.app} ({what}); no release is live: "
            "it applies at the next deploy."
        )
    visit.session.notice = notice
    return RedirectResponse(f"/apps/{params.app}#config", status_code=303)
