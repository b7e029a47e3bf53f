"""Messages and numbers in the member's language: gettext catalogues managed with Babel, CLDR formatting.

Discord-free (bot/core may import it). Discord names a member's language with its own locale codes
(`zh-CN`, `es-ES`, `pt-BR`, `de`, ...); `translate` takes such a code, or None for DEFAULT_LOCALE, and
falls back to the English source text for any message a catalogue lacks. The catalogues are
`locales/<ll_CC>/LC_MESSAGES/messages.po`, compiled to `.mo` next to them (README: "Languages").

Adding a message: write it in English where it is used, `translate(locale, "Your video #{task} is
ready", task=task.id)`, or `msg("…", task=task.id)` where the member's locale is not known yet (a `Msg` is the
English `str`; `localise(text, locale)` renders it where the answer is built), then extract, update, translate
and compile (README). Placeholders are
`str.format` fields; format numbers, durations, money and dates for the locale first, with
`format_number`, `format_duration`, `format_money` and `format_date`.
"""

from bot.i18n.catalogues import (
    CATALOGUES,
    SUPPORTED,
    catalogue_locale,
    default_locale,
    lookup,
    parse_locale,
    resolve_locale,
    set_default_locale,
    translate,
)
from bot.i18n.formats import format_date, format_duration, format_money, format_number
from bot.i18n.messages import Msg, all_of, any_of, localise, localise_str, msg, number

__all__ = [
    "CATALOGUES",
    "SUPPORTED",
    "Msg",
    "all_of",
    "any_of",
    "catalogue_locale",
    "default_locale",
    "format_date",
    "format_duration",
    "format_money",
    "format_number",
    "localise",
    "localise_str",
    "lookup",
    "msg",
    "number",
    "parse_locale",
    "resolve_locale",
    "set_default_locale",
    "translate",
]
