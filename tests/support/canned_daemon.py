"""A stand-in for the daemon that answers the real wire protocol with fixed results.

For what a real daemon cannot give a test: screens that look the same on every run (the
snapshot tests: no pids, times or CPU figures that change) and a daemon that vanishes and
comes back on demand (the reconnection tests). Every answer is a protocol model, so a
change of the protocol breaks the stand-in where it would break the client.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from deployd.protocol import framing
from deployd.protocol.apps import (
    AppInfo,
    AppsPsResult,
    LogsFollowStarted,
    ProcessInfo,
    ReleaseInfo,
    ReleasesListResult,
    SlotInfo,
)
from deployd.protocol.common import Identity, Role
from deployd.protocol.databases import (
    BackupInfo,
    DbBackupsResult,
    DbInfo,
    DbLink,
    DbListResult,
    SizeHistory,
    SizePoint,
)
from deployd.protocol.domains import DomainInfo, DomainsListResult
from deployd.protocol.env import EnvListResult, EnvVar
from deployd.protocol.events import Event, EventsSubscribeResult, HostSample
from deployd.protocol.github import HookDeliveryResult, HookVerdict
from deployd.protocol.snapshot import SnapshotResult
from deployd.protocol.stats import AppStats, StatsResult, Totals
from deployd.protocol.system import DatabaseStatus, HelloResult, HostFacts, StatusResult

T0 = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


def _app(name: str, release: int | None, live: bool = True, job: int | None = None) -> AppInfo:
    return AppInfo(
        name=name,
        source_kind="git",
        source=f"https://git.example.com/{name}.git",
        branch="main",
        runtime="process",
        live_slot="blue" if live and release else None,
        live_release=release,
        url=f"http://{name}.example.com/",
        created_at=T0,
        slots=[
            SlotInfo(
                name="blue",
                port=20000,
                state="live" if live and release else "stopped",
                release=release,
                pid=None,
            ),
            SlotInfo(name="green", port=20001, state="empty", release=None, pid=None),
        ],
        active_job=job,
    )


APPS = [
    _app("shop", 7),
    _app("blog", 3),
    _app("api", 12, job=41),
    _app("worker", 2, live=False),
    _app("docs", None),
]

EVENTS = [
    Event(
        id=9,
        at=T0 + timedelta(minutes=9),
        kind="deploy.started",
        app="api",
        message="deploy job 41 started",
        data={"job": 41},
    ),
    Event(
        id=8,
        at=T0 + timedelta(minutes=8),
        kind="db.backup_verified",
        app=None,
        message="shopdb: backup 3 verified (1.2 MiB, 14 tables)",
    ),
    Event(
        id=7,
        at=T0 + timedelta(minutes=7),
        kind="app.crashed",
        app="blog",
        message="web.1 exited with status 1; restarting in 2 s",
    ),
    Event(
        id=6,
        at=T0 + timedelta(minutes=6),
        kind="deploy.live",
        app="shop",
        message="v7 is live at http://shop.example.com/",
        data={"job": 40, "release": 7},
    ),
    Event(
        id=5,
        at=T0 + timedelta(minutes=5),
        kind="cert.renewed",
        app="shop",
        message="shop.example.com: certificate renewed until 2027-02-27",
    ),
    Event(
        id=4,
        at=T0 + timedelta(minutes=4),
        kind="user.login",
        app=None,
        actor="ada",
        message="ada logged in",
    ),
]

HOST = HostSample(
    cpu_percent=12.5,
    memory_used=3 * 2**30,
    memory_total=24 * 2**30,
    load1=0.42,
    disk_percent=61.0,
    requests_per_s=18.4,
    errors_per_s=0.2,
)


def _totals(requests: int) -> Totals:
    return Totals(
        requests=requests,
        bytes=requests * 2000,
        statuses={"2xx": requests},
        errors_rate=0.001,
        p50_ms=12.0,
        p95_ms=80.0,
        p99_ms=140.0,
        visitors=42,
    )


def status(role: Role) -> StatusResult:
    return StatusResult(
        version="0.1.0",
        protocol=1,
        mode="serve",
        pid=4242,
        started_at=T0,
        uptime_seconds=3600.0,
        root="/var/lib/deployd",
        socket="/run/deployd/deployd.sock",
        database=DatabaseStatus(state="ok", server_version="15.8"),
        host=HostFacts(
            hostname="box",
            os="Debian GNU/Linux 12",
            kernel="6.1",
            python="3.11",
            cpus=2,
            memory_bytes=24 * 2**30,
            root=True,
            systemd=True,
            docker=False,
        ),
        identity=Identity(user="ada" if role is Role.ADMIN else "vic", role=role),
        connections=1,
    )


DATABASES = [
    DbInfo(
        name="shopdb",
        host="127.0.0.1",
        port=5432,
        user="shopdb",
        password=None,
        url=None,
        links=[DbLink(app="shop", variable="DATABASE_URL")],
        size_bytes=9 * 2**20,
        connections=3,
        created_at=T0,
        schedule="daily 03:00",
        keep=14,
        last_backup_at=T0,
        last_verified_at=T0,
        backup_overdue=False,
    ),
]


def canned(role: Role) -> dict[str, BaseModel]:
    """Each method's one answer."""
    return {
        "system.snapshot": SnapshotResult(
            status=status(role),
            apps=APPS,
            events=EVENTS,
            last_event_id=9,
            host=HOST,
            traffic=[
                AppStats(app="shop", totals=_totals(5400)),
                AppStats(app="blog", totals=_totals(800)),
            ],
            databases=DATABASES,
        ),
        "apps.show": APPS[0],
        "apps.ps": AppsPsResult(
            app="shop",
            stopped=False,
            live_release=7,
            formation={"web": 2, "worker": 1},
            processes=[
                ProcessInfo(
                    name=f"{kind}.{index}",
                    type=kind,
                    slot="blue",
                    release=7,
                    state="up",
                    pid=None,
                    port=20000 if kind == "web" else None,
                    started_at=T0,
                    restarts=0,
                    last_exit=None,
                    cpu_percent=1.5,
                    rss_bytes=48 * 2**20,
                )
                for kind, index in (("web", 1), ("web", 2), ("worker", 1))
            ],
        ),
        "releases.list": ReleasesListResult(
            releases=[
                ReleaseInfo(
                    version=v,
                    commit=f"{v:07x}abcdef",
                    ref="main",
                    status="live" if v == 7 else "superseded",
                    error=None,
                    created_by="ada",
                    created_at=T0 - timedelta(days=7 - v),
                    live_at=T0 - timedelta(days=7 - v),
                    live=v == 7,
                    kept=v >= 3,
                )
                for v in range(7, 0, -1)
            ]
        ),
        "env.list": EnvListResult(
            app="shop",
            version=4,
            live_version=4,
            revealed=False,
            vars=[
                EnvVar(name="DATABASE_URL", value="post…****"),
                EnvVar(name="STRIPE_KEY", value="sk_l…****"),
            ],
        ),
        "domains.list": DomainsListResult(
            app="shop",
            domains=[
                DomainInfo(
                    domain="shop.example.com",
                    app="shop",
                    url="https://shop.example.com/",
                    tls=True,
                    hsts=True,
                    redirect=True,
                    dns_ok=True,
                    dns_detail="A 203.0.113.7",
                    dns_checked_at=T0,
                    issuer="R11",
                    not_after=T0 + timedelta(days=89),
                    last_error=None,
                    failures=0,
                )
            ],
        ),
        "stats.show": StatsResult(
            since=T0 - timedelta(days=1),
            until=T0,
            resolution="hour",
            apps=[AppStats(app="shop", totals=_totals(5400))],
            percentile_error=0.01,
        ),
        "databases.list": DbListResult(databases=DATABASES),
        "databases.show": DATABASES[0].model_copy(
            update={
                "size_history": SizeHistory(
                    since=T0 - timedelta(days=7),
                    until=T0,
                    points=[  # a week, one point every 2 hours: grows by day, not at night
                        SizePoint(
                            at=T0 - timedelta(hours=2 * n),
                            bytes=9 * 2**20 - (n // 12) * 2**19 - (n % 12 > 6) * 2**17,
                        )
                        for n in range(84, -1, -1)
                    ],
                )
            }
        ),
        "databases.backups": DbBackupsResult(
            database="shopdb",
            backups=[
                BackupInfo(
                    id=n,
                    database="shopdb",
                    status="verified",
                    trigger="schedule",
                    started_at=T0 - timedelta(days=3 - n),
                    finished_at=None,
                    size_bytes=(1200 + n) * 1024,
                    sha256="0" * 64,
                    tables=14,
                    rows=10_000 + n,
                    error=None,
                    location="local+remote",
                    remote="copied",
                )
                for n in (3, 2, 1)
            ],
        ),
        "system.hello": HelloResult(protocol=1, version="0.1.0", identity=status(role).identity),
        "github.receive": HookDeliveryResult(
            status=202,
            verdict=HookVerdict.DEPLOYED,
            reason="push to main of acme/shop: deploying 1234567 as job 43",
            job=43,
        ),
        "events.subscribe": EventsSubscribeResult(subscribed=True, last_id=9),
        "logs.follow": LogsFollowStarted(following="shop"),
    }


class CannedDaemon:
    """Serves `canned()` on a Unix socket until stopped; `drop()` cuts every connection
    and refuses new ones until `back()` (a daemon restarting)."""

    def __init__(self, path: Path, role: Role = Role.ADMIN) -> None:
        self.path = path
        self.answers = {name: model.model_dump(mode="json") for name, model in canned(role).items()}
        self.connections: set[socket.socket] = set()
        self.calls: list[str] = []
        self.params: list[dict[str, Any]] = []
        """Each call's params, in the order the calls came."""
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        daemon = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with daemon._lock:
                    daemon.connections.add(self.connection)
                try:
                    for line in self.rfile:
                        daemon._answer(self.connection, json.loads(line))
                except (OSError, ValueError):
                    pass
                finally:
                    with daemon._lock:
                        daemon.connections.discard(self.connection)

        self.path.unlink(missing_ok=True)
        server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def _answer(self, conn: socket.socket, request: dict[str, Any]) -> None:
        method = request["method"]
        self.calls.append(method)
        self.params.append(request.get("params") or {})
        result = self.answers.get(method)
        if result is None:
            from deployd.protocol.errors import ErrorKind, RpcError

            reply = framing.error(request["id"], RpcError(ErrorKind.NOT_FOUND, f"no {method} here"))
        else:
            reply = framing.result(request["id"], result)
        conn.sendall(framing.encode(reply))

    def notify(self, method: str, params: BaseModel) -> None:
        """Send a notification on every open connection (the streams listen)."""
        message = framing.encode(framing.notification(method, params.model_dump(mode="json")))
        with self._lock:
            for conn in list(self.connections):
                with suppress(OSError):
                    conn.sendall(message)

    def drop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for conn in list(self.connections):
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self.connections.clear()
        self.path.unlink(missing_ok=True)

    def back(self) -> None:
        self.start()


@contextmanager
def canned_daemon(directory: Path, role: Role = Role.ADMIN) -> Iterator[CannedDaemon]:
    daemon = CannedDaemon(directory / "deployd.sock", role)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.drop()
