"""The early-warning queries parse with PostHog's grammar, call only functions HogQL exposes,
name the embedding model where PostHog's lazy table looks for it, and take every value from
`values`."""

from __future__ import annotations

import re

import pytest

from bot.domain.models import Level
from bot.posthog.early import SUMMARY_COUNTS, early_query
from bot.posthog.embeddings import SUMMARY_EMBEDDING_MODEL
from standins.posthog.embeddings import POSTHOG_MODELS, check_model_names
from standins.posthog.faults import ApiError
from standins.posthog.hogql_check import check_functions
from tests.support.hogql import parse_hogql, string_constants

QUERIES = {
    "trace": early_query(Level.TRACE),
    "generation": early_query(Level.GENERATION),
    "counts": SUMMARY_COUNTS,
}
# JSON keys, the id separator, property names, and the event names of the per-item query.
ALLOWED_CONSTANTS = {
    "cluster_id",
    "traces",
    "::",
    "$ai_clusters",
    "String",
    "$ai_generation",
    "$ai_embedding",
    "$ai_span",
    "true",
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_parses_and_calls_only_hogql_functions(name: str) -> None:
    ast = parse_hogql(QUERIES[name])
    check_functions(ast)
    assert set(string_constants(ast)) <= ALLOWED_CONSTANTS


@pytest.mark.parametrize("name", ["trace", "generation"])
def test_the_model_name_is_where_posthogs_lazy_table_looks_for_it(name: str) -> None:
    ast = parse_hogql(QUERIES[name])
    check_model_names(ast, {"model_name": SUMMARY_EMBEDDING_MODEL}, POSTHOG_MODELS)
    with pytest.raises(ApiError):
        check_model_names(ast, {"model_name": "text-embedding-ada-002"}, POSTHOG_MODELS)


def test_no_marker_is_left_and_the_item_id_follows_the_level() -> None:
    assert "properties.$ai_trace_id" in QUERIES["trace"]
    assert "properties.$ai_generation_id" in QUERIES["generation"]
    for text in QUERIES.values():
        assert not re.search(r"__[A-Z_]+__", text)
