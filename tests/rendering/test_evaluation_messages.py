"""Evaluation runs read as evaluations: pass rate, n/a rate, the evaluator and the judge's cost
wherever one of their clusters is shown, and their alerts in the same words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.compare import RunDiff, diff_runs
from bot.domain.models import ClusteringRun, ClusterMetrics, Level
from bot.domain.rules import AlertKind, Thresholds, evaluate_rules
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.changes import ChangeRenderer
from bot.rendering.env import make_environment
from bot.rendering.message import Message
from bot.views import ClusterView, Ranked, RankedList
from tests.support.blocks import mrkdwn_texts
from tests.support.factories import ids, make_cluster, make_run

URLS = PostHogUrls("https://us.posthog.com", 2)
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def eval_metrics(pass_rate: float, *, judge_cost: float = 0.0021) -> ClusterMetrics:
    """Metrics as PostHog attaches them to an evaluation cluster (the judge call's numbers)."""
    return ClusterMetrics(
        avg_cost=judge_cost,
        avg_latency=1.4,
        avg_tokens=900.0,
        total_cost=judge_cost * 100,
        error_rate=0.0,
        error_count=0,
        item_count=100,
        pass_rate=pass_rate,
        na_rate=0.05,
        dominant_evaluation_name="Hallucination check",
        dominant_runtime="llm_judge",
        avg_judge_cost=judge_cost,
    )


def eval_run(run_id: str, pass_rates: tuple[float, float], day: int) -> ClusteringRun:
    return make_run(
        make_cluster(
            0,
            title="Refund answers",
            item_ids=ids("r", 40),
            size=100,
            metrics=eval_metrics(pass_rates[0]),
        ),
        make_cluster(
            1,
            title="Greetings",
            item_ids=ids("g", 40),
            size=100,
            metrics=eval_metrics(pass_rates[1]),
        ),
        run_id=run_id,
        level=Level.EVALUATION,
        job_name="Default - evaluations",
        timestamp=datetime(2026, 11, day, 6, 15, tzinfo=UTC),
        window_end=datetime(2026, 11, day, 6, 15, tzinfo=UTC),
    )


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(make_environment(), URLS, clock=lambda: NOW)


@pytest.fixture
def diff() -> RunDiff:
    # "Refund answers" passes 80 % then 40 %: its pass rate drops and it gathers the failures.
    previous = eval_run("2_evaluation_20261126_061500_j", (0.8, 0.8), 26)
    current = eval_run("2_evaluation_20261127_061500_j", (0.4, 0.8), 27)
    return diff_runs(previous, current)


def text_of(message: Message) -> str:
    return "\n".join(mrkdwn_texts(message.blocks)) + "\n" + message.text


def buttons(message: Message) -> list[str]:
    return [
        element["text"]["text"]
        for block in message.blocks
        if block["type"] in ("actions", "section")
        for element in (block.get("elements") or [block.get("accessory") or {}])
        if isinstance(element, dict) and element.get("type") == "button"
    ]


def assert_reads_as_evaluations(text: str) -> None:
    assert "evaluations" in text
    assert " items" not in text, text


def test_summary_line_of_an_evaluation_cluster(renderer: Renderer, diff: RunDiff) -> None:
    message = renderer.summary(diff.current)
    text = text_of(message)

    assert "100 evaluations · 40.0% pass · 5.0% n/a · mostly Hallucination check" in text
    assert "judge $0.0021/evaluation" in text
    assert "errors" not in text  # a judge's error rate is not what an evaluation cluster is about
    assert_reads_as_evaluations(text)
    assert set(buttons(message)) == {"Evaluations", "Open in PostHog"}


def test_cluster_detail_of_an_evaluation_cluster(renderer: Renderer, diff: RunDiff) -> None:
    cluster = diff.current.clusters[0]
    text = text_of(renderer.cluster(ClusterView(diff.current, cluster)))

    assert "*Pass rate*\n40.0% of verdicts · 5.0% n/a (no verdict)" in text
    assert "*Evaluator*\nmostly Hallucination check (llm_judge)" in text
    assert "*Judge cost*\n$0.0021/evaluation · total $0.21" in text
    assert "*Share*\n50.0% · 100 evaluations" in text
    assert_reads_as_evaluations(text)


def test_top_lines_of_evaluation_clusters(renderer: Renderer, diff: RunDiff) -> None:
    run = diff.current
    ranked = RankedList("cost", "evaluation", tuple(Ranked(run, c, 0.0021) for c in run.clusters))
    text = text_of(renderer.top(ranked))

    assert "40.0% pass" in text and "80.0% pass" in text
    assert_reads_as_evaluations(text)


def test_compare_lines_show_the_pass_rate_move(renderer: Renderer, diff: RunDiff) -> None:
    text = text_of(ChangeRenderer(renderer).compare(diff))

    assert "pass rate 80.0% → 40.0%" in text
    assert "pass rate 80.0% → 80.0%" in text


def test_alerts_of_an_evaluation_run_speak_of_evaluations(
    renderer: Renderer, diff: RunDiff
) -> None:
    result = evaluate_rules(diff, Thresholds())
    by_kind = {a.kind: a for a in result.alerts}
    assert {AlertKind.PASS_RATE_DROP, AlertKind.FAIL_SHARE_GROWTH} <= set(by_kind)
    changes = ChangeRenderer(renderer)

    parent = text_of(changes.alert_parent(diff, result.alerts))
    drop = changes.alert_detail(by_kind[AlertKind.PASS_RATE_DROP], diff)
    grown = text_of(changes.alert_detail(by_kind[AlertKind.FAIL_SHARE_GROWTH], diff))

    assert "Evaluation pass rate 80.0% → 40.0%" in parent
    # Refund answers: 19 of the run's 38 failures (of 95 verdicts each), then 57 of 76
    assert "Share of failing evaluations 50.0% → 75.0% (+25.0 pts)" in parent
    assert "evaluations: 100 → 100" in text_of(drop)
    assert "failing evaluations in the run: 38 → 76" in grown
    assert_reads_as_evaluations(text_of(drop))
    assert "Evaluations" in buttons(drop)


def test_a_trace_run_still_reads_as_items(renderer: Renderer) -> None:
    run = make_run(make_cluster(0, item_ids=ids("t", 4), metrics=ClusterMetrics(avg_cost=0.01)))
    text = text_of(renderer.summary(run))

    assert "4 items" in text and "evaluations" not in text and "pass" not in text


def test_an_evaluation_cluster_without_verdict_metrics_says_so(renderer: Renderer) -> None:
    metrics = ClusterMetrics(avg_cost=0.003, item_count=40)  # PostHog sent no eval-only fields
    run = make_run(
        make_cluster(0, item_ids=ids("e", 40), metrics=metrics),
        run_id="2_evaluation_20261127_061500_j",
        level=Level.EVALUATION,
    )

    line = text_of(renderer.summary(run))
    detail = text_of(renderer.cluster(ClusterView(run, run.clusters[0])))

    assert "40 evaluations · no pass rate · judge $0.0030/evaluation" in line
    assert "*Pass rate*\nnot known\n*Evaluator*\nn/a\n*Judge cost*\n$0.0030/evaluation" in detail
    assert "n/a n/a" not in line + detail
