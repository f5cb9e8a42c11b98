"""The fake Slack Web API (standins/slack/server.py) driven by real slack_sdk / Bolt clients, and
the signed requests of standins/slack/user.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.error import URLError
from urllib.parse import parse_qs

import httpx
import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.webhook import WebhookClient

from standins.slack.server import FakeSlack, Message
from standins.slack.user import SlackUser

SECRET = "sandbox-signing-secret"
BUTTON = {
    "type": "actions",
    "block_id": "b1",
    "elements": [
        {
            "type": "button",
            "action_id": "clusters.drilldown",
            "text": {"type": "plain_text", "text": "Drill down"},
            "value": '{"run":"r1","cluster":3}',
        }
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.api_url, timeout=5)


def post(client: WebClient, text: str = "hi", **kwargs: Any) -> str:
    return str(client.chat_postMessage(channel="C0ALERTS", text=text, **kwargs)["ts"])


# -- Web API methods ------------------------------------------------------------------------


def test_auth_test_and_bad_tokens(fake: FakeSlack, client: WebClient) -> None:
    resp = client.auth_test()
    assert (resp["user_id"], resp["team_id"], resp["bot_id"]) == ("U0BOT", "T0SANDBOX", "B0BOT")
    for token, error in [("xoxb-wrong", "invalid_auth"), (None, "not_authed")]:
        with pytest.raises(SlackApiError) as exc:
            WebClient(token=token, base_url=fake.api_url).auth_test()
        assert exc.value.response["error"] == error
    assert [c.token for c in fake.calls_to("auth.test")] == ["xoxb-sandbox", "xoxb-wrong", None]


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError, match="unknown_method"):
        client.api_call("reactions.teleport")


def test_post_message_records_json_and_returns_increasing_ts(
    fake: FakeSlack, client: WebClient
) -> None:
    first = client.chat_postMessage(channel="C0ALERTS", text="one", blocks=[BUTTON])
    second = post(client, "two", unfurl_links=False)
    assert first["channel"] == "C0ALERTS" and first["message"]["text"] == "one"
    assert abs(float(first["ts"]) - time.time()) < 60 and second > first["ts"]
    messages = fake.messages("C0ALERTS")
    assert [(m.text, m.user, m.ephemeral_for) for m in messages] == [
        ("one", "U0BOT", None),
        ("two", "U0BOT", None),
    ]
    assert messages[0].blocks == [BUTTON]
    assert fake.calls_to("chat.postMessage")[1].params["unfurl_links"] is False


def test_form_encoded_blocks_string_and_channel_name(fake: FakeSlack, client: WebClient) -> None:
    params = {"channel": "#llm-alerts", "text": "t", "blocks": json.dumps([BUTTON])}
    resp = client.api_call("chat.postMessage", params=params)
    assert resp["channel"] == "C0ALERTS"
    assert fake.messages("C0ALERTS")[0].blocks == [BUTTON]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ({"channel": "C0OUT", "text": "x"}, "not_in_channel"),
        ({"channel": "C0ALERTS", "text": ""}, "no_text"),
        ({"channel": "C0ALERTS", "text": "x", "thread_ts": "1.000001"}, "thread_not_found"),
        ({"channel": "C0ALERTS", "text": "x", "blocks": [BUTTON | {"block_id": ""}] * 51},
         "invalid_blocks"),
    ],
)  # fmt: skip
def test_post_message_errors(
    fake: FakeSlack, client: WebClient, kwargs: dict[str, Any], error: str
) -> None:
    fake.create_channel("outside", id="C0OUT", member=False)
    with pytest.raises(SlackApiError) as exc:
        client.api_call("chat.postMessage", json=kwargs)  # no client-side "no text" warning
    assert exc.value.response["error"] == error
    assert fake.calls_to("chat.postMessage")[-1].error == error


def test_invalid_blocks_lists_what_slack_would_reject(client: WebClient) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0ALERTS", text="x", blocks=[header])
    assert "150" in exc.value.response["errors"][0]


def test_thread_replies(fake: FakeSlack, client: WebClient) -> None:
    parent = post(client, "parent")
    reply = post(client, "reply 1", thread_ts=parent)
    post(client, "reply 2", thread_ts=reply)  # a reply's ts: Slack files it under the parent
    assert [m.text for m in fake.messages("C0ALERTS")] == ["parent"]
    thread = fake.thread("C0ALERTS", parent)
    assert [(m.text, m.thread_ts) for m in thread] == [("reply 1", parent), ("reply 2", parent)]
    assert fake.messages("C0ALERTS")[0].to_dict()["reply_count"] == 2


def test_post_ephemeral(fake: FakeSlack, client: WebClient) -> None:
    resp = client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="psst")
    (msg,) = fake.messages("C0GENERAL")
    assert (msg.ts, msg.ephemeral_for, msg.text) == (resp["message_ts"], "U0ALICE", "psst")
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.chat_postEphemeral(channel="C0GENERAL", user="U0GHOST", text="x")


def test_update_message(fake: FakeSlack, client: WebClient) -> None:
    ts = post(client, "old", blocks=[BUTTON])
    client.chat_update(channel="C0ALERTS", ts=ts, text="new")
    msg = fake.get_message("C0ALERTS", ts)
    assert msg is not None and (msg.text, msg.edited, msg.blocks) == ("new", True, [BUTTON])
    client.chat_update(channel="C0ALERTS", ts=ts, text="new", blocks=[])
    assert fake.messages("C0ALERTS")[0].blocks == []
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_update(channel="C0ALERTS", ts="1.000001", text="x")


def test_update_ephemeral_message_is_not_found(client: WebClient) -> None:
    ts = client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="x")["message_ts"]
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_update(channel="C0GENERAL", ts=ts, text="y")


def test_delete_message(fake: FakeSlack, client: WebClient) -> None:
    ts = post(client)
    client.chat_delete(channel="C0ALERTS", ts=ts)
    assert fake.messages("C0ALERTS") == []
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_delete(channel="C0ALERTS", ts=ts)


def test_permalink_and_its_page(fake: FakeSlack, client: WebClient) -> None:
    parent = post(client, "parent")
    reply = post(client, "reply", thread_ts=parent)
    link = client.chat_getPermalink(channel="C0ALERTS", message_ts=reply)["permalink"]
    assert link.startswith(f"{fake.url}/archives/C0ALERTS/p") and f"thread_ts={parent}" in link
    page = httpx.get(link)
    assert page.json()["text"] == "reply"


def test_conversations_info_and_users_info(fake: FakeSlack, client: WebClient) -> None:
    channel = client.conversations_info(channel="C0ALERTS")["channel"]
    assert (channel["name"], channel["is_member"]) == ("llm-alerts", True)
    assert client.users_info(user="U0ALICE")["user"]["is_admin"] is False
    fake.set_admin("U0ALICE")
    assert client.users_info(user="U0ALICE")["user"]["is_admin"] is True
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.users_info(user="U0NOBODY")


def test_files_upload_v2_into_a_thread(fake: FakeSlack, client: WebClient) -> None:
    parent = post(client, "alert")
    resp = client.files_upload_v2(
        channel="C0ALERTS", thread_ts=parent, content=b"png", filename="x.png", title="Chart"
    )
    file_id = resp["file"]["id"]
    (reply,) = fake.thread("C0ALERTS", parent)
    assert [(f.id, f.filename, f.title, f.content) for f in reply.files] == [
        (file_id, "x.png", "Chart", b"png")
    ]
    assert [c.method for c in fake.calls][-3:] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


def test_complete_upload_without_upload_fails(client: WebClient) -> None:
    file_id = client.files_getUploadURLExternal(filename="x.png", length=3)["file_id"]
    with pytest.raises(SlackApiError, match="file_not_found"):
        client.files_completeUploadExternal(files=[{"id": file_id}], channel_id="C0ALERTS")


# -- response_url -----------------------------------------------------------------------------


def test_response_url_defaults_to_ephemeral(fake: FakeSlack) -> None:
    url = fake.response_url("C0GENERAL", "U0ALICE")
    assert WebhookClient(url).send(text="only you").status_code == 200
    (msg,) = fake.messages("C0GENERAL")
    assert (msg.text, msg.ephemeral_for, msg.user) == ("only you", "U0ALICE", "U0BOT")


def test_response_url_in_channel_and_thread(fake: FakeSlack, client: WebClient) -> None:
    parent = post(client, "alert")
    url = fake.response_url("C0ALERTS", "U0ALICE", thread_ts=parent)
    WebhookClient(url).send(text="for all", response_type="in_channel")
    (reply,) = fake.thread("C0ALERTS", parent)
    assert (reply.text, reply.ephemeral_for) == ("for all", None)


def test_response_url_replace_and_delete_original(fake: FakeSlack, client: WebClient) -> None:
    ts = post(client, "original", blocks=[BUTTON])
    hook = WebhookClient(fake.response_url("C0ALERTS", "U0ALICE", message_ts=ts))
    hook.send(text="replaced", replace_original=True)
    (msg,) = fake.messages("C0ALERTS")
    assert (msg.ts, msg.text, msg.blocks, msg.edited) == (ts, "replaced", [], True)
    hook.send(text="", delete_original=True)
    assert fake.messages("C0ALERTS") == []


def test_response_url_replace_without_original_replaces_last_response(fake: FakeSlack) -> None:
    hook = WebhookClient(fake.response_url("C0GENERAL", "U0ALICE"))
    hook.send(text="working…")
    hook.send(text="done", replace_original=True)
    assert [m.text for m in fake.messages("C0GENERAL")] == ["done"]


def test_response_url_works_five_times(fake: FakeSlack) -> None:
    hook = WebhookClient(fake.response_url("C0GENERAL", "U0ALICE"))
    statuses = [hook.send(text=f"{i}").status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
    assert fake.calls_to("response_url")[-1].error == "used_url"
    assert len(fake.messages("C0GENERAL")) == 5


# -- faults -------------------------------------------------------------------------------------


def test_fault_error_is_http_200_not_ok(fake: FakeSlack, client: WebClient) -> None:
    fake.faults.add("chat.postMessage", error="is_archived")
    with pytest.raises(SlackApiError) as exc:
        post(client)
    assert (exc.value.response.status_code, exc.value.response["error"]) == (200, "is_archived")
    post(client)  # count=1: the next call succeeds
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [200, 200]
    assert len(fake.messages("C0ALERTS")) == 1


def test_fault_5xx(fake: FakeSlack, client: WebClient) -> None:
    fake.faults.add("*", status=503)
    with pytest.raises(SlackApiError) as exc:
        post(client)
    assert exc.value.response.status_code == 503
    assert fake.messages("C0ALERTS") == []


def test_fault_429_sets_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.faults.add("chat.postMessage", status=429, retry_after=2.5)
    with pytest.raises(SlackApiError) as exc:
        post(client)
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "3"  # whole seconds, rounded up


def test_fault_429_is_retried_by_rate_limit_handler(fake: FakeSlack) -> None:
    handler = RateLimitErrorRetryHandler(max_retry_count=1)
    client = WebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[handler])
    fake.faults.add("chat.postMessage", status=429, retry_after=0)
    started = time.monotonic()
    post(client)
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]
    assert time.monotonic() - started < 2  # slept int(Retry-After) + random() seconds
    assert len(fake.messages("C0ALERTS")) == 1


def test_fault_dropped_connection_is_retried_by_connection_handler(fake: FakeSlack) -> None:
    handler = ConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0))
    client = WebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[handler])
    fake.faults.add("chat.postMessage", drop_connection=True)
    post(client)  # the handler slack_sdk installs by default, minus its backoff
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [None, 200]


def test_fault_dropped_connection_surfaces_without_retries(fake: FakeSlack) -> None:
    client = WebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])
    fake.faults.add("chat.postMessage", drop_connection=True)
    with pytest.raises((URLError, ConnectionError)):
        post(client)
    assert fake.messages("C0ALERTS") == []


def test_fault_delay_then_normal_answer(fake: FakeSlack, client: WebClient) -> None:
    fake.faults.add("auth.test", delay=0.3)
    started = time.monotonic()
    assert client.auth_test()["ok"]
    assert time.monotonic() - started >= 0.3


def test_fault_delay_beyond_client_timeout(fake: FakeSlack) -> None:
    fake.faults.add("auth.test", delay=0.5)
    slow = WebClient(token=fake.bot_token, base_url=fake.api_url, timeout=0.1, retry_handlers=[])  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        slow.auth_test()


def test_faults_count_none_until_cleared_and_response_url(fake: FakeSlack) -> None:
    fake.faults.add("response_url", status=500, count=None)
    hook = WebhookClient(fake.response_url("C0GENERAL", "U0ALICE"))
    assert [hook.send(text="x").status_code for _ in range(3)] == [500] * 3
    fake.faults.clear()
    assert hook.send(text="x").status_code == 200


# -- concurrency and waiting ---------------------------------------------------------------------


def test_concurrent_posts_get_unique_ts(fake: FakeSlack, client: WebClient) -> None:
    def worker(n: int) -> None:
        for i in range(10):
            post(client, f"{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps = [m.ts for m in fake.messages("C0ALERTS")]
    assert len(stamps) == len(set(stamps)) == 80
    assert stamps == sorted(stamps)


def test_wait_for_and_subscribe(fake: FakeSlack, client: WebClient) -> None:
    seen: list[tuple[str, str]] = []
    unsubscribe = fake.subscribe(lambda kind, msg: seen.append((kind, msg.text)))
    timer = threading.Timer(0.1, lambda: post(client, "later"))
    timer.start()
    assert fake.wait_for(lambda: len(fake.messages("C0ALERTS")) == 1, timeout=5)
    timer.join()
    assert seen == [("posted", "later")]
    unsubscribe()
    post(client, "unseen")
    assert seen == [("posted", "later")]
    assert fake.wait_for(lambda: False, timeout=0.05) is False


# -- SlackUser: signed requests -----------------------------------------------------------------


class _Endpoint:
    """A local HTTP endpoint that hands each request to ``handle(body, headers)``."""

    def __init__(self, handle: Any) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                status, out, content_type = handle(
                    body, {k.lower(): v for k, v in self.headers.items()}
                )
                data = out.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        Handler.disable_nagle_algorithm = True
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[tuple[_Endpoint, list[tuple[str, dict[str, str]]]]]:
    received: list[tuple[str, dict[str, str]]] = []

    def handle(body: str, headers: dict[str, str]) -> tuple[int, str, str]:
        received.append((body, headers))
        return 200, "", "text/plain"

    endpoint = _Endpoint(handle)
    yield endpoint, received
    endpoint.close()


def _verify(body: str, headers: dict[str, str]) -> bool:
    return SignatureVerifier(SECRET).is_valid(
        body=body,
        timestamp=headers["x-slack-request-timestamp"],
        signature=headers["x-slack-signature"],
    )


def test_slack_user_command_is_signed_like_slack(fake: FakeSlack, recorder: Any) -> None:
    endpoint, received = recorder
    user = SlackUser(events_url=endpoint.url, signing_secret=SECRET, fake=fake)
    assert user.command("latest").status_code == 200
    body, headers = received[0]
    assert _verify(body, headers)
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    assert list(form) == [
        "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
        "command", "text", "api_app_id", "is_enterprise_install", "response_url", "trigger_id",
    ]  # fmt: skip
    assert (form["command"], form["text"], form["user_id"]) == ("/clusters", "latest", "U0ALICE")
    assert form["response_url"].startswith(fake.url + "/response/")


def test_slack_user_bad_and_stale_signatures_do_not_verify(fake: FakeSlack, recorder: Any) -> None:
    endpoint, received = recorder
    user = SlackUser(events_url=endpoint.url, signing_secret=SECRET, fake=fake)
    user.command("latest", signature="v0=" + "0" * 64)
    user.command("latest", timestamp=int(time.time()) - 600)
    assert [_verify(body, headers) for body, headers in received] == [False, False]


def test_slack_user_click_payload(fake: FakeSlack, client: WebClient, recorder: Any) -> None:
    endpoint, received = recorder
    parent = post(client, "alert")
    ts = post(client, "in thread", blocks=[BUTTON], thread_ts=parent)
    user = SlackUser(events_url=endpoint.url, signing_secret=SECRET, fake=fake)
    user.click(_msg(fake, "C0ALERTS", ts), "clusters.drilldown")
    body, headers = received[0]
    assert _verify(body, headers)
    payload = json.loads(parse_qs(body)["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["container"] == {
        "type": "message", "message_ts": ts, "channel_id": "C0ALERTS",
        "is_ephemeral": False, "thread_ts": parent,
    }  # fmt: skip
    assert payload["message"]["ts"] == ts and payload["message"]["blocks"] == [BUTTON]
    (action,) = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == (
        "clusters.drilldown", "b1", '{"run":"r1","cluster":3}',
    )  # fmt: skip


def test_slack_user_click_on_ephemeral_omits_message(
    fake: FakeSlack, client: WebClient, recorder: Any
) -> None:
    endpoint, received = recorder
    ts = client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="x", blocks=[BUTTON])[
        "message_ts"
    ]
    user = SlackUser(events_url=endpoint.url, signing_secret=SECRET, fake=fake)
    user.click(_msg(fake, "C0GENERAL", ts), "clusters.drilldown", value="override")
    payload = json.loads(parse_qs(received[0][0])["payload"][0])
    assert "message" not in payload and payload["container"]["is_ephemeral"] is True
    assert payload["actions"][0]["value"] == "override"
    with pytest.raises(LookupError):
        user.click(_msg(fake, "C0GENERAL", ts), "no.such.button")


def _msg(fake: FakeSlack, channel: str, ts: str) -> Message:
    msg = fake.get_message(channel, ts)
    assert msg is not None
    return msg


# -- SlackUser against a real Bolt app ----------------------------------------------------------


@pytest.fixture
def bolt(fake: FakeSlack) -> Iterator[tuple[App, SlackUser]]:
    app = App(
        signing_secret=SECRET,
        client=WebClient(token=fake.bot_token, base_url=fake.api_url),
    )

    def handle(body: str, headers: dict[str, str]) -> tuple[int, str, str]:
        bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
        resp: BoltResponse = app.dispatch(BoltRequest(body=body, headers=bolt_headers))
        return resp.status, resp.body, resp.headers.get("content-type", ["text/plain"])[0]

    endpoint = _Endpoint(handle)
    yield app, SlackUser(events_url=endpoint.url, signing_secret=SECRET, fake=fake)
    endpoint.close()


def test_bolt_command_ack_then_respond(fake: FakeSlack, bolt: tuple[App, SlackUser]) -> None:
    app, user = bolt

    @app.command("/clusters")
    def handle(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack("Working on it…")
        respond(f"latest for {command['user_id']}")

    assert user.command("latest").status_code == 200
    assert fake.wait_for(lambda: len(fake.messages("C0GENERAL")) == 2)
    texts = {(m.text, m.ephemeral_for) for m in fake.messages("C0GENERAL")}  # either order
    assert texts == {("Working on it…", "U0ALICE"), ("latest for U0ALICE", "U0ALICE")}
    assert sorted(c.method for c in fake.calls if c.method in ("ack", "response_url")) == [
        "ack",
        "response_url",
    ]


def test_bolt_rejects_bad_and_stale_signatures(bolt: tuple[App, SlackUser]) -> None:
    app, user = bolt
    app.command("/clusters")(lambda ack: ack())
    assert user.command("x", signature="v0=" + "0" * 64).status_code == 401
    assert user.command("x", timestamp=int(time.time()) - 600).status_code == 401
    assert user.command("x").status_code == 200


def test_bolt_button_click_replaces_message(
    fake: FakeSlack, client: WebClient, bolt: tuple[App, SlackUser]
) -> None:
    app, user = bolt
    bodies: list[dict[str, Any]] = []

    @app.action("clusters.drilldown")
    def handle(ack: Any, body: dict[str, Any], respond: Any) -> None:
        ack()
        bodies.append(body)
        respond(text="Drilled", replace_original=True)

    ts = post(client, "alert", blocks=[BUTTON])
    assert user.click(_msg(fake, "C0ALERTS", ts), "clusters.drilldown").status_code == 200
    assert fake.wait_for(lambda: fake.messages("C0ALERTS")[0].text == "Drilled")
    assert bodies[0]["container"]["message_ts"] == ts


def test_socket_mode_envelope_dispatches_slash_command(
    fake: FakeSlack, bolt: tuple[App, SlackUser]
) -> None:
    app, user = bolt
    app.command("/clusters")(lambda ack, command: ack(f"got {command['text']}"))
    envelope = user.socket_mode_envelope("latest")
    request = SocketModeRequest.from_dict(envelope)
    assert request is not None and request.type == "slash_commands"
    response = run_bolt_app(app, request)
    assert (response.status, response.body) == (200, "got latest")
