"""`app.json`, the manifest Heroku and Dokku read: what deployd takes from it.

- `formation`: how many processes of each type run (`{"worker": {"quantity": 2}}`);
- `scripts.postdeploy`: Heroku runs it once, after an app's first deploy;
- `scripts.dokku.predeploy` and `.postdeploy`: Dokku runs them before and after every
  deploy (predeploy before the switch, in the new release; postdeploy after it);
- `healthchecks.web`: Dokku's list of checks; the first with a path is the web check
  (`path`, `content` the body must hold, `timeout` per probe, `attempts`, `wait` between
  probes).
Everything else is ignored, never an error: the file is shared with other platforms.
`deployd.toml` wins where both say something.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import DomainError
from .formation import PROCESS_TYPE
from .text import excerpt

MAX_QUANTITY = 64


@dataclass(frozen=True, slots=True)
class AppJson:
    formation: dict[str, int] = field(default_factory=dict)
    first_postdeploy: str | None = None
    predeploy: str | None = None
    postdeploy: str | None = None
    health: dict[str, Any] = field(default_factory=dict)
    """Overrides for the web health check, in deployd.toml's [health] names."""


def parse_app_json(text: str | None) -> AppJson:
    if text is None:
        return AppJson()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DomainError(f"app.json is not valid JSON: {excerpt(str(exc), 120)}") from None
    if not isinstance(data, dict):
        raise DomainError("app.json must hold an object")
    scripts = _dict(data.get("scripts"))
    dokku = _dict(scripts.get("dokku"))
    return AppJson(
        formation=_formation(data.get("formation")),
        first_postdeploy=_command(scripts.get("postdeploy"), "scripts.postdeploy"),
        predeploy=_command(dokku.get("predeploy"), "scripts.dokku.predeploy"),
        postdeploy=_command(dokku.get("postdeploy"), "scripts.dokku.postdeploy"),
        health=_health(_dict(data.get("healthchecks")).get("web")),
    )


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _command(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise DomainError(f"app.json: {where} must be a command (a non-empty string)")
    return value


def _formation(value: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, spec in _dict(value).items():
        if not PROCESS_TYPE.fullmatch(str(name)):
            raise DomainError(f"app.json: formation names an odd process type {excerpt(name)}")
        quantity = _dict(spec).get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise DomainError(f"app.json: formation.{name}.quantity must be a whole number")
        if not 0 <= quantity <= MAX_QUANTITY:
            raise DomainError(f"app.json: formation.{name}.quantity must be 0 to {MAX_QUANTITY}")
        counts[str(name)] = quantity
    return counts


def _health(checks: object) -> dict[str, Any]:
    """Dokku's checks for web: the first one with a path becomes deployd's web check."""
    if not isinstance(checks, list):
        return {}
    check = next((c for c in checks if isinstance(c, dict) and c.get("path")), None)
    if check is None:
        return {}
    found: dict[str, Any] = {"path": check["path"]}
    if isinstance(check.get("content"), str) and check["content"]:
        found["content"] = check["content"]
    wait = _positive(check.get("wait"))
    attempts = _positive(check.get("attempts"))
    timeout = _positive(check.get("timeout"))
    if wait:
        found["interval"] = wait
    if attempts and timeout:
        # Dokku gives up after `attempts` probes of up to `timeout` seconds each
        found["timeout"] = attempts * (timeout + (wait or 1.0))
    found["passes"] = 1
    return found


def _positive(value: object) -> float | None:
    """A positive number as a float; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)
