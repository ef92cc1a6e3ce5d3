"""Copies of verified backups on S3-compatible storage, encrypted with age before they
leave the host and tracked apart from the local file: a copy that fails is recorded and
announced, and never makes the local backup failed."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deployd.domain import databases as rules
from deployd.protocol.events import EventType
from deployd.remote import crypt
from deployd.remote.crypt import CryptError
from deployd.remote.s3 import Bucket, StorageError
from deployd.store import remote as store
from deployd.store.databases import BackupRow
from deployd.store.remote import CopyRow

from .platform import Platform

log = logging.getLogger(__name__)


class RemoteUnavailable(Exception):
    """Remote storage is not set up, or a copy could not be fetched."""


@dataclass(frozen=True, slots=True)
class Remote:
    bucket: Bucket
    recipient: str
    identity_token: str
    prefix: str

    def key(self, backup: BackupRow) -> str:
        return f"{self.prefix}/{backup.database}/{backup.id}.dump.age"


async def remote(platform: Platform) -> Remote | None:
    """The storage, when its settings and keys are both there."""
    settings = platform.settings
    if not (settings.backup_s3_endpoint and settings.backup_s3_bucket):
        return None
    async with platform.pool.connection() as conn:
        row = await store.storage(conn)
    if row is None:
        return None
    bucket = Bucket(
        endpoint=settings.backup_s3_endpoint,
        name=settings.backup_s3_bucket,
        region=settings.backup_s3_region,
        access_key_id=row.access_key_id,
        secret_access_key=platform.vault.decrypt(row.secret_token).decode(),
    )
    return Remote(bucket, row.recipient, row.identity_token, settings.backup_s3_prefix)


@dataclass(frozen=True, slots=True)
class KeysSet:
    recipient: str
    identity: str | None
    """The age identity, only when this call made it: shown once."""


async def set_keys(
    platform: Platform, access_key_id: str, secret_access_key: str, actor: str
) -> KeysSet:
    """Keep the storage's keys in the vault; the first time, make the age key pair that
    encrypts every copy."""
    async with platform.lock("remote storage"):  # one key pair, even for two first calls
        return await _set_keys(platform, access_key_id, secret_access_key, actor)


async def _set_keys(
    platform: Platform, access_key_id: str, secret_access_key: str, actor: str
) -> KeysSet:
    async with platform.pool.connection() as conn:
        existing = await store.storage(conn)
    made: crypt.KeyPair | None = None
    if existing is None:
        made = await asyncio.to_thread(crypt.generate)
        identity_token, recipient = platform.vault.encrypt(made.identity.encode()), made.recipient
    else:
        identity_token, recipient = existing.identity_token, existing.recipient
    async with platform.pool.connection() as conn:
        await store.set_storage(
            conn,
            access_key_id=access_key_id,
            secret_token=platform.vault.encrypt(secret_access_key.encode()),
            identity_token=identity_token,
            recipient=recipient,
            updated_by=actor,
        )
    return KeysSet(recipient, made.identity if made else None)


async def copy(platform: Platform, backup: BackupRow, local: Path) -> CopyRow | None:
    """Encrypt and upload a verified backup; None when no remote storage is set up. It
    never raises: whatever goes wrong is the copy's failure, recorded and said."""
    try:
        return await _copy(platform, backup, local)
    except Exception as exc:  # the vault's key, the store: the copy fails, not the backup
        log.warning("no remote copy of backup %s: %s", backup.id, exc)
        return None


async def _copy(platform: Platform, backup: BackupRow, local: Path) -> CopyRow | None:
    where = await remote(platform)
    if where is None:
        return None
    key = where.key(backup)
    async with platform.pool.connection() as conn:
        await store.start_copy(conn, backup.id, key)
    sealed = local.parent / f".{backup.id}.age.partial"
    try:
        await asyncio.to_thread(crypt.encrypt, local, sealed, where.recipient)
        size = await asyncio.to_thread(where.bucket.put, sealed, key)
    except Exception as exc:  # CryptError, StorageError, OSError, and anything unforeseen
        reason = str(exc) or type(exc).__name__
        async with platform.pool.connection() as conn:
            await store.copy_failed(conn, backup.id, reason)
            attempts = (await store.copies(conn, [backup.id]))[backup.id].attempts
        again = rules.copy_retry_at(attempts, datetime.now(UTC))
        later = (
            f"tried again at {again:%H:%M} UTC"
            if again
            else f"given up after {attempts} tries: `deployctl db backup` makes a new one"
        )
        await platform.bus.publish(
            EventType.DB_REMOTE_COPY_FAILED,
            f"backup {backup.id} of {backup.database} was not copied off this host: {reason} "
            f"(the local backup is verified; {later})",
            actor="deployd",
            data={
                "database": backup.database,
                "backup": backup.id,
                "reason": reason,
                "attempts": attempts,
            },
        )
    else:
        async with platform.pool.connection() as conn:
            await store.copied(conn, backup.id, size)
    finally:
        await asyncio.to_thread(sealed.unlink, missing_ok=True)
    async with platform.pool.connection() as conn:
        return (await store.copies(conn, [backup.id]))[backup.id]


async def fetch(platform: Platform, backup: BackupRow, target: Path) -> None:
    """Download a backup's copy and decrypt it to `target` (which must not exist)."""
    where = await remote(platform)
    if where is None:
        raise RemoteUnavailable("remote storage is not set up")
    sealed = target.parent / f".{backup.id}.age.download"
    try:
        await asyncio.to_thread(where.bucket.get, where.key(backup), sealed)
        identity = platform.vault.decrypt(where.identity_token).decode()
        await asyncio.to_thread(crypt.decrypt, sealed, target, identity)
    except (CryptError, StorageError) as exc:
        await asyncio.to_thread(target.unlink, missing_ok=True)
        raise RemoteUnavailable(f"the remote copy of backup {backup.id}: {exc}") from None
    finally:
        await asyncio.to_thread(sealed.unlink, missing_ok=True)


async def delete(platform: Platform, backup: BackupRow) -> bool:
    """Delete a backup's copy (retention). False when it could not be: the copy stays
    `copied` with the reason, and the scheduler tries again later."""
    where = await remote(platform)
    if where is None:
        return False
    try:
        await asyncio.to_thread(where.bucket.delete, where.key(backup))
    except StorageError as exc:
        log.warning("the copy of backup %s was not deleted: %s (tried again later)", backup.id, exc)
        async with platform.pool.connection() as conn:
            await store.delete_failed(conn, backup.id, str(exc))
        return False
    async with platform.pool.connection() as conn:
        await store.copy_deleted(conn, backup.id)
    return True
