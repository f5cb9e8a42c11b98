"""Shared fixtures: stamina without sleeping, and the local stand-ins on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import stamina

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    """Retries still happen (up to each caller's own attempts), without backoff sleeps."""
    stamina.set_testing(True, attempts=10, cap=True)
    yield
    stamina.set_testing(False)
