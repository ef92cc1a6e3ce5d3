"""The vault key at daemon start, and its rotation.

At start the key file must be the one the database's values were written with: a canary
value encrypted with it proves it. A missing file is created only for a database that
holds no secret yet; otherwise start stops with what to do, instead of running with a key
that turns every secret into garbage.
"""

from __future__ import annotations

from cryptography.fernet import Fernet
from psycopg import AsyncConnection

from deployd.store import vault as store
from deployd.store.db import Row
from deployd.vault.keyring import KeyRing, VaultKeyError

CANARY = b"deployd vault canary"


async def open_vault(conn: AsyncConnection[Row], keyring: KeyRing) -> bool:
    """Check (or, on a new installation, create) the key. True when it was created."""
    token = await store.canary(conn)
    if not keyring.exists():
        if await store.count_secrets(conn):
            raise VaultKeyError(
                f"the vault key file {keyring.path} is missing, but the database holds values "
                "encrypted with it: restore the file from your backup (a new key could not "
                "read them)"
            )
        keyring.create()  # nothing is lost: no secret was ever stored
        await store.set_canary(conn, keyring.encrypt(CANARY))
        return True
    keyring.keys()  # a malformed or too open file says so itself
    if token is None:
        await store.set_canary(conn, keyring.encrypt(CANARY))
        return False
    try:
        matches = keyring.decrypt(token) == CANARY
    except VaultKeyError:
        matches = False
    if not matches:
        raise VaultKeyError(
            f"the vault key file {keyring.path} is not the key this database's secrets were "
            "written with (was it replaced?): put the right file back"
        )
    return False


async def rotate(conn: AsyncConnection[Row], keyring: KeyRing) -> int:
    """Re-encrypt every stored secret under a new key, then retire the old ones.

    Order matters, so that no value is unreadable at any moment, whoever reads: the new key
    is added in front of the old ones (both decrypt), every token is re-encrypted in one
    transaction, and only then is the file reduced to the new key. The exclusive vault lock
    keeps writers out from before the first step until after the last.
    """
    await store.lock_exclusive(conn)
    try:
        old = keyring.keys()
        keyring.write([Fernet.generate_key(), *old])
        async with conn.transaction():
            count = await store.reencrypt_all(conn, keyring.rotate)
        keyring.write(keyring.keys()[:1])
    finally:
        await store.unlock(conn)
    return count
