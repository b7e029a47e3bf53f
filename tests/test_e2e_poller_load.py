"""The poller's own load on the database: it must sleep while its work is in other hands.

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
    """A download that takes a second keeps its task due (next_poll_at is in the past) until it ends. The
    loop used to see that task as due at once, again and again: thousands of queries a second."""
    grok_api.script_next(TaskScript(complete_after=0.0))
    grok_api.slow_next("download", 1.0)
    bot = await start_bot(POLL_INTERVAL_SECONDS=str(POLL))
    statements: list[str] = []
    await bot.store.db.set_trace_callback(statements.append)
    await emu.slash_command("video", {"prompt": "take your time"})
    await wait_result(emu, emu.channel, timeout=10)
    await bot.store.db.set_trace_callback(None)

    due_queries = [s for s in statements if s.startswith("SELECT * FROM tasks WHERE next_poll_at")]
    # About one look per poll interval over the second of downloading, plus one per step of the task.
    assert len(due_queries) < 3 * (1.0 / POLL), f"{len(due_queries)} due-task queries in about a second"
