"""Early warnings in Slack: the warning, the note that settles it in its thread, and the warning
edited to say how it was settled."""

from __future__ import annotations

from datetime import datetime

from bot.domain.alerts import AlertKind, Severity
from bot.domain.early import Finding
from bot.domain.models import ClusteringRun, RunSummary
from bot.rendering import blocks as bk
from bot.rendering.answers import Renderer, item_noun
from bot.rendering.env import money, pct
from bot.rendering.message import Message
from bot.slack.escape import SafeMrkdwn, md, title_text

ICONS = {Severity.CRITICAL: ":rotating_light:", Severity.WARNING: ":warning:"}


def describe(kind: AlertKind, before: float, after: float, part: str | None = None) -> str:
    """What moved, in words: "errors 2.0% → 45.0%"."""
    if kind is AlertKind.ERROR_HEAVY:
        return f"Errors {pct(before)} → {pct(after)}"
    if kind is AlertKind.COST_SPIKE:
        moved = f", carried by {part}" if part else ""
        return f"Cost per item {money(before)} → {money(after)}{moved}"
    return f"Items that fit no cluster {pct(before)} → {pct(after)}"


class EarlyRenderer:
    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer

    def warning(self, run: ClusteringRun, finding: Finding, until: datetime) -> Message:
        cluster = run.cluster(finding.cluster_id)
        title_link: SafeMrkdwn = (
            SafeMrkdwn(self.r.title_link(run.run_id, cluster))
            if cluster is not None and not cluster.is_noise
            else md("{}", title_text(finding.title, 90))
        )
        what = describe(finding.kind, finding.before, finding.after, finding.part)
        text = self.r.text(
            "early_warning.md.j2",
            icon=ICONS.get(finding.severity, ":warning:"),
            series=self.r.series_title(run),
            title_link=title_link,
            what=what,
            items_after=finding.items_after,
            items_before=finding.items_before,
            hours=f"{max(finding.hours(until), 0.0):.0f}",
            since=f"{finding.start:%b %d %H:%M}",
            noun=item_noun(run),
            run_link=self.r.run_link(run),
        )
        fallback = f"Early warning: {title_text(finding.title, 80)}: {what}"
        return bk.finish([bk.section(text)], fallback)

    def settled(self, run: RunSummary, status: str, *, alert: str = "", items: int = 0) -> Message:
        """The note in the warning's thread: confirmed, retracted or undecided by `run`
        (`alert`: the confirming alert in words; `items`: the run's items of the cluster
        since the warning's start, where it did not confirm it)."""
        text = self.r.text(
            "early_settled.md.j2",
            status=status,
            run_link=self.r.run_link(run),
            alert=alert,
            items=items,
            noun=item_noun(run),
        )
        word = {"confirmed": "Confirmed", "retracted": "Retracted"}.get(status, "Not confirmed")
        return bk.finish([bk.section(text)], f"{word} by the run of {run.run_id}")

    def edited(
        self, text: str, blocks: list[dict[str, object]], run: RunSummary, status: str
    ) -> Message:
        """The warning as posted, with a line saying how `run` settled it (`status`)."""
        if status == "confirmed":
            return self.confirmed(text, blocks, run)
        if status == "retracted":
            return self.retracted(text, blocks, run)
        return self.undecided(text, blocks, run)

    def retracted(self, text: str, blocks: list[dict[str, object]], run: RunSummary) -> Message:
        """The warning as posted, with a line saying the daily run ruled it out."""
        line = md(":heavy_multiplication_x: Retracted: ruled out by {}", self.r.run_link(run))
        return bk.finish([*blocks, bk.context(line)], SafeMrkdwn(f"Retracted: {text}"))

    def undecided(self, text: str, blocks: list[dict[str, object]], run: RunSummary) -> Message:
        """The warning as posted, with a line saying the daily run neither confirmed it nor
        ruled it out."""
        line = md(
            ":grey_question: Not confirmed by {}, not ruled out: its sample of the cluster "
            "cannot tell either way",
            self.r.run_link(run),
        )
        return bk.finish([*blocks, bk.context(line)], SafeMrkdwn(f"Not confirmed: {text}"))

    def confirmed(self, text: str, blocks: list[dict[str, object]], run: RunSummary) -> Message:
        """The warning as posted, with a line saying the daily run confirmed it and that the
        change is followed in its thread (the channel sees it without opening the thread)."""
        line = md(
            ":white_check_mark: Confirmed by {}: followed in this thread", self.r.run_link(run)
        )
        return bk.finish([*blocks, bk.context(line)], SafeMrkdwn(f"Confirmed: {text}"))
