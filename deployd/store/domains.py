"""Domains attached to apps, and the state of their certificates."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection

from .db import Row

Conn = AsyncConnection[Row]

_COLUMNS = """d.name, d.app, d.tls, d.hsts, d.created_by, d.created_at, d.dns_ok, d.dns_detail,
              d.dns_checked_at, c.issuer, c.serial, c.not_before, c.not_after, c.issued_at,
              c.last_attempt_at, c.last_error, COALESCE(c.failures, 0) AS failures"""
_FROM = "FROM domains d LEFT JOIN certificates c ON c.domain = d.name"


async def for_app(conn: Conn, app: str) -> list[Row]:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE d.app = %s ORDER BY d.name", (app,)
    )
    return await cursor.fetchall()


async def get(conn: Conn, name: str) -> Row | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} {_FROM} WHERE d.name = %s", (name,))
    return await cursor.fetchone()


async def with_certificates(conn: Conn) -> list[Row]:
    cursor = await conn.execute(f"SELECT {_COLUMNS} {_FROM} WHERE d.tls ORDER BY c.not_after")
    return await cursor.fetchall()


async def insert(
    conn: Conn, *, name: str, app: str, tls: bool, hsts: bool, created_by: str
) -> None:
    await conn.execute(
        "INSERT INTO domains (name, app, tls, hsts, created_by) VALUES (%s, %s, %s, %s, %s)",
        (name, app, tls, hsts, created_by),
    )


async def delete(conn: Conn, name: str) -> bool:
    cursor = await conn.execute("DELETE FROM domains WHERE name = %s", (name,))
    return cursor.rowcount == 1


async def set_tls(conn: Conn, name: str, *, tls: bool, hsts: bool) -> None:
    await conn.execute("UPDATE domains SET tls = %s, hsts = %s WHERE name = %s", (tls, hsts, name))


async def record_dns(conn: Conn, name: str, ok: bool, detail: str) -> None:
    await conn.execute(
        "UPDATE domains SET dns_ok = %s, dns_detail = %s, dns_checked_at = now() WHERE name = %s",
        (ok, detail, name),
    )


async def save_certificate(
    conn: Conn,
    domain: str,
    *,
    issuer: str,
    serial: str,
    not_before: datetime,
    not_after: datetime,
) -> None:
    """A certificate was issued or renewed: its facts, and a clean record of attempts."""
    await conn.execute(
        """INSERT INTO certificates
             (domain, issuer, serial, not_before, not_after, issued_at, last_attempt_at,
              last_error, failures)
           VALUES (%s, %s, %s, %s, %s, now(), now(), NULL, 0)
           ON CONFLICT (domain) DO UPDATE SET
             issuer = EXCLUDED.issuer, serial = EXCLUDED.serial,
             not_before = EXCLUDED.not_before, not_after = EXCLUDED.not_after,
             issued_at = now(), last_attempt_at = now(), last_error = NULL, failures = 0""",
        (domain, issuer, serial, not_before, not_after),
    )


async def record_failure(conn: Conn, domain: str, error: str) -> None:
    await conn.execute(
        """UPDATE certificates SET last_attempt_at = now(), last_error = %s,
                                   failures = failures + 1
           WHERE domain = %s""",
        (error, domain),
    )
