"""The layering the file tree promises, enforced: read every module's imports and check the rules.

- `bot/core/` knows nothing of Discord: it imports neither `discord` nor `bot.discord` nor a cog.
- `bot/discord/` never imports a cog (cogs are loaded by name as extensions).
- A cog never imports another cog: what two cogs share lives in `bot/`.
- No module imports another module's private (`_underscore`) name.
- No import cycles among our modules (imports under `if TYPE_CHECKING:` are for type hints only and
  never run, so they are left out).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("bot", "cogs")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. "bot.core.pipeline"
    target: str  # the imported module, e.g. "bot.core.store" (or "discord")
    names: tuple[str, ...]  # names taken from it with `from target import ...`
    line: int
    type_checking_only: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").exists()


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(module: str, source: str) -> Iterator[Import]:
    tree = ast.parse(source)
    hinted: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_block(node):
            hinted.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        hint = id(node) in hinted
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, (), node.lineno, hint)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = tuple(a.name for a in node.names)
            # `from bot.core import grok` imports the module bot.core.grok, not a name of the package.
            submodules = [n for n in names if is_package(node.module) and f"{node.module}.{n}" in ALL_MODULES]
            for name in submodules:
                yield Import(module, f"{node.module}.{name}", (), node.lineno, hint)
            rest = tuple(n for n in names if n not in submodules)
            if rest or not submodules:
                yield Import(module, node.module, rest, node.lineno, hint)


def all_sources() -> dict[str, str]:
    out: dict[str, str] = {}
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            out[module_name(path)] = path.read_text(encoding="utf-8")
    return out


SOURCES = all_sources()
ALL_MODULES = frozenset(SOURCES)


def all_imports() -> list[Import]:
    return [imp for module, source in SOURCES.items() for imp in imports_of(module, source)]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layering_problems(imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        where = f"{imp.module} line {imp.line} imports {imp.target}"
        if _under(imp.module, "bot.core") and any(
            _under(imp.target, banned) for banned in ("discord", "bot.discord", "cogs")
        ):
            out.append(f"{where}: bot/core must not know Discord or the cogs")
        if _under(imp.module, "bot") and _under(imp.target, "cogs"):
            out.append(f"{where}: bot/ never imports a cog (cogs are loaded as extensions)")
        if _under(imp.module, "cogs") and _under(imp.target, "cogs"):
            out.append(f"{where}: a cog must not import another cog; share through bot/")
        if _under(imp.target, "bot") or _under(imp.target, "cogs"):
            private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
            if private:
                out.append(f"{where}: private names {private} are not to be imported across modules")
    return out


def import_cycles(imports: list[Import]) -> list[list[str]]:
    graph: dict[str, set[str]] = {m: set() for m in ALL_MODULES}
    for imp in imports:
        if not imp.type_checking_only and imp.target in ALL_MODULES and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_tree_shows_the_layers() -> None:
    assert any(_under(m, "bot.core") for m in ALL_MODULES) and any(
        _under(m, "bot.discord") for m in ALL_MODULES
    )
    core = [m for m in ALL_MODULES if _under(m, "bot.core")]
    assert {"bot.core.catalogue", "bot.core.pipeline", "bot.core.store", "bot.core.poller"} <= set(core)


def test_layering_rules_hold() -> None:
    assert layering_problems(all_imports()) == []


def test_no_import_cycles() -> None:
    assert import_cycles(all_imports()) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("bot.core.pipeline", "import discord\n", "must not know Discord"),
        ("bot.core.pipeline", "from bot.discord.embeds import OOPS\n", "must not know Discord"),
        ("bot.core.pipeline", "def f():\n    from discord import ui\n", "must not know Discord"),
        ("bot.discord.app", "import cogs.video\n", "never imports a cog"),
        ("cogs.member", "from cogs.video import VideoCog\n", "must not import another cog"),
        ("cogs.member", "from bot.core.catalogue import _echo\n", "private names"),
    ],
)
def test_the_checker_catches_each_kind_of_violation(module: str, source: str, expected: str) -> None:
    problems = layering_problems(list(imports_of(module, source)))
    assert len(problems) == 1 and expected in problems[0], problems


def test_the_checker_finds_a_cycle_and_ignores_type_checking_imports() -> None:
    fake = [
        *imports_of("bot.core.catalogue", "from bot.core.models_file import apply_overrides\n"),
        *imports_of("bot.core.models_file", "from bot.core.catalogue import Catalogue\n"),
        *imports_of(
            "bot.discord.views",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import bot.discord.app\n",
        ),
        *imports_of("bot.discord.app", "import bot.discord.views\n"),
    ]
    cycles = import_cycles(fake)
    assert cycles == [["bot.core.catalogue", "bot.core.models_file", "bot.core.catalogue"]]
