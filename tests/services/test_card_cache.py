"""The link-card cache: one build per link while it is fresh, shared by concurrent askers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.services.card_cache import CardCache

CARD = [{"type": "section", "text": {"type": "mrkdwn", "text": "card"}}]


class Builds:
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.count = 0
        self.gate = gate

    def __call__(self) -> list[dict[str, Any]]:
        self.count += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        return [dict(block) for block in CARD]


def test_a_fresh_card_is_built_once_and_handed_out_as_copies() -> None:
    now = [0.0]
    cache = CardCache(ttl=60, clock=lambda: now[0])
    build = Builds()
    first = cache.get_or_build("link", build)
    first.append({"type": "divider"})  # a caller changing its copy changes nothing kept
    now[0] = 59
    assert cache.get_or_build("link", build) == CARD
    assert build.count == 1
    now[0] = 61
    cache.get_or_build("link", build)
    assert build.count == 2


def test_concurrent_askers_wait_for_the_one_build() -> None:
    gate = threading.Event()
    build = Builds(gate)
    cache = CardCache()
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(cache.get_or_build, "link", build) for _ in range(4)]
        gate.set()
        cards = [f.result(timeout=10) for f in futures]
    assert build.count == 1
    assert cards == [CARD] * 4


def test_a_failed_card_is_not_kept() -> None:
    cache = CardCache()

    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("PostHog is down")

    with pytest.raises(RuntimeError):
        cache.get_or_build("link", broken)
    build = Builds()
    assert cache.get_or_build("link", build) == CARD
    assert build.count == 1
