"""Which interpreter an app asks for, and whether this host has it.

Python: `.python-version` ("3.12", "3.12.4"), else `runtime.txt` ("python-3.12.4", Heroku's
older way), else `requires-python` in pyproject.toml (">=3.10"); none of them: the host's
default interpreter. Node: `engines.node` in package.json, an npm range ("^20", ">=18 <23").
Pure: the daemon reads these files from the source's snapshot and asks the host which
interpreters it has; this decides, and says why in words the build log shows.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass

import nodesemver
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import DomainError
from .text import excerpt

_PYTHON_VERSION = re.compile(r"^(?:cpython-|python-?)?([0-9]+(?:\.[0-9]+){0,2})$")


@dataclass(frozen=True, slots=True)
class PythonRequest:
    """An app's wish: versions that match, and where it said so."""

    source: str
    """".python-version", "runtime.txt" or "pyproject.toml requires-python"."""
    wanted: str
    """As written: "3.12", "python-3.12.4", ">=3.10"."""
    prefix: tuple[int, ...] = ()
    """A version prefix to match ((3, 12) matches 3.12.4); empty for a specifier."""
    specifier: str = ""

    def matches(self, version: tuple[int, int, int]) -> bool:
        if self.prefix:
            # a patch release asked for exactly (runtime.txt's habit) is served by the
            # same minor version: the build log says which one
            wanted = self.prefix[:2] if self.source == "runtime.txt" else self.prefix
            return version[: len(wanted)] == wanted
        return SpecifierSet(self.specifier).contains(Version(".".join(map(str, version))))


def python_request(
    python_version: str | None, runtime_txt: str | None, pyproject: str | None
) -> PythonRequest | None:
    """The app's wish, from the first of the three files that states one."""
    for source, text in ((".python-version", python_version), ("runtime.txt", runtime_txt)):
        if text is None:
            continue
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        if not lines:
            continue
        match = _PYTHON_VERSION.fullmatch(lines[0])
        if match is None:
            raise DomainError(
                f"{source}: {excerpt(lines[0])} is not a Python version (write e.g. 3.12)"
            )
        prefix = tuple(int(part) for part in match[1].split("."))
        return PythonRequest(source, lines[0], prefix=prefix)
    if pyproject is None:
        return None
    try:
        data = tomllib.loads(pyproject)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise DomainError(f"pyproject.toml: {excerpt(str(exc), 120)}") from None
    project = data.get("project")
    spec = project.get("requires-python") if isinstance(project, dict) else None
    if spec is None:
        return None
    try:
        SpecifierSet(str(spec))
    except InvalidSpecifier:
        raise DomainError(
            f"pyproject.toml: requires-python {excerpt(str(spec))} is not a version specifier"
        ) from None
    return PythonRequest("pyproject.toml requires-python", str(spec), specifier=str(spec))


def choose_python(
    request: PythonRequest | None,
    default: tuple[str, tuple[int, int, int]],
    candidates: list[tuple[str, tuple[int, int, int]]],
) -> tuple[str, str]:
    """(interpreter, why) for the build log; DomainError naming the version when none
    of the host's interpreters matches."""
    path, version = default
    shown = ".".join(map(str, version))
    if request is None:
        return path, f"Python {shown} ({path}, the host's default: the app asks for none)"
    matching = [c for c in [default, *candidates] if request.matches(c[1])]
    if not matching:
        have = ", ".join(sorted({".".join(map(str, v)) for _, v in [default, *candidates]}))
        raise DomainError(
            f"the app asks for Python {request.wanted} ({request.source}), which this host "
            f"does not have (it has {have}): install it (apt, or `uv python install` into "
            "a directory every account can read) and list it in DEPLOYD_PYTHONS"
        )
    path, version = max(matching, key=lambda c: c[1])
    shown = ".".join(map(str, version))
    return path, f"Python {shown} ({path}) from {request.source} ({request.wanted})"


def node_engine(package_json: str | None) -> str | None:
    """The npm range in package.json's `engines.node`, if it states one."""
    if package_json is None:
        return None
    try:
        data = json.loads(package_json)
    except (ValueError, RecursionError) as exc:
        raise DomainError(f"package.json is not valid JSON: {excerpt(str(exc), 120)}") from None
    engines = data.get("engines") if isinstance(data, dict) else None
    wanted = engines.get("node") if isinstance(engines, dict) else None
    return wanted if isinstance(wanted, str) and wanted.strip() else None


def check_node(wanted: str | None, installed: str) -> str:
    """Why this Node serves the app (for the build log); DomainError when it does not."""
    version = installed.lstrip("v").strip()
    if wanted is None:
        return f"Node {version} (package.json states no engines.node)"
    try:
        ok = nodesemver.satisfies(version, wanted, loose=True)
    except (ValueError, TypeError):
        raise DomainError(
            f"package.json: engines.node {excerpt(wanted)} is not a version range"
        ) from None
    if not ok:
        raise DomainError(
            f"the app asks for Node {excerpt(wanted)} (package.json engines.node), and this "
            f"host has Node {version}: install a Node that matches"
        )
    return f"Node {version}, which matches package.json engines.node {excerpt(wanted)}"


def parse_version(text: str) -> tuple[int, int, int]:
    try:
        release = Version(text.strip()).release
    except InvalidVersion:
        raise DomainError(f"not a version: {excerpt(text)}") from None
    padded = (*release, 0, 0)[:3]
    return padded[0], padded[1], padded[2]
