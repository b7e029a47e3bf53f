"""The packaging files agree with pyproject.toml and with each other: requirements.lock, the Dockerfile,
.dockerignore, compose.yaml and LICENSE. Text checks only: no image is built and nothing is installed."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

# `packaging` comes with pytest (one of its own dependencies), so this adds nothing to install.
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
LOCK_NAME = "requirements.lock"


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, raw in enumerate((ROOT / LOCK_NAME).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"{LOCK_NAME} line {number} is not an exact 'name==version' pin: {raw!r}"
        name = canonicalize_name(match[1])
        assert name not in pins, f"{LOCK_NAME} pins {match[1]} twice"
        pins[name] = match[2]
    return pins


def _runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in PROJECT["dependencies"]]


def test_lock_pins_every_runtime_dependency_within_pyprojects_range() -> None:
    pins = _lock()
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{LOCK_NAME} does not pin {requirement.name} (refresh it: README)"
        assert requirement.specifier.contains(Version(pins[name]), prereleases=True), (
            f"{LOCK_NAME} pins {requirement.name}=={pins[name]}, outside pyproject's {requirement}"
        )


def test_lock_holds_no_test_tools_and_not_the_project_itself() -> None:
    pins = _lock()
    test_tools = {
        canonicalize_name(Requirement(text).name) for text in PROJECT["optional-dependencies"]["test"]
    }
    assert not test_tools & pins.keys(), "the lock is for the runtime only"
    assert canonicalize_name(PROJECT["name"]) not in pins


# --- Dockerfile --------------------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined and comments dropped."""
    text = re.sub(
        r"\\\n", " ", "\n".join(line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#"))
    )
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()
    ]


def _index(predicate: Any) -> int:
    return next(i for i, (keyword, args) in enumerate(_instructions()) if predicate(keyword, args))


def test_dockerfile_installs_the_locked_dependencies_before_the_code_arrives() -> None:
    lock_copied = _index(lambda k, a: k == "COPY" and LOCK_NAME in a.split() and "--from" not in a)
    deps_installed = _index(lambda k, a: k == "RUN" and "pip install" in a and f"-c {LOCK_NAME}" in a)
    code_copied = _index(lambda k, a: k == "COPY" and re.search(r"(^|\s)(\./)?bot/?\s", a + " "))
    assert lock_copied < deps_installed < code_copied
    before_deps = [a for k, a in _instructions()[:deps_installed] if k in ("COPY", "ADD")]
    assert all(set(a.split()[:-1]) <= {"pyproject.toml", LOCK_NAME} for a in before_deps), before_deps
    # the code is installed on its own, so the dependency layer is the only place pip resolves anything
    assert any(k == "RUN" and "pip install --no-deps" in a for k, a in _instructions()[code_copied:])


def test_dockerfile_base_image_is_an_argument() -> None:
    lines = [line.strip() for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("#")]
    assert re.fullmatch(r"ARG BASE_IMAGE=python:3\.1\d+(-slim)?", lines[0]), lines[0]
    froms = [args for keyword, args in _instructions() if keyword == "FROM"]
    assert froms[0].startswith("${BASE_IMAGE}"), froms
    assert all(f.split()[0] == "${BASE_IMAGE}" or f.split()[0] in _stage_names() for f in froms), froms


def _stage_names() -> set[str]:
    return {m[1] for m in re.finditer(r"^FROM\s+\S+\s+AS\s+(\S+)", DOCKERFILE, re.MULTILINE | re.IGNORECASE)}


def test_dockerfile_healthcheck_uses_python_on_health_port() -> None:
    checks = [args for keyword, args in _instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/healthz" in checks[0] and "HEALTH_PORT" in checks[0] and "urllib" in checks[0]
    assert "curl" not in checks[0] and "wget" not in checks[0]
    assert re.search(r"^ENV\b[^\n]*\bHEALTH_PORT=8080\b", re.sub(r"\\\n", " ", DOCKERFILE), re.MULTILINE)


def test_dockerfile_runs_as_a_user_without_pip_cache() -> None:
    users = [args for keyword, args in _instructions() if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "PIP_NO_CACHE_DIR=1" in DOCKERFILE
    assert re.search(r'^VOLUME \["/data"\]', DOCKERFILE, re.MULTILINE)


def test_dockerignore_lets_in_everything_the_dockerfile_copies() -> None:
    rules = [r.strip() for r in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()]
    rules = [r for r in rules if r and not r.startswith("#")]
    assert ".env" in rules or "*" in rules, ".env must never reach the build context"
    copied = [src for k, a in _instructions() if k == "COPY" and "--from" not in a for src in a.split()[:-1]]
    for source in copied:
        name = source.removeprefix("./").rstrip("/")
        if "*" in rules:
            assert f"!{name}" in rules or f"!{name}/" in rules, f".dockerignore keeps out {name}"
        else:
            assert name not in rules, f".dockerignore keeps out {name}"


# --- compose.yaml ------------------------------------------------------------------------------------------


def _yaml_subset(text: str) -> dict[str, Any]:
    """Block mappings of `key: value` and `- item` lists, which is all compose.yaml uses; flow lists and
    quoted scalars stay strings. Anything else fails the parse (so the file stays this simple)."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(0, root)]
    pending: tuple[int, dict[str, Any], str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        assert "\t" not in raw, f"compose.yaml line {number}: a tab"
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if pending is not None:
            parent_indent, parent, key = pending
            assert indent > parent_indent, f"compose.yaml line {number}: empty value"
            parent[key] = [] if line.startswith("- ") else {}
            stack.append((indent, parent[key]))
            pending = None
        while stack[-1][0] > indent:
            stack.pop()
        assert stack[-1][0] == indent, f"compose.yaml line {number}: indentation"
        container = stack[-1][1]
        if line.startswith("- "):
            assert isinstance(container, list), f"compose.yaml line {number}: a list item in a mapping"
            container.append(line[2:].strip())
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+):(?:\s+(.*))?", line)
        assert match and isinstance(container, dict), f"compose.yaml line {number}: not `key: value`"
        if match[2] is None:
            pending = (indent, container, match[1])
            container[match[1]] = None
        else:
            container[match[1]] = match[2].strip()
    return root


def test_compose_runs_the_image_with_volume_restart_env_and_health_check() -> None:
    compose = _yaml_subset((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    (service,) = compose["services"].values()
    assert service["restart"] == "unless-stopped"
    assert service["env_file"] == ".env"
    assert service["stop_grace_period"]
    assert "/healthz" in service["healthcheck"]["test"] and "HEALTH_PORT" in service["healthcheck"]["test"]
    (dockerfile_check,) = [a for k, a in _instructions() if k == "HEALTHCHECK"]
    image_command = json.loads(dockerfile_check.split(" CMD ", 1)[1])
    assert json.loads(service["healthcheck"]["test"]) == ["CMD", *image_command], (
        "compose restates the image's check"
    )
    volume = next(v for v in service["volumes"] if v.endswith(":/data"))
    assert volume.split(":")[0] in compose["volumes"], "the data volume is a named volume"


@pytest.mark.parametrize("text", ["a:\n  b: 1\n c: 2\n", "a:\n\tb: 1\n", "a: 1\n  - x\n"])
def test_yaml_subset_refuses_what_it_does_not_understand(text: str) -> None:
    with pytest.raises(AssertionError):
        _yaml_subset(text)


# --- LICENSE -----------------------------------------------------------------------------------------------

LICENSE_TITLES = {
    "MIT": "MIT License",
    "Apache-2.0": "Apache License",
    "BSD-3-Clause": "BSD 3-Clause License",
}


def test_license_file_matches_pyproject() -> None:
    declared = PROJECT["license"]
    spdx = declared["text"] if isinstance(declared, dict) else declared
    first_line = (ROOT / "LICENSE").read_text(encoding="utf-8").lstrip().splitlines()[0].strip()
    assert first_line == LICENSE_TITLES[spdx], f"pyproject says {spdx}, LICENSE starts {first_line!r}"
