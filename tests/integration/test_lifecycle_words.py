"""The engine's enums and the database's CHECK constraints name the same values: a value
added on one side only would fail at the first write (or never be read back)."""

from __future__ import annotations

import asyncio
import re
from enum import StrEnum

import psycopg
import pytest
from psycopg.rows import dict_row

from deployd.config import resource_dir
from deployd.domain.lifecycle import JobKind, JobState, ReleaseStatus
from deployd.domain.slots import SlotState
from deployd.store import migrate


async def _migrate(conninfo: str) -> None:
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, row_factory=dict_row
    ) as conn:
        await migrate.migrate(conn, resource_dir("migrations"))


def _allowed(conninfo: str, table: str, column: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            """SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
               JOIN pg_class t ON t.oid = c.conrelid
               WHERE t.relname = %s AND c.contype = 'c'""",
            (table,),
        ).fetchall()
    definitions = [r[0] for r in rows if re.search(rf"\b{column}\b", r[0])]
    assert len(definitions) == 1, definitions
    return set(re.findall(r"'([a-z_]+)'::text", definitions[0]))


@pytest.mark.parametrize(
    ("table", "column", "words"),
    [
        ("releases", "status", ReleaseStatus),
        ("jobs", "kind", JobKind),
        ("jobs", "state", JobState),
        ("slots", "state", SlotState),
    ],
)
def test_the_enum_and_the_constraint_agree(
    fresh_db: str, table: str, column: str, words: type[StrEnum]
) -> None:
    asyncio.run(_migrate(fresh_db))
    assert _allowed(fresh_db, table, column) == {w.value for w in words}
