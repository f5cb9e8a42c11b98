"""Early warnings between daily runs, measured (`python -m bench.early`, or `python -m bench
--early-seeds N` with the rest of the bench): hours from a change's start to its first alert,
warnings retracted per 20 series-days, queries per series per hour.

Each seed is one trace series of four daily runs through PostHog's hourly summarizer (700
traces a day, 15 summarized an hour, 1,500-item runs), with a full-size change planted in the
fourth run (errors 2 % -> 45 %, or cost x3 by price) or none. The bot sees the first two runs
(a first sight), then the third as its daily cycle does, so the run it watches from has a
predecessor stored with its items' values, as on any bot that has run a day. Then a clock moves
hour by hour to the fourth run's time: at each hour the alert cycle and the early warnings run
as `clusters-bot check` runs them, against the local PostHog (summaries, embeddings and `$ai_*`
events up to that hour). Then the fourth run is emitted, processed, and the early warnings are
settled. The first alert on a change is the first early warning on its cluster and family, else
the daily alert of the fourth run when it alerts the change.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.doc import replace_section
from bench.harness import ROOT
from bot.domain.compare import diff_runs
from bot.domain.early import FAMILIES
from bot.domain.run_view import RunView
from bot.domain.thresholds import Thresholds
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.changes import ChangeRenderer
from bot.rendering.early import EarlyRenderer
from bot.rendering.env import make_environment
from bot.services.alerts import AlertService, CycleReport
from bot.services.early import EarlyReport, EarlyWarningService
from bot.services.routing import Routing
from bot.services.runs import RunRepository
from bot.slack.client import make_web_client
from bot.slack.notifier import SlackNotifier
from bot.store.early import CONFIRMED, RETRACTED, UNDECIDED
from bot.store.schema import EarlyWarningRow
from bot.store.store import Store
from standins.posthog.embeddings import load_summaries
from standins.posthog.server import LocalPostHog
from standins.slack.server import FakeSlack
from standins.traffic.embeddings import model_name_for
from standins.traffic.generator import Change, Plant, SeriesSpec, World, generate

DOC = ROOT / "docs" / "benchmarks.md"
DIM = 48
CHANNEL = "C0ALERTS"
SPEC = SeriesSpec(level="trace", job_name="Default - traces", topics=12)
KINDS = {"errors": Change.ERROR_HEAVY, "cost": Change.COST_SPIKE, "none": Change.NONE}
ALERT_KINDS = {Change.ERROR_HEAVY: "error_heavy", Change.COST_SPIKE: "cost_spike"}
LARGE = 0.10
RUNS = 4  # a first sight, a day the bot processes, and the day that holds the change
HEADING = "## Early warnings"
BOUND = """\
The bound on the delay: the summarizer keeps 15 traces an hour, so a cluster of share s receives
about 15·s summarized items an hour (1.5 for a 10 % cluster, 3 for 20 %), each summary written
about half an hour after its hour. Each check holds its tests to the false discovery rate
divided by the checks of a day, counted up to 6, and by the 4 looks of a test, with about 25
tests per series: a single error test must reach p ≈ 8·10⁻⁵. Against a 2 % baseline of a few
hundred items that takes about 3 errors in 8 new items (Fisher's exact test): at best some 5
hours of a 10 % cluster's items after the change starts, 3 of a 20 % cluster's, plus up to an
hour to the next check. Two things add hours in practice: the looks start 3, 6 and 12 hours back
(and at the run's window end), so until a cut falls after the change's start each look mixes in
the quiet hours before it; and 45 % is the planted rate on average, some seeds realize 30 % in
the first hours. Cost x3 by price moves the price per token, whose spread is small, so a handful
of items is enough once a look holds mostly changed ones. Hourly checks are counted as 6 because
consecutive checks share most of their items: on the generator's quiet days a division by all 24
spends a twentieth of the false-warning budget, and a division by 6 a third (the section on
quiet days below). A division by 3 would spend about two thirds: on the first 30 seeds of each
kind here (2026-12-08) it moved the errors median in clusters of 10 % or more from 5.6 h to
4.5 h (5 series) and warned once on a series without a change, so the bot keeps 6. On the
first-sight bench's 90 series-days with the division by 24 (commit 1783e21, 2026-12-07): errors
8.1 h median (6.9 h in clusters of 10 % or more), cost 8.0 h (5.4 h), 5 warnings retracted, none
on a series without a change. Denser cuts do not buy hours back: the next section runs the bot's
own error test on a simulated stream, and a look at every hour warns later than the bot's four
looks. The next section also measures the bound with an oracle that knows the step's start and
the true rate (`python -m bench.early_bound`)."""


@dataclass
class Outcome:
    kind: str
    seed: int
    share: float | None = None  # the changed cluster's share of the run before the change
    first_alert_hours: float | None = None
    early: bool = False  # the first alert was an early warning
    warnings: int = 0
    confirmed: int = 0
    retracted: int = 0
    retracted_on_change: int = 0  # of `retracted`: on the planted change's cluster and kind
    undecided: int = 0  # neither confirmed nor ruled out by the next run
    undecided_on_change: int = 0
    early_queries: int = 0
    hours: int = 0
    seconds: float = 0.0


@dataclass
class Bot:
    """The alert cycle and the early warnings over one store, one PostHog and one clock
    (`moment[0]`), as `clusters-bot check` runs them; the tests drive the same harness."""

    posthog: LocalPostHog
    store: Store
    client: PostHogClient
    alerts: AlertService
    early: EarlyWarningService
    moment: list[datetime] = field(default_factory=list)
    cycle: CycleReport | None = None  # the last check's alert cycle

    def check(self, at: datetime, *, early_first: bool = False) -> EarlyReport:
        """What `clusters-bot check` does at `at`: the alert cycle, then the early warnings (or
        the other way round, as two scheduler jobs may run them)."""
        self.moment[0] = at
        report = self.early.run_due() if early_first else None
        self.cycle = self.alerts.run_cycle()
        return report if report is not None else self.early.run_due()

    def warnings(self) -> list[EarlyWarningRow]:
        with self.store._session() as session:
            return list(session.query(EarlyWarningRow).order_by(EarlyWarningRow.id))


@contextmanager
def running_bot(
    posthog: LocalPostHog,
    database: Path,
    first: datetime,
    *,
    dimension: int = DIM,
    slack: FakeSlack | None = None,
) -> Iterator[Bot]:
    """A bot on a SQLite file at `database` whose clock starts at `first`, reading `posthog`
    (embeddings of `dimension`); each check delivers to `slack` when given, else stores only."""
    moment = [first]

    def clock() -> datetime:
        return moment[0]

    store = Store.from_url(f"sqlite:///{database}", clock=clock)
    with httpx.Client(
        base_url=posthog.url, headers={"Authorization": f"Bearer {posthog.api_key}"}, timeout=120
    ) as http:
        client = PostHogClient(http, posthog.project_id, budget=QueryBudget(100_000), attempts=1)
        runs = RunRepository(client, store, clock=clock, list_ttl=0)
        renderer = Renderer(make_environment(), PostHogUrls("http://ui.bench", 3), clock=clock)
        routing = Routing(store, CHANNEL)
        notifier = None
        if slack is not None:
            web = make_web_client(slack.bot_token, slack.api_url, interactive=False)
            notifier = SlackNotifier(web, store, min_interval=0)
        early_renderer = EarlyRenderer(renderer)
        alerts = AlertService(
            runs,
            store,
            routing,
            ChangeRenderer(renderer),
            notifier,
            clock=clock,
            early=early_renderer,
        )
        early = EarlyWarningService(
            runs,
            store,
            routing,
            early_renderer,
            client,
            notifier,
            clock=clock,
            model_name=model_name_for(dimension),
        )
        try:
            yield Bot(posthog, store, client, alerts, early, moment)
        finally:
            store.engine.dispose()


def make_world(kind: Change, seed: int, now: datetime) -> World:
    planted = {(SPEC.job_name, RUNS - 1): Plant(kind)} if kind is not Change.NONE else {}
    return generate(
        seed=seed,
        series=[SPEC],
        now=now,
        runs=RUNS,
        items_per_run=1500,
        traces_per_day=700.0,
        planted=planted,
    )


def measure_one(kind_name: str, seed: int, now: datetime, workdir: Path) -> Outcome:
    kind = KINDS[kind_name]
    world = make_world(kind, seed, now)
    outcome = Outcome(kind_name, seed)
    started = time.perf_counter()
    sight, run, following = world.runs[-3:]
    later = {run.event["uuid"], following.event["uuid"]}
    with LocalPostHog(project_id=3, api_key="phx_bench") as posthog:
        posthog.insert_events(e for e in world.events if e["uuid"] not in later)
        posthog.set_jobs(world.jobs)
        load_summaries(posthog, world, dimension=DIM)
        with running_bot(posthog, workdir / f"{kind_name}-{seed}.db", sight.timestamp) as bot:
            bot.check(sight.timestamp + timedelta(minutes=10))
            posthog.insert_events([run.event])
            posthog.cache.clear()
            planted = world.planted[0] if world.planted else None
            target = None
            if planted is not None and planted.previous_cluster_id is not None:
                outcome.share = run.share(planted.previous_cluster_id)
                target = (planted.previous_cluster_id, ALERT_KINDS[kind])
            moment = run.timestamp + timedelta(minutes=5)
            while moment < following.timestamp:
                report = bot.check(moment)
                outcome.early_queries += report.queries
                outcome.hours += 1
                if target is not None and planted is not None and outcome.first_alert_hours is None:
                    if any((w.cluster_id, w.kind) == target for w in bot.warnings()):
                        outcome.first_alert_hours = (moment - planted.start) / timedelta(hours=1)
                        outcome.early = True
                moment += timedelta(hours=1)
            posthog.insert_events([following.event])
            posthog.cache.clear()
            bot.check(following.timestamp + timedelta(minutes=10))
            if target is not None and planted is not None and outcome.first_alert_hours is None:
                if daily_alerts(bot, run.run_id, following.run_id, target):
                    outcome.first_alert_hours = (following.timestamp - planted.start) / timedelta(
                        hours=1
                    )
            found = bot.warnings()
            outcome.warnings = len(found)
            outcome.confirmed = sum(1 for w in found if w.status == CONFIRMED)
            outcome.retracted = sum(1 for w in found if w.status == RETRACTED)
            outcome.retracted_on_change = sum(
                1 for w in found if w.status == RETRACTED and (w.cluster_id, w.kind) == target
            )
            outcome.undecided = sum(1 for w in found if w.status == UNDECIDED)
            outcome.undecided_on_change = sum(
                1 for w in found if w.status == UNDECIDED and (w.cluster_id, w.kind) == target
            )
    outcome.seconds = time.perf_counter() - started
    return outcome


def daily_alerts(bot: Bot, previous_id: str, current_id: str, target: tuple[int, str]) -> bool:
    previous, current = bot.store.get_run(previous_id), bot.store.get_run(current_id)
    if previous is None or current is None:
        return False
    detection = RunView.of(diff_runs(previous, current)).detect(Thresholds())
    family = next(f for k, f in FAMILIES.items() if k.value == target[1])
    return any(
        a.previous_cluster_id == target[0] and a.kind.family is family for a in detection.alerts
    )


def _hours(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.1f} / {p90:.1f}"


def _seeds(outcomes: list[Outcome]) -> str:
    """How many seeds of each kind, and the command that measures them."""
    counts = {kind: sum(1 for o in outcomes if o.kind == kind) for kind in KINDS}
    counts = {kind: n for kind, n in counts.items() if n}
    if len(set(counts.values())) == 1:
        n = next(iter(counts.values()))
        return (
            f"{n} seeds per kind (`python -m bench --early-seeds {n}`, or "
            f"`python -m bench.early --seeds {n}` alone)"
        )
    return ", ".join(
        f"{n} seeds of {kind} (`python -m bench.early --seeds {n} --kinds {kind}`)"
        for kind, n in counts.items()
    )


def markdown(outcomes: list[Outcome]) -> str:
    minutes = sum(o.seconds for o in outcomes) / 60
    lines = [
        HEADING,
        "",
        __doc__.split("\n\n", 1)[1].replace("\n", " ").strip()
        + f" {_seeds(outcomes)}; took {minutes:.1f} min of one process's time, seeds one "
        "after another. Queries per series per hour count the early "
        "checks only (the count of new summaries is one query for every series of a check, "
        "here one series).",
        "",
        "| change | series | on a cluster >= 10 % | alerted early (before the next run) | "
        "hours to first alert, median / p90 (all) | (clusters >= 10 %) | not alerted by the "
        "next run | warnings | confirmed | retracted | not confirmed, not ruled out | early "
        "queries per series per hour |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind in KINDS:
        group = [o for o in outcomes if o.kind == kind]
        if not group:
            continue
        changed = [o for o in group if o.share is not None]
        large = [o for o in changed if (o.share or 0) >= LARGE]
        hours_all = [o.first_alert_hours for o in changed if o.first_alert_hours is not None]
        hours_large = [o.first_alert_hours for o in large if o.first_alert_hours is not None]
        queries = sum(o.early_queries for o in group) / max(1, sum(o.hours for o in group))
        lines.append(
            f"| {kind} | {len(group)} | {len(large) if changed else '-'} | "
            f"{sum(1 for o in changed if o.early) if changed else '-'} | {_hours(hours_all)} | "
            f"{_hours(hours_large)} | "
            f"{sum(1 for o in changed if o.first_alert_hours is None) if changed else '-'} | "
            f"{sum(o.warnings for o in group)} | {sum(o.confirmed for o in group)} | "
            f"{sum(o.retracted for o in group)} | {sum(o.undecided for o in group)} | "
            f"{queries:.2f} |"
        )
    days = len(outcomes)
    retracted = sum(o.retracted for o in outcomes)
    on_change = sum(o.retracted_on_change for o in outcomes)
    undecided = sum(o.undecided for o in outcomes)
    undecided_on_change = sum(o.undecided_on_change for o in outcomes)
    quiet = [o for o in outcomes if o.share is None]
    lines += [
        "",
        f"Retracted early warnings: {retracted} in {days} series-days, "
        f"{20 * retracted / max(1, days):.2f} per 20 series-days (target <= 1); "
        f"{on_change} of them warned of the planted change itself (its cluster and kind). "
        "A warning the next daily run does not alert is retracted only where that run's own "
        "items of the cluster since the warning's start rule it out (one-sided, p < 0.05); "
        "where they cannot tell, it is left standing as not confirmed, not ruled out: "
        f"{undecided} here, {undecided_on_change} of them on the planted change. The run sees "
        "its sample of the day (with the unsampled items it can assign), where the early "
        "checks saw every summarized item. Warnings on series without a change: "
        f"{sum(o.warnings for o in quiet)} in {len(quiet)} series-days.",
        "",
        "The early checks' baseline is the run before the change with its predecessor's "
        "other items (`bot.domain.early.baselines`), as on a bot that has run a day: the "
        "predecessor adds about 40 % more items. (Until 2026-12-08 this bench started on a "
        "first sight of the run it watched from, whose predecessor had no values: errors 7.2 h "
        "median, 6.6 h in clusters of 10 % or more, cost 5.9 h and 4.7 h, on 90 series-days.)",
        "",
        BOUND,
        "",
    ]
    return "\n".join(lines)


def measure(seeds: int, kinds: Sequence[str] = tuple(KINDS)) -> str:
    """Measure `seeds` seeds of each kind in `kinds`, one after another, and return the doc's
    "## Early warnings" section (each outcome is printed to stderr as it comes)."""
    # Noon of yesterday (UTC), as the tests' worlds: every run of the bench sees the same hours.
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            for seed in range(seeds):
                outcome = measure_one(kind, seed, now, Path(tmp))
                outcomes.append(outcome)
                print(outcome, file=sys.stderr, flush=True)
    return markdown(outcomes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.early", description=__doc__)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    text = measure(args.seeds, args.kinds.split(","))
    print(text)
    replace_section(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
