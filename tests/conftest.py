"""Shared fixtures: stamina without sleeping, and the local stand-ins on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

from tests.support import clock  # noqa: F401  (fixes NOW for every worker, see its docstring)
from tests.support.postgres import postgres_schema


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    """Retries still happen (up to each caller's own attempts), without backoff sleeps."""
    stamina.set_testing(True, attempts=10, cap=True)
    yield
    stamina.set_testing(False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with postgres_schema() as url:
        yield url
