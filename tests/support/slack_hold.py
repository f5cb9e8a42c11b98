"""Hold a request in the fake Slack: Slack has it in hand and has not answered yet, for exactly
as long as a test needs (a slow Slack without sleeping for it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sandbox.fake_slack import FakeSlack


@dataclass
class Hold:
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def held_post(slack: FakeSlack) -> Iterator[Hold]:
    """The next chat.postMessage is held by the fake Slack (the request in its hands, no answer
    yet) until `release` is set, then carried out: a slow Slack, for exactly as long as the
    test needs."""
    hold, lock, posts = Hold(), threading.Lock(), []
    take = slack.faults.take

    def taking(method: str) -> Any:
        with lock:
            first = method == "chat.postMessage" and not posts
            if method == "chat.postMessage":
                posts.append(method)
        if first:
            hold.arrived.set()
            hold.release.wait(60)
        return take(method)

    slack.faults.take = taking  # type: ignore[method-assign]
    try:
        yield hold
    finally:
        hold.release.set()
        del slack.faults.take
