"""PostHog's own HogQL grammar (`hogql-parser`) as the sandbox's first gate, plus HogQL's
function registry: what PostHog refuses with a 400, the sandbox refuses too.

`hogql-parser` is a dev dependency; without it the sandbox skips the syntax check (and says so
once in the log) rather than refusing to start. The wheel imports `posthog.hogql.errors` from
PostHog's monorepo, so a stub module stands in for it.
"""

from __future__ import annotations

import difflib
import functools
import importlib.abc
import importlib.machinery
import json
import logging
import sys
import types
from collections.abc import Iterator
from typing import Any

from standins.posthog.hogql_lexer import HogQLError

logger = logging.getLogger(__name__)


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
        module.__path__ = []


_parser: Any = None
_parser_missing = False


def parser() -> Any:
    """The `hogql_parser` module, or None when it is not installed."""
    global _parser, _parser_missing
    if _parser is None and not _parser_missing:
        if "posthog" not in sys.modules:
            sys.meta_path.insert(0, _PostHogStubFinder())
        try:
            import hogql_parser
        except ImportError:
            _parser_missing = True
            logger.warning("sandbox.hogql.unchecked", extra={"reason": "hogql-parser missing"})
            return None
        _parser = hogql_parser
    return _parser


@functools.lru_cache(maxsize=1024)
def _parse_select_json(query: str) -> str:
    """The grammar's answer for `query`: a pure function of the text, and a quarter of a
    second for each of the bot's bigger queries, which it asks again and again."""
    return str(parser().parse_select_json(query))


def parse_select(query: str) -> dict[str, Any] | None:
    """PostHog's AST of `query` as a dict; HogQLError with PostHog's message on a syntax
    error; None when the parser is not installed."""
    if parser() is None:
        return None
    result: dict[str, Any] = json.loads(_parse_select_json(query))
    if result.get("error"):
        raise HogQLError(str(result.get("message") or "Syntax error"))
    return result


def calls(node: object) -> Iterator[str]:
    """The name of every function call in a parsed query."""
    if isinstance(node, dict):
        if node.get("node") == "Call" and isinstance(node.get("name"), str):
            yield node["name"]
        for value in node.values():
            yield from calls(value)
    elif isinstance(node, list):
        for value in node:
            yield from calls(value)


def check_functions(ast: dict[str, Any]) -> None:
    """Refuse calls HogQL does not expose, worded as PostHog's printer words it."""
    for name in calls(ast):
        if name in FUNCTIONS or name.lower() in CASE_INSENSITIVE:
            continue
        close = difflib.get_close_matches(name, sorted(FUNCTIONS), 1)
        if close:
            raise HogQLError(
                f"Unsupported function call '{name}(...)'. Perhaps you meant '{close[0]}(...)'?"
            )
        raise HogQLError(f"Unsupported function call '{name}(...)'")


def check_query(query: str) -> dict[str, Any] | None:
    """Syntax and functions, as PostHog checks them before running anything."""
    ast = parse_select(query)
    if ast is not None:
        check_functions(ast)
    return ast


# SQL-standard names HogQL also accepts in any case (`COUNT(*)`, `Sum(x)`).
CASE_INSENSITIVE = frozenset(
    {"count", "sum", "avg", "min", "max", "if", "coalesce", "lower", "upper", "concat",
     "substring", "trim", "abs", "round", "floor", "ceil", "length", "nullif", "ifnull"}
)  # fmt: skip

# A subset of HogQL's registry (posthog/hogql/functions/mapping.py and aggregations.py):
# the functions the bot, its tests and the sandbox's users reach for. Anything else is refused,
# as PostHog refuses functions it does not expose (ClickHouse-only names such as
# `accurateCastOrNull` or `toFloat64OrNull` included).
FUNCTIONS = frozenset(
    """
    count countIf countDistinct countDistinctIf min minIf max maxIf sum sumIf avg avgIf
    any anyIf anyLast anyLastIf argMin argMinIf argMax argMaxIf uniq uniqIf uniqExact
    uniqExactIf groupArray groupArrayIf groupUniqArray groupUniqArrayIf groupArraySample
    median medianIf medianExact quantile quantileIf quantiles quantilesIf quantileExact
    quantileTDigest stddevPop stddevSamp varPop varSamp corr covarPop covarSamp topK sumMap
    toString toFloat toInt toIntOrZero toFloatOrZero toFloatOrDefault toDecimal toDate
    toDateTime toDateTimeUS toUUID toTypeName toBool toTimeZone parseDateTimeBestEffort
    now today yesterday toStartOfDay toStartOfHour toStartOfWeek toStartOfMonth
    toStartOfMinute toStartOfInterval toYear toMonth toDayOfMonth toDayOfWeek toHour toMinute
    toUnixTimestamp dateDiff dateAdd dateSub dateTrunc addDays addHours addMinutes addSeconds
    subtractDays subtractHours subtractMinutes toIntervalDay toIntervalHour toIntervalMinute
    formatDateTime fromUnixTimestamp
    JSONExtractString JSONExtractInt JSONExtractUInt JSONExtractFloat JSONExtractBool
    JSONExtractRaw JSONExtractArrayRaw JSONExtractKeys JSONExtractKeysAndValues
    JSONExtractKeysAndValuesRaw JSONExtract JSONHas JSONLength JSONArrayLength JSONType
    isValidJSON JSON_VALUE
    arrayJoin arrayMap arrayFilter arraySort arrayReverseSort arrayDistinct arrayElement
    arrayExists arrayAll arraySum arrayCount arrayConcat arraySlice arrayStringConcat
    arrayZip arrayFirst arrayReduce has hasAny hasAll indexOf length empty notEmpty range
    array tuple tupleElement splitByChar splitByString
    lower upper concat substring trim trimLeft trimRight replaceAll replaceOne
    replaceRegexpAll replaceRegexpOne match like ilike notLike notILike position
    positionCaseInsensitive startsWith endsWith extract lengthUTF8 left right reverse format
    base64Encode base64Decode lowerUTF8 upperUTF8 multiMatchAny hasToken leftPad rightPad
    if multiIf coalesce ifNull nullIf assumeNotNull isNull isNotNull transform greatest least
    abs round floor ceil sqrt exp log log2 log10 pow power intDiv modulo plus minus multiply
    divide equals notEquals less greater lessOrEquals greaterOrEquals and or not in notIn
    cityHash64 sipHash64 hex generateUUIDv4
    cosineDistance L1Distance L2Distance LinfDistance LpDistance dotProduct L2Norm L2Normalize
    sumForEach minForEach arrayMin arrayMax arraySum arrayAvg arrayEnumerate
    """.split()
)
