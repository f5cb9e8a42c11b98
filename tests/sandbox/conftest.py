"""Fixtures for the sandbox tests: one LocalPostHog per session, an httpx client for it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from standins.posthog.server import LocalPostHog
from tests.support.local_posthog import API_KEY, PROJECT_ID


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
