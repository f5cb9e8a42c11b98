"""Evaluation runs through the real Bolt app: signed `/clusters` commands over level
`evaluation`, and the alert cycle on a run whose generations started failing their judge."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from standins.slack.server import Message
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import Change, Plant, SeriesSpec, World
from tests.support import worlds
from tests.support.alerting import STRONG
from tests.support.blocks import all_text
from tests.support.clock import NOW

Ask = Callable[..., Message]
EVALUATIONS = "Default - evaluations"


@pytest.fixture(scope="module")
def world() -> World:
    """Overrides the package's world: one evaluation series whose newest run holds failing
    generations (the judge fails them) from just after the previous run. A whole-run
    comparison sees about a seventh of such a step (every evaluation carries the window end
    as its timestamp, so there is no fresh slice): seed and size are ones where it shows."""
    return worlds.generate(
        seed=2,
        series=[SeriesSpec(level="evaluation", job_name=EVALUATIONS)],
        runs=3,
        items_per_run=1000,
        now=NOW,
        planted={(EVALUATIONS, 2): Plant(Change.ERROR_HEAVY, scale=STRONG)},
        change_start=(0.0, 0.1),
    )


def reads_as_evaluations(text: str) -> None:
    assert "evaluations" in text
    assert " items" not in text, text


def test_latest_evaluation_shows_pass_rates_and_the_judge(ask: Ask, world: World) -> None:
    answer = ask("latest evaluation")
    text = all_text(answer)
    newest = world.runs_of(EVALUATIONS)[-1]

    assert "Evaluation clusters" in answer.blocks[0]["text"]["text"]
    assert newest.run_id in text
    assert "% pass" in text and "% n/a" in text and "/evaluation" in text
    assert "mostly " in text  # the dominant evaluator
    reads_as_evaluations(text)


def test_show_an_evaluation_cluster(ask: Ask, world: World) -> None:
    text = all_text(ask("show 0"))  # the newest run of any series: the evaluation run

    assert "*Pass rate*" in text and "*Evaluator*" in text and "*Judge cost*" in text
    reads_as_evaluations(text)


def test_compare_evaluation_runs_shows_pass_rate_moves(ask: Ask) -> None:
    text = all_text(ask("compare evaluation"))

    assert "pass rate " in text and " → " in text


def test_the_alert_cycle_tells_of_the_falling_pass_rate(stack: Stack, world: World) -> None:
    report = stack.services.alerts.run_cycle()

    newest = world.runs_of(EVALUATIONS)[-1]
    assert report.runs_processed == [newest.run_id]
    (parent,) = stack.slack.messages(ALERT_CHANNEL)
    assert "Evaluation pass rate" in all_text(parent)
    details = [all_text(m) for m in stack.slack.thread(ALERT_CHANNEL, parent.ts)]
    drop = next(t for t in details if "Evaluation pass rate" in t)
    assert "two-proportion test" in drop and "Evaluations" in drop  # the drilldown button
    reads_as_evaluations(drop)
