"""`LocalPostHog`: PostHog's query and clustering-jobs API on embedded ClickHouse (chdb).

A real HTTP server (stdlib `ThreadingHTTPServer` in a daemon thread) that speaks enough of
PostHog's private API for the bot:

    POST /api/projects/{id}/query/                        HogQLQuery, TraceQuery
    GET  /api/projects/{id}/llm_analytics/clustering_jobs/[{job_id}/]
    (and the deprecated /api/environments/{id}/… alias)

with bearer auth, PostHog's error shapes, and injectable faults (`server.faults`). As strict as
PostHog where the bot depends on it: every HogQL query is parsed with PostHog's own grammar and
its functions checked (`hogql_check`); list placeholders print as arrays; datetimes are read and
returned in the project's `timezone` unless `convertToProjectTimezone` is false; `hasMore` only
for queries without a LIMIT of their own; a result cache, a concurrency limit and a time limit
(`posthog_limits`).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from standins.posthog.api import QuietServer
from standins.posthog.embeddings import POSTHOG_MODELS, check_model_names, drop_embeddings
from standins.posthog.faults import (
    FaultInjector,
    RecordedRequest,
    not_found,
    validation_error,
)
from standins.posthog.hogql import HogQLError, prepare
from standins.posthog.hogql_check import check_query
from standins.posthog.limits import ConcurrencyLimit, ResultCache, refresh_mode
from standins.posthog.store import MEMORY, EventStore, StoreError, database_name_for
from standins.posthog.trace_query import run_trace_query

__all__ = ["FaultInjector", "LocalPostHog", "RecordedRequest"]

JOBS_PAGE_SIZE = 100
_counter = itertools.count(1)


def clean_clickhouse_message(message: str, database: str) -> str:
    """ClickHouse's message without the `Code: N. DB::Exception:` noise or our database name."""
    text = re.sub(r"^Code: \d+\.\s*DB::Exception:\s*", "", message.strip())
    text = text.split("Stack trace", 1)[0].strip()
    text = text.replace(f"{database}.", "")
    return text[:2000]


# -- datetime cells ---------------------------------------------------------------------------

_WRAPPERS = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")
_DATETIME = re.compile(r"^DateTime(?:64)?(?:\((?:\d+)?(?:,\s*)?(?:'(?P<tz>[^']+)')?\))?$")


def _iso_cell(value: object, tz: str | None, shown_in: str = "UTC") -> object:
    """A ClickHouse datetime cell as PostHog returns it: ISO, in `shown_in` (the project's
    timezone, or UTC when the query asked for UTC)."""
    if not isinstance(value, str) or not value:
        return value
    column_tz = tz or "UTC"
    if column_tz in ("UTC", "Etc/UTC") and shown_in == "UTC":  # the session timezone is UTC
        return value.replace(" ", "T", 1) + "Z"
    moment = datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(column_tz))
    return moment.astimezone(ZoneInfo(shown_in)).isoformat()


def cell_converter(ch_type: str, shown_in: str = "UTC") -> Callable[[object], object] | None:
    """A function normalising cells of this ClickHouse type, or None if they stay as they are."""
    inner = ch_type.strip()
    while match := _WRAPPERS.match(inner):
        inner = match.group(1).strip()
    if match := _DATETIME.match(inner):
        tz = match.group("tz")
        return lambda value: _iso_cell(value, tz, shown_in)
    if inner.startswith("Array(") and inner.endswith(")"):
        element = cell_converter(inner[6:-1], shown_in)
        if element is not None:
            convert = element
            return lambda value: [convert(v) for v in value] if isinstance(value, list) else value
    return None


# -- the server -------------------------------------------------------------------------------


class LocalPostHog:
    def __init__(
        self,
        *,
        project_id: int = 1,
        api_key: str = "phx_sandbox",
        db_path: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timezone: str = "UTC",
        max_concurrent_queries: int = 3,
        queue_timeout: float = 30.0,
        query_time_limit: float = 10.0,
    ) -> None:
        ZoneInfo(timezone)  # fail early on a bad name
        self.project_id = project_id
        self.timezone = timezone
        self.query_time_limit = query_time_limit
        self.cache = ResultCache()
        self.concurrency = ConcurrencyLimit(max_concurrent_queries, queue_timeout)
        self.api_key = api_key
        self.db_path = db_path
        self.host = host
        self.port = port
        self.database = database_name_for(db_path, project_id, next(_counter))
        self.store = EventStore(db_path or MEMORY, self.database)
        self.faults = FaultInjector()
        self.embedding_models = POSTHOG_MODELS  # `document_embeddings` refuses any other name
        self.requests: list[RecordedRequest] = []
        self.hogql_log: list[str] = []
        self._log_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalPostHog:
        if self._httpd is not None:
            return self
        self.store.open()
        try:
            httpd = QuietServer((self.host, self.port), self)
        except Exception:
            self.store.close()
            raise
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        # serve_forever checks for shutdown() every poll interval: 0.5 s by default, which
        # `stop()` waited out (a third of a second per stop, for every test that starts one).
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            args=(0.05,),
            name=f"LocalPostHog:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.store.close()

    def __enter__(self) -> LocalPostHog:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- data ---------------------------------------------------------------------------------

    def insert_events(self, events: Iterable[dict[str, Any]]) -> int:
        return self.store.insert_events(events)

    def set_jobs(self, jobs: list[dict[str, Any]]) -> None:
        self.store.set_jobs(jobs)

    def event_count(self) -> int:
        return self.store.count_events()

    def reset(self) -> None:
        """Empty the events and jobs and forget faults, recorded requests and HogQL."""
        self.store.truncate()
        drop_embeddings(self.store)
        self.faults.clear()
        self.cache.clear()
        with self._log_lock:
            self.requests.clear()
            self.hogql_log.clear()

    def record(self, request: RecordedRequest) -> None:
        with self._log_lock:
            self.requests.append(request)

    def log_hogql(self, text: str) -> None:
        with self._log_lock:
            self.hogql_log.append(text)

    # -- API ----------------------------------------------------------------------------------

    def run_query(self, body: object) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("query"), dict):
            raise validation_error("Request body must be a JSON object with a 'query' object.")
        query = body["query"]
        kind = query.get("kind")
        mode = refresh_mode(body)
        key = f"api:query:per-team:{self.project_id}"
        if kind == "HogQLQuery":
            self._check_hogql(query)
            return self.cache.answer(
                query, mode, lambda: self.concurrency.run(key, lambda: self._hogql(query))
            )
        if kind == "TraceQuery":
            try:
                return self.cache.answer(
                    query,
                    mode,
                    lambda: self.concurrency.run(
                        key, lambda: run_trace_query(self.store, query, datetime.now(UTC))
                    ),
                )
            except HogQLError as error:
                raise validation_error(str(error)) from None
            except StoreError as error:
                raise validation_error(
                    clean_clickhouse_message(str(error), self.database)
                ) from None
        raise validation_error(f"Unsupported query kind: {kind!r}")

    def _check_hogql(self, query: dict[str, Any]) -> None:
        """PostHog's own grammar and function registry, before any cache or ClickHouse."""
        text = query.get("query")
        if not isinstance(text, str):
            raise validation_error("HogQLQuery.query must be a string.")
        if not isinstance(query.get("values") or {}, dict):
            raise validation_error("HogQLQuery.values must be an object.")
        try:
            ast = check_query(text)
        except HogQLError as error:
            raise validation_error(str(error)) from None
        if ast is not None:
            check_model_names(ast, query.get("values") or {}, self.embedding_models)

    def shown_timezone(self, query: dict[str, Any]) -> str:
        """The project's timezone, unless the query's modifiers ask for UTC."""
        modifiers = query.get("modifiers") or {}
        if isinstance(modifiers, dict) and modifiers.get("convertToProjectTimezone") is False:
            return "UTC"
        return self.timezone

    def _hogql(self, query: dict[str, Any]) -> dict[str, Any]:
        text = str(query.get("query"))
        values = query.get("values") or {}
        timezone = self.shown_timezone(query)
        try:
            translation = prepare(text, values, self.database, timezone)
            # Only a query without its own LIMIT gets the extra row that tells `hasMore`
            # (HogQLHasMorePaginator); an explicit LIMIT is run as written.
            sql = translation.render(probe=not translation.explicit_limit)
            result = self.store.query_json(sql, time_limit=self.query_time_limit)
        except HogQLError as error:
            raise validation_error(str(error)) from None
        except StoreError as error:
            raise validation_error(clean_clickhouse_message(str(error), self.database)) from None
        meta = result.get("meta", [])
        rows: list[list[Any]] = result.get("data", [])
        limit = translation.limit
        has_more: bool | None = None
        if not translation.explicit_limit and limit is not None:
            has_more = len(rows) > limit
            rows = rows[:limit]
        converters = [(i, cell_converter(col["type"], timezone)) for i, col in enumerate(meta)]
        active = [(i, conv) for i, conv in converters if conv is not None]
        if active:
            for row in rows:
                for i, conv in active:
                    row[i] = conv(row[i])
        names = [col["name"] for col in meta]
        if translation.columns is not None and len(translation.columns) == len(names):
            names = list(translation.columns)
        now = datetime.now(UTC)
        return {
            "results": rows,
            "columns": names,
            "types": [[name, col["type"]] for name, col in zip(names, meta, strict=True)],
            "hasMore": has_more,
            "limit": None if translation.explicit_limit else limit,
            "offset": None if translation.explicit_limit else translation.offset,
            "hogql": text,
            "clickhouse": translation.sql,
            "is_cached": False,
            "cache_key": None,
            "last_refresh": now.isoformat().replace("+00:00", "Z"),
            "timezone": timezone,
            "timings": [],
            "error": None,
            "query_status": None,
            "modifiers": query.get("modifiers") or {},
        }

    def jobs_page(self, params: dict[str, list[str]], path: str) -> dict[str, Any]:
        def number(name: str, default: int) -> int:
            raw = params.get(name, [str(default)])[0]
            try:
                value = int(raw)
            except ValueError:
                raise validation_error(f"Invalid {name}: {raw!r}") from None
            return max(value, 0)

        limit = number("limit", JOBS_PAGE_SIZE) or JOBS_PAGE_SIZE
        offset = number("offset", 0)
        jobs = self.store.jobs()
        base = f"{self.url}{path}"

        def page_url(new_offset: int) -> str:
            query = f"limit={limit}" + (f"&offset={new_offset}" if new_offset > 0 else "")
            return f"{base}?{query}"

        return {
            "count": len(jobs),
            "next": page_url(offset + limit) if offset + limit < len(jobs) else None,
            "previous": page_url(max(offset - limit, 0)) if offset > 0 else None,
            "results": jobs[offset : offset + limit],
        }

    def job(self, job_id: str) -> dict[str, Any]:
        for job in self.store.jobs():
            if str(job.get("id")) == job_id:
                return job
        raise not_found()
