"""The interpreters this host has, for builds to choose from.

Python: the configured default (DEPLOYD_PYTHON), those listed in DEPLOYD_PYTHONS, and every
`python3.N` in /usr/bin and /usr/local/bin (Debian's and a source build's). Node: the
`node` on PATH. Each interpreter is asked its version once (again when its file changes).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

from deployd.domain.errors import DomainError
from deployd.domain.stacks import parse_version

Version = tuple[int, int, int]
SEARCHED = ("/usr/bin/python3.[0-9]*", "/usr/local/bin/python3.[0-9]*")
_versions: dict[tuple[str, float], Version | None] = {}


def _ask(path: str, argv: list[str]) -> Version | None:
    try:
        stamp = os.stat(path).st_mtime
    except OSError:
        return None
    key = (path, stamp)
    if key not in _versions:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
            _versions[key] = parse_version(out.stdout.strip())
        except (OSError, subprocess.SubprocessError, DomainError):
            _versions[key] = None
    return _versions[key]


def python_version(path: str) -> Version | None:
    code = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
    return _ask(path, [path, "-I", "-c", code])


def pythons(
    default: str, extra: tuple[str, ...]
) -> tuple[tuple[str, Version], list[tuple[str, Version]]]:
    """(the default, with its version), and every other interpreter found (blocking)."""
    default_version = python_version(default)
    if default_version is None:
        raise DomainError(f"DEPLOYD_PYTHON {default} does not run")
    found: dict[str, tuple[str, Version]] = {}
    for path in [*extra, *(p for pattern in SEARCHED for p in sorted(glob.glob(pattern)))]:
        if not path.rsplit("/", 1)[-1].replace("python3.", "").isdigit() and path not in extra:
            continue  # python3.11-config and the like
        real = os.path.realpath(path)
        version = python_version(path)
        if version is not None and real != os.path.realpath(default) and real not in found:
            found[real] = (path, version)
    return (default, default_version), list(found.values())


def node_version() -> str | None:
    """`node --version` of the node on PATH; None when there is none."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
