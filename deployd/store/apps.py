"""Apps and their two slots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

from deployd.domain.slots import SlotState

from . import releases
from .db import Row
from .releases import ReleaseRow

Conn = AsyncConnection[Row]


@dataclass(frozen=True, slots=True)
class AppRow:
    name: str
    source_kind: str
    """`git` or `path`."""
    source: str
    branch: str | None
    runtime: str
    """What it asked for: auto, process, docker or systemd."""
    live_slot: str | None
    created_at: datetime
    env_version: int | None
    """The config version its next release starts with (None: no config yet)."""
    source_uid: int | None
    """The Unix user who created it: `--path` and `file://` sources are read as them."""
    stopped: bool
    """`deployctl stop`: nothing runs and its address says so until `start`."""


def _app(row: Row) -> AppRow:
    return AppRow(**row)


_APP = """name, source_kind, source, branch, runtime, live_slot, created_at, env_version,
          source_uid, stopped"""


@dataclass(frozen=True, slots=True)
class SlotRow:
    """One of an app's two slots as the store holds it (the slot machine's `Slot`, with
    what healing and the runtime keep beside it)."""

    app: str
    name: str
    port: int
    """The slot's first port (older deployds' only one); web ports are in `processes`."""
    state: SlotState
    release_id: int | None
    release: int | None
    """Its release's number, as users know it (v<release>)."""
    pid: int | None
    pid_started_at: float | None
    """The handle of its first process, kept with the state it was recorded with."""
    changed_at: datetime | None
    restarts: int
    next_restart_at: datetime | None
    last_exit: str | None
    health_failures: int
    runtime: str
    """The runtime its processes were last started on (`process` before any)."""


def _slot(row: Row) -> SlotRow:
    return SlotRow(**{**row, "state": SlotState(row["state"])})


_SLOT = """app, name, port, state, release_id, pid, pid_started_at, changed_at, restarts,
           next_restart_at, last_exit, health_failures, runtime,
           (SELECT version FROM releases WHERE releases.id = slots.release_id) AS release"""


async def list_all(conn: Conn) -> list[AppRow]:
    cursor = await conn.execute(f"SELECT {_APP} FROM apps ORDER BY name")
    return [_app(r) for r in await cursor.fetchall()]


async def get(conn: Conn, name: str, *, lock: bool = False) -> AppRow | None:
    suffix = " FOR UPDATE" if lock else ""
    cursor = await conn.execute(f"SELECT {_APP} FROM apps WHERE name = %s{suffix}", (name,))
    row = await cursor.fetchone()
    return _app(row) if row is not None else None


async def insert(
    conn: Conn,
    *,
    name: str,
    source_kind: str,
    source: str,
    branch: str | None,
    runtime: str,
    ports: list[int],
    source_uid: int | None,
) -> AppRow:
    cursor = await conn.execute(
        f"""INSERT INTO apps (name, source_kind, source, branch, runtime, source_uid)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_APP}""",
        (name, source_kind, source, branch, runtime, source_uid),
    )
    row = await cursor.fetchone()
    assert row is not None
    for slot, port in zip(("blue", "green"), ports, strict=True):
        await conn.execute(
            "INSERT INTO slots (app, name, port) VALUES (%s, %s, %s)", (name, slot, port)
        )
        await conn.execute(
            "INSERT INTO web_ports (app, slot, index, port) VALUES (%s, %s, 1, %s)",
            (name, slot, port),
        )
    return _app(row)


async def delete(conn: Conn, name: str) -> bool:
    cursor = await conn.execute("DELETE FROM apps WHERE name = %s", (name,))
    return cursor.rowcount == 1


async def set_live_slot(conn: Conn, name: str, slot: str | None) -> None:
    await conn.execute("UPDATE apps SET live_slot = %s WHERE name = %s", (slot, name))


async def set_stopped(conn: Conn, name: str, stopped: bool) -> None:
    """`deployctl stop` (nothing runs until `start`) and `start`."""
    await conn.execute("UPDATE apps SET stopped = %s WHERE name = %s", (stopped, name))


async def all_ports(conn: Conn) -> list[int]:
    """Every port a slot or a web process holds."""
    cursor = await conn.execute("SELECT port FROM slots UNION SELECT port FROM web_ports")
    return [r["port"] for r in await cursor.fetchall()]


async def slots(conn: Conn, app: str) -> list[SlotRow]:
    cursor = await conn.execute(f"SELECT {_SLOT} FROM slots WHERE app = %s ORDER BY name", (app,))
    return [_slot(r) for r in await cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class LiveSlot:
    """The slot nginx sends an app's traffic to, and the release in it."""

    slot: SlotRow
    release: ReleaseRow


async def live(conn: Conn, app: str) -> LiveSlot | None:
    """The app's live slot, whatever its state now (crashed, suspended...), and its
    release; None before the app's first switch."""
    cursor = await conn.execute(
        f"""SELECT {_SLOT} FROM slots
            WHERE app = %s AND name = (SELECT live_slot FROM apps WHERE name = %s)""",
        (app, app),
    )
    row = await cursor.fetchone()
    if row is None or row["release_id"] is None:
        return None
    release = await releases.get(conn, row["release_id"])
    return LiveSlot(_slot(row), release) if release is not None else None


async def all_slots(conn: Conn) -> list[SlotRow]:
    cursor = await conn.execute(f"SELECT {_SLOT} FROM slots ORDER BY app, name")
    return [_slot(r) for r in await cursor.fetchall()]


async def save_slot(
    conn: Conn,
    app: str,
    name: str,
    *,
    expected_state: SlotState,
    state: SlotState,
    release_id: int | None,
    pid: int | None = None,
    pid_started_at: float | None = None,
) -> bool:
    """Compare-and-set: False when the slot is no longer in `expected_state` (someone else
    moved it first), so two actors can never both act on one observation."""
    cursor = await conn.execute(
        """UPDATE slots SET state = %s, release_id = %s, pid = %s, pid_started_at = %s,
                            changed_at = now(), health_failures = 0
           WHERE app = %s AND name = %s AND state = %s""",
        (state, release_id, pid, pid_started_at, app, name, expected_state),
    )
    return cursor.rowcount == 1


async def save_healing(
    conn: Conn,
    app: str,
    name: str,
    *,
    restarts: int,
    next_restart_at: datetime | None,
    last_exit: str | None,
) -> None:
    await conn.execute(
        """UPDATE slots SET restarts = %s, next_restart_at = %s, last_exit = %s
           WHERE app = %s AND name = %s""",
        (restarts, next_restart_at, last_exit, app, name),
    )


async def count_health_failure(conn: Conn, app: str, name: str, failed: bool) -> int:
    cursor = await conn.execute(
        """UPDATE slots SET health_failures = CASE WHEN %s THEN health_failures + 1 ELSE 0 END
           WHERE app = %s AND name = %s RETURNING health_failures""",
        (failed, app, name),
    )
    row = await cursor.fetchone()
    return int(row["health_failures"]) if row else 0


async def set_slot_runtime(conn: Conn, app: str, name: str, runtime: str) -> None:
    await conn.execute(
        "UPDATE slots SET runtime = %s WHERE app = %s AND name = %s", (runtime, app, name)
    )


async def set_runtime(conn: Conn, name: str, runtime: str) -> None:
    await conn.execute("UPDATE apps SET runtime = %s WHERE name = %s", (runtime, name))


async def set_source(
    conn: Conn, name: str, source_kind: str, source: str, branch: str | None
) -> None:
    """A new source from the next deploy (`github connect`); read as the daemon's own
    account, since a network source has no reader of its own."""
    await conn.execute(
        """UPDATE apps SET source_kind = %s, source = %s, branch = %s, source_uid = NULL
           WHERE name = %s""",
        (source_kind, source, branch, name),
    )
