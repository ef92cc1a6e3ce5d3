"""An app's config: versions in the store, values in the vault, and what is made of them:
the masks, the build's environment, and the env file each slot starts with."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from deployd.build import native
from deployd.domain import databases as database_rules
from deployd.domain import envvars
from deployd.domain.masking import Masker
from deployd.store import databases as database_store
from deployd.store import env as store
from deployd.store import vault as vault_store
from deployd.store.apps import SlotRow
from deployd.store.db import Row
from deployd.store.releases import ReleaseRow
from deployd.vault.envfiles import write_env_file

from .platform import Platform

MASKED_VERSIONS = 10
"""Besides the current one, the newest versions whose values stay masked: a slot or a log
may still carry them for a while after a change."""

Conn = AsyncConnection[Row]


@dataclass(frozen=True, slots=True)
class Config:
    version: int | None
    values: dict[str, str]


def _decode(platform: Platform, token: str) -> dict[str, str]:
    values: dict[str, str] = json.loads(platform.vault.decrypt(token))
    return values


async def current(platform: Platform, app: str) -> Config:
    async with platform.pool.connection() as conn:
        row = await store.current(conn, app)
    if row is None:
        return Config(None, {})
    return Config(row["version"], _decode(platform, row["token"]))


async def values(platform: Platform, app: str, version: int | None) -> dict[str, str]:
    """The config of one version (a release's); `{}` for none."""
    if version is None:
        return {}
    async with platform.pool.connection() as conn:
        row = await store.get(conn, app, version)
    if row is None:
        raise LookupError(f"{app} has no config version {version}")
    return _decode(platform, row["token"])


async def change(
    platform: Platform,
    app: str,
    set_values: Mapping[str, str],
    unset: Sequence[str],
    *,
    replace: bool,
    actor: str,
    then: Callable[[Conn, int], Awaitable[Any]] | None = None,
) -> tuple[envvars.Change, int | None, Any]:
    """Make the next version from the current one, in one transaction with `then` (which
    queues the restart): if `then` fails, no version was made. Raises DomainError for a
    change the rules refuse. Returns the change, the version now current and `then`'s
    result (None when nothing changed)."""
    async with platform.pool.connection() as conn, conn.transaction():
        await vault_store.hold_shared(conn)
        row = await store.current(conn, app, lock=True)
        before = _decode(platform, row["token"]) if row else {}
        result = envvars.apply(before, set_values, unset, replace=replace)
        if result.empty:
            return result, row["version"] if row else None, None
        token = platform.vault.encrypt(json.dumps(result.values).encode())
        version = await store.insert(
            conn,
            app=app,
            token=token,
            set_names=list(result.set),
            unset_names=list(result.unset),
            created_by=actor,
        )
        followed = await then(conn, version) if then else None
    await refresh_masks(platform, app)
    return result, version, followed


async def refresh_masks(platform: Platform, app: str | None = None) -> None:
    """Rebuild the masker of `app` (or of every app) from its recent config versions."""
    async with platform.pool.connection() as conn:
        rows = await store.tokens_for_masking(conn, app, MASKED_VERSIONS)
    pairs: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        pairs.setdefault(row["app"], []).extend(_decode(platform, row["token"]).items())
    if app is not None and app not in pairs:
        platform.masks.drop(app)
    platform.masks.set({name: Masker(found) for name, found in pairs.items()})


async def seen_from_container(
    platform: Platform, app: str, config: dict[str, str], *, bridge: bool
) -> dict[str, str]:
    """The config as a container sees it: on a Docker bridge, loopback is the container
    itself, so the URLs of the app's linked databases name the host's gateway instead
    (`host.docker.internal`, which deployd maps into every bridge container)."""
    if not bridge:
        return config
    async with platform.pool.connection() as conn:
        linked = {link.variable for link in await database_store.links(conn, app=app)}
    return {
        name: database_rules.seen_from_bridge(value) if name in linked else value
        for name, value in config.items()
    }


def platform_env(
    release: ReleaseRow,
    slot: str,
    artifact: Path,
    process: str | None = None,
    port: int | None = None,
    *,
    at_app: bool = False,
) -> dict[str, str]:
    """What deployd itself gives a process of `release` in `slot` (an app cannot set PORT,
    DYNO or DEPLOYD_*): PORT for a web process, DYNO its name, as on Heroku. A container
    keeps its image's PATH, HOME and locale."""
    host = {
        "PATH": native.runtime_path(artifact),
        "HOME": "/app" if at_app else str(artifact),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    return {
        **(host if release.runtime != "docker" else {}),
        **({"PORT": str(port)} if port is not None else {}),
        **({"DYNO": process} if process is not None else {}),
        "DEPLOYD_APP": release.app,
        "DEPLOYD_RELEASE": str(release.version),
        "DEPLOYD_SLOT": slot,
        "DEPLOYD_CONFIG_VERSION": str(release.env_version or 0),
    }


def env_file(platform: Platform, app: str, slot: str, process: str) -> Path:
    return platform.paths.app_dir(app) / f"{slot}.{process}.env"


async def write_process_env(
    platform: Platform,
    slot: SlotRow,
    release: ReleaseRow,
    artifact: Path,
    process: str,
    port: int | None,
    *,
    bridge: bool = False,
) -> Path:
    """Render the env file a process will start with: this release's config, its PORT
    (`bridge`: it starts in a container on a Docker bridge)."""
    app, version = slot.app, release.env_version
    config = await seen_from_container(
        platform, app, await values(platform, app, version), bridge=bridge
    )
    path = env_file(platform, app, slot.name, process)
    at_app = platform.app_mount and release.runtime != "docker"
    write_env_file(  # the daemon's own: only the process's launcher (root) reads it
        path,
        platform_env(release, slot.name, artifact, process, port, at_app=at_app),
        config,
        header=f"{app} {process} in the {slot.name} slot: v{release.version}, config "
        f"version {version or 0}. Written by deployd; changes are overwritten.",
    )
    return path
