"""HogQL tokens and ClickHouse literals (pure). Used by `standins.posthog.hogql`."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass


class HogQLError(ValueError):
    """The HogQL cannot be translated; the server answers 400 validation_error."""


@dataclass(frozen=True)
class Token:
    kind: str  # ws, comment, string, qident, ident, number, placeholder, punct, literal
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<placeholder>\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\})
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>::|<=|>=|!=|<>|==|\|\||->|.)
    """,
    re.VERBOSE | re.DOTALL,
)


def _read_quoted(text: str, start: int, quote: str) -> int:
    """Index just past the literal that opens at `start`: `\\` escapes, doubled quotes."""
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    what = "string literal" if quote == "'" else "quoted identifier"
    raise HogQLError(f"Unterminated {what} at position {start}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"`":
            end = _read_quoted(text, i, ch)
            tokens.append(Token("string" if ch == "'" else "qident", text[i:end]))
            i = end
            continue
        if text.startswith("/*", i) and text.find("*/", i + 2) < 0:
            raise HogQLError(f"Unterminated comment at position {i}")
        match = _TOKEN_RE.match(text, i)
        assert match is not None and match.lastgroup is not None  # `.` matches any character
        tokens.append(Token(match.lastgroup, match.group()))
        i = match.end()
    return tokens


# ---------------------------------------------------------------------------------------------
# Literals


def quote_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0")
    return f"'{escaped}'"


def literal(value: object) -> str:
    """A ClickHouse literal for a placeholder value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, list):
        # A JSON list is an array to PostHog's printer (escape_sql), as `[1, 2]`.
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(item) for item in value) + ")"
    raise HogQLError(f"Unsupported placeholder value of type {type(value).__name__}")


def _unquote_key(token: Token) -> str:
    text = token.text
    if token.kind in ("string", "qident"):
        body = text[1:-1]
        return re.sub(r"\\(.)", r"\1", body.replace(text[0] * 2, text[0]))
    return text


def property_sql(source: str, keys: Iterable[str]) -> str:
    """What PostHog prints for `properties.$x` on a JSON String column."""
    args = ", ".join([source, *(quote_string(key) for key in keys)])
    return f"replaceRegexpAll(nullIf(nullIf(JSONExtractRaw({args}), ''), 'null'), '^\"|\"$', '')"
