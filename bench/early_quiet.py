"""False early warnings on quiet days, every test of a series at once
(`python -m bench.early_quiet`).

Early warnings hold each check's tests to the channel's false discovery rate divided by the
checks of a day, counted up to 6 (bot/domain/early.py `CHECKS_COUNTED`): consecutive checks share
most of their new items, so a division by all 24 hourly checks would be conservative. This runs
the bot's own `early_findings` (the error and cost tests of every cluster, Benjamini-Hochberg
over them) on days without a change, at each hourly check of the day, with the day's budget
divided by 24, 6 (as the bot), 3, or not at all, and counts the series-days that warned: the
budget of a series-day is the channel's false discovery rate, one series-day in twenty.

The days are the generator's, not a model of the tests: one trace series of the default world
(700 traces a day through PostHog's hourly summarizer, 1,500-item runs, heavy-tailed costs,
misplaced items) with a daily run for each quiet day and one more on either side, generated
once per seed. For each run the bot holds its clusters, with their items' values and the items
of their predecessors in the run before that it did not sample again, as its baseline (as in
the bot), and the day after it brings the items the summarizer kept in those 24 hours (15 an
hour, the newest of each hour), each readable half an hour after its hour and placed in its
topic's cluster: fresh traffic no run has sampled, as the bot's early checks see it. Every new
item is assigned to a cluster or to none, so the burst test has nothing to find and is left
out. The new items follow their topic while the baseline follows its cluster (misplaced items
included), a small difference the bot's assignment also makes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.doc import replace_section
from bench.harness import ROOT
from bot.domain.early import NewItems, checks_counted, early_findings
from bot.domain.models import NOISE_CLUSTER_ID, ClusterItem
from bot.domain.thresholds import Thresholds
from standins.traffic.events import Item
from standins.traffic.generator import generate
from standins.traffic.model import RunTruth, SeriesSpec, World

SUMMARIZED_PER_HOUR = 15  # the summarizer's cap, as the generator plays it
SUMMARY_LAG = timedelta(minutes=30)
DAY = timedelta(days=1)
CHECKS = 24
DIVISIONS = (24, 6, 3, 1)
"""What the day's budget is divided by at each check: by all 24 checks, by 6 as the bot, then
less."""
TRACES_PER_DAY = 700.0
ITEMS_PER_RUN = 1500
NOW = datetime(2026, 3, 2, tzinfo=UTC)
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Early warnings on quiet days"
SEEDS = 20


def _cluster_item(item: Item) -> ClusterItem:
    m = item.metrics
    return ClusterItem(
        item_id=item.item_id,
        trace_id=item.trace_id,
        rank=0,
        timestamp=item.timestamp,
        cost=m.cost,
        latency=m.latency,
        tokens=float((m.input_tokens or 0) + (m.output_tokens or 0)),
        errors=m.error_count,
        output_tokens=float(m.output_tokens or 0),
    )


@dataclass(frozen=True)
class QuietDay:
    """A run as the bot holds it and the day of summaries after it: (readable at, cluster,
    item) of every item the summarizer kept in the 24 hours after the run's window end, each
    in its topic's cluster of the run (items of topics without one fit no tested cluster)."""

    baseline: dict[int, tuple[str, list[ClusterItem]]]
    items: list[tuple[datetime, int, ClusterItem]]
    window_end: datetime


def quiet_days(seed: int, days: int) -> Iterator[QuietDay]:
    """The `days` quiet days of one world: a series of `days + 2` daily runs, each run but the
    first and the last with the day that follows it."""
    world: World = generate(
        seed=seed,
        series=[SeriesSpec(level="trace", job_name="quiet")],
        runs=days + 2,
        items_per_run=ITEMS_PER_RUN,
        now=NOW,
        events=False,
        traces_per_day=TRACES_PER_DAY,
    )
    summarized = sorted(world.summarized.values(), key=lambda i: i.timestamp)
    moments = [i.timestamp for i in summarized]
    for previous, run in zip(world.runs[:-2], world.runs[1:-1], strict=True):
        end = run.window_end
        after = summarized[bisect_left(moments, end) : bisect_left(moments, end + DAY)]
        items = []
        for item in after:
            cluster_id = run.cluster_of_topic(item.topic)
            if cluster_id is not None:
                hour = item.timestamp.replace(minute=0, second=0, microsecond=0)
                readable = hour + timedelta(hours=1) + SUMMARY_LAG
                items.append((readable, cluster_id, _cluster_item(item)))
        yield QuietDay(_baseline(world, previous, run), items, end)


def _baseline(
    world: World, previous: RunTruth, run: RunTruth
) -> dict[int, tuple[str, list[ClusterItem]]]:
    """Each cluster of `run` (noise apart) with its items and its predecessor's others
    (`bot.domain.early.baselines`; the predecessor is the previous run's cluster of the same
    topic)."""
    found = {}
    for cluster_id, ids in sorted(run.items.items()):
        if cluster_id == NOISE_CLUSTER_ID:
            continue
        before = previous.cluster_of_topic(run.topic_of_cluster[cluster_id])
        mine = set(ids)
        known = previous.items.get(before, ()) if before is not None else ()
        lineage = [i for i in known if i not in mine]
        items = [_cluster_item(world.items[i]) for i in (*ids, *lineage)]
        found[cluster_id] = (run.titles[cluster_id], items)
    return found


def warned(day: QuietDay, division: int) -> bool:
    """Whether any hourly check of the day posts a warning at a budget divided by `division`."""
    t = Thresholds()
    for check in range(1, CHECKS + 1):
        until = day.window_end + timedelta(hours=check)
        assigned: dict[int, list[ClusterItem]] = defaultdict(list)
        for readable, cluster_id, item in day.items:
            if readable <= until:
                assigned[cluster_id].append(item)
        new = NewItems(day.window_end, until, assigned, 0, 0, 0)
        if early_findings(day.baseline, new, t, division=division):
            return True
    return False


def measure(days: int, seeds: range) -> dict[int, int]:
    """Series-days that warned, by division, over `days` quiet days of each world of `seeds`."""
    found = dict.fromkeys(DIVISIONS, 0)
    for seed in seeds:
        for day in quiet_days(seed, days):
            # A smaller division is a larger budget: a day that passes quiet at / 1 passes at
            # every division, so most days take one pass.
            for division in sorted(DIVISIONS):
                if not warned(day, division):
                    break
                found[division] += 1
    return found


def _one_world(job: tuple[int, int]) -> dict[int, int]:
    seed, days = job
    return measure(days, range(seed, seed + 1))


def markdown(found: dict[int, int], days: int, seeds: int, minutes: float) -> str:
    total = days * seeds
    intro = " ".join(__doc__.split("\n\n")[1:3]).replace("\n", " ").strip()
    lines = [
        HEADING,
        "",
        f"{intro} {seeds} worlds x {days} quiet days (`python -m bench.early_quiet --days "
        f"{days} --seeds {seeds}`); took {minutes:.1f} min.",
        "",
        "| the day's budget divided by | series-days with a warning | per 20 series-days |",
        "| --- | --- | --- |",
    ]
    for division, count in found.items():
        who = " (the bot)" if division == checks_counted(CHECKS) else ""
        lines.append(f"| {division}{who} | {count} of {total} | {count / total * 20:.2f} |")
    bot = found[checks_counted(CHECKS)] / total * 20
    lines += [
        "",
        f"Target: at most one series-day in twenty with a false warning. As the bot counts its "
        f"checks, {bot:.2f} in twenty ({'met' if bot <= 1.0 else '**missed**'}).",
        "",
    ]
    return "\n".join(lines)


def measure_all(days: int, seeds: int, jobs: int) -> str:
    """The section: `days` quiet days of each of `seeds` worlds, on `jobs` processes."""
    started = time.perf_counter()
    found = dict.fromkeys(DIVISIONS, 0)
    with multiprocessing.Pool(jobs) as pool:
        for counts in pool.imap_unordered(_one_world, [(s, days) for s in range(seeds)]):
            for division, count in counts.items():
                found[division] += count
    return markdown(found, days, seeds, (time.perf_counter() - started) / 60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.early_quiet", description=__doc__)
    parser.add_argument("--days", type=int, default=200, help="quiet days per world")
    parser.add_argument("--seeds", type=int, default=SEEDS, help="worlds")
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    text = measure_all(args.days, args.seeds, args.jobs)
    print(text)
    replace_section(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
