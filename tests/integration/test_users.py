"""Users and roles through the real daemon."""

from __future__ import annotations

import json

import pytest

from deployd.protocol.errors import RpcError
from tests.support.daemon import RunningDaemon


def kind_of(daemon: RunningDaemon, method: str, params: dict[str, object]) -> str:
    with pytest.raises(RpcError) as failure:
        daemon.call(method, params)
    return failure.value.kind.value


def test_root_maps_to_the_builtin_admin(daemon: RunningDaemon) -> None:
    hello = daemon.call("system.hello")
    assert hello.identity.user == "admin" and hello.identity.role == "admin"  # type: ignore[attr-defined]
    users = daemon.call("users.list").users  # type: ignore[attr-defined]
    admin = next(u for u in users if u.name == "admin")
    assert admin.builtin and not admin.has_password  # serve mode: no password is printed


def test_add_generates_a_password_once_and_passwd_replaces_it(daemon: RunningDaemon) -> None:
    added = daemon.call("users.add", {"name": "dora", "role": "deployer"})
    assert len(added.generated_password) >= 20  # type: ignore[attr-defined]
    with daemon.client() as client:
        client.call("auth.login", {"name": "dora", "password": added.generated_password})  # type: ignore[attr-defined]
        client.call("users.passwd", {"name": "dora", "password": "brand-new-pass"})
        with pytest.raises(RpcError):
            client.call("auth.login", {"name": "dora", "password": added.generated_password})  # type: ignore[attr-defined]
        client.call("auth.login", {"name": "dora", "password": "brand-new-pass"})


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"name": "Bad", "role": "viewer"}, "invalid"),
        ({"name": "-dash", "role": "viewer"}, "invalid"),
        ({"name": "a" * 33, "role": "viewer"}, "invalid"),
        ({"name": "ok", "role": "superuser"}, "invalid"),
        ({"name": "ok", "role": "viewer", "password": "short"}, "invalid"),
        ({"name": "ok", "role": "viewer", "password": "é" * 40}, "invalid"),  # > 72 bytes
        ({"name": "ok", "role": "viewer", "unix_user": "root; rm -rf /"}, "invalid"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    daemon: RunningDaemon, params: dict[str, object], kind: str
) -> None:
    before = daemon.call("users.list").users  # type: ignore[attr-defined]
    assert kind_of(daemon, "users.add", params) == kind
    assert daemon.call("users.list").users == before  # type: ignore[attr-defined]


def test_duplicates_and_missing_users(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "twin", "role": "viewer"})
    assert kind_of(daemon, "users.add", {"name": "twin", "role": "viewer"}) == "conflict"
    assert kind_of(daemon, "users.remove", {"name": "nobody-here"}) == "not_found"
    assert kind_of(daemon, "users.passwd", {"name": "nobody-here"}) == "not_found"


def test_the_builtin_admin_and_yourself_cannot_be_removed(daemon: RunningDaemon) -> None:
    assert kind_of(daemon, "users.remove", {"name": "admin"}) == "conflict"


def test_remove_revokes_the_users_tokens(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "leaver", "role": "deployer"})
    token = daemon.call("tokens.create", {"name": "leaver"}).token  # type: ignore[attr-defined]
    removed = daemon.call("users.remove", {"name": "leaver"})
    assert removed.tokens_revoked == 1  # type: ignore[attr-defined]
    with daemon.client() as client, pytest.raises(RpcError):
        client.authenticate(token)


def test_the_last_admin_cannot_be_removed_by_another_admin(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "second", "role": "admin"})
    token = daemon.call("tokens.create", {"name": "second"}).token  # type: ignore[attr-defined]
    with daemon.client() as client:
        client.authenticate(token)
        with pytest.raises(RpcError) as yourself:
            client.call("users.remove", {"name": "second"})
        assert "yourself" in yourself.value.message


def test_a_login_is_an_event_without_the_password_or_the_token(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "logger", "role": "viewer", "password": "correct horse"})
    with daemon.client() as watcher:
        _, stream = watcher.stream("events.subscribe", {"kinds": ["user.login"]})
        with daemon.client() as client:
            with pytest.raises(RpcError):
                client.call("auth.login", {"name": "logger", "password": "wrong horse"})
            session = client.call("auth.login", {"name": "logger", "password": "correct horse"})
        event = next(stream)
    assert event["message"] == "logger logged in" and event["actor"] == "logger"
    assert event["data"] == {"user": "logger", "token_id": session.info.id}
    assert "correct horse" not in json.dumps(event) and session.token not in json.dumps(event)
    listed = daemon.call("events.list", {"kinds": ["user.login"]}).events  # type: ignore[attr-defined]
    assert [e.data["token_id"] for e in listed if e.data["user"] == "logger"] == [session.info.id]
