"""Fixtures for the sandbox tests: one LocalPostHog per session, an httpx client for it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.posthog_server import LocalPostHog

API_KEY = "phx_test_key"
PROJECT_ID = 7


@pytest.fixture(scope="session")
def posthog_server() -> Iterator[LocalPostHog]:
    with LocalPostHog(project_id=PROJECT_ID, api_key=API_KEY) as server:
        yield server


@pytest.fixture
def posthog(posthog_server: LocalPostHog) -> LocalPostHog:
    """The shared server, emptied: no events, jobs, faults or recorded requests."""
    posthog_server.reset()
    return posthog_server


@pytest.fixture
def client(posthog_server: LocalPostHog) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=posthog_server.url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    ) as http:
        yield http


def hogql(
    client: httpx.Client,
    query: str,
    values: dict[str, object] | None = None,
    *,
    prefix: str = "projects",
) -> httpx.Response:
    body = {"query": {"kind": "HogQLQuery", "query": query, "values": values or {}}}
    return client.post(f"/api/{prefix}/{PROJECT_ID}/query/", json=body)
