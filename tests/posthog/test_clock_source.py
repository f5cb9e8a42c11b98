"""The time comes from Python, never from ClickHouse: CI's calendar tier moves the clock with
libfaketime, which moves Python's clock but not the embedded ClickHouse's `now()`. A query of
the bot or the local PostHog that asked SQL for the time would see another day than the code
around it, under faketime and on a real PostHog whose clock differs from the bot's."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLOCK_IN_SQL = re.compile(
    r"\b(now|today|yesterday|now64|nowInBlock)\s*\(\s*[0-9]*\s*\)", re.IGNORECASE
)


def sql_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module, docstrings and other bare string statements left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bare = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare
    ]


def test_no_query_of_the_bot_or_the_local_posthog_asks_sql_for_the_time() -> None:
    modules = sorted((ROOT / "bot").rglob("*.py")) + sorted((ROOT / "sandbox").rglob("*.py"))
    assert len(modules) > 50
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()[:80]}"
        for path in modules
        for line, text in sql_strings(path)
        if CLOCK_IN_SQL.search(text)
    ]
    assert found == []


def test_the_check_sees_a_clock_in_sql() -> None:
    """The pattern itself: a query that asks for the time is caught, Python's clock is not."""
    assert CLOCK_IN_SQL.search("WHERE timestamp > now() - INTERVAL 7 DAY")
    assert CLOCK_IN_SQL.search("toDate(today ())")
    assert CLOCK_IN_SQL.search("SELECT now64(6)")
    assert not CLOCK_IN_SQL.search("WHERE timestamp > {since}")
    assert not CLOCK_IN_SQL.search("PostHog is not answering right now (a 503)")
