"""HogQL → ClickHouse translation (pure)."""

from __future__ import annotations

import pytest

from standins.posthog.hogql import HogQLError, literal, prepare, property_sql, tokenize, translate

DB = "ph_test"
PROP = (
    "replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(properties, '$x'), ''), 'null'), '^\"|\"$', '')"
)


def sql(query: str, values: dict[str, object] | None = None) -> str:
    return translate(query, values or {}, DB)


# -- placeholders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "'abc'"),
        ("x' OR 1=1 --", "'x\\' OR 1=1 --'"),
        ("back\\slash'", "'back\\\\slash\\''"),
        ("", "''"),
        (42, "42"),
        (-3, "-3"),
        (1.5, "1.5"),
        (True, "true"),
        (False, "false"),
        (None, "NULL"),
        # A JSON list is an array to PostHog's printer; a tuple stays a tuple.
        (["a", "b'c"], "['a', 'b\\'c']"),
        (("x", 1, None), "('x', 1, NULL)"),
        ([], "[]"),
        ([[1, 2], ["z"]], "[[1, 2], ['z']]"),
    ],
)
def test_literal(value: object, expected: str) -> None:
    assert literal(value) == expected


def test_placeholders_are_replaced_by_literals() -> None:
    out = sql(
        "SELECT 1 FROM events WHERE event = {event} AND x IN {ids} AND n > {n} LIMIT 5",
        {"event": "$ai_trace_clusters", "ids": ["a", "b"], "n": 3},
    )
    assert out == (
        f"SELECT 1 FROM {DB}.events WHERE event = '$ai_trace_clusters' "
        "AND x IN ['a', 'b'] AND n > 3 LIMIT 5"
    )


def test_hostile_string_stays_one_literal() -> None:
    out = sql("SELECT 1 FROM events WHERE distinct_id = {v}", {"v": "x' OR 1=1 --"})
    assert "distinct_id = 'x\\' OR 1=1 --'" in out
    # The literal is one token: re-tokenising finds exactly one string, no comment.
    kinds = [t.kind for t in tokenize(out)]
    assert kinds.count("string") == 1 and "comment" not in kinds
    assert out.endswith("LIMIT 100")


def test_placeholder_spacing_and_repeats() -> None:
    assert sql("SELECT { a }, {a}", {"a": 1}) == "SELECT 1, 1 LIMIT 100"


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(HogQLError, match=r"Placeholder \{missing\} is not defined"):
        sql("SELECT {missing}")


def test_unsupported_value_type() -> None:
    with pytest.raises(HogQLError, match="Unsupported placeholder value"):
        sql("SELECT {d}", {"d": {"a": 1}})


def test_placeholders_inside_strings_and_comments_are_untouched() -> None:
    out = sql("SELECT '{not_a_placeholder}' /* {nor_this} */ -- {nor} \n FROM events")
    assert "'{not_a_placeholder}'" in out
    assert "nor_this" not in out and "{nor}" not in out


def test_map_literal_braces_are_not_placeholders() -> None:
    assert sql("SELECT {'a': 1}") == "SELECT {'a': 1} LIMIT 100"


# -- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr", ["properties.$x", "properties['$x']", "properties[ '$x' ]", 'properties."$x"']
)
def test_property_access_forms(expr: str) -> None:
    assert sql(f"SELECT {expr} FROM events") == f"SELECT {PROP} FROM {DB}.events LIMIT 100"


def test_property_without_dollar_and_nested_and_qualified() -> None:
    assert property_sql("properties", ["plain"]) in sql("SELECT properties.plain")
    assert "JSONExtractRaw(properties, '$ai_input_state', 'messages')" in sql(
        "SELECT properties.$ai_input_state.messages"
    )
    out = sql("SELECT e.properties.$x FROM events AS e")
    assert out.startswith(
        "SELECT replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(e.properties, '$x')"
    )
    assert f"FROM {DB}.events AS e" in out


def test_property_key_with_quote_is_escaped() -> None:
    out = sql("SELECT properties['it\\'s']")
    assert "JSONExtractRaw(properties, 'it\\'s')" in out


def test_plain_properties_column_and_json_functions_are_untouched() -> None:
    out = sql("SELECT JSONExtractString(properties, '$ai_clusters'), properties FROM events")
    assert out == (
        f"SELECT JSONExtractString(properties, '$ai_clusters'), properties FROM {DB}.events "
        "LIMIT 100"
    )


def test_properties_inside_string_literal_untouched() -> None:
    out = sql("SELECT 'properties.$x FROM events LIMIT 5' AS s")
    assert out == "SELECT 'properties.$x FROM events LIMIT 5' AS s LIMIT 100"


# -- functions --------------------------------------------------------------------------------


def test_hogql_only_functions_are_mapped() -> None:
    out = sql(
        "SELECT toFloat(properties.$x), toInt('3'), toDateTime('2026-01-01'), "
        "toDateTime(timestamp, 'UTC'), parseDateTimeBestEffort('x'), toIntOrZero('1'), now()"
    )
    assert f"_hogql_toFloat({PROP})" in out
    assert "_hogql_toInt('3')" in out
    assert "_hogql_toDateTime('2026-01-01')" in out
    assert "_hogql_toDateTime_tz(timestamp, 'UTC')" in out
    assert "_hogql_toDateTime('x')" in out
    assert "toInt64OrZero('1')" in out
    assert "now()" in out


def test_clickhouse_native_functions_and_lookalikes_stay() -> None:
    query = "SELECT toFloat64OrNull(x), toInt64(y), toDate(z), toFloat AS alias_not_a_call"
    assert sql(query) == query + " LIMIT 100"


# -- tables -----------------------------------------------------------------------------------


def test_events_table_is_qualified_after_from_and_join() -> None:
    out = sql(
        "SELECT e.event FROM events e JOIN events AS f ON e.uuid = f.uuid "
        "WHERE e.uuid IN (SELECT uuid FROM events) LIMIT 3"
    )
    assert out.count(f"{DB}.events") == 3


def test_events_as_column_or_cte_name_is_untouched() -> None:
    assert sql("SELECT events FROM t") == "SELECT events FROM t LIMIT 100"
    out = sql("WITH run AS (SELECT 1 AS a) SELECT a FROM run")
    assert out == "WITH run AS (SELECT 1 AS a) SELECT a FROM run LIMIT 100"


# -- LIMIT ------------------------------------------------------------------------------------


def test_default_limit_is_appended() -> None:
    t = prepare("SELECT event FROM events", {}, DB)
    assert t.sql == f"SELECT event FROM {DB}.events LIMIT 100"
    assert t.limit == 100
    assert t.render(probe=True).endswith("LIMIT 101")


def test_explicit_limit_is_kept_and_probed() -> None:
    t = prepare("SELECT event FROM events LIMIT 20 OFFSET 40", {}, DB)
    assert t.sql.endswith("LIMIT 20 OFFSET 40")
    assert (t.limit, t.offset) == (20, 40)
    assert t.render(probe=True).endswith("LIMIT 21 OFFSET 40")


def test_limit_from_placeholder() -> None:
    t = prepare("SELECT 1 LIMIT {n}", {"n": 7}, DB)
    assert t.limit == 7 and t.render(probe=True) == "SELECT 1 LIMIT 8"


def test_limit_is_capped() -> None:
    t = prepare("SELECT 1 FROM events LIMIT 1000000", {}, DB)
    assert t.limit == 50000 and t.sql.endswith("LIMIT 50000")


def test_comma_limit_form() -> None:
    t = prepare("SELECT 1 LIMIT 10, 5", {}, DB)
    assert (t.limit, t.offset) == (5, 10)


def test_inner_limits_do_not_count() -> None:
    t = prepare("SELECT * FROM (SELECT * FROM events LIMIT 5) WHERE 1", {}, DB)
    assert t.sql.endswith("WHERE 1 LIMIT 100")
    t = prepare("SELECT event FROM events LIMIT 2 BY event", {}, DB)
    assert t.sql.endswith("LIMIT 2 BY event LIMIT 100")
    t = prepare("SELECT event FROM events LIMIT 2 BY event LIMIT 3", {}, DB)
    assert t.limit == 3 and t.sql.endswith("LIMIT 2 BY event LIMIT 3")


def test_limit_goes_before_settings_and_after_trailing_comment() -> None:
    assert (
        sql("SELECT 1 SETTINGS max_threads = 1") == "SELECT 1  LIMIT 100 SETTINGS max_threads = 1"
    )
    assert sql("SELECT 1 -- trailing comment").endswith("LIMIT 100")
    assert sql("SELECT 1;") == "SELECT 1 LIMIT 100"


def test_union_limit_applies_to_last_select() -> None:
    t = prepare("SELECT 1 LIMIT 1 UNION ALL SELECT 2", {}, DB)
    assert t.sql == "SELECT 1 LIMIT 1 UNION ALL SELECT 2 LIMIT 100"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT 'unterminated", "Unterminated string"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT (1", "Unbalanced"),
        ("", "Empty"),
        ("SELECT 1 /* open", "Unterminated comment"),
    ],
)
def test_malformed_queries(query: str, message: str) -> None:
    with pytest.raises(HogQLError, match=message):
        sql(query)


# -- column names -----------------------------------------------------------------------------


def test_columns_are_hogql_text_or_alias() -> None:
    t = prepare(
        "SELECT event, properties.$ai_model, count() AS n, toFloat(properties.c) FROM events",
        {},
        DB,
    )
    assert t.columns == ("event", "properties.$ai_model", "n", "toFloat(properties.c)")
    assert prepare("SELECT * FROM events", {}, DB).columns is None
