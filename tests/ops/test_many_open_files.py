"""The HTTP servers keep answering in a process that holds many files: waitress polls its
sockets instead of select(), which cannot watch a descriptor numbered 1024 or more (a
long-lived process, or embedded ClickHouse beside the bot, gets there)."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from standins.stack import ALERT_CHANNEL, Stack

HELD = 1100


@pytest.fixture
def many_files() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = HELD + 500
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this machine allows {hard} open files; the test holds {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(HELD)]
    try:
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_servers_answer_when_their_sockets_are_numbered_past_1024(
    many_files: None, tmp_path: Path
) -> None:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as stack:
        answered = stack.user("U0FILES", "files").command("help", channel=ALERT_CHANNEL)
        assert answered.status_code == 200
        assert httpx.get(stack.metrics_url, timeout=10).status_code == 200
