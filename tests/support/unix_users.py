"""Other Unix users for the tests: a deployer who is not root, and a way to speak to the
daemon as them (the daemon trusts the kernel's word on who connects, SO_PEERCRED)."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deployd.unix import accounts

RELAY = """
import socket, sys, threading
target, path = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen(16)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(client):
    upstream = socket.socket(socket.AF_UNIX)
    upstream.connect(target)
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)
while True:
    client, _ = server.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
"""


@contextmanager
def unix_user(prefix: str = "dtu") -> Iterator[pwd.struct_passwd]:
    """A fresh Unix account (no home, no shell), removed afterwards with its processes."""
    name = f"{prefix}{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        accounts.remove(name)


@contextmanager
def relay_as(user: pwd.struct_passwd, target: Path, directory: Path) -> Iterator[Path]:
    """A socket in `directory` that forwards to the daemon's socket `target`, connecting
    as `user`: `deployctl --socket <it>` then acts as that user, whoever runs it."""
    directory.mkdir(mode=0o755, exist_ok=True)
    os.chown(directory, user.pw_uid, user.pw_gid)
    path = directory / "relay.sock"
    process = subprocess.Popen(
        ["/usr/bin/python3", "-I", "-c", RELAY, str(target), str(path)],
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        cwd="/",
    )
    try:
        deadline = time.monotonic() + 10
        while not path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the relay did not start")
            time.sleep(0.02)
        yield path
    finally:
        process.kill()
        process.wait()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
