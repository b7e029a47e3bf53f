"""Write the excerpt of Discord's OpenAPI description that the tests' Discord emulator is checked against.

Usage (from the repository root, in the environment of ``pip install -e '.[test]'``)::

    python scripts/make_discord_spec_excerpt.py path/to/discord-api-spec/specs/openapi.json [--commit SHA]
    python scripts/make_discord_spec_excerpt.py path/to/openapi.json --check      # exit 1 if out of date

The input is Discord's full description (``specs/openapi.json`` of https://github.com/discord/discord-api-spec).
The excerpt keeps:

* every operation a route of the emulator (``REST_ROUTES``) serves, with its path item's shared keys;
* every component reachable from those operations through ``$ref``, plus the security schemes they name;
* the schemas the validator adjusts (``PATCHED_SCHEMAS``), and what they reach.

Output is deterministic (the header first, then sorted keys; one-space indent; trailing newline): rerunning
on the same input changes nothing. The source commit is taken from ``--commit``, else from git when the
input lies unmodified in a checkout, else kept from the current excerpt when the input is byte-identical to
the one it records.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes.discord.rest import REST_ROUTES  # noqa: E402
from tests.fakes.discord.spec import METHODS, SPEC_PATH, operations_served  # noqa: E402

SOURCE_REPOSITORY = "https://github.com/discord/discord-api-spec"
SOURCE_FILE = "specs/openapi.json"
LICENSE = "MIT, Copyright 2023 Discord (the licence text is in the README beside this file)"
# The validator rewrites these two schemas (string error codes, integer snowflakes in requests).
PATCHED_SCHEMAS = ("InnerErrors", "SnowflakeType")
TOP_LEVEL = ("openapi", "info", "externalDocs", "servers")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _refs(node: Any) -> list[str]:
    """Every ``$ref`` string inside `node`."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                found.append(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def served_paths(spec: dict[str, Any]) -> dict[str, list[str]]:
    """template -> methods (lower case) of the operations the emulator's routes serve; a route serving none
    is an error."""
    served: dict[str, set[str]] = {}
    orphans = []
    for method, pattern, handler, _auth in REST_ROUTES:
        templates = operations_served(spec, method, pattern)
        if not templates:
            orphans.append(f"{method} {pattern} ({handler})")
        for template in templates:
            served.setdefault(template, set()).add(method.lower())
    if orphans:
        raise SystemExit("no operation in the description for these routes:\n  " + "\n  ".join(orphans))
    return {template: sorted(methods) for template, methods in sorted(served.items())}


def build_excerpt(spec: dict[str, Any], *, sha256: str, commit: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for template, methods in served_paths(spec).items():
        item = spec["paths"][template]
        paths[template] = {k: v for k, v in item.items() if k not in METHODS or k in methods}

    components = spec.get("components", {})
    kept: dict[str, dict[str, Any]] = {}

    def keep(kind: str, name: str) -> None:
        if name in kept.get(kind, {}):
            return
        try:
            value = components[kind][name]
        except KeyError:
            raise SystemExit(f"the description has no components/{kind}/{name}") from None
        kept.setdefault(kind, {})[name] = value
        follow(value)

    def follow(node: Any) -> None:
        for ref in _refs(node):
            parts = ref.split("/")
            if len(parts) != 4 or parts[:2] != ["#", "components"]:
                raise SystemExit(f"cannot follow $ref {ref!r}: only '#/components/<kind>/<name>' is handled")
            keep(_unescape(parts[2]), _unescape(parts[3]))

    follow(paths)
    for name in PATCHED_SCHEMAS:
        keep("schemas", name)
    for item in paths.values():
        for method in METHODS:
            for requirement in item.get(method, {}).get("security", []):
                for scheme in requirement:
                    keep("securitySchemes", scheme)

    operations = sum(1 for item in paths.values() for k in item if k in METHODS)
    excerpt: dict[str, Any] = {k: spec[k] for k in TOP_LEVEL if k in spec}
    excerpt["x-excerpt"] = {
        "description": "The operations the test suite's Discord emulator serves, and every component they "
        "reach, cut from Discord's full OpenAPI description. Do not edit: regenerate.",
        "source": {"repository": SOURCE_REPOSITORY, "file": SOURCE_FILE, "commit": commit, "sha256": sha256},
        "license": LICENSE,
        "generator": "scripts/make_discord_spec_excerpt.py",
        "regenerate": "python scripts/make_discord_spec_excerpt.py <discord-api-spec>/specs/openapi.json",
        "operations": operations,
        "components": {kind: len(names) for kind, names in sorted(kept.items())},
    }
    excerpt["paths"] = paths
    excerpt["components"] = kept
    return excerpt


def _sorted(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _sorted(node[k]) for k in sorted(node)}
    if isinstance(node, list):
        return [_sorted(v) for v in node]
    return node


def render(excerpt: dict[str, Any]) -> str:
    """The excerpt as JSON: the ``x-excerpt`` header first, then the rest in sorted key order."""
    keys = ["x-excerpt", *sorted(k for k in excerpt if k != "x-excerpt")]
    return json.dumps({k: _sorted(excerpt[k]) for k in keys}, indent=1, ensure_ascii=False) + "\n"


def _git_commit(source: Path) -> str | None:
    """HEAD of the git checkout holding `source`, if the file is tracked there and unmodified."""
    cwd = source.resolve().parent

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        except OSError:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    name = source.name
    if git("ls-files", "--error-unmatch", name) is None or git("status", "--porcelain", "--", name) != "":
        return None
    return git("rev-parse", "HEAD")


def _recorded_source(output: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(output.read_text(encoding="utf-8"))["x-excerpt"]["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("openapi", type=Path, help="Discord's full openapi.json (specs/openapi.json)")
    parser.add_argument("--output", type=Path, default=SPEC_PATH, help="default: %(default)s")
    parser.add_argument("--commit", help="the discord-api-spec commit the input comes from")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of date")
    args = parser.parse_args(argv)

    raw = args.openapi.read_bytes()
    sha256 = hashlib.sha256(raw).hexdigest()
    recorded = _recorded_source(args.output)
    commit = args.commit or _git_commit(args.openapi)
    if commit is None:
        commit = recorded.get("commit", "unknown") if recorded.get("sha256") == sha256 else "unknown"
    text = render(build_excerpt(json.loads(raw), sha256=sha256, commit=commit))

    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is out of date: rerun without --check", file=sys.stderr)
            return 1
        print(f"{args.output} is current")
        return 0
    if current == text:
        print(f"{args.output}: unchanged")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    excerpt = json.loads(text)["x-excerpt"]
    print(
        f"{args.output}: {excerpt['operations']} operations, {excerpt['components']}, "
        f"{len(text.encode()) / 1024:.0f} KB (input {len(raw) / 1024:.0f} KB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
