"""`python -m bot migrate --to postgresql://...`: move a bot's SQLite database into an empty PostgreSQL one.

Both databases are first brought to the newest schema by the bot's own migrations (the SQLite file exactly
as a start of this version would; PostgreSQL's numbered scripts mean the same tables at the same version),
so the copy is column for column. Every table is copied in one PostgreSQL transaction (COPY, fast for large
histories), the task id sequence is moved past the highest id, and then the two databases are compared:
rows per table, tasks per state, and the highest task id. Nothing is written unless PostgreSQL is empty, and a
half-done copy is rolled back, so the command can simply be run again.

Stop the bot before running it (a task moving while it is copied would be copied as it was), and start it with
DATABASE_URL afterwards. The PostgreSQL URL's password never appears in what it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import asyncpg
from dotenv import dotenv_values

from bot.core.config import url_location, url_passwords
from bot.core.store import StoreUnreachable, StoreUnusable, open_store

#: What is copied, parents first. provider_budget is not: it is PostgreSQL's own row (its shared schedule).
TABLES = ("bot_meta", "guild_settings", "tasks")
_CHUNK = 1000


class MigrateError(Exception):
    """The copy cannot be made (or did not verify): the message says why and what to do."""


def _convert(value: Any, pg_type: str) -> Any:
    """A SQLite value as the PostgreSQL column wants it (SQLite keeps booleans as 0/1, and has no jsonb)."""
    if value is None:
        return None
    if pg_type == "boolean":
        return bool(value)
    if pg_type in ("bigint", "integer", "smallint"):
        return int(value)
    if pg_type in ("double precision", "real", "numeric"):
        return float(value)
    return value if isinstance(value, str) else str(value)


async def _pg_columns(conn: asyncpg.Connection, table: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1",
        table,
    )
    return {str(r["column_name"]): str(r["data_type"]) for r in rows}


def _sqlite_columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")]


def _sqlite_facts(db: sqlite3.Connection) -> dict[str, Any]:
    facts: dict[str, Any] = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    facts["states"] = dict(db.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state").fetchall())
    facts["max_id"] = db.execute("SELECT MAX(id) FROM tasks").fetchone()[0]
    return facts


async def _pg_facts(conn: asyncpg.Connection) -> dict[str, Any]:
    facts: dict[str, Any] = {t: await conn.fetchval(f"SELECT COUNT(*) FROM {t}") for t in TABLES}
    rows = await conn.fetch("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state")
    facts["states"] = {str(r["state"]): int(r["n"]) for r in rows}
    facts["max_id"] = await conn.fetchval("SELECT MAX(id) FROM tasks")
    return facts


async def migrate(source: Path, target_url: str, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Copy `source` (SQLite) into the empty PostgreSQL database at `target_url`; returns what was verified
    (rows per table, tasks per state, highest id). Raises MigrateError."""
    if not source.is_file():
        raise MigrateError(f"no SQLite database at {source} (give its path with --from or DATABASE_PATH)")
    if not target_url.startswith(("postgresql://", "postgres://")):
        raise MigrateError("--to must be a postgresql:// URL, e.g. postgresql://bot:password@db-host/grokbot")
    target = url_location(target_url)
    try:
        # Each store's own migrations bring both to the newest schema: the same tables, column for column.
        sqlite_store = await open_store(None, source)
        sqlite_version = await sqlite_store.schema_version()
        await sqlite_store.close()
        pg_store = await open_store(target_url, source)
        pg_version = await pg_store.schema_version()
        await pg_store.close()
    except (StoreUnusable, StoreUnreachable) as exc:
        message = str(exc).replace(target_url, target)
        for secret in url_passwords(target_url):
            message = message.replace(secret, "***")
        raise MigrateError(message) from None
    if sqlite_version != pg_version:
        raise MigrateError(
            f"schema versions differ (SQLite {sqlite_version}, PostgreSQL {pg_version}): run this command "
            "with the same version of the bot that last ran on the SQLite file"
        )
    print(f"copying {source} (schema version {sqlite_version}) to {target}", file=out)
    # One read transaction for the counts and every table: a single snapshot, even if something writes.
    db = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    db.execute("BEGIN")
    try:
        conn: asyncpg.Connection = await asyncpg.connect(target_url)
    except (OSError, asyncpg.PostgresError) as exc:
        db.close()
        raise MigrateError(f"cannot connect to {target}: {type(exc).__name__}") from None
    try:
        before = await _pg_facts(conn)
        if any(before[t] for t in TABLES):
            raise MigrateError(
                f"{target} is not empty ({', '.join(f'{t}: {before[t]} rows' for t in TABLES)}); "
                "migrate into a new, empty database"
            )
        expected = _sqlite_facts(db)
        async with conn.transaction():
            for table in TABLES:
                await _copy_table(db, conn, table, out)
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('tasks', 'id'), "
                "COALESCE((SELECT MAX(id) FROM tasks), 0) + 1, false)"
            )
            got = await _pg_facts(conn)
            if got != expected:  # inside the transaction: a mismatch leaves PostgreSQL empty
                raise MigrateError(f"the copy does not match: SQLite {expected}, PostgreSQL {got}")
    finally:
        await conn.close()
        db.close()
    states = ", ".join(f"{state} {count}" for state, count in sorted(expected["states"].items())) or "none"
    print(
        f"verified: {expected['tasks']} tasks ({states}), {expected['guild_settings']} server settings, "
        f"{expected['bot_meta']} remembered facts; highest task id {expected['max_id']}",
        file=out,
    )
    print(f"done. Set DATABASE_URL to this database ({target}) and start the bot", file=out)
    return expected


async def _copy_table(db: sqlite3.Connection, conn: asyncpg.Connection, table: str, out: TextIO) -> None:
    pg = await _pg_columns(conn, table)
    columns = _sqlite_columns(db, table)
    missing = [c for c in columns if c not in pg]
    if missing:
        raise MigrateError(f"PostgreSQL's {table} has no column {', '.join(missing)}: the schemas differ")
    types = [pg[c] for c in columns]
    cursor = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
    copied = 0
    while rows := cursor.fetchmany(_CHUNK):
        records = [tuple(_convert(v, t) for v, t in zip(row, types, strict=True)) for row in rows]
        await conn.copy_records_to_table(table, records=records, columns=columns)
        copied += len(records)
    print(f"  {table}: {copied} rows", file=out)


def main(argv: Sequence[str]) -> int:
    """`python -m bot migrate ...`; returns the exit status (0 done, 1 not done, 2 bad arguments)."""
    dotenv = dotenv_values(".env") if Path(".env").exists() else {}
    settings = {**{k: v for k, v in dotenv.items() if v is not None}, **os.environ}
    parser = argparse.ArgumentParser(
        prog="python -m bot migrate",
        description="Copy this bot's SQLite database (tasks, server settings, history) into an empty "
        "PostgreSQL database, then verify the copy. Stop the bot first.",
    )
    parser.add_argument(
        "--from", dest="source", type=Path, default=Path(settings.get("DATABASE_PATH") or "data/bot.sqlite3"),
        help="the SQLite file (default: DATABASE_PATH, else data/bot.sqlite3)",
    )  # fmt: skip
    parser.add_argument("--to", dest="target", required=True, help="postgresql://user:password@host/database")
    args = parser.parse_args(list(argv))
    try:
        asyncio.run(migrate(args.source, args.target))
    except MigrateError as exc:
        print(f"not migrated: {exc}", file=sys.stderr)
        return 1
    return 0
