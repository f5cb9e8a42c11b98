"""Every message kind, rendered from factory data: valid Block Kit, within limits, escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block

from bot.domain.compare import diff_runs
from bot.domain.models import ClusteringRun
from bot.domain.rules import Thresholds, evaluate_rules
from bot.posthog.schemas import ClusteringJob, LLMTrace
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.changes import ChangeRenderer
from bot.rendering.drilldown import DrilldownRenderer
from bot.rendering.env import make_environment
from bot.rendering.message import Message
from bot.services.clusters import trace_view
from bot.slack.escape import check_limits
from bot.slack.ids import ClusterRef, MuteRef, RunRef, ShareRef, TraceRef
from bot.views import ClusterView, ItemDetail, Ranked, RankedList
from tests.support.blocks import mrkdwn_texts
from tests.support.factories import ids, make_cluster, make_metrics, make_run

HOSTILE = "<!channel> & <http://evil.example|click me> *bold* `code` ```fence``` \n<@U123>"
URLS = PostHogUrls("https://us.posthog.com", 2)
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(make_environment(), URLS, clock=lambda: NOW)


def big_run(
    clusters: int = 200, title: str = HOSTILE, run_id: str = "2_trace_20261127_001500_j"
) -> ClusteringRun:
    return make_run(
        *[
            make_cluster(
                i,
                title=f"{title} {i}",
                description=f"- {title}\n- second point",
                item_ids=ids(f"c{i}-", 6),
                metrics=make_metrics(),
            )
            for i in range(clusters)
        ]
        + [make_cluster(-1, item_ids=ids("n", 5))],
        run_id=run_id,
    )


def assert_valid(message: Message) -> None:
    """Parsed by slack_sdk's models (which validate), within our limits, and never a ping."""
    assert message.text.strip(), "every message has a fallback text"
    assert not check_limits(message.blocks, message.text), check_limits(
        message.blocks, message.text
    )
    for parsed in Block.parse_all(message.blocks):
        assert parsed is not None
        parsed.validate_json()
    rendered = " ".join(mrkdwn_texts(message.blocks)) + message.text
    assert "<!channel>" not in rendered and "<@U123>" not in rendered
    assert "<http://evil.example|" not in rendered


def test_summary_of_a_200_cluster_run(renderer: Renderer) -> None:
    message = renderer.summary(big_run(), command_text="latest")
    assert_valid(message)
    assert "smaller clusters" in str(message.blocks)
    assert "&lt;!channel&gt;" in str(message.blocks)


def test_cluster_view_with_drilldown(renderer: Renderer) -> None:
    run = big_run(3)
    cluster = run.clusters[0]
    details = tuple(
        ItemDetail(
            item,
            summary_title=HOSTILE,
            model="gpt-5<script>",
            cost=0.01,
            latency=1.5,
            tokens=1200,
            error=HOSTILE if i % 2 else None,
        )
        for i, item in enumerate(cluster.representative(5))
    )
    view = ClusterView(run, cluster, details)
    drill = DrilldownRenderer(renderer, show_content=True)
    assert_valid(drill.traces(view))
    assert_valid(renderer.cluster(view, drill.traces(view)))


def test_runs_top_jobs_help_errors(renderer: Renderer) -> None:
    run = big_run(30)
    assert_valid(renderer.runs([run.summary] * 20))
    assert_valid(renderer.runs([]))
    ranked = RankedList("cost", "trace", tuple(Ranked(run, c, 0.1) for c in run.clusters[:10]))
    assert_valid(renderer.top(ranked))
    assert_valid(renderer.top(RankedList("cost", None, ())))
    jobs = [ClusteringJob(id=f"j{i}", name=HOSTILE[:90], analysis_level="trace") for i in range(60)]
    assert_valid(renderer.jobs(jobs))
    assert_valid(
        renderer.help(["`/clusters latest` — x"] * 40, problem=f"Unknown command: `{HOSTILE}`")
    )
    assert_valid(renderer.error(HOSTILE, "abc123"))
    assert_valid(renderer.lines(HOSTILE[:100], [HOSTILE] * 80))


def test_trace_detail_with_and_without_content(renderer: Renderer) -> None:
    events = [
        {
            "id": f"e{i}",
            "event": "$ai_generation" if i % 2 else "$ai_span",
            "createdAt": "2026-11-26T10:00:00Z",
            "properties": {
                "$ai_model": "gpt-4.1",
                "$ai_latency": 1.2,
                "$ai_total_cost_usd": 0.002,
                "$ai_is_error": i == 3,
                "$ai_error": HOSTILE,
                "$ai_span_name": HOSTILE,
                "$ai_input": [{"role": "user", "content": HOSTILE * 100}],
                "$ai_output_choices": [{"role": "assistant", "content": "```" * 50}],
            },
        }
        for i in range(40)
    ]
    trace = LLMTrace.model_validate(
        {
            "id": "t-1",
            "createdAt": "2026-11-26T10:00:00Z",
            "traceName": HOSTILE,
            "events": events,
            "totalCost": 0.08,
        }
    )
    view = trace_view(trace)
    assert view.hidden_steps == 25
    opted_in = DrilldownRenderer(renderer, show_content=True)
    shown = opted_in.trace(view, private=True)
    in_thread = opted_in.trace(view)
    content = opted_in.trace_content(view)
    hidden = DrilldownRenderer(renderer, show_content=False).trace(view, private=True)
    for message in (shown, in_thread, hidden):
        assert_valid(message)
    assert content is not None
    assert_valid(content)
    assert "First input" in str(shown.blocks) and "First input" in str(content.blocks)
    for public in (in_thread, hidden):
        assert "First input" not in str(public.blocks) and "Final output" not in str(public.blocks)
    assert "sent only to you" in str(in_thread.blocks)
    assert "DRILLDOWN_CONTENT=none" in str(hidden.blocks)
    assert DrilldownRenderer(renderer, show_content=False).trace_content(view) is None


@pytest.mark.parametrize("show_content", [False, True])
def test_trace_content_and_errors_only_in_private_messages(
    renderer: Renderer, show_content: bool
) -> None:
    trace = LLMTrace.model_validate(
        {
            "id": "t-9",
            "events": [
                {
                    "id": "e",
                    "event": "$ai_generation",
                    "properties": {
                        "$ai_is_error": True,
                        "$ai_error": "ERRTEXT-42",
                        "$ai_input": [{"role": "user", "content": "PROMPT-42"}],
                        "$ai_output_choices": [{"role": "assistant", "content": "OUTPUT-42"}],
                    },
                }
            ],
        }
    )
    view = trace_view(trace)
    secrets = ["ERRTEXT-42", "PROMPT-42", "OUTPUT-42"]
    drill = DrilldownRenderer(renderer, show_content=show_content)
    public = drill.trace(view)
    private = drill.trace(view, private=True)
    content = drill.trace_content(view)
    expected = secrets if show_content else []
    assert [s for s in secrets if s in str(public.blocks) + public.text] == []
    assert [s for s in secrets if s in str(private.blocks)] == expected
    assert [s for s in secrets if s in str(content.blocks if content else "")] == expected


def test_alerts_and_compare(renderer: Renderer) -> None:
    previous = big_run(8, run_id="2_trace_20261126_001500_j")
    current = make_run(
        *[
            make_cluster(
                c.cluster_id,
                title=c.title,
                item_ids=[i.item_id for i in c.items],
                metrics=make_metrics(avg_cost=0.05, error_rate=0.6, error_count=60),
            )
            for c in previous.clusters
            if not c.is_noise
        ]
        + [make_cluster(99, title=HOSTILE, item_ids=ids("fresh", 40), metrics=make_metrics())],
        run_id="2_trace_20261127_001500_j",
        timestamp=datetime(2026, 11, 27, 0, 30, tzinfo=UTC),
    )
    diff = diff_runs(previous, current)
    result = evaluate_rules(diff, Thresholds())
    assert result.alerts
    changes = ChangeRenderer(renderer)
    assert_valid(changes.alert_parent(diff, result.alerts, result.still_error_heavy))
    for alert in result.alerts:
        assert_valid(changes.alert_detail(alert, diff))
    assert_valid(changes.compare(diff))
    assert_valid(changes.quiet(diff))

    # An alert that confirmed an early warning is listed, marked; its details are elsewhere.
    first = result.alerts[0]
    marked = changes.alert_parent(diff, result.alerts, warned={first.key})
    assert_valid(marked)
    lines = marked.blocks[2]["text"]["text"].split("\n")  # type: ignore[index]
    assert len(lines) > 1  # the lines shown (the section holds what fits)
    assert ["first warned early" in line for line in lines] == [True] + [False] * (len(lines) - 1)
    assert "in the thread;" in str(marked.blocks[-2])
    alone = changes.alert_parent(diff, [first], warned={first.key})
    assert "Details and drilldowns" not in str(alone.blocks)
    assert "followed in its early warning's thread" in str(alone.blocks[-2])


def test_button_payloads_stay_small() -> None:
    longest_id = "2_generation_20260614_004503_" + "f" * 270
    for payload in (
        RunRef(run_id=longest_id),
        ClusterRef(run_id=longest_id, cluster_id=-1),
        TraceRef(trace_id="t" * 300, at=NOW, event="e" * 100),
        MuteRef(run_id=longest_id, cluster_id=123456, hours=720),
        ShareRef(text="x" * 500),
    ):
        assert len(payload.model_dump_json()) < 2000


def test_templates_dir_overrides_a_builtin_template(tmp_path: Path) -> None:
    (tmp_path / "error.md.j2").write_text("custom: {{ message }}")
    custom = Renderer(make_environment(tmp_path), URLS, clock=lambda: NOW)
    message = custom.error("<b>")
    assert message.blocks[0]["text"]["text"] == "custom: &lt;b&gt;"


def test_a_missing_template_variable_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "error.md.j2").write_text("{{ nope }}")
    custom = Renderer(make_environment(tmp_path), URLS, clock=lambda: NOW)
    with pytest.raises(Exception, match="nope"):
        custom.error("x")


def test_drilldown_lines_keep_their_line_breaks(renderer: Renderer) -> None:
    """Jinja's trim_blocks eats a newline after a block tag; the templates must not lose one."""
    run = big_run(1, title="Refunds")
    item = run.clusters[0].representative(1)[0]
    detail = ItemDetail(item, model="gpt", cost=0.01, latency=1.0, tokens=10, error="boom")
    text = DrilldownRenderer(renderer, show_content=True).traces(
        ClusterView(run, run.clusters[0], (detail,)), private=True
    )
    line = text.blocks[1]["text"]["text"]
    assert line.split("\n")[1].startswith("`gpt`") and line.endswith("> boom")
    trace = LLMTrace.model_validate(
        {
            "id": "t",
            "events": [
                {
                    "id": "e",
                    "event": "$ai_generation",
                    "properties": {"$ai_model": "m", "$ai_is_error": True, "$ai_error": "bad"},
                }
            ],
        }
    )
    steps = DrilldownRenderer(renderer, show_content=True).trace(trace_view(trace), private=True)
    assert steps.blocks[1]["text"]["text"].split("\n")[1] == ":warning: bad"
