"""How cost grows with the number of series: one steady cycle at 1, 10 and 50 series.

Same method as `bench.cycle` (a new run in every series, measured in a child process). The
10-series point is the main cycle measurement; 1 and 50 are measured here.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.cycle import CycleResult, measure_cycle
from bot.domain.compare import diff_runs
from bot.domain.models import Cluster, ClusteringRun, ClusterItem, Level

WORDS = (
    "refund order billing invoice password reset login error timeout agent tool search "
    "summarize translate code review sql query email draft support ticket"
).split()


@dataclass(frozen=True)
class ScalePoint:
    series: int
    items: int
    bot_wall: float
    bot_peak_mb: float
    bot_queries: int
    reference_wall: float | None
    reference_peak_mb: float | None
    reference_queries: int | None


def point(result: CycleResult) -> ScalePoint:
    has_reference = bool(result.reference)
    return ScalePoint(
        series=result.series,
        items=result.items,
        bot_wall=result.wall("bot"),
        bot_peak_mb=result.peak_mb("bot"),
        bot_queries=result.queries("bot"),
        reference_wall=result.wall("reference") if has_reference else None,
        reference_peak_mb=result.peak_mb("reference") if has_reference else None,
        reference_queries=result.queries("reference") if has_reference else None,
    )


def measure_scaling(
    ten: CycleResult, *, items: int, large: int = 50, reference_at_large: bool = True
) -> list[ScalePoint]:
    one = measure_cycle(1, items, bot_reps=3, reference_reps=1, idle=False)
    many = measure_cycle(
        large, items, bot_reps=1, reference_reps=1 if reference_at_large else 0, idle=False
    )
    return [point(one), point(ten), point(many)]


@dataclass(frozen=True)
class MatchPoint:
    clusters: int
    description_chars: int
    seconds: float


def _run(clusters: int, chars: int, day: int) -> ClusteringRun:
    rng = random.Random(f"{clusters}:{chars}:{day}")
    built = []
    for i in range(clusters):
        description = ""
        while len(description) < chars:
            description += "- " + " ".join(rng.choice(WORDS) for _ in range(8)) + "\n"
        built.append(
            Cluster(
                cluster_id=i,
                size=5,
                title=" ".join(rng.choice(WORDS) for _ in range(6)),
                description=description[:chars],
                items=tuple(
                    ClusterItem(item_id=f"i{i}-{k}", trace_id=f"i{i}-{k}", rank=k) for k in range(5)
                ),
            )
        )
    moment = datetime(2026, 11, day, 0, 15, tzinfo=UTC)
    return ClusteringRun(
        run_id=f"1_trace_202611{day:02d}_001500_bench",
        level=Level.TRACE,
        job_id="bench",
        total_items=5 * clusters,
        timestamp=moment,
        window_end=moment,
        window_start=moment - timedelta(days=7),
        clusters=tuple(built),
    )


def measure_matching(
    cases: tuple[tuple[int, int], ...] = ((50, 500), (300, 500), (300, 5000)),
) -> list[MatchPoint]:
    """Time of `diff_runs` (matching a run's clusters to the previous run's) in-process, for
    (clusters, description length) pairs: its cost grows with clusters squared times text."""
    points = []
    for clusters, chars in cases:
        previous, current = _run(clusters, chars, 26), _run(clusters, chars, 27)
        started = time.perf_counter()
        diff_runs(previous, current)
        points.append(MatchPoint(clusters, chars, time.perf_counter() - started))
    return points
