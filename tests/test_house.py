"""The house rules that imports can break, read from the code itself (no import is run): the
product never imports its stand-ins, and rendering never imports services."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of a file, including those inside functions."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module


def offences(folders: list[str], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, module in imported(path):
                if module.split(".")[0] in forbidden or module.startswith(forbidden):
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def test_the_product_never_imports_the_stand_ins() -> None:
    # `clusters-bot sandbox` finds them by name (bot/cli.py), so the wheel works without them
    assert offences(["bot", "jobs"], ("standins", "sandbox")) == []


def test_rendering_never_imports_services() -> None:
    assert offences(["bot/rendering"], ("bot.services",)) == []


def test_the_rules_see_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from standins.run import run_sandbox\n", encoding="utf-8")
    assert list(imported(module)) == [(2, "standins.run")]
