"""Validate Discord REST traffic against Discord's own OpenAPI 3.1 description.

The description is an excerpt of Discord's public ``discord/discord-api-spec``, kept beside this file as
``openapi-excerpt.json``: only the operations the emulator serves (rest.py's ``REST_ROUTES``) and the
components they reach. ``scripts/make_discord_spec_excerpt.py`` regenerates it from Discord's full
``openapi.json``; ``README.md`` here names its source, version and licence.

Public API::

    validator = get_validator()                      # loaded once per process, cached
    op = validator.find_operation("POST", "/channels/1/messages")   # -> Operation | None
    problems = validator.validate(
        "POST", "/channels/1/messages",
        request_body={"content": "hi"},              # JSON body, or the parsed payload_json of a multipart body
        status=200,
        response_body={...},                         # None for an empty (204) answer
        multipart=False,
    )                                                # -> list[str], empty when everything conforms
    validator.validate_request(method, path, body, *, multipart=False) -> list[str]
    validator.validate_response(method, path, status, body) -> list[str]

Paths are relative to the API base (``/api/v10`` already stripped) and carry no query string.

Which operations a route serves (used by the excerpt script and by the test that keeps the excerpt current)::

    sample_path("/channels/{channel_id}/messages") -> "/channels/1/messages"
    operations_served(spec, "GET", "/channels/(?P<channel_id>[0-9]+)/messages")
        -> ["/channels/{channel_id}/messages"]

Three deliberate relaxations, all gaps between the description and Discord's behaviour:

* Requests may carry snowflakes as JSON integers (discord.py sends ``message_reference`` ids and
  ``attachments[].id`` as ints; Discord accepts both). Responses must use strings, as Discord does.
* Field errors (``errors.<field>._errors[].code``) may be strings, as Discord really sends them
  (``"BASE_TYPE_MAX_LENGTH"``); the description says integer.
* ``oneOf`` is checked as ``anyOf``: several of Discord's unions overlap (e.g. the create- and
  update-message callback resources have the same shape), so a strict ``oneOf`` rejects valid data.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import referencing
import referencing.jsonschema
from jsonschema.exceptions import best_match

SPEC_PATH = Path(__file__).resolve().with_name("openapi-excerpt.json")
_SPEC_URI = "urn:discord-openapi"
METHODS = ("get", "put", "post", "patch", "delete")
_MAX_ERRORS_PER_BODY = 3


@dataclass(frozen=True)
class Operation:
    """One (method, path template) of the description."""

    method: str
    template: str
    operation_id: str
    literal_segments: int
    regex: re.Pattern[str]

    @property
    def pointer(self) -> str:
        return "/paths/" + _escape(self.template) + "/" + self.method.lower()


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _pointer_uri(pointer: str) -> str:
    # '{' and '}' of path templates are not valid in a URI fragment: percent-quote them
    # (referencing unquotes the fragment before walking it).
    return _SPEC_URI + "#" + quote(pointer, safe="/~@-_.")


def sample_path(template: str) -> str:
    """A concrete path for a path template: every ``{parameter}`` becomes ``1``."""
    return re.sub(r"\{[^/{}]+\}", "1", template)


def operations_served(spec: dict[str, Any], method: str, path_regex: str) -> list[str]:
    """The path templates of `spec` whose `method` operation the route (`method`, `path_regex`) answers.

    A route serves a template when it matches the template's sample path, the way the emulator matches a
    request path (``re.match`` of the regex followed by an optional ``/``)."""
    rx = re.compile(path_regex + "/?$")
    return sorted(
        template
        for template, item in spec["paths"].items()
        if method.lower() in item and rx.match(sample_path(template))
    )


def _any_of_everywhere(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _any_of_everywhere(v) for k, v in node.items()}
        if "oneOf" in out:
            out["anyOf"] = out.pop("oneOf") if "anyOf" not in out else out["anyOf"] + out.pop("oneOf")
        return out
    if isinstance(node, list):
        return [_any_of_everywhere(v) for v in node]
    return node


class SpecValidator:
    """Finds the operation for a request and checks request and response bodies against its schemas."""

    def __init__(self, spec_path: Path = SPEC_PATH) -> None:
        raw = json.loads(spec_path.read_text(encoding="utf-8"))
        strict = _any_of_everywhere(raw)
        # Field errors carry string codes ("BASE_TYPE_MAX_LENGTH") in Discord's real answers.
        strict["components"]["schemas"]["InnerErrors"]["properties"]["_errors"]["items"] = {
            "type": "object",
            "properties": {"code": {"type": ["integer", "string"]}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
        lenient = copy.deepcopy(strict)
        snowflake = lenient["components"]["schemas"]["SnowflakeType"]
        lenient["components"]["schemas"]["SnowflakeType"] = {
            "anyOf": [snowflake, {"type": "integer", "minimum": 0}]
        }
        self._docs = {"response": strict, "request": lenient}
        spec = referencing.jsonschema.DRAFT202012
        self._registries = {
            kind: referencing.Registry().with_resource(_SPEC_URI, spec.create_resource(doc))
            for kind, doc in self._docs.items()
        }
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
        self._operations: list[Operation] = []
        for template, item in raw["paths"].items():
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                segments = template.strip("/").split("/")
                pattern = "".join(
                    "/[^/]+" if s.startswith("{") and s.endswith("}") else "/" + re.escape(s)
                    for s in segments
                )
                self._operations.append(
                    Operation(
                        method=method.upper(),
                        template=template,
                        operation_id=op.get("operationId", ""),
                        literal_segments=sum(not s.startswith("{") for s in segments),
                        regex=re.compile(pattern + "/?$"),
                    )
                )
        # Prefer '/messages/@original' over '/messages/{message_id}'.
        self._operations.sort(key=lambda o: -o.literal_segments)

    # -- lookup -------------------------------------------------------------------------------------

    def find_operation(self, method: str, path: str) -> Operation | None:
        method = method.upper()
        path = path.split("?", 1)[0]
        for op in self._operations:
            if op.method == method and op.regex.match(path):
                return op
        return None

    def _node(self, pointer: str) -> Any:
        node: Any = self._docs["response"]
        for segment in pointer.lstrip("/").split("/"):
            node = node[segment.replace("~1", "/").replace("~0", "~")]
        return node

    def _validator(self, kind: str, pointer: str) -> jsonschema.protocols.Validator:
        key = (kind, pointer)
        validator = self._validators.get(key)
        if validator is None:
            validator = jsonschema.Draft202012Validator(
                {"$ref": _pointer_uri(pointer)}, registry=self._registries[kind]
            )
            self._validators[key] = validator
        return validator

    def _errors(self, kind: str, pointer: str, body: Any, label: str) -> list[str]:
        validator = self._validator(kind, pointer)
        errors = list(validator.iter_errors(body))
        if not errors:
            return []
        out = []
        best = best_match(errors)
        shown = [best, *[e for e in errors if e is not best][: _MAX_ERRORS_PER_BODY - 1]]
        for err in shown:
            where = "".join(f"[{p!r}]" for p in err.absolute_path) or "<root>"
            out.append(f"{label}: {where}: {err.message[:300]}")
        return out

    # -- checks ---------------------------------------------------------------------------------------

    def validate_request(self, method: str, path: str, body: Any, *, multipart: bool = False) -> list[str]:
        op = self.find_operation(method, path)
        if op is None:
            return [f"{method} {path}: no such operation in Discord's OpenAPI description"]
        label = f"{op.method} {path} ({op.operation_id}) request"
        request_body = self._node(op.pointer).get("requestBody")
        if request_body is None:
            if body not in (None, b"", ""):
                return [f"{label}: the operation takes no body but one was sent"]
            return []
        if body is None:
            if request_body.get("required"):
                return [f"{label}: a body is required"]
            return []
        content = request_body.get("content", {})
        media = (
            "multipart/form-data" if multipart and "multipart/form-data" in content else "application/json"
        )
        if media not in content:
            return [f"{label}: media type {media} not accepted"]
        pointer = op.pointer + "/requestBody/content/" + _escape(media) + "/schema"
        return self._errors("request", pointer, body, label)

    def validate_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        op = self.find_operation(method, path)
        if op is None:
            return [f"{method} {path}: no such operation in Discord's OpenAPI description"]
        label = f"{op.method} {path} ({op.operation_id}) response {status}"
        responses = self._node(op.pointer).get("responses", {})
        key = next(
            (k for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses),
            None,
        )
        if key is None:
            if 200 <= status < 300:
                return [f"{label}: status not described (described: {sorted(responses)})"]
            return []  # e.g. 5xx hiccups injected by a test
        response = responses[key]
        pointer = op.pointer + "/responses/" + key
        if "$ref" in response:
            pointer = response["$ref"].lstrip("#")
            response = self._node(pointer)
        schema_holder = response.get("content", {}).get("application/json")
        if schema_holder is None:
            if body not in (None, b"", ""):
                return [f"{label}: expected an empty body"]
            return []
        if body is None:
            return [f"{label}: expected a JSON body"]
        return self._errors("response", pointer + "/content/application~1json/schema", body, label)

    def validate(
        self,
        method: str,
        path: str,
        *,
        request_body: Any = None,
        status: int,
        response_body: Any = None,
        multipart: bool = False,
    ) -> list[str]:
        return self.validate_request(
            method, path, request_body, multipart=multipart
        ) + self.validate_response(method, path, status, response_body)


@functools.lru_cache(maxsize=1)
def get_validator() -> SpecValidator:
    """The process-wide validator (the description is parsed once; compiled validators are cached)."""
    return SpecValidator()
