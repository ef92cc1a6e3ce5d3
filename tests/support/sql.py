"""Reading one row in a test, with the row's absence a clear failure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg


def one(conn: psycopg.Connection[Any], query: str, params: Sequence[object] = ()) -> Any:
    """The first column of the one row `query` returns."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]
