"""The web GUI's figures (issue 17), against a throwaway `deployd dev --web-port`.

1. Page first byte, in the web process: the dashboard, the apps and an app's page (one
   never deployed, one running) with APPS apps and a full feed (100 events), logged in,
   a kept HTTP connection, PAGES each;
   beside it what the daemon takes for the same `system.snapshot` over the socket, so the
   web process's own share (connection and token check, rendering) shows.
2. An event in the daemon to the DOM updated in a browser: Debian's Chromium on the
   dashboard; EVENTS users added one by one, from the event's time (stored by the daemon)
   to the row's insertion seen by a MutationObserver (the same clock: one host).
3. The web process's RSS: started, idle after the pages, and with the browser's stream open.

Prints figures; asserts nothing about them.

    PYTHONPATH=. .venv/bin/python bench/web_gui.py
"""

from __future__ import annotations

import asyncio
import http.client
import re
import statistics
import time
from datetime import datetime
from pathlib import Path

import psutil
from _daemon import dev_daemon, free_port
from playwright.sync_api import sync_playwright

from deployctl.aio import AsyncClient
from deployctl.client import Client
from deployd.protocol.common import NoParams
from deployd.protocol.snapshot import SnapshotResult

APPS = 20
PAGES = 50
EVENTS = 40
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello"
PASSWORD = "bench-password-1"  # noqa: S105 (a throwaway user of a throwaway daemon)


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):.1f}, p95 {p95:.1f}, max {ordered[-1]:.1f} ms"


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


class Session:
    """A logged-in browser's HTTP, on one kept connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str, float]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        reply = self.conn.getresponse()  # returns once the status line and headers are in
        first = (time.perf_counter() - started) * 1000
        text = reply.read().decode()
        for header in reply.headers.get_all("set-cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";")[0]
        return reply.status, text, first

    def log_in(self, name: str, password: str) -> None:
        _, form, _ = self.request("GET", "/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)[1]  # type: ignore[index]
        status, _, _ = self.request(
            "POST", "/login", f"csrf={csrf}&name={name}&password={password}"
        )
        assert status == 303, status


async def snapshot_ms(socket: Path, count: int) -> list[float]:
    client = await AsyncClient.connect(socket)
    took = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            await client.call_as(SnapshotResult, "system.snapshot", NoParams())
            took.append((time.perf_counter() - started) * 1000)
    finally:
        await client.close()
    return took


def web_pid(dev_pid: int) -> int:
    return next(c.pid for c in psutil.Process(dev_pid).children() if "web" in c.cmdline())


def main() -> None:
    port = free_port()
    with dev_daemon(["--no-example", "--web-port", str(port)]) as (socket, process):
        pid = web_pid(process.pid)
        time.sleep(2)
        started_rss = rss_mb(pid)
        with Client(socket) as admin:
            admin.call("users.add", {"name": "bench", "role": "deployer", "password": PASSWORD})
            for n in range(APPS):
                admin.call("apps.create", {"name": f"app{n:02d}", "path": str(EXAMPLE)})
            for n in range(100):  # a full feed
                admin.call("tokens.create", {"name": "admin", "label": f"bench {n}"})
            job = admin.call("deploys.start", {"app": "app00"}).id  # one app with a process
            while admin.call("deploys.show", {"job": job}).state not in ("succeeded", "failed"):
                time.sleep(0.2)
        session = Session(port)
        session.log_in("bench", PASSWORD)
        print(f"== {APPS} apps, 100+ events; {PAGES} requests each, after 5 to warm up")
        for path in ("/", "/apps", "/apps/app07", "/apps/app00"):
            for _ in range(5):
                session.request("GET", path)
            firsts = []
            for _ in range(PAGES):
                status, text, first = session.request("GET", path)
                assert status == 200, (status, text[:300])
                firsts.append(first)
            print(f"first byte {path:12} {ms(firsts)}  ({len(text) / 1024:.0f} KiB)")
        daemon_part = ms(asyncio.run(snapshot_ms(socket, PAGES)))
        print(f"system.snapshot over the socket (the daemon's part): {daemon_part}")
        idle_rss = rss_mb(pid)

        print(f"== event in the daemon -> the DOM updated, {EVENTS} events")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--no-first-run"],
            )  # fmt: skip
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/login")
            page.get_by_label("User").fill("bench")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.locator("#live", has_text="live").wait_for()
            page.evaluate("""() => {
                window.seen = {};
                new MutationObserver(changes => {
                    for (const change of changes) for (const row of change.addedNodes)
                        if (row.dataset && row.dataset.id) window.seen[row.dataset.id] = Date.now();
                }).observe(document.querySelector('#feed tbody'), {childList: true});
            }""")
            delays = []
            with Client(socket) as admin:
                for n in range(EVENTS):
                    admin.call("users.add", {"name": f"mark{n}", "role": "viewer"})
                    event = admin.call("events.list", {"kinds": ["user.added"], "limit": 1}).events[
                        -1
                    ]
                    page.wait_for_function(f"window.seen['{event.id}'] !== undefined")
                    shown = page.evaluate(f"window.seen['{event.id}']") / 1000
                    delays.append((shown - datetime.timestamp(event.at)) * 1000)
                    time.sleep(0.1)
            print(f"event stored -> row in the DOM: {ms(delays)}")
            streaming_rss = rss_mb(pid)
            browser.close()
        print("== deployd web's RSS")
        print(f"started {started_rss:.1f} MB, idle after the pages {idle_rss:.1f} MB, "
              f"with a browser's stream open {streaming_rss:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
