"""HogQL → ClickHouse SQL, just enough of it for the sandbox PostHog (pure, no I/O).

PostHog parses HogQL into an AST and prints ClickHouse SQL. The sandbox instead runs a small
tokenizer that never looks inside string literals or comments and rewrites a few constructs:

- `{name}` placeholders → ClickHouse literals of `values[name]`;
- `properties.$x`, `properties['$x']`, `e.properties.$x` → what PostHog prints for a JSON property;
- the HogQL-only functions `toFloat`, `toInt`, `toDateTime`, `parseDateTimeBestEffort`, … →
  ClickHouse functions or UDFs (`UDF_DEFINITIONS`, created once per chdb session); the
  timezone-aware ones read a string in the project's timezone unless the query's modifiers
  say `convertToProjectTimezone: false` (PostHog's printer appends the timezone likewise);
- `events`, `document_embeddings`, `raw_document_embeddings` after FROM/JOIN → tables of
  `<database>` (several sandboxes share one chdb session);
- the outermost LIMIT: `LIMIT 100` when absent, capped at 50000 (PostHog's
  DEFAULT_RETURNED_ROWS / MAX_SELECT_RETURNED_ROWS).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from standins.posthog.hogql_lexer import (
    HogQLError,
    Token,
    _unquote_key,
    literal,
    property_sql,
    quote_string,
    tokenize,
)

__all__ = [
    "DEFAULT_RETURNED_ROWS",
    "MAX_SELECT_RETURNED_ROWS",
    "UDF_DEFINITIONS",
    "HogQLError",
    "Token",
    "Translation",
    "literal",
    "prepare",
    "property_sql",
    "quote_string",
    "select_columns",
    "tokenize",
    "translate",
]

DEFAULT_RETURNED_ROWS = 100
MAX_SELECT_RETURNED_ROWS = 50000

UDF_DEFINITIONS: tuple[str, ...] = (
    "CREATE OR REPLACE FUNCTION _hogql_toFloat AS (x) -> accurateCastOrNull(x, 'Float64')",
    "CREATE OR REPLACE FUNCTION _hogql_toInt AS (x) -> accurateCastOrNull(x, 'Int64')",
    "CREATE OR REPLACE FUNCTION _hogql_toDateTime AS (x) -> "
    "parseDateTime64BestEffortOrNull(toString(x), 6, 'UTC')",
    "CREATE OR REPLACE FUNCTION _hogql_toDateTime_tz AS (x, tz) -> "
    "parseDateTime64BestEffortOrNull(toString(x), 6, tz)",
    # The project's timezone first, so the rewrite needs no look-ahead for the closing paren.
    "CREATE OR REPLACE FUNCTION _hogql_toDateTime_in AS (tz, x) -> "
    "parseDateTime64BestEffortOrNull(toString(x), 6, tz)",
)
_TZ_AWARE = {"toDateTime", "parseDateTimeBestEffort"}

# HogQL name → (ClickHouse name for 1 argument, for 2 arguments or None).
_FUNCTIONS: dict[str, tuple[str, str | None]] = {
    "toFloat": ("_hogql_toFloat", None),
    "toInt": ("_hogql_toInt", None),
    "toDateTime": ("_hogql_toDateTime", "_hogql_toDateTime_tz"),
    "parseDateTimeBestEffort": ("_hogql_toDateTime", "_hogql_toDateTime_tz"),
    "toIntOrZero": ("toInt64OrZero", None),
    "toFloatOrZero": ("toFloat64OrZero", None),
    "toFloatOrDefault": ("toFloat64OrDefault", "toFloat64OrDefault"),
}

# HogQL tables → the sandbox's ClickHouse tables (both embeddings tables are one table here).
_TABLES = {
    "events": "events",
    "document_embeddings": "document_embeddings",
    "raw_document_embeddings": "document_embeddings",
}
_SUFFIX_KEYWORDS = {"SETTINGS", "FORMAT"}
_SET_OPERATORS = {"UNION", "EXCEPT", "INTERSECT"}


# ---------------------------------------------------------------------------------------------
# Translation


@dataclass(frozen=True)
class Translation:
    """A translated query. `limit` is the effective outer LIMIT (None: an expression we keep)."""

    tokens: tuple[Token, ...]
    limit_index: int | None  # index of the literal token holding the outer LIMIT value
    limit: int | None
    offset: int
    columns: tuple[str, ...] | None = None  # HogQL column names of the outer SELECT, if known
    explicit_limit: bool = True  # False when PostHog's default LIMIT was added

    def render(self, *, probe: bool = False) -> str:
        """The SQL; with `probe`, the outer LIMIT asks for one extra row (to compute hasMore)."""
        parts = [token.text for token in self.tokens]
        if probe and self.limit_index is not None and self.limit is not None:
            parts[self.limit_index] = str(self.limit + 1)
        return "".join(parts).strip()

    @property
    def sql(self) -> str:
        return self.render()


def _next_significant(tokens: list[Token], i: int) -> int | None:
    """Index of the first non-whitespace, non-comment token at or after i."""
    while i < len(tokens):
        if tokens[i].kind not in ("ws", "comment"):
            return i
        i += 1
    return None


def _substitute(tokens: list[Token], values: Mapping[str, object]) -> list[Token]:
    out: list[Token] = []
    for token in tokens:
        if token.kind == "comment":
            out.append(Token("ws", " "))  # a trailing `-- …` must not swallow an appended LIMIT
        elif token.kind == "placeholder":
            name = token.text[1:-1].strip()
            if name not in values:
                raise HogQLError(f"Placeholder {{{name}}} is not defined")
            value = values[name]
            kind = (
                "number"
                if isinstance(value, int | float) and not isinstance(value, bool)
                else "literal"
            )
            out.append(Token(kind, literal(value)))
        else:
            out.append(token)
    return out


def _count_args(tokens: list[Token], open_index: int) -> int:
    depth = 0
    commas = 0
    empty = True
    for token in tokens[open_index:]:
        if token.kind == "punct" and token.text in "([":
            depth += 1
        elif token.kind == "punct" and token.text in ")]":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and token.kind == "punct" and token.text == ",":
            commas += 1
        if depth >= 1 and token.kind not in ("ws", "comment") and token.text != "(":
            empty = False
    return 0 if empty else commas + 1


def _rewrite(tokens: list[Token], database: str, timezone: str = "UTC") -> list[Token]:
    """Functions, property access and table names, in one left-to-right pass."""
    out: list[Token] = []
    last_significant: Token | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        nxt = _next_significant(tokens, i + 1)
        nxt_token = tokens[nxt] if nxt is not None else None

        if token.kind == "ident" and token.text in _FUNCTIONS and nxt is not None:
            if tokens[nxt].text == "(" and not (last_significant and last_significant.text == "."):
                one, two = _FUNCTIONS[token.text]
                count = _count_args(tokens, nxt)
                if token.text in _TZ_AWARE and count == 1 and timezone != "UTC":
                    out += [Token("ident", "_hogql_toDateTime_in"), Token("punct", "(")]
                    out += [Token("string", quote_string(timezone)), Token("punct", ",")]
                    last_significant = out[-1]
                    i = nxt + 1  # past the opening paren
                    continue
                name = two if two is not None and count == 2 else one
                out.append(Token("ident", name))
                last_significant = out[-1]
                i += 1
                continue

        if token.kind == "ident" and token.text == "properties" and nxt_token is not None:
            keys, end = _property_chain(tokens, i + 1)
            if keys:
                source = "properties"
                # `e.properties.$x`: pull the qualifier back out of the output.
                sig = [k for k, t in enumerate(out) if t.kind not in ("ws", "comment")]
                if (
                    len(sig) >= 2
                    and out[sig[-1]].text == "."
                    and out[sig[-2]].kind in ("ident", "qident")
                ):
                    source = f"{out[sig[-2]].text}.properties"
                    del out[sig[-2] :]
                out.append(Token("literal", property_sql(source, keys)))
                last_significant = out[-1]
                i = end
                continue

        if (
            token.kind == "ident"
            and token.text in _TABLES
            and last_significant is not None
            and last_significant.upper in ("FROM", "JOIN")
            and not (nxt_token is not None and nxt_token.text in ("(", "."))
        ):
            out.append(Token("ident", f"{database}.{_TABLES[token.text]}"))
            last_significant = out[-1]
            i += 1
            continue

        out.append(token)
        if token.kind not in ("ws", "comment"):
            last_significant = token
        i += 1
    return out


def _property_chain(tokens: list[Token], i: int) -> tuple[list[str], int]:
    """Keys of `.key` / `['key']` accessors starting at i, and the index after them."""
    keys: list[str] = []
    while True:
        j = _next_significant(tokens, i)
        if j is None:
            break
        if tokens[j].text == "." and j + 1 < len(tokens):
            key = tokens[j + 1]
            if key.kind in ("ident", "qident", "number"):
                keys.append(_unquote_key(key))
                i = j + 2
                continue
        if tokens[j].text == "[":
            k = _next_significant(tokens, j + 1)
            close = _next_significant(tokens, k + 1) if k is not None else None
            if (
                k is not None
                and close is not None
                and tokens[k].kind == "string"
                and tokens[close].text == "]"
            ):
                keys.append(_unquote_key(tokens[k]))
                i = close + 1
                continue
        break
    return keys, i


def _apply_limit(tokens: list[Token]) -> Translation:
    # Drop a trailing semicolon; refuse several statements.
    sig = [k for k, t in enumerate(tokens) if t.kind not in ("ws", "comment")]
    if not sig:
        raise HogQLError("Empty query")
    if tokens[sig[-1]].text == ";":
        tokens = tokens[: sig[-1]]
    depth = 0
    suffix_at: int | None = None
    limits: list[int] = []
    for k, token in enumerate(tokens):
        if token.kind == "punct" and token.text in "([":
            depth += 1
        elif token.kind == "punct" and token.text in ")]":
            depth -= 1
        elif depth == 0 and token.kind == "punct" and token.text == ";":
            raise HogQLError("Only one statement is allowed")
        elif depth == 0 and token.upper in _SET_OPERATORS:
            limits, suffix_at = [], None  # only the last SELECT's LIMIT is the outer one
        elif depth == 0 and token.upper == "LIMIT":
            limits.append(k)
        elif depth == 0 and token.upper in _SUFFIX_KEYWORDS and suffix_at is None:
            suffix_at = k
    if depth != 0:
        raise HogQLError("Unbalanced parentheses")

    for k in reversed(limits):
        parsed = _parse_limit(tokens, k)
        if parsed is None:
            continue  # LIMIT n BY …
        value_index, value, offset = parsed
        if value is None:
            return Translation(tuple(tokens), None, None, offset)
        capped = min(value, MAX_SELECT_RETURNED_ROWS)
        tokens = list(tokens)
        tokens[value_index] = Token("number", str(capped))
        return Translation(tuple(tokens), value_index, capped, offset)

    insert_at = suffix_at if suffix_at is not None else len(tokens)
    added = [Token("ws", " "), Token("ident", "LIMIT"), Token("ws", " ")]
    value_token = Token("number", str(DEFAULT_RETURNED_ROWS))
    new = [*tokens[:insert_at], *added, value_token, Token("ws", " "), *tokens[insert_at:]]
    return Translation(
        tuple(new), insert_at + len(added), DEFAULT_RETURNED_ROWS, 0, explicit_limit=False
    )


def _int_token(token: Token) -> int | None:
    if token.kind == "number" and token.text.isdigit():
        return int(token.text)
    return None


def _parse_limit(tokens: list[Token], k: int) -> tuple[int, int | None, int] | None:
    """(index of the row-count token, its value or None, offset) or None for LIMIT … BY."""
    a = _next_significant(tokens, k + 1)
    if a is None:
        raise HogQLError("LIMIT without a value")
    count_index, offset = a, 0
    after = _next_significant(tokens, a + 1)
    if after is not None and tokens[after].text == ",":
        b = _next_significant(tokens, after + 1)
        if b is None:
            raise HogQLError("LIMIT without a value")
        offset = _int_token(tokens[a]) or 0
        count_index = b
        after = _next_significant(tokens, b + 1)
    elif after is not None and tokens[after].upper == "OFFSET":
        o = _next_significant(tokens, after + 1)
        offset = (_int_token(tokens[o]) or 0) if o is not None else 0
        after = _next_significant(tokens, o + 1) if o is not None else None
    if after is not None and tokens[after].upper == "BY":
        return None
    return count_index, _int_token(tokens[count_index]), offset


_CLAUSE_ENDS = {"FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "SETTINGS", "FORMAT", "HAVING"}


def select_columns(tokens: list[Token]) -> tuple[str, ...] | None:
    """Column names PostHog reports for the outer SELECT: the alias, else the HogQL text."""
    depth = 0
    start: int | None = None
    end = len(tokens)
    for k, token in enumerate(tokens):
        if token.kind == "punct" and token.text in "([":
            depth += 1
        elif token.kind == "punct" and token.text in ")]":
            depth -= 1
        elif depth == 0 and start is None and token.upper == "SELECT":
            start = k + 1
        elif depth == 0 and start is not None and (token.upper in _CLAUSE_ENDS | _SET_OPERATORS):
            end = k
            break
    if start is None:
        return None
    items: list[list[Token]] = [[]]
    depth = 0
    for token in tokens[start:end]:
        if token.kind in ("ws", "comment"):
            if items[-1]:
                items[-1].append(Token("ws", " "))
            continue
        if token.kind == "punct" and token.text in "([":
            depth += 1
        elif token.kind == "punct" and token.text in ")]":
            depth -= 1
        if depth == 0 and token.text == ",":
            items.append([])
            continue
        items[-1].append(token)
    names: list[str] = []
    for number, item in enumerate(items):
        sig = [t for t in item if t.kind != "ws"]
        if number == 0 and sig and sig[0].upper == "DISTINCT":
            sig = sig[1:]
            item = item[item.index(sig[0]) :] if sig else []
        if not sig or any(t.text == "*" and t.kind == "punct" for t in sig[-1:]):
            return None
        if len(sig) >= 3 and sig[-2].upper == "AS" and sig[-1].kind in ("ident", "qident"):
            names.append(_unquote_key(sig[-1]))
        else:
            names.append("".join(t.text for t in item).strip())
    return tuple(names)


def prepare(
    hogql: str, values: Mapping[str, object] | None, database: str, timezone: str = "UTC"
) -> Translation:
    """Translate HogQL into ClickHouse SQL for `database`, keeping track of the outer LIMIT;
    `timezone` is the one datetime strings are read in (the project's, or UTC)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise ValueError(f"bad database name {database!r}")
    tokens = _substitute(tokenize(hogql), values or {})
    translation = _apply_limit(_rewrite(tokens, database, timezone))
    return replace(translation, columns=select_columns(tokens))


def translate(hogql: str, values: Mapping[str, object] | None, database: str) -> str:
    """The ClickHouse SQL PostHog would run for this HogQL (modulo the sandbox's shortcuts)."""
    return prepare(hogql, values, database).sql
