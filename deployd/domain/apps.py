"""What users name and point at: app names, git URLs, refs, local paths.

Everything here is checked against a strict pattern before it reaches git, a template, a
file name or a shell, so nothing a user types can become an option or a path elsewhere.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from .errors import DomainError
from .text import excerpt

APP_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$")
"""A DNS label (the app answers at `<name>.<base domain>`), at most 32 characters."""
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
SHA = re.compile(r"^[0-9a-f]{7,40}$")
_URL = re.compile(
    r"^(?:"
    r"file:///[A-Za-z0-9._/@+-]+"
    r"|(?:https|ssh|git)://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[A-Za-z0-9._/@+~-]+"
    r"|ssh://[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[A-Za-z0-9._/@+~-]+"
    r"|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._/+~-]+"
    r")$"
)


def check_app_name(name: str) -> str:
    if not APP_NAME.fullmatch(name) or name[2:4] == "--":
        raise DomainError(
            f"invalid app name {excerpt(name)}: 1-32 lowercase letters, digits and dashes, "
            "starting with a letter and not ending with a dash (no '--' as 3rd and 4th "
            "characters: those names are reserved for international domain names)"
        )
    return name


def check_ref(ref: str) -> str:
    """A branch, tag or commit sha; refuses anything git could read as an option or range."""
    if (
        not REF.fullmatch(ref)
        or ".." in ref
        or "//" in ref
        or ref.endswith((".", "/", ".lock"))
        or "@{" in ref
    ):
        raise DomainError(
            f"invalid git ref {excerpt(ref)}: use a branch, tag or commit sha "
            "(letters, digits, . _ / -)"
        )
    return ref


def check_git_url(url: str) -> str:
    if not _URL.fullmatch(url) or ".." in PurePosixPath(url.split("://")[-1]).parts:
        raise DomainError(
            f"invalid git URL {excerpt(url)}: use file:///path, https://host/path, ssh://host/path "
            "or user@host:path"
        )
    return url


def check_source_path(path: str) -> str:
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts or "\x00" in path or len(path) > 4096:
        raise DomainError(f"invalid path {excerpt(path)}: give an absolute path without '..'")
    return path
