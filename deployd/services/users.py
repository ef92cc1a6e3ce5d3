"""People: who a connection is, users and roles, passwords, tokens and sessions."""

from __future__ import annotations

import asyncio
import functools
import grp
import os
import pwd
import secrets
from datetime import UTC, datetime

import bcrypt

from deployd.domain.credentials import TOKEN_PREFIX, check_password, token_digest
from deployd.domain.durations import parse_duration
from deployd.domain.errors import DomainError
from deployd.domain.roles import Actor, check_removal, may_act_on_user
from deployd.protocol.common import Identity, Role
from deployd.protocol.errors import conflict, forbidden, invalid, not_found
from deployd.protocol.events import EventType
from deployd.protocol.users import (
    LoginParams,
    TokenCreated,
    TokenIdParams,
    TokenInfo,
    TokensCreateParams,
    TokensListParams,
    TokensListResult,
    UserInfo,
    UserNameParams,
    UsersAddParams,
    UsersAddResult,
    UsersListResult,
    UsersPasswdParams,
    UsersPasswdResult,
    UsersRemoveResult,
)
from deployd.store import tokens as token_store
from deployd.store import users as store

from .core import Caller, Core

BCRYPT_ROUNDS = 12


def _actor(caller: Caller) -> Actor:
    return Actor(caller.identity.user, caller.identity.role)


def _info(row: dict[str, object]) -> UserInfo:
    return UserInfo.model_validate(row)


def _generate_password() -> str:
    return secrets.token_urlsafe(18)


async def _hash(password: str) -> str:
    try:
        check_password(password)
    except DomainError as exc:
        raise invalid(str(exc)) from None
    # bcrypt is deliberately slow (~0.2 s): keep it off the event loop.
    digest = await asyncio.to_thread(
        bcrypt.hashpw, password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)
    )
    return digest.decode()


async def identify_peer(core: Core, uid: int, gid: int) -> Identity | None:
    """Map the Unix user on the other end of the socket to a deployd identity, or refuse."""
    unix_name = _unix_name(uid)
    async with core.pool.connection() as conn:
        if uid in (0, os.geteuid()):
            admin = await store.builtin_admin(conn)
            name = admin["name"] if admin else core.settings.bootstrap_admin
            return Identity(user=name, role=Role.ADMIN, unix_user=unix_name, peer_uid=uid)
        mapped = await store.by_unix_user(conn, unix_name) if unix_name else None
    if mapped is not None:
        return Identity(user=mapped["name"], role=mapped["role"], unix_user=unix_name, peer_uid=uid)
    if unix_name and _in_group(unix_name, gid, core.settings.group):
        return Identity(
            user=unix_name,
            role=Role(core.settings.group_role),
            unix_user=unix_name,
            peer_uid=uid,
            via="group",
        )
    return None


def _unix_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _in_group(unix_name: str, gid: int, group: str) -> bool:
    try:
        entry = grp.getgrnam(group)
    except KeyError:
        return False
    return gid == entry.gr_gid or unix_name in entry.gr_mem


async def ensure_bootstrap_admin(core: Core, *, with_password: bool) -> str | None:
    """Create the built-in admin on first start. Returns its generated password, once."""
    async with core.pool.connection() as conn, conn.transaction():
        if await store.builtin_admin(conn) is not None:
            return None
        password = _generate_password() if with_password else None
        await store.insert(
            conn,
            name=core.settings.bootstrap_admin,
            role=Role.ADMIN,
            password_hash=await _hash(password) if password else None,
            unix_user=None,
            builtin=True,
        )
    await core.bus.publish(
        EventType.USER_ADDED,
        f"created the built-in admin {core.settings.bootstrap_admin}",
        actor="deployd",
        data={"user": core.settings.bootstrap_admin, "role": "admin"},
    )
    return password


async def list_users(core: Core, caller: Caller) -> UsersListResult:
    async with core.pool.connection() as conn:
        return UsersListResult(users=[_info(r) for r in await store.list_all(conn)])


async def add(core: Core, caller: Caller, params: UsersAddParams) -> UsersAddResult:
    generated = None if params.password else _generate_password()
    password_hash = await _hash(params.password or generated or "")
    async with core.pool.connection() as conn, conn.transaction():
        if await store.get(conn, params.name) is not None:
            raise conflict(f"user {params.name} already exists")
        if params.unix_user and await store.by_unix_user(conn, params.unix_user):
            raise conflict(f"Unix user {params.unix_user} is already mapped to another user")
        row = await store.insert(
            conn,
            name=params.name,
            role=params.role,
            password_hash=password_hash,
            unix_user=params.unix_user,
        )
    await core.bus.publish(
        EventType.USER_ADDED,
        f"{caller.name} added {params.name} ({params.role})",
        actor=caller.name,
        data={"user": params.name, "role": params.role},
    )
    return UsersAddResult(user=_info(row), generated_password=generated)


async def passwd(core: Core, caller: Caller, params: UsersPasswdParams) -> UsersPasswdResult:
    if not may_act_on_user(_actor(caller), params.name):
        raise forbidden("only an admin can change another user's password")
    generated = None if params.password else _generate_password()
    password_hash = await _hash(params.password or generated or "")
    async with core.pool.connection() as conn:
        if not await store.set_password(conn, params.name, password_hash):
            raise not_found(f"no user named {params.name}")
    await core.bus.publish(
        EventType.USER_PASSWORD_CHANGED,
        f"{caller.name} changed the password of {params.name}",
        actor=caller.name,
        data={"user": params.name},
    )
    return UsersPasswdResult(name=params.name, generated_password=generated)


async def remove(core: Core, caller: Caller, params: UserNameParams) -> UsersRemoveResult:
    async with core.pool.connection() as conn, conn.transaction():
        await conn.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        row = await store.get(conn, params.name)
        if row is None:
            raise not_found(f"no user named {params.name}")
        admins_after = await store.count_admins(conn) - (row["role"] == Role.ADMIN)
        try:
            check_removal(
                params.name,
                builtin=row["builtin"],
                admins_left_after=admins_after,
                actor=_actor(caller),
            )
        except DomainError as exc:
            raise conflict(str(exc)) from None
        revoked = len(await token_store.list_for(conn, params.name))
        await store.delete(conn, params.name)
    await core.bus.publish(
        EventType.USER_REMOVED,
        f"{caller.name} removed {params.name}",
        actor=caller.name,
        data={"user": params.name},
    )
    return UsersRemoveResult(name=params.name, tokens_revoked=revoked)


async def _mint(core: Core, *, user: str, kind: str, label: str, ttl: str) -> TokenCreated:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + parse_duration(ttl)
    async with core.pool.connection() as conn:
        try:
            row = await token_store.insert(
                conn,
                user=user,
                kind=kind,
                label=label,
                digest=token_digest(token),
                expires_at=expires_at,
            )
        except LookupError:
            raise not_found(f"no user named {user}") from None
    return TokenCreated(token=token, info=TokenInfo.model_validate(row))


async def create_token(core: Core, caller: Caller, params: TokensCreateParams) -> TokenCreated:
    if not may_act_on_user(_actor(caller), params.name):
        raise forbidden("only an admin can create tokens for another user")
    created = await _mint(core, user=params.name, kind="api", label=params.label, ttl=params.ttl)
    await core.bus.publish(
        EventType.TOKEN_CREATED,
        f"{caller.name} created API token {created.info.id} for {params.name}",
        actor=caller.name,
        data={"user": params.name, "token_id": created.info.id},
    )
    return created


async def list_tokens(core: Core, caller: Caller, params: TokensListParams) -> TokensListResult:
    name = params.name
    if caller.identity.role != Role.ADMIN:
        if name not in (None, caller.name):
            raise forbidden("only an admin can list another user's tokens")
        name = caller.name
    async with core.pool.connection() as conn:
        rows = await token_store.list_for(conn, name)
    return TokensListResult(tokens=[TokenInfo.model_validate(r) for r in rows])


async def revoke_token(core: Core, caller: Caller, params: TokenIdParams) -> TokenInfo:
    async with core.pool.connection() as conn:
        row = await token_store.get(conn, params.id)
        if row is None:
            raise not_found(f"no token with id {params.id}")
        if not may_act_on_user(_actor(caller), row["user"]):
            raise forbidden("only an admin can revoke another user's token")
        await token_store.delete(conn, params.id)
    await core.bus.publish(
        EventType.TOKEN_REVOKED,
        f"{caller.name} revoked token {params.id} of {row['user']}",
        actor=caller.name,
        data={"user": row["user"], "token_id": params.id},
    )
    return TokenInfo.model_validate(row)


async def login(core: Core, caller: Caller, params: LoginParams) -> TokenCreated:
    async with core.pool.connection() as conn:
        stored = await store.password_hash(conn, params.name)
    # Compare against a dummy hash for unknown users so timing does not reveal who exists.
    candidate = stored or _dummy_hash()
    ok = await asyncio.to_thread(bcrypt.checkpw, params.password.encode(), candidate.encode())
    if not (ok and stored):
        raise forbidden("wrong user name or password")
    session = await _mint(core, user=params.name, kind="session", label="login", ttl=params.ttl)
    await core.bus.publish(  # the token's id, never the token: it can be revoked by it
        EventType.USER_LOGIN,
        f"{params.name} logged in",
        actor=params.name,
        data={"user": params.name, "token_id": session.info.id},
    )
    return session


async def authenticate(core: Core, caller: Caller, token: str) -> Identity:
    async with core.pool.connection() as conn:
        row = await token_store.use(conn, token_digest(token))
    if row is None:
        raise forbidden("the token is unknown, revoked or expired")
    return Identity(
        user=row["name"],
        role=row["role"],
        unix_user=caller.identity.unix_user,
        peer_uid=caller.peer_uid,
        via=row["kind"],
    )


@functools.cache
def _dummy_hash() -> str:
    return bcrypt.hashpw(b"not a password", bcrypt.gensalt(BCRYPT_ROUNDS)).decode()
