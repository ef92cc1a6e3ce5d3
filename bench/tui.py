"""How `deployctl tui` does against a throwaway `deployd dev` holding 21 deployed apps
(20 copies of the example app, and `tests/support/apps/chatty`).

1. Start to first full paint: `deployctl tui` launched in a real terminal (a private tmux
   server, 120x40) until the screen shows the dashboard with the apps listed (the screen
   read every ~10 ms); and in-process (`run_test`, headless) from `DeploydApp(...)` to
   `app.ready`. Median and worst of STARTS runs. Target ≤ 1 s.
2. Event in the daemon to the screen: `Event.at` (stored by the daemon as it publishes) to
   `app.painted[id]` (the TUI has repainted what the event changed), in-process and
   headless, for EVENTS events of each of two kinds sent one every EVENT_EVERY by another
   process: `env.changed` (the activity feed) and apps created and deleted (the explorer
   and the counts too; a created app is fetched with `apps.show` first). p50, p95, max.
   Then in tmux, TMUX_EVENTS env changes each read off the screen (its feed row).
   Target p95 ≤ 250 ms.
3. Idle CPU: the TUI in tmux, settled, its CPU time (user + system, with children) over
   IDLE_SECONDS, as % of one core. The daemon sends a host sample every 10 s, which the
   dashboard repaints: that is intended. Target < 1 %.
4. A flood of FLOOD log lines (chatty's GET /flood) into the Logs tab: the TUI's RSS
   before and after, and the time from asking for the flood to its last line ("flood
   done") on the screen; in tmux, then in-process where `LogView.received` is read;
   beside them, the same flood read from `logs.follow` by a plain client (no screen).

As on a user's machine, the TUI in tmux may cache compiled modules (in a private
PYTHONPYCACHEPREFIX, so the shared virtualenv is not written); its first start compiles
them and is shown apart. The daemon's log rotation is set out of reach
(DEPLOYD_LOG_MAX_BYTES): at the default 10 MiB the second flood passes it, and a rotation
(copy, then truncate) drops what a follower had not read yet. Prints figures; asserts
nothing about them.

    PYTHONPATH=. .venv/bin/python bench/tui.py
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _daemon import BIN, ctl, dev_daemon, free_port  # noqa: E402

from deployctl.client import Client  # noqa: E402
from deployctl.tui.app import DeploydApp  # noqa: E402
from deployctl.tui.logview import LogView  # noqa: E402
from deployd.protocol.apps import AppParams, AppsCreateParams, LogsFollowParams  # noqa: E402
from deployd.protocol.env import EnvSetParams  # noqa: E402

APPS = 20
STARTS = 7
EVENTS = 150
EVENT_EVERY = 0.1
TMUX_EVENTS = 40
IDLE_SECONDS = 60
SETTLE_SECONDS = 10
FLOOD = 100_000
SIZE = (120, 40)
EXAMPLE = ROOT / "examples" / "hello"
CHATTY = ROOT / "tests" / "support" / "apps" / "chatty"
FLOOD_APP = "chatty"  # first in the explorer: one Down highlights it

Figure = tuple[str, str, str]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def spread(values: list[float]) -> str:
    return (
        f"p50 {ms(percentile(values, 0.5))}, p95 {ms(percentile(values, 0.95))}, "
        f"max {ms(max(values))}"
    )


class Terminal:
    """A private tmux server (its own socket), with a session holding it up between runs."""

    def __init__(self, env: dict[str, str]) -> None:
        self.name = f"deployd-bench-tui-{os.getpid()}"
        self.env = env
        self.tmux("new-session", "-d", "-s", "hold", "sleep 100000")

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.name, *args],
            capture_output=True,
            text=True,
            check=True,
            env=self.env,
        ).stdout

    def start(self, command: list[str]) -> None:
        width, height = SIZE
        self.tmux(
            "new-session", "-d", "-s", "tui", "-x", str(width), "-y", str(height),
            shlex.join(["exec", *command]),
        )  # fmt: skip

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "tui")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "tui", *keys)

    def pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", "tui", "#{pane_pid}"))

    def server(self) -> psutil.Process:
        return psutil.Process(int(self.tmux("display-message", "-p", "#{pid}")))

    def wait(self, ready: Callable[[str], bool], timeout: float, every: float = 0.01) -> float:
        """Read the screen until `ready(screen)`; the wall-clock time it was read."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if ready(screen):
                return time.time()
            if time.monotonic() > deadline:
                raise SystemExit(f"the screen was not ready after {timeout} s:\n{screen}")
            time.sleep(every)

    def stop(self) -> None:
        """Quit the TUI as a person would; the session ends with it."""
        process = psutil.Process(self.pid())
        self.keys("q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if process.status() == psutil.STATUS_ZOMBIE:  # tmux reaps it soon
                    return
            except psutil.NoSuchProcess:
                return
            time.sleep(0.01)
        print(f"the TUI did not quit on q:\n{self.screen()}")
        self.tmux("kill-session", "-t", "tui")

    def close(self) -> None:
        self.tmux("kill-server")


def dashboard_up(apps: int) -> Callable[[str], bool]:
    counted = re.compile(rf"│ apps\s+{apps}\s")
    return lambda screen: (
        bool(counted.search(screen)) and FLOOD_APP in screen and ("happened" in screen)
    )


def shows(text: str) -> Callable[[str], bool]:
    return lambda screen: text in screen


def cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        times = each.cpu_times()
        total += times.user + times.system
    return total


def fetch(port: int, app: str, path: str) -> int:
    """GET through the daemon's nginx, as a browser asking for <app>.localhost would."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("GET", path, headers={"Host": f"{app}.localhost"})
        reply = conn.getresponse()
        reply.read()
        return reply.status
    finally:
        conn.close()


async def until(ready: Callable[[], bool], timeout: float = 60, every: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready after {timeout} s")
        await asyncio.sleep(every)


# 1. start to first full paint


def starts_in_tmux(terminal: Terminal, command: list[str], apps: int) -> list[float]:
    """The first start (compiling the modules), then STARTS more."""
    times = []
    for _ in range(STARTS + 1):
        started = time.time()
        terminal.start(command)
        times.append(terminal.wait(dashboard_up(apps), 60) - started)
        terminal.stop()
    return times


def import_seconds(env: dict[str, str]) -> float:
    """`python -c 'import deployctl.tui.app'` beside bare `python -c pass`, median of 5."""
    runs: dict[str, list[float]] = {"pass": [], "import deployctl.tui.app": []}
    for _ in range(5):
        for code, samples in runs.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
            samples.append(time.perf_counter() - started)
    bare, imported = (statistics.median(samples) for samples in runs.values())
    return imported - bare


async def start_in_process(socket: Path) -> float:
    started = time.perf_counter()
    app = DeploydApp(socket)
    async with app.run_test(size=SIZE):
        await until(lambda: app.ready, every=0.002)
        return time.perf_counter() - started


# 2. event in the daemon to the screen


def drive(socket: str, source: str, count: int, apps: list[str]) -> None:
    """In a process of its own (`tui.py drive SOCKET SOURCE COUNT APP...`; the TUI's process
    is the one measured): `count` events of each kind, one every EVENT_EVERY."""
    with Client(Path(socket)) as client:
        for number in range(count):
            app = apps[number % len(apps)]
            changed = EnvSetParams(app=app, set={"BENCH": str(number)}, restart=False)
            client.call("env.set", changed)
            time.sleep(EVENT_EVERY)
        for number in range(count // 2):
            name = f"churn{number:03}"
            client.call("apps.create", AppsCreateParams(name=name, path=source))
            time.sleep(EVENT_EVERY)
            client.call("apps.delete", AppParams(name=name))
            time.sleep(EVENT_EVERY)


async def event_latencies(socket: Path, apps: list[str], source: Path) -> dict[str, list[float]]:
    app = DeploydApp(socket)
    async with app.run_test(size=SIZE):
        await until(lambda: app.ready)
        after = app.state.last_event_id
        driver = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "drive", str(socket), str(source), str(EVENTS), *apps
        )  # fmt: skip
        await driver.wait()
        kinds = {"env.changed": "env.changed", "app.created": "apps", "app.deleted": "apps"}

        def ours() -> list[int]:
            return [e.id for e in app.state.feed if e.id > after and e.kind in kinds]

        await until(lambda: all(event in app.painted for event in ours()), timeout=30)
        await asyncio.sleep(0.5)  # a refetch may repaint after the feed: the later counts
        latencies: dict[str, list[float]] = {"env.changed": [], "apps": []}
        for event in app.state.feed:
            if event.id > after and event.kind in kinds:
                latencies[kinds[event.kind]].append(app.painted[event.id] - event.at.timestamp())
        return latencies


def events_in_tmux(terminal: Terminal, socket: Path, apps: list[str]) -> tuple[list[float], float]:
    """TMUX_EVENTS env changes, each waited for on the screen (its row in the feed); and the
    TUI's CPU time per event."""
    seen: dict[str, float] = {}
    tui = psutil.Process(terminal.pid())
    spent = cpu_seconds(tui)
    with Client(socket) as client:
        for number in range(TMUX_EVENTS):
            name = f"T{number:04}"
            changed = EnvSetParams(app=apps[number % len(apps)], set={name: "1"}, restart=False)
            client.call("env.set", changed)
            seen[name] = terminal.wait(shows(f"set {name}"), 10, every=0.002)
            time.sleep(0.2)
    per_event = (cpu_seconds(tui) - spent) / TMUX_EVENTS
    listed = json.loads(ctl(socket, "events", "--json", "--kind", "env", "--limit", "1000"))
    at = {
        event["message"].rsplit("set ", 1)[1]: datetime.fromisoformat(event["at"]).timestamp()
        for event in listed["events"]
        if "set T" in event["message"]
    }
    return [when - at[name] for name, when in seen.items()], per_event


# 3. idle


def idle_cpu(terminal: Terminal) -> tuple[float, float]:
    """% of a core of the TUI, and of the tmux server, over IDLE_SECONDS."""
    tui, server = psutil.Process(terminal.pid()), terminal.server()
    time.sleep(SETTLE_SECONDS)
    spent, server_spent = cpu_seconds(tui), cpu_seconds(server)
    time.sleep(IDLE_SECONDS)
    return (
        (cpu_seconds(tui) - spent) / IDLE_SECONDS * 100,
        (cpu_seconds(server) - server_spent) / IDLE_SECONDS * 100,
    )


# 4. a flood of log lines


def flood_in_tmux(terminal: Terminal, port: int) -> dict[str, float]:
    tui = psutil.Process(terminal.pid())
    rss_dashboard = tui.memory_info().rss
    terminal.keys("Down")
    time.sleep(0.5)
    terminal.keys("5")
    terminal.wait(lambda s: " lines  ·  following" in s and " connecting " not in s, 30)
    time.sleep(1)
    if "flood done" in terminal.screen():
        raise SystemExit(f"{FLOOD_APP}'s log already shows a flood")
    rss_logs = peak = tui.memory_info().rss
    started = time.time()
    asked = ThreadPoolExecutor(1).submit(fetch, port, FLOOD_APP, f"/flood?lines={FLOOD}")
    while True:
        screen = terminal.screen()
        if "flood done" in screen:
            break
        peak = max(peak, tui.memory_info().rss)
        if time.time() - started > 600:
            raise SystemExit(f"the flood never reached the screen:\n{screen}")
        time.sleep(0.02)
    took = time.time() - started
    asked.result(60)
    counted = re.search(r"([\d,]+) lines  ·", screen)
    time.sleep(2)
    return {
        "took": took,
        "status": float(counted[1].replace(",", "")) if counted else 0.0,
        "rss_dashboard": rss_dashboard,
        "rss_logs": rss_logs,
        "rss_after": tui.memory_info().rss,
        "rss_peak": max(peak, tui.memory_info().rss),
    }


def flood_plain(socket: Path, port: int) -> float:
    """The peer: the same flood read from `logs.follow` by a plain client, seconds to
    "flood done" (what the daemon delivers, with no screen)."""
    with Client(socket, timeout=600) as client:
        _, lines = client.stream("logs.follow", LogsFollowParams(app=FLOOD_APP, lines=1))
        next(lines)
        started = time.perf_counter()
        asked = ThreadPoolExecutor(1).submit(fetch, port, FLOOD_APP, f"/flood?lines={FLOOD}")
        for line in lines:
            if line["line"].endswith("flood done"):
                break
        took = time.perf_counter() - started
        asked.result(60)
        return took


async def flood_in_process(socket: Path, port: int) -> dict[str, float]:
    me = psutil.Process()
    app = DeploydApp(socket)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.ready)
        app.explorer.select(FLOOD_APP)
        await until(lambda: app.shown_app == FLOOD_APP)
        await pilot.press("5")
        main = app.main
        assert main is not None
        await until(lambda: bool(main.query(LogView)))
        view = main.query_one(LogView)
        await until(lambda: view.link.value == "live")
        await asyncio.sleep(1)
        before, rss_before = view.received, me.memory_info().rss
        loop = asyncio.get_running_loop()
        stalls: list[float] = []

        def beat(last: float) -> None:  # how late the event loop runs a callback
            now = time.perf_counter()
            stalls.append(now - last)
            loop.call_later(0.01, beat, now + 0.01)

        loop.call_later(0.01, beat, time.perf_counter() + 0.01)
        started = time.perf_counter()
        asked = asyncio.create_task(
            asyncio.to_thread(fetch, port, FLOOD_APP, f"/flood?lines={FLOOD}")
        )

        def arrived() -> bool:
            return view.received > before + FLOOD and view.buffer[-1].endswith("flood done")

        await until(arrived, timeout=600)
        received = time.perf_counter() - started
        await until(lambda: view.lines.lines[-1].text.rstrip().endswith("flood done"))
        painted = time.perf_counter() - started
        await asked
        return {
            "lines": view.received - before,
            "received": received,
            "painted": painted,
            "stall": max(stalls),
            "rss_before": rss_before,
            "rss_after": me.memory_info().rss,
            "buffered": len(view.buffer),
        }


# the platform


@contextmanager
def sources() -> Iterator[tuple[Path, Path]]:
    """World-readable copies of the example and of chatty (the apps' accounts read them)."""
    base = Path(tempfile.mkdtemp(prefix="deployd-bench-tui-", dir="/tmp"))
    base.chmod(0o755)
    try:
        for source in (EXAMPLE, CHATTY):
            shutil.copytree(source, base / source.name)
            (base / source.name).chmod(0o755)
        yield base / EXAMPLE.name, base / CHATTY.name
    finally:
        shutil.rmtree(base, ignore_errors=True)


def starts(terminal: Terminal, socket: Path, command: list[str], count: int) -> list[Figure]:
    first, *runs = starts_in_tmux(terminal, command, count)
    print("start to full paint in tmux:", ms(first), "(compiling);", *map(ms, runs))
    inside = [asyncio.run(start_in_process(socket)) for _ in range(STARTS)]
    print("start to app.ready in-process:", *map(ms, inside))
    return [
        (
            "start to dashboard painted, tmux",
            f"median {ms(statistics.median(runs))}, worst {ms(max(runs))}",
            "≤ 1 s",
        ),
        ("  of which importing deployctl.tui.app", ms(import_seconds(terminal.env)), ""),
        ("  the first start (compiling the modules)", ms(first), ""),
        (
            "start to app.ready, in-process (headless)",
            f"median {ms(statistics.median(inside))}, worst {ms(max(inside))}",
            "≤ 1 s",
        ),
    ]


def events(
    terminal: Terminal, socket: Path, command: list[str], apps: list[str], source: Path
) -> list[Figure]:
    """In-process first, with no other TUI taking events (and CPU); then in tmux."""
    latencies = asyncio.run(event_latencies(socket, apps, source))
    terminal.start(command)
    terminal.wait(dashboard_up(len(apps) + 1), 60)
    seen, per_event = events_in_tmux(terminal, socket, apps)
    return [
        *(
            (
                f"event to screen, in-process, {label}, {len(latencies[kind])} events",
                spread(latencies[kind]),
                "p95 ≤ 250 ms",
            )
            for kind, label in (("env.changed", "env.changed"), ("apps", "apps created/deleted"))
        ),
        (
            f"event to screen, tmux (read off the screen), env.changed, {len(seen)}",
            spread(seen),
            "p95 ≤ 250 ms",
        ),
        ("  CPU of the TUI per env.changed event", ms(per_event), ""),
    ]


def floods(terminal: Terminal, socket: Path, port: int) -> list[Figure]:
    tmux = flood_in_tmux(terminal, port)
    terminal.stop()
    inside = asyncio.run(flood_in_process(socket, port))
    plain = flood_plain(socket, port)
    return [
        (
            f"{FLOOD:,} log lines to 'flood done' on screen, tmux",
            f"{tmux['took']:.2f} s ({FLOOD / tmux['took']:,.0f} lines/s); "
            f"status: {tmux['status']:,.0f} lines",
            "",
        ),
        (
            "  TUI RSS: dashboard / Logs open / flooded (peak)",
            f"{mb(tmux['rss_dashboard'])} / {mb(tmux['rss_logs'])} / "
            f"{mb(tmux['rss_after'])} ({mb(tmux['rss_peak'])})",
            "",
        ),
        (
            f"{FLOOD:,} log lines, in-process: received / painted",
            f"{inside['received']:.2f} s / {inside['painted']:.2f} s "
            f"({inside['lines']:,.0f} received, {inside['buffered']:,.0f} kept); "
            f"longest stall of the event loop {ms(inside['stall'])}",
            "",
        ),
        (
            f"  the peer: {FLOOD:,} lines read from logs.follow by a plain client",
            f"{plain:.2f} s ({FLOOD / plain:,.0f} lines/s)",
            "",
        ),
        (
            "  RSS of the process before / after",
            f"{mb(inside['rss_before'])} / {mb(inside['rss_after'])}",
            "",
        ),
    ]


def main() -> None:
    port = free_port()
    cache = Path(tempfile.mkdtemp(prefix="deployd-bench-pycache-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    settings = {"DEPLOYD_HOST_SAMPLE_SECONDS": "10", "DEPLOYD_LOG_MAX_BYTES": str(2**30)}
    figures: list[Figure] = []
    with (
        sources() as (example, chatty),
        dev_daemon(
            ["--no-example", "--http-port", str(port), "--https-port", str(free_port())],
            settings,
        ) as (socket, _),
    ):
        apps = [f"web{number:02}" for number in range(1, APPS + 1)]
        started = time.perf_counter()
        for name, source in [(FLOOD_APP, chatty), *((app, example) for app in apps)]:
            ctl(socket, "apps", "create", name, "--path", str(source))
            ctl(socket, "deploy", name)
        print(f"{len(apps) + 1} apps created and deployed in {time.perf_counter() - started:.0f} s")
        command = [str(BIN / "deployctl"), "--socket", str(socket), "tui"]
        terminal = Terminal(env)
        try:
            figures += starts(terminal, socket, command, len(apps) + 1)
            figures += events(terminal, socket, command, apps, example)
            idle, tmux_idle = idle_cpu(terminal)
            figures.append(
                (
                    f"idle CPU, {len(apps) + 1} apps, {IDLE_SECONDS} s, tmux",
                    f"{idle:.2f} % of a core (the tmux server: {tmux_idle:.2f} %)",
                    "< 1 %",
                )
            )
            figures += floods(terminal, socket, port)
        finally:
            terminal.close()
            shutil.rmtree(cache, ignore_errors=True)
    print()
    width = max(len(label) for label, _, _ in figures)
    for label, value, target in figures:
        print(f"{label:<{width}}  {value}" + (f"   [target {target}]" if target else ""))


if __name__ == "__main__":
    if sys.argv[1:2] == ["drive"]:
        drive(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
    else:
        main()
