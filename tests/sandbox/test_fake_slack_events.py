"""The fake Slack delivers events as Slack does: 3 s to answer with a 2xx, then up to three
redeliveries with X-Slack-Retry-Num and X-Slack-Retry-Reason, none after X-Slack-No-Retry; and
a trigger_id opens a modal only within 3 s. The app here is a scripted local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standins.slack.server import FakeSlack

BODY = json.dumps({"type": "event_callback", "event_id": "Ev0TEST", "event": {"type": "x"}})


class ScriptedApp:
    """Answers each delivery as `script` says, in turn: (delay seconds, status, headers)."""

    def __init__(self, script: list[tuple[float, int, dict[str, str]]]) -> None:
        self.script = list(script)
        self.seen: list[dict[str, str]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                app.seen.append({k.lower(): v for k, v in self.headers.items()})
                delay, status, headers = app.script.pop(0) if app.script else (0.0, 200, {})
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except ConnectionError:
                    pass  # the fake gave up waiting, as Slack does

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        running.ack_timeout = 0.3  # Slack's 3 s, scaled down with the script's delays
        running.event_retry_delays = (0.0, 0.05, 0.05)
        yield running


def deliveries(fake: FakeSlack, count: int) -> list[tuple[int, int | None, str | None]]:
    deadline = time.monotonic() + 10
    while len(fake.deliveries_of("Ev0TEST")) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return [(d.attempt, d.status, d.retry_reason) for d in fake.deliveries_of("Ev0TEST")]


def unsigned(body: str) -> dict[str, str]:
    return {"X-Slack-Signature": "v0=test", "X-Slack-Request-Timestamp": "0"}


def test_a_slow_answer_is_retried_at_once_with_slack_s_headers(fake: FakeSlack) -> None:
    app = ScriptedApp([(0.6, 200, {}), (0.0, 200, {})])
    response = fake.deliver_event(app.url, BODY, unsigned)
    assert response.status_code == 408  # no answer within the ack timeout
    assert deliveries(fake, 2) == [(1, None, "http_timeout"), (2, 200, None)]
    assert "x-slack-retry-num" not in app.seen[0]
    assert app.seen[1]["x-slack-retry-num"] == "1"
    assert app.seen[1]["x-slack-retry-reason"] == "http_timeout"


def test_errors_are_retried_three_times_and_no_retry_is_honoured(fake: FakeSlack) -> None:
    app = ScriptedApp([(0.0, 500, {})] * 4)
    fake.deliver_event(app.url, BODY, unsigned)
    found = deliveries(fake, 4)
    assert [(a, s) for a, s, _ in found] == [(1, 500), (2, 500), (3, 500), (4, 500)]
    assert [r for _, _, r in found] == ["http_error"] * 3 + [None]  # the last: no more retries
    assert [h.get("x-slack-retry-num") for h in app.seen] == [None, "1", "2", "3"]

    refusing = ScriptedApp([(0.0, 500, {"X-Slack-No-Retry": "1"})])
    fake.deliver_event(refusing.url, BODY.replace("Ev0TEST", "Ev0NORETRY"), unsigned)
    retrying = [t for t in threading.enumerate() if t.name == "fake-slack-retry-Ev0NORETRY"]
    assert retrying == []  # retries start before deliver_event returns: none will come
    assert [(d.attempt, d.status) for d in fake.deliveries_of("Ev0NORETRY")] == [(1, 500)]
    assert len(refusing.seen) == 1


def test_a_trigger_id_expires_three_seconds_after_the_interaction() -> None:
    now = [1000.0]
    with FakeSlack(clock=lambda: now[0]) as fake:
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
        modal = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": [section]}
        late = fake.issue_trigger("U0ALICE")
        now[0] += 3.5
        with pytest.raises(SlackApiError, match="expired_trigger_id"):
            client.views_open(trigger_id=late, view=modal)
        in_time = fake.issue_trigger("U0ALICE")
        now[0] += 2.5
        assert client.views_open(trigger_id=in_time, view=modal)["ok"]
