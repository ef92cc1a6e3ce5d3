"""`deployd dev --web-port` for the web GUI's tests, and a person's way in over HTTP."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from deployd.store.cluster import PrivateCluster

from .daemon import RunningDaemon, free_port, kill_leftovers, start_daemon, world_readable_tempdir
from .waiting import wait_for

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class DevWeb:
    daemon: RunningDaemon
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_user(self, name: str, role: str, unix_user: str | None = None) -> str:
        """A deployd user with a password (and the Unix account whose rights the local
        sources they name are read with, if any)."""
        password = f"{name}-password-1"
        params: dict[str, object] = {"name": name, "role": role, "password": password}
        params["unix_user"] = unix_user
        self.daemon.call("users.add", params)
        return password

    def audit(self, method: str) -> list[Any]:
        entries = self.daemon.call("audit.list", {"limit": 10_000}).entries  # type: ignore[attr-defined]
        return [e for e in entries if e.method == method]


@contextlib.contextmanager
def dev_web(prefix: str, env: dict[str, str] | None = None) -> Iterator[DevWeb]:
    """`deployd dev` with its web part and the example app `hello` live."""
    base = world_readable_tempdir(prefix)
    root = base / "root"
    port = free_port()
    args = ["dev", "--root", str(root), "--web-port", str(port)]
    daemon = start_daemon(args, root, env)
    try:
        running = DevWeb(daemon, port)
        wait_for(lambda: httpx.get(f"{running.url}/healthz").json()["daemon_answers"], 30)
        wait_for(lambda: daemon.call("apps.show", {"name": "hello"}).live_release, 120)  # type: ignore[attr-defined]
        yield running
    finally:
        daemon.stop()
        print(f"--- deployd dev log ({root}) ---\n{daemon.output()}")
        PrivateCluster(root / "pg").stop()
        kill_leftovers(root)
        shutil.rmtree(base, ignore_errors=True)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found[1]


def browser(web: DevWeb, address: str) -> httpx.Client:
    """A client as a browser at `address` behind the loopback proxy uvicorn believes."""
    return httpx.Client(base_url=web.url, headers={"X-Forwarded-For": address}, timeout=30)


def log_in(client: httpx.Client, name: str, password: str) -> httpx.Response:
    form = client.get("/login")
    assert form.status_code == 200, form.text
    fields = {"csrf": csrf_of(form.text), "name": name, "password": password, "next": "/"}
    return client.post("/login", data=fields)


def frames(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Server-Sent Events as dicts of their fields (comments left out)."""
    frame: dict[str, str] = {}
    for line in lines:
        if not line:
            if frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            frame[key] = value.removeprefix(" ")


__all__ = ["DevWeb", "browser", "csrf_of", "dev_web", "frames", "log_in"]
