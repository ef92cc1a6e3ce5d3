"""Whose account runs what: the Unix account of each app, and of deployd's private nginx.

Every app has its own account and group (`deployd-<app>`), so one app cannot read another's
files, environment or processes. A re-rooted daemon (dev, tests) puts a short hash of its
root into the names (`dd1a2b3c-shop`), as it does in container names, so two of them on one
host never share an account. Names are at most 32 characters (useradd's limit); a longer
one keeps its start and ends in a hash of the app's name.
"""

from __future__ import annotations

import hashlib

MAX_NAME = 32
PRODUCTION_PREFIX = "deployd-"


def prefix_for(root: str | None) -> str:
    """The account prefix of a daemon re-rooted at `root` (None: production)."""
    if root is None:
        return PRODUCTION_PREFIX
    return "dd" + hashlib.sha256(root.encode()).hexdigest()[:6] + "-"


def app_account(app: str, prefix: str) -> str:
    name = prefix + app
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(app.encode()).hexdigest()[:8]
    keep = MAX_NAME - len(prefix) - len(digest) - 1
    return f"{prefix}{app[:keep].rstrip('-')}-{digest}"


def nginx_account(prefix: str) -> str:
    """deployd's private nginx (dev as root): `_` cannot appear in an app's name, so this
    never collides with an app's account."""
    return prefix.rstrip("-") + "_nginx"


def psql_account(prefix: str) -> str:
    """Who runs `db psql`: no app's (an app's processes could reach the operator's
    terminal through psql), nobody else's either."""
    return prefix.rstrip("-") + "_psql"


def own_accounts(prefix: str) -> tuple[str, ...]:
    """The accounts deployd makes for itself, beside one per app."""
    return (nginx_account(prefix), psql_account(prefix))


def fetch_account(prefix: str) -> str:
    """Who fetches private repositories with the GitHub token: never an app's account
    (an app could read the token while git runs), nor root (git in a tree from the
    internet)."""
    return prefix.rstrip("-") + "_git"
