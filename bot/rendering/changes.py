"""Messages about change between two runs: `/clusters compare`, and alerts.

An alert is one parent message per run and channel (what changed, most severe first, each line
linking to the cluster in PostHog) and one thread reply per change, with its buttons. The words
of each change are in `alert_words.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from bot.domain.alerts import Alert, Severity
from bot.domain.causes import Factor
from bot.domain.compare import ClusterMatch, RunDiff
from bot.domain.lifecycle import Update
from bot.domain.models import Cluster, ClusteringRun, Level, RunSummary
from bot.rendering import blocks as bk
from bot.rendering.alert_words import ENDINGS, describe, explain, family_noun, family_value
from bot.rendering.answers import Renderer, item_noun
from bot.rendering.causes import CauseRenderer
from bot.rendering.env import change, pct
from bot.rendering.evidence import assigned_note
from bot.rendering.message import Message
from bot.slack.escape import SafeMrkdwn, clean_inline, link, md, md_join, title_text
from bot.slack.ids import ActionId, ClusterRef, MuteRef

COMPARE_LINES_MAX = 20
# Where an alert message's details are, by (any in its own thread, any first warned early).
THREAD_NOTES = {
    (True, False): "Details and drilldowns are in the thread.",
    (True, True): "Details and drilldowns are in the thread; a change first warned early is "
    "followed in its early warning's thread.",
    (False, True): "First warned early: each change is followed in its early warning's thread.",
    (False, False): "Details and drilldowns are in the thread.",
}
SEVERITY_ICONS = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":large_orange_circle:",
    Severity.INFO: ":large_blue_circle:",
}


class ChangeRenderer:
    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer
        self.causes = CauseRenderer(renderer)

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
        self,
        diff: RunDiff,
        alerts: Sequence[Alert],
        still_error_heavy: Sequence[Cluster] = (),
        *,
        reset: str | None = None,
        causes: Mapping[str, Sequence[Factor]] | None = None,
        warned: Collection[str] = (),
    ) -> Message:
        """The run's message: a line per alert. `warned` holds the keys of the alerts that
        confirm an early warning: their details live in the warning's thread, not this one."""
        run = diff.current
        causes = causes or {}
        lines = [
            self.r.text(
                "alert_line.md.j2",
                severity_icon=SEVERITY_ICONS[a.severity],
                summary=describe(a),
                title_link=self._alert_title_link(a, diff),
                cause=self.causes.clause(causes.get(a.key, ())),
                warned=a.key in warned,
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
        blocks.append(bk.section(md_join("\n", lines)))
        if still_error_heavy:
            names = [self.r.title_link(run.run_id, c) for c in still_error_heavy]
            blocks.append(bk.context(self.r.text("still_error_heavy.md.j2", items=names)))
        notes = self.run_notes(diff, reset)
        if notes:
            blocks.append(bk.context(notes))
        here = sum(1 for a in alerts if a.key not in warned)
        blocks.append(bk.context(THREAD_NOTES[(here > 0, here < len(alerts))]))
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

    def alert_detail(self, alert: Alert, diff: RunDiff, factors: Sequence[Factor] = ()) -> Message:
        match = diff.match_for_current(alert.cluster_id) if alert.cluster_id is not None else None
        text = self.r.text(
            "alert_detail.md.j2",
            severity_icon=SEVERITY_ICONS[alert.severity],
            summary=describe(alert),
            title_link=self._alert_title_link(alert, diff),
            explanation=explain(alert, item_noun(diff.current))
            + assigned_note(alert, diff.current),
            baseline_link=self.r.run_link(diff.previous),
            baseline_window_end=diff.previous.window_end,
            confidence=match.confidence if match else None,
            fresh=alert.fresh,
        )
        run_id = diff.current.run_id if alert.cluster_id is not None else diff.previous.run_id
        cluster_id = alert.cluster_id if alert.cluster_id is not None else alert.previous_cluster_id
        elements = []
        if cluster_id is not None:
            elements.append(
                bk.button(
                    "Evaluations" if diff.current.level is Level.EVALUATION else "Traces",
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
        if factors and cluster_id is not None:
            blocks.append(bk.section(self.causes.detail(alert.kind, factors, run_id, cluster_id)))
        if cluster_id is not None and alert.cluster_id is not None:
            why = ClusterRef(run_id=run_id, cluster_id=cluster_id)
            elements.append(bk.button("Why?", ActionId.WHY, value=why))
        if elements:
            blocks.append(bk.actions(*elements))
        return bk.finish(blocks, f"{describe(alert)}: {title_text(alert.title, 100)}")

    def why(
        self, run: ClusteringRun, cluster: Cluster, factors: Sequence[Factor], *, compared: bool
    ) -> Message:
        """The "Why?" answer: the likely causes of what moved, or that nothing stands out."""
        detail = self.causes.detail(None, factors, run.run_id, cluster.cluster_id)
        text = self.r.text(
            "why.md.j2",
            causes=SafeMrkdwn(detail),
            compared=compared,
            title_link=self.r.title_link(run.run_id, cluster),
        )
        return bk.finish([bk.section(text)], f"Why: {title_text(cluster.title, 100)}")

    def run_notes(self, diff: RunDiff, reset: str | None) -> SafeMrkdwn:
        """Splits, merges and a baseline reset: how the clustering moved, said once."""
        current, previous = diff.current.run_id, diff.previous.run_id
        splits = [
            {
                "previous": self.r.title_link(previous, s.previous),
                "kept": self.r.title_link(current, s.kept),
                "part": self.r.title_link(current, s.part),
            }
            for s in diff.splits
        ]
        merges = [
            {
                "absorbed": self.r.title_link(previous, m.absorbed),
                "kept": self.r.title_link(previous, m.kept),
                "into": self.r.title_link(current, m.into),
            }
            for m in diff.merges
        ]
        return self.r.text("run_notes.md.j2", splits=splits, merges=merges, reset=reset)

    def baseline_reset(self, diff: RunDiff, reason: str) -> Message:
        text = self.r.text("run_notes.md.j2", splits=[], merges=[], reset=reason)
        intro = md("{}: {}", self.r.series_title(diff.current), self.r.run_link(diff.current))
        return bk.finish([bk.section(intro), bk.context(text)], f"Baseline reset: {reason}")

    def episode_update(self, update: Update, run: RunSummary) -> Message:
        """A short note in the thread of the alert that opened `update.episode`."""
        episode = update.episode
        text = self.r.text(
            "alert_update.md.j2",
            phase=update.phase.value,
            direction=episode.direction,
            run_link=self.r.run_link(run),
            value=family_value(episode.family, episode.value),
            baseline=family_value(episode.family, episode.baseline),
            runs=episode.runs,
            title=title_text(episode.title, 90),
        )
        return bk.finish(
            [bk.section(text)], f"{update.phase.value}: {title_text(episode.title, 80)}"
        )

    def parent_closed(
        self,
        blocks: list[dict[str, object]],
        text: str,
        closed: Sequence[Update],
        run: RunSummary,
    ) -> Message:
        """An alert's parent message again, with a line for each of its changes that ended on
        `run` (for chat.update)."""
        lines = [
            md(
                ":white_check_mark: {}: {} {} in {}",
                title_text(u.episode.title, 80),
                family_noun(u.episode.family),
                ENDINGS[u.phase],
                self.r.run_link(run),
            )
            for u in closed
        ]
        # `blocks` and `text` are the parent as rendered (and escaped) before: kept as they are
        return bk.finish([*blocks, bk.context(md_join("\n", lines))], SafeMrkdwn(text))

    def run_skipped(self, run: RunSummary, attempts: int, error: str) -> Message:
        text = self.r.text(
            "run_skipped.md.j2",
            run_link=self.r.run_link(run),
            attempts=attempts,
            error=clean_inline(error, 200),
        )
        return bk.finish([bk.section(text)], f"Skipped clustering run {run.run_id}")

    def quiet(self, diff: RunDiff) -> Message:
        text = md(
            "No significant changes in {} vs the previous run ({} clusters matched).",
            self.r.run_link(diff.current),
            len(diff.matches),
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
        cost_change = pass_rates = None
        if match and match.previous.metrics and match.current.metrics:
            cost_change = change(match.previous.metrics.avg_cost, match.current.metrics.avg_cost)
            cost_change = None if cost_change == "n/a" else cost_change
            before_pass, after_pass = (
                match.previous.metrics.pass_rate,
                match.current.metrics.pass_rate,
            )
            if before_pass is not None and after_pass is not None:
                pass_rates = f"{pct(before_pass)} → {pct(after_pass)}"
        elif cluster.metrics is not None and cluster.metrics.pass_rate is not None:
            pass_rates = pct(cluster.metrics.pass_rate)
        title_changed = match is not None and (
            match.previous.title.casefold() != match.current.title.casefold()
        )
        return self.r.text(
            "compare_line.md.j2",
            marker=marker,
            title_link=self.r.title_link(run_id, cluster),
            before=before,
            after=after,
            cost_change=None if pass_rates else cost_change,
            pass_rates=pass_rates,
            title_changed=title_changed,
            previous_title=match.previous.title if match else "",
        )


def _by_shift(matches: Sequence[ClusterMatch]) -> list[ClusterMatch]:
    return sorted(matches, key=lambda m: -m.current.size)


__all__ = ["ChangeRenderer", "describe", "explain", "link"]
