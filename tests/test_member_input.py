"""Reply-mode flags, durations and image checks: pure parsing."""

from __future__ import annotations

from bot.core.catalogue import Catalogue
from bot.core.member_input import ImageFile, image_problems, parse_duration, parse_reply


def test_flags_are_taken_out_of_the_prompt() -> None:
    parsed = parse_reply(
        "  a cat surfing --model grok_video3_max --ar 9:16 --res=480p --duration 12 at sunset ",
        Catalogue.default(),
    )
    assert parsed.prompt == "a cat surfing at sunset"
    assert parsed.options == {
        "model": "grok_video3_max",
        "aspect_ratio": "9:16",
        "resolution": "480p",
        "duration": "12",
    }
    assert parsed.problems == []


def test_unknown_or_empty_flags_are_problems_and_dashes_in_words_are_kept() -> None:
    parsed = parse_reply("a well-lit room --fps 60 --model", Catalogue.default())
    assert parsed.prompt == "a well-lit room"  # the unknown flag took its value with it; refused anyway
    assert len(parsed.problems) == 2
    assert "--fps" in parsed.problems[0] and "--model needs a value" in parsed.problems[1]


def test_durations() -> None:
    assert parse_duration(None) == (None, None)
    assert parse_duration(" ") == (None, None)
    assert parse_duration("10s") == (10, None)
    value, problem = parse_duration("ten")
    assert value is None and problem is not None and "whole number" in problem


def test_images_by_type_and_size() -> None:
    files = [
        ImageFile("ok.png", "https://cdn/ok.png", 100, "image/png"),
        ImageFile("doc.pdf", "https://cdn/doc.pdf", 100, "application/pdf"),
        ImageFile("big.jpg", "https://cdn/big.jpg", 30 * 1048576, "image/jpeg; charset=binary"),
        ImageFile("unknown", "https://cdn/unknown", 100, None),
    ]
    problems = image_problems(files, 20 * 1048576)
    assert [p.split(" ")[0] for p in problems] == ["doc.pdf", "big.jpg", "unknown"]
