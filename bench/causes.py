"""Causes on alerts: is the planted cause the factor named, and is nothing named when a change
has no single cause.

Each series comes from the sandbox generator with a cause planted alongside its change (a model
switch, prompt bloat, one user flooding a cluster, one provider's rate limits, a new trace
name; and costs up evenly, which has none). Its events go into the local PostHog; the bot's
pure path finds the alerts of the planted run, and `CauseService` explains them with its one
query per run. The query log counts what that cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.domain.alerts import AlertKind
from bot.domain.compare import diff_runs
from bot.domain.run_view import RunView
from bot.domain.thresholds import Thresholds
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.services.causes import CauseService
from standins.posthog.server import LocalPostHog
from standins.traffic.demo_check import as_loaded
from standins.traffic.generator import Cause, Change, Plant, SeriesSpec, World, generate

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
RUNS = 4
PLANTED_AT = 1
# (cause, change it rides on, alert kind that carries it, dimension it should be named as)
CASES: tuple[tuple[Cause, Change, AlertKind, str | None], ...] = (
    (Cause.MODEL_SWITCH, Change.COST_SPIKE, AlertKind.COST_SPIKE, "model_mix"),
    (Cause.PROMPT_BLOAT, Change.COST_SPIKE, AlertKind.COST_SPIKE, "input_tokens"),
    (Cause.USER_FLOOD, Change.SIZE_SHIFT, AlertKind.SIZE_SHIFT, "user"),
    (Cause.RATE_LIMIT, Change.ERROR_HEAVY, AlertKind.ERROR_HEAVY, "error"),
    (Cause.NEW_TRACE_NAME, Change.NEW_CLUSTER, AlertKind.NEW_CLUSTER, "name"),
    (Cause.UNIFORM, Change.COST_SPIKE, AlertKind.COST_SPIKE, None),
)


@dataclass
class CauseQuality:
    cause: str
    planted: int = 0
    alerted: int = 0  # planted changes that alerted (the cause can only be named on an alert)
    named: int = 0  # the expected factor came first
    false: int = 0  # a factor named where none (or another) was planted
    alerted_clusters: int = 0
    queries: int = 0
    examples: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        expected = self.cause != "uniform"
        return {
            "cause": self.cause,
            "planted": self.planted,
            "alerted": self.alerted,
            "named correctly": f"{self.named}/{self.alerted}" if expected else "n/a",
            "false causes": f"{self.false}/{self.alerted}",
            "queries per alerted cluster": round(self.queries / self.alerted_clusters, 2)
            if self.alerted_clusters
            else None,
        }


def measure_causes(seeds: int = 5, *, items: int = 1500) -> list[CauseQuality]:
    results = []
    with LocalPostHog(project_id=2, api_key="phx_bench") as posthog:
        with httpx.Client(
            base_url=posthog.url, headers={"Authorization": "Bearer phx_bench"}, timeout=60
        ) as http:
            client = PostHogClient(http, 2, budget=QueryBudget(100_000))
            for cause, change, kind, dimension in CASES:
                quality = CauseQuality(cause.value or "uniform")
                for seed in range(seeds):
                    world = _world(cause, change, seed, items)
                    posthog.insert_events(world.events)
                    _one(quality, world, client, posthog, kind, dimension)
                results.append(quality)
    return results


def _world(cause: Cause, change: Change, seed: int, items: int) -> World:
    job = f"Causes {cause.value or 'uniform'} {seed}"
    return generate(
        seed=5000 + seed,
        series=[SeriesSpec(level="trace", job_name=job, topics=8)],
        runs=RUNS,
        items_per_run=items,
        now=NOW,
        planted={(job, PLANTED_AT): Plant(change, 1.0, cause)},
    )


def _one(
    quality: CauseQuality,
    world: World,
    client: PostHogClient,
    posthog: LocalPostHog,
    kind: AlertKind,
    dimension: str | None,
) -> None:
    quality.planted += 1
    truth = world.planted[0]
    truths = world.runs
    runs = [as_loaded(t.event, world.item_values) for t in truths]
    for index in range(PLANTED_AT, len(runs)):
        view = RunView.of(diff_runs(runs[index - 1], runs[index]))
        alerts = list(view.detect(Thresholds()).alerts)
        cluster = truths[index].cluster_of_topic(truth.topic)
        mine = [a for a in alerts if a.kind is kind and a.cluster_id == cluster is not None]
        if not mine:
            continue
        before = len(posthog.hogql_log)
        causes = CauseService(client).for_alerts(view, alerts)
        quality.queries += len(posthog.hogql_log) - before
        quality.alerted_clusters += len({a.cluster_id for a in alerts if a.cluster_id is not None})
        quality.alerted += 1
        factors = causes.get(mine[0].key, [])
        named = str(factors[0].dimension) if factors else None
        if dimension is not None and named == dimension:
            quality.named += 1
        elif named is not None:
            quality.false += 1
        if named != dimension and len(quality.examples) < 3:
            quality.examples.append(f"{world.params.seed} run {index}: {named} ({factors[:1]})")
        return


def causes_markdown(results: Iterable[CauseQuality], seeds: int) -> str:
    rows = [r.row() for r in results]
    header = list(rows[0])
    lines = [
        "## Causes on alerts",
        "",
        f"{seeds} seeds per planted cause (bench/causes.py): generated series with a cause "
        "planted alongside the change, the bot's detection, then `CauseService` against the "
        "local PostHog. A cause counts as named when it is the first factor of the alert on "
        "the planted cluster; false causes are factors named where another (or none) was "
        "planted.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(str(v) for v in row.values()) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    found = measure_causes(count)
    print(causes_markdown(found, count))
    for result in found:
        for example in result.examples:
            print(result.cause, example)
