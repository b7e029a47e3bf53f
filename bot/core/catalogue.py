"""The four Grok video models' limits as data, and the one place a request is checked against them.

Pure: no Discord, no network. The only I/O is reading the optional MODELS_FILE (TOML), which lets a server
owner correct a model's limits without a code change, because the provider's own pages disagree with each
other (see models.example.toml). The defaults follow the provider's "Create Video Task" page word for word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

Billing = Literal["per_second", "per_call"]
BILLINGS: tuple[str, ...] = get_args(Billing)

# The prompt is shown back in the status embed's description (4,096) and, where embeds are not allowed or
# the bot falls back to a DM, in a plain message whose content caps at 2,000 characters; 1,800 leaves room
# for the mention and labels around it. Discord's inputs (modal text field 4,000, slash option 6,000) are
# both larger, so this cap is the binding one and members are told it.
MAX_PROMPT_CHARS = 1800

# A slash-command option shows at most 25 choices, so a catalogue larger than that could not be offered.
MAX_MODELS = 25
_MAX_DURATION = 600  # owner-supplied limits beyond ten minutes are surely typos
_MAX_LISTED_DURATIONS = 12  # non-contiguous lists longer than this would make unreadable messages
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
_RATIO_RE = re.compile(r"[1-9][0-9]?:[1-9][0-9]?")
_RESOLUTION_RE = re.compile(r"[0-9A-Za-z]{2,10}")
_WHITESPACE_RE = re.compile(r"\s")
_DATA_IMAGE_RE = re.compile(r"data:image/[A-Za-z0-9.+-]+(;[^,\s]*)?,\S+", re.IGNORECASE)


def _join_or(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _echo(value: object, limit: int = 24) -> str:
    """A member's own input, quoted back safely and briefly."""
    if isinstance(value, int) and not isinstance(value, bool):
        # str() of a huge int is slow (and refused past 4,300 digits); nobody needs the digits back.
        if abs(value) < 1_000_000:
            return str(value)
        return "a huge number" if value > 0 else "a negative number"
    # One line, and "@everyone" quoted back cannot ping even if a caller forgets allowed_mentions.
    text = " ".join(str(value).split()).replace("@", "@\u200b")
    if not text:
        return "an empty value"
    return f"“{text if len(text) <= limit else text[: limit - 1] + '…'}”"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    label: str
    durations: tuple[int, ...]
    default_duration: int
    send_duration: bool  # False: the model makes one fixed length and the field must not be sent
    aspect_ratios: tuple[str, ...]
    default_aspect_ratio: str
    resolutions: tuple[str, ...]
    default_resolution: str
    max_images: int
    public_urls_only: bool  # True: data: (base64) images are refused
    billing: Billing
    description: str = ""  # empty: derived, e.g. "6–30 s, 5 ratios, 480p/720p, up to 7 images"

    def __post_init__(self) -> None:
        # Sorted and de-duplicated so messages and choices list durations in order.
        object.__setattr__(self, "durations", tuple(sorted(set(self.durations))))
        object.__setattr__(self, "aspect_ratios", tuple(self.aspect_ratios))
        object.__setattr__(self, "resolutions", tuple(self.resolutions))
        if not self.description and not self.problems():
            object.__setattr__(self, "description", self._summary())

    def billed_seconds(self, duration: int | None) -> int:
        """Video-seconds a request counts for; per-call and fixed-length models count their default length."""
        if self.billing == "per_call" or not self.send_duration or duration is None:
            return self.default_duration
        return duration

    def describe_durations(self) -> str:
        d = self.durations
        if len(d) == 1:
            return f"always {d[0]}"
        if self._is_range():
            return f"any whole number from {d[0]} to {d[-1]}"
        return _join_or([str(x) for x in d])

    def _is_range(self) -> bool:
        d = self.durations
        return len(d) >= 3 and d == tuple(range(d[0], d[-1] + 1))

    def _summary(self) -> str:
        d = self.durations
        if len(d) == 1:
            seconds = f"always {d[0]} s"
        elif self._is_range():
            seconds = f"{d[0]}–{d[-1]} s"
        else:
            seconds = "/".join(str(x) for x in d) + " s"
        n_ratios = len(self.aspect_ratios)
        ratios = self.aspect_ratios[0] if n_ratios == 1 else f"{n_ratios} ratios"
        if self.max_images == 0:
            images = "no images"
        else:
            kind = "image link" if self.public_urls_only else "image"
            images = f"up to {_plural(self.max_images, kind)}"
        return f"{seconds}, {ratios}, {'/'.join(self.resolutions)}, {images}"

    def problems(self) -> list[str]:
        """Broken invariants, worded for the owner editing MODELS_FILE; empty when the spec is usable."""
        out: list[str] = []
        if not _ID_RE.fullmatch(self.id):
            out.append(f"the model id {self.id!r} must be 1–60 letters, digits, '_', '.' or '-'")
        if not self.label.strip() or len(self.label) > 40:
            out.append("label must be 1–40 characters")
        if len(self.description) > 100:
            out.append("description must be at most 100 characters (Discord's limit for a choice)")
        if not self.durations:
            out.append("durations must not be empty")
        elif self.durations[0] < 1 or self.durations[-1] > _MAX_DURATION:
            out.append(f"durations must be between 1 and {_MAX_DURATION} seconds")
        elif not self._is_range() and len(self.durations) > _MAX_LISTED_DURATIONS:
            out.append(f"durations may list at most {_MAX_LISTED_DURATIONS} values unless they form a range")
        elif self.default_duration not in self.durations:
            out.append(f"default_duration {self.default_duration} is not one of the durations")
        if not self.send_duration and len(self.durations) != 1:
            out.append("send_duration = false needs exactly one duration (the length the model always makes)")
        for name, values, default, pattern, example, cap in (
            ("aspect_ratios", self.aspect_ratios, self.default_aspect_ratio, _RATIO_RE, "16:9", 10),
            ("resolutions", self.resolutions, self.default_resolution, _RESOLUTION_RE, "720p", 6),
        ):
            singular = name[:-1]
            if not values:
                out.append(f"{name} must not be empty")
            elif len(values) > cap:
                out.append(f"{name} may list at most {cap} values")
            elif bad := [v for v in values if not pattern.fullmatch(v)]:
                out.append(f"{name} has values not shaped like {example!r}: {', '.join(map(repr, bad))}")
            elif len(set(values)) != len(values):
                out.append(f"{name} lists a value twice")
            elif default not in values:
                out.append(f"default_{singular} {default!r} is not one of the {name}")
        if not 0 <= self.max_images <= 20:
            out.append("max_images must be between 0 and 20")
        if self.billing not in BILLINGS:
            out.append(f"billing must be {' or '.join(map(repr, BILLINGS))}")
        return out


@dataclass(frozen=True, slots=True)
class VideoRequest:
    model: str
    prompt: str
    duration: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    image_urls: tuple[str, ...] = ()


class CatalogueError(Exception):
    """MODELS_FILE cannot be used; the message names the file and every problem found."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"MODELS_FILE {path}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"MODELS_FILE {path} has {len(self.problems)} problems:\n{lines}"
        super().__init__(message)


class InvalidRequest(ValueError):
    """build_body() was given a request validate() refuses; `problems` are the member-facing sentences."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


def _contract_spec(**fields: Any) -> ModelSpec:
    fields.setdefault("default_duration", 10)
    fields.setdefault("send_duration", True)
    fields.setdefault("default_aspect_ratio", "16:9")
    fields.setdefault("default_resolution", "720p")
    return ModelSpec(**fields)


# The provider's Create Video Task page (shared/api/source/create-video-task.txt), in its order.
_CONTRACT: tuple[ModelSpec, ...] = (
    _contract_spec(
        id="grok_video3",
        label="Grok Video 3",
        durations=tuple(range(6, 31)),
        aspect_ratios=("16:9", "9:16", "1:1", "3:2", "2:3"),
        resolutions=("480p", "720p"),
        max_images=7,
        public_urls_only=False,
        billing="per_second",
    ),
    # Assumptions, both overridable in MODELS_FILE: the page says only "reference images supported", so we
    # allow the family's usual 7, and it names no URL restriction (only max and stable refuse base64).
    _contract_spec(
        id="grok_video3_pro",
        label="Grok Video 3 Pro",
        durations=(10,),
        send_duration=False,
        aspect_ratios=("16:9",),
        resolutions=("720p",),
        max_images=7,
        public_urls_only=False,
        billing="per_call",
    ),
    _contract_spec(
        id="grok_video3_max",
        label="Grok Video 3 Max",
        durations=(6, 10, 12, 16, 20, 30),
        aspect_ratios=("16:9", "9:16", "1:1"),
        resolutions=("480p", "720p"),
        max_images=5,
        public_urls_only=True,
        billing="per_second",
    ),
    _contract_spec(
        id="grok_video3_stable",
        label="Grok Video 3 Stable",
        durations=(6, 10),
        aspect_ratios=("16:9", "9:16", "3:2", "2:3", "1:1"),
        resolutions=("480p", "720p"),
        max_images=7,
        public_urls_only=True,
        billing="per_call",
    ),
)


def _catalogue_problems(models: Mapping[str, ModelSpec]) -> list[str]:
    out: list[str] = []
    if not models:
        out.append("no models are left enabled; at least one is needed")
    if len(models) > MAX_MODELS:
        out.append(f"at most {MAX_MODELS} models can be offered (Discord shows at most {MAX_MODELS} choices)")
    for key, spec in models.items():
        if key != spec.id:
            out.append(f"model listed as {key!r} has id {spec.id!r}")
        out.extend(f"[models.{spec.id}]: {p}" for p in spec.problems())
    return out


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

    __slots__ = ("models",)

    def __init__(self, models: Mapping[str, ModelSpec]) -> None:
        if problems := _catalogue_problems(models):
            raise ValueError("; ".join(problems))
        self.models: Mapping[str, ModelSpec] = MappingProxyType(dict(models))

    @classmethod
    def default(cls) -> Catalogue:
        return cls({spec.id: spec for spec in _CONTRACT})

    @classmethod
    def load(cls, path: Path | None) -> Catalogue:
        """The contract, with MODELS_FILE's overrides applied when a path is given."""
        if path is None:
            return cls.default()
        from bot.core.models_file import apply_overrides  # the TOML reader is only needed with MODELS_FILE

        return cls(apply_overrides(path, cls.default().models))

    def get(self, model_id: str) -> ModelSpec | None:
        return self.models.get(model_id)

    def validate(self, request: VideoRequest) -> list[str]:
        """Every problem with the request at once, as sentences a member understands; empty means valid."""
        problems: list[str] = []
        spec = self.models.get(request.model)
        if spec is None:
            problems.append(self._unknown_model(request.model))
        prompt = request.prompt.strip()
        if not prompt:
            problems.append("Please describe the video you want: the prompt is empty.")
        elif len(prompt) > MAX_PROMPT_CHARS:
            problems.append(
                f"The prompt can be at most {MAX_PROMPT_CHARS:,} characters long (yours is {len(prompt):,})."
            )
        images = request.image_urls
        if spec is not None:
            problems.extend(self._option_problems(spec, request))
            if len(images) > spec.max_images:
                if spec.max_images == 0:
                    problems.append(f"{spec.id} does not take reference images (you gave {len(images)}).")
                else:
                    problems.append(
                        f"{spec.id} takes up to {_plural(spec.max_images, 'image')} (you gave {len(images)})."
                    )
            if spec.public_urls_only and any(_is_data_image(u) for u in images):
                problems.append(f"{spec.id} needs images as public links, not embedded (data:) images.")
        bad = [n for n, url in enumerate(images, 1) if not (_is_web_url(url) or _is_data_image(url))]
        if bad:
            problems.append(self._bad_images(bad, public_only=spec is not None and spec.public_urls_only))
        return problems

    def build_body(self, request: VideoRequest) -> dict[str, Any]:
        """The exact JSON body for POST /v1/grok/videos; raises InvalidRequest if validate() objects."""
        if problems := self.validate(request):
            raise InvalidRequest(problems)
        spec = self.models[request.model]
        body: dict[str, Any] = {"model": spec.id, "prompt": request.prompt.strip()}
        if spec.send_duration:
            body["duration"] = spec.default_duration if request.duration is None else request.duration
        aspect_ratio, resolution = request.aspect_ratio, request.resolution
        body["aspect_ratio"] = spec.default_aspect_ratio if aspect_ratio is None else aspect_ratio
        body["resolution"] = spec.default_resolution if resolution is None else resolution
        if request.image_urls:  # the key itself switches to image-to-video: never send it empty
            body["image_urls"] = list(request.image_urls)
        return body

    @staticmethod
    def _option_problems(spec: ModelSpec, request: VideoRequest) -> list[str]:
        out: list[str] = []
        d, lo, hi = request.duration, spec.durations[0], spec.durations[-1]
        if d is not None and d not in spec.durations:
            you = f"(you asked for {_echo(d)})"
            if not spec.send_duration:
                out.append(f"{spec.id} always makes {lo}-second videos; leave duration empty.")
            elif len(spec.durations) == 1:
                out.append(f"{spec.id} always makes {lo}-second videos {you}.")
            elif spec._is_range():
                out.append(f"{spec.id} takes any whole number of seconds from {lo} to {hi} {you}.")
            else:
                out.append(f"{spec.id} takes {spec.describe_durations()} seconds {you}.")
        options = ((request.aspect_ratio, spec.aspect_ratios), (request.resolution, spec.resolutions))
        for asked, allowed in options:
            if asked is not None and asked not in allowed:
                if len(allowed) == 1:
                    out.append(f"{spec.id} only makes {allowed[0]} videos (you asked for {_echo(asked)}).")
                else:
                    out.append(f"{spec.id} makes {_join_or(allowed)} videos (you asked for {_echo(asked)}).")
        return out

    def _unknown_model(self, asked: str) -> str:
        ids = list(self.models)
        shown = ids
        # Keep the sentence short even for a large owner-defined catalogue.
        while len(", ".join(shown)) > 200 and len(shown) > 1:
            shown = shown[:-1]
        listing = _join_or(shown) if shown == ids else f"{', '.join(shown)} and {len(ids) - len(shown)} more"
        if not asked.strip():
            return f"Please choose a model: {listing}."
        return f"There is no model called {_echo(asked)}. Choose one of: {listing}."

    @staticmethod
    def _bad_images(positions: list[int], *, public_only: bool) -> str:
        accepted = "links starting with http:// or https://"
        if not public_only:
            accepted += " or embedded images (data:image/…)"
        if len(positions) == 1:
            which = f"Image {positions[0]} is not a usable image"
        elif len(positions) <= 6:
            numbers = [str(p) for p in positions]
            which = f"Images {', '.join(numbers[:-1])} and {numbers[-1]} are not usable images"
        else:
            which = f"{len(positions)} of the images are not usable images"
        return f"{which}; please send images as {accepted}."
