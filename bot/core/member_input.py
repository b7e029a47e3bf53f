"""What members typed or attached, turned into plain values: no Discord, easy to test.

Image attachments are judged before any money is spent; reply mode's `--flags` become options. The Discord
side (bot/discord/requests.py) turns attachments into `ImageFile`s; everything else happens here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.catalogue import Catalogue
from bot.core.request import VideoRequest
from bot.i18n import msg, number

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


@dataclass(frozen=True, slots=True)
class ImageFile:
    """What we need of a Discord attachment to judge it and pass it on."""

    filename: str
    url: str
    size: int
    content_type: str | None


def image_problems(files: list[ImageFile], max_bytes: int) -> list[str]:
    problems: list[str] = []
    for f in files:
        kind = (f.content_type or "").split(";")[0].strip().lower()
        if kind not in IMAGE_TYPES:
            problems.append(
                msg("{file} is not an image I can use (PNG, JPEG, WebP or GIF).", file=f.filename)
            )
        elif f.size > max_bytes:
            size, cap = number(f.size / 1048576, "0.00"), number(max_bytes / 1048576, "0.##")
            problems.append(
                msg(
                    "{file} is {size} MB; images can be at most {limit} MB.",
                    file=f.filename,
                    size=size,
                    limit=cap,
                )
            )
    return problems


def request_from(fields: Mapping[str, Any], images: Sequence[ImageFile], default_model: str) -> VideoRequest:
    """One surface's fields (model, prompt, duration, aspect_ratio, resolution; absent or empty = not
    chosen) and its images, as the request every surface hands the pipeline."""
    return VideoRequest(
        model=fields.get("model") or default_model,
        prompt=fields.get("prompt") or "",
        duration=fields.get("duration"),
        aspect_ratio=fields.get("aspect_ratio") or None,
        resolution=fields.get("resolution") or None,
        image_urls=tuple(image.url for image in images),
    )


# ---- reply mode flags ----------------------------------------------------------------------------------

_FLAG_NAMES = {
    "--model": "model",
    "-m": "model",
    "--duration": "duration",
    "-d": "duration",
    "--aspect": "aspect_ratio",
    "--ar": "aspect_ratio",
    "--aspect-ratio": "aspect_ratio",
    "--resolution": "resolution",
    "--res": "resolution",
}
_FLAG_RE = re.compile(r"(?<!\S)(--?[A-Za-z-]+)(?:[ =]+([^\s-][^\s]*))?")


@dataclass(frozen=True, slots=True)
class ParsedReply:
    prompt: str
    options: dict[str, str]
    problems: list[str]


def parse_reply(text: str, catalogue: Catalogue) -> ParsedReply:
    """`a cat surfing --model grok_video3_max --ar 9:16` → prompt + options; unknown flags are problems.

    The examples in the messages come from the catalogue as loaded, so they always name real values.
    """
    examples = flag_examples(catalogue)
    options: dict[str, str] = {}
    problems: list[str] = []

    def take(match: re.Match[str]) -> str:
        flag, value = match.group(1).lower(), match.group(2)
        name = _FLAG_NAMES.get(flag)
        if name is None:
            problems.append(
                msg("I don't know the option {flag}. I know --model, --duration, --ar and --res.", flag=flag)
            )
        elif value is None:
            problems.append(
                msg("{flag} needs a value, e.g. {flag} {example}.", flag=flag, example=examples[name])
            )
        else:
            options[name] = value
        return " "

    prompt = " ".join(_FLAG_RE.sub(take, text).split())
    return ParsedReply(prompt, options, problems)


def flag_examples(catalogue: Catalogue) -> dict[str, str]:
    """One real value per option, from the catalogue: the default model and what it takes."""
    spec = catalogue.models[catalogue.default_model]
    return {
        "model": spec.id,
        "duration": str(spec.default_duration),
        "aspect_ratio": spec.aspect_ratios[-1],
        "resolution": spec.default_resolution,
    }


def parse_duration(raw: str | None) -> tuple[int | None, str | None]:
    if raw is None or not raw.strip():
        return None, None
    text = raw.strip().lower().removesuffix("s").strip()
    if not text.isdigit():
        written = raw.strip()[:20]
        return None, msg(
            "The duration must be a whole number of seconds (you wrote “{written}”).", written=written
        )
    return int(text), None
