"""The catalogues are complete, correct for Discord, and compiled: every text `pybabel extract` finds in the
code (with babel.cfg, as README's "Languages" runs it) is translated in every language, keeps its
placeholders, obeys Discord's rules for where it stands, and the committed .mo files say what the .po files
say. Plus the small API: locales, DEFAULT_LOCALE, English fallback, CLDR formatting."""

from __future__ import annotations

import io
import re
import string
import unicodedata
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot import i18n
from bot.core.config import ConfigError, load_config
from bot.i18n import formats

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "bot" / "i18n" / "locales"
#: Discord's locale code -> Babel's catalogue name, as the issue lists them (English is the source).
EXPECTED = {
    "zh-CN": "zh_CN", "zh-TW": "zh_TW", "ja": "ja", "ko": "ko", "es-ES": "es_ES", "pt-BR": "pt_BR",
    "fr": "fr", "de": "de", "ru": "ru",
}  # fmt: skip
CHAT_INPUT_NAMES = {"command name", "group name", "option name"}
ENV = {"DISCORD_TOKEN": "x" * 40, "GROK_API_KEY": "y" * 40}


def extracted() -> dict[tuple[str | None, str], str]:
    """(msgctxt, msgid) -> where, for everything `pybabel extract -F babel.cfg -k translate:2 -k msg .`
    finds."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "translate": (2,), "msg": (1,)}
    found: dict[tuple[str | None, str], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords, directory_filter=lambda d: ".venv" not in d
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault((context, msgid), f"{filename}:{lineno}")
    return found


def po(name: str):  # type: ignore[no-untyped-def]
    with (LOCALES / name / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file, locale=name)


def fields(text: str) -> list[str]:
    return sorted(f for _, f, _, _ in string.Formatter().parse(text) if f is not None)


def discord_refuses(context: str | None, text: str) -> str | None:
    """Discord's rules for a localised string at `context`, stated independently of bot/discord."""
    if context in CHAT_INPUT_NAMES:
        allowed = all(
            c in "-_"
            or unicodedata.category(c)[0] in "LN"
            or "\u0900" <= c <= "\u097f"  # \p{sc=Deva}
            or "\u0e00" <= c <= "\u0e7f"  # \p{sc=Thai}
            for c in text
        )
        if not (1 <= len(text) <= 32 and allowed):
            return "not ^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$"
        return None if text == text.lower() else "not lower case"
    if context == "menu name":
        return None if 1 <= len(text) <= 32 else "not 1-32 characters"
    return None if 1 <= len(text) <= 100 else "not 1-100 characters"


def test_the_catalogues_are_the_listed_languages() -> None:
    assert i18n.CATALOGUES == EXPECTED
    on_disk = {p.name for p in LOCALES.iterdir() if p.is_dir()}
    assert on_disk == set(EXPECTED.values()), "a catalogue folder without a locale, or the reverse"


def test_extraction_finds_every_command_string_with_its_context() -> None:
    found = extracted()
    for key in [
        ("command name", "video"),
        ("option name", "aspect_ratio"),
        ("option description", "What should happen: subject, action, camera movement, style"),
        ("group name", "videoadmin"),
        ("group name", "blocked-words"),
        ("command name", "channel-allow"),
        ("choice name", "7 days"),
        ("menu name", "Animate with Grok"),
    ]:
        assert key in found, key
    values = {msgid for context, msgid in found if context == "choice name"}
    assert not values & {"16:9", "720p", "grok_video3"}, "values shown as themselves are not translated"


def test_the_template_is_up_to_date() -> None:
    with (LOCALES / "messages.pot").open("rb") as file:
        template = {(m.context, m.id) for m in read_po(file) if m.id}
    assert template == set(extracted()), "run README's `pybabel extract` and `pybabel update`"


@pytest.mark.parametrize("name", sorted(EXPECTED.values()))
def test_every_extracted_text_is_translated(name: str) -> None:
    catalogue = po(name)
    problems = []
    for (context, msgid), where in extracted().items():
        message = catalogue.get(msgid, context=context)
        if message is None or not message.string:
            problems.append(f"{where}: [{context}] {msgid!r} is not translated")
        elif message.fuzzy:
            problems.append(f"{where}: [{context}] {msgid!r} is fuzzy")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", sorted(EXPECTED.values()))
def test_translations_keep_placeholders_and_obey_discords_rules(name: str) -> None:
    problems = []
    for message in po(name):
        if not message.id or not message.string:
            continue
        text, msgid = str(message.string), str(message.id)
        if fields(text) != fields(msgid):
            problems.append(f"{msgid!r} -> {text!r}: placeholders {fields(msgid)} became {fields(text)}")
        if message.context and (why := discord_refuses(message.context, text)):
            problems.append(f"[{message.context}] {msgid!r} -> {text!r}: {why}")
        if text != text.strip():
            problems.append(f"{msgid!r} -> {text!r}: leading or trailing space")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", sorted(EXPECTED.values()))
def test_the_committed_mo_says_what_the_po_says(name: str) -> None:
    def table(catalogue) -> dict[tuple[str | None, str], str]:  # type: ignore[no-untyped-def]
        return {(m.context, m.id): m.string for m in catalogue if m.id and m.string and not m.fuzzy}

    mo = LOCALES / name / "LC_MESSAGES" / "messages.mo"
    assert mo.exists(), "run `pybabel compile -d bot/i18n/locales`"
    compiled = read_mo(io.BytesIO(mo.read_bytes()))
    assert table(compiled) == table(po(name)), "the .mo is stale: run `pybabel compile -d bot/i18n/locales`"


def test_the_wheel_ships_the_compiled_catalogues() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^"bot\.i18n" = \["locales/\*/LC_MESSAGES/\*\.mo"\]', pyproject, re.MULTILINE)
    assert re.search(r'^packages = \[.*"bot\.i18n"', pyproject, re.MULTILINE)


# ---- the API ------------------------------------------------------------------------------------------


@pytest.fixture
def default_locale():  # type: ignore[no-untyped-def]
    yield i18n.set_default_locale
    i18n.set_default_locale("en-US")


def test_default_locale_parses_as_discord_spells_it() -> None:
    assert load_config(None, ENV).settings.default_locale == "en-US"
    assert load_config(None, {**ENV, "DEFAULT_LOCALE": "zh_cn"}).settings.default_locale == "zh-CN"
    assert load_config(None, {**ENV, "DEFAULT_LOCALE": "PT-br"}).settings.default_locale == "pt-BR"
    with pytest.raises(ConfigError, match=r"DEFAULT_LOCALE.*must be one of en-US, en-GB, zh-CN"):
        load_config(None, {**ENV, "DEFAULT_LOCALE": "klingon"})


def test_no_locale_means_default_locale(default_locale) -> None:  # type: ignore[no-untyped-def]
    assert i18n.resolve_locale(None) == "en-US"
    assert i18n.lookup(None, "video", "command name") is None, "English is the source text"
    default_locale("ja")
    assert i18n.resolve_locale(None) == "ja"
    assert i18n.lookup(None, "video", "command name") == "動画"
    assert i18n.resolve_locale("it") == "ja", "a language without a catalogue gets DEFAULT_LOCALE's"
    assert i18n.resolve_locale("en-GB") == "en-US", "an English member reads English"
    assert formats.format_number(1234.5, None) == "1,234.5"


def test_locales_resolve_to_their_catalogue() -> None:
    assert i18n.lookup("de", "video", "command name") == "video"
    assert i18n.lookup("zh-TW", "video", "command name") == "影片"
    assert i18n.lookup("es-419", "video", "command name") == "vídeo", "Latin American Spanish: es-ES's"
    assert i18n.lookup("ru", "videos", "group name") == "ролики"
    assert i18n.lookup("fr", "role", "command name") == i18n.lookup("fr", "role", "option name") == "rôle"
    assert i18n.lookup("de", "no such text") is None


def test_translate_falls_back_to_english_per_message() -> None:
    text = "Your video #{task} is ready"
    assert i18n.translate("de", text, task=12) == "Your video #12 is ready"
    assert i18n.translate(None, "{n} of {m}", n=1, m=2) == "1 of 2"
    assert i18n.translate("xx-YY", "plain") == "plain"


def test_cldr_formatting_per_locale() -> None:
    assert formats.format_number(1234.5, "de") == "1.234,5"
    assert formats.format_number(1234.5, "fr") == "1\u202f234,5"
    assert formats.format_duration(90, "en-US") == "1 min 30 sec"
    assert formats.format_duration(90, "fr") == "1\xa0min 30\u202fs", "French spacing: CLDR's no-break spaces"
    assert formats.format_duration(3690, "zh-CN") == "1小时1分钟30秒"
    assert formats.format_duration(0, "ja") == "0 秒"
    assert formats.format_money(1.5, "USD", "en-US") == "$1.50"
    assert formats.format_money(1.5, "EUR", "de") == "1,50\xa0€"
    assert formats.format_money(3, "credits", "ja") == "3 credits"
    assert formats.format_date(1772719620, "de") == "05.03.2026, 14:07:00"
    assert formats.format_date(1772719620, "ja", form="long").startswith("2026年3月5日")
    assert formats.format_number(7, "it") == "7", "CLDR knows locales the catalogues don't"
