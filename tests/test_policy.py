"""The fair-use rules as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.policy import (
    DAY,
    GuildConfig,
    Limits,
    Requester,
    Usage,
    check_access,
    check_admission,
    cost,
    day_start,
    next_reset,
    parse_prices,
)

LIMITS = Limits(max_active=2, cooldown_seconds=60, member_daily_seconds=30, server_daily_seconds=100)
NOW = 1_700_000_000.0
FRESH = Usage(active=0, last_submitted_at=None, member_seconds_today=0, server_seconds_today=0)
MEMBER = Requester(guild_id=1, channel_id=10, parent_channel_id=None, role_ids=frozenset({5}), is_admin=False)


def test_each_limit_in_turn() -> None:
    assert check_admission(LIMITS, FRESH, 10, NOW, bypass=False) is None
    busy = Usage(2, None, 0, 0)
    assert "Too many" in check_admission(LIMITS, busy, 10, NOW, bypass=False).title  # type: ignore[union-attr]
    cooling = Usage(0, NOW - 59, 0, 0)
    refusal = check_admission(LIMITS, cooling, 10, NOW, bypass=False)
    assert refusal is not None and f"<t:{int(NOW + 1)}:R>" in refusal.problems[0]
    assert check_admission(LIMITS, Usage(0, NOW - 60, 0, 0), 10, NOW, bypass=False) is None
    spent = Usage(0, None, 25, 25)
    refusal = check_admission(LIMITS, spent, 10, NOW, bypass=False)
    assert refusal is not None and "5 s of your 30 s" in refusal.problems[0]
    assert refusal.hint is not None and f"<t:{int(next_reset(NOW))}:R>" in refusal.hint
    assert check_admission(LIMITS, spent, 5, NOW, bypass=False) is None, "a shorter video still fits"
    server = Usage(0, None, 0, 95)
    assert "server" in check_admission(LIMITS, server, 10, NOW, bypass=False).title  # type: ignore[union-attr]
    assert check_admission(LIMITS, Usage(9, NOW, 999, 999), 10, NOW, bypass=True) is None


def test_zero_means_no_limit() -> None:
    open_limits = Limits(0, 0, 0, 0)
    assert check_admission(open_limits, Usage(50, NOW, 10**6, 10**6), 30, NOW, bypass=False) is None


@given(st.floats(min_value=0, max_value=4e9))
def test_day_boundaries(now: float) -> None:
    assert day_start(now) <= now < next_reset(now) == day_start(now) + DAY
    assert day_start(now) % DAY == 0


def test_access_rules() -> None:
    assert check_access(GuildConfig(1), MEMBER, "grok_video3", {}) is None
    paused = GuildConfig(1, paused=True)
    assert check_access(paused, MEMBER, "grok_video3", {}) is not None
    assert check_access(paused, Requester(1, 10, None, frozenset(), True), "grok_video3", {}) is None
    channels = GuildConfig(1, allowed_channels=(11,))
    refusal = check_access(channels, MEMBER, "grok_video3", {})
    assert refusal is not None and "<#11>" in refusal.problems[0]
    in_thread = Requester(1, 99, 11, frozenset(), False)
    assert check_access(channels, in_thread, "grok_video3", {}) is None, "a thread of an allowed channel"
    role = GuildConfig(1, required_role_id=7)
    refusal = check_access(role, MEMBER, "grok_video3", {7: "Creators"})
    assert refusal is not None and "Creators" in refusal.problems[0]
    models = GuildConfig(1, allowed_models=("grok_video3",))
    assert check_access(models, MEMBER, "grok_video3_max", {}) is not None
    assert check_access(models, MEMBER, "grok_video3", {}) is None


def test_overrides_fall_back_to_defaults() -> None:
    assert GuildConfig(1).limits(LIMITS) == LIMITS
    assert GuildConfig(1, cooldown_seconds=0, max_active=5).limits(LIMITS) == Limits(5, 0, 30, 100)


def test_prices() -> None:
    prices = parse_prices(" grok_video3=0.05, grok_video3_pro=0.5 ,")
    assert prices == {"grok_video3": 0.05, "grok_video3_pro": 0.5}
    assert cost(prices, "grok_video3", "per_second", videos=2, seconds=30) == pytest.approx(1.5)
    assert cost(prices, "grok_video3_pro", "per_call", videos=3, seconds=30) == pytest.approx(1.5)
    assert cost(prices, "grok_video3_max", "per_second", videos=1, seconds=10) is None
    for bad in ("grok_video3", "grok_video3=abc", "=1", "grok_video3=-1"):
        with pytest.raises(ValueError):
            parse_prices(bad)
