"""Evaluation items lead to the trace and generation they judged, never to their own uuid
(issue 13 item 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest

from bot.domain.models import Level
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.drilldown import DrilldownRenderer
from bot.rendering.env import make_environment
from bot.services.clusters import ClustersService
from standins.posthog.server import LocalPostHog
from tests.support.blocks import mrkdwn_texts
from tests.support.factories import make_cluster, make_run

END = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
E1, E2, E3 = (f"0190aaaa-0000-7000-8000-00000000000{n}" for n in (1, 2, 3))


def evaluation(uuid: str, hours_before: int, **props: object) -> dict[str, object]:
    return {
        "uuid": uuid,
        "event": "$ai_evaluation",
        "timestamp": END - timedelta(hours=hours_before),
        "distinct_id": "evaluator",
        "properties": {"$ai_evaluation_name": "helpfulness", **props},
    }


@pytest.fixture
def posthog() -> Iterator[LocalPostHog]:
    with LocalPostHog(project_id=9, api_key="phx_eval") as server:
        server.insert_events(
            [
                evaluation(
                    E1,
                    30,
                    **{
                        "$ai_trace_id": "trace-one",
                        "$ai_target_event_id": "gen-one",
                        "$ai_evaluation_result": "fail",
                    },
                ),
                evaluation(E2, 20, **{"$ai_evaluation_result": "pass"}),  # no trace known
                evaluation(E3, 10, **{"$ai_trace_id": "trace-three"}),
            ]
        )
        yield server


def test_evaluations_link_to_their_trace_and_generation_in_one_query(
    posthog: LocalPostHog,
) -> None:
    # PostHog keys evaluation items by the evaluation uuid and falls back to it as trace_id.
    run = make_run(
        make_cluster(0, item_ids=(E1, E2, E3)),
        run_id="9_evaluation_20261127_060000_job-e",
        level=Level.EVALUATION,
        window_start=END - timedelta(days=7),
        window_end=END,
    )
    with httpx.Client(
        base_url=posthog.url, headers={"Authorization": "Bearer phx_eval"}, timeout=30
    ) as http:
        client = PostHogClient(http, 9, budget=QueryBudget(100))
        service = ClustersService(SimpleNamespace(get=lambda _: run), client)  # type: ignore[arg-type]
        view = service.cluster_items(run.run_id, 0)
    assert len(posthog.hogql_log) == 1
    urls = PostHogUrls("https://us.posthog.com", 9)
    message = DrilldownRenderer(Renderer(make_environment(), urls), show_content=False).traces(view)
    text = " ".join(mrkdwn_texts(message.blocks))
    assert "3 most representative evaluations" in text
    assert "/traces/trace-one?tab=summary&event=gen-one&timestamp=2026-11-26T00" in text
    assert "/traces/trace-three?tab=summary&timestamp=2026-11-26T20" in text
    assert "helpfulness · fail" in text
    assert "Evaluation without a trace" in text
    for uuid in (E1, E2, E3):
        assert f"/traces/{uuid}" not in text
    buttons = [
        json.loads(element["value"])
        for block in message.blocks
        for element in [block.get("accessory") or {}]
        if element.get("type") == "button"
    ]
    assert [(b["trace_id"], b.get("event")) for b in buttons] == [
        ("trace-one", "gen-one"),
        ("trace-three", None),
    ]
