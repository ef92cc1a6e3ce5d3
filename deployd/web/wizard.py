"""The new-app wizard (`/new/app`): what `deployctl apps create` takes (a name, a git
repository or a directory on the server, a branch, a runtime), its first config
variables, and whether to deploy it now, on one page.

The form is checked with the protocol's own models before anything is asked of the
daemon, and refused as a whole (400, the form again, naming the field; a variable's value
is never sent back). Then `apps.create`, `env.set`, `deploys.start`, each as the person:
if a later call is refused, the app exists already, and the answer says so and what did
not happen, on the app's page, where it can be done.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from deployd.protocol.apps import (
    AppInfo,
    AppsCreateParams,
    DeploysStartParams,
    JobInfo,
    Runtime,
)
from deployd.protocol.common import APP_NAME_PATTERN, ENV_NAME_PATTERN, PATTERN_WORDS, explain
from deployd.protocol.env import EnvSetParams, EnvSetResult
from deployd.protocol.errors import RpcError

from .deploys import path_of
from .guard import STATUS_OF_KIND, Visit, action, page, require

VARIABLE_ROWS = 4
"""Rows for config variables on the form; more can be set on the app's page after."""
RUNTIMES: tuple[str, ...] = get_args(Runtime)
KEPT = ("name", "git", "branch", "path", "runtime")
"""The fields shown again when the form is refused: none of them is a secret (a
variable's name is kept, its value never)."""


class Refused(Exception):
    """The form as a whole is refused: `field` is the one to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _form(visit: Visit, given: dict[str, str], error: Refused | None, status: int) -> Response:
    kept = {key: given.get(key, "") for key in KEPT}
    kept["runtime"] = kept["runtime"] if kept["runtime"] in RUNTIMES else "auto"
    names = [given.get(f"var{i}", "") for i in range(VARIABLE_ROWS)]
    return visit.render(
        "new_app.html",
        {
            "form": kept,
            "names": names,
            "deploy_now": not given or "deploy" in given,
            "runtimes": RUNTIMES,
            "error": error,
            "name_rule": PATTERN_WORDS[APP_NAME_PATTERN],
        },
        status=status,
    )


@page
async def show(visit: Visit) -> Response:
    require(visit.daemon.identity, "apps.create", "creating an app")
    return _form(visit, {}, None, 200)


def create_params(fields: dict[str, str]) -> AppsCreateParams:
    """The app's source is whichever of the two is filled in (a choice to tick besides
    would only be one more thing to get wrong)."""
    git, path = fields.get("git", "").strip(), fields.get("path", "").strip()
    if not git and not path:
        raise Refused("git", "give a repository's URL, or a directory on the server")
    if git and path:
        raise Refused("path", "give one source: a repository's URL or a directory, not both")
    if path and not path.startswith("/"):
        raise Refused("path", "the directory's path must be absolute (start with /)")
    try:
        return AppsCreateParams(
            name=fields.get("name", "").strip(),
            git=git or None,
            branch=(fields.get("branch", "").strip() or None) if git else None,
            path=path or None,
            runtime=fields.get("runtime", "auto"),  # pydantic checks it is one of Runtime
        )
    except ValidationError as exc:
        first = exc.errors()[0]["loc"]
        raise Refused(str(first[0]) if first else "name", explain(exc)) from None


def variables(fields: dict[str, str]) -> dict[str, str]:
    """The rows filled in, NAME → value; a row's value is never put in a refusal."""
    found: dict[str, str] = {}
    for i in range(VARIABLE_ROWS):
        key = fields.get(f"var{i}", "").strip()
        value = fields.get(f"value{i}", "")
        if not key:
            if value:
                raise Refused(f"var{i}", f"row {i + 1} has a value but no variable name")
            continue
        if not re.fullmatch(ENV_NAME_PATTERN, key):
            raise Refused(  # not repeated: what is typed there may be a misplaced secret
                f"var{i}",
                f"row {i + 1}'s variable is not a name: {PATTERN_WORDS[ENV_NAME_PATTERN]}",
            )
        if key in found:
            raise Refused(f"var{i}", f"{key} is given twice")
        found[key] = value
    return found


@action
async def submit(visit: Visit, fields: dict[str, str]) -> Response:
    """No role check here: a form posted by someone who may not create apps is refused
    by the daemon itself (and shown as the form with its words, 403)."""
    try:
        params = create_params(fields)
        config = variables(fields)
    except Refused as refused:
        return _form(visit, fields, refused, 400)
    try:
        app = await visit.daemon.call(AppInfo, "apps.create", params)
    except RpcError as exc:  # a name taken, a source refused: the form again, in its words
        return _form(visit, fields, Refused("", exc.message), STATUS_OF_KIND.get(exc.kind, 502))
    done = [f"Created {app.name}"]
    try:
        if config:
            result = await visit.daemon.call(
                EnvSetResult, "env.set", EnvSetParams(app=app.name, set=config)
            )
            count = f"{len(config)} variable{'s' if len(config) > 1 else ''}"
            done.append(f"with config version {result.version} ({count})")
        if "deploy" not in fields:
            visit.session.notice = " ".join(done) + ". Deploy it when you are ready."
            return RedirectResponse(f"/apps/{app.name}", status_code=303)
        job = await visit.daemon.call(JobInfo, "deploys.start", DeploysStartParams(app=app.name))
    except RpcError as exc:
        visit.session.notice = _after_created(done, config, exc)
        return RedirectResponse(f"/apps/{app.name}", status_code=303)
    visit.session.notice = " ".join(done) + f"; deploying it (job {job.id})."
    return RedirectResponse(path_of(app.name, job.id), status_code=303)


def _after_created(done: list[str], config: dict[str, Any], exc: RpcError) -> str:
    """The app exists; say what did not happen, and where to do it."""
    if len(done) == 1 and config:
        missing = "its config was not set"
        fix = "set the variables in Config below, then deploy"
    else:
        missing = "its deploy did not start"
        fix = "deploy it from this page"
    return f"{' '.join(done)}, but {missing}: {exc.message}. The app exists: {fix}."
