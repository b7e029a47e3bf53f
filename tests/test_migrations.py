"""A database written by an earlier version opens with its tasks intact (real SQLite files, real migrations)."""

from __future__ import annotations

import json
import sqlite3
from importlib import resources
from pathlib import Path

import pytest

from bot.core.request import VideoRequest
from bot.core.store import State, StoreUnusable, TaskStore


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


async def test_v2_tasks_keep_their_request_as_one_value(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old_database(path, up_to=2)
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "INSERT INTO tasks (state, source, guild_id, channel_id, requester_id, model, prompt, duration, "
            "aspect_ratio, resolution, image_urls, billed_seconds, created_at, updated_at, next_poll_at) "
            "VALUES ('queued', 'slash', 1, 2, 3, 'grok_video3_max', 'a fox “in” snow', 12, '9:16', '480p', ?, 12, "
            "100, 100, 130)",
            (json.dumps(["https://cdn.example/a.png", "https://cdn.example/b.png"]),),
        )
        db.execute(
            "INSERT INTO tasks (state, source, guild_id, channel_id, requester_id, model, prompt, duration, "
            "aspect_ratio, resolution, billed_seconds, created_at, updated_at) "
            "VALUES ('delivered', 'reply', 1, 2, 4, 'grok_video3_pro', 'city', NULL, '16:9', '720p', 10, 90, 95)"
        )
    db.close()

    store = await TaskStore.open(path)
    try:
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
