"""The catalogues and the member's locale: which catalogue serves a Discord locale, DEFAULT_LOCALE, and
`translate` with English as the fallback for any message a catalogue lacks."""

from __future__ import annotations

import functools
import logging
import string
from pathlib import Path

from babel.messages.mofile import read_mo

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
#: Discord's locale code -> the gettext catalogue that serves it (English is the source text itself).
CATALOGUES: dict[str, str] = {
    "zh-CN": "zh_CN",
    "zh-TW": "zh_TW",
    "ja": "ja",
    "ko": "ko",
    "es-ES": "es_ES",
    "pt-BR": "pt_BR",
    "fr": "fr",
    "de": "de",
    "ru": "ru",
}
ENGLISH = ("en-US", "en-GB")
#: The locales DEFAULT_LOCALE may name: the ones with a catalogue, and English.
SUPPORTED = (*ENGLISH, *CATALOGUES)
_default_locale = "en-US"


def parse_locale(raw: str) -> str:
    """A Discord locale code we speak, spelt as Discord spells it (`zh_cn` and `ZH-CN` give `zh-CN`)."""
    wanted = raw.strip().replace("_", "-").lower()
    for code in SUPPORTED:
        if code.lower() == wanted:
            return code
    raise ValueError(f"must be one of {', '.join(SUPPORTED)}")


def set_default_locale(locale: str) -> None:
    """The language of members whose locale has no catalogue, and of messages with no member (at start)."""
    global _default_locale
    _default_locale = parse_locale(locale)


def default_locale() -> str:
    return _default_locale


def catalogue_locale(locale: str) -> str | None:
    """The locale whose catalogue serves `locale`: itself, or the one catalogue of its language
    (`es-419` -> `es-ES`); None for English (the source text) and for languages without a catalogue."""
    if locale in CATALOGUES:
        return locale
    language = locale.replace("_", "-").split("-")[0].lower()
    same_language = [code for code in CATALOGUES if code.split("-")[0].lower() == language]
    return same_language[0] if len(same_language) == 1 else None


def resolve_locale(locale: str | None) -> str:
    """What a member with `locale` reads: its catalogue's locale, English for any English, else (no
    catalogue for their language, or no locale at all) DEFAULT_LOCALE."""
    wanted = str(locale) if locale else _default_locale
    if (serving := catalogue_locale(wanted)) is not None:
        return serving
    if wanted.lower().startswith("en"):
        return "en-US"
    return catalogue_locale(_default_locale) or "en-US"


@functools.cache
def catalogue(locale: str) -> dict[tuple[str | None, str], str]:
    """One compiled catalogue, (msgctxt, msgid) -> translation; empty for English or a missing file."""
    name = CATALOGUES.get(locale)
    if name is None:
        return {}
    path = LOCALES_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with path.open("rb") as file:
            compiled = read_mo(file)
    except OSError as exc:
        log.error("the %s catalogue can't be read (%s); English is used instead", locale, exc)
        return {}
    return {
        (message.context, str(message.id)): message.string
        for message in compiled
        if message.id and isinstance(message.string, str) and message.string and not message.fuzzy
    }


def lookup(locale: str | None, msgid: str, context: str | None = None) -> str | None:
    """The catalogue's translation of `msgid` (in `context`) for `locale`, or None if it has none."""
    return catalogue(resolve_locale(locale)).get((context, msgid))


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a message (`{{` and `}}` are literal braces)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def translate(locale: str | None, msgid: str, **params: object) -> str:
    """`msgid` in the member's language (`locale`: a Discord locale code, or None for DEFAULT_LOCALE) with
    `params` filled in; English when the catalogue lacks it, or its placeholders don't match the English."""
    text = lookup(locale, msgid)
    if text is None or placeholders(text) != placeholders(msgid):
        text = msgid
    return text.format(**params)
