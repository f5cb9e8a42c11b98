"""Renderers fed hostile LLM-written titles and descriptions, 0 to 300 clusters, missing
metrics: every message fits Slack's limits, parses as Block Kit, and no mention or broadcast
(`<!channel>`, `<!here>`, `<@U…>`, …) survives unescaped in mrkdwn or in the fallback text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import assume, example, given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.domain.compare import diff_runs
from bot.domain.models import Cluster, ClusteringRun, ClusterItem, ClusterMetrics, Level
from bot.domain.rules import Thresholds, evaluate_rules
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.changes import ChangeRenderer
from bot.rendering.drilldown import DrilldownRenderer
from bot.rendering.env import make_environment
from bot.rendering.message import Message
from bot.slack.escape import check_limits
from bot.views import ClusterView, ItemDetail, Ranked, RankedList
from tests.support.fuzz import HOSTILE, assert_no_pings, fuzz_settings

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
URLS = PostHogUrls("https://us.posthog.com", 2)

SNIPPETS = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
)
HOSTILE_TEXT = st.lists(SNIPPETS, min_size=1, max_size=6).map("".join)


def long_text(limit: int) -> st.SearchStrategy[str]:
    """Hostile text, sometimes repeated up to `limit` characters (past every Slack limit)."""
    return st.one_of(HOSTILE_TEXT, HOSTILE_TEXT.map(lambda t: ((t or "x") * limit)[:limit]))


MAYBE = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))


def assert_valid(message: Message) -> None:
    assert message.text.strip(), "a message needs a fallback text"
    problems = check_limits(message.blocks, message.text)
    assert not problems, problems
    for parsed in Block.parse_all(message.blocks):
        assert parsed is not None
        parsed.validate_json()
    assert_no_pings(message)


@st.composite
def metrics(draw: st.DrawFn) -> ClusterMetrics | None:
    if draw(st.booleans()):
        return None
    items = draw(st.one_of(st.none(), st.integers(0, 5000)))
    return ClusterMetrics(
        avg_cost=draw(MAYBE),
        avg_latency=draw(MAYBE),
        avg_tokens=draw(MAYBE),
        total_cost=draw(MAYBE),
        error_rate=draw(st.one_of(st.none(), st.floats(0, 1))),
        error_count=draw(st.one_of(st.none(), st.integers(0, 5000))),
        item_count=items,
    )


@st.composite
def runs(
    draw: st.DrawFn, *, max_clusters: int = 300, text_limit: int = 6000
) -> tuple[ClusteringRun, ClusteringRun]:
    """A previous run and its successor: the same items mostly, some clusters new or gone,
    metrics shifted or missing. Titles come from a few hostile texts (fast to generate)."""
    count = draw(st.one_of(st.integers(0, max_clusters), st.just(max_clusters)))
    titles = draw(st.lists(long_text(text_limit), min_size=1, max_size=4))
    descriptions = draw(st.lists(long_text(text_limit), min_size=1, max_size=3))
    level = draw(st.sampled_from(list(Level)))
    job_name = draw(HOSTILE_TEXT)
    noise = draw(st.booleans())
    per_cluster = draw(st.integers(1, 4))
    clusters_now, clusters_before = [], []
    ids = [*range(count), *([-1] if noise else [])]
    for index, cluster_id in enumerate(ids):
        items = tuple(
            ClusterItem(
                item_id=f"i{cluster_id}-{k}",
                trace_id=f"t{cluster_id}-{k}",
                rank=k,
                timestamp=NOW - timedelta(hours=k),
            )
            for k in range(per_cluster)
        )
        cluster = Cluster(
            cluster_id=cluster_id,
            size=draw(st.integers(1, 10_000)) if index < 5 else 10 + index,
            title=titles[index % len(titles)] + f" {cluster_id}",
            description=descriptions[index % len(descriptions)],
            items=items,
            metrics=draw(metrics()) if index < 8 else None,
        )
        shift = index % 7
        if shift != 1:  # gone in the new run
            clusters_now.append(cluster)
        if shift != 2:  # new in the new run
            clusters_before.append(
                cluster.model_copy(update={"metrics": draw(metrics()) if index < 8 else None})
            )
    common = {
        "level": level,
        "job_id": "job-fuzz",
        "job_name": job_name,
        "window_start": NOW - timedelta(days=7),
        "window_end": NOW,
    }
    previous = ClusteringRun(
        run_id=f"2_{level.value}_20261126_001500_job-fuzz",
        total_items=sum(c.size for c in clusters_before),
        timestamp=NOW - timedelta(days=1),
        clusters=tuple(clusters_before),
        **common,
    )
    current = ClusteringRun(
        run_id=f"2_{level.value}_20261127_001500_job-fuzz",
        total_items=sum(c.size for c in clusters_now),
        timestamp=NOW,
        clusters=tuple(clusters_now),
        **common,
    )
    return previous, current


def renderer() -> Renderer:
    return Renderer(make_environment(), URLS, clock=lambda: NOW, charts=True)


@fuzz_settings(40)
@given(runs(), HOSTILE_TEXT)
def test_answers_about_hostile_runs_are_valid_and_never_ping(
    pair: tuple[ClusteringRun, ClusteringRun], command: str
) -> None:
    _previous, run = pair
    r = renderer()
    assert_valid(r.summary(run, command_text=command))
    assert_valid(r.runs([run.summary] * 25))
    ranked = tuple(Ranked(run, c, 0.5) for c in run.clusters[:10])
    assert_valid(r.top(RankedList("cost", run.level.value, ranked)))
    drill = DrilldownRenderer(r, show_content=True)
    for cluster in run.clusters[:2]:
        details = tuple(
            ItemDetail(item, summary_title=cluster.title, model=cluster.description, error="x")
            for item in cluster.representative(5)
        )
        view = ClusterView(run, cluster, details)
        assert_valid(drill.traces(view))
        assert_valid(r.cluster(view, drill.traces(view)))


# Matching scores text similarity for every pair of clusters (bot/domain/compare.py), which is
# slow for hundreds of clusters with kilobytes of text each: smaller runs here keep the suite
# fast; the answers above get the full 300 clusters.
@fuzz_settings(30)
@given(runs(max_clusters=80, text_limit=3500))
def test_alerts_and_comparisons_of_hostile_runs_are_valid_and_never_ping(
    pair: tuple[ClusteringRun, ClusteringRun],
) -> None:
    previous, current = pair
    changes = ChangeRenderer(renderer())
    diff = diff_runs(previous, current)
    result = evaluate_rules(diff, Thresholds())
    assert_valid(changes.compare(diff))
    assert_valid(changes.quiet(diff))
    # Runs that raise no alert are rejected (never silently passed); hypothesis fails the test
    # loudly if too few examples alert.
    assume(result.alerts)
    assert_valid(changes.alert_parent(diff, result.alerts, result.still_error_heavy))
    for alert in result.alerts[:15]:
        assert_valid(changes.alert_detail(alert, diff))


@fuzz_settings(60)
@given(st.lists(HOSTILE_TEXT, max_size=60), HOSTILE_TEXT)
@example(lines=[], problem="\n")  # a blank problem still gets a fallback text
def test_help_notices_and_errors_with_hostile_text(lines: list[str], problem: str) -> None:
    r = renderer()
    assert_valid(r.help(lines, None))
    assert_valid(r.help(lines, problem))
    assert_valid(r.error(problem, "abc123"))
    assert_valid(r.notice(problem))
    assert_valid(r.lines(problem[:100], lines))


def test_top_escapes_the_job_name() -> None:
    """Regression: `top` put the job name (from PostHog) into a mrkdwn context unescaped."""
    run = ClusteringRun(
        run_id="2_trace_20261127_001500_job",
        level=Level.TRACE,
        job_id="job",
        job_name="<!channel> nightly",
        total_items=10,
        timestamp=NOW,
        clusters=(Cluster(cluster_id=0, size=10, title="Refunds"),),
    )
    ranked = RankedList("size", None, (Ranked(run, run.clusters[0], 1.0),))
    assert_no_pings(renderer().top(ranked))
