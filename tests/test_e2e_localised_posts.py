"""A task's public posts and the core refusals speak the member's language. Real bot, loopback Discord and
provider, a real SQLite file; the locale is the one the member's client sends with the interaction."""

from __future__ import annotations

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_video import bot_messages, wait_result


def status_message(emu: DiscordEmulator) -> dict:
    """The task's status message: the bot's message that mentions nobody."""
    [status] = [m for m in bot_messages(emu, emu.channel) if not m.get("content", "").startswith("<@")]
    return emu.get_message(status["id"])


def field_names(message: dict) -> list[str]:
    return [f["name"] for e in message.get("embeds", []) for f in e.get("fields", [])]


async def test_a_chinese_members_video_is_posted_in_chinese_after_a_restart(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)  # finished by hand, after the restart
    first = await start_bot()
    member = emu.default_user
    h = await emu.slash_command("video", {"prompt": "熊猫在竹林里散步"}, user=member, locale="zh-CN")
    await h.wait_text("#1")
    await emu.wait_for(lambda: bot_messages(emu, emu.channel), what="the status message")
    status = status_message(emu)
    [embed] = status["embeds"]
    assert embed["title"] in ("🎬 已在 Grok 排队", "🎬 生成中"), embed["title"]
    assert {"请求者", "模型", "选项"} <= set(field_names(status)), field_names(status)
    assert "Requested by" not in message_text(status)

    await first.close()  # the language must come from the task, not from this life of the process
    [api_id] = grok_api.tasks
    grok_api.complete(api_id)
    await start_bot()

    result = await wait_result(emu, emu.channel, timeout=15)
    assert result["content"] == f"<@{member.id}> 你的视频已经做好了！"
    [posted] = result["embeds"]
    assert posted["title"] == "🎬 你的视频已经做好了"
    assert "时长" in field_names(result) and "10 秒" in message_text(result)
    assert result["attachments"], "the video itself"
    assert "ready" not in message_text(result)
    done = await emu.wait_for(
        lambda: (m := emu.get_message(status["id"]))["embeds"][0]["title"] == "🎬 完成" and m, timeout=10
    )
    assert "结果" in field_names(done) and "Result" not in field_names(done)


async def test_a_chinese_members_failure_labels_the_providers_words(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    reason = "Reference image could not be accessed."
    grok_api.default_script = TaskScript(complete_after=0.0, fail_reason=reason)
    await start_bot()
    answer = await emu.slash_command("video", {"prompt": "雨中"}, locale="zh-CN")
    assert "#1" in await answer.wait_text("#1")
    posted = await wait_result(emu, emu.channel)
    assert posted["content"].endswith("抱歉，无法制作你的视频。")
    [embed] = posted["embeds"]
    assert embed["title"] == "❌ 无法制作你的视频"
    [why] = embed["fields"]
    assert why["name"] == "原因"
    assert why["value"] == f"Grok 的原话：{reason}", "the provider's words as they came, labelled as Grok's"


async def test_a_german_members_cooldown_is_refused_in_german(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot(COOLDOWN_SECONDS="5400")
    h = await emu.slash_command("video", {"prompt": "ein Fuchs im Schnee"}, locale="de")
    await h.wait_text("#1")
    h = await emu.slash_command("video", {"prompt": "noch einer"}, locale="de")
    text = await h.wait_text("Abklingzeit")
    assert h.ephemeral
    assert "Du kannst <t:" in text and ":R> ein weiteres Video anfordern" in text, text
    assert "(eines alle 1 Std., 30 Min.)" in text, "the interval as German writes it"
    assert "Cooling down" not in text and "every" not in text
    assert len(grok_api.creates) == 1


async def test_an_english_member_still_reads_todays_texts(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot(COOLDOWN_SECONDS="5400")
    member = emu.default_user
    h = await emu.slash_command("video", {"prompt": "a fox in the snow"}, user=member, locale="en-US")
    await h.wait_text("queued")
    h = await emu.slash_command("video", {"prompt": "another"}, user=member, locale="en-US")
    text = await h.wait_text("Cooling down")
    assert "You can ask for another video <t:" in text and "(one every 90 min)." in text, text

    result = await wait_result(emu, emu.channel)
    assert result["content"] == f"<@{member.id}> Your video is ready!"
    [embed] = result["embeds"]
    assert embed["title"] == "🎬 Your video is ready"
    assert [f["name"] for f in embed["fields"]] == ["Length"] and embed["fields"][0]["value"] == "10 s"
    status = status_message(emu)
    await emu.wait_for(lambda: emu.get_message(status["id"])["embeds"][0]["title"] == "🎬 Done", timeout=10)
    assert {"Requested by", "Model", "Options", "Result"} <= set(field_names(emu.get_message(status["id"])))
