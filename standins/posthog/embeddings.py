"""The local PostHog's `document_embeddings`: PostHog's summary embeddings, and HogQL's rule.

PostHog exposes the embeddings to HogQL as two tables
(`posthog/hogql/database/schema/document_embeddings.py` @0374971e, registered in `database.py`):
`document_embeddings`, a lazy table that picks the model's own table from a
`model_name = '<const>'` comparison in the WHERE of the SELECT that reads it (alone or inside an
AND; a model it does not know, an OR, an IN or no comparison at all fail with
`ValueError: Invalid model name: …`, which the query API answers with a 500), and
`raw_document_embeddings`, the union view, without that rule. Both are one ClickHouse table
here, `<database>.document_embeddings`, with PostHog's columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from standins.posthog.faults import ApiError, error_body
from standins.posthog.store import EventStore, _to_ch_timestamp

if TYPE_CHECKING:
    from standins.traffic.embeddings import Summaries
    from standins.traffic.model import World

# PostHog's embedding models (products/error_tracking/backend/indexed_embedding.py).
POSTHOG_MODELS = frozenset({"text-embedding-3-small-1536", "text-embedding-3-large-3072"})
TABLES = ("document_embeddings", "raw_document_embeddings")
INSERT_ROWS = 2000


class SummaryHost(Protocol):
    """What loading summaries needs of a started local PostHog (`LocalPostHog`, which imports
    this module for the table's rule: a protocol here keeps the import one-way)."""

    store: EventStore
    embedding_models: frozenset[str]

    def insert_events(self, events: Iterable[dict[str, Any]]) -> int: ...


EMBEDDINGS_DDL = (
    "CREATE TABLE IF NOT EXISTS {db}.document_embeddings (team_id Int64, product String, "
    "document_type String, model_name String, rendering String, document_id String, "
    "timestamp DateTime64(6, 'UTC'), inserted_at DateTime64(3, 'UTC'), content String, "
    "metadata String, embedding Array(Float64)) "
    "ENGINE = MergeTree ORDER BY (team_id, product, document_type, document_id)"
)


def server_error() -> ApiError:
    """What the query API answers when building the SQL raises (PostHog's 500 body)."""
    return ApiError(500, error_body("server_error", "error", "A server error occurred."))


def _selects(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("node") == "SelectQuery":
            yield node
        for value in node.values():
            yield from _selects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _selects(value)


def _reads_lazy_table(select: dict[str, Any]) -> bool:
    join = select.get("select_from")
    while isinstance(join, dict):
        table = join.get("table")
        if isinstance(table, dict) and table.get("node") == "Field":
            if table.get("chain") == ["document_embeddings"]:
                return True
        join = join.get("next_join")
    return False


def _constant(node: object, values: Mapping[str, object]) -> object:
    if not isinstance(node, dict):
        return None
    if node.get("node") == "Constant":
        return node.get("value")
    if node.get("node") == "Placeholder":  # the query API's `values` become constants first
        chain = (node.get("expr") or {}).get("chain") or []
        return values.get(str(chain[0])) if len(chain) == 1 else None
    return None


def _model_name(where: object, values: Mapping[str, object]) -> object:
    """PostHog's `extract_model_name_from_where`: `model_name = const`, alone or in an AND."""
    if not isinstance(where, dict):
        return None
    if where.get("node") == "And":
        for expr in where.get("exprs") or []:
            found = _model_name(expr, values)
            if found:
                return found
        return None
    left, right = None, None
    if where.get("node") == "CompareOperation" and where.get("op") == "==":
        left, right = where.get("left"), where.get("right")
    elif where.get("node") == "Call" and where.get("name") == "equals":
        args = where.get("args") or []
        left, right = (args[0], args[1]) if len(args) == 2 else (None, None)
    if isinstance(left, dict) and left.get("node") in ("Constant", "Placeholder"):
        left, right = right, left
    if not isinstance(left, dict) or left.get("node") != "Field":
        return None
    if (left.get("chain") or [None])[-1] != "model_name":
        return None
    return _constant(right, values)


def check_model_names(
    ast: dict[str, Any], values: Mapping[str, object], models: frozenset[str]
) -> None:
    """Refuse, as PostHog does, a SELECT from `document_embeddings` whose own WHERE does not
    name one of `models` with `model_name = …`."""
    for select in _selects(ast):
        if _reads_lazy_table(select) and _model_name(select.get("where"), values) not in models:
            raise server_error()


def _row_json(row: Mapping[str, Any], vector: Any) -> str:
    body = dict(row)
    body["timestamp"] = _to_ch_timestamp(row["timestamp"])
    body["inserted_at"] = _to_ch_timestamp(row["inserted_at"])
    if not isinstance(body["metadata"], str):
        body["metadata"] = json.dumps(body["metadata"], separators=(",", ":"))
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    floats = ",".join(repr(float(x)) for x in vector)
    return text[:-1] + ',"embedding":[' + floats + "]}"


def load_summaries(
    posthog: SummaryHost, world: World, *, dimension: int | None = None
) -> Summaries:
    """Insert what PostHog's summarizer wrote for `world` (summary events and embeddings, see
    `standins.traffic.embeddings`) into a started `LocalPostHog`; returns them."""
    from standins.traffic.embeddings import DIMENSION, summaries

    found = summaries(world, dimension=dimension or DIMENSION)
    posthog.insert_events(found.events)
    insert_embeddings(posthog, found)
    return found


def insert_embeddings(posthog: SummaryHost, found: Summaries) -> int:
    store = posthog.store
    store.execute(EMBEDDINGS_DDL.format(db=store.database))
    posthog.embedding_models = posthog.embedding_models | {found.model_name}
    prefix = f"INSERT INTO {store.database}.document_embeddings FORMAT JSONEachRow\n"
    for start in range(0, len(found.rows), INSERT_ROWS):
        lines = [
            _row_json(row, vector)
            for row, vector in zip(
                found.rows[start : start + INSERT_ROWS],
                found.vectors[start : start + INSERT_ROWS],
                strict=True,
            )
        ]
        store.execute(prefix + "\n".join(lines) + "\n")
    return len(found.rows)


def drop_embeddings(store: Any) -> None:
    """Forget the embeddings (the table goes: a PostHog without them is the default)."""
    store.execute(f"DROP TABLE IF EXISTS {store.database}.document_embeddings")


__all__ = [
    "POSTHOG_MODELS",
    "TABLES",
    "check_model_names",
    "drop_embeddings",
    "insert_embeddings",
    "load_summaries",
]
