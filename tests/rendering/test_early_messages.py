"""Early-warning messages: what they say (change, hours, items, baseline run), escaped titles, and
the retracted warning keeping what was posted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.alerts import AlertKind, Severity
from bot.domain.early import Finding
from bot.domain.models import Cluster, ClusteringRun
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.early import EarlyRenderer
from bot.rendering.env import make_environment

END = datetime(2026, 6, 14, 0, 15, tzinfo=UTC)
HOSTILE = "Refunds <!channel> *now*"


def make_run() -> ClusteringRun:
    return ClusteringRun(
        run_id="r1",
        level="trace",
        job_id="j",
        job_name="Default - traces",
        total_items=1500,
        timestamp=END,
        window_start=END - timedelta(days=7),
        window_end=END,
        clusters=(Cluster(cluster_id=3, size=300, title=HOSTILE),),
    )


def renderer() -> EarlyRenderer:
    return EarlyRenderer(Renderer(make_environment(), PostHogUrls("https://ui.test", 3)))


def finding(kind: AlertKind = AlertKind.ERROR_HEAVY) -> Finding:
    return Finding(
        kind, 3, HOSTILE, Severity.CRITICAL, 0.02, 0.5, 208, 12, 1e-6, END + timedelta(hours=9)
    )


def text_of(blocks: list[dict[str, object]]) -> str:
    return str(blocks)


def test_a_warning_says_what_moved_on_how_many_hours_and_items() -> None:
    message = renderer().warning(make_run(), finding(), END + timedelta(hours=14))
    body = text_of(message.blocks)
    assert "Early warning" in body and "Errors 2.0% → 50.0%" in body
    assert "12 new items of the last 5 h" in body and "208 items" in body
    assert "/clusters/r1/3|" in body  # links the cluster in PostHog
    assert "<!channel>" not in body and "<!channel>" not in message.text


def test_a_cost_warning_names_the_part_that_moved() -> None:
    cost = Finding(
        AlertKind.COST_SPIKE,
        3,
        "t",
        Severity.WARNING,
        0.01,
        0.03,
        200,
        9,
        1e-5,
        END,
        "price per token",
    )
    body = text_of(renderer().warning(make_run(), cost, END + timedelta(hours=6)).blocks)
    assert "Cost per item" in body and "carried by price per token" in body


def test_a_retracted_warning_keeps_what_was_posted_and_says_why() -> None:
    posted = renderer().warning(make_run(), finding(), END + timedelta(hours=14))
    later = make_run().model_copy(update={"run_id": "r2", "window_end": END + timedelta(days=1)})
    edited = renderer().retracted(posted.text, posted.blocks, later)
    assert edited.blocks[: len(posted.blocks)] == posted.blocks
    assert "ruled out by" in text_of(edited.blocks[-1:]) and "Jun 15" in text_of(edited.blocks)
    note = text_of(renderer().settled(later, "retracted", items=40).blocks)
    assert "Retracted" in note and "its 40 items of this cluster" in note
    assert "Confirmed" in text_of(renderer().settled(later, "confirmed", alert="x").blocks)


def test_a_warning_the_run_could_not_judge_says_so_and_is_not_called_wrong() -> None:
    posted = renderer().warning(make_run(), finding(), END + timedelta(hours=14))
    later = make_run().model_copy(update={"run_id": "r2", "window_end": END + timedelta(days=1)})
    edited = renderer().edited(posted.text, posted.blocks, later, "undecided")
    assert edited.blocks[: len(posted.blocks)] == posted.blocks
    last = text_of(edited.blocks[-1:])
    assert "Not confirmed by" in last and "not ruled out" in last and "Retracted" not in last
    assert edited.text.startswith("Not confirmed: ")
    note = text_of(renderer().settled(later, "undecided", items=6).blocks)
    assert "not ruled out" in note and "its 6 items of this cluster" in note


def test_a_confirmed_warning_keeps_what_was_posted_and_points_to_its_thread() -> None:
    posted = renderer().warning(make_run(), finding(), END + timedelta(hours=14))
    later = make_run().model_copy(update={"run_id": "r2", "window_end": END + timedelta(days=1)})
    edited = renderer().confirmed(posted.text, posted.blocks, later)
    assert edited.blocks[: len(posted.blocks)] == posted.blocks
    last = text_of(edited.blocks[-1:])
    assert "Confirmed by" in last and "followed in this thread" in last
    assert edited.text.startswith("Confirmed: ")
