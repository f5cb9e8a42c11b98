"""Shared fixtures: stamina without sleeping, and the local stand-ins on free ports; and which
tests form the calendar tier."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest
import stamina

from tests.support import clock  # noqa: F401  (fixes NOW for every worker, see its docstring)
from tests.support.postgres import postgres_schema

# Charts are drawn where a test is about them: tests/charts and the end-to-end picture tests set
# them on, and the sandbox runs as a user sees it (tests/support/sandbox_process.py). Elsewhere
# drawing a trend and a map for every alert (about 0.1 s of CPU each) would be a tenth of the
# suite's CPU spent on pictures nobody looks at.
os.environ.setdefault("CHARTS", "off")

# The calendar tier (`make test-calendar`, `-m calendar`): tests whose data and code under test
# both follow the clock (look-back windows, daily runs, the scheduler). CI runs them again with
# the clock moved far ahead, so a test that holds a date of its own fails there. A test can
# also join with `@pytest.mark.calendar`, as the sandbox's first cycle and next run do (its
# restart and its page's controls follow no date; replicas run the cycle test_cycle covers).
CALENDAR = (
    "tests/alerts/test_cycle.py",
    "tests/alerts/test_alert_service_in_process.py",
    "tests/alerts/test_scheduler_and_cli.py",
    "tests/app/test_settings_commands.py",
    "tests/ops/test_shutdown.py",
    "tests/services/test_runs.py",
    "tests/posthog/test_client.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("::", 1)[0] in CALENDAR:
            item.add_marker(pytest.mark.calendar)


# The suite builds worlds of hundreds of thousands of small objects (items, events, runs) that
# live as long as their module. At CPython's default thresholds (700, 10, 10) the cyclic
# collector walks them again and again; here the young generation is collected after 100,000
# net allocations and the older ones rarely, and what imports and collection made is frozen out
# of its walks (as `clusters-bot check` does). Measured on four world-heavy modules: 66 -> 50 s
# of CPU, peak memory 971 -> 947 MB.
def pytest_configure(config: pytest.Config) -> None:
    gc.set_threshold(100_000, 50, 1000)


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()


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
