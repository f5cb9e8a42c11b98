"""The "Why?" button on `/clusters show` (an ephemeral answer, which has no thread) answers the
person who clicked; on alerts it answers in the thread (tests/alerts/test_causes_cycle.py)."""

from __future__ import annotations

from collections.abc import Callable

from standins.slack.server import Message
from standins.stack import Stack
from standins.traffic.generator import World
from tests.support.blocks import all_text

Ask = Callable[..., Message]


def test_why_on_show_answers_the_person_who_clicked(stack: Stack, ask: Ask, world: World) -> None:
    planted = world.planted[0]
    answer = ask(f"show {planted.cluster_id} run {planted.run_id}")
    before = len(stack.slack.messages("C0GENERAL"))
    assert stack.user("U0WHY").click(answer, "clusters.why").status_code == 200
    new = lambda: stack.slack.messages("C0GENERAL")[before:]  # noqa: E731
    assert stack.slack.wait_for(lambda: bool(new()), 20)
    reply = new()[-1]
    assert reply.ephemeral_for == "U0WHY"
    text = all_text(reply)
    assert f"/clusters/{planted.run_id}/{planted.cluster_id}" in text
    # The planted change here is a uniform cost rise: no single cause to name.
    assert "Nothing stands out" in text and "Likely cause" not in text
