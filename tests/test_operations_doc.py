"""docs/operations.md names real metrics: an alert rule over a name the bot does not export never fires."""

from __future__ import annotations

import re

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.core import metrics
from tests.conftest import ROOT

SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def exported_names() -> set[str]:
    """Every family the bot's own registry exports, with the names Prometheus stores (counters get _total)."""
    text = generate_latest(metrics.EVENTS).decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    # The store-backed families (tasks, videos, spend, pause) are named in metrics.py's collector.
    source = (ROOT / "bot" / "core" / "metrics.py").read_text(encoding="utf-8")
    return names | set(re.findall(r'"(grokbot_[a-z_]+)"', source))


def base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_every_metric_the_operators_page_names_is_exported() -> None:
    page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    named = {base(n) for n in re.findall(r"grokbot_[a-z_]+", page)}
    exported = {base(n) for n in exported_names()}
    assert named, "the page names no metric"
    assert named <= exported, f"named on the page but not exported: {sorted(named - exported)}"
