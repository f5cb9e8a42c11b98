"""Alert quality on the generator's default runs (no summarizer, changes in the first half of
the day): is each planted change alerted, how soon, how often, and how many false alerts fire
on stable traffic. tests/alerts/test_detection.py keeps a floor under it; `make bench` reports
the sweep over volumes, sample sizes, misplacement and topic counts instead (bench/sweep.py),
which reuses `_topic` from here.

The runs come from the sandbox generator (uniform samples of a sliding 7-day window, heavy-tailed
costs, reshuffled ids, paraphrased titles, misplaced items), which knows nothing of the bot's
rules. Each series of daily runs goes through the bot's own pure path, as one channel with
default thresholds would see it: `parse_run` -> `diff_runs` -> `slice_run` -> `detect` ->
`lifecycle.advance`. The truth (which topic changed, when, and which cluster holds it in each
run) is then compared with what fired.

Per change kind and size: the share of changes alerted on the first run that contains them (for
a new topic, the first run where it is big enough to be a cluster), the share alerted within
two runs, the parent alerts per change (one is right: later runs should only add updates in
its thread), and the false alerts per run on the topics that did not change.

The "first-run ceiling" says what the sample allows on that first run: the share of changes a
single test would find if it knew exactly which fresh items the change touched, at the
significance one true change gets among that run's tests. The detector does not know, so its
first-run share can approach the ceiling but not pass it by more than chance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain.alerts import Alert
from bot.domain.compare import diff_runs
from bot.domain.fresh import detect
from bot.domain.lifecycle import Episode, advance
from bot.domain.rules import detect_run_to_run
from bot.domain.slices import slice_run
from bot.domain.stats import count_test, rank_test_greater
from bot.domain.thresholds import Thresholds
from standins.traffic.demo_check import EXPECTED, as_loaded
from standins.traffic.generator import Change, Plant, SeriesSpec, generate

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
RUNS = 9
PLANTED_AT = 4
KINDS = (
    Change.COST_SPIKE,
    Change.ERROR_HEAVY,
    Change.LATENCY_SPIKE,
    Change.SIZE_SHIFT,
    Change.VANISHED_CLUSTER,
    Change.NEW_CLUSTER,
)


@dataclass
class KindQuality:
    kind: str
    scale: float
    changes: int = 0
    first_run: int = 0
    ceiling: int = 0
    ceiling_judged: int = 0
    within_two: int = 0
    parents: int = 0
    false_alerts: int = 0
    stable_runs: int = 0
    examples: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "change": self.kind,
            "size": "full" if self.scale == 1.0 else f"x{self.scale:g}",
            "changes": self.changes,
            "first run": _share(self.first_run, self.changes),
            "first-run ceiling": _share(self.ceiling, self.ceiling_judged),
            "within two runs": _share(self.within_two, self.changes),
            "parent alerts per change": round(self.parents / self.changes, 2)
            if self.changes
            else None,
            "false alerts per run": round(self.false_alerts / self.stable_runs, 3)
            if self.stable_runs
            else None,
        }


def measure_quality(
    seeds: int = 20,
    *,
    items: int = 1500,
    scales: Iterable[float] = (1.0, 0.5),
    thresholds: Thresholds | None = None,
    kinds: Iterable[Change] = KINDS,
) -> list[KindQuality]:
    """One `KindQuality` per (kind of `kinds`, scale), plus one for series with no change."""
    t = thresholds or Thresholds()
    results = []
    for scale in scales:
        for kind in kinds:
            quality = KindQuality(kind.value, scale)
            for seed in range(seeds):
                _one_series(quality, seed, kind, scale, items, t)
            results.append(quality)
    stable = KindQuality("none (stable)", 1.0)
    for seed in range(seeds):
        _one_series(stable, seed, Change.NONE, 1.0, items, t)
    results.append(stable)
    return results


def _one_series(
    quality: KindQuality, seed: int, kind: Change, scale: float, items: int, thresholds: Thresholds
) -> None:
    job = "Quality"
    planted = {} if kind is Change.NONE else {(job, PLANTED_AT): Plant(kind, scale)}
    world = generate(
        seed=1000 + seed,
        series=[SeriesSpec(level="trace", job_name=job, topics=8)],
        runs=RUNS,
        items_per_run=items,
        now=NOW,
        planted=planted,
        events=False,
    )
    truths = world.runs_of(job)
    runs = [as_loaded(t.event, world.item_values) for t in truths]
    topic = world.planted[0].topic if world.planted else None
    episodes: list[Episode] = []
    fired_at: dict[int, list[Alert]] = {}
    tests_at: dict[int, int] = {}
    for index in range(1, len(runs)):
        diff = diff_runs(runs[index - 1], runs[index])
        slices = slice_run(diff)
        detection = (
            detect(slices, thresholds) if slices.usable else detect_run_to_run(diff, thresholds)
        )
        tests_at[index] = detection.tests
        step = advance(episodes, detection, diff, thresholds, f"run:{runs[index].run_id}")
        episodes = step.open
        fired_at[index] = step.fired
        for alert in step.fired:
            alert_topic = _topic(alert, truths[index], truths[index - 1])
            if alert_topic != topic:
                quality.false_alerts += 1
                if len(quality.examples) < 5:
                    quality.examples.append(
                        f"seed {seed} run {index}: {alert.kind} on {alert_topic} "
                        f"({alert.before} -> {alert.after}, p={alert.p_value})"
                    )
        quality.stable_runs += 1
    if topic is None:
        return
    quality.changes += 1
    first = _first_visible(kind, topic, truths)
    hits = {
        index
        for index, alerts in fired_at.items()
        for alert in alerts
        if alert.kind in EXPECTED[kind] and _topic(alert, truths[index], truths[index - 1]) == topic
    }
    quality.first_run += first in hits
    ceiling = _oracle(kind, world.planted[0], runs, truths, tests_at.get(PLANTED_AT, 0), thresholds)
    if ceiling is not None:
        quality.ceiling_judged += 1
        quality.ceiling += ceiling
    quality.within_two += bool(hits & {first, first + 1})
    quality.parents += sum(
        1
        for index, alerts in fired_at.items()
        for alert in alerts
        if _topic(alert, truths[index], truths[index - 1]) == topic
    )


def _oracle(
    kind: Change,
    planted: Any,
    runs: list[Any],
    truths: list[Any],
    tests: int,
    thresholds: Thresholds,
) -> bool | None:
    """What the sample allows: would one test that *knows* which fresh items the change
    touched (those of the changed topic's cluster after its start), held against the
    cluster's baseline at the cutoff Benjamini-Hochberg gives one true change among this
    run's tests, find it? None for kinds where it is not defined (a new topic)."""
    if kind is Change.NEW_CLUSTER or planted.start is None or tests == 0:
        return None
    cluster_id = truths[PLANTED_AT].cluster_of_topic(planted.topic)
    if cluster_id is None:
        return False
    slices = slice_run(diff_runs(runs[PLANTED_AT - 1], runs[PLANTED_AT]))
    cs = slices.clusters[cluster_id]
    changed = [i for i in cs.fresh if i.timestamp is not None and i.timestamp >= planted.start]
    cutoff = thresholds.false_discovery_pct / 100 / tests
    if kind in (Change.COST_SPIKE, Change.LATENCY_SPIKE):
        field_name = "cost" if kind is Change.COST_SPIKE else "latency"
        recent = [v for i in changed if (v := getattr(i, field_name))]
        base = [v for i in cs.baseline if (v := getattr(i, field_name))]
        return bool(recent) and rank_test_greater(recent, base) <= cutoff
    if kind is Change.ERROR_HEAVY:
        base_items = [i for i in cs.baseline if i.has_values]
        hits = sum(1 for i in changed if (i.errors or 0) > 0)
        base_hits = sum(1 for i in base_items if (i.errors or 0) > 0)
        return count_test(hits, len(changed), base_hits, len(base_items))[0] <= cutoff
    everything = [i for c in runs[PLANTED_AT].clusters for i in c.items]
    after = [i for i in everything if i.timestamp is not None and i.timestamp >= planted.start]
    older = len(cs.older)
    greater, less = count_test(len(changed), len(after), older, slices.older_total)
    return 2 * (greater if kind is Change.SIZE_SHIFT else less) <= cutoff


def _first_visible(kind: Change, topic: str, truths: list[Any]) -> int:
    """The run a change can first be alerted on: the planted run, or for a new topic the first
    run where it is a cluster of its own."""
    if kind is not Change.NEW_CLUSTER:
        return PLANTED_AT
    for index in range(PLANTED_AT, len(truths)):
        if truths[index].cluster_of_topic(topic) is not None:
            return index
    return len(truths)


def _topic(alert: Alert, current: Any, previous: Any) -> str | None:
    if alert.cluster_id is not None:
        topic: str | None = current.topic_of_cluster.get(alert.cluster_id)
        return topic
    if alert.previous_cluster_id is not None:
        return previous.topic_of_cluster.get(alert.previous_cluster_id)  # type: ignore[no-any-return]
    return None


def _share(part: int, whole: int) -> str | None:
    return f"{part}/{whole}" if whole else None
