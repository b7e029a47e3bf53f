"""The fair-use rules as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.policy import (
    DAY,
    MAX_BLOCKED_WORDS,
    GuildConfig,
    Limits,
    Requester,
    Usage,
    add_words,
    blocked_word_in,
    check_access,
    check_admission,
    check_content,
    cost,
    day_start,
    next_reset,
    normalise,
    parse_prices,
    remove_words,
    split_words,
    word_problem,
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


# ---- content rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words", "found"),
    [
        ("Two friends at a CAFE", ["café"], "café"),
        ("the Café opens", ["cafe"], "cafe"),
        ("a cafe\u0301 (decomposed accent)", ["CAFÉ"], "CAFÉ"),
        ("a class act, classic", ["ass"], None),
        ("assassin's creed", ["ass"], None),
        ("what an ass!", ["ass"], "ass"),
        ("ASS.", ["ass"], "ass"),
        ("snake_ass_tail", ["ass"], "ass"),  # an underscore separates words
        ("a\u200bss", ["ass"], "ass"),  # a zero-width space hides nothing
        ("ＡＳＳ", ["ass"], "ass"),  # full-width letters are plain ones
        ("STRASSE", ["straße"], "straße"),  # ß folds to ss
        ("the big   bad\twolf", ["bad wolf"], "bad wolf"),
        ("badwolf", ["bad wolf"], None),
        ("word1", ["word"], None),  # a digit is part of the word
        ("", ["x"], None),
    ],
)
def test_blocked_words_match_whole_words_ignoring_case_and_accents(
    text: str, words: list[str], found: str | None
) -> None:
    assert blocked_word_in(text, words) == found


#: Letters whose upper case folds back to them (not "ı", whose upper case is "I"): what "any case" means.
#: Also not letters whose compatibility form ends in punctuation ("Ŀ" is "L·", Catalan's middle dot): glued
#: to such a letter, a word stands after the dot, as it does after any punctuation.
_LETTER = st.characters(categories=["Ll", "Lu"], max_codepoint=0x24F).filter(
    lambda c: normalise(c.upper()) == normalise(c) and normalise(c).isalpha()
)
_WORDS = st.text(_LETTER, min_size=1, max_size=12)


@given(word=_WORDS, before=_WORDS, after=_WORDS)
def test_a_word_standing_alone_is_found_in_any_case_and_glued_to_letters_never(
    word: str, before: str, after: str
) -> None:
    assert blocked_word_in(f"{before} {word.upper()}, {after}", [word]) == word
    assert blocked_word_in(f"{before}{word}{after}", [word]) is None
    assert blocked_word_in(f"{before}{word}", [word]) is None


@given(st.text(max_size=40))
def test_normalise_is_idempotent(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


def test_content_check_names_the_word_and_spares_managers() -> None:
    config = GuildConfig(1, blocked_words=("café",))
    refused = check_content(config, "Le CAFE", is_admin=False)
    assert (
        refused is not None and "“||café||”" in refused.problems[0] and "/videohelp" in (refused.hint or "")
    )
    assert check_content(config, "Le CAFE", is_admin=True) is None
    assert check_content(config, "cafeteria", is_admin=False) is None


def test_adding_and_removing_words() -> None:
    assert split_words(" café ,, bad   wolf ,") == ["café", "bad wolf"]
    assert word_problem("x" * 51) and word_problem("a|b") and word_problem("**") and word_problem("a_b")
    assert word_problem("rock'n'roll") is None and word_problem("x" * 50) is None
    change = add_words(("café",), ["CAFE", "ok", "a|b"])
    assert change.words == ("café", "ok") and change.changed == ["ok"] and change.unchanged == ["CAFE"]
    assert len(change.problems) == 1 and "“a|b”" in change.problems[0]
    full = add_words(tuple(f"w{n}" for n in range(MAX_BLOCKED_WORDS)), ["one more"])
    assert len(full.words) == MAX_BLOCKED_WORDS and "at most 200" in full.problems[0]
    removed = remove_words(("café", "ok"), ["Cafe", "nope"])
    assert removed.words == ("ok",) and removed.changed == ["café"] and removed.unchanged == ["nope"]


def test_age_restricted_only_names_where_videos_can_be_made() -> None:
    config = GuildConfig(1, age_restricted_only=True)
    nowhere = check_access(config, MEMBER, None, {})
    assert nowhere is not None and "none is open" in nowhere.problems[0]
    who = Requester(1, 10, None, frozenset(), False, age_restricted=False, age_restricted_channels=(20, 30))
    refused = check_access(config, who, None, {})
    assert refused is not None and "<#20>, <#30>" in refused.problems[0]
    # Only those the channel list allows, too.
    listed = check_access(config.with_changes(allowed_channels=(10, 30)), who, None, {})
    assert listed is not None and "<#30>" in listed.problems[0] and "<#20>" not in listed.problems[0]
    inside = Requester(1, 20, None, frozenset(), False, age_restricted=True)
    assert check_access(config, inside, None, {}) is None
    assert check_access(config, Requester(1, 10, None, frozenset(), True), None, {}) is None
