"""What services hand the renderer: plain data, no Slack, no I/O.

The one meeting point of bot/services (which fills these) and bot/rendering (which words them):
both import this module, and rendering never imports services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.domain.models import Cluster, ClusteringRun, ClusterItem
from bot.domain.thresholds import ThresholdSpec
from bot.posthog.schemas import ClusteringJob
from bot.store.channels import Mute

# A channel takes at most 5 blocks of the tab (subscriptions, thresholds, buttons, mutes, a
# divider), and a view holds 100: 15 a page leave room for the health and the page buttons.
CHANNELS_PER_PAGE = 15


@dataclass(frozen=True)
class TraceTarget:
    """Where an item's link and Details button lead: a trace, and the event in it to open."""

    trace_id: str
    at: datetime | None = None
    event: str | None = None


@dataclass(frozen=True)
class ItemDetail:
    """One representative item of a cluster, as a drilldown line shows it. `target` is None
    when the item leads to no trace (an evaluation PostHog could not join to its trace)."""

    item: ClusterItem
    target: TraceTarget | None = None
    summary_title: str | None = None
    model: str | None = None
    cost: float | None = None
    latency: float | None = None
    tokens: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class ClusterView:
    run: ClusteringRun
    cluster: Cluster
    items: tuple[ItemDetail, ...] = ()


@dataclass(frozen=True)
class TraceStep:
    """One event of a trace's timeline."""

    kind: str
    name: str
    at: datetime | None
    model: str | None = None
    latency: float | None = None
    cost: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class TraceView:
    trace_id: str
    name: str | None
    created_at: datetime | None
    total_cost: float | None
    total_latency: float | None
    tokens: float | None
    error_count: int
    steps: tuple[TraceStep, ...] = ()
    first_input: str | None = None
    final_output: str | None = None
    event: str | None = None
    hidden_steps: int = 0


@dataclass(frozen=True)
class Ranked:
    """A cluster ranked by a metric across the latest runs of one or more series."""

    run: ClusteringRun
    cluster: Cluster
    value: float | None


@dataclass(frozen=True)
class RankedList:
    metric: str
    level: str | None
    entries: tuple[Ranked, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class JobsView:
    """The clustering jobs; `from_runs` when PostHog would not list them (the endpoint is
    internal on older versions) and they were read off the runs instead."""

    jobs: tuple[ClusteringJob, ...]
    from_runs: bool = False


# -- the App Home tab (bot/services/home.py fills it, bot/rendering/home.py words it) ------


@dataclass(frozen=True)
class ChannelHome:
    channel: str
    subscriptions: tuple[str, ...]  # worded as `/clusters subscriptions` words them
    changed: tuple[ThresholdSpec, ...]  # thresholds that differ from the defaults
    quiet_summary: bool
    mutes: tuple[Mute, ...]
    is_default: bool = False


@dataclass(frozen=True)
class EarlyHealth:
    """Early warnings between runs, for the health sections; `interval` None: they are off."""

    interval: timedelta | None
    last_check: datetime | None = None  # the last check with series due (paused ones too)
    open_warnings: int = 0  # posted, not yet settled by the next daily run
    paused_until: datetime | None = None  # set only while the pause lasts
    paused_why: str = ""  # why the embeddings cannot be read, and the fix

    @property
    def enabled(self) -> bool:
        return self.interval is not None and self.interval > timedelta(0)


@dataclass(frozen=True)
class Health:
    last_cycle: datetime | None
    stale: bool
    alert_queries_left: int | None  # None: the budget could not be read
    command_queries_left: int | None
    waiting: int  # outbox messages not yet posted (pending, or sending and being resolved)
    failed: int
    failed_reasons: tuple[tuple[str, int], ...] = ()  # (last error, count), commonest first
    detector_failures: int = 0  # detector tests that raised (each cost only itself)
    detector_last_failure: str = ""  # the latest, "share test of cluster 3: ..." (run id)
    # Why the summary embeddings could not be read last time, and its fix ("": they could)
    embeddings_fix: str = ""
    latest_agreement: float | None = None  # the latest run's held-out assignment agreement
    early: EarlyHealth | None = None  # early warnings between runs (None: not read)


@dataclass(frozen=True)
class HomeView:
    """One page of the tab: `channels` are those of page `page` (from 0) of `channel_count`
    channels in all, `per_page` a page."""

    channels: tuple[ChannelHome, ...]
    health: Health
    admin: bool
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    page: int = 0
    channel_count: int | None = None  # None: `channels` are all there are
    per_page: int = CHANNELS_PER_PAGE

    @property
    def pages(self) -> int:
        count = len(self.channels) if self.channel_count is None else self.channel_count
        return max(1, -(-count // self.per_page))
