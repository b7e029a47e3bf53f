"""Messages in the member's language: `Msg` (the English `str`, with its msgid and parameters kept) and
`localise`, then end to end through the real bot: a refusal reaches the member in the language their Discord
client sends with the interaction, with the allowed values named, and nothing is sent to the API."""

from __future__ import annotations

import copy
import pickle
from typing import Any

from bot import i18n
from bot.core.catalogue import Catalogue
from bot.core.request import VideoRequest
from bot.i18n import Msg, all_of, any_of, localise, msg, number
from cogs.video import duration_choice
from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI
from tests.test_e2e_catalogue import mention_with_image, reply_refusal


def creates(grok_api: FakeGrokAPI) -> list[Any]:
    return [r for r in grok_api.requests if r.endpoint == "create"]


# ---- Msg and localise -----------------------------------------------------------------------------------


def test_a_msg_is_its_english_text_and_keeps_what_it_was_made_from() -> None:
    text = msg(
        "{model} only makes {value} videos (you asked for {asked}).", model="m", value="16:9", asked="x"
    )
    assert isinstance(text, str) and text == "m only makes 16:9 videos (you asked for x)."
    assert f"• {text}" == "• m only makes 16:9 videos (you asked for x).", "formatting uses the English"
    assert text.msgid == "{model} only makes {value} videos (you asked for {asked})."
    assert text.params == {"model": "m", "value": "16:9", "asked": "x"}
    for kept in (copy.deepcopy(text), pickle.loads(pickle.dumps(text))):
        assert isinstance(kept, Msg) and kept == text and kept.localised("de") == text.localised("de")


def test_localise_translates_with_the_catalogue_and_leaves_anything_else_alone() -> None:
    plain = "Grok refused it: policy"
    assert localise(plain, "zh-CN") is plain, "a plain str passes through unchanged"
    assert localise(7, "de") == 7 and localise(None, "ja") is None
    assert localise(msg("Not allowed"), "de") == "Nicht erlaubt"
    assert localise(msg("Not allowed"), "zh-CN") == "无权操作"
    assert localise(msg("Not allowed"), "es-419") == "No permitido", "es-419 reads es-ES's catalogue"
    assert localise(msg("Not allowed"), "en-GB") == "Not allowed"
    assert localise(msg("Not allowed"), "it") == "Not allowed", "no catalogue: DEFAULT_LOCALE (English)"


def test_a_message_no_catalogue_has_falls_back_to_english_with_its_parameters_localised() -> None:
    text = Msg("Only in English: {values}, {n}.", values=any_of(["a", "b"]), n=number(1800))
    assert text == "Only in English: a or b, 1,800."
    assert localise(text, "de") == "Only in English: a oder b, 1.800."


def test_parameters_are_localised_with_the_message() -> None:
    nested = msg(
        "{problem}; please send images as {accepted}.",
        problem=msg("Image {position} is not a usable image", position=2),
        accepted=msg("links starting with http:// or https://"),
    )
    assert (
        nested
        == "Image 2 is not a usable image; please send images as links starting with http:// or https://."
    )
    assert localise(nested, "de") == (
        "Bild 2 ist nicht verwendbar; schick Bilder bitte als Links, die mit http:// oder https:// beginnen."
    )
    assert localise(nested, "zh-CN") == "第 2 张图片无法使用；图片请使用以 http:// 或 https:// 开头的链接。"


def test_lists_and_numbers_read_as_the_language_writes_them() -> None:
    durations = any_of(["6", "10", "12"])
    assert durations == "6, 10 or 12", "the English as before (no serial comma)"
    assert localise(durations, "zh-CN") == "6、10或12"
    assert localise(durations, "de") == "6, 10 oder 12"
    assert localise(durations, "ja") == "6、10、または12"
    assert all_of(["1", "2", "3"]) == "1, 2 and 3" and localise(all_of(["1", "2"]), "fr") == "1 et 2"
    assert any_of(["16:9"]) == "16:9" and localise(any_of([msg("Model")]), "de") == "Modell"
    assert any_of([]) == ""
    assert number(1800) == "1,800" and localise(number(1800), "de") == "1.800"
    assert localise(number(1.5, "0.00"), "fr") == "1,50"


def test_the_catalogue_problems_are_messages_with_unchanged_english() -> None:
    request = VideoRequest(model="grok_video3_max", prompt="a cat", duration=8, aspect_ratio="3:2")
    problems = Catalogue.default().validate(request)
    assert problems == [
        "grok_video3_max takes 6, 10, 12, 16, 20 or 30 seconds (you asked for 8).",
        "grok_video3_max makes 16:9, 9:16 or 1:1 videos (you asked for “3:2”).",
    ]
    assert [localise(p, "ko") for p in problems] == [
        "grok_video3_max은(는) 6, 10, 12, 16, 20 또는 30초만 받아요(요청: 8).",
        "grok_video3_max은(는) 16:9, 9:16 또는 1:1 동영상을 만들어요(요청: “3:2”).",
    ]


def test_duration_suggestions_are_named_in_the_members_language() -> None:
    spec = Catalogue.default().models["grok_video3"]
    assert duration_choice(spec, 10) == "10 seconds (default, grok_video3)"
    assert localise(duration_choice(spec, 10), "ja") == "10 秒（デフォルト、grok_video3）"
    assert localise(duration_choice(spec, 12), "ru") == "12 с"


# ---- end to end -----------------------------------------------------------------------------------------


async def test_an_invalid_combination_is_refused_in_the_members_language(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    options = {"prompt": "a cat", "model": "grok_video3_pro", "aspect_ratio": "9:16"}

    h = await emu.slash_command("video", options, locale="zh-CN")
    await h.wait_followup()
    assert h.ephemeral
    assert "grok_video3_pro 只能生成 16:9 的视频（你要求的是 “9:16”）。" in h.text(), h.text()

    h = await emu.slash_command(
        "video", {"prompt": "waves", "model": "grok_video3_max", "duration": 8}, locale="zh-CN"
    )
    await h.wait_followup()
    assert "grok_video3_max 支持的时长为 6、10、12、16、20或30 秒（你要求的是 8）。" in h.text(), h.text()

    h = await emu.slash_command("video", options, locale="en-US")
    await h.wait_followup()
    assert h.ephemeral
    assert "grok_video3_pro only makes 16:9 videos (you asked for “9:16”)." in h.text(), h.text()
    assert "只能" not in h.text()
    assert creates(grok_api) == [], "no refused request reaches the API"


async def test_an_accepted_video_is_confirmed_in_the_members_language(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    h = await emu.slash_command("video", {"prompt": "a red fox"}, locale="fr")
    await h.wait_followup()
    assert "La tâche **#1** est en file d’attente (grok_video3 · 10 s · 16:9 · 720p)." in h.text(), h.text()
    assert "C’est parti !" in h.text()
    assert len(creates(grok_api)) == 1


async def test_a_missing_permission_is_named_as_discord_names_it_in_german(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    h = await emu.slash_command("videoadmin", {}, user=emu.default_user, subcommand="usage", locale="de")
    await h.wait_for(lambda handle: bool(handle.text()))
    assert h.ephemeral
    assert "Nicht erlaubt" in h.text(), h.text()
    assert "/videoadmin usage braucht auf diesem Server die Berechtigung „Server verwalten“." in h.text()
    assert "Frag jemanden, der den Server verwaltet." in h.text()
    assert "Manage Server" not in h.text()


async def test_reply_mode_answers_in_the_servers_preferred_language(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    """A message carries no language of its author: the server's preferred locale (the emulator's server
    prefers en-US) comes before DEFAULT_LOCALE."""
    try:
        await start_bot(DEFAULT_LOCALE="ja")
        asked = await mention_with_image(emu, "the cat waves --model")
        text = await reply_refusal(emu, asked)
        assert "--model needs a value, e.g. --model grok_video3." in text, text
    finally:
        i18n.set_default_locale("en-US")
    assert creates(grok_api) == []
