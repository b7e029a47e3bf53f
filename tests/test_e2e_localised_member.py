"""End to end: a member's own answers (/videos mine|status|quota, /videohelp, the result buttons' private
answers) come in the language of their Discord client (the interaction's `locale`), with durations and
numbers written the way that language writes them; an English client reads exactly what it always did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.i18n import format_duration, translate
from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, InteractionHandle
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_content_rules import embed_sizes_ok
from tests.test_e2e_help import long_catalogue_and_many_channels
from tests.test_e2e_video import wait_result


async def answer(emu: DiscordEmulator, handle: InteractionHandle) -> str:
    """The private answer's text, once it came, after checking it is private, one embed, within limits."""
    await handle.wait_for(lambda h: bool(h.text()))
    message = handle.original if handle.original and handle.original.get("embeds") else handle.followups[0]
    assert handle.ephemeral and len(message["embeds"]) == 1
    embed_sizes_ok(message)
    return handle.text()


async def ask(emu: DiscordEmulator, command: str, locale: str, sub: str | None = None, **kw: Any) -> str:
    return await answer(emu, await emu.slash_command(command, kw or {}, subcommand=sub, locale=locale))


async def make_video(emu: DiscordEmulator, prompt: str, duration: int = 6) -> dict[str, Any]:
    h = await emu.slash_command("video", {"prompt": prompt, "duration": duration})
    await h.wait_text("queued")
    return await wait_result(emu, emu.channel)


def ko(msgid: str, **params: object) -> str:
    """The Korean catalogue's text (asserted to be Korean, not the English fallback)."""
    text = translate("ko", msgid, **params)
    assert text != msgid.format(**params), f"no Korean for {msgid!r}"
    return text


async def test_a_korean_member_reads_videohelp_and_quota_in_korean_with_korean_durations(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot(MEMBER_DAILY_SECONDS="60")
    text = await ask(emu, "videohelp", "ko")
    for heading in ("Grok으로 동영상 만들기", "모델", "내 사용량", "이 서버의 규칙"):
        assert heading in text, heading
    assert "**/동영상**: 프롬프트를 입력하고" in text, "the command under the name a Korean client lists"
    assert "**Grok으로 애니메이션**: 이미지가 있는 메시지에서" in text, "the menu under its Korean name"
    assert (
        "**답장 모드**" in text
        and f"<@{emu.bot_user.id}>" in text
        and "고양이가 손을 흔든다 --duration" in text
    )
    assert "**/내동영상 최근**" in text
    assert "1분 중 1분 남음" in text, "the allowance in Korean words (CLDR): 60 s is 1분"
    assert "**진행 중:** 0 (제한 없음)" in text and "**다음 동영상 가능:** 지금" in text
    assert "**채널:** 모든 채널" in text and "**필요한 역할:** 없음" in text
    assert "**연령 제한 채널 전용:** 아니요" in text and "▶️ 동영상 만들기가 켜져 있어요." in text
    assert "(`grok_video3`): 6–30초 · 16:9" in text and "이미지 최대 7장" in text, "lengths in Korean seconds"
    assert "text only" not in text and "Your quota" not in text and "every channel" not in text

    await make_video(emu, "a storm", duration=6)
    text = await ask(emu, "videos", "ko", sub="quota")
    assert text.startswith("📊 " + ko("Your quota"))
    left = ko("{left} of {cap} left", left=format_duration(54, "ko"), cap=format_duration(60, "ko"))
    assert left == "1분 중 54초 남음" and ko("**You today:** {allowance}", allowance=left) in text
    assert ko("**Server today:** {allowance}", allowance=ko("no daily limit")) in text
    assert ko("**In line:** {places}", places=ko("none")) in text
    assert "**일일 사용량 초기화:** <t:" in text and "(UTC 00:00)" in text, "Discord localises <t:…:R> itself"
    assert "left" not in text and "In progress" not in text

    # The same member with an English client reads what English members always did.
    text = await ask(emu, "videos", "en-US", sub="quota")
    assert "**You today:** 54 s of 60 s left" in text and "**In progress:** 0 (no limit)" in text


async def test_videohelp_with_a_long_catalogue_stays_within_discords_limits_in_korean_and_russian(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    await long_catalogue_and_many_channels(emu, start_bot, tmp_path)
    korean = await ask(emu, "videohelp", "ko")  # `answer` checks every limit
    assert "…외 모델" in korean and "(/동영상 참고)" in korean and "이미지 최대 7장" in korean
    assert "…외 " in korean.split("**채널:**")[1], "the channel list is cut in Korean too"
    russian = await ask(emu, "videohelp", "ru")
    assert "…и ещё моделей:" in russian and "(см. /видео)" in russian and "изображений: до 7" in russian
    assert "1/3/5/7/9/11/13/15/17/19/21/23 с" in russian
    assert "…и ещё " in russian.split("**Каналы:**")[1]


async def test_a_french_member_reads_details_and_refusals_in_french(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    result = await make_video(emu, "a paper boat", duration=6)
    labels = [c["label"] for row in result["components"] for c in row["components"]]
    assert labels == ["Regenerate", "Delete", "Details"], "public labels: the requester's language (English)"

    text = await answer(emu, await emu.click_button(result, "grokvideo:details:1", locale="fr"))
    assert text.startswith("Tâche #1") and "a paper boat" in text
    for field in ("Demandée par", "Modèle", "Options", "État", "Secondes de vidéo comptées", "Chronologie"):
        assert field in text, field
    assert "publiée (vidéo)" in text and "grok_video3" in text and "6\u202fs" in text, (
        "6 s as French writes it"
    )
    assert "Demandée <t:" in text and "Envoyée <t:" in text and "Publiée <t:" in text
    assert "Requested by" not in text and "Timings" not in text

    other = emu.add_user("mallory")
    emu.add_member(emu.guild, other)
    h = await emu.click_button(result, "grokvideo:delete:1", user=other, locale="fr")
    text = await answer(emu, h)
    assert "Tu ne peux pas la supprimer" in text and "modérateur" in text
    h = await emu.click_button(result, "grokvideo:regen:1", user=other, locale="fr")
    text = await answer(emu, h)
    assert "Tu ne peux pas la régénérer" in text and "Utilise /video pour créer la tienne." in text
    assert len(grok_api.creates) == 1

    text = await answer(emu, await emu.click_button(result, "grokvideo:details:1"))
    assert "Requested by" in text and "Timings" in text and "Tâche" not in text, "English for en-US"


async def test_a_spanish_member_reads_videos_mine_and_status_in_spanish(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    text = await ask(emu, "videos", "es-ES", sub="mine")
    assert "Tus vídeos recientes" in text and "Aún no has creado ningún vídeo aquí. ¡Prueba /vídeo!" in text

    grok_api.script_next(TaskScript(complete_after=0.0), TaskScript(complete_after=0.0, fail_reason="boom"))
    await make_video(emu, "first idea")
    await make_video(emu, "second idea")
    await emu.wait_for(
        lambda: len([m for m in emu.messages(emu.channel) if m["content"].startswith("<@")]) == 2
    )
    text = await ask(emu, "videos", "es-ES", sub="mine")
    assert text.startswith("🎬 Tus vídeos recientes")
    assert "**#1** · vídeo · grok_video3" in text and "**#2** · fallido · grok_video3" in text
    assert "[mensaje](https://discord.com/channels/" in text and "first idea" in text
    assert "[message]" not in text and "failed" not in text

    text = await ask(emu, "videos", "es-ES", sub="status", task=2)
    assert "Tarea #2" in text and "Por qué falló" in text and "boom" in text and "Mensaje" in text
    text = await ask(emu, "videos", "es-ES", sub="status", task=9)
    assert "No existe ese vídeo" in text and "No tienes ninguna tarea #9 en este servidor." in text
    assert "Consulta /vídeos míos." in text

    text = await ask(emu, "videos", "en-US", sub="mine")
    assert (
        "🎬 Your recent videos" in text
        and "· video ·" in text
        and "· failed ·" in text
        and "[message](" in text
    )


async def test_a_german_member_cancels_in_german(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)
    await start_bot(MAX_IN_FLIGHT="1")
    await (await emu.slash_command("video", {"prompt": "first"})).wait_text("queued")
    await (await emu.slash_command("video", {"prompt": "second"})).wait_text("in line")
    status = await emu.wait_for_message(
        emu.channel,
        lambda m: any(
            c.get("custom_id") == "grokvideo:cancel:2"
            for r in m.get("components", [])
            for c in r["components"]
        ),
    )
    [button] = [c for row in status["components"] for c in row["components"]]
    assert button["label"] == "Cancel"
    h = await emu.click_button(status, "grokvideo:cancel:2", locale="de")
    await h.wait_for(lambda h: bool(h.followups))
    text = h.text()
    assert "✖️ Abgebrochen" in text and "Aufgabe #2 ist aus der Warteschlange raus." in text
