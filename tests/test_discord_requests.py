"""How Discord input becomes the pipeline's values: pure functions of discord.py objects, no connection."""

from __future__ import annotations

import re
from pathlib import Path

import discord

from bot.discord.requests import (
    REQUIRED_CHANNEL_PERMISSIONS,
    REQUIRED_THREAD_PERMISSIONS,
    missing_permissions,
)


def test_missing_permissions_are_named_as_discord_settings_name_them() -> None:
    assert missing_permissions(discord.Permissions.none()) == (
        "View Channel", "Send Messages", "Embed Links", "Attach Files", "Read Message History",
    )  # fmt: skip
    assert missing_permissions(REQUIRED_CHANNEL_PERMISSIONS) == ()
    lacking = REQUIRED_CHANNEL_PERMISSIONS & ~discord.Permissions(attach_files=True)
    assert missing_permissions(lacking) == ("Attach Files",)


def test_in_a_thread_posting_is_send_messages_in_threads() -> None:
    thread_only = REQUIRED_CHANNEL_PERMISSIONS & ~discord.Permissions(send_messages=True)
    thread_only.send_messages_in_threads = True
    assert missing_permissions(thread_only, in_thread=True) == ()
    assert missing_permissions(thread_only) == ("Send Messages",)
    no_thread_posting = REQUIRED_CHANNEL_PERMISSIONS  # Send Messages alone does not post in a thread
    assert missing_permissions(no_thread_posting, in_thread=True) == ("Send Messages in Threads",)
    assert missing_permissions(REQUIRED_THREAD_PERMISSIONS, in_thread=True) == ()
    assert missing_permissions(discord.Permissions.none(), in_thread=True) == (
        "View Channel", "Send Messages in Threads", "Embed Links", "Attach Files", "Read Message History",
    )  # fmt: skip


def test_the_invite_link_in_the_readme_grants_every_required_permission() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    [value] = re.findall(r"permissions=(\d+)", readme)
    invite = discord.Permissions(int(value))
    assert invite == REQUIRED_CHANNEL_PERMISSIONS | REQUIRED_THREAD_PERMISSIONS
