"""What the App Home tab shows: the channels that get alerts and their settings, and the bot's
health, as plain data (bot/views.py) for bot/rendering/home.py; reads the store only (no
PostHog, no Slack)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.domain.thresholds import ThresholdSpec
from bot.services.alerts import HEARTBEAT
from bot.services.assigned_items import read_assignments
from bot.services.channel_settings import ChannelSettings
from bot.services.detector_health import read_failures
from bot.services.early_health import read_early_health
from bot.services.routing import QUIET_SUMMARY
from bot.store.channels import Mute
from bot.store.ports import HomeReads
from bot.views import CHANNELS_PER_PAGE, ChannelHome, Health, HomeView


class HomeService:
    def __init__(
        self,
        store: HomeReads,
        channel_settings: ChannelSettings,
        *,
        stale_after_seconds: float,
        budgets: Callable[[], tuple[float, float]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        early_interval: timedelta | None = None,
    ) -> None:
        self.store = store
        self.settings = channel_settings
        self.stale_after_seconds = stale_after_seconds
        self.budgets = budgets
        self.clock = clock
        self.early_interval = early_interval

    def view(self, *, admin: bool, page: int = 0, per_page: int = CHANNELS_PER_PAGE) -> HomeView:
        """Page `page` of the tab (the last one when `page` is past it); only that page's
        channels are read in full."""
        names = self.channels()
        last = max(0, (len(names) - 1) // per_page)
        page = min(max(page, 0), last)
        shown = names[page * per_page : (page + 1) * per_page]
        return HomeView(
            tuple(self.channel(c) for c in shown),
            self.health(),
            admin,
            self.clock(),
            page=page,
            channel_count=len(names),
            per_page=per_page,
        )

    def channels(self) -> list[str]:
        """Channels with alerts or settings: subscribed ones, the default alert channel unless
        it opted out, and any with thresholds or active mutes (they apply once subscribed)."""
        presence = self.store.channel_presence(self.clock())
        subscribed = presence.subscribed
        found: dict[str, None] = {}
        default = self.settings.default_channel
        if default and not any(channel == default for channel, _ in subscribed):
            found[default] = None
        for channel, active in subscribed:
            if active:
                found[channel] = None
        for channel in [*presence.tuned, *presence.muted]:
            found[channel] = None
        return list(found)

    def channel(self, channel: str) -> ChannelHome:
        stored = self.stored_thresholds(channel)
        specs = self.settings.thresholds(channel).describe()
        latest: dict[str, Mute] = {}
        for mute in self.store.active_mutes(channel, self.clock()):
            latest[mute.title] = mute
        return ChannelHome(
            channel=channel,
            subscriptions=tuple(self.settings.describe_subscriptions(channel)),
            changed=tuple(spec for spec in specs if spec.value != spec.default),
            quiet_summary=stored.get(QUIET_SUMMARY) == "on",
            mutes=tuple(latest.values()),
            is_default=channel == self.settings.default_channel,
        )

    def stored_thresholds(self, channel: str) -> dict[str, str]:
        """The values set in this channel, by name (`quiet_summary` among them); the rest are
        at their defaults."""
        return self.store.thresholds(channel)

    def all_thresholds(self, channel: str) -> tuple[ThresholdSpec, ...]:
        return self.settings.thresholds(channel).describe()

    def health(self) -> Health:
        beat = self.store.heartbeat(HEARTBEAT)
        last = beat[0] if beat else None
        stale = last is None or (self.clock() - last).total_seconds() > self.stale_after_seconds
        alert: int | None = None
        command: int | None = None
        try:
            alert_left, command_left = self.budgets()
            alert, command = int(alert_left), int(command_left)
        except Exception:  # the budgets live in the database; the tab still shows the rest
            pass
        counts = self.store.outbox_counts()
        failures: Counter[str] = Counter()
        for error, count in self.store.outbox_failures().items():
            failures[error or "unknown"] += count
        reasons = failures.most_common(5)
        detector = read_failures(self.store)
        assignments = read_assignments(self.store)
        agreements = [a.agreement for a in assignments.runs.values() if a.agreement is not None]
        latest = f"{detector.last} (run {detector.run_id})" if detector.last else ""
        return Health(
            last_cycle=last,
            stale=stale,
            alert_queries_left=alert,
            command_queries_left=command,
            waiting=int(counts.get("pending", 0)) + int(counts.get("sending", 0)),
            failed=int(counts.get("failed", 0)),
            failed_reasons=tuple(reasons),
            detector_failures=detector.total,
            detector_last_failure=latest,
            embeddings_fix=assignments.fix,
            latest_agreement=agreements[-1] if agreements else None,
            early=read_early_health(
                self.store, self.early_interval, self.store.open_early_warning_count(), self.clock()
            ),
        )
