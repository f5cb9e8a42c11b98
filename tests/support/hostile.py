"""A world full of hostile text for tests/rendering/test_hostile_text.py: runs, clusters,
alerts, causes, traces and episodes whose every untrusted field (titles, descriptions, job
names, trace and step names, models, error texts, factor values) carries Slack control
sequences, short and past every Slack limit; and a URL builder that remembers what it built."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.alerts import Alert, AlertKind, Family, Severity
from bot.domain.causes import Dimension, Factor
from bot.domain.compare import Merge, RunDiff, Split, diff_runs
from bot.domain.lifecycle import Episode, Phase, Update
from bot.domain.models import Cluster, ClusteringRun, Level
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.causes import CauseRenderer
from bot.rendering.changes import ChangeRenderer
from bot.rendering.drilldown import DrilldownRenderer
from bot.rendering.env import make_environment
from bot.views import (
    ClusterView,
    ItemDetail,
    TraceStep,
    TraceTarget,
    TraceView,
)
from tests.support.clock import NOW
from tests.support.factories import make_item, make_metrics

PINGS = "<!channel> <!here|x> <@U0BOSS> <#C0SECRET> <https://evil.example|Open in PostHog>"
HOSTILE = f"{PINGS} & *b* _i_ ~s~ `c` ```f```"
LONG = " ".join([HOSTILE] * 60)  # about 6,000 characters: past every Slack text limit
SHORT = "<!channel> <@U0BOSS>&"  # for ids, which button payloads keep short
ESCAPED = "&lt;!channel&gt;"  # what a hostile text looks like escaped once
CHANNEL = "C0HOME"  # the channels and users the bot itself mentions
ADMIN = "U0ADMIN"


class RecordingUrls(PostHogUrls):
    """The real URL builder, remembering every URL it built: the only links allowed."""

    def __init__(self) -> None:
        super().__init__("https://us.posthog.com", 2)
        self.built: set[str] = set()

    def _keep(self, url: str) -> str:
        self.built.add(url)
        return url

    def clusters(self) -> str:
        return self._keep(super().clusters())

    def run(self, run_id: str) -> str:
        return self._keep(super().run(run_id))

    def cluster(self, run_id: str, cluster_id: int) -> str:
        return self._keep(super().cluster(run_id, cluster_id))

    def trace(
        self, trace_id: str, timestamp: datetime | None = None, event_id: str | None = None
    ) -> str:
        return self._keep(super().trace(trace_id, timestamp, event_id))

    def traces(self) -> str:
        return self._keep(super().traces())


# -- a hostile world ----------------------------------------------------------------------


def hostile_run(level: Level, day: int, titles: Iterable[str]) -> ClusteringRun:
    clusters = tuple(
        Cluster(
            cluster_id=index if index < 3 else -1,
            size=100 - index * 10,
            title=title,
            description=f"- {HOSTILE}\n- {LONG}",
            items=tuple(
                make_item(f"i{index}-{k}", rank=k, trace_id=SHORT + str(k), timestamp=NOW)
                for k in range(3)
            ),
            metrics=make_metrics(
                dominant_evaluation_name=HOSTILE, dominant_runtime=HOSTILE, pass_rate=0.5
            ),
        )
        for index, title in enumerate(titles)
    )
    return ClusteringRun(
        run_id=f"2_{level.value}_202611{day:02d}_001500_job",
        level=level,
        job_id="job",
        job_name=HOSTILE,
        total_items=sum(c.size for c in clusters),
        timestamp=NOW - timedelta(days=27 - day),
        window_start=NOW - timedelta(days=34 - day),
        window_end=NOW - timedelta(days=27 - day),
        clusters=clusters,
    )


@dataclass
class World:
    urls: RecordingUrls
    renderer: Renderer
    changes: ChangeRenderer
    causes: CauseRenderer
    drilldown: DrilldownRenderer
    previous: ClusteringRun
    run: ClusteringRun
    diff: RunDiff
    alerts: list[Alert]
    factors: list[Factor]
    templates: set[str] = field(default_factory=set)

    @property
    def cluster(self) -> Cluster:
        return self.run.clusters[0]

    def cluster_view(self) -> ClusterView:
        items = tuple(
            ItemDetail(
                item,
                target=TraceTarget(item.trace_id, NOW, SHORT) if k else None,
                summary_title=HOSTILE if k < 2 else LONG,
                model=HOSTILE,
                cost=0.1,
                latency=1.0,
                tokens=100,
                error=HOSTILE,
            )
            for k, item in enumerate(self.cluster.items)
        )
        return ClusterView(self.run, self.cluster, items)

    def trace_view(self) -> TraceView:
        steps = tuple(
            TraceStep(kind, HOSTILE, NOW, model=HOSTILE, latency=1.0, cost=0.1, error=HOSTILE)
            for kind in ("$ai_generation", "$ai_span", "$ai_other")
        )
        return TraceView(
            SHORT,
            LONG,
            NOW,
            1.0,
            2.0,
            300,
            3,
            steps,
            first_input=LONG,
            final_output=HOSTILE,
            event=SHORT,
            hidden_steps=4,
        )

    def episode(self, phase: Phase) -> Update:
        episode = Episode(
            family=Family.ERRORS,
            kind=AlertKind.ERROR_HEAVY,
            direction=1,
            cluster_id=0,
            run_id=self.run.run_id,
            fired_run_id=self.previous.run_id,
            parent_key="parent",
            alert_key=self.alerts[0].key,
            title=HOSTILE,
            baseline=0.02,
            value=0.3,
            runs=2,
        )
        return Update(phase=phase, episode=episode)


def make_world(level: Level = Level.TRACE) -> World:
    urls = RecordingUrls()
    env = make_environment()
    world_templates: set[str] = set()
    get_template = env.get_template

    def recording_get_template(name: Any, *args: Any, **kwargs: Any) -> Any:
        world_templates.add(str(name))
        return get_template(name, *args, **kwargs)

    env.get_template = recording_get_template  # type: ignore[method-assign]
    renderer = Renderer(env, urls, clock=lambda: NOW, charts=True)
    titles = [HOSTILE, LONG, f"{HOSTILE} 2", "Outliers " + HOSTILE]
    previous = hostile_run(level, 26, titles)
    run = hostile_run(level, 27, titles)
    diff = diff_runs(previous, run)
    diff = diff.model_copy(
        update={
            "splits": (
                Split(previous=previous.clusters[0], kept=run.clusters[0], part=run.clusters[1]),
            ),
            "merges": (
                Merge(
                    absorbed=previous.clusters[1], kept=previous.clusters[2], into=run.clusters[2]
                ),
            ),
        }
    )
    alerts = [
        Alert(
            kind=kind,
            severity=severity,
            cluster_id=None if kind is AlertKind.VANISHED_CLUSTER else 0,
            previous_cluster_id=0,
            title=HOSTILE,
            current_run_id=run.run_id,
            previous_run_id=previous.run_id,
            before=0.1,
            after=0.3,
            items_before=10,
            items_after=12,
            p_value=0.001,
            match_basis="shared items",
            test="fisher",
            fresh=kind is AlertKind.COST_SPIKE,
        )
        for kind, severity in zip(
            AlertKind, [*Severity, *Severity, *Severity, *Severity], strict=False
        )
    ]
    factors = [
        Factor(
            dimension=dimension,
            value=HOSTILE,
            before=0.1,
            after=0.9,
            explains=0.9,
            p_value=0.001,
            trace_id=HOSTILE if index % 2 else "",
            count=3,
            total=4,
        )
        for index, dimension in enumerate(Dimension)
    ]
    world = World(
        urls=urls,
        renderer=renderer,
        changes=ChangeRenderer(renderer),
        causes=CauseRenderer(renderer),
        drilldown=DrilldownRenderer(renderer, show_content=True),
        previous=previous,
        run=run,
        diff=diff,
        alerts=alerts,
        factors=factors,
    )
    world.templates = world_templates
    return world
