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
misplaced items), generated once per seed. The newest run's clusters, with their items' values
and the items of their predecessors in the run before that the newest did not sample again, are
the baseline, as in the bot. A quiet day's new items are 15 summarized traces an hour, each
from a cluster at the cluster's share of the run and with the values of one of the world's
summarized items of that cluster's topic that neither run sampled (drawn with replacement):
the same traffic, a day later. Each summary is readable half an hour after its hour. Every
new item is assigned to its cluster, so the burst test has nothing to find and is left out.
The new items follow their topic while the baseline follows its cluster (misplaced items
included), a small difference the bot's assignment also makes, so quiet days here are, if
anything, less quiet than the bot's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
from collections import defaultdict
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
from standins.traffic.model import SeriesSpec, World

SUMMARIZED_PER_HOUR = 15
SUMMARY_LAG = timedelta(minutes=30)
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


def _cluster_item(item: Item, moment: datetime | None = None) -> ClusterItem:
    m = item.metrics
    return ClusterItem(
        item_id=item.item_id,
        trace_id=item.trace_id,
        rank=0,
        timestamp=moment or item.timestamp,
        cost=m.cost,
        latency=m.latency,
        tokens=float((m.input_tokens or 0) + (m.output_tokens or 0)),
        errors=m.error_count,
        output_tokens=float(m.output_tokens or 0),
    )


@dataclass(frozen=True)
class Series:
    """A world's newest run as the bot holds it, and what a quiet day draws its items from."""

    baseline: dict[int, tuple[str, list[ClusterItem]]]
    shares: list[tuple[int, float]]  # cluster, share of the run (noise included)
    pools: dict[int, list[Item]]  # cluster -> unsampled summarized items of its topic
    window_end: datetime


def series(seed: int) -> Series:
    world: World = generate(
        seed=seed,
        series=[SeriesSpec(level="trace", job_name="quiet")],
        runs=2,
        items_per_run=ITEMS_PER_RUN,
        now=NOW,
        events=False,
        traces_per_day=TRACES_PER_DAY,
    )
    previous, run = world.runs[-2], world.runs[-1]
    by_topic: dict[str, list[Item]] = defaultdict(list)
    sampled_before = previous.item_ids  # in the baseline now: never a new item
    for item_id in run.unsampled:
        if item_id in sampled_before:
            continue
        item = world.summarized[item_id]
        by_topic[item.topic].append(item)
    baseline, shares, pools = {}, [], {}
    for cluster_id, ids in sorted(run.items.items()):
        shares.append((cluster_id, run.share(cluster_id)))
        if cluster_id == NOISE_CLUSTER_ID:
            continue
        # the cluster's items and its predecessor's others (`bot.domain.early.baselines`; the
        # predecessor is the previous run's cluster of the same topic)
        topic = run.topic_of_cluster[cluster_id]
        before = previous.cluster_of_topic(topic)
        mine = set(ids)
        lineage = (
            [i for i in previous.items.get(before, ()) if i not in mine]
            if before is not None
            else []
        )
        baseline[cluster_id] = (
            run.titles[cluster_id],
            [_cluster_item(world.items[i]) for i in (*ids, *lineage)],
        )
        pools[cluster_id] = by_topic[run.topic_of_cluster[cluster_id]]
    return Series(baseline, shares, pools, run.window_end)


def quiet_day(s: Series, rng: random.Random) -> list[tuple[datetime, int, ClusterItem]]:
    """(readable at, cluster, item) of a day's new items, hour by hour."""
    clusters = [c for c, _ in s.shares]
    weights = [w for _, w in s.shares]
    items = []
    for hour in range(CHECKS):
        start = s.window_end + timedelta(hours=hour)
        for cluster_id in rng.choices(clusters, weights, k=SUMMARIZED_PER_HOUR):
            pool = s.pools.get(cluster_id)
            if not pool:
                continue  # noise, or a topic without unsampled items: fits no tested cluster
            moment = start + timedelta(seconds=rng.uniform(0, 3600))
            item = _cluster_item(rng.choice(pool), moment)
            items.append((start + timedelta(hours=1) + SUMMARY_LAG, cluster_id, item))
    return items


def warned(s: Series, day: list[tuple[datetime, int, ClusterItem]], division: int) -> bool:
    """Whether any hourly check of the day posts a warning at a budget divided by `division`."""
    t = Thresholds()
    for check in range(1, CHECKS + 1):
        until = s.window_end + timedelta(hours=check)
        assigned: dict[int, list[ClusterItem]] = defaultdict(list)
        for readable, cluster_id, item in day:
            if readable <= until:
                assigned[cluster_id].append(item)
        new = NewItems(s.window_end, until, assigned, 0, 0, 0)
        if early_findings(s.baseline, new, t, division=division):
            return True
    return False


def measure(days: int, seeds: range) -> dict[int, int]:
    """Series-days that warned, by division, over `days` quiet days of each world of `seeds`."""
    found = dict.fromkeys(DIVISIONS, 0)
    for seed in seeds:
        s = series(seed)
        rng = random.Random(f"quiet:{seed}")
        for _ in range(days):
            day = quiet_day(s, rng)
            # A smaller division is a larger budget: a day that passes quiet at / 1 passes at
            # every division, so most days take one pass.
            for division in sorted(DIVISIONS):
                if not warned(s, day, division):
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
