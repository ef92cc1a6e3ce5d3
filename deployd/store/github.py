"""The server's GitHub account (tokens encrypted by the caller), connections, deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

from .db import Row

Conn = AsyncConnection[Row]


@dataclass(frozen=True, slots=True)
class AccountRow:
    login: str
    token: str
    """Encrypted with the vault's key."""
    refresh_token: str | None
    """Encrypted; only for tokens that expire."""
    expires_at: datetime | None
    refresh_expires_at: datetime | None
    scope: str
    logged_in_by: str | None
    logged_in_at: datetime


_ACCOUNT = (
    "login, token, refresh_token, expires_at, refresh_expires_at, scope, logged_in_by, logged_in_at"
)


async def account(conn: Conn) -> AccountRow | None:
    cursor = await conn.execute(f"SELECT {_ACCOUNT} FROM github_account WHERE id = 1")
    row = await cursor.fetchone()
    return AccountRow(**row) if row else None


async def save_account(
    conn: Conn,
    *,
    login: str,
    token: str,
    refresh_token: str | None,
    expires_at: datetime | None,
    refresh_expires_at: datetime | None,
    scope: str,
    by: str | None,
) -> None:
    """The one account, replaced by a new login (or a renewed token)."""
    await conn.execute(
        """INSERT INTO github_account
               (id, login, token, refresh_token, expires_at, refresh_expires_at, scope,
                logged_in_by, logged_in_at)
           VALUES (1, %s, %s, %s, %s, %s, %s, %s, now())
           ON CONFLICT (id) DO UPDATE SET
               login = EXCLUDED.login, token = EXCLUDED.token,
               refresh_token = EXCLUDED.refresh_token, expires_at = EXCLUDED.expires_at,
               refresh_expires_at = EXCLUDED.refresh_expires_at, scope = EXCLUDED.scope,
               logged_in_by = EXCLUDED.logged_in_by, logged_in_at = EXCLUDED.logged_in_at""",
        (login, token, refresh_token, expires_at, refresh_expires_at, scope, by),
    )


async def renew(
    conn: Conn,
    *,
    renewed: str,
    token: str,
    refresh_token: str | None,
    expires_at: datetime | None,
    refresh_expires_at: datetime | None,
) -> bool:
    """Replace the token `renewed` (as stored) with its renewal; False when a new login
    replaced it meanwhile (the renewal is then dropped)."""
    cursor = await conn.execute(
        """UPDATE github_account SET token = %s, refresh_token = %s, expires_at = %s,
                  refresh_expires_at = %s WHERE id = 1 AND token = %s""",
        (token, refresh_token, expires_at, refresh_expires_at, renewed),
    )
    return cursor.rowcount == 1
