"""Discord's own localisations for every command: name and description, options, choices, menus.

The cogs write their commands in English. `CatalogueTranslator`, installed in setup_hook, answers
discord.py's question "this English string, here, in that locale?" from the gettext catalogues
(bot/i18n): the English string is the msgid and where it stands is the msgctxt, so "video" the command
name and "video" as an option's name can differ. Discord then shows each member the command in their
client's language. A choice whose name is its value (`16:9`, `720p`, `grok_video3`) stays as it is.

`command_strings` lists what the tree asks to translate, msgctxt and msgid: the Babel extractor
(bot/discord/extract.py) and the catalogue tests read the commands through it, exactly as discord.py
sends them.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot import i18n

log = logging.getLogger(__name__)

MENU_NAME = "menu name"
#: msgctxt per place a string stands (a context menu's name is MENU_NAME: it has rules of its own).
MSGCTXT: dict[Where, str] = {
    Where.command_name: "command name",
    Where.command_description: "command description",
    Where.group_name: "group name",
    Where.group_description: "group description",
    Where.parameter_name: "option name",
    Where.parameter_description: "option description",
    Where.choice_name: "choice name",
}
CHAT_INPUT_NAMES = ("command name", "group name", "option name")
NAME_MAX, TEXT_MAX = 32, 100


def msgctxt(context: app_commands.TranslationContextTypes) -> str | None:
    """The catalogue's msgctxt for a string at `context`; None for what is never translated."""
    if context.location is Where.command_name and isinstance(context.data, app_commands.ContextMenu):
        return MENU_NAME
    if context.location is Where.choice_name:
        choice = context.data
        if choice.name == str(choice.value) and not choice.name.isalpha():
            return None  # a value shown as itself: a model id, a ratio, a resolution
    return MSGCTXT.get(context.location)


def _name_char_ok(char: str) -> bool:
    """Discord's `^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]$` for one character."""
    if char in "-_" or unicodedata.category(char)[0] in "LN":
        return True
    return "\u0900" <= char <= "\u097f" or "\u0e00" <= char <= "\u0e7f"  # Devanagari, Thai


def discord_problem(context: str, text: str) -> str | None:
    """Why Discord would refuse `text` as a localisation at `context` (msgctxt), or None."""
    if context in CHAT_INPUT_NAMES:
        if not 1 <= len(text) <= NAME_MAX or not all(map(_name_char_ok, text)):
            return "a name is 1-32 letters, digits, - or _ (no spaces)"
        if text != text.lower():
            return "a name is lower case"
        return None
    if context == MENU_NAME:
        return (
            None if 1 <= len(text) <= NAME_MAX and text.strip() == text else "a menu name is 1-32 characters"
        )
    return None if 1 <= len(text) <= TEXT_MAX else "a description or choice is 1-100 characters"


class CatalogueTranslator(app_commands.Translator):
    """Command strings from the catalogues; None (Discord shows the English) when there is none."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        where = msgctxt(context)
        return None if where is None else self.localise(where, string.message, locale.value)

    def localise(self, where: str, msgid: str, locale: str) -> str | None:
        """`msgid` at `where` (a msgctxt) in `locale`, if its catalogue has a translation Discord accepts."""
        serving = i18n.catalogue_locale(locale)
        text = None if serving is None else i18n.lookup(serving, msgid, where)
        if text is None:
            return None
        if problem := discord_problem(where, text):
            log.warning("the %s %s of %r is left out: %s (%r)", locale, where, msgid, problem, text)
            return None
        return text


class _Recorder(CatalogueTranslator):
    """Writes down what discord.py asks for, and translates nothing."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], None] = {}

    def localise(self, where: str, msgid: str, locale: str) -> str | None:
        self.seen[(where, msgid)] = None
        return None


async def command_strings(tree: app_commands.CommandTree[Any]) -> list[tuple[str, str]]:
    """(msgctxt, msgid) of every string the tree's global commands ask to translate, in tree order."""
    recorder = _Recorder()
    for command in tree.get_commands():
        await command.get_translated_payload(tree, recorder)
    return list(recorder.seen)
