"""Per-channel settings changed from Slack: subscriptions, thresholds, mutes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.domain.models import ClusterRef, Level
from bot.domain.rules import Thresholds
from bot.services.clusters import ClustersService
from bot.services.errors import CommandError
from bot.services.routing import QUIET_SUMMARY
from bot.store.ports import ChannelSettingsStore
from bot.store.store import Mute
from bot.views import ClusterView


class ChannelSettings:
    def __init__(
        self,
        store: ChannelSettingsStore,
        clusters: ClustersService,
        default_channel: str | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.clusters = clusters
        self.default_channel = default_channel
        self.clock = clock

    # -- subscriptions -------------------------------------------------------------------------

    def subscribe(self, channel: str, level: Level | None, job: str | None, user: str) -> str:
        added = self.store.subscribe(channel, level, job, user)
        what = _scope(level, job)
        return (
            f"This channel now gets alerts for {what}."
            if added
            else f"Already subscribed to {what}."
        )

    def unsubscribe(self, channel: str, level: Level | None, job: str | None) -> str:
        removed = self.store.unsubscribe(
            channel, level, job, opt_out=channel == self.default_channel
        )
        if removed or channel == self.default_channel:
            return f"This channel no longer gets alerts for {_scope(level, job)}."
        return "This channel had no matching subscription. `/clusters subscriptions` lists them."

    def remove_subscriptions(self, channel: str, ids: list[int]) -> int:
        """Remove exactly these subscriptions (row ids, as `subscription_choices` names them);
        how many were still there."""
        return self.store.remove_subscriptions(
            channel, ids, opt_out=channel == self.default_channel
        )

    def subscription_choices(self, channel: str) -> list[tuple[str, str]]:
        """(description, row id) of each of the channel's subscriptions, oldest first."""
        return [
            (_scope(Level(row.level) if row.level else None, row.job), str(row.id))
            for row in self.store.subscriptions(channel)
            if row.active
        ]

    def describe_subscriptions(self, channel: str) -> list[str]:
        rows = self.store.subscriptions(channel)
        lines = [_scope(Level(r.level) if r.level else None, r.job) for r in rows if r.active]
        if not rows and channel == self.default_channel:
            lines = ["every level and job (this is the default alert channel, ALERT_CHANNEL)"]
        return lines

    # -- thresholds ------------------------------------------------------------------------------

    def thresholds(self, channel: str) -> Thresholds:
        from bot.services.routing import thresholds_for

        return thresholds_for(self.store.thresholds(channel))

    def set_thresholds(
        self, channel: str, overrides: tuple[tuple[str, str], ...], user: str, *, reset: bool
    ) -> str:
        current = {} if reset else self.store.thresholds(channel)
        values = dict(current)
        for name, value in overrides:
            if name == QUIET_SUMMARY:
                check_threshold(name, value)
            values[name] = value
        try:
            Thresholds().with_overrides({k: v for k, v in values.items() if k != QUIET_SUMMARY})
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.store.set_thresholds(channel, values, user)
        return (
            "Thresholds reset to the defaults."
            if reset and not overrides
            else "Thresholds updated."
        )

    def describe_thresholds(self, channel: str) -> list[str]:
        stored = self.store.thresholds(channel)
        lines = [
            f"`{spec.name}={spec.value}`{' (set here)' if spec.name in stored else ''}: "
            f"{spec.description} Default {spec.default}, from {spec.minimum} to {spec.maximum}."
            for spec in self.thresholds(channel).describe()
        ]
        lines.append(
            f"`{QUIET_SUMMARY}={stored.get(QUIET_SUMMARY, 'off')}`: post a short note for runs "
            "without changes (on or off)."
        )
        return lines

    # -- mutes -------------------------------------------------------------------------------------

    def mute(
        self, channel: str, run_id: str | None, ref: ClusterRef, duration: timedelta, user: str
    ) -> str:
        view = self.clusters.find_cluster(ref, run_id)
        until = self.clock() + duration
        mute = Mute(
            channel, view.run.run_id, view.cluster.cluster_id, view.cluster.title, until, user
        )
        self.store.mute(mute, view.run.series)
        return f"Muted “{view.cluster.title}” in this channel until {until:%b %d %H:%M} UTC."

    def mute_ref(self, channel: str, run_id: str, cluster_id: int, hours: int, user: str) -> Mute:
        run = self.clusters.runs.get(run_id)
        cluster = run.cluster(cluster_id)
        if cluster is None:
            raise CommandError(f"Run `{run_id}` has no cluster {cluster_id}.")
        until = self.clock() + timedelta(hours=hours)
        mute = Mute(channel, run_id, cluster_id, cluster.title, until, user)
        self.store.mute(mute, run.series)
        return mute

    def unmute(self, channel: str, ref: ClusterRef) -> str:
        """Lift the mute on the cluster `ref` names in the newest runs, as `mute` resolves it
        (an id means that run's cluster, never the same id in another run). Title words that
        name no muted cluster there may still match a mute's stored title (a cluster that has
        since gone)."""
        try:
            view: ClusterView | None = self.clusters.find_cluster(ref, None)
        except CommandError:
            view = None
        removed = 0
        if view is not None:
            removed = self.store.unmute(channel, view.run.run_id, view.cluster.cluster_id)
        if not removed and ref.words is not None:
            removed = self.store.unmute_titled(channel, ref.words)
        if not removed:
            seen = f" (in the newest run that is “{view.cluster.title}”)" if view else ""
            raise CommandError(f"No mute matches `{ref}`{seen}. `/clusters mutes` lists them.")
        return f"Unmuted {removed} cluster(s)."

    def unmute_lineage(self, channel: str, lineage: int) -> bool:
        """Lift the one mute the Home tab's modal names (`Mute.lineage`), with its carried
        copies; False when it was lifted already (expired, or by someone else)."""
        return self.store.unmute_lineage(channel, lineage) > 0

    def describe_mutes(self, channel: str) -> list[str]:
        latest: dict[int | None, Mute] = {}
        for mute in self.store.active_mutes(channel, self.clock()):
            latest[mute.lineage] = mute  # the newest copy of each mute
        return [
            f"{m.title} until {m.until:%b %d %H:%M} UTC (set by {m.created_by})"
            for m in latest.values()
        ]


def check_threshold(name: str, value: str) -> None:
    """One `name=value`, checked as `/clusters thresholds` and the thresholds modal both check
    it; raises `CommandError` worded for the user."""
    if name == QUIET_SUMMARY:
        if value not in ("on", "off"):
            raise CommandError("quiet_summary takes `on` or `off`.")
        return
    try:
        Thresholds().with_overrides({name: value})
    except ValueError as error:
        raise CommandError(str(error)) from None


def _scope(level: Level | None, job: str | None) -> str:
    level_text = f"{level.value}-level runs" if level else "runs of every level"
    return f"{level_text} of job “{job}”" if job else level_text
