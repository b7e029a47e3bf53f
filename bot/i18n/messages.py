"""Messages that can be rendered in any member's language later: `msg("…", **params)` is a `Msg`, a `str`
whose value is the English text with its parameters filled in (so every caller, log line and test that treats
it as a string keeps working), and which keeps its msgid and parameters, so the code that answers a member
calls `localise(text, locale)` for the translated text. A plain `str` passes through `localise` unchanged.

Parameters are localised along with the message: another `Msg`, a list (`any_of`: "6, 10 or 12", `all_of`:
"1, 2 and 3", joined as CLDR joins lists in that language) or a number (`number`: "1,800", "1.800"). Anything
else is inserted as it is (model ids, values like `16:9`, the member's own words).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, TypeVar

from babel.lists import format_list
from babel.numbers import format_decimal

from bot.i18n.catalogues import lookup, placeholders, resolve_locale
from bot.i18n.formats import babel_locale

T = TypeVar("T")
_ENGLISH = "en-US"


class Msg(str):
    """A translatable message: its `str` value is the English text; `localised(locale)` is the member's."""

    msgid: str
    params: Mapping[str, object]

    def __new__(cls, msgid: str, /, **params: object) -> Msg:
        self = super().__new__(cls, msgid.format(**params) if params else msgid)
        self.msgid = msgid
        self.params = dict(params)
        return self

    def localised(self, locale: str | None) -> str:
        """The text a member with `locale` reads (a Discord locale code; None: DEFAULT_LOCALE)."""
        if resolve_locale(locale) == _ENGLISH:
            return str.__str__(self)
        text = lookup(locale, self.msgid)
        if text is None or placeholders(text) != placeholders(self.msgid):
            text = self.msgid
        if not self.params:
            return text
        return text.format(**{name: localise(value, locale) for name, value in self.params.items()})

    def __reduce__(self) -> tuple[object, ...]:  # copy and pickle keep the message, not just its English
        return (_rebuild, (type(self), self.msgid, dict(self.params)))


def _rebuild(kind: type[Msg], msgid: str, params: dict[str, object]) -> Msg:
    return kind(msgid, **params)


class _Listing(Msg):
    """Items joined the way the language joins a list: "a, b or c" (`any_of`), "a, b and c" (`all_of`)."""

    items: tuple[object, ...]
    style: Literal["or", "standard"]

    def __new__(cls, items: Iterable[object], style: Literal["or", "standard"]) -> _Listing:
        listed = tuple(items)
        words = [str(item) for item in listed]
        last = " or " if style == "or" else " and "
        english = f"{', '.join(words[:-1])}{last}{words[-1]}" if len(words) > 1 else "".join(words)
        self = str.__new__(cls, english)
        self.msgid, self.params, self.items, self.style = english, {}, listed, style
        return self

    def localised(self, locale: str | None) -> str:
        if len(self.items) == 1:
            return localise_str(self.items[0], locale)
        if resolve_locale(locale) == _ENGLISH or not self.items:
            return str.__str__(self)
        words = [localise_str(item, locale) for item in self.items]
        where = babel_locale(resolve_locale(locale))
        return format_list(words, style=self.style, locale=where)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.items, self.style))


class _Number(Msg):
    """A number as the language writes it ("1,800" in English, "1.800" in German); `pattern` is CLDR's."""

    value: float
    pattern: str | None

    def __new__(cls, value: float, pattern: str | None = None) -> _Number:
        english = format_decimal(value, format=pattern, locale=babel_locale(_ENGLISH))
        self = str.__new__(cls, english)
        self.msgid, self.params, self.value, self.pattern = english, {}, value, pattern
        return self

    def localised(self, locale: str | None) -> str:
        return format_decimal(self.value, format=self.pattern, locale=babel_locale(resolve_locale(locale)))

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.value, self.pattern))


def msg(msgid: str, /, **params: object) -> Msg:
    """A message to translate (`pybabel extract -k msg` finds it): `msg("Pick {n}.", n=3)` reads "Pick 3."."""
    return Msg(msgid, **params)


def any_of(items: Iterable[object]) -> Msg:
    """ "6, 10 or 12" in English, "6、10或12" in Chinese: the allowed values of a message."""
    return _Listing(items, "or")


def all_of(items: Iterable[object]) -> Msg:
    """ "1, 2 and 3" in English, "1, 2 und 3" in German."""
    return _Listing(items, "standard")


def number(value: float, pattern: str | None = None) -> Msg:
    """`value` as the member's language writes numbers; `pattern` as CLDR's ("0.00": two decimals)."""
    return _Number(value, pattern)


def localise(text: T, locale: str | None) -> T | str:
    """`text` for a member with `locale`: a `Msg` translated (English where a catalogue lacks it); anything
    else, a plain `str` included, unchanged."""
    return text.localised(locale) if isinstance(text, Msg) else text


def localise_str(text: object, locale: str | None) -> str:
    """`localise`, always as a plain `str`."""
    return text.localised(locale) if isinstance(text, Msg) else str(text)
