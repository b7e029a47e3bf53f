"""The poller's own load on the database: it must sleep while its work is in hand (leased, so not due).

Counted on the real SQLite connection of the real bot (SQLite's statement trace hook), against the
loopback stand-ins.
"""

from __future__ import annotations

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_video import wait_result

POLL = 0.05


async def test_the_loop_does_not_spin_while_a_task_is_in_hand(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    """A download that takes a second. Without leases its task stayed due (next_poll_at in the past) until it
    ended: the loop once saw it as due again and again (thousands of queries a second), and later looked
    again every poll interval. Leased, the task is due only when its lease ends, so the loop sleeps."""
    grok_api.script_next(TaskScript(complete_after=0.0))
    grok_api.slow_next("download", 1.0)
    bot = await start_bot(POLL_INTERVAL_SECONDS=str(POLL))
    statements: list[str] = []
    await bot.store.db.set_trace_callback(statements.append)
    await emu.slash_command("video", {"prompt": "take your time"})
    await wait_result(emu, emu.channel, timeout=10)
    await bot.store.db.set_trace_callback(None)

    looks = [s for s in statements if is_poller_look(s)]
    # Leased while in hand, the task is not due: the loop looks a few times over the whole task (4 measured:
    # claims and next-due reads), not twice per poll interval (42 over the second before leases).
    assert len(looks) <= 8, f"{len(looks)} due-task queries in about a second: {looks}"


def is_poller_look(statement: str) -> bool:
    """The loop's own queries, as SQLite's trace hook shows them (parameters expanded): the claim
    (TaskStore.claim_due), the read of due tasks it replaced, and the next due time (next_due_at)."""
    return (
        statement.startswith("SELECT * FROM tasks WHERE next_poll_at")
        or statement.startswith("SELECT MIN(next_poll_at) FROM tasks")
        or (statement.startswith("UPDATE tasks SET next_poll_at = ") and "+ CASE state WHEN" in statement)
    )
