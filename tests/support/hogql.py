"""PostHog's own HogQL grammar (`hogql-parser`) as a syntax check for every query we send.

The parser and its stub for PostHog's monorepo live in `standins.posthog.hogql_check`.
"""

from __future__ import annotations

from typing import Any

from standins.posthog.hogql_check import parse_select
from standins.posthog.hogql_lexer import HogQLError


def parse_hogql(query: str) -> dict[str, Any]:
    """The parsed AST as a dict; raises AssertionError on a syntax error."""
    try:
        result = parse_select(query)
    except HogQLError as error:
        raise AssertionError(f"{error}\n{query}") from None
    assert result is not None, "hogql-parser is a dev dependency: install it"
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
