"""Messages about change between two runs: `/clusters compare`, and alerts.

An alert is one parent message per run and channel (what changed, most severe first, each line
linking to the cluster in PostHog) and one thread reply per change, with its buttons.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.compare import ClusterMatch, RunDiff
from bot.domain.models import Cluster
from bot.domain.rules import Alert, AlertKind, Severity
from bot.rendering import blocks as bk
from bot.rendering.answers import Renderer
from bot.rendering.env import change, money, pct, points, seconds
from bot.rendering.message import Message
from bot.slack.escape import link, title_text
from bot.slack.ids import ActionId, ClusterRef, MuteRef

COMPARE_LINES_MAX = 20
SEVERITY_ICONS = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":large_orange_circle:",
    Severity.INFO: ":large_blue_circle:",
}


def describe(alert: Alert) -> str:
    """One line saying what changed and by how much (plain text; escaped by the template)."""
    before, after = alert.before, alert.after
    match alert.kind:
        case AlertKind.COST_SPIKE:
            return f"Cost per item {change(before, after)} ({money(before)} → {money(after)})"
        case AlertKind.LATENCY_SPIKE:
            return f"Latency {change(before, after)} ({seconds(before)} → {seconds(after)})"
        case AlertKind.ERROR_HEAVY:
            return f"Error rate {pct(before)} → {pct(after)}"
        case AlertKind.SIZE_SHIFT:
            delta = (after or 0) - (before or 0)
            return f"Share {pct(before)} → {pct(after)} ({points(delta)})"
        case AlertKind.NEW_CLUSTER:
            return f"New cluster with {pct(after)} of the run"
        case AlertKind.VANISHED_CLUSTER:
            return f"Cluster vanished (had {pct(before)} of the run)"
        case AlertKind.OUTLIER_GROWTH:
            return f"Outliers grew {pct(before)} → {pct(after)}"
    return str(alert.kind)  # pragma: no cover - every kind is handled above


def explain(alert: Alert) -> str:
    """What the numbers rest on: sample sizes and, for shares, the significance test."""
    parts = []
    if alert.items_before is not None or alert.items_after is not None:
        parts.append(f"items with data: {alert.items_before or 0} → {alert.items_after or 0}")
    if alert.p_value is not None:
        parts.append(f"two-proportion test p = {alert.p_value:.2g}")
    return " · ".join(parts) or "Judged against this channel's thresholds (`/clusters thresholds`)."


class ChangeRenderer:
    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer

    def _alert_title_link(self, alert: Alert, diff: RunDiff) -> str:
        if alert.cluster_id is not None:
            cluster = diff.current.cluster(alert.cluster_id)
            run_id = diff.current.run_id
        else:
            cluster = diff.previous.cluster(alert.previous_cluster_id or 0)
            run_id = diff.previous.run_id
        if cluster is None:
            return title_text(alert.title, 90)
        return self.r.title_link(run_id, cluster)

    def alert_parent(
        self, diff: RunDiff, alerts: Sequence[Alert], still_error_heavy: Sequence[Cluster] = ()
    ) -> Message:
        run = diff.current
        lines = [
            self.r.text(
                "alert_line.md.j2",
                severity_icon=SEVERITY_ICONS[a.severity],
                summary=describe(a),
                title_link=self._alert_title_link(a, diff),
            )
            for a in alerts
        ]
        intro = self.r.text(
            "alert_parent.md.j2",
            alerts=alerts,
            run_link=self.r.run_link(run),
            previous_window_end=diff.previous.window_end,
        )
        blocks = [bk.header(f"{self.r.series_title(run)}: what changed"), bk.section(intro)]
        blocks.append(bk.section("\n".join(lines)))
        if still_error_heavy:
            names = [self.r.title_link(run.run_id, c) for c in still_error_heavy]
            blocks.append(bk.context(self.r.text("still_error_heavy.md.j2", items=names)))
        blocks.append(bk.context("Details and drilldowns are in the thread."))
        blocks.append(
            bk.actions(
                bk.button("Open run in PostHog", ActionId.OPEN, url=self.r.urls.run(run.run_id))
            )
        )
        top = alerts[0]
        fallback = (
            f"{self.r.series_title(run)}: {len(alerts)} change(s). "
            f"{describe(top)}: {title_text(top.title, 80)}"
        )
        return bk.finish(blocks, fallback)

    def alert_detail(self, alert: Alert, diff: RunDiff) -> Message:
        match = diff.match_for_current(alert.cluster_id) if alert.cluster_id is not None else None
        text = self.r.text(
            "alert_detail.md.j2",
            severity_icon=SEVERITY_ICONS[alert.severity],
            summary=describe(alert),
            title_link=self._alert_title_link(alert, diff),
            explanation=explain(alert),
            baseline_link=self.r.run_link(diff.previous),
            baseline_window_end=diff.previous.window_end,
            confidence=match.confidence if match else None,
        )
        run_id = diff.current.run_id if alert.cluster_id is not None else diff.previous.run_id
        cluster_id = alert.cluster_id if alert.cluster_id is not None else alert.previous_cluster_id
        elements = []
        if cluster_id is not None:
            elements.append(
                bk.button(
                    "Traces",
                    ActionId.TRACES,
                    value=ClusterRef(run_id=run_id, cluster_id=cluster_id),
                )
            )
            if alert.cluster_id is not None:
                for hours, label in ((24, "Mute 24 h"), (24 * 7, "Mute 7 days")):
                    ref = MuteRef(run_id=run_id, cluster_id=cluster_id, hours=hours)
                    elements.append(bk.button(label, ActionId.MUTE, value=ref, suffix=f".{hours}"))
            elements.append(
                bk.button(
                    "Open in PostHog", ActionId.OPEN, url=self.r.urls.cluster(run_id, cluster_id)
                )
            )
        blocks = [bk.section(text)]
        if elements:
            blocks.append(bk.actions(*elements))
        return bk.finish(blocks, f"{describe(alert)}: {title_text(alert.title, 100)}")

    def quiet(self, diff: RunDiff) -> Message:
        text = (
            f"No significant changes in {self.r.run_link(diff.current)} "
            f"vs the previous run ({len(diff.matches)} clusters matched)."
        )
        return bk.finish([bk.context(text)], "No significant changes in the new clustering run")

    def compare(self, diff: RunDiff) -> Message:
        current, previous = diff.current, diff.previous
        intro = self.r.text(
            "compare.md.j2",
            diff=diff,
            current_link=self.r.run_link(current),
            previous_link=self.r.run_link(previous),
        )
        lines = [self._match_line(m, diff) for m in _by_shift(diff.matches)]
        lines += [
            self._line(":new:", current.run_id, c, 0.0, current.share(c), None) for c in diff.new
        ]
        lines += [
            self._line(":wave:", previous.run_id, c, previous.share(c), 0.0, None)
            for c in diff.vanished
        ]
        shown = lines[:COMPARE_LINES_MAX]
        blocks = [bk.header(f"{self.r.series_title(current)}: run vs previous"), bk.section(intro)]
        blocks += [bk.section(line) for line in shown]
        if len(lines) > len(shown):
            blocks.append(bk.context(f"…and {len(lines) - len(shown)} more clusters"))
        return bk.finish(blocks, f"Compare {current.run_id} with {previous.run_id}")

    def _match_line(self, match: ClusterMatch, diff: RunDiff) -> str:
        before = diff.previous.share(match.previous)
        after = diff.current.share(match.current)
        marker = (
            ":arrow_up:"
            if after - before >= 0.05
            else ":arrow_down:"
            if before - after >= 0.05
            else ":white_small_square:"
        )
        return self._line(marker, diff.current.run_id, match.current, before, after, match)

    def _line(
        self,
        marker: str,
        run_id: str,
        cluster: Cluster,
        before: float,
        after: float,
        match: ClusterMatch | None,
    ) -> str:
        cost_change = None
        if match and match.previous.metrics and match.current.metrics:
            cost_change = change(match.previous.metrics.avg_cost, match.current.metrics.avg_cost)
            cost_change = None if cost_change == "n/a" else cost_change
        title_changed = match is not None and (
            match.previous.title.casefold() != match.current.title.casefold()
        )
        return self.r.text(
            "compare_line.md.j2",
            marker=marker,
            title_link=self.r.title_link(run_id, cluster),
            before=before,
            after=after,
            cost_change=cost_change,
            title_changed=title_changed,
            previous_title=match.previous.title if match else "",
        )


def _by_shift(matches: Sequence[ClusterMatch]) -> list[ClusterMatch]:
    return sorted(matches, key=lambda m: -m.current.size)


__all__ = ["ChangeRenderer", "describe", "link"]
