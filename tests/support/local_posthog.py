"""The sandbox tests' local PostHog: its key and project, HogQL over HTTP, and event factories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

API_KEY = "phx_test_key"
PROJECT_ID = 7
T0 = datetime(2026, 6, 12, 15, 30, 11, 120000, tzinfo=UTC)


def gen_event(n: int, **props: object) -> dict[str, object]:
    return {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "event": "$ai_generation",
        "timestamp": T0 + timedelta(seconds=n),
        "distinct_id": f"user_{n % 2}",
        "properties": {"$ai_model": "gpt-4.1-mini", "$ai_total_cost_usd": 0.001 * n, **props},
    }


def hogql(
    client: httpx.Client,
    query: str,
    values: dict[str, object] | None = None,
    *,
    prefix: str = "projects",
) -> httpx.Response:
    body = {"query": {"kind": "HogQLQuery", "query": query, "values": values or {}}}
    return client.post(f"/api/{prefix}/{PROJECT_ID}/query/", json=body)
