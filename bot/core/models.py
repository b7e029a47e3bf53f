"""The Grok video models' limits as data: one `ModelSpec` per model, and the provider's four as shipped.

Pure data and its invariants; no Discord, no I/O. `bot/core/models_file.py` reads an owner's MODELS_FILE
overrides into these specs and `bot/core/catalogue.py` checks requests against them. The defaults follow the
provider's "Create Video Task" page (docs/provider-contract.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from bot.i18n import Msg, any_of

Billing = Literal["per_second", "per_call"]
BILLINGS: tuple[str, ...] = get_args(Billing)

# A slash-command option shows at most 25 choices, so a catalogue larger than that could not be offered.
MAX_MODELS = 25
MAX_DURATION = 600  # owner-supplied limits beyond ten minutes are surely typos
_MAX_LISTED_DURATIONS = 12  # non-contiguous lists longer than this would make unreadable messages
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
_RATIO_RE = re.compile(r"[1-9][0-9]?:[1-9][0-9]?")
_RESOLUTION_RE = re.compile(r"[0-9A-Za-z]{2,10}")


def join_or(items: Sequence[str]) -> Msg:
    """ "a, b or c": how lists of allowed values read in messages; a `Msg`, so a member reads "a、b或c" or
    "a, b oder c" in their language (bot.i18n.any_of)."""
    return any_of(items)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
        """The durations the model takes; a list is a `Msg` ("6, 10 or 12") read in the member's language."""
        d = self.durations
        if len(d) == 1:
            return f"always {d[0]}"
        if self.is_range():
            return f"any whole number from {d[0]} to {d[-1]}"
        return join_or([str(x) for x in d])

    def is_range(self) -> bool:
        d = self.durations
        return len(d) >= 3 and d == tuple(range(d[0], d[-1] + 1))

    def _summary(self) -> str:
        d = self.durations
        if len(d) == 1:
            seconds = f"always {d[0]} s"
        elif self.is_range():
            seconds = f"{d[0]}–{d[-1]} s"
        else:
            seconds = "/".join(str(x) for x in d) + " s"
        n_ratios = len(self.aspect_ratios)
        ratios = self.aspect_ratios[0] if n_ratios == 1 else f"{n_ratios} ratios"
        if self.max_images == 0:
            images = "no images"
        else:
            kind = "image link" if self.public_urls_only else "image"
            images = f"up to {plural(self.max_images, kind)}"
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
        elif self.durations[0] < 1 or self.durations[-1] > MAX_DURATION:
            out.append(f"durations must be between 1 and {MAX_DURATION} seconds")
        elif not self.is_range() and len(self.durations) > _MAX_LISTED_DURATIONS:
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


def _contract_spec(**fields: Any) -> ModelSpec:
    fields.setdefault("default_duration", 10)
    fields.setdefault("send_duration", True)
    fields.setdefault("default_aspect_ratio", "16:9")
    fields.setdefault("default_resolution", "720p")
    return ModelSpec(**fields)


# The provider's Create Video Task page (docs/provider-contract.md), in its order.
CONTRACT: tuple[ModelSpec, ...] = (
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


def catalogue_problems(models: Mapping[str, ModelSpec]) -> list[str]:
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
