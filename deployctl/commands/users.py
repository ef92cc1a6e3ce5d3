"""`deployctl users ...` and `deployctl login`: people, passwords and tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from deployd.protocol.common import Role
from deployd.protocol.users import (
    LoginParams,
    TokenCreated,
    TokenInfo,
    TokensCreateParams,
    TokensListResult,
    UserInfo,
    UsersAddParams,
    UsersAddResult,
    UsersListResult,
    UsersPasswdParams,
    UsersPasswdResult,
    UsersRemoveResult,
)

from .. import render
from ..session import JsonFlag, session

app = typer.Typer(help="Users, roles, passwords and API tokens.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _read_password(from_stdin: bool, generate: bool) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise typer.BadParameter("no password on standard input", param_hint="--password-stdin")
        return password
    if generate:
        return None
    if not sys.stdin.isatty():
        raise typer.BadParameter(
            "no terminal to ask for a password: use --password-stdin or --generate"
        )
    return str(typer.prompt("New password", hide_input=True, confirmation_prompt=True))


def _user_rows(users: list[UserInfo]) -> list[list[object]]:
    return [
        [
            u.name,
            u.role.value,
            u.unix_user or "-",
            "yes" if u.has_password else "no",
            "built-in" if u.builtin else "",
            render.when(u.created_at),
        ]
        for u in users
    ]


@app.command("list")
def list_users(json: JsonFlag = False) -> None:
    """List users and their roles."""
    result: UsersListResult = session(json).call("users.list")
    if json:
        render.emit_json(result)
        return
    render.table(["NAME", "ROLE", "UNIX USER", "PASSWORD", "", "CREATED"], _user_rows(result.users))


@app.command("add")
def add(
    name: str,
    role: Annotated[Role, typer.Option(help="What the user may do.")] = Role.VIEWER,
    unix_user: Annotated[
        str | None, typer.Option(help="Unix account that acts as this user on the socket.")
    ] = None,
    password_stdin: PasswordStdin = False,
    json: JsonFlag = False,
) -> None:
    """Add a user. Without --password-stdin a password is generated and shown once."""
    password = _read_password(password_stdin, generate=True)
    params = UsersAddParams(name=name, role=role, unix_user=unix_user, password=password)
    result: UsersAddResult = session(json).call("users.add", params)
    if json:
        render.emit_json(result)
        return
    render.success(f"added {result.user.name} ({result.user.role.value})")
    if result.generated_password:
        render.secret_once("password", result.generated_password)


@app.command("passwd")
def passwd(
    name: str,
    password_stdin: PasswordStdin = False,
    generate: Annotated[bool, typer.Option(help="Generate a password and show it once.")] = False,
    json: JsonFlag = False,
) -> None:
    """Set a user's password (admins: anyone's; others: their own)."""
    password = _read_password(password_stdin, generate)
    result: UsersPasswdResult = session(json).call(
        "users.passwd", UsersPasswdParams(name=name, password=password)
    )
    if json:
        render.emit_json(result)
        return
    render.success(f"password of {result.name} changed")
    if result.generated_password:
        render.secret_once("password", result.generated_password)


@app.command("remove")
def remove(name: str, json: JsonFlag = False) -> None:
    """Remove a user and revoke their tokens."""
    result: UsersRemoveResult = session(json).call("users.remove", {"name": name})
    if json:
        render.emit_json(result)
        return
    render.success(f"removed {result.name} ({result.tokens_revoked} tokens revoked)")


@app.command("token")
def token(
    name: str,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "api",
    ttl: Annotated[str, typer.Option(help="Lifetime, e.g. 12h, 30d, 52w.")] = "30d",
    json: JsonFlag = False,
) -> None:
    """Create an API token (shown once). Use it with --token or DEPLOYD_TOKEN."""
    result: TokenCreated = session(json).call(
        "tokens.create", TokensCreateParams(name=name, label=label, ttl=ttl)
    )
    if json:
        render.emit_json(result.model_dump(mode="json"))
        return
    render.success(
        f"token {result.info.id} for {name}, expires {render.when(result.info.expires_at)}"
    )
    render.secret_once("token", result.token)


def _token_rows(tokens: list[TokenInfo]) -> list[list[object]]:
    return [
        [
            t.id,
            t.user,
            t.kind,
            t.label,
            render.when(t.created_at),
            render.when(t.expires_at),
            render.when(t.last_used_at),
        ]
        for t in tokens
    ]


@app.command("tokens")
def tokens(
    name: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    json: JsonFlag = False,
) -> None:
    """List unexpired tokens and sessions (never their values)."""
    result: TokensListResult = session(json).call("tokens.list", {"name": name} if name else {})
    if json:
        render.emit_json(result)
        return
    render.table(
        ["ID", "USER", "KIND", "LABEL", "CREATED", "EXPIRES", "LAST USED"],
        _token_rows(result.tokens),
    )


@app.command("revoke")
def revoke(token_id: int, json: JsonFlag = False) -> None:
    """Revoke a token or session by its id."""
    result: TokenInfo = session(json).call("tokens.revoke", {"id": token_id})
    if json:
        render.emit_json(result)
        return
    render.success(f"revoked token {result.id} of {result.user}")


def login(
    name: str,
    ttl: Annotated[str, typer.Option(help="Session lifetime, e.g. 12h.")] = "12h",
    password_stdin: PasswordStdin = False,
    json: JsonFlag = False,
) -> None:
    """Exchange a password for a session token (for the web GUI and scripts)."""
    if password_stdin:
        password = _read_password(True, generate=False)
    else:
        password = str(typer.prompt("Password", hide_input=True))
    assert password is not None
    result: TokenCreated = session(json).call(
        "auth.login", LoginParams(name=name, password=password, ttl=ttl)
    )
    if json:
        render.emit_json(result.model_dump(mode="json"))
        return
    render.secret_once("session token", result.token)
