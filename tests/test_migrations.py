"""A database written by an earlier version opens with its tasks intact, and one written by a newer version is
refused: real SQLite files and a real PostgreSQL server, real migrations."""

from __future__ import annotations

import json
import sqlite3
from importlib import resources
from pathlib import Path

import asyncpg
import pytest

from bot.core.request import VideoRequest
from bot.core.store import NewTask, PgTaskStore, State, StoreUnusable, TaskStore, open_store
from bot.core.store_sqlite import migration_scripts


def old_database(path: Path, up_to: int) -> None:
    """A database as version `up_to` of the bot left it: its migrations only."""
    db = sqlite3.connect(path)
    for version in range(1, up_to + 1):
        [script] = [
            entry
            for entry in resources.files("bot.core").joinpath("migrations").iterdir()
            if entry.name.startswith(f"V{version}__")
        ]
        db.executescript(script.read_text(encoding="utf-8"))
    db.execute(f"PRAGMA user_version = {up_to}")
    db.commit()
    db.close()


#: Two tasks as version 2 of the bot wrote them (one with images), with the images' placeholder as {mark}.
V2_ROWS = (
    "INSERT INTO tasks (state, source, guild_id, channel_id, requester_id, model, prompt, duration, "
    "aspect_ratio, resolution, image_urls, billed_seconds, created_at, updated_at, next_poll_at) "
    "VALUES ('queued', 'slash', 1, 2, 3, 'grok_video3_max', 'a fox “in” snow', 12, '9:16', '480p', {mark}, 12, "
    "100, 100, 130)",
    "INSERT INTO tasks (state, source, guild_id, channel_id, requester_id, model, prompt, duration, "
    "aspect_ratio, resolution, billed_seconds, created_at, updated_at) "
    "VALUES ('delivered', 'reply', 1, 2, 4, 'grok_video3_pro', 'city', NULL, '16:9', '720p', 10, 90, 95)",
)
V2_IMAGES = json.dumps(["https://cdn.example/a.png", "https://cdn.example/b.png"])


async def assert_v2_tasks_upgraded(store: TaskStore) -> None:
    """V2_ROWS, read through the store after the migrations: each request one value, reports unchanged."""
    first, second = await store.get(1), await store.get(2)
    assert first is not None and second is not None
    assert first.state is State.QUEUED and first.next_poll_at == 130
    assert first.request == VideoRequest(
        "grok_video3_max", "a fox “in” snow", 12, "9:16", "480p",
        ("https://cdn.example/a.png", "https://cdn.example/b.png"),
    )  # fmt: skip
    assert second.request == VideoRequest("grok_video3_pro", "city", None, "16:9", "720p")
    # The usage report still groups by model.
    assert await store.usage_report(1, 0) == [
        (3, "grok_video3_max", 1, 12),
        (4, "grok_video3_pro", 1, 10),
    ]
    # A new task after the upgrade takes the next id, not one of the old rows'.
    assert (await store.create_task(NewTask("slash", 1, 2, 3, first.request, 12))).id == 3


async def test_v2_tasks_keep_their_request_as_one_value(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old_database(path, up_to=2)
    db = sqlite3.connect(path)
    with db:
        db.execute(V2_ROWS[0].format(mark="?"), (V2_IMAGES,))
        db.execute(V2_ROWS[1])
    db.close()

    store = await TaskStore.open(path)
    try:
        await assert_v2_tasks_upgraded(store)
    finally:
        await store.close()
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(tasks)")}
    assert (
        "request" in columns
        and not {"prompt", "duration", "aspect_ratio", "resolution", "image_urls"} & columns
    )


async def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    """Going back to an older bot after an upgrade: it must not run on tables it does not know."""
    newest = max(
        int(entry.name[1:].split("__")[0])
        for entry in resources.files("bot.core").joinpath("migrations").iterdir()
        if entry.name.startswith("V") and entry.name.endswith(".sql")
    )
    path = tmp_path / "newer.sqlite3"
    old_database(path, up_to=newest)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {newest + 1}")
    db.commit()
    db.close()

    with pytest.raises(
        StoreUnusable, match=f"schema version {newest + 1}, newer than .* knows \\({newest}\\)"
    ):
        await TaskStore.open(path)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (newest + 1,)
    finally:
        db.close()


# ---- PostgreSQL: the same numbered migrations, in migrations/postgresql -----------------------------------


async def old_pg_database(url: str, up_to: int) -> asyncpg.Connection:
    """A PostgreSQL database as version `up_to` of the bot left it (its migrations and their record); returns
    a connection to it for the test to fill."""
    connection = await asyncpg.connect(url)
    await connection.execute(
        "CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at double precision NOT NULL)"
    )
    for version, script in migration_scripts("migrations/postgresql")[:up_to]:
        await connection.execute(script)
        await connection.execute("INSERT INTO schema_version VALUES ($1, 0)", version)
    return connection


def test_both_stores_have_the_same_numbered_migrations() -> None:
    """Schema version N means the same tables on either database (a later copy from one to the other relies
    on it): the same numbers, and the same script names."""
    names = {
        folder: sorted(
            e.name for e in resources.files("bot.core").joinpath(folder).iterdir() if e.name.endswith(".sql")
        )
        for folder in ("migrations", "migrations/postgresql")
    }
    assert names["migrations"] == names["migrations/postgresql"]


async def test_pg_v2_tasks_keep_their_request_as_one_value(pg_url: str) -> None:
    connection = await old_pg_database(pg_url, up_to=2)
    try:
        await connection.execute(V2_ROWS[0].format(mark="$1"), V2_IMAGES)
        await connection.execute(V2_ROWS[1])
    finally:
        await connection.close()

    store = await PgTaskStore.open(pg_url)
    try:
        await assert_v2_tasks_upgraded(store)
        assert await store.schema_version() == len(migration_scripts("migrations/postgresql"))
    finally:
        await store.close()


async def test_pg_database_from_a_newer_version_is_refused_untouched(pg_url: str) -> None:
    newest = len(migration_scripts("migrations/postgresql"))
    connection = await old_pg_database(pg_url, up_to=newest)
    try:
        await connection.execute("INSERT INTO schema_version VALUES ($1, 0)", newest + 1)
        with pytest.raises(
            StoreUnusable, match=f"schema version {newest + 1}, newer than .* knows \\({newest}\\)"
        ):
            await open_store(pg_url, Path("unused"))
        assert await connection.fetchval("SELECT MAX(version) FROM schema_version") == newest + 1
    finally:
        await connection.close()
