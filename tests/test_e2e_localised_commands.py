"""End to end: the commands as Discord received them at sync carry a name and a description in every
language of the catalogues, on every command, group, subcommand, option and choice with a translatable
name, and on the message menu; each obeys Discord's rules; values shown as themselves stay untranslated.
The emulator checks every request against Discord's OpenAPI excerpt (the `emu` fixture fails the test on
any violation), and the commands still answer a member whose Discord speaks another language."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from bot import i18n
from bot.discord.translator import CatalogueTranslator, discord_problem
from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.test_i18n_catalogues import EXPECTED, discord_refuses

#: Every language the catalogues serve, as Discord names them, plus es-419, which es-ES serves.
LANGUAGES = {*EXPECTED, "es-419"}
CHAT_INPUT, MESSAGE_MENU = 1, 3
SUBCOMMAND, GROUP = 1, 2


def registered(emu: DiscordEmulator) -> list[dict[str, Any]]:
    return [*emu.global_commands, *(c for scope in emu.guild_commands.values() for c in scope)]


def parts(command: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, kind, the part's dict) for the command and everything in it: kind is the msgctxt of its name."""
    if command["type"] == MESSAGE_MENU:
        yield command["name"], "menu name", command
        return
    yield f"/{command['name']}", "group name" if _has_subcommands(command) else "command name", command
    pending = [(f"/{command['name']}", option) for option in command.get("options") or []]
    while pending:
        path, option = pending.pop(0)
        here = f"{path} {option['name']}"
        if option["type"] == GROUP:
            kind = "group name"
        elif option["type"] == SUBCOMMAND:
            kind = "command name"
        else:
            kind = "option name"
        yield here, kind, option
        pending.extend((here, sub) for sub in option.get("options") or [])
        for choice in option.get("choices") or []:
            yield f"{here} = {choice['name']!r}", "choice name", choice


def _has_subcommands(command: dict[str, Any]) -> bool:
    return any(o["type"] in (SUBCOMMAND, GROUP) for o in command.get("options") or [])


def shown_as_itself(choice: dict[str, Any]) -> bool:
    return choice["name"] == str(choice["value"]) and not choice["name"].isalpha()


async def test_every_registered_name_and_description_is_localised(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    commands = registered(emu)
    assert {(c["name"], c["type"]) for c in commands} >= {
        ("video", CHAT_INPUT), ("videos", CHAT_INPUT), ("videohelp", CHAT_INPUT), ("videoadmin", CHAT_INPUT),
        ("Animate with Grok", MESSAGE_MENU),
    }  # fmt: skip
    problems: list[str] = []
    checked = {"name": 0, "description": 0, "untranslated values": 0}
    for command in commands:
        for path, kind, part in parts(command):
            if kind == "choice name" and shown_as_itself(part):
                checked["untranslated values"] += 1
                if part.get("name_localizations"):
                    problems.append(f"{path}: a value shown as itself is translated")
                continue
            names = part.get("name_localizations") or {}
            if set(names) != LANGUAGES:
                problems.append(f"{path}: name in {sorted(names)}, missing {sorted(LANGUAGES - set(names))}")
            for locale, text in names.items():
                checked["name"] += 1
                if why := discord_refuses(kind, text):
                    problems.append(f"{path} [{locale}] {text!r}: {why}")
            if kind == "choice name" or kind == "menu name":
                continue  # no description
            descriptions = part.get("description_localizations") or {}
            if set(descriptions) != LANGUAGES:
                problems.append(f"{path}: description in {sorted(descriptions)}")
            for locale, text in descriptions.items():
                checked["description"] += 1
                if why := discord_refuses("description", text):
                    problems.append(f"{path} [{locale}] description {text!r}: {why}")
    assert not problems, "\n".join(problems)
    assert checked["name"] >= 50 * len(LANGUAGES) and checked["description"] >= 45 * len(LANGUAGES), checked
    assert checked["untranslated values"] >= 5, "the ratio and resolution choices are values"

    video = emu.find_command("video")
    assert video["name_localizations"]["ja"] == "動画" and video["name_localizations"]["de"] == "video"
    options = {o["name"]: o for o in video["options"]}
    assert options["aspect_ratio"]["name_localizations"]["zh-CN"] == "画面比例"
    assert options["image2"]["name_localizations"]["de"] == "bild2"
    assert options["duration"]["min_value"] >= 1, "the catalogue's range is still there"
    model = options["model"]["choices"][0]
    assert model["value"] == "grok_video3" and model["name_localizations"]["fr"].startswith("Grok Video 3 (")
    assert {c["name"] for c in options["resolution"]["choices"]} >= {"720p"}
    menu = emu.find_command("Animate with Grok", ctype=MESSAGE_MENU)
    assert menu["name_localizations"]["ko"] == "Grok으로 애니메이션"
    assert menu["name_localizations"]["es-419"] == menu["name_localizations"]["es-ES"] == "Animar con Grok"
    assert "en-US" not in video["name_localizations"], "English is the default text itself"


async def test_a_member_in_another_language_uses_the_commands(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    """Discord sends the default (English) names in interactions whatever the member's language; the bot
    answers them as before (its answer in the member's language), and DEFAULT_LOCALE from the settings is in
    force."""
    try:
        await start_bot(DEFAULT_LOCALE="pt-BR")
        assert i18n.default_locale() == "pt-BR" and i18n.resolve_locale(None) == "pt-BR"
        handle = await emu.slash_command("video", {"prompt": "a red kite", "duration": 6}, locale="ja")
        await handle.wait_followup()
        assert handle.ephemeral and "**#1**" in handle.text()
        assert "キューに追加しました" in handle.text(), "the answer is in the member's language (ja)"
        help_handle = await emu.slash_command("videohelp", {}, locale="de")
        await help_handle.wait_for(lambda h: bool(h.text()))
        assert "/video" in help_handle.text()
    finally:
        i18n.set_default_locale("en-US")


def test_the_translator_leaves_out_what_discord_would_refuse() -> None:
    """A bad catalogue entry (a space or a capital in a name, too long) is dropped with a log line rather
    than making Discord refuse the whole sync; English and languages without a catalogue get nothing."""
    assert discord_problem("command name", "zwei wörter") and discord_problem("option name", "Größe")
    assert discord_problem("group name", "x" * 33) and discord_problem("choice name", "x" * 101)
    assert discord_problem("menu name", " Leading space") and discord_problem("option description", "")
    assert discord_problem("command name", "видео-справка") is None
    assert discord_problem("option name", "seitenverhältnis") is None
    assert discord_problem("menu name", "Mit Grok animieren") is None
    translator = CatalogueTranslator()
    assert translator.localise("command name", "video", "ja") == "動画"
    assert translator.localise("command name", "video", "en-GB") is None
    assert translator.localise("command name", "video", "it") is None, "no catalogue: Discord shows English"
    assert translator.localise("command name", "not a command", "de") is None


async def test_commands_are_synced_again_when_only_their_translations_changed(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    """The sync hash covers what Discord receives, localisations included: a bot whose stored hash is of the
    English-only commands (an upgrade from a version without translations, or a catalogue change) syncs."""
    bot = await start_bot()
    syncs = lambda: emu.requests_to("PUT", r"/applications/\d+/commands$")  # noqa: E731
    assert len(syncs()) == 1
    assert await bot.sync_commands_if_changed() is False, "nothing changed: no second sync"
    english = [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    key = f"commands_hash:{bot.application_id}:global"
    await bot.store.set_meta(key, hashlib.sha256(json.dumps(english, sort_keys=True).encode()).hexdigest())
    assert await bot.sync_commands_if_changed() is True
    assert len(syncs()) == 2
    assert syncs()[-1].json[0].get("name_localizations"), "the new sync carries the translations"
