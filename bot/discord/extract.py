"""`pybabel extract`'s method for cogs (babel.cfg): the `_()`-style calls Babel's Python extractor finds,
plus every command string the cog registers (names, descriptions, options, choices, menus), each with its
msgctxt, read from the commands exactly as discord.py would send them to Discord.

The cog is loaded into a bot that never connects (default settings, the built-in model catalogue), the way
setup_hook loads it; nothing is started."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from babel.messages.extract import extract_python

from bot.core.catalogue import Catalogue
from bot.core.config import Settings
from bot.discord.app import EXTENSIONS, GrokVideoBot
from bot.discord.translator import CHAT_INPUT_NAMES, MENU_NAME, command_strings

__all__ = ["extract_commands", "registered_strings"]  # extract_commands: Babel's entry point (pyproject)

NOTES = {
    MENU_NAME: "A message menu's name: 1-32 characters, spaces and capitals allowed.",
    **dict.fromkeys(
        CHAT_INPUT_NAMES, "A name members type after /: 1-32 characters, lower case, no spaces (- or _)."
    ),
}
TEXT_NOTE = "At most 100 characters."


async def registered_strings(extensions: Collection[str] = EXTENSIONS) -> list[tuple[str, str]]:
    """(msgctxt, msgid) of every command string the extensions register, in the order Discord gets them."""
    bot = GrokVideoBot(Settings(), Catalogue.load(None))
    for extension in extensions:
        await bot.load_extension(extension)
    return await command_strings(bot.tree)


def extract_commands(
    fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str], options: Any
) -> Iterator[tuple[Any, ...]]:
    """A Babel extraction method (`[bot.discord.extract:extract_commands: cogs/**.py]` in babel.cfg)."""
    source = fileobj.read()
    fileobj.seek(0)
    yield from extract_python(fileobj, keywords, comment_tags, options)
    path = Path(getattr(fileobj, "name", ""))
    extension = f"cogs.{path.stem}"
    if extension not in EXTENSIONS:
        return
    lines = source.decode("utf-8").splitlines()
    for context, msgid in asyncio.run(registered_strings([extension])):
        quoted = (f'"{msgid}"', f"'{msgid}'")
        lineno = next((n for n, line in enumerate(lines, 1) if any(q in line for q in quoted)), 0)
        yield lineno, "pgettext", (context, msgid), [NOTES.get(context, TEXT_NOTE)]
