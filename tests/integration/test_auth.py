"""Who may connect (peer credentials, for real) and what each role may do."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from deployd.protocol.errors import RpcError
from tests.support.daemon import RunningDaemon

NOBODY = pwd.getpwnam("nobody")

# The peer runs the system Python with the standard library only: the project's own
# interpreter may live where `nobody` cannot read it (a pyenv below /root).
SYSTEM_PYTHON = "/usr/bin/python3"
CLIENT = """
import json, socket, sys
path, method, params, token = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
sock = socket.socket(socket.AF_UNIX)
try:
    sock.connect(path)
except PermissionError:
    print(json.dumps({"error": "EACCES"})); sys.exit()
reader = sock.makefile("rb")
def call(i, m, p):
    message = {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
    sock.sendall(json.dumps(message).encode() + b"\\n")
    return json.loads(reader.readline())
reply = call(1, "auth.authenticate", {"token": token}) if token else {}
if "error" not in reply:
    reply = call(2, method, params)
if "error" in reply:
    error = reply["error"]
    print(json.dumps({"error": error["data"]["kind"], "message": error["message"]}))
else:
    print(json.dumps({"ok": reply["result"]}))
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON), reason="needs root to act as nobody"
)


def as_nobody(
    daemon: RunningDaemon, method: str, params: dict[str, object] | None = None, token: str = ""
) -> Any:
    """Run a real client process as `nobody` and return what it got."""
    out = subprocess.run(
        [SYSTEM_PYTHON, "-c", CLIENT, str(daemon.socket), method, json.dumps(params or {}), token],
        user=NOBODY.pw_uid,
        group=NOBODY.pw_gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_an_unknown_unix_user_is_refused_before_any_method_runs(daemon: RunningDaemon) -> None:
    reply = as_nobody(daemon, "system.hello")
    assert reply["error"] == "forbidden"
    assert "may not use deployd" in str(reply["message"])
    assert "refused a connection from uid 65534" in daemon.output()


def test_a_mapped_viewer_can_read_but_not_mutate(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "watcher", "role": "viewer", "unix_user": "nobody"})
    hello = as_nobody(daemon, "system.hello")
    assert hello["ok"]["identity"]["user"] == "watcher"
    assert hello["ok"]["identity"]["role"] == "viewer"
    assert "ok" in as_nobody(daemon, "users.list")
    denied = as_nobody(daemon, "users.add", {"name": "intruder", "role": "admin"})
    assert denied["error"] == "forbidden"
    assert "needs the admin role" in str(denied["message"])
    names = [u.name for u in daemon.call("users.list").users]  # type: ignore[attr-defined]
    assert "intruder" not in names
    entries = daemon.call("audit.list").entries  # type: ignore[attr-defined]
    refused = [e for e in entries if e.method == "users.add" and e.target == "intruder"]
    assert refused and refused[-1].outcome == "forbidden" and refused[-1].actor == "watcher"
    assert refused[-1].peer_uid == NOBODY.pw_uid


def test_a_viewer_may_change_only_their_own_password(daemon: RunningDaemon) -> None:
    if not _exists(daemon, "watcher"):
        daemon.call("users.add", {"name": "watcher", "role": "viewer", "unix_user": "nobody"})
    me = as_nobody(daemon, "system.hello")["ok"]["identity"]["user"]
    assert "ok" in as_nobody(daemon, "users.passwd", {"name": me, "password": "a-new-password"})
    other = as_nobody(daemon, "users.passwd", {"name": "admin", "password": "pwned-pwned"})
    assert other["error"] == "forbidden"


def _exists(daemon: RunningDaemon, name: str) -> bool:
    return any(u.name == name for u in daemon.call("users.list").users)  # type: ignore[attr-defined]


def test_a_token_lets_a_connection_act_as_its_user(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "deployer1", "role": "deployer"})
    created = daemon.call("tokens.create", {"name": "deployer1", "label": "ci", "ttl": "1h"})
    token = created.token  # type: ignore[attr-defined]
    assert token.startswith("dpd_")
    reply = as_nobody(daemon, "system.hello", token=token)
    assert reply["ok"]["identity"]["user"] == "deployer1"
    assert reply["ok"]["identity"]["via"] == "api"
    # only the digest is stored
    listed = daemon.call("tokens.list", {"name": "deployer1"}).tokens  # type: ignore[attr-defined]
    assert [t.label for t in listed] == ["ci"] and listed[0].last_used_at is not None
    daemon.call("tokens.revoke", {"id": created.info.id})  # type: ignore[attr-defined]
    assert as_nobody(daemon, "system.hello", token=token)["error"] == "forbidden"


def test_an_expired_token_is_refused(daemon: RunningDaemon) -> None:
    created = daemon.call("tokens.create", {"name": "admin", "ttl": "1h"})
    with psycopg.connect(daemon.env["DEPLOYD_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "UPDATE tokens SET expires_at = %s WHERE id = %s",
            (datetime.now(UTC) - timedelta(seconds=1), created.info.id),  # type: ignore[attr-defined]
        )
        stored = conn.execute("SELECT digest FROM tokens").fetchall()
    assert all(created.token.encode() not in bytes(row[0]) for row in stored)  # type: ignore[attr-defined]
    with daemon.client() as client, pytest.raises(RpcError) as refused:
        client.authenticate(created.token)  # type: ignore[attr-defined]
    assert refused.value.kind.value == "forbidden"


def test_login_exchanges_a_password_for_a_session(daemon: RunningDaemon) -> None:
    daemon.call("users.add", {"name": "loginuser", "role": "viewer", "password": "correct horse"})
    with daemon.client() as client:
        session = client.call("auth.login", {"name": "loginuser", "password": "correct horse"})
        assert session.info.kind == "session"
        with pytest.raises(RpcError) as wrong:
            client.call("auth.login", {"name": "loginuser", "password": "wrong horse"})
        assert wrong.value.kind.value == "forbidden"
        with pytest.raises(RpcError) as unknown:
            client.call("auth.login", {"name": "ghost", "password": "whatever1"})
        assert unknown.value.message == wrong.value.message  # does not reveal who exists
    reply = as_nobody(daemon, "system.hello", token=session.token)
    assert reply["ok"]["identity"]["user"] == "loginuser"


def test_socket_mode_0660_keeps_others_out_at_the_filesystem(fresh_db: str) -> None:
    from tests.support.daemon import serve

    with serve(fresh_db, {"DEPLOYD_SOCKET_MODE": "0660"}) as strict:
        assert oct(strict.socket.stat().st_mode & 0o777) == "0o660"
        assert as_nobody(strict, "system.hello") == {"error": "EACCES"}


def test_a_token_is_read_from_a_file_or_stdin_and_never_taken_on_the_command_line(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    daemon.call("users.add", {"name": "scripted", "role": "viewer"})
    token = daemon.call("tokens.create", {"name": "scripted"}).token  # type: ignore[attr-defined]
    refused = daemon.deployctl("--token", token, "status")
    assert refused.returncode == 2 and "visible to every user of this host" in refused.stderr
    assert token not in refused.stderr
    secret = tmp_path / "token"
    secret.write_text(token + "\n")
    for args, given in (
        (["--token-file", str(secret)], None),
        (["--token-file", "-"], token + "\n"),
    ):
        result = daemon.deployctl(*args, "audit", input=given)
        assert result.returncode == 1 and "needs the admin role" in result.stderr  # a viewer
    empty = tmp_path / "empty"
    empty.write_text("")
    assert (
        "the token file is empty" in daemon.deployctl("--token-file", str(empty), "status").stderr
    )
