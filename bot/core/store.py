"""The task store: which one to open (`open_store`), what counts as its failure (`STORE_ERRORS`), and every
name the rest of the bot imports from it.

Two implementations keep one contract (`TaskStore`): `SqliteTaskStore` (bot/core/store_sqlite.py, one
process, a file at DATABASE_PATH) and `PgTaskStore` (bot/core/store_pg.py, PostgreSQL at DATABASE_URL, for
several bot processes sharing one database). See docs/architecture.md, "Two stores".
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from bot.core.config import Secret
from bot.core.store_pg import POSTGRES_SCHEMES, PgTaskStore
from bot.core.store_sqlite import (
    ACTIVE,
    IN_FLIGHT,
    NOT_COUNTED,
    POLLING,
    TO_DELIVER,
    WITH_PROVIDER,
    NewTask,
    SqliteTaskStore,
    State,
    StoreUnreachable,
    StoreUnusable,
    Task,
    TaskStore,
)

__all__ = [
    "ACTIVE",
    "IN_FLIGHT",
    "NOT_COUNTED",
    "POLLING",
    "STORE_ERRORS",
    "TO_DELIVER",
    "WITH_PROVIDER",
    "NewTask",
    "PgTaskStore",
    "SqliteTaskStore",
    "State",
    "StoreUnreachable",
    "StoreUnusable",
    "Task",
    "TaskStore",
    "open_store",
]

log = logging.getLogger(__name__)

#: "The store failed" (locked, read-only, full, the server gone, a lost connection), as opposed to a bug:
#: what the poller backs off from and /healthz reports. A closed SQLite connection raises ValueError
#: (aiosqlite), which the health check catches on its own.
STORE_ERRORS = (
    sqlite3.Error,
    asyncpg.PostgresError,  # the server refused a statement, or ended the session (admin shutdown)
    asyncpg.InterfaceError,  # the connection was lost mid-statement, the pool is closed
    StoreUnreachable,  # no connection could be made (the server is down or unreachable)
)


async def open_store(
    database_url: str | Secret | None, database_path: Path, clock: Callable[[], float] = time.time
) -> TaskStore:
    """The configured store, migrated: PostgreSQL when `database_url` is a postgresql:// (or postgres://)
    URL (DATABASE_URL, a Secret: it may hold a password); none: the SQLite file at `database_path`. Raises
    StoreUnusable, with a message that never holds the password, when it cannot be used (or the URL is of
    another kind)."""
    url = database_url.get() if isinstance(database_url, Secret) else database_url
    store: TaskStore
    if not url:
        store = await TaskStore.open(database_path, clock)
    elif url.startswith(POSTGRES_SCHEMES):
        store = await PgTaskStore.open(url, clock)
    else:  # never silently a SQLite file of its own while other processes share the database
        raise StoreUnusable("DATABASE_URL must start with postgresql:// or postgres:// (or be left unset)")
    log.info("task store: %s, schema version %d", store.kind, await store.schema_version())
    return store
