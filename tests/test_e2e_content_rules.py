"""End to end: a server's content rules (blocked words, age-restricted channels only) through the loopback
Discord, on every surface that takes a prompt (/video, the "Animate with Grok" form, reply mode), with no
call to the provider for anything refused."""

from __future__ import annotations

from typing import Any

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.discord.world import set_channel_nsfw
from tests.fakes.grok_api import FakeGrokAPI
from tests.test_e2e_admin import admin, guild_row, video
from tests.test_e2e_video import PNG

BLOCKED = "Your prompt contains a word this server does not allow"


async def words(emu: DiscordEmulator, sub: str, text: str) -> str:
    return (await admin(emu, f"blocked-words {sub}", {"words": text})).text()


def embed_sizes_ok(message: dict[str, Any]) -> None:
    """Discord's embed limits: title 256, description 4096, 25 fields of 256/1024, 6000 in all."""
    total = 0
    for embed in message.get("embeds", []):
        title, description = embed.get("title", ""), embed.get("description", "")
        fields = embed.get("fields", [])
        assert len(title) <= 256 and len(description) <= 4096 and len(fields) <= 25
        for field in fields:
            assert len(field["name"]) <= 256 and len(field["value"]) <= 1024
        total += len(title) + len(description) + len(embed.get("footer", {}).get("text", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
    assert total <= 6000, total


async def test_blocked_words_refuse_on_every_surface_before_any_call(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot()
    added = await words(emu, "add", "café, ass")
    assert "||café||" in added and "||ass||" in added
    assert "2 words" in added

    # /video: any case, with or without the accent, is the blocked word; refused privately, naming it.
    for prompt in ("Two friends at a CAFE in Paris", "the Café opens", "a cafe\u0301 at dawn"):
        text = await video(emu, {"prompt": prompt})
        assert BLOCKED in text and "café" in text, text
    # Whole words only: "class" and "cafeteria" are fine.
    assert "queued" in await video(emu, {"prompt": "a class trip to the cafeteria"})
    assert len(grok_api.creates) == 1

    # The "Animate with Grok" form.
    poster = emu.add_user("painter")
    emu.add_member(emu.guild, poster)
    target = await emu.post_message(emu.channel, poster, "art", attachments=[("a.png", PNG, "image/png")])
    h = await emu.message_context_menu("Animate with Grok", target)
    await h.wait_for(lambda handle: handle.modal is not None)
    submit = await emu.submit_modal(h, {"prompt": "It turns into an ASS", "model": ["grok_video3"]})
    text = await submit.wait_text(BLOCKED)
    assert submit.ephemeral and "ass" in text

    # Reply mode answers in the channel, as its other refusals do (the word behind a spoiler).
    await emu.post_message(
        emu.channel, emu.default_user, f"<@{emu.bot_user.id}> coffee at the Café --duration 6",
        reference=target, mentions=[emu.bot_user],
    )  # fmt: skip
    refusal = await emu.wait_for_message(emu.channel, lambda m: BLOCKED in message_text(m))
    assert refusal["message_reference"] is not None and "||café||" in message_text(refusal)
    assert len(grok_api.creates) == 1, "nothing refused reached the provider"

    # The list shows them privately, spoilered; remove (any case or accents) lets the prompt through.
    listed = await admin(emu, "blocked-words list")
    assert "||café||" in listed.text() and "||ass||" in listed.text()
    removed = await words(emu, "remove", "CAFE")
    assert "||café||" in removed and "1 word" in removed
    assert "queued" in await video(emu, {"prompt": "Two friends at a CAFE"})
    assert BLOCKED in await video(emu, {"prompt": "what an ass"})
    row = guild_row(str(bot.settings.database_path), emu.guild.id)
    assert row is not None and row["blocked_words"] == '["ass"]'
    shown = await admin(emu, "config")
    assert "Blocked words: 1 of 200" in shown.text() and "Age-restricted channels only: off" in shown.text()
    # Managers are not restricted (as with every other server rule).
    assert "queued" in await video(emu, {"prompt": "what an ass"}, user=emu.owner)


async def test_blocked_word_limits_and_a_long_list_fits_discord(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    refused = await words(emu, "add", "ok, bad|word, " + "x" * 51)
    assert "||ok||" in refused and "at most 50 characters" in refused and "letters and digits" in refused
    assert "Already blocked: ||OK||" in await words(emu, "add", "OK")
    # 200 words of 50 characters: the cap, and the list still shows every one within Discord's limits.
    long_words = [f"w{n:03d}" + "a" * 46 for n in range(199)]
    for start in range(0, 199, 19):
        await words(emu, "add", ", ".join(long_words[start : start + 19]))
    full = await words(emu, "add", "onemore")
    assert "at most 200 words" in full and "200 words" in full
    handle = await emu.slash_command("videoadmin", {}, user=emu.owner, subcommand="blocked-words list")
    await handle.wait_followup(count=2)
    assert handle.original is not None and handle.ephemeral
    pages = [handle.original, *handle.followups]
    shown = "".join(message_text(m) for m in pages)
    assert len(pages) == 3 and all(f"||{w}||" in shown for w in [*long_words, "ok"])
    for message in pages:
        embed_sizes_ok(message)
        assert message.get("flags", 0) & 64, "private"
    assert grok_api.creates == []


async def test_age_restricted_only_refuses_outside_nsfw_channels_and_their_threads(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot()
    lounge = emu.add_text_channel(emu.guild, "lounge")
    await emu.wait_for(lambda: bot.get_channel(lounge.id) is not None)
    done = await admin(emu, "age-restricted-only", {"enabled": True})
    assert "none yet" in done.text()
    text = await video(emu, {"prompt": "a sunset"})
    assert "Only in age-restricted channels" in text and "none is open" in text
    await set_channel_nsfw(emu, lounge)
    await emu.wait_for(lambda: bot.get_channel(lounge.id).is_nsfw())
    text = await video(emu, {"prompt": "a sunset"})
    assert "age-restricted (NSFW) channels" in text and f"<#{lounge.id}>" in text, text
    assert "/videohelp" in text
    # The Animate form does not even open outside those channels.
    target = await emu.post_message(emu.channel, emu.owner, "art", attachments=[("a.png", PNG, "image/png")])
    h = await emu.message_context_menu("Animate with Grok", target)
    await h.wait_response()
    assert h.ephemeral and h.modal is None and "Only in age-restricted channels" in h.text()
    assert grok_api.creates == []
    assert "queued" in await video(emu, {"prompt": "a sunset"}, channel=lounge)
    thread = await emu.add_thread(lounge, "after dark")
    await emu.wait_for(lambda: bot.get_channel(thread.id) is not None)
    assert "queued" in await video(emu, {"prompt": "a moonrise"}, channel=thread)
    assert len(grok_api.creates) == 2
    shown = await admin(emu, "config")
    assert "Age-restricted channels only: on" in shown.text()
    await admin(emu, "age-restricted-only", {"enabled": False})
    assert "queued" in await video(emu, {"prompt": "a sunset"})
