"""The server's GitHub account as the engine uses it: a client with a token that works.

The tokens are stored encrypted with the vault's key and decrypted only here, for one
client at a time. A token that expires is renewed (with its refresh token) a few minutes
before it would, and the renewal is stored before the new token is used, so a crash never
leaves the only working token in memory.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deployd.sources.github import (
    LOGIN_AGAIN,
    DeviceFlow,
    Endpoints,
    GitHub,
    GitHubError,
    GitHubErrorKind,
    Grant,
)
from deployd.store import github as store

from .platform import Platform

RENEW_BEFORE = timedelta(minutes=10)
RENEWAL_LOCK = "github:account"
"""A lock name no app can have (app names have no colon)."""


def endpoints(platform: Platform) -> Endpoints:
    settings = platform.settings
    return Endpoints(api_url=settings.github_api_url, web_url=settings.github_url)


async def save_login(platform: Platform, grant: Grant, login: str, by: str | None) -> None:
    vault = platform.vault
    async with platform.pool.connection() as conn:
        await store.save_account(
            conn,
            login=login,
            token=vault.encrypt(grant.access_token.encode()),
            refresh_token=vault.encrypt(grant.refresh_token.encode())
            if grant.refresh_token
            else None,
            expires_at=grant.expires_at,
            refresh_expires_at=grant.refresh_token_expires_at,
            scope=grant.scope,
            by=by,
        )


async def client(platform: Platform) -> GitHub:
    """A client with the account's token (see `token`)."""
    return GitHub(endpoints(platform), await token(platform))


async def token(platform: Platform) -> str:
    """The account's token, renewed first if it is about to run out.

    Renewals take a lock and read the account again under it: a refresh token is good
    once, so two callers near expiry must not both spend it; and the renewal is stored only
    over the token it renewed, never over a newer login's."""
    account = await _account(platform)
    if account.expires_at is not None and account.expires_at - RENEW_BEFORE <= datetime.now(UTC):
        async with platform.lock(RENEWAL_LOCK):
            account = await _account(platform)
            if account.expires_at is not None and account.expires_at - RENEW_BEFORE <= datetime.now(
                UTC
            ):
                return await _renew(platform, account)
    return platform.vault.decrypt(account.token).decode()


async def _account(platform: Platform) -> store.AccountRow:
    async with platform.pool.connection() as conn:
        account = await store.account(conn)
    if account is None:
        raise GitHubError(
            GitHubErrorKind.AUTH, "deployd has no GitHub account yet: run `deployctl github login`"
        )
    return account


async def _renew(platform: Platform, account: store.AccountRow) -> str:
    now = datetime.now(UTC)
    if account.refresh_token is None or (
        account.refresh_expires_at is not None and account.refresh_expires_at <= now
    ):
        raise GitHubError(GitHubErrorKind.AUTH, f"the GitHub token has expired: {LOGIN_AGAIN}")
    client_id = platform.settings.github_client_id
    if client_id is None:
        raise GitHubError(GitHubErrorKind.AUTH, "DEPLOYD_GITHUB_CLIENT_ID is not set")
    vault = platform.vault
    async with DeviceFlow(endpoints(platform)) as flow:
        grant = await flow.refresh(client_id, vault.decrypt(account.refresh_token).decode())
    async with platform.pool.connection() as conn:
        await store.renew(
            conn,
            renewed=account.token,
            token=vault.encrypt(grant.access_token.encode()),
            refresh_token=vault.encrypt(grant.refresh_token.encode())
            if grant.refresh_token
            else None,
            expires_at=grant.expires_at,
            refresh_expires_at=grant.refresh_token_expires_at,
        )
    return grant.access_token
