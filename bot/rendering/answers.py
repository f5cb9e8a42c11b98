"""Messages that answer `/clusters` commands: summary, runs, one cluster, rankings, jobs, help.

Templates in `templates/` hold the words; this module decides which blocks carry them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

from bot.domain.models import Cluster, ClusteringRun, Level, RunSummary
from bot.posthog.schemas import ClusteringJob
from bot.posthog.urls import PostHogUrls
from bot.rendering import blocks as bk
from bot.rendering.message import Message
from bot.slack.escape import SafeMrkdwn, link, md, md_join, title_text
from bot.slack.ids import ActionId, ClusterRef, RunRef, ShareRef
from bot.views import ClusterView, JobsView, RankedList

SUMMARY_CLUSTERS_MAX = 15
USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")  # a Slack user id, which may become a mention
TITLE_MAX = 90
LEVEL_NAMES = {"trace": "Trace", "generation": "Generation", "evaluation": "Evaluation"}


def item_noun(run: RunSummary) -> str:
    """What a run's items are called in messages: an evaluation run's are evaluations."""
    return "evaluations" if run.level is Level.EVALUATION else "items"


class Renderer:
    """Renders answers; `urls` is the only source of PostHog links."""

    def __init__(
        self,
        env: Environment,
        urls: PostHogUrls,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        charts: bool = False,
    ) -> None:
        self.env = env
        self.urls = urls
        self.clock = clock
        self.charts = charts  # offer the "Map" button (CHARTS=on)

    def text(self, template: str, **values: Any) -> SafeMrkdwn:
        """A template rendered: its values escaped once by the environment's `finalize`."""
        return SafeMrkdwn(
            self.env.get_template(template).render(now=self.clock(), **values).strip()
        )

    # -- shared pieces ---------------------------------------------------------------------

    def title_link(self, run_id: str, cluster: Cluster) -> SafeMrkdwn:
        return link(
            self.urls.cluster(run_id, cluster.cluster_id), title_text(cluster.title, TITLE_MAX)
        )

    def run_link(self, run: RunSummary, label: str | None = None) -> SafeMrkdwn:
        if label is None:
            label = f"run of {run.window_end:%b %d}" if run.window_end else run.run_id
        return link(self.urls.run(run.run_id), label)

    def run_context(self, run: ClusteringRun) -> SafeMrkdwn:
        return self.text(
            "run_context.md.j2",
            run=run,
            run_link=self.run_link(run),
            clusters=len(run.clusters),
            computed=any(c.metrics is not None and c.metrics.computed for c in run.clusters),
        )

    def cluster_line(self, run: ClusteringRun, cluster: Cluster, rank: str = "") -> SafeMrkdwn:
        return self.text(
            "cluster_line.md.j2",
            rank=rank,
            cluster=cluster,
            share=run.share(cluster),
            metrics=cluster.metrics,
            title_link=self.title_link(run.run_id, cluster),
            evaluations=run.level is Level.EVALUATION,
        )

    def traces_button(self, run: RunSummary, cluster: Cluster, suffix: str) -> bk.Block:
        return bk.button(
            "Evaluations" if run.level is Level.EVALUATION else "Traces",
            ActionId.TRACES,
            value=ClusterRef(run_id=run.run_id, cluster_id=cluster.cluster_id),
            suffix=suffix,
        )

    @staticmethod
    def series_title(run: RunSummary) -> str:
        return f"{LEVEL_NAMES[run.level.value]} clusters · {run.job_label}"

    # -- answers ---------------------------------------------------------------------------

    def summary(self, run: ClusteringRun, *, command_text: str | None = None) -> Message:
        clusters = run.by_size
        shown = clusters[:SUMMARY_CLUSTERS_MAX]
        blocks = [bk.header(self.series_title(run)), bk.context(self.run_context(run))]
        for index, cluster in enumerate(shown):
            blocks.append(
                bk.section(
                    self.cluster_line(run, cluster),
                    accessory=self.traces_button(run, cluster, f".{index}"),
                )
            )
        if len(clusters) > len(shown):
            blocks.append(
                bk.context(f"…and {len(clusters) - len(shown)} smaller clusters in PostHog")
            )
        buttons = [bk.button("Open in PostHog", ActionId.OPEN, url=self.urls.run(run.run_id))]
        if self.charts:
            buttons.insert(0, bk.button("Map", ActionId.MAP, value=RunRef(run_id=run.run_id)))
        if command_text is not None:
            buttons.insert(
                0,
                bk.button(
                    "Share in channel",
                    ActionId.SHARE,
                    value=ShareRef(text=command_text),
                    style="primary",
                ),
            )
        blocks.append(bk.actions(*buttons))
        fallback = (
            f"{self.series_title(run)}: {len(run.clusters)} clusters over "
            f"{run.total_items} {item_noun(run)} (run {run.run_id})"
        )
        return bk.finish(blocks, fallback)

    def runs(self, runs: Sequence[RunSummary]) -> Message:
        if not runs:
            return self.notice(
                "No clustering runs in the last 30 days. `/clusters jobs` lists the jobs."
            )
        links = [self.run_link(run) for run in runs]
        body = self.text("runs.md.j2", runs=runs, links=links)
        blocks = [bk.header("Recent clustering runs"), bk.section(body)]
        return bk.finish(blocks, f"{len(runs)} recent clustering runs")

    def cluster(
        self, view: ClusterView, drilldown: Message | None = None, assignment: str = ""
    ) -> Message:
        """A cluster's card; `assignment` says how the run's unsampled items were assigned
        (its held-out agreement), when the alert cycle recorded it."""
        run, cluster = view.run, view.cluster
        metrics = cluster.metrics
        blocks = [
            bk.header(title_text(cluster.title, 150)),
            bk.section(
                self.text(
                    "cluster_detail.md.j2",
                    cluster=cluster,
                    bullets=cluster.bullets,
                    title_link=self.title_link(run.run_id, cluster),
                )
            ),
        ]
        if metrics is not None:
            rendered = self.text(
                "cluster_metrics.md.j2",
                cluster=cluster,
                metrics=metrics,
                share=run.share(cluster),
                evaluations=run.level is Level.EVALUATION,
            )
            parts = [SafeMrkdwn(part) for part in rendered.split("\n")]  # rendered lines
            blocks.append(
                bk.fields(*(md_join("\n", parts[i : i + 2]) for i in range(0, len(parts), 2)))
            )
        blocks.append(bk.context(self.run_context(run), md("{}", assignment) if assignment else ""))
        if drilldown is not None:
            blocks.extend(drilldown.blocks)
        blocks.append(
            bk.actions(
                self.traces_button(run, cluster, ".0"),
                bk.button(
                    "Why?",
                    ActionId.WHY,
                    value=ClusterRef(run_id=run.run_id, cluster_id=cluster.cluster_id),
                ),
                bk.button(
                    "Open in PostHog",
                    ActionId.OPEN,
                    url=self.urls.cluster(run.run_id, cluster.cluster_id),
                ),
            )
        )
        return bk.finish(blocks, f"Cluster: {title_text(cluster.title, 150)}")

    def top(self, ranked: RankedList) -> Message:
        level = f" ({ranked.level} level)" if ranked.level else ""
        if not ranked.entries:
            return self.notice(f"No clusters with {ranked.metric} data{level} in the latest runs.")
        blocks = [bk.header(f"Top clusters by {ranked.metric}{level}")]
        for index, entry in enumerate(ranked.entries):
            blocks.append(
                bk.section(
                    self.cluster_line(entry.run, entry.cluster, rank=f"{index + 1}. "),
                    accessory=self.traces_button(entry.run, entry.cluster, f".{index}"),
                )
            )
        runs = {entry.run.run_id: entry.run for entry in ranked.entries}
        blocks.append(
            bk.context(
                md_join(
                    " · ",
                    (md("{}: {}", self.series_title(r), self.run_link(r)) for r in runs.values()),
                )
            )
        )
        return bk.finish(blocks, f"Top clusters by {ranked.metric}{level}")

    def jobs(self, listing: JobsView | Sequence[ClusteringJob]) -> Message:
        view = listing if isinstance(listing, JobsView) else JobsView(tuple(listing))
        jobs = view.jobs
        blocks = [
            bk.header("Clustering jobs"),
            bk.section(self.text("jobs.md.j2", jobs=jobs, from_runs=view.from_runs)),
        ]
        blocks.append(bk.context(link(self.urls.clusters(), "Clusters in PostHog")))
        return bk.finish(blocks, f"{len(jobs)} clustering jobs")

    def help(self, lines: Sequence[str], problem: str | None = None) -> Message:
        body = self.text("help.md.j2", lines=lines, problem=problem)
        return bk.finish(
            [bk.section(body)], (problem + "\n" if problem else "") + "How to use /clusters"
        )

    def notice(self, message: str) -> Message:
        return bk.finish(
            [bk.section(self.text("error.md.j2", message=message, error_id=None))], message
        )

    def error(self, message: str, error_id: str | None = None) -> Message:
        body = self.text("error.md.j2", message=message, error_id=error_id)
        return bk.finish([bk.section(body)], message)

    def mute_note(self, user: str, title: str, until: datetime) -> Message:
        """Who muted which cluster until when, said in the thread where they clicked."""
        mention = md("<@{}>", user) if USER_ID.fullmatch(user) else user
        note = self.text("mute_note.md.j2", user=mention, title=title, until=until)
        return bk.finish([bk.section(note)], note)

    def lines(self, title: str, lines: Sequence[str]) -> Message:
        """A simple list answer (subscriptions, thresholds, mutes): lines are escaped here."""
        body = md_join("", (md("• {}\n", line) for line in lines))
        return bk.finish([bk.header(title), bk.section(body or "_none_")], title)
