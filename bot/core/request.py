"""What a member asked for, as one value: the same from every surface, stored whole on the task.

A new video option is a field here, a rule in the catalogue and an input on the surfaces; the store keeps
the value as JSON, so neither its schema nor the poller changes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class VideoRequest:
    model: str
    prompt: str
    duration: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    image_urls: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> VideoRequest:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}  # a field a later version dropped is ignored
        values["image_urls"] = tuple(values.get("image_urls") or ())
        return cls(**values)
