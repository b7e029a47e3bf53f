"""ruff and mypy are part of the suite, so CI enforces them from a clean clone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_applied() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, "run `.venv/bin/ruff format .`\n" + proc.stdout + proc.stderr


def test_mypy_is_clean_on_bot_and_cogs() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Names discord.py (a Transformer's channel_types and transform), aiohttp, prometheus-client (a custom
# collector's collect) or the logging module call or read for us (vulture cannot see those callers),
# dataclass fields that mirror a database column, and what only bench/ calls (TaskStore.due_tasks, timed by
# bench/bench_due_tasks.py; the poller claims with claim_due).
FRAMEWORK_NAMES = (
    "setup_hook",
    "on_*",
    "interaction_check",
    "from_custom_id",
    "setup",
    "cog_load",
    "cog_unload",
    "__signature__",
    "guild_only",
    "timestamp",
    "row_factory",
    "BASE",
    "DEFAULT_GATEWAY",
    "exc_text",
    "msg",
    "message_content",
    "guild_messages",
    "__context__",
    "__suppress_context__",
    "video_bytes",
    "updated_at",
    "models_file",
    "polled_at",
    "due_tasks",
    "channel_types",
    "transform",
    "collect",
)
FRAMEWORK_DECORATORS = ("@*.command", "@app_commands.*", "@commands.*", "@*.autocomplete", "@*.listener")


def test_no_dead_code_in_bot_and_cogs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vulture", "bot", "cogs", "--min-confidence", "60",
         "--ignore-names", ",".join(FRAMEWORK_NAMES), "--ignore-decorators", ",".join(FRAMEWORK_DECORATORS)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
