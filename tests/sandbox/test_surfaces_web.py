"""The sandbox page's Home tab, modals and unfurls, through its HTTP API (the browser test
drives the same routes): every step is a real signed request to the bot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.domain.models import Level, SeriesKey
from bot.posthog.urls import PostHogUrls
from bot.store.channels import Mute
from standins.slack.server import FakeSlack
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import SeriesSpec
from standins.web.server import SandboxWeb
from tests.support import worlds
from tests.support.clock import NOW

YOU = "U0YOU"


@dataclass
class Backend:
    stack: Stack
    user_id: str = YOU

    @property
    def slack(self) -> FakeSlack:
        return self.stack.slack


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Stack]]:
    world = worlds.generate(
        seed=3, series=[SeriesSpec(level="trace", job_name="Default - traces")], runs=2,
        items_per_run=100, now=NOW,
    )  # fmt: skip
    db = tmp_path_factory.mktemp("surfaces") / "bot.db"
    with Stack(database_url=f"sqlite:///{db}") as stack:
        worlds.load(stack.posthog, world)
        stack.slack.set_admin(YOU)
        until = datetime.now(UTC) + timedelta(hours=2)
        stack.services.store.mute(
            Mute(ALERT_CHANNEL, "r", 1, "<img src=x onerror=alert(1)>", until, YOU),
            SeriesKey(Level.TRACE, "j"),
        )
        web = SandboxWeb(Backend(stack))
        web.start()
        try:
            yield web.url, stack
        finally:
            web.stop()


def post(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(url + path, json=body, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_home_tab_modal_with_inline_error_and_save(page: tuple[str, Stack]) -> None:
    url, stack = page
    html = httpx.get(url + "/home", timeout=10).text
    assert 'src="/static/surfaces.js"' in html
    state = post(url, "/api/home/open", {})
    assert "Edit thresholds" in state["home"] and "Health" in state["home"]
    assert "<img" not in state["home"] and "&lt;img src=x" in state["home"]

    state = post(
        url, "/api/home/click",
        {"action_id": "home.edit_thresholds", "block_id": f"{ALERT_CHANNEL}.actions"},
    )  # fmt: skip
    assert 'name="cost_spike_pct"' in state["modal"]
    state = post(url, "/api/modal/submit", {"view_id": state["view_id"], "values": {
        "cost_spike_pct": "abc"}})  # fmt: skip
    assert "surface-error" in state["modal"] and "must be a number" in state["modal"]
    assert stack.services.store.thresholds(ALERT_CHANNEL) == {}

    state = post(url, "/api/modal/submit", {"view_id": state["view_id"], "values": {
        "cost_spike_pct": "75"}})  # fmt: skip
    assert state["modal"] == ""
    assert stack.services.store.thresholds(ALERT_CHANNEL) == {"cost_spike_pct": "75"}


def test_pasted_links_get_the_bot_s_card_or_none(page: tuple[str, Stack]) -> None:
    url, stack = page
    settings = stack.services.settings
    run = stack.services.clusters.latest()
    link = PostHogUrls(settings.ui_host, settings.posthog_project_id or 0).run(run.run_id)
    card = post(url, "/api/unfurl", {"url": link, "channel": "C0GENERAL"})
    assert "bk-header" in card["html"] and "Trace clusters" in card["html"]
    other = post(url, "/api/unfurl", {"url": "https://example.com/x", "channel": "C0GENERAL"})
    assert "No card" in other["html"]
    bad = httpx.post(url + "/api/unfurl", json={"url": "x", "channel": "nope"}, timeout=10)
    assert bad.status_code == 400
