"""A fake Slack Web API on a real local HTTP server, for tests and the sandbox demo.

Point a real client at it: ``WebClient(token=fake.bot_token, base_url=fake.api_url)``. Bodies
may be form-encoded or JSON (slack_sdk sends both), and parameters may also come in the query
string. It keeps channels, messages, threads, files and response_urls in memory, records every
call, and can inject faults (Slack errors, 429 with Retry-After, 5xx, dropped connections).
Methods and errors follow https://docs.slack.dev/reference/methods; reference/slack.md A4-A9.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from sandbox.fake_slack_http import Faults, Handler, Reply, Server

RESPONSE_URL_MAX_USES = 5  # "publish up to 5 times within 30 minutes" (slack.md A5)
MESSAGE_BLOCKS_MAX = 50


class SlackError(Exception):
    """A Slack API error: HTTP 200 with ``{"ok": false, "error": code}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code, self.extra = code, extra


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True
    is_private: bool = False


@dataclass
class UploadedFile:
    id: str
    filename: str
    title: str = ""
    length: int = 0
    content: bytes | None = None  # None until the upload POST arrives


@dataclass
class Message:
    ts: str
    channel: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None  # parent ts for replies
    replies: list[Message] = field(default_factory=list)
    ephemeral_for: str | None = None  # user id for ephemeral messages
    edited: bool = False
    files: list[UploadedFile] = field(default_factory=list)
    bot_id: str | None = None
    metadata: dict[str, Any] | None = None  # chat.postMessage `metadata`: event_type, payload

    def to_dict(self) -> dict[str, Any]:
        """The message as Slack's API shows it (``message`` in responses and payloads)."""
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user}
        out |= {"text": self.text, "blocks": copy.deepcopy(self.blocks)}
        if self.bot_id:
            out |= {"bot_id": self.bot_id, "subtype": "bot_message"}
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.replies:
            out |= {"thread_ts": self.ts, "reply_count": len(self.replies)}
        if self.edited:
            out["edited"] = {"user": self.user, "ts": self.ts}
        if self.files:
            out["files"] = [{"id": f.id, "name": f.filename, "title": f.title} for f in self.files]
        return out


@dataclass(frozen=True)
class RecordedCall:
    """One request. ``method`` is the API method, or "response_url" / "upload" for those URLs.

    ``status`` is the HTTP status sent, None when the connection was dropped; ``error`` is the
    Slack error code returned, if any.
    """

    method: str
    params: dict[str, Any]
    token: str | None
    status: int | None
    error: str | None = None


@dataclass
class _ResponseUrl:
    channel: str
    user: str
    thread_ts: str | None
    message_ts: str | None  # the message an interaction came from ("original")
    uses: int = 0


def _page(messages: list[Message], params: dict[str, Any]) -> list[dict[str, Any]]:
    """conversations.* filtering: `oldest`/`latest` bounds, `limit`, metadata on request."""
    oldest = float(params.get("oldest") or 0)
    latest = float(params.get("latest") or "inf")
    limit = int(params.get("limit") or 100)
    with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
    out = []
    for message in messages:
        if oldest < float(message.ts) <= latest:
            shown = message.to_dict()
            if with_metadata and message.metadata:
                shown["metadata"] = copy.deepcopy(message.metadata)
            out.append(shown)
    return out[:limit]


def _text_param(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    return None if value is None else str(value)


def _json_param(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    return json.loads(value) if isinstance(value, str) and value else value


def _blocks(params: dict[str, Any]) -> list[dict[str, Any]]:
    """``blocks`` (a list or a JSON string), checked like Slack does: ``invalid_blocks``."""
    blocks = _json_param(params, "blocks") or []
    if errors := _invalid_blocks(blocks):
        raise SlackError("invalid_blocks", errors=errors)
    return list(blocks)


def _invalid_blocks(blocks: list[dict[str, Any]]) -> list[str]:
    """Independent of the bot's own checks, so the fake catches what they miss."""
    errors = [f"more than {MESSAGE_BLOCKS_MAX} blocks"] if len(blocks) > MESSAGE_BLOCKS_MAX else []
    for i, block in enumerate(blocks):
        for j, fld in enumerate(block.get("fields") or []):
            if len(fld.get("text", "")) > 2000:
                errors.append(f"/{i}/fields/{j}/text: must be at most 2000 characters")
        try:
            parsed = Block.parse(block)
            if parsed is not None:
                parsed.validate_json()
        except SlackObjectFormationError as exc:
            errors.append(f"/{i}: {exc}")
    return errors


class FakeSlack:
    """In-memory Slack workspace behind a real HTTP server; thread-safe."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox",
        host: str = "127.0.0.1",
        port: int = 0,
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0BOT",
    ) -> None:
        self.bot_token, self.team_id, self.bot_user_id = bot_token, team_id, bot_user_id
        self.bot_id, self.app_id, self.team_domain = "B0BOT", "A0SANDBOX", "sandbox"
        self.faults = Faults()
        self.calls: list[RecordedCall] = []
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.files: dict[str, UploadedFile] = {}
        self.version = 0  # bumped on every state change; see wait_for()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._messages: dict[str, list[Message]] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._subscribers: list[Callable[[str, Message], None]] = []
        self._seq = 0  # response_url tokens
        self._ts_seq = 0  # message timestamps
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.create_channel("llm-alerts", id="C0ALERTS")
        self.create_channel("general", id="C0GENERAL")
        self.add_user(bot_user_id, "clusters-bot", is_bot=True)
        self.add_user("U0ALICE", "alice")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        handler = type("_BoundHandler", (Handler,), {"fake": self})
        self._server = Server(self._address, handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
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
    def create_channel(self, name: str, id: str | None = None, member: bool = True) -> str:
        with self._lock:
            channel_id = id or f"C0SBX{len(self.channels) + 1:04d}"
            self.channels[channel_id] = Channel(channel_id, name, is_member=member)
            self._messages.setdefault(channel_id, [])
            return channel_id

    def add_user(self, user_id: str, name: str | None = None, *, is_bot: bool = False) -> None:
        with self._lock:
            user = {"id": user_id, "team_id": self.team_id, "name": name or user_id.lower()}
            self.users.setdefault(user_id, user | {"is_admin": False, "is_bot": is_bot})

    def set_admin(self, user_id: str, admin: bool = True) -> None:
        with self._lock:
            self.add_user(user_id)
            self.users[user_id]["is_admin"] = admin

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages (ephemeral ones included, see ``ephemeral_for``), oldest first."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel, []))

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies under parent ``ts`` (the parent itself is not included)."""
        with self._lock:
            parent = self._find(channel, ts)
            return copy.deepcopy(parent.replies) if parent else []

    def get_message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            return copy.deepcopy(self._find(channel, ts))

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def response_url(
        self,
        channel: str,
        user: str,
        thread_ts: str | None = None,
        *,
        message_ts: str | None = None,
    ) -> str:
        """A response_url for an interaction; ``message_ts`` is the message clicked, if any."""
        with self._lock:
            self._seq += 1
            token = f"R{self._seq:06d}"
            self._response_urls[token] = _ResponseUrl(channel, user, thread_ts, message_ts)
        return f"{self.url}/response/{token}"

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

    # -- state changes (all under the lock) --------------------------------------------------
    def _next_ts(self) -> str:
        """Like Slack: the epoch time in microseconds, unique and increasing per workspace."""
        self._ts_seq = max(self._ts_seq + 1, int(time.time() * 1_000_000))
        return f"{self._ts_seq // 1_000_000}.{self._ts_seq % 1_000_000:06d}"

    def _find(self, channel: str, ts: str) -> Message | None:
        for msg in self._messages.get(channel, []):
            if msg.ts == ts:
                return msg
            for reply in msg.replies:
                if reply.ts == ts:
                    return reply
        return None

    def _container(self, channel: str, thread_ts: str | None) -> list[Message]:
        if thread_ts is None:
            return self._messages.setdefault(channel, [])
        parent = self._find(channel, thread_ts)
        if parent is None:
            raise SlackError("thread_not_found")  # stricter than Slack: catches bad thread_ts
        return parent.replies

    def _add_message(self, msg: Message, events: list[tuple[str, Message]]) -> Message:
        parent = self._find(msg.channel, msg.thread_ts) if msg.thread_ts else None
        if parent is not None and parent.thread_ts:  # a reply's ts: Slack uses its parent
            msg.thread_ts = parent.thread_ts
        self._container(msg.channel, msg.thread_ts).append(msg)
        events.append(("posted", msg))
        return msg

    def _remove(self, msg: Message, events: list[tuple[str, Message]]) -> None:
        self._container(msg.channel, msg.thread_ts).remove(msg)
        events.append(("deleted", msg))

    def _channel(self, params: dict[str, Any], key: str = "channel") -> Channel:
        ref = str(params.get(key) or "").lstrip("#")
        for channel in self.channels.values():
            if ref in (channel.id, channel.name):
                return channel
        raise SlackError("channel_not_found")

    def _message_in(self, params: dict[str, Any], ts_key: str = "ts") -> Message:
        msg = self._find(self._channel(params).id, str(params.get(ts_key)))
        if msg is None:
            raise SlackError("message_not_found")
        return msg

    def _content(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        text, blocks = _text_param(params, "text") or "", _blocks(params)
        if not text and not blocks and not params.get("attachments"):
            raise SlackError("no_text")
        return text, blocks

    def _bot_message(self, params: dict[str, Any], channel: str, **kw: Any) -> Message:
        text, blocks = self._content(params)
        user, bot_id = self.bot_user_id, self.bot_id
        return Message(self._next_ts(), channel, user, text, blocks, bot_id=bot_id, **kw)

    # -- Web API methods: params -> response dict, or raise SlackError -----------------------
    def _api_auth_test(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        return {
            "url": self.url + "/", "team": "Sandbox", "user": "clusters-bot",
            "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }  # fmt: skip

    def _api_chat_postMessage(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if not channel.is_member:
            raise SlackError("not_in_channel")
        msg = self._bot_message(params, channel.id, thread_ts=_text_param(params, "thread_ts"))
        metadata = _json_param(params, "metadata")
        msg.metadata = metadata if isinstance(metadata, dict) else None
        self._add_message(msg, ev)
        return {"channel": channel.id, "ts": msg.ts, "message": msg.to_dict()}

    def _api_conversations_history(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        """Top-level messages, newest first; `metadata` only with include_all_metadata."""
        channel = self._channel(params)
        visible = [m for m in self._container(channel.id, None) if m.ephemeral_for is None]
        return {"messages": _page(visible[::-1], params), "has_more": False}

    def _api_conversations_replies(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        """A thread: its parent, then the replies, oldest first."""
        parent = self._message_in(params)
        thread = [parent, *(m for m in parent.replies if m.ephemeral_for is None)]
        return {"messages": _page(thread, params), "has_more": False}

    def _api_chat_postEphemeral(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if not channel.is_member:
            raise SlackError("not_in_channel")
        user = _text_param(params, "user")
        if not user or user not in self.users:
            raise SlackError("user_not_found")
        thread_ts = _text_param(params, "thread_ts")
        msg = self._bot_message(params, channel.id, thread_ts=thread_ts, ephemeral_for=user)
        return {"message_ts": self._add_message(msg, ev).ts}

    def _api_chat_update(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        msg = self._message_in(params)
        if msg.ephemeral_for:  # "Ephemeral messages can't be updated" (slack.md A5)
            raise SlackError("message_not_found")
        if msg.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        if params.get("text") is None and params.get("blocks") is None:
            raise SlackError("no_text")
        if params.get("blocks") is not None:  # absent: keep blocks; [] clears them
            msg.blocks = _blocks(params)
        if params.get("text") is not None:
            msg.text = str(params["text"])
        msg.edited = True
        ev.append(("updated", msg))
        return {"channel": msg.channel, "ts": msg.ts, "text": msg.text, "message": msg.to_dict()}

    def _api_chat_delete(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        msg = self._message_in(params)
        if msg.user != self.bot_user_id:
            raise SlackError("cant_delete_message")
        self._remove(msg, ev)
        return {"channel": msg.channel, "ts": msg.ts}

    def _api_chat_getPermalink(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        msg = self._message_in(params, "message_ts")
        link = f"{self.url}/archives/{msg.channel}/p{msg.ts.replace('.', '')}"
        if msg.thread_ts:
            link += f"?thread_ts={msg.thread_ts}&cid={msg.channel}"
        return {"channel": msg.channel, "permalink": link}

    def _api_conversations_info(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        c = self._channel(params)
        return {
            "channel": {
                "id": c.id, "name": c.name, "is_channel": not c.is_private,
                "is_private": c.is_private, "is_member": c.is_member, "is_archived": False,
            }
        }  # fmt: skip

    def _api_users_info(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": dict(user)}

    def _api_files_getUploadURLExternal(
        self, params: dict[str, Any], ev: list[Any]
    ) -> dict[str, Any]:
        filename, length = _text_param(params, "filename"), params.get("length")
        if not filename or length is None:
            raise SlackError("invalid_arguments")
        file_id = f"F0SBX{len(self.files) + 1:05d}"
        self.files[file_id] = UploadedFile(file_id, filename, filename, int(length))
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(
        self, params: dict[str, Any], ev: list[Any]
    ) -> dict[str, Any]:
        items = _json_param(params, "files") or []
        uploads = [self.files.get(str(item.get("id"))) for item in items]
        if not uploads or any(f is None or f.content is None for f in uploads):
            raise SlackError("file_not_found")
        done = [f for f in uploads if f is not None]
        for f, item in zip(done, items, strict=True):
            f.title = item.get("title") or f.filename
        if params.get("channel_id"):
            channel = self._channel(params, "channel_id")
            text = _text_param(params, "initial_comment") or ""
            msg = Message(self._next_ts(), channel.id, self.bot_user_id, text, files=done)
            msg.thread_ts, msg.bot_id = _text_param(params, "thread_ts"), self.bot_id
            self._add_message(msg, ev)
        return {"files": [{"id": f.id, "name": f.filename, "title": f.title} for f in done]}

    # -- request dispatch (called on server threads) -----------------------------------------
    def _web_api(self, method: str, params: dict[str, Any], token: str | None) -> Reply:
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        events: list[tuple[str, Message]] = []
        with self._changed:
            try:
                if handler is None:
                    raise SlackError("unknown_method")
                if not token:
                    raise SlackError("not_authed")
                if token != self.bot_token:
                    raise SlackError("invalid_auth")
                reply = Reply(200, {"ok": True} | handler(params, events))
            except SlackError as exc:
                reply = Reply(200, {"ok": False, "error": exc.code} | exc.extra)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:  # malformed params
                reply = Reply(200, {"ok": False, "error": "invalid_arguments", "detail": repr(exc)})
            self._record(method, params, token, reply, events)
        self._notify(events)
        return reply

    def respond(self, url: str, payload: dict[str, Any], *, counts: bool = True) -> int:
        """Apply a POST to a response_url as Slack would; returns the HTTP status.

        Also used for a slash command's HTTP ack body (``counts=False``, recorded as "ack"),
        which Slack shows like a response_url message.
        """
        return self._respond(url, payload, counts).status

    def _respond(self, url: str, payload: dict[str, Any], counts: bool) -> Reply:
        events: list[tuple[str, Message]] = []
        with self._changed:
            token = url.rstrip("/").rsplit("/", 1)[-1]
            reply = self._respond_locked(token, payload, counts, events)
            self._record("response_url" if counts else "ack", payload, None, reply, events)
        self._notify(events)
        return reply

    def _respond_locked(
        self, token: str, payload: dict[str, Any], counts: bool, ev: list[tuple[str, Message]]
    ) -> Reply:
        state = self._response_urls.get(token)
        if state is None:
            return Reply(404, "expired_url")
        if counts:
            if state.uses >= RESPONSE_URL_MAX_USES:
                return Reply(404, "used_url")
            state.uses += 1
        original = self._find(state.channel, state.message_ts) if state.message_ts else None
        try:
            if payload.get("delete_original"):
                if original is None:
                    return Reply(404, "message_not_found")
                self._remove(original, ev)
            elif payload.get("replace_original") and original is not None:
                original.text, original.blocks = self._content(payload)
                original.edited = True
                ev.append(("updated", original))
            else:  # a new message; "ephemeral" is the default response_type
                ephemeral = payload.get("response_type", "ephemeral") != "in_channel"
                thread_ts = payload.get("thread_ts") or state.thread_ts
                msg = self._bot_message(payload, state.channel, thread_ts=thread_ts)
                msg.ephemeral_for = state.user if ephemeral else None
                state.message_ts = self._add_message(msg, ev).ts  # for a later replace_original
        except SlackError as exc:
            return Reply(400, exc.code)
        return Reply(200, {"ok": True})

    def _upload(self, file_id: str, data: bytes) -> Reply:
        with self._changed:
            upload = self.files.get(file_id)
            if upload is None:
                reply = Reply(404, "file_not_found")
            else:
                upload.content, upload.length = data, len(data)
                reply = Reply(200, f"OK - {len(data)}")
            self._record("upload", {"file_id": file_id, "length": len(data)}, None, reply, [])
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
