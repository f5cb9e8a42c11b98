"""A fake Slack Web API on a real local HTTP server, for tests and the sandbox demo.

Point a real client at it: ``WebClient(token=fake.bot_token, base_url=fake.api_url)``. Bodies
may be form-encoded or JSON (slack_sdk sends both), and parameters may also come in the query
string. It keeps channels, messages, threads, files and response_urls in memory, records every
call, and can inject faults (Slack errors, 429 with Retry-After, 5xx, dropped connections).
It is as strict as Slack where the bot could go wrong: scopes per token, channel membership,
empty texts, response_url limits, request size (fake_slack_channels.py, fake_slack_model.py,
fake_slack_responses.py, fake_slack_http.py).
Methods and errors follow https://docs.slack.dev/reference/methods; reference/slack.md A4-A9.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable
from http.server import ThreadingHTTPServer
from typing import Any

from standins.slack.api import Faults, Reply, Server
from standins.slack.channels import ChannelsMixin
from standins.slack.events import Delivery, EventsMixin
from standins.slack.files import FilesMixin
from standins.slack.messages import MessagesMixin
from standins.slack.model import (
    Channel,
    Message,
    RecordedCall,
    ResponseUrl,
    SlackError,
    UploadedFile,
    manifest_scopes,
)
from standins.slack.responses import ResponsesMixin
from standins.slack.views import ViewsMixin

__all__ = [
    "Channel",
    "Delivery",
    "FakeSlack",
    "Message",
    "RecordedCall",
    "SlackError",
    "UploadedFile",
]


class FakeSlack(ChannelsMixin, MessagesMixin, FilesMixin, ResponsesMixin, ViewsMixin, EventsMixin):
    """In-memory Slack workspace behind a real HTTP server; thread-safe.

    The bot token holds the scopes slack/manifest.json declares (``scopes`` replaces them);
    the bot is a member of the channels it starts with (#llm-alerts, #general).
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox",
        host: str = "127.0.0.1",
        port: int = 0,
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0BOT",
        scopes: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot_token, self.team_id, self.bot_user_id = bot_token, team_id, bot_user_id
        self.bot_id, self.app_id, self.team_domain = "B0BOT", "A0SANDBOX", "sandbox"
        self.clock = clock
        self.tokens: dict[str, frozenset[str]] = {
            bot_token: frozenset(manifest_scopes() if scopes is None else scopes)
        }
        self.faults = Faults()
        self.calls: list[RecordedCall] = []
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.files: dict[str, UploadedFile] = {}
        self.version = 0  # bumped on every state change; see wait_for()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._messages: dict[str, list[Message]] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._subscribers: list[Callable[[str, Message], None]] = []
        self._scopes_now: frozenset[str] = frozenset()  # the calling token's, during a call
        self._seq = 0  # response_url tokens
        self._ts_seq = 0  # message timestamps
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._init_views()
        self._init_events()
        self.create_channel("llm-alerts", id="C0ALERTS")
        self.create_channel("general", id="C0GENERAL")
        self.add_user(bot_user_id, "clusters-bot", is_bot=True)
        self.add_user("U0ALICE", "alice")

    def set_scopes(self, scopes: Iterable[str], token: str | None = None) -> None:
        """Replace the scopes a token holds (what reinstalling the app with others does)."""
        with self._lock:
            self.tokens[token or self.bot_token] = frozenset(scopes)

    def scopes(self, token: str | None = None) -> frozenset[str]:
        return self.tokens[token or self.bot_token]

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._server = Server(self._address, self._route)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # no more event retries
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    # -- workspace setup and inspection ------------------------------------------------------
    def add_user(self, user_id: str, name: str | None = None, *, is_bot: bool = False) -> None:
        with self._lock:
            user = {"id": user_id, "team_id": self.team_id, "name": name or user_id.lower()}
            self.users.setdefault(user_id, user | {"is_admin": False, "is_bot": is_bot})

    def set_admin(self, user_id: str, admin: bool = True) -> None:
        with self._lock:
            self.add_user(user_id)
            self.users[user_id]["is_admin"] = admin

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def subscribe(self, callback: Callable[[str, Message], None]) -> Callable[[], None]:
        """Call ``callback(kind, message)`` on "posted"/"updated"/"deleted"; returns unsubscribe.

        Callbacks run on the server's request threads, outside the state lock.
        """
        with self._lock:
            self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` is true (re-checked on every change); False on timeout."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    # -- Web API methods: params -> response dict, or raise SlackError -----------------------
    def _api_auth_test(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        return {
            "url": self.url + "/", "team": "Sandbox", "user": "clusters-bot",
            "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }  # fmt: skip

    def _api_users_info(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        self._need("users:read")
        user = self.users.get(str(params.get("user")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": dict(user)}

    # -- request dispatch (called on server threads) -----------------------------------------
    def _web_api(self, method: str, params: dict[str, Any], token: str | None) -> Reply:
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        events: list[tuple[str, Message]] = []
        with self._changed:
            scopes = self.tokens.get(token or "")
            # Slack names a valid token's scopes on every response (doctor reads them).
            headers = {"X-OAuth-Scopes": ",".join(sorted(scopes))} if scopes is not None else {}
            try:
                if handler is None:
                    raise SlackError("unknown_method")
                if not token:
                    raise SlackError("not_authed")
                if scopes is None:
                    raise SlackError("invalid_auth")
                self._scopes_now = scopes
                reply = Reply(200, {"ok": True} | handler(params, events), headers)
            except SlackError as exc:
                reply = Reply(200, {"ok": False, "error": exc.code} | exc.extra, headers)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:  # malformed params
                body = {"ok": False, "error": "invalid_arguments", "detail": repr(exc)}
                reply = Reply(200, body, headers)
            finally:
                self._scopes_now = frozenset()
            self._record(method, params, token, reply, events)
        self._notify(events)
        return reply

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        token: str | None,
        reply: Reply | None,
        events: list[tuple[str, Message]],
    ) -> None:
        status = reply.status if reply else None
        body = reply.body if reply else None
        error = body.get("error") if isinstance(body, dict) else (body if status != 200 else None)
        self.calls.append(RecordedCall(method, dict(params), token, status, error))
        for i, (kind, msg) in enumerate(events):  # subscribers get snapshots
            events[i] = (kind, copy.deepcopy(msg))
        self.version += 1
        self._changed.notify_all()

    def _notify(self, events: list[tuple[str, Message]]) -> None:
        for kind, msg in events:
            for callback in list(self._subscribers):
                callback(kind, msg)

    def _route(
        self, path: str, params: dict[str, Any], raw: bytes, token: str | None
    ) -> Reply | None:
        kind, _, rest = path.strip("/").partition("/")
        method = {"api": rest, "response": "response_url", "upload": "upload"}.get(kind)
        fault = self.faults.take(method) if method else None
        if fault is not None:
            time.sleep(fault.delay)
            if fault.fails and fault.after and kind == "api":
                self._web_api(rest, params, token)  # it happened; the caller hears otherwise
            if fault.fails:
                reply = fault.reply()
                with self._changed:
                    self._record(method or kind, params, token, reply, [])
                return reply
        if kind == "api":
            return self._web_api(rest, params, token)
        if kind == "response":
            return self._respond(rest, params, True)
        if kind == "upload":
            return self._upload(rest, raw)
        if kind == "archives" and "/p" in rest:  # our permalinks: the message as JSON
            channel, ts = rest.split("/p", 1)
            msg = self.get_message(channel, f"{ts[:-6]}.{ts[-6:]}")
            return Reply(200, msg.to_dict()) if msg else Reply(404, "message_not_found")
        return Reply(404, "not_found")
