"""The run list is reused for RUN_LIST_CACHE_SECONDS, then asked for again."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from bot.domain.models import RunSummary
from bot.services.runs import RunRepository
from bot.store.store import Store


class CountingClient:
    """A narrow stand-in for PostHogClient.list_runs: counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def list_runs(self, since: datetime, *, limit: int = 200) -> list[RunSummary]:
        self.calls += 1
        return []


def test_run_list_is_reused_within_the_ttl_and_refetched_after(tmp_path: Path) -> None:
    client, now = CountingClient(), [0.0]
    runs = RunRepository(
        client,  # type: ignore[arg-type]
        Store.from_url(f"sqlite:///{tmp_path / 's.db'}"),
        list_ttl=30,
        monotonic=lambda: now[0],
    )
    runs.recent()
    now[0] = 29.9
    runs.recent()
    assert client.calls == 1
    runs.recent(fresh=True)  # the alert cycle always asks
    assert client.calls == 2
    now[0] = 70
    runs.recent()
    runs.recent(timedelta(days=8), limit=1000)  # another window is another list
    assert client.calls == 4
