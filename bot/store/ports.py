"""The store as each of its consumers sees it: one protocol per consumer, holding only what that
consumer calls. `Store` (bot/store/store.py) implements all of them, and bot/wiring.py hands it
to each collaborator under the narrow type, so mypy checks the fit there; a test stands in for
one consumer's store with just that protocol's methods.

    StoredRuns      ChartService, `lineage` (stored runs, read only)
    RunCache        RunRepository (runs cached forever, and where alerting got to)
    Heartbeats      bot/services/detector_health.py
    Subscriptions   Routing
    ChannelSettingsStore  ChannelSettings (subscriptions, thresholds and mutes, read and changed)
    AlertingState   AlertService (leases, progress, episodes, a run's messages into the outbox,
                    the early warnings of the run before it settled with them)
    OutboxHealth    Metrics (outbox counts by status, the scheduler's heartbeat)
    HomeReads       HomeService (the App Home tab: channel settings and the bot's health)
    EarlySettling   Settler (open early warnings, settled against stored runs)
    EarlyWarningState  EarlyWarningService (checks, warnings, leases; settling through the above)
    SendSlots       SlackWriter (each channel's pace, across processes)
    ClaimRenewal    ClaimKeeper (the lease of a claim, renewed while a send is in flight)
    OutboxSender    SlackNotifier's drain (the outbox's named transitions)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # types only: importing the protocols costs no SQLAlchemy
    from bot.domain.lifecycle import Episode
    from bot.domain.models import ClusteringRun, Level, RunSummary, SeriesKey
    from bot.store.channels import ChannelPresence, Mute
    from bot.store.early import EarlyCheck, EarlyWarning, Message
    from bot.store.outbox import OutboxStatus
    from bot.store.schema import OutboxRow, SubscriptionRow
    from bot.store.store import OutgoingMessage


# -- runs ----------------------------------------------------------------------------------------


class StoredRuns(Protocol):
    def get_run(self, run_id: str) -> ClusteringRun | None: ...

    def get_summary(self, run_id: str) -> RunSummary | None: ...

    def previous_run(self, run: RunSummary) -> ClusteringRun | None: ...


class SeriesCursor(Protocol):
    def series_cursor(self, series: SeriesKey) -> datetime | None: ...


class RunCache(StoredRuns, SeriesCursor, Protocol):
    def save_run(self, run: ClusteringRun) -> None: ...

    def cluster_counts(self, run_ids: Sequence[str]) -> dict[str, int]: ...


# -- heartbeats ----------------------------------------------------------------------------------


class Heartbeats(Protocol):
    def beat(self, name: str, detail: str = "") -> None: ...

    def heartbeat(self, name: str) -> tuple[datetime, str] | None: ...


# -- channel settings ----------------------------------------------------------------------------


class Subscriptions(Protocol):
    def subscriptions(self, channel: str | None = None) -> list[SubscriptionRow]: ...


class ChannelReads(Protocol):
    def thresholds(self, channel: str) -> dict[str, str]: ...

    def active_mutes(
        self, channel: str, now: datetime, run_id: str | None = None
    ) -> list[Mute]: ...


class ChannelSettingsStore(ChannelReads, Subscriptions, Protocol):
    def subscribe(self, channel: str, level: Level | None, job: str | None, user: str) -> bool: ...

    def unsubscribe(
        self, channel: str, level: Level | None, job: str | None, *, opt_out: bool
    ) -> int: ...

    def remove_subscriptions(self, channel: str, ids: Collection[int], *, opt_out: bool) -> int: ...

    def set_thresholds(self, channel: str, values: dict[str, str], user: str) -> None: ...

    def mute(self, mute: Mute, series: SeriesKey) -> None: ...

    def unmute(self, channel: str, run_id: str, cluster_id: int) -> int: ...

    def unmute_lineage(self, channel: str, lineage: int) -> int: ...

    def unmute_titled(self, channel: str, words: str) -> int: ...


# -- alerting ------------------------------------------------------------------------------------


class AlertingState(ChannelReads, SeriesCursor, Heartbeats, Protocol):
    def acquire_series(self, series: SeriesKey, owner: str, ttl: timedelta) -> bool: ...

    def release_series(self, series: SeriesKey, owner: str) -> None: ...

    def processed_runs(self, series: SeriesKey) -> set[str] | None: ...

    def run_failed(self, run: RunSummary, error: str, *, give_up_after: int) -> int: ...

    def record_run_alerts(
        self,
        run: RunSummary,
        channel_messages: Mapping[str, Sequence[OutgoingMessage]],
        *,
        episodes: Mapping[str, Sequence[Episode]] | None = None,
        seen: Sequence[RunSummary] = (),
        skipped: bool = False,
        settled: Sequence[tuple[int, str]] = (),
    ) -> int: ...

    def open_episodes(self, channel: str, series: SeriesKey) -> list[Episode]: ...

    def latest_version(
        self, channel: str, key: str
    ) -> tuple[str, list[dict[str, object]]] | None: ...

    def status_of(self, channel: str, key: str) -> str | None: ...

    def open_early_warnings(self, series: SeriesKey) -> list[EarlyWarning]: ...

    def carry_mutes(self, channel: str, run: RunSummary, carried: Iterable[Mute]) -> None: ...


# -- early warnings ------------------------------------------------------------------------------


class EarlySettling(StoredRuns, Protocol):
    def thresholds(self, channel: str) -> dict[str, str]: ...

    def open_early_warnings(self, series: SeriesKey) -> list[EarlyWarning]: ...

    def processed_run_after(self, run: RunSummary) -> RunSummary | None: ...

    def settle_early_warnings(
        self, run_id: str, settled: Sequence[tuple[EarlyWarning, str, Sequence[Message]]]
    ) -> int: ...

    def latest_version(
        self, channel: str, key: str
    ) -> tuple[str, list[dict[str, object]]] | None: ...


class EarlyWarningState(EarlySettling, ChannelReads, Heartbeats, Protocol):
    def latest_processed(self) -> list[tuple[SeriesKey, str]]: ...

    def early_check(self, series: SeriesKey) -> EarlyCheck | None: ...

    def record_early_check(
        self, series: SeriesKey, run_id: str, at: datetime, newest: datetime | None
    ) -> None: ...

    def acquire_series(self, series: SeriesKey, owner: str, ttl: timedelta) -> bool: ...

    def release_series(self, series: SeriesKey, owner: str) -> None: ...

    def open_episodes(self, channel: str, series: SeriesKey) -> list[Episode]: ...

    def has_early_warning(self, channel: str, run_id: str, cluster_id: int, kind: str) -> bool: ...

    def record_early_warnings(
        self,
        run: RunSummary,
        warnings: Mapping[str, Sequence[tuple[int, str, dict[str, object], Message]]],
    ) -> int: ...


# -- health and the Home tab ---------------------------------------------------------------------


class OutboxHealth(Heartbeats, Protocol):
    def outbox_counts(self) -> dict[str, int]: ...


class HomeReads(ChannelReads, OutboxHealth, Protocol):
    def channel_presence(self, now: datetime) -> ChannelPresence: ...

    def outbox_failures(self) -> dict[str | None, int]: ...

    def open_early_warning_count(self) -> int: ...


# -- delivery ------------------------------------------------------------------------------------


class SendSlots(Protocol):
    def reserve_slot(self, channel: str, interval: timedelta) -> float: ...


class ClaimRenewal(Protocol):
    def renew_claim(self, row_id: int, owner: str) -> bool: ...


class OutboxSender(SendSlots, ClaimRenewal, Protocol):
    @property
    def clock(self) -> Callable[[], datetime]: ...

    def deliverable(self, limit: int = ..., per_channel: int = ...) -> list[OutboxRow]: ...

    def sent_ts(self, channel: str, key: str) -> str | None: ...

    def status_of(self, channel: str, key: str) -> str | None: ...

    def claim(self, row_id: int, owner: str) -> bool: ...

    def reclaim(self, row_id: int, claimed_at: datetime | None, owner: str) -> bool: ...

    def mark_sent(self, row_id: int, ts: str, owner: str) -> bool: ...

    def mark_unsent(
        self,
        row_id: int,
        error: str,
        owner: str,
        *,
        permanent: bool = False,
        rate_limited: bool = False,
        give_up_after: timedelta | None = None,
    ) -> OutboxStatus | None: ...

    def mark_ambiguous(self, row_id: int, error: str, owner: str) -> bool: ...

    def give_up(self, row_id: int, reason: str, owner: str) -> bool: ...

    def rehome(
        self,
        row_id: int,
        owner: str,
        parent_key: str,
        text: str,
        blocks: list[dict[str, object]],
        reason: str,
    ) -> bool: ...

    def wait_for_channel(
        self, row_id: int, error: str, give_up_after: timedelta
    ) -> OutboxStatus | None: ...

    def start_channel_grace(self, channel: str) -> int: ...

    def release_claims(self, owner: str, keep: Collection[int] = ()) -> int: ...
