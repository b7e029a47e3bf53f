"""The one place a member's request is checked against the models' limits and turned into the API's body.

Pure: no Discord, no network. The models themselves are data in `bot/core/models.py`; an owner's
MODELS_FILE (`bot/core/models_file.py`) may change them. Every surface (the /video options, the form's
select, reply-mode flags, the messages) reads the catalogue as loaded, never the built-in list.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from bot.core.models import (
    CONTRACT,
    MAX_MODELS,
    CatalogueError,
    ModelSpec,
    catalogue_problems,
    join_or,
)
from bot.core.models_file import apply_overrides
from bot.core.request import VideoRequest
from bot.i18n import Msg, all_of, msg, number

__all__ = [
    "MAX_MODELS",
    "MAX_PROMPT_CHARS",
    "PREFERRED_DEFAULT_MODEL",
    "Catalogue",
    "CatalogueError",
    "InvalidRequest",
    "ModelSpec",
    "VideoRequest",
    "visible",
]

# The prompt is shown back in the status embed's description (4,096) and, where embeds are not allowed or
# the bot falls back to a DM, in a plain message whose content caps at 2,000 characters; 1,800 leaves room
# for the mention and labels around it. Discord's inputs (modal text field 4,000, slash option 6,000) are
# both larger, so this cap is the binding one and members are told it.
MAX_PROMPT_CHARS = 1800
#: The model a member gets without choosing one, while the catalogue has it.
PREFERRED_DEFAULT_MODEL = "grok_video3"

# Characters that draw nothing: a prompt made only of these is empty to a person, yet would be paid for.
# Unicode's format (Cf: zero-width spaces, bidi controls, the BOM), control and separator categories, plus
# the blank "letters" people paste to fake an empty message (Braille blank, the Hangul fillers, Khmer's
# inherent vowels, the combining grapheme joiner).
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Cn", "Zs", "Zl", "Zp"})
_BLANK_LOOKALIKES = frozenset("\u2800\u3164\u115f\u1160\uffa0\u17b4\u17b5\u034f")


def visible(text: str) -> bool:
    """Whether the text shows anything at all (whitespace and invisible characters don't count)."""
    return any(
        not ch.isspace()
        and ch not in _BLANK_LOOKALIKES
        and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
        for ch in text
    )


_WHITESPACE_RE = re.compile(r"\s")
_DATA_IMAGE_RE = re.compile(r"data:image/[A-Za-z0-9.+-]+(;[^,\s]*)?,\S+", re.IGNORECASE)


def _echo(value: object, limit: int = 24) -> str:
    """A member's own input, quoted back safely and briefly."""
    if isinstance(value, int) and not isinstance(value, bool):
        # str() of a huge int is slow (and refused past 4,300 digits); nobody needs the digits back.
        if abs(value) < 1_000_000:
            return str(value)
        return msg("a huge number") if value > 0 else msg("a negative number")
    # One line, and "@everyone" quoted back cannot ping even if a caller forgets allowed_mentions.
    text = " ".join(str(value).split()).replace("@", "@\u200b")
    if not text:
        return msg("an empty value")
    return f"“{text if len(text) <= limit else text[: limit - 1] + '…'}”"


class InvalidRequest(ValueError):
    """build_body() was given a request validate() refuses; `problems` are the member-facing sentences."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


def _is_web_url(url: str) -> bool:
    if not url[:8].lower().startswith(("http://", "https://")) or _WHITESPACE_RE.search(url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a malformed IPv6 host
        return False


def _is_data_image(url: str) -> bool:
    return _DATA_IMAGE_RE.fullmatch(url) is not None


class Catalogue:
    """The models the bot offers, in the provider's order; checks requests and builds the provider's body."""

    __slots__ = ("default_model", "models")

    def __init__(self, models: Mapping[str, ModelSpec]) -> None:
        if problems := catalogue_problems(models):
            raise ValueError("; ".join(problems))
        self.models: Mapping[str, ModelSpec] = MappingProxyType(dict(models))
        #: What a member gets without choosing: Grok Video 3 while it is enabled, else the first model left.
        self.default_model: str = (
            PREFERRED_DEFAULT_MODEL if PREFERRED_DEFAULT_MODEL in self.models else next(iter(self.models))
        )

    @classmethod
    def default(cls) -> Catalogue:
        return cls({spec.id: spec for spec in CONTRACT})

    @classmethod
    def load(cls, path: Path | None) -> Catalogue:
        """The contract, with MODELS_FILE's overrides applied if a path is given (else CatalogueError)."""
        if path is None:
            return cls.default()
        return cls(apply_overrides(path, cls.default().models))

    # ---- what the surfaces offer (the /video options, the form, reply-mode flags) ------------------------

    def aspect_ratios(self) -> tuple[str, ...]:
        """Every aspect ratio some model takes, in the order the catalogue first names them."""
        return tuple(dict.fromkeys(r for spec in self.models.values() for r in spec.aspect_ratios))

    def resolutions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for spec in self.models.values() for r in spec.resolutions))

    def duration_bounds(self) -> tuple[int, int]:
        """The shortest and longest duration any model takes: the range the slash option allows."""
        return (
            min(spec.durations[0] for spec in self.models.values()),
            max(spec.durations[-1] for spec in self.models.values()),
        )

    def max_images(self) -> int:
        return max(spec.max_images for spec in self.models.values())

    def spec_or_default(self, model_id: str | None) -> ModelSpec:
        """The named model if the catalogue has it, else the default: for hints that must never fail."""
        return self.models.get(model_id or "") or self.models[self.default_model]

    def get(self, model_id: str) -> ModelSpec | None:
        return self.models.get(model_id)

    def validate(self, request: VideoRequest) -> list[str]:
        """Every problem with the request at once, as sentences a member understands; empty means valid.
        Each is a `Msg` (bot.i18n): English as a `str`, and in the member's language once localised."""
        problems: list[str] = []
        spec = self.models.get(request.model)
        if spec is None:
            problems.append(self._unknown_model(request.model))
        prompt = request.prompt.strip()
        if not visible(prompt):
            problems.append(msg("Please describe the video you want: the prompt is empty."))
        elif len(prompt) > MAX_PROMPT_CHARS:
            problems.append(
                msg(
                    "The prompt can be at most {limit} characters long (yours is {length}).",
                    limit=number(MAX_PROMPT_CHARS),
                    length=number(len(prompt)),
                )
            )
        images = request.image_urls
        if spec is not None:
            problems.extend(self._option_problems(spec, request))
            if len(images) > spec.max_images:
                problems.append(self._too_many_images(spec, len(images)))
            if spec.public_urls_only and any(_is_data_image(u) for u in images):
                problems.append(
                    msg("{model} needs images as public links, not embedded (data:) images.", model=spec.id)
                )
        bad = [n for n, url in enumerate(images, 1) if not (_is_web_url(url) or _is_data_image(url))]
        if bad:
            problems.append(self._bad_images(bad, public_only=spec is not None and spec.public_urls_only))
        return problems

    def resolve(self, request: VideoRequest) -> VideoRequest:
        """The request with every default filled in: what the task stores, shows and regenerates.

        Raises InvalidRequest if validate() objects. A fixed-length model's duration is its length.
        """
        if problems := self.validate(request):
            raise InvalidRequest(problems)
        spec = self.models[request.model]
        return VideoRequest(
            model=spec.id,
            prompt=request.prompt.strip(),
            duration=spec.default_duration if request.duration is None else request.duration,
            aspect_ratio=spec.default_aspect_ratio if request.aspect_ratio is None else request.aspect_ratio,
            resolution=spec.default_resolution if request.resolution is None else request.resolution,
            image_urls=request.image_urls,
        )

    def build_body(self, request: VideoRequest) -> dict[str, Any]:
        """The exact JSON body for POST /v1/grok/videos; raises InvalidRequest if validate() objects."""
        resolved = self.resolve(request)
        spec = self.models[resolved.model]
        body: dict[str, Any] = {"model": spec.id, "prompt": resolved.prompt}
        if spec.send_duration:
            body["duration"] = resolved.duration
        body["aspect_ratio"] = resolved.aspect_ratio
        body["resolution"] = resolved.resolution
        if resolved.image_urls:  # the key itself switches to image-to-video: never send it empty
            body["image_urls"] = list(resolved.image_urls)
        return body

    @staticmethod
    def _too_many_images(spec: ModelSpec, given: int) -> Msg:
        if spec.max_images == 0:
            return msg(
                "{model} does not take reference images (you gave {given}).", model=spec.id, given=given
            )
        if spec.max_images == 1:
            return msg("{model} takes at most one image (you gave {given}).", model=spec.id, given=given)
        return msg(
            "{model} takes up to {count} images (you gave {given}).",
            model=spec.id,
            count=spec.max_images,
            given=given,
        )

    @staticmethod
    def _option_problems(spec: ModelSpec, request: VideoRequest) -> list[str]:
        out: list[str] = []
        d, lo, hi = request.duration, spec.durations[0], spec.durations[-1]
        if d is not None and d not in spec.durations:
            model, asked = spec.id, _echo(d)
            if not spec.send_duration:
                out.append(
                    msg(
                        "{model} always makes {seconds}-second videos; leave duration empty.",
                        model=model,
                        seconds=lo,
                    )
                )
            elif len(spec.durations) == 1:
                out.append(
                    msg(
                        "{model} always makes {seconds}-second videos (you asked for {asked}).",
                        model=model,
                        seconds=lo,
                        asked=asked,
                    )
                )
            elif spec.is_range():
                out.append(
                    msg(
                        "{model} takes any whole number of seconds from {low} to {high} "
                        "(you asked for {asked}).",
                        model=model,
                        low=lo,
                        high=hi,
                        asked=asked,
                    )
                )
            else:
                out.append(
                    msg(
                        "{model} takes {durations} seconds (you asked for {asked}).",
                        model=model,
                        durations=spec.describe_durations(),
                        asked=asked,
                    )
                )
        options = ((request.aspect_ratio, spec.aspect_ratios), (request.resolution, spec.resolutions))
        for wanted, allowed in options:
            if wanted is not None and wanted not in allowed:
                if len(allowed) == 1:
                    out.append(
                        msg(
                            "{model} only makes {value} videos (you asked for {asked}).",
                            model=spec.id,
                            value=allowed[0],
                            asked=_echo(wanted),
                        )
                    )
                else:
                    out.append(
                        msg(
                            "{model} makes {values} videos (you asked for {asked}).",
                            model=spec.id,
                            values=join_or(allowed),
                            asked=_echo(wanted),
                        )
                    )
        return out

    def _unknown_model(self, asked: str) -> str:
        ids = list(self.models)
        shown = ids
        # Keep the sentence short even for a large owner-defined catalogue.
        while len(", ".join(shown)) > 200 and len(shown) > 1:
            shown = shown[:-1]
        listing = (
            join_or(shown)
            if shown == ids
            else msg("{models} and {count} more", models=", ".join(shown), count=len(ids) - len(shown))
        )
        if not asked.strip():
            return msg("Please choose a model: {models}.", models=listing)
        return msg(
            "There is no model called {asked}. Choose one of: {models}.", asked=_echo(asked), models=listing
        )

    @staticmethod
    def _bad_images(positions: list[int], *, public_only: bool) -> str:
        if public_only:
            accepted = msg("links starting with http:// or https://")
        else:
            accepted = msg("links starting with http:// or https:// or embedded images (data:image/…)")
        if len(positions) == 1:
            which = msg("Image {position} is not a usable image", position=positions[0])
        elif len(positions) <= 6:
            which = msg(
                "Images {positions} are not usable images", positions=all_of(str(p) for p in positions)
            )
        else:
            which = msg("{count} of the images are not usable images", count=len(positions))
        return msg("{problem}; please send images as {accepted}.", problem=which, accepted=accepted)
