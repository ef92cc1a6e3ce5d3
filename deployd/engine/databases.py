"""Apps' databases: made with their own role, backed up with proof, restored without
destroying anything before the restored copy has been checked.

A backup is `verified` only once its file is complete on disk (fsynced, renamed into
place), pg_restore has read its catalogue back, and that catalogue holds every table the
database had, whose rows were counted in the very snapshot pg_dump dumped. A restore
first checks the file against its recorded sha256, restores into a new database, counts
every table's rows against the backup's counts, and only then swaps names.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deployd.domain import databases as rules
from deployd.postgres.server import Address
from deployd.postgres.tools import CHUNK, Login, ToolFailed, Tools, Written
from deployd.protocol.events import EventType
from deployd.store import databases as store
from deployd.store import remote as remote_store
from deployd.store.databases import BackupRow, BackupStatus, BackupTrigger, DatabaseRow
from deployd.store.remote import CopyStatus

from . import offsite
from .platform import Platform


class DatabaseRefused(Exception):
    """What was asked cannot be done as things are (a name taken, a link in the way)."""


class NoSuchDatabase(LookupError):
    pass


class BackupFailed(Exception):
    def __init__(self, backup: int, reason: str) -> None:
        super().__init__(reason)
        self.backup = backup
        self.reason = reason


class RestoreFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an app is given to reach a database; the password is a secret."""

    name: str
    host: str
    port: int
    password: str

    @property
    def url(self) -> str:
        return rules.url(host=self.host, port=self.port, name=self.name, password=self.password)


async def get(platform: Platform, name: str) -> DatabaseRow:
    async with platform.pool.connection() as conn:
        row = await store.get(conn, name)
    if row is None:
        raise NoSuchDatabase(f"no database named {name}")
    return row


async def credentials(platform: Platform, row: DatabaseRow) -> Credentials:
    address: Address = await platform.databases.address()
    password = platform.vault.decrypt(row.password_token).decode()
    return Credentials(row.name, address.host, address.port, password)


async def create(platform: Platform, name: str, actor: str) -> DatabaseRow:
    """The record first, then the role and database: a crash between leaves a record
    whose database `drop` removes; a failure on the server removes the record."""
    rules.check_name(name)
    server = platform.databases
    async with platform.pool.connection() as conn:
        if await store.get(conn, name) is not None:
            raise DatabaseRefused(f"a database named {name} exists already")
    if await server.exists(name) or await server.role_exists(name):
        raise DatabaseRefused(
            f"the apps' PostgreSQL already has a database or role named {name}, not made "
            "by deployd: choose another name"
        )
    password = secrets.token_urlsafe(24)
    token = platform.vault.encrypt(password.encode())
    async with platform.pool.connection() as conn:
        await store.insert(conn, name=name, password_token=token, created_by=actor)
    try:
        await server.create(name, password)
    except BaseException:
        async with platform.pool.connection() as conn:
            await store.delete(conn, name)
        raise
    return await get(platform, name)


async def drop_kept(platform: Platform, name: str) -> list[str]:
    """Drop the copies restores kept of `name`; returns their names."""
    await get(platform, name)
    kept = await platform.databases.kept_copies(name)
    for copy in kept:
        await platform.databases.drop(copy, role=False)
    return kept


def held(platform: Platform, name: str) -> asyncio.Lock:
    """One backup, restore or drop of a database at a time (the key cannot be an app's)."""
    return platform.lock(f"database {name}")


async def drop(platform: Platform, name: str, actor: str) -> BackupRow | None:
    """Refused while an app is linked; a verified final backup first, kept on disk. The
    copies restores kept of it go with it. None: there was no database to back up (a
    record a crash left before its database was made)."""
    async with held(platform, name):
        final = await _drop(platform, name, actor)
    if final is not None:
        await offsite.copy(platform, final, backup_file(platform, final))
    return final


async def _drop(platform: Platform, name: str, actor: str) -> BackupRow | None:
    await get(platform, name)
    async with platform.pool.connection() as conn:
        linked = await store.links(conn, database=name)
    if linked:
        apps = ", ".join(link.app for link in linked)
        raise DatabaseRefused(f"{name} is linked to {apps}: `deployctl db unlink {name} APP` first")
    made = await platform.databases.exists(name)
    final = await _backup(platform, name, BackupTrigger.BEFORE_DROP, actor) if made else None
    await platform.databases.drop(name)
    async with platform.pool.connection() as conn:
        await store.delete(conn, name)
    return final


def backup_dir(platform: Platform, name: str) -> Path:
    return platform.paths.backups_dir / name


def backup_file(platform: Platform, backup: BackupRow) -> Path:
    return backup_dir(platform, backup.database) / f"{backup.id}.dump"


async def backup(
    platform: Platform, name: str, trigger: BackupTrigger, actor: str | None
) -> BackupRow:
    """Dump, verify and record one backup of `name`; BackupFailed says why not (the
    record says `failed`, no file is left, earlier backups are untouched)."""
    async with held(platform, name):
        done = await _backup(platform, name, trigger, actor)
    await offsite.copy(platform, done, backup_file(platform, done))  # apart: never fails it
    return done


async def _backup(
    platform: Platform, name: str, trigger: BackupTrigger, actor: str | None
) -> BackupRow:
    await get(platform, name)
    async with platform.pool.connection() as conn:
        row = await store.start_backup(conn, name, trigger, actor)
    directory = backup_dir(platform, name)
    partial = directory / f".{row.id}.partial"
    try:
        await asyncio.to_thread(make_private_dir, directory)
        async with platform.databases.snapshot(name) as snapshot:
            written = await asyncio.to_thread(
                dump_to, platform.db_tools, name, snapshot.id, partial
            )
        if written.size_bytes == 0:
            raise ToolFailed("pg_dump wrote nothing")
        found = await asyncio.to_thread(platform.db_tools.count_table_data, partial)
        if found != len(snapshot.tables):
            raise ToolFailed(
                f"the dump holds the rows of {found} tables, the database has "
                f"{len(snapshot.tables)}"
            )
        final = backup_file(platform, row)
        await asyncio.to_thread(_put_in_place, partial, final)
    except BaseException as exc:
        await asyncio.to_thread(partial.unlink, missing_ok=True)
        if not isinstance(exc, Exception):  # cancelled (the daemon stops): recover() says so
            raise
        reason = _reason(exc)
        async with platform.pool.connection() as conn:
            await store.failed(conn, row.id, reason)
        await platform.bus.publish(
            EventType.DB_BACKUP_FAILED,
            f"backup {row.id} of {name} failed: {reason}",
            actor=actor or "deployd",
            data={"database": name, "backup": row.id, "reason": reason},
        )
        raise BackupFailed(row.id, reason) from None
    async with platform.pool.connection() as conn:
        done = await store.verified(
            conn,
            row.id,
            size_bytes=written.size_bytes,
            sha256=written.sha256,
            tables=snapshot.tables,
        )
    await platform.bus.publish(
        EventType.DB_BACKUP_VERIFIED,
        f"backup {done.id} of {name}: {written.size_bytes} bytes, {len(snapshot.tables)} "
        "tables, verified",
        actor=actor or "deployd",
        data={"database": name, "backup": done.id, "size": written.size_bytes},
    )
    return done


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"could not write the dump: {exc.strerror}"
    return str(exc) or type(exc).__name__


def make_private_dir(directory: Path) -> None:
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.mkdir(mode=0o700, exist_ok=True)


def dump_to(tools: Tools, name: str, snapshot: str, partial: Path) -> Written:
    """pg_dump of the snapshot into a new file of the daemon's alone (never a link)."""
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        return tools.dump(name, snapshot, out)


def _put_in_place(partial: Path, final: Path) -> None:
    os.replace(partial, final)
    directory = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def file_sha256(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


async def verified_backup(
    platform: Platform, backup_id: int, database: str
) -> tuple[BackupRow, Path]:
    """A backup of `database` that can be restored: verified, its file there, whole and
    unchanged, and readable by pg_restore. RestoreFailed says what is wrong before
    anything changes."""
    async with platform.pool.connection() as conn:
        row = await store.backup(conn, backup_id)
    if row is None:
        raise NoSuchDatabase(f"no backup {backup_id}")
    if row.database != database:
        raise RestoreFailed(f"backup {backup_id} is of {row.database}, not {database}")
    if row.status is not BackupStatus.VERIFIED or row.tables is None:
        raise RestoreFailed(f"backup {backup_id} is {row.status.value}, not verified")
    path = backup_file(platform, row)
    if not await asyncio.to_thread(path.exists):
        await _fetch_copy(platform, row, path)
    size, digest = await asyncio.to_thread(file_sha256, path)
    if (size, digest) != (row.size_bytes, row.sha256):
        raise RestoreFailed(
            f"the file of backup {backup_id} has changed since it was verified "
            f"({size} bytes, {row.size_bytes} recorded; sha256 differs): it is truncated "
            "or corrupt, nothing was changed"
        )
    try:
        found = await asyncio.to_thread(platform.db_tools.count_table_data, path)
    except ToolFailed as exc:
        raise RestoreFailed(f"backup {backup_id} cannot be read: {exc}") from None
    if found != len(row.tables):
        raise RestoreFailed(f"backup {backup_id} holds {found} tables, {len(row.tables)} recorded")
    return row, path


async def _fetch_copy(platform: Platform, row: BackupRow, path: Path) -> None:
    """Bring a backup's file back from its remote copy; it takes its place only once its
    size and sha256 are the recorded ones."""
    async with platform.pool.connection() as conn:
        copy = (await remote_store.copies(conn, [row.id])).get(row.id)
    if copy is None or copy.status is not CopyStatus.COPIED:
        raise RestoreFailed(
            f"the file of backup {row.id} is gone ({path}) and it has no remote copy"
        )
    fetched = path.parent / f".{row.id}.fetched"
    await asyncio.to_thread(make_private_dir, path.parent)
    await asyncio.to_thread(fetched.unlink, missing_ok=True)
    try:
        await offsite.fetch(platform, row, fetched)
    except offsite.RemoteUnavailable as exc:
        raise RestoreFailed(str(exc)) from None
    size, digest = await asyncio.to_thread(file_sha256, fetched)
    if (size, digest) != (row.size_bytes, row.sha256):
        await asyncio.to_thread(fetched.unlink, missing_ok=True)
        raise RestoreFailed(f"the remote copy of backup {row.id} is not the backup that was made")
    await asyncio.to_thread(_put_in_place, fetched, path)


@dataclass(frozen=True, slots=True)
class Restored:
    database: str
    backup: int
    tables: int
    rows: int
    kept: str | None
    """The database it replaced, kept under this name until dropped (None with --into)."""


async def restore(
    platform: Platform, name: str, backup_id: int, actor: str, into: str | None = None
) -> Restored:
    """Restore `backup_id` of `name` in `name`'s place, or beside it as `into` (a new
    database with its own role)."""
    async with held(platform, name):
        return await _restore(platform, name, backup_id, actor, into)


async def _restore(
    platform: Platform, name: str, backup_id: int, actor: str, into: str | None
) -> Restored:
    row, path = await verified_backup(platform, backup_id, name)
    if into is None and row.started_at < (await get(platform, name)).created_at:
        raise RestoreFailed(
            f"backup {backup_id} is of an earlier database named {name}, dropped since: "
            f"restore it beside with --into NEWNAME"
        )
    assert row.tables is not None
    if into is not None:
        await create(platform, into, actor)
        try:
            await _staged_restore(platform, path, row, into, keep=False)
        except BaseException:
            await platform.databases.drop(into)
            async with platform.pool.connection() as conn:
                await store.delete(conn, into)
            raise
        return Restored(into, backup_id, len(row.tables), sum(row.tables.values()), None)
    kept = await _staged_restore(platform, path, row, name, keep=True)
    return Restored(name, backup_id, len(row.tables), sum(row.tables.values()), kept)


async def _staged_restore(
    platform: Platform, path: Path, row: BackupRow, name: str, *, keep: bool
) -> str | None:
    """Restore into a staging database beside `name`, check it, then put it in `name`'s
    place in one swap: `name` is never half restored, even if the daemon stops midway (the
    staging copy is dropped at the next start: `AppsServer.repair`). The database it
    replaces is kept (and its name returned) or, for a new one that was empty, dropped."""
    owner = await get(platform, name)
    now = datetime.now(UTC)
    staging = f"{name}-restoring-{now:%Y%m%d%H%M%S}"
    server = platform.databases
    await server.create_database(staging, owner=name)
    try:
        await _restore_checked(platform, path, row, staging, owner)
        kept = rules.before_restore_name(name, now)
        await server.swap(name, staging, kept)
    except BaseException:
        await server.drop(staging, role=False)
        raise
    if keep:
        return kept
    await server.drop(kept, role=False)
    return None


async def _restore_checked(
    platform: Platform, path: Path, row: BackupRow, database: str, owner: DatabaseRow
) -> None:
    """Restore into `database` as `owner`'s role, then count every table."""
    assert row.tables is not None
    way_in = await credentials(platform, owner)
    login = Login(way_in.host, way_in.port, way_in.name, way_in.password)
    try:
        await asyncio.to_thread(platform.db_tools.restore, path, database, login)
    except ToolFailed as exc:
        raise RestoreFailed(f"pg_restore failed, nothing was replaced: {exc}") from None
    found = await platform.databases.table_counts(database)
    problems = rules.count_differences(row.tables, found)
    if problems:
        raise RestoreFailed(
            "the restored copy does not match the backup, nothing was replaced: "
            + "; ".join(problems[:5])
        )
