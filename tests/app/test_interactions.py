"""Buttons and the request boundary: drilldowns into threads, signatures, PostHog outages,
Socket Mode, and hostile input that must never reach a query except as a placeholder value."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from slack_bolt.request import BoltRequest

from bot.app import create_app
from bot.rendering.drilldown import DrilldownRenderer
from standins.slack.server import Message
from standins.stack import ALERT_CHANNEL, Stack
from tests.support.blocks import all_text
from tests.support.bolt import dispatch_click
from tests.support.hogql import parse_hogql

Ask = Callable[..., Message]
UI = "/project/1/ai-observability"


def share_latest(stack: Stack, ask: Ask) -> Message:
    """`/clusters latest`, then "Share in channel": a real channel message with a thread."""
    summary = ask("latest trace", channel=ALERT_CHANNEL)
    before = len(stack.slack.messages(ALERT_CHANNEL))
    user = stack.user("U0SHARER")
    assert user.click(summary, "clusters.share").status_code == 200

    def shared():
        return [m for m in stack.slack.messages(ALERT_CHANNEL)[before:] if not m.ephemeral_for]

    assert stack.slack.wait_for(lambda: bool(shared()), 20)
    return shared()[-1]


def test_traces_then_details_post_into_the_thread(stack: Stack, ask: Ask) -> None:
    message = share_latest(stack, ask)
    assert "clusters.share" not in str(message.blocks)  # shared already: no second Share button
    user = stack.user("U0CLICKER")
    traces_button = next(b["accessory"]["action_id"] for b in message.blocks if b.get("accessory"))
    assert user.click(message, traces_button).status_code == 200
    assert stack.slack.wait_for(lambda: len(stack.slack.thread(ALERT_CHANNEL, message.ts)) >= 1, 20)
    traces = stack.slack.thread(ALERT_CHANNEL, message.ts)[0]
    text = all_text(traces)
    assert "most representative traces" in text
    assert text.count(f"{UI}/traces/") >= 3 and "tab=summary" in text and "timestamp=" in text
    details_button = next(b["accessory"]["action_id"] for b in traces.blocks if b.get("accessory"))
    assert user.click(traces, details_button).status_code == 200
    assert stack.slack.wait_for(lambda: len(stack.slack.thread(ALERT_CHANNEL, message.ts)) >= 2, 20)
    detail = stack.slack.thread(ALERT_CHANNEL, message.ts)[1]
    assert detail.thread_ts == message.ts
    assert f"{UI}/traces/" in all_text(detail) and "tokens" in all_text(detail)


def test_traces_on_an_ephemeral_summary_answer_ephemerally(stack: Stack, ask: Ask) -> None:
    summary = ask("latest")
    user = stack.user("U0EPH")
    before = len(stack.slack.messages("C0GENERAL"))
    button = next(b["accessory"]["action_id"] for b in summary.blocks if b.get("accessory"))
    assert user.click(summary, button).status_code == 200
    new = lambda: stack.slack.messages("C0GENERAL")[before:]  # noqa: E731
    assert stack.slack.wait_for(lambda: bool(new()), 20)
    assert new()[-1].ephemeral_for == "U0EPH" and "traces" in all_text(new()[-1])


def test_bad_signature_is_rejected_and_nothing_runs(stack: Stack) -> None:
    queries_before = len(stack.posthog.hogql_log)
    user = stack.user("U0BAD")
    assert user.command("latest", signature="v0=" + "0" * 64).status_code == 401
    assert user.command("latest", timestamp=int(time.time()) - 600).status_code == 401
    # Bolt refuses a bad signature before any listener is looked up: by the time the 401 is
    # back, nothing was started that could still query PostHog or reply.
    assert len(stack.posthog.hogql_log) == queries_before
    assert not [m for m in stack.slack.messages("C0GENERAL") if m.ephemeral_for == "U0BAD"]


def test_posthog_down_still_acks_and_replies_honestly(stack: Stack, ask: Ask) -> None:
    stack.posthog.faults.add(503, count=1000)
    answer = all_text(ask("runs"))
    assert "PostHog is not answering right now" in answer


def test_posthog_slow_gets_an_ack_before_the_answer(stack: Stack) -> None:
    stack.posthog.faults.add(200, count=1, delay=2.0)
    user = stack.user("U0SLOW")
    response = user.command("runs 2")
    assert response.status_code == 200
    # The HTTP ack came back while PostHog was still holding the query: no answer yet.
    assert not [m for m in stack.slack.messages("C0GENERAL") if m.ephemeral_for == "U0SLOW"]
    assert stack.slack.wait_for(
        lambda: any(m.ephemeral_for == "U0SLOW" for m in stack.slack.messages("C0GENERAL")), 20
    )


def test_socket_mode_envelope_is_answered(stack: Stack) -> None:
    user = stack.user("U0SOCKET")
    envelope = user.socket_mode_envelope("jobs")
    response = stack.app.dispatch(BoltRequest(body=envelope["payload"], mode="socket_mode"))
    assert response.status == 200
    assert stack.slack.wait_for(
        lambda: any(m.ephemeral_for == "U0SOCKET" for m in stack.slack.messages("C0GENERAL")), 20
    )


HOSTILE = [
    "show x' OR 1=1 --",
    "show '); DROP TABLE events; --",
    "show {run_id}",
    "trace 1' UNION SELECT properties FROM events --",
    "trace ../../etc/passwd",
    'latest trace "\'; SELECT 1; --"',
    "compare 2_trace_20260614_001502_a' OR '1'='1",
    "show cluster <!channel> & <http://evil|click>",
    "runs trace 99999999999999999999",
    "top cost; DROP",
    "latest \u202egeneration",
    "show " + "A" * 480,
    "x" * 600,
    "trace \x00\x01\x02",
    "show 💥💥💥 emoji title",
    "latest trace `rm -rf /`",
    "mute everything for 999d",
    "thresholds cost_spike_pct=abc",
    "subscribe trace ' OR 1=1",
    "compare generation generation generation",
    "show -1 run 2_trace_20260614_001502_abc",
    "trace",
    "show",
    "top",
    "runs -3",
    "help me please",
    "LATEST TRACE",
    "latest trace “Default - traces”",
    "jobs jobs jobs",
    "unmute",
    "show 42 run nope",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_gets_a_clear_answer_and_never_reaches_a_query(
    stack: Stack, ask: Ask, text: str
) -> None:
    before = len(stack.posthog.hogql_log)
    answer = all_text(ask(text))
    assert answer.strip()
    assert "Something went wrong" not in answer, answer
    assert "<!channel>" not in answer  # escaped, never a ping
    for query in stack.posthog.hogql_log[before:]:
        parse_hogql(query)
        for fragment in ("OR 1=1", "DROP TABLE", "UNION SELECT", "'1'='1", "SELECT 1;"):
            assert fragment not in query
    for request in stack.posthog.requests:
        body = request.json if isinstance(request.json, dict) else {}
        values = (body.get("query") or {}).get("values") or {}
        json.dumps(values)  # values are plain JSON data, sent separately from the query text


def test_without_a_signing_secret_no_http_request_passes(stack: Stack) -> None:
    """An app built without SLACK_SIGNING_SECRET (Socket Mode settings) still verifies every
    HTTP request, so nothing unsigned or signed with a guessable secret is ever answered."""
    settings = stack.settings(slack_signing_secret=None)
    app = create_app(dataclasses.replace(stack.services, settings=settings))
    payload = stack.user("U0NOSECRET").command_payload("jobs")
    body = urlencode(payload)
    for secret in ("", "socket-mode-has-no-signing-secret"):
        timestamp = str(int(time.time()))
        base = f"v0:{timestamp}:{body}".encode()
        signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
        request = BoltRequest(
            body=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": timestamp,
                "x-slack-signature": signature,
            },
        )
        assert app.dispatch(request).status == 401
    unsigned = BoltRequest(body=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert app.dispatch(unsigned).status == 401


def test_trace_content_goes_only_to_the_person_who_clicked(stack: Stack, ask: Ask) -> None:
    """DRILLDOWN_CONTENT=preview: the thread gets the steps, the clicker alone gets the prompt
    and output (ephemeral). With the default (none) nobody gets them."""
    message = share_latest(stack, ask)
    user = stack.user("U0CONTENT")
    traces_button = next(b["accessory"]["action_id"] for b in message.blocks if b.get("accessory"))
    assert user.click(message, traces_button).status_code == 200
    thread = lambda: stack.slack.thread(ALERT_CHANNEL, message.ts)  # noqa: E731
    assert stack.slack.wait_for(lambda: len(thread()) >= 1, 20)
    traces = thread()[0]
    details = next(b["accessory"]["action_id"] for b in traces.blocks if b.get("accessory"))

    assert user.click(traces, details).status_code == 200  # the stack runs with the default
    assert stack.slack.wait_for(lambda: len(thread()) >= 2, 20)
    default_detail = thread()[1]
    assert "DRILLDOWN_CONTENT=none" in all_text(default_detail)

    preview = dataclasses.replace(
        stack.services,
        drilldown=DrilldownRenderer(stack.services.renderer, show_content=True),
    )
    assert dispatch_click(create_app(preview), user, traces, details).status == 200
    private = lambda: [m for m in thread() if m.ephemeral_for == "U0CONTENT"]  # noqa: E731
    assert stack.slack.wait_for(lambda: len(thread()) >= 4 and bool(private()), 20)
    public = [m for m in thread() if m.ephemeral_for is None]
    assert len(public) == 3 and len(private()) == 1
    for shown in public:
        assert "First input" not in all_text(shown) and "Final output" not in all_text(shown)
    assert "sent only to you" in all_text(public[-1])
    assert "First input" in all_text(private()[0])
