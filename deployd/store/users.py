"""Users: name, role, bcrypt hash, the Unix account mapped to them."""

from __future__ import annotations

from psycopg import AsyncConnection

from .db import Row

Conn = AsyncConnection[Row]

_COLUMNS = (
    "id, name, role, unix_user, password_hash IS NOT NULL AS has_password, builtin, created_at"
)


async def list_all(conn: Conn) -> list[Row]:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name")
    return await cursor.fetchall()


async def get(conn: Conn, name: str) -> Row | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM users WHERE name = %s", (name,))
    return await cursor.fetchone()


async def by_unix_user(conn: Conn, unix_user: str) -> Row | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM users WHERE unix_user = %s", (unix_user,))
    return await cursor.fetchone()


async def builtin_admin(conn: Conn) -> Row | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM users WHERE builtin ORDER BY id LIMIT 1")
    return await cursor.fetchone()


async def password_hash(conn: Conn, name: str) -> str | None:
    cursor = await conn.execute("SELECT password_hash FROM users WHERE name = %s", (name,))
    row = await cursor.fetchone()
    return row["password_hash"] if row else None


async def insert(
    conn: Conn,
    *,
    name: str,
    role: str,
    password_hash: str | None,
    unix_user: str | None,
    builtin: bool = False,
) -> Row:
    cursor = await conn.execute(
        f"""INSERT INTO users (name, role, password_hash, unix_user, builtin)
            VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
        (name, role, password_hash, unix_user, builtin),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def set_password(conn: Conn, name: str, password_hash: str) -> bool:
    cursor = await conn.execute(
        "UPDATE users SET password_hash = %s, updated_at = now() WHERE name = %s",
        (password_hash, name),
    )
    return cursor.rowcount == 1


async def delete(conn: Conn, name: str) -> bool:
    cursor = await conn.execute("DELETE FROM users WHERE name = %s", (name,))
    return cursor.rowcount == 1


async def count_admins(conn: Conn) -> int:
    cursor = await conn.execute("SELECT count(*) AS n FROM users WHERE role = 'admin'")
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def count(conn: Conn) -> int:
    cursor = await conn.execute("SELECT count(*) AS n FROM users")
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def set_role(conn: Conn, name: str, role: str) -> bool:
    cursor = await conn.execute(
        "UPDATE users SET role = %s, updated_at = now() WHERE name = %s", (role, name)
    )
    return cursor.rowcount == 1
