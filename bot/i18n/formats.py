"""Numbers, durations, money and dates as the member's locale writes them (Babel's CLDR data).

Each helper takes a Discord locale code (any of Discord's, catalogue or not: CLDR knows them all) or None
for DEFAULT_LOCALE."""

from __future__ import annotations

from datetime import UTC, datetime

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.lists import format_list
from babel.numbers import format_currency, format_decimal
from babel.units import format_unit

from bot.i18n.catalogues import default_locale

_UNITS = (("duration-day", 86_400), ("duration-hour", 3_600), ("duration-minute", 60), ("duration-second", 1))


def babel_locale(locale: str | None) -> Locale:
    """Babel's locale for a Discord locale code (`zh-CN` -> zh_CN, `es-419` -> es_419)."""
    for code in (locale, default_locale(), "en-US"):
        if code:
            try:
                return Locale.parse(str(code).replace("-", "_"))
            except (ValueError, UnknownLocaleError):
                continue
    raise AssertionError("en_US is always known")  # pragma: no cover


def format_number(value: float, locale: str | None) -> str:
    """1234.5 -> "1,234.5" (en), "1.234,5" (de), "1 234,5" (fr)."""
    return format_decimal(value, locale=babel_locale(locale))


def format_money(amount: float, currency: str, locale: str | None) -> str:
    """An amount in an ISO 4217 currency ("$1.50", "1,50 $"); any other unit ("credits") as a number and
    the unit's name, since CLDR knows no symbol for it."""
    where = babel_locale(locale)
    if len(currency) == 3 and currency.isalpha() and currency.upper() in where.currencies:
        return format_currency(amount, currency.upper(), locale=where)
    return f"{format_decimal(amount, locale=where)} {currency}"


def format_duration(seconds: float, locale: str | None) -> str:
    """Whole seconds in the locale's short units, largest first: 90 -> "1 min 30 sec" (en), "1 min 30 s"
    (fr), "1分钟30秒" (zh-CN). Zero is "0 sec"."""
    where = babel_locale(locale)
    left = max(0, round(seconds))
    parts = []
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(format_unit(count, unit, length="short", locale=where))
    if not parts:
        parts.append(format_unit(0, "duration-second", length="short", locale=where))
    for style in ("unit-narrow", "unit-short", "unit"):  # some locales' CLDR data lacks a style's patterns
        try:
            return format_list(parts, style=style, locale=where)
        except KeyError:
            continue
    return " ".join(parts)  # pragma: no cover


def format_date(when: float | datetime, locale: str | None, *, form: str = "medium") -> str:
    """A moment (a UNIX time, or an aware datetime) as the locale writes it, in UTC: "Mar 5, 2026,
    2:07:00 PM" (en), "05.03.2026, 14:07:00" (de). `form` is CLDR's short, medium, long or full."""
    moment = datetime.fromtimestamp(when, UTC) if isinstance(when, int | float) else when
    return format_datetime(moment, format=form, tzinfo=UTC, locale=babel_locale(locale))
