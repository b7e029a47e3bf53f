"""MODELS_FILE: a server owner's TOML overrides of the model catalogue, checked thoroughly.

The provider's own pages disagree about some models (grok_video3_stable above all), so owners can change
any model's limits, add a model or disable one without touching code. Every problem in the file is
reported at once, with the file's name (CatalogueError).
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.core.models import (
    BILLINGS,
    MAX_DURATION,
    CatalogueError,
    ModelSpec,
    catalogue_problems,
)

_INT_FIELDS = ("default_duration", "max_images", "duration_min", "duration_max")
_BOOL_FIELDS = ("send_duration", "public_urls_only", "enabled")
_TEXT_FIELDS = ("label", "description", "default_aspect_ratio", "default_resolution", "billing")
_TEXT_LIST_FIELDS = ("aspect_ratios", "resolutions")
_KNOWN_KEYS = frozenset((*_INT_FIELDS, *_BOOL_FIELDS, *_TEXT_FIELDS, *_TEXT_LIST_FIELDS, "durations"))
# A new model must say what it accepts; defaults fall back to the provider's (10 s, 16:9, 720p, sent).
_REQUIRED_FOR_NEW = ("label", "aspect_ratios", "resolutions", "max_images", "public_urls_only", "billing")
_NEW_MODEL_DEFAULTS: dict[str, Any] = {
    "default_duration": 10,
    "send_duration": True,
    "default_aspect_ratio": "16:9",
    "default_resolution": "720p",
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML true is not a number of seconds


def _is_list_of(value: object, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) for v in value)


def _typed_fields(table: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The table's ModelSpec fields with their TOML types checked; durations resolved from any form."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in table.items():
        if key in _INT_FIELDS and not _is_int(value):
            problems.append(f"{key} must be a whole number (found {value!r:.40})")
        elif key in _BOOL_FIELDS and not isinstance(value, bool):
            problems.append(f"{key} must be true or false (found {value!r:.40})")
        elif key in _TEXT_FIELDS and not isinstance(value, str):
            problems.append(f"{key} must be text in quotes (found {value!r:.40})")
        elif key in _TEXT_LIST_FIELDS and not _is_list_of(value, str):
            problems.append(f'{key} must be a list of texts, e.g. ["16:9", "9:16"] (found {value!r:.40})')
        elif key == "durations" and not (_is_list_of(value, int) and all(_is_int(v) for v in value)):
            problems.append(f"durations must be a list of whole numbers, e.g. [6, 10] (found {value!r:.40})")
        elif key == "billing" and value not in BILLINGS:
            problems.append(f"billing must be {' or '.join(map(repr, BILLINGS))} (found {value!r:.40})")
        elif key in _KNOWN_KEYS and key not in ("enabled", "duration_min", "duration_max"):
            values[key] = tuple(value) if isinstance(value, list) else value
    low, high = table.get("duration_min"), table.get("duration_max")
    if low is not None or high is not None:
        if "durations" in table:
            problems.append("give either durations or duration_min/duration_max, not both")
        elif low is None or high is None:
            problems.append("duration_min and duration_max must be given together")
        elif _is_int(low) and _is_int(high):
            if not 1 <= low <= high <= MAX_DURATION:
                problems.append(f"duration_min..duration_max must lie within 1..{MAX_DURATION}, min first")
            else:
                values["durations"] = tuple(range(low, high + 1))
    return values, problems


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise CatalogueError(path, ["the file does not exist"]) from None
    except OSError as e:
        raise CatalogueError(path, [f"the file cannot be read ({e.strerror})"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CatalogueError(path, [f"not valid TOML: {e}"]) from None


def apply_overrides(path: Path, base: Mapping[str, ModelSpec]) -> dict[str, ModelSpec]:
    data = _read_toml(path)
    tables = data.pop("models", {})
    problems = [f"unknown top-level key {k!r}; only [models.<id>] tables go here" for k in data]
    if not isinstance(tables, dict):
        raise CatalogueError(path, [*problems, "models must be a set of [models.<id>] tables"])
    models = dict(base)
    for model_id, table in tables.items():
        where = f"[models.{model_id}]"
        if not isinstance(table, dict):
            problems.append(f"{where} must be a table of fields")
            continue
        for key in sorted(set(table) - _KNOWN_KEYS):
            close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{where}: unknown field {key!r}{hint}")
        enabled = table.get("enabled", True)
        if enabled is False:
            if models.pop(model_id, None) is None:
                problems.append(f"{where}: enabled = false, but there is no model {model_id!r} to remove")
            continue
        values, type_problems = _typed_fields(table)
        problems.extend(f"{where}: {p}" for p in type_problems)
        if type_problems:
            continue
        values.setdefault("description", "")  # re-derive the summary unless the owner wrote one
        known = models.get(model_id)
        if known is not None:
            spec = replace(known, **values)
        else:
            missing = [k for k in _REQUIRED_FOR_NEW if k not in values]
            if "durations" not in values:
                missing.append("durations (or duration_min and duration_max)")
            if missing:
                problems.append(f"{where}: a new model needs {', '.join(missing)}")
                continue
            spec = ModelSpec(id=model_id, **{**_NEW_MODEL_DEFAULTS, **values})
        if spec_problems := spec.problems():
            problems.extend(f"{where}: {p}" for p in spec_problems)
            continue
        models[model_id] = spec
    problems.extend(catalogue_problems(models))  # broken specs were never added: only the count is left
    if problems:
        raise CatalogueError(path, problems)
    return models
