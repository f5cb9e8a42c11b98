"""PostHog's own HogQL grammar (`hogql-parser`) as a syntax check for every query we send.

The wheel imports `posthog.hogql.errors` from PostHog's monorepo; a stub module stands in.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import sys
import types
from typing import Any


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        error = type(name, (Exception,), {})
        setattr(self, name, error)
        return error


class _PostHogStubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name == "posthog" or name.startswith("posthog."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        return _StubModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__path__ = []  # type: ignore[attr-defined]


def parse_hogql(query: str) -> dict[str, Any]:
    """The parsed AST as a dict; raises AssertionError on a syntax error."""
    if "posthog" not in sys.modules:
        sys.meta_path.insert(0, _PostHogStubFinder())
    import hogql_parser

    result = json.loads(hogql_parser.parse_select_json(query))
    assert not result.get("error"), f"{result.get('message')}\n{query}"
    return result


def string_constants(ast: object) -> list[str]:
    """Every string literal in a parsed query (to prove user input never lands in one)."""
    found: list[str] = []
    if isinstance(ast, dict):
        if "value" in ast and isinstance(ast["value"], str):
            found.append(ast["value"])
        for value in ast.values():
            found += string_constants(value)
    elif isinstance(ast, list):
        for value in ast:
            found += string_constants(value)
    return found
