"""Operations: structured logs, Prometheus metrics, and the health report.

Log events have stable dotted names (`alerts.cycle.completed`) with their details in `extra`;
`LOG_FORMAT=json` prints one JSON object per line. Metrics live in a registry per process; what
only the database knows (alerts sent and failed, the scheduler's heartbeat) is read from it at
scrape time, so the web process reports on the clock process too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.services.detector_health import read_failures
from bot.store.outbox import OutboxStatus
from bot.store.ports import OutboxHealth

# The attributes every record has, plus the two that `Formatter.format` adds to it.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger event key=value …`: the extras stay visible in plain logs too."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
        return line + "".join(f" {k}={v}" for k, v in extras.items())


# Libraries whose INFO lines are routine: alembic's "Context impl SQLiteImpl." on every start
# (`bot.store.migrate` says when it applies a migration), a line per HTTP request, a line per
# scheduler job run, matplotlib's font cache. Their warnings and errors still show.
ROUTINE_LOGGERS = ("alembic", "httpx", "apscheduler", "matplotlib")


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if level >= logging.INFO else level)
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class _StoreCollector(Collector):
    def __init__(self, store: OutboxHealth) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        alerts = GaugeMetricFamily(
            "clusters_bot_outbox_messages", "Outbox messages by status", labels=["status"]
        )
        counts = self.store.outbox_counts()
        for status in OutboxStatus:
            alerts.add_metric([status.value], counts.get(status.value, 0))
        yield alerts
        beat = self.store.heartbeat("scheduler")
        age = GaugeMetricFamily(
            "clusters_bot_scheduler_heartbeat_age_seconds",
            "Seconds since the scheduler last finished a cycle (NaN: never)",
        )
        age.add_metric([], (datetime.now(UTC) - beat[0]).total_seconds() if beat else float("nan"))
        yield age
        failures = CounterMetricFamily(
            "clusters_bot_detector_failures",
            "Detector tests that raised (each cost only its own cluster's test, not the run)",
        )
        failures.add_metric([], read_failures(self.store).total)
        yield failures


class _BudgetCollector(Collector):
    def __init__(self, remaining: Mapping[str, Callable[[], float]]) -> None:
        self.remaining = dict(remaining)

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "clusters_bot_posthog_query_budget_remaining",
            "HogQL queries the deployment may still send now, per budget (refills hourly)",
            labels=["budget"],
        )
        for name, read in self.remaining.items():
            try:
                gauge.add_metric([name], read())
            except Exception:  # a scrape reports, never raises
                gauge.add_metric([name], float("nan"))
        yield gauge


class Metrics:
    def __init__(self, store: OutboxHealth | None = None) -> None:
        self.registry = CollectorRegistry()
        self.posthog_queries = Counter(
            "clusters_bot_posthog_requests",
            "Requests sent to PostHog by this process",
            ["kind"],
            registry=self.registry,
        )
        self.command_seconds = Histogram(
            "clusters_bot_command_seconds",
            "Time to answer a /clusters command, ack to reply",
            ["command"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )
        self.busy_replies = Counter(
            "clusters_bot_busy_replies",
            "Commands and clicks answered 'busy' because the work queue was full",
            registry=self.registry,
        )
        self.respond_failures = Counter(
            "clusters_bot_respond_failures",
            "Replies through response_url that Slack refused, by its answer "
            "(expired_url, used_url, invalid_blocks, ...)",
            ["error"],
            registry=self.registry,
        )
        if store is not None:
            self.registry.register(_StoreCollector(store))

    def track_budgets(self, remaining: Mapping[str, Callable[[], float]]) -> None:
        """Expose the query budgets left (shared by every process: read from the database at
        scrape time) as one gauge labelled by budget."""
        self.registry.register(_BudgetCollector(remaining))

    def render(self) -> bytes:
        return generate_latest(self.registry)
