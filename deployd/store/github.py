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


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    app: str
    repo: str
    branch: str
    hook_id: int | None
    hook_url: str
    secret: str
    """The webhook's HMAC secret, encrypted with the vault's key."""
    previews: bool
    preview_exclude: list[str]
    """Variables of the app its previews are not given."""
    preview_of: str | None
    pull_request: int | None
    connected_by: str | None
    connected_at: datetime


_CONNECTION = """app, repo, branch, hook_id, hook_url, secret, previews, preview_exclude,
    preview_of, pull_request, connected_by, connected_at"""


async def connection(conn: Conn, app: str) -> ConnectionRow | None:
    cursor = await conn.execute(
        f"SELECT {_CONNECTION} FROM github_connections WHERE app = %s", (app,)
    )
    row = await cursor.fetchone()
    return ConnectionRow(**row) if row else None


async def connections_of(conn: Conn, repo: str) -> list[ConnectionRow]:
    """The apps (never previews) connected to `repo` (GitHub's names ignore case)."""
    cursor = await conn.execute(
        f"""SELECT {_CONNECTION} FROM github_connections
            WHERE lower(repo) = lower(%s) AND preview_of IS NULL ORDER BY app""",
        (repo,),
    )
    return [ConnectionRow(**r) for r in await cursor.fetchall()]


async def previews_of(conn: Conn, app: str) -> list[ConnectionRow]:
    cursor = await conn.execute(
        f"SELECT {_CONNECTION} FROM github_connections WHERE preview_of = %s ORDER BY app",
        (app,),
    )
    return [ConnectionRow(**r) for r in await cursor.fetchall()]


async def all_previews(conn: Conn) -> list[ConnectionRow]:
    cursor = await conn.execute(
        f"SELECT {_CONNECTION} FROM github_connections WHERE preview_of IS NOT NULL"
    )
    return [ConnectionRow(**r) for r in await cursor.fetchall()]


async def save_connection(
    conn: Conn,
    *,
    app: str,
    repo: str,
    branch: str,
    hook_id: int | None,
    hook_url: str,
    secret: str,
    previews: bool,
    by: str | None,
    preview_exclude: list[str] | None = None,
    preview_of: str | None = None,
    pull_request: int | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO github_connections
               (app, repo, branch, hook_id, hook_url, secret, previews, preview_exclude,
                preview_of, pull_request, connected_by)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (app) DO UPDATE SET
               repo = EXCLUDED.repo, branch = EXCLUDED.branch, hook_id = EXCLUDED.hook_id,
               hook_url = EXCLUDED.hook_url, secret = EXCLUDED.secret,
               previews = EXCLUDED.previews, preview_exclude = EXCLUDED.preview_exclude,
               preview_of = EXCLUDED.preview_of, pull_request = EXCLUDED.pull_request,
               connected_by = EXCLUDED.connected_by, connected_at = now()""",
        (app, repo, branch, hook_id, hook_url, secret, previews, preview_exclude or [],
         preview_of, pull_request, by),
    )  # fmt: skip


async def last_activity(conn: Conn, app: str) -> datetime | None:
    """When a delivery last asked something of `app` (a preview's last push)."""
    cursor = await conn.execute(
        "SELECT max(received_at) AS at FROM github_deliveries WHERE target = %s", (app,)
    )
    row = await cursor.fetchone()
    return row["at"] if row else None


async def remove_connection(conn: Conn, app: str) -> None:
    await conn.execute("DELETE FROM github_connections WHERE app = %s", (app,))


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    received_at: datetime
    delivery: str
    event: str
    app: str | None
    repo: str | None
    verdict: str
    reason: str
    size: int
    verified: bool
    body_sha256: str | None
    commit_sha: str | None
    target: str | None
    pull_request: int | None
    job_id: int | None
    deployment_id: int | None
    reported: str
    report_error: str | None
    redeliver: bool


_DELIVERY = """id, received_at, delivery, event, app, repo, verdict, reason, size, verified,
    body_sha256, commit_sha, target, pull_request, job_id, deployment_id, reported,
    report_error, redeliver"""
KEEP_DELIVERIES = 1000
"""Deliveries kept per app (and for no app), signed ones and the others apart (a flood of
forged ones never pushes out the real history): older ones are forgotten."""


async def record_delivery(
    conn: Conn,
    *,
    delivery: str,
    event: str,
    app: str | None,
    repo: str | None,
    verdict: str,
    reason: str,
    size: int,
    verified: bool,
    body_sha256: str | None = None,
    commit_sha: str | None = None,
    target: str | None = None,
    pull_request: int | None = None,
) -> DeliveryRow:
    """Record a delivery; the oldest beyond `KEEP_DELIVERIES` of its app (or of no app),
    signed or not as it is, are forgotten, never one whose work is still to be done."""
    cursor = await conn.execute(
        f"""INSERT INTO github_deliveries
                (delivery, event, app, repo, verdict, reason, size, verified, body_sha256,
                 commit_sha, target, pull_request)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_DELIVERY}""",
        (delivery, event, app, repo, verdict, reason, size, verified, body_sha256, commit_sha,
         target, pull_request),
    )  # fmt: skip
    row = await cursor.fetchone()
    assert row is not None
    await conn.execute(
        """DELETE FROM github_deliveries
            WHERE app IS NOT DISTINCT FROM %(app)s AND verified = %(verified)s
              AND NOT (verdict = 'deployed' AND reported IN ('no', 'pending'))
              AND id <= (SELECT id FROM github_deliveries
                         WHERE app IS NOT DISTINCT FROM %(app)s AND verified = %(verified)s
                         ORDER BY id DESC OFFSET %(keep)s LIMIT 1)""",
        {"app": app, "verified": verified, "keep": KEEP_DELIVERIES},
    )
    return DeliveryRow(**row)


async def acted_on(conn: Conn, app: str, delivery: str, body_sha256: str) -> DeliveryRow | None:
    """The verified delivery deployd acted on for `app` with this id or this exact body (a
    signed body sent again under a new id), unless a redelivery of it was asked for."""
    cursor = await conn.execute(
        f"""SELECT {_DELIVERY} FROM github_deliveries
            WHERE app = %(app)s AND verified AND verdict <> 'duplicate' AND NOT redeliver
              AND ((delivery = %(delivery)s AND %(delivery)s <> '')
                   OR body_sha256 = %(digest)s)
            ORDER BY id DESC LIMIT 1""",
        {"app": app, "delivery": delivery, "digest": body_sha256},
    )
    row = await cursor.fetchone()
    return DeliveryRow(**row) if row else None


async def allow_redelivery(conn: Conn, app: str, delivery: str) -> None:
    await conn.execute(
        "UPDATE github_deliveries SET redeliver = true WHERE app = %s AND delivery = %s",
        (app, delivery),
    )


async def redelivered(conn: Conn, app: str, delivery: str, body_sha256: str) -> None:
    """The redelivery arrived: later copies are duplicates again."""
    await conn.execute(
        """UPDATE github_deliveries SET redeliver = false
           WHERE app = %s AND redeliver AND (delivery = %s OR body_sha256 = %s)""",
        (app, delivery, body_sha256),
    )


async def hooked(conn: Conn) -> list[ConnectionRow]:
    """Every app (never a preview) that has a webhook."""
    cursor = await conn.execute(
        f"""SELECT {_CONNECTION} FROM github_connections
            WHERE preview_of IS NULL ORDER BY app"""
    )
    return [ConnectionRow(**r) for r in await cursor.fetchall()]


async def deliveries(conn: Conn, app: str, limit: int) -> list[DeliveryRow]:
    cursor = await conn.execute(
        f"""SELECT {_DELIVERY} FROM github_deliveries WHERE app = %s
            ORDER BY id DESC LIMIT %s""",
        (app, limit),
    )
    return [DeliveryRow(**r) for r in await cursor.fetchall()]


async def open_deliveries(conn: Conn) -> list[DeliveryRow]:
    """Deploying deliveries whose deploy is not started or not yet reported to GitHub."""
    cursor = await conn.execute(
        f"""SELECT {_DELIVERY} FROM github_deliveries
            WHERE verdict = 'deployed' AND reported <> 'done' AND reported <> 'gave_up'
            ORDER BY id"""
    )
    return [DeliveryRow(**r) for r in await cursor.fetchall()]


async def set_job(conn: Conn, delivery_id: int, job_id: int) -> None:
    await conn.execute(
        "UPDATE github_deliveries SET job_id = %s WHERE id = %s", (job_id, delivery_id)
    )


async def supersede(conn: Conn, delivery_id: int, reason: str) -> None:
    """A waiting delivery a newer one replaced: nothing to deploy or report."""
    await conn.execute(
        """UPDATE github_deliveries SET verdict = 'ignored', reason = %s, reported = 'done'
           WHERE id = %s""",
        (reason, delivery_id),
    )


async def set_reported(
    conn: Conn, delivery_id: int, reported: str, error: str | None = None
) -> None:
    await conn.execute(
        "UPDATE github_deliveries SET reported = %s, report_error = %s WHERE id = %s",
        (reported, error, delivery_id),
    )


async def delivery(conn: Conn, delivery_id: int) -> DeliveryRow | None:
    cursor = await conn.execute(
        f"SELECT {_DELIVERY} FROM github_deliveries WHERE id = %s", (delivery_id,)
    )
    row = await cursor.fetchone()
    return DeliveryRow(**row) if row else None


async def set_deployment(conn: Conn, delivery_id: int, deployment_id: int) -> None:
    await conn.execute(
        "UPDATE github_deliveries SET deployment_id = %s WHERE id = %s",
        (deployment_id, delivery_id),
    )
