"""What a native build runs, decided from what the source holds, as Heroku would.

Python: a virtualenv, then the first of `uv.lock` (uv sync --locked), `Pipfile.lock` (its
pinned packages, through pipenv), `requirements.txt`, `pyproject.toml` (pip install .);
Django's `collectstatic` when there is a manage.py (DISABLE_COLLECTSTATIC=1 opts out).
Node: the lockfile chooses the package manager (yarn.lock: yarn, pnpm-lock.yaml: pnpm,
through corepack; npm otherwise), then the `build` script when there is one. Then the
app's own build command. Each step says why it runs: the build log shows what was decided.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deployd.domain.manifest import Manifest
from deployd.domain.sources import Snapshot, SourceError
from deployd.domain.text import escape

PIP = ("install", "--no-input", "--disable-pip-version-check", "-q")
COLLECTSTATIC = (
    "if .venv/bin/python manage.py help collectstatic >/dev/null 2>&1; then "
    ".venv/bin/python manage.py collectstatic --noinput; "
    "else echo 'collectstatic: not a Django project with staticfiles, skipped'; fi"
)
"""Heroku's rule: run it when Django's staticfiles is there; a failure fails the build
(set STATIC_ROOT, or DISABLE_COLLECTSTATIC=1)."""


class PlanError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Step:
    why: str | None
    """Said in the build log before the step runs (None: nothing to explain)."""
    argv: Sequence[str]
    shown: str | None = None
    """How an error names it: the app's own command, not the shell that runs it."""


def plan(
    snapshot: Snapshot, manifest: Manifest, python: str, config: Mapping[str, str]
) -> list[Step]:
    steps: list[Step] = []
    if manifest.stack == "python":
        steps += _python(snapshot, python, config)
    elif manifest.stack == "node":
        steps += _node(snapshot)
    if manifest.build_command:
        # The app's own build command, from its own repository: run as the app would.
        steps.append(Step(None, ["/bin/sh", "-c", manifest.build_command], manifest.build_command))
    return steps


def _python(snapshot: Snapshot, python: str, config: Mapping[str, str]) -> list[Step]:
    pip = [".venv/bin/pip", *PIP]
    steps = [Step(None, [python, "-m", "venv", ".venv"])]
    if snapshot.has("uv.lock"):
        steps += [
            Step("uv.lock: installing with uv sync --locked", [*pip, "uv"]),
            Step(None, [".venv/bin/uv", "sync", "--locked", "--no-dev"]),
        ]
    elif snapshot.has("Pipfile.lock"):
        steps += [
            Step("Pipfile.lock: installing its pinned packages", [*pip, "pipenv"]),
            Step(
                None,
                [
                    "/bin/sh",
                    "-c",
                    ".venv/bin/pipenv requirements > .deployd-requirements.txt && "
                    ".venv/bin/pip install --no-input --disable-pip-version-check -q "
                    "-r .deployd-requirements.txt",
                ],
            ),
        ]
    elif snapshot.has("requirements.txt"):
        steps.append(Step(None, [*pip, "-r", "requirements.txt"]))
    elif snapshot.has("Pipfile"):
        raise PlanError("a Pipfile without its Pipfile.lock: run `pipenv lock` and commit it")
    elif snapshot.has("pyproject.toml") or snapshot.has("setup.py"):
        what = "pyproject.toml" if snapshot.has("pyproject.toml") else "setup.py"
        steps.append(Step(f"{what}: installing the project", [*pip, "."]))
    if snapshot.has("manage.py"):
        if config.get("DISABLE_COLLECTSTATIC") == "1":
            steps.append(Step("manage.py: collectstatic skipped (DISABLE_COLLECTSTATIC=1)", []))
        else:
            steps.append(Step("manage.py: running collectstatic", ["/bin/sh", "-c", COLLECTSTATIC]))
    return [step for step in steps if step.argv or step.why]


def _node(snapshot: Snapshot) -> list[Step]:
    scripts = node_scripts(snapshot)
    if snapshot.has("yarn.lock"):
        berry = snapshot.has(".yarnrc.yml")
        install = ["corepack", "yarn", "install", "--immutable" if berry else "--frozen-lockfile"]
        run, why = ["corepack", "yarn", "run"], "yarn.lock: installing with yarn"
    elif snapshot.has("pnpm-lock.yaml"):
        install = ["corepack", "pnpm", "install", "--frozen-lockfile"]
        run, why = ["corepack", "pnpm", "run"], "pnpm-lock.yaml: installing with pnpm"
    else:
        npm = shutil.which("npm") or "npm"
        locked = snapshot.has("package-lock.json")
        install = [npm, "ci" if locked else "install", "--no-audit", "--no-fund"]
        run = [npm, "run"]
        why = "package-lock.json: npm ci" if locked else "no lockfile: npm install"
    steps = [Step(why, install)]
    if "build" in scripts:
        steps.append(Step("package.json has a build script: running it", [*run, "build"]))
    return steps


def node_scripts(snapshot: Snapshot) -> dict[str, object]:
    try:
        text = snapshot.text("package.json")
        data = json.loads(text or "{}")
    except SourceError as exc:
        raise PlanError(str(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise PlanError(f"package.json is not valid JSON: {escape(str(exc), 120)}") from None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    return scripts if isinstance(scripts, dict) else {}
