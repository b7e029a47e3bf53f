"""Fair use and admin control as pure rules: who may make a video where, and how many.

No Discord and no I/O: cogs gather the facts (channel, roles, whether the member is an admin), the
store gathers the usage snapshot inside the same transaction as the insert, and these functions say
yes or no, with a refusal that names the limit and when it resets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache

from bot.i18n import format_duration, format_number, msg, resolve_locale, translate

DAY = 86400.0


def help_hint(locale: str | None) -> str:
    """Where members can read how to make videos and this server's rules (cogs/member.py)."""
    return translate(locale, "See /videohelp.")


@dataclass(frozen=True, slots=True)
class Refused:
    """A 'no' for the member, said privately: what was wrong and what would work. Nothing was charged."""

    title: str
    problems: list[str]
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    max_active: int  # tasks a member may have in flight at once (0 = no limit)
    cooldown_seconds: float  # between two of a member's submissions (0 = none)
    member_daily_seconds: int  # video-seconds a member may request per UTC day (0 = no limit)
    server_daily_seconds: int  # video-seconds a whole server may request per UTC day (0 = no limit)


@dataclass(frozen=True, slots=True)
class GuildConfig:
    """What a server's admins chose; None fields fall back to the owner's defaults."""

    guild_id: int
    max_active: int | None = None
    cooldown_seconds: float | None = None
    member_daily_seconds: int | None = None
    server_daily_seconds: int | None = None
    allowed_models: tuple[str, ...] | None = None
    allowed_channels: tuple[int, ...] = ()
    required_role_id: int | None = None
    paused: bool = False
    blocked_words: tuple[str, ...] = ()  # as the admins typed them; matched whole, ignoring case and accents
    age_restricted_only: bool = False  # videos only in age-restricted (NSFW) channels and their threads
    #: Videos of this server with the provider at once (None or 0: only the owner's MAX_IN_FLIGHT bounds it)
    max_in_flight: int | None = None

    def limits(self, defaults: Limits) -> Limits:
        chosen = {f.name: getattr(self, f.name) for f in fields(Limits)}
        return Limits(**{k: getattr(defaults, k) if v is None else v for k, v in chosen.items()})

    def with_changes(self, **changes: object) -> GuildConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Usage:
    """A member's and their server's use, read in the same transaction as the insert it decides."""

    active: int
    last_submitted_at: float | None
    member_seconds_today: int
    server_seconds_today: int


@dataclass(frozen=True, slots=True)
class Requester:
    """The facts about the member and the place that the rules need (gathered by the cogs)."""

    guild_id: int
    channel_id: int
    parent_channel_id: int | None  # a thread's parent, so allowing a channel allows its threads
    role_ids: frozenset[int]
    is_admin: bool  # Manage Server, or the owner's bypass role: limits do not apply
    age_restricted: bool = False  # the channel is age-restricted (a thread: its parent is)
    #: The server's age-restricted channels, to say where videos can be made when the rule refuses.
    age_restricted_channels: tuple[int, ...] = ()


def day_start(now: float) -> float:
    """The start of the current UTC day: daily allowances reset at 00:00 UTC."""
    return now - (now % DAY)


def next_reset(now: float) -> float:
    return day_start(now) + DAY


def discord_time(moment: float, style: str = "R") -> str:
    """Discord renders <t:unix:R> in each member's own time zone and language ("in 3 hours")."""
    return f"<t:{int(moment)}:{style}>"


def check_access(
    config: GuildConfig,
    who: Requester,
    model: str | None,
    role_names: Mapping[int, str],
    locale: str | None = None,
) -> Refused | None:
    """Paused server, channel not allowed, role missing, model not allowed (when one is chosen): each a
    clear refusal, in the member's language (`locale`)."""
    if config.paused and not who.is_admin:
        return Refused(
            translate(locale, "Video making is paused"),
            [translate(locale, "The server's admins paused video making for now.")],
        )
    if config.allowed_channels and not who.is_admin:
        allowed = set(config.allowed_channels)
        if who.channel_id not in allowed and who.parent_channel_id not in allowed:
            places = ", ".join(f"<#{c}>" for c in config.allowed_channels)
            problem = translate(locale, "Videos can be made in {places} on this server.", places=places)
            return Refused(translate(locale, "Not in this channel"), [problem], help_hint(locale))
    if config.age_restricted_only and not who.is_admin and not who.age_restricted:
        return age_refusal(config, who, locale)
    role_needed = config.required_role_id
    if role_needed is not None and not who.is_admin and role_needed not in who.role_ids:
        role = role_names.get(role_needed)
        title = translate(locale, "A role is needed")
        if role is None:  # deleted since an admin chose it: nobody can have it
            return Refused(
                title,
                [translate(locale, "Making videos here needs a role that no longer exists on this server.")],
                translate(locale, "Ask a server admin to choose another one with /videoadmin role."),
            )
        return Refused(title, [translate(locale, "Making videos here needs the {role} role.", role=role)])
    if model is not None and config.allowed_models is not None and model not in config.allowed_models:
        listed = ", ".join(config.allowed_models) or translate(locale, "none")
        return Refused(
            translate(locale, "That model is not available here"),
            [translate(locale, "This server allows these models: {models}.", models=listed)],
        )
    return None


#: An age-restricted-only refusal names at most this many channels (a refusal stays short).
_LISTED_PLACES = 10


def age_refusal(config: GuildConfig, who: Requester, locale: str | None = None) -> Refused:
    """Where videos can be made on a server that allows them only in age-restricted channels: those of its
    age-restricted channels that the channel list (if any) allows, and their threads."""
    allowed = set(config.allowed_channels)
    places = [c for c in who.age_restricted_channels if not allowed or c in allowed]
    title = translate(locale, "Only in age-restricted channels")
    if not places:
        where = translate(
            locale,
            "This server makes videos only in age-restricted (NSFW) channels, "
            "and none is open to videos yet.",
        )
        return Refused(
            title, [where], translate(locale, "Ask a server admin to mark a channel age-restricted.")
        )
    shown = ", ".join(f"<#{c}>" for c in places[:_LISTED_PLACES])
    if len(places) > _LISTED_PLACES:
        extra = format_number(len(places) - _LISTED_PLACES, locale)
        shown = translate(locale, "{channels} and {count} more", channels=shown, count=extra)
    where = translate(
        locale,
        "This server makes videos only in age-restricted (NSFW) channels: {channels} (and their threads).",
        channels=shown,
    )
    return Refused(title, [where], help_hint(locale))


# ---- content rules -------------------------------------------------------------------------------------

#: A server lists at most this many blocked words, each at most this long.
MAX_BLOCKED_WORDS = 200
MAX_BLOCKED_WORD_CHARS = 50
#: What a blocked word may be made of: letters and digits, with spaces, hyphens, apostrophes or dots
#: between them (markdown characters would break the spoilers the list and refusals show it in).
_WORD_SHAPE = re.compile(r"\w+(?:[ '’.-]+\w+)*")


def normalise(text: str) -> str:
    """How words are compared: case- and accent-insensitive. Compatibility forms are unfolded (NFKD: "ﬁ" is
    "fi", full-width letters are plain ones), combining marks dropped ("é" is "e"), invisible format
    characters dropped (a zero-width space hides no word), and case folded ("ß" is "ss")."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(c for c in folded if not unicodedata.combining(c) and unicodedata.category(c) != "Cf")


def word_problem(word: str) -> str | None:
    """Why `word` can't be a blocked word, or None."""
    if len(word) > MAX_BLOCKED_WORD_CHARS:
        return msg("a blocked word can be at most {limit} characters long.", limit=MAX_BLOCKED_WORD_CHARS)
    if not _WORD_SHAPE.fullmatch(normalise(word)) or "_" in word:
        return msg(
            "a blocked word is letters and digits (with spaces, hyphens, apostrophes or dots between)."
        )
    return None


@lru_cache(maxsize=4096)
def _word_pattern(word: str) -> re.Pattern[str]:
    """`word` (normalised) as a whole word: no letter or digit right before or after it; any run of spaces
    inside it matches any run of spaces."""
    inner = r"\s+".join(re.escape(part) for part in normalise(word).split())
    return re.compile(rf"(?<![^\W_]){inner}(?![^\W_])")


def blocked_word_in(text: str, words: Iterable[str]) -> str | None:
    """The first of `words` that `text` contains as a whole word ("ass" is not in "class"), ignoring case
    and accents ("café" is in "CAFE!"), or None."""
    plain = normalise(text)
    for word in words:
        if normalise(word).strip() and _word_pattern(word).search(plain):
            return word
    return None


def check_content(
    config: GuildConfig, prompt: str, *, is_admin: bool, locale: str | None = None
) -> Refused | None:
    """The server's blocked words, checked in the prompt before anything is spent."""
    if is_admin or not config.blocked_words:
        return None
    word = blocked_word_in(prompt, config.blocked_words)
    if word is None:
        return None
    return Refused(
        translate(locale, "That prompt can't be used here"),
        [
            translate(
                locale, "Your prompt contains a word this server does not allow: “||{word}||”.", word=word
            )
        ],
        translate(locale, "Rephrase it and try again. {help}", help=help_hint(locale)),
    )


def check_admission(
    limits: Limits,
    usage: Usage,
    billed_seconds: int,
    now: float,
    *,
    bypass: bool,
    locale: str | None = None,
) -> Refused | None:
    """The fair-use limits, checked atomically with the insert (see TaskStore.create_task_if), refused in
    the member's language (`locale`) with its numbers and durations."""
    if bypass:
        return None
    if limits.max_active and usage.active >= limits.max_active:
        if _english(locale):
            plural = "s" if usage.active != 1 else ""
            limit = limits.max_active
            busy = f"You already have {usage.active} video{plural} in progress (the limit is {limit})."
        else:
            busy = translate(
                locale,
                "Videos you have in progress: {active} (the limit is {limit}).",
                active=format_number(usage.active, locale),
                limit=format_number(limits.max_active, locale),
            )
        return Refused(
            translate(locale, "Too many videos at once"),
            [busy],
            translate(locale, "Wait until one is posted, then try again."),
        )
    if limits.cooldown_seconds and usage.last_submitted_at is not None:
        ready_at = usage.last_submitted_at + limits.cooldown_seconds
        if now < ready_at:
            every = duration_text(limits.cooldown_seconds, locale)
            wait = translate(
                locale,
                "You can ask for another video {when} (one every {every}).",
                when=discord_time(ready_at),
                every=every,
            )
            return Refused(translate(locale, "Cooling down"), [wait])
    reset = discord_time(next_reset(now))
    member_total = usage.member_seconds_today + billed_seconds
    if limits.member_daily_seconds and member_total > limits.member_daily_seconds:
        spans = _allowance_spans(
            billed_seconds, limits.member_daily_seconds, usage.member_seconds_today, locale
        )
        return Refused(
            translate(locale, "Daily allowance reached"),
            [translate(locale, "This video counts {cost}, and you have {left} of your {allowance} left "
                       "today.", **spans)],
            translate(locale, "Your allowance resets {when}. A shorter video may still fit.", when=reset),
        )  # fmt: skip
    server_total = usage.server_seconds_today + billed_seconds
    if limits.server_daily_seconds and server_total > limits.server_daily_seconds:
        spans = _allowance_spans(
            billed_seconds, limits.server_daily_seconds, usage.server_seconds_today, locale
        )
        return Refused(
            translate(locale, "The server's daily allowance is used up"),
            [translate(locale, "This video counts {cost}, and the server has {left} of its {allowance} left "
                       "today.", **spans)],
            translate(locale, "It resets {when}.", when=reset),
        )  # fmt: skip
    return None


def _allowance_spans(cost: int, allowance: int, used: int, locale: str | None) -> dict[str, str]:
    """A daily allowance refusal's numbers: the video's cost, what is left, the allowance."""
    left = max(0, allowance - used)
    spans = {"cost": cost, "left": left, "allowance": allowance}
    return {name: seconds_text(value, locale) for name, value in spans.items()}


def line_notice(position: int, not_before: float | None, now: float, locale: str | None = None) -> str:
    """What a member hears about a request waiting in the line (the answer, the status message)."""
    place = format_number(position, locale)
    text = translate(locale, "⏳ You are #{position} in line: I'll send it to Grok as soon as there is room.",
                     position=place)  # fmt: skip
    if not_before is not None and not_before > now + 1:
        wait = translate(
            locale, "Grok asked me to wait, so not before {when}.", when=discord_time(not_before)
        )
        text += f" {wait}"
    return text


def _english(locale: str | None) -> bool:
    """The member reads the English source texts (their own, or DEFAULT_LOCALE's, is English)."""
    return resolve_locale(locale) == "en-US"


def seconds_text(value: float, locale: str | None = None) -> str:
    """A number of video-seconds: "6 s" in English, the locale's short unit otherwise ("6 Sek.", "6秒")."""
    return f"{int(value)} s" if _english(locale) else format_duration(value, locale)


def duration_text(value: float, locale: str | None = None) -> str:
    """3600 → "1 h", 120 → "2 min", 45 → "45 s"; in another language, the locale's short units."""
    if not _english(locale):
        return format_duration(value, locale)
    value = int(value)
    if value % 3600 == 0 and value >= 3600:
        return f"{value // 3600} h"
    if value % 60 == 0 and value >= 60:
        return f"{value // 60} min"
    return f"{value} s"


# ---- money ---------------------------------------------------------------------------------------------


def parse_prices(raw: str) -> dict[str, float]:
    """`grok_video3=0.05, grok_video3_pro=0.6` → {model: price}; ValueError names the bad part."""
    prices: dict[str, float] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        model, sep, amount = part.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = -1.0
        if not sep or not model.strip() or value < 0:
            raise ValueError(f"“{part}” should look like model=price, e.g. grok_video3=0.05")
        prices[model.strip()] = value
    return prices


def cost(prices: Mapping[str, float], model: str, billing: str, videos: int, seconds: int) -> float | None:
    """Estimated cost in the owner's currency; None when no price is set for the model."""
    price = prices.get(model)
    if price is None:
        return None
    return price * (videos if billing == "per_call" else seconds)


def format_money(amount: float | None, currency: str) -> str:
    return "n/a" if amount is None else f"{amount:,.2f} {currency}"


def total_cost(costs: Sequence[float | None]) -> float | None:
    known = [c for c in costs if c is not None]
    return sum(known) if known else None


def split_words(raw: str) -> list[str]:
    """`café, bad  wolf,,x` → ["café", "bad wolf", "x"]: what an admin typed, one entry per comma."""
    return [" ".join(part.split()) for part in raw.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class WordChange:
    """What `add_words` or `remove_words` did: the new list, and what the admin should hear."""

    words: tuple[str, ...]
    changed: list[str]  # added or removed
    unchanged: list[str]  # already listed (add) or not listed (remove)
    problems: list[str]


def add_words(current: tuple[str, ...], asked: Sequence[str]) -> WordChange:
    """Append the valid new words (same word = same normalised form), up to MAX_BLOCKED_WORDS in all."""
    words, seen = list(current), {normalise(w) for w in current}
    added: list[str] = []
    already: list[str] = []
    problems: list[str] = []
    for word in asked:
        if problem := word_problem(word):
            problems.append(msg("“{word}”: {problem}", word=word[:MAX_BLOCKED_WORD_CHARS], problem=problem))
        elif normalise(word) in seen:
            already.append(word)
        elif len(words) >= MAX_BLOCKED_WORDS:
            problems.append(
                msg("“{word}”: a server can block at most {limit} words.", word=word, limit=MAX_BLOCKED_WORDS)
            )
        else:
            words.append(word)
            seen.add(normalise(word))
            added.append(word)
    return WordChange(tuple(words), added, already, problems)


def remove_words(current: tuple[str, ...], asked: Sequence[str]) -> WordChange:
    """Take the words off the list, whichever case or accents the admin types them with."""
    wanted = {normalise(w) for w in asked}
    kept = tuple(w for w in current if normalise(w) not in wanted)
    removed = [w for w in current if normalise(w) in wanted]
    found = {normalise(w) for w in removed}
    return WordChange(kept, removed, [w for w in asked if normalise(w) not in found], [])
