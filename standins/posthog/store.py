"""The sandbox PostHog's storage: one embedded ClickHouse (chdb) session per process.

chdb can open only one data path per process (reference/tooling.md 1.5), so every LocalPostHog
in a process shares one module-level `Session` and gets its own ClickHouse *database* in it.
The session is opened by the first store and closed when the last one is released, which also
removes the path's lock file so another process can open it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from standins.posthog.hogql import UDF_DEFINITIONS, quote_string

MEMORY = ":memory:"
MAX_QUERY_SIZE = 16 * 1024 * 1024
INSERT_CHUNK_BYTES = 8 * 1024 * 1024

EVENTS_DDL = (
    "CREATE TABLE IF NOT EXISTS {db}.events (uuid UUID, event String, "
    "timestamp DateTime64(6, 'UTC'), distinct_id String, properties String) "
    "ENGINE = MergeTree ORDER BY (event, timestamp)"
)
JOBS_DDL = (
    "CREATE TABLE IF NOT EXISTS {db}.clustering_jobs (position UInt32, body String) "
    "ENGINE = MergeTree ORDER BY position"
)


class StoreError(RuntimeError):
    """A ClickHouse error: `str()` is the ClickHouse message."""


class _SharedSession:
    """The process-wide chdb session, reference-counted."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.session: Any = None
        self.path: str | None = None
        self.refs = 0
        self.databases: set[str] = set()

    def acquire(self, path: str, database: str) -> None:
        with self.lock:
            if self.session is not None and self.path != path:
                raise RuntimeError(
                    f"chdb is already open at {self.path!r} in this process; a process can open "
                    f"only one path (asked for {path!r}). Stop the other LocalPostHog first."
                )
            if database in self.databases:
                raise RuntimeError(f"database {database} is already served by a LocalPostHog")
            if self.session is None:
                from chdb import session as chdb_session

                if path != MEMORY:
                    Path(path).mkdir(parents=True, exist_ok=True)
                self.session = chdb_session.Session(path)  # type: ignore[no-untyped-call]
                self.path = path
                for setting in (
                    f"SET max_query_size = {MAX_QUERY_SIZE}",
                    "SET session_timezone = 'UTC'",
                ):
                    self.session.query(setting)
                for udf in UDF_DEFINITIONS:
                    self.session.query(udf)
            self.refs += 1
            self.databases.add(database)

    def release(self, database: str) -> None:
        with self.lock:
            self.databases.discard(database)
            self.refs -= 1
            if self.refs <= 0 and self.session is not None:
                self.session.close()
                self.session = None
                self.path = None
                self.refs = 0

    def query(self, sql: str, fmt: str = "CSV", *, time_limit: float | None = None) -> bytes:
        from chdb._exceptions import ChdbError

        with self.lock:
            if self.session is None:
                raise RuntimeError("the chdb session is closed")
            try:
                # Per query: the session is shared, and queries run one at a time under the lock.
                self.session.query(f"SET max_execution_time = {float(time_limit or 0)}")
                result = self.session.query(sql, fmt)
            except ChdbError as error:
                raise StoreError(str(error)) from None
            data: bytes = result.bytes() if result is not None else b""
            return data


_SHARED = _SharedSession()


def database_name_for(path: str | None, project_id: int, counter: int) -> str:
    if path is None:
        return f"ph_{counter}"
    return f"ph_project_{project_id}"


def _to_ch_timestamp(value: object) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        raise TypeError(f"timestamp must be a datetime or an ISO string, not {value!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# json.dumps(…, separators=(",", ":"), ensure_ascii=False), without a new encoder per call: a
# world's events are inserted by the ten thousand.
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _event_row(event: dict[str, Any]) -> str:
    properties = event.get("properties") or {}
    if not isinstance(properties, str):
        properties = _compact(properties)
    row = {
        "uuid": str(event["uuid"]),
        "event": event["event"],
        "timestamp": _to_ch_timestamp(event["timestamp"]),
        "distinct_id": str(event.get("distinct_id") or ""),
        "properties": properties,
    }
    return _compact(row)


def _chunks(lines: Iterable[str], limit: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    size = 0
    for line in lines:
        chunk.append(line)
        size += len(line) + 1
        if size >= limit:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


class EventStore:
    """One sandbox project's tables inside the shared session."""

    def __init__(self, path: str, database: str) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
            raise ValueError(f"bad database name {database!r}")
        self.path = path
        self.database = database
        self._open = False

    def open(self) -> None:
        _SHARED.acquire(self.path, self.database)
        self._open = True
        try:
            if self.path == MEMORY:
                self.execute(f"DROP DATABASE IF EXISTS {self.database}")
            self.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            self.execute(EVENTS_DDL.format(db=self.database))
            self.execute(JOBS_DDL.format(db=self.database))
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            if self.path == MEMORY:
                self.execute(f"DROP DATABASE IF EXISTS {self.database}", force=True)
        finally:
            _SHARED.release(self.database)

    def execute(self, sql: str, *, force: bool = False) -> None:
        if not self._open and not force:
            raise RuntimeError("store is not open")
        _SHARED.query(sql)

    def query_json(self, sql: str, *, time_limit: float | None = None) -> dict[str, Any]:
        """Run a SELECT and return chdb's JSONCompact document (`meta`, `data`, `rows`);
        `time_limit` seconds stop it as ClickHouse's max_execution_time does."""
        raw = _SHARED.query(sql, "JSONCompact", time_limit=time_limit)
        if not raw.strip():
            return {"meta": [], "data": [], "rows": 0}
        result: dict[str, Any] = json.loads(raw)
        return result

    # -- events -------------------------------------------------------------------------------

    def insert_events(self, events: Iterable[dict[str, Any]]) -> int:
        count = 0
        prefix = f"INSERT INTO {self.database}.events FORMAT JSONEachRow\n"
        for chunk in _chunks((_event_row(e) for e in events), INSERT_CHUNK_BYTES):
            _SHARED.query(prefix + "\n".join(chunk) + "\n")
            count += len(chunk)
        return count

    def count_events(self) -> int:
        result = self.query_json(f"SELECT count() FROM {self.database}.events")
        return int(result["data"][0][0])

    def truncate(self) -> None:
        self.execute(f"TRUNCATE TABLE {self.database}.events")
        self.execute(f"TRUNCATE TABLE {self.database}.clustering_jobs")

    # -- clustering jobs ----------------------------------------------------------------------

    def set_jobs(self, jobs: list[dict[str, Any]]) -> None:
        self.execute(f"TRUNCATE TABLE {self.database}.clustering_jobs")
        if not jobs:
            return
        rows = (
            json.dumps({"position": i, "body": json.dumps(job, default=str)})
            for i, job in enumerate(jobs)
        )
        _SHARED.query(
            f"INSERT INTO {self.database}.clustering_jobs FORMAT JSONEachRow\n"
            + "\n".join(rows)
            + "\n"
        )

    def jobs(self) -> list[dict[str, Any]]:
        result = self.query_json(
            f"SELECT body FROM {self.database}.clustering_jobs ORDER BY position"
        )
        return [json.loads(row[0]) for row in result["data"]]

    def literal_timestamp(self, moment: datetime) -> str:
        return f"toDateTime64({quote_string(_to_ch_timestamp(moment))}, 6, 'UTC')"
