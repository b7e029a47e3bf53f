"""The provider's texts are someone else's words: shown as plain text, within Discord's limits, pinging
nobody. Real bot, loopback Discord and provider."""

from __future__ import annotations

import re

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_video import wait_result

#: A markdown link as Discord renders it: [text](url) with the bracket not escaped.
MASKED_LINK = re.compile(r"(?<!\\)\[[^\]]*\]\(")


def why_field(message: dict) -> str:
    [embed] = message["embeds"]
    return next(f["value"] for f in embed["fields"] if f["name"] == "Why")


async def test_a_markdown_link_in_a_failure_reason_is_not_clickable(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    reason = "Please [verify your account](https://phish.example/login) and **retry** <@&1> @everyone"
    grok_api.script_next(TaskScript(complete_after=0.0, fail_reason=reason))
    await emu.slash_command("video", {"prompt": "a quiet lake"})
    posted = await wait_result(emu, emu.channel)
    why = why_field(posted)
    assert "verify your account" in why and "phish.example/login" in why, "the words are all still there"
    assert not MASKED_LINK.search(why), why
    assert "\\*\\*retry\\*\\*" in why and "\\<@&1>" in why
    assert "@everyone" not in why, "escaped with a zero-width space"
    assert emu.pings(emu.owner) == []


async def test_a_huge_reason_full_of_mentions_stays_within_limits_and_pings_nobody_else(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    other = emu.owner
    reason = (f"<@{other.id}> @here [x](https://a.example) " * 400)[:10_000]
    grok_api.script_next(TaskScript(complete_after=0.0, fail_reason=reason))
    member = emu.default_user
    await emu.slash_command("video", {"prompt": "a storm"}, user=member)
    posted = await wait_result(emu, emu.channel)
    [embed] = posted["embeds"]
    assert all(len(f["value"]) <= 1024 for f in embed["fields"])
    assert len(posted["content"]) <= 2000
    assert (
        sum(len(embed.get(k, "")) for k in ("title", "description"))
        + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
        <= 6000
    )
    assert not MASKED_LINK.search(why_field(posted))
    assert emu.pings(other) == [], "only the requester is mentioned"
    assert int(posted["id"]) in emu.pings(member) or posted["id"] in [str(p) for p in emu.pings(member)]
