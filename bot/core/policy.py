"""Fair use and admin control as pure rules: who may make a video where, and how many.

No Discord and no I/O: cogs gather the facts (channel, roles, whether the member is an admin), the
store gathers the usage snapshot inside the same transaction as the insert, and these functions say
yes or no, with a refusal that names the limit and when it resets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

DAY = 86400.0


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


def day_start(now: float) -> float:
    """The start of the current UTC day: daily allowances reset at 00:00 UTC."""
    return now - (now % DAY)


def next_reset(now: float) -> float:
    return day_start(now) + DAY


def discord_time(moment: float, style: str = "R") -> str:
    """Discord renders <t:unix:R> in each member's own time zone and language ("in 3 hours")."""
    return f"<t:{int(moment)}:{style}>"


def check_access(
    config: GuildConfig, who: Requester, model: str | None, role_names: Mapping[int, str]
) -> Refused | None:
    """Paused server, channel not allowed, role missing, model not allowed (when one is chosen): each a
    clear refusal."""
    if config.paused and not who.is_admin:
        return Refused("Video making is paused", ["The server's admins paused video making for now."])
    if config.allowed_channels and not who.is_admin:
        allowed = set(config.allowed_channels)
        if who.channel_id not in allowed and who.parent_channel_id not in allowed:
            places = ", ".join(f"<#{c}>" for c in config.allowed_channels)
            return Refused("Not in this channel", [f"Videos can be made in {places} on this server."])
    role_needed = config.required_role_id
    if role_needed is not None and not who.is_admin and role_needed not in who.role_ids:
        role = role_names.get(role_needed)
        if role is None:  # deleted since an admin chose it: nobody can have it
            return Refused(
                "A role is needed",
                ["Making videos here needs a role that no longer exists on this server."],
                "Ask a server admin to choose another one with /videoadmin role.",
            )
        return Refused("A role is needed", [f"Making videos here needs the {role} role."])
    if model is not None and config.allowed_models is not None and model not in config.allowed_models:
        listed = ", ".join(config.allowed_models) or "none"
        return Refused("That model is not available here", [f"This server allows these models: {listed}."])
    return None


def check_admission(
    limits: Limits, usage: Usage, billed_seconds: int, now: float, *, bypass: bool
) -> Refused | None:
    """The fair-use limits, checked atomically with the insert (see TaskStore.create_task_if)."""
    if bypass:
        return None
    if limits.max_active and usage.active >= limits.max_active:
        return Refused(
            "Too many videos at once",
            [f"You already have {usage.active} video{'s' if usage.active != 1 else ''} in progress "
             f"(the limit is {limits.max_active})."],
            "Wait until one is posted, then try again.",
        )  # fmt: skip
    if limits.cooldown_seconds and usage.last_submitted_at is not None:
        ready_at = usage.last_submitted_at + limits.cooldown_seconds
        if now < ready_at:
            return Refused(
                "Cooling down",
                [f"You can ask for another video {discord_time(ready_at)} "
                 f"(one every {duration_text(limits.cooldown_seconds)})."],
            )  # fmt: skip
    reset = discord_time(next_reset(now))
    member_total = usage.member_seconds_today + billed_seconds
    if limits.member_daily_seconds and member_total > limits.member_daily_seconds:
        left = max(0, limits.member_daily_seconds - usage.member_seconds_today)
        return Refused(
            "Daily allowance reached",
            [f"This video counts {billed_seconds} s, and you have {left} s of your "
             f"{limits.member_daily_seconds} s left today."],
            f"Your allowance resets {reset}. A shorter video may still fit.",
        )  # fmt: skip
    server_total = usage.server_seconds_today + billed_seconds
    if limits.server_daily_seconds and server_total > limits.server_daily_seconds:
        left = max(0, limits.server_daily_seconds - usage.server_seconds_today)
        return Refused(
            "The server's daily allowance is used up",
            [f"This video counts {billed_seconds} s, and the server has {left} s of its "
             f"{limits.server_daily_seconds} s left today."],
            f"It resets {reset}.",
        )  # fmt: skip
    return None


def duration_text(value: float) -> str:
    """3600 → "1 h", 120 → "2 min", 45 → "45 s"."""
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
