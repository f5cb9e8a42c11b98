"""The house rules that imports can break, read from the code itself (no import is run): the
product never imports its stand-ins, rendering never imports services, and listeners reach state
only through the services bot/wiring.py builds (no store, no service built of their own)."""

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


def test_listeners_never_import_the_store() -> None:
    # Listeners reach state through services (bot/wiring.py builds them), never the store itself
    assert offences(["bot/listeners"], ("bot.store",)) == []


def store_reads(path: Path) -> Iterator[int]:
    """Lines of a file that read an attribute named `store` (`services.store`, ...)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "store":
            yield node.lineno


def test_listeners_never_read_the_store_off_the_services() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "bot/listeners").rglob("*.py"))
        for line in store_reads(path)
    ]
    assert found == []


def test_the_store_rule_sees_an_attribute_read(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f(services):\n    return services.store.thresholds('C')\n")
    assert list(store_reads(module)) == [2]


def service_classes() -> set[str]:
    """Classes of bot/services with a constructor of their own: what bot/wiring.py builds."""
    return {
        node.name
        for path in (ROOT / "bot/services").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(f, ast.FunctionDef) and f.name == "__init__" for f in node.body)
    }


def test_listeners_never_build_a_service() -> None:
    # A listener that builds its own service hides a dependency from bot/wiring.py
    services = service_classes()
    assert {"HomeService", "AlertService", "ChannelSettings"} <= services
    built = [
        f"{path.relative_to(ROOT)}:{node.lineno} builds {node.func.id}"
        for path in sorted((ROOT / "bot/listeners").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in services
    ]
    assert built == []
