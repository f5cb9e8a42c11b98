"""The sandbox page's HTML, rendered on the server from the fake Slack's state: a channel page,
its messages and threads as JSON, and the stand-in for PostHog's UI that the bot's links open.
Everything the page does goes through a ``Backend`` (``standins/run.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote

from standins.slack.server import FakeSlack, Message
from standins.web.blockkit import esc, message_body

STATIC = Path(__file__).parent / "static"
TOPICS = {
    "C0ALERTS": "clusters-bot posts here when a clustering run changes. Details go in threads.",
    "C0GENERAL": "Ask the bot anything: /clusters latest, /clusters top cost, /clusters help",
}


class Backend(Protocol):
    """What the page needs from the running sandbox (``standins.run.Sandbox``)."""

    @property
    def slack(self) -> FakeSlack: ...

    user_id: str

    def series_names(self) -> list[str]: ...
    def send_command(self, channel: str, text: str) -> dict[str, Any]: ...
    def click(
        self, channel: str, ts: str, action_id: str, block_id: str | None
    ) -> dict[str, Any]: ...
    def next_run(self, job_name: str, change: str) -> dict[str, Any]: ...
    def check_now(self) -> None: ...


class BadRequest(Exception):
    """A request the page should not have sent; answered with 400 and the message."""


def visible(messages: list[Message], user_id: str) -> list[Message]:
    return [m for m in messages if m.ephemeral_for in (None, user_id)]


def names_of(fake: FakeSlack) -> dict[str, str]:
    names = {uid: str(user.get("name", uid)) for uid, user in fake.users.items()}
    return names | {cid: channel.name for cid, channel in fake.channels.items()}


def clock(ts: str) -> tuple[str, str]:
    moment = datetime.fromtimestamp(float(ts), UTC)
    return moment.isoformat(), moment.strftime("%H:%M")


def render_message(
    msg: Message, *, names: dict[str, str], user_id: str, bot_user_id: str, in_thread: bool
) -> str:
    author = "clusters-bot" if msg.user == bot_user_id else names.get(msg.user, msg.user)
    iso, hhmm = clock(msg.ts)
    badge = '<span class="msg-badge">APP</span>' if msg.bot_id else ""
    edited = '<span class="msg-edited">(edited)</span>' if msg.edited else ""
    parts = [
        f'<div class="msg-meta"><span class="msg-author">{esc(author)}</span>{badge}'
        f'<time class="msg-time" datetime="{iso}" title="{iso}">{hhmm}</time>{edited}</div>'
    ]
    if msg.ephemeral_for:
        parts.append('<div class="msg-ephemeral">Only visible to you</div>')
    parts.append(message_body(msg.text, msg.blocks, names))
    if msg.files:  # uploaded charts show inline, as Slack previews images
        files = "".join(
            f'<li class="msg-file"><img class="msg-image" src="/files/{quote(f.id)}" '
            f'alt="{esc(f.title or f.filename)}" loading="lazy"><span>{esc(f.title or f.filename)}'
            "</span></li>"
            for f in msg.files
        )
        parts.append(f'<ul class="msg-files">{files}</ul>')
    replies = visible(msg.replies, user_id)
    if replies and not in_thread:
        count = f"{len(replies)} repl{'y' if len(replies) == 1 else 'ies'}"
        last_iso, last = clock(replies[-1].ts)
        parts.append(
            f'<button type="button" class="msg-replies" data-open-thread="{esc(msg.ts)}">'
            f'{count}</button><span class="msg-replies-last">Last reply '
            f'<time datetime="{last_iso}">{last}</time></span>'
        )
    css = "msg" + (" msg-ephemeral-body" if msg.ephemeral_for else "")
    initials = "CB" if msg.user == bot_user_id else esc(author[:2].upper())
    return (
        f'<div class="{css}" id="msg-{esc(msg.ts)}" data-ts="{esc(msg.ts)}" '
        f'data-channel="{esc(msg.channel)}"><div class="avatar" aria-hidden="true">{initials}'
        f'</div><div class="msg-main">{"".join(parts)}</div></div>'
    )


class Pages:
    """HTML and JSON views of the backend's FakeSlack, as the user ``backend.user_id`` sees it."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.template = Template((STATIC / "index.html").read_text(encoding="utf-8"))

    def _render(self, messages: list[Message], *, in_thread: bool) -> list[dict[str, str]]:
        fake, user = self.backend.slack, self.backend.user_id
        names = names_of(fake)
        return [
            {
                "ts": m.ts,
                "html": render_message(
                    m, names=names, user_id=user, bot_user_id=fake.bot_user_id, in_thread=in_thread
                ),
            }
            for m in visible(messages, user)
        ]

    def channel_json(self, channel: str) -> dict[str, Any]:
        fake = self.backend.slack
        if channel not in fake.channels:
            raise BadRequest(f"unknown channel {channel!r}")
        return {
            "channel": channel,
            "messages": self._render(fake.messages(channel), in_thread=False),
        }

    def thread_json(self, channel: str, ts: str) -> dict[str, Any]:
        fake = self.backend.slack
        parent = fake.get_message(channel, ts)
        if parent is None:
            raise BadRequest("no such message")
        return {
            "channel": channel,
            "ts": ts,
            "parent": self._render([parent], in_thread=True),
            "replies": self._render(parent.replies, in_thread=True),
        }

    def page(self, channel: str) -> str:
        fake = self.backend.slack
        sidebar = "".join(
            f'<li><a class="channel-link{" active" if cid == channel else ""}" '
            f'href="/c/{esc(cid)}" data-channel="{esc(cid)}"># {esc(c.name)}</a></li>'
            for cid, c in fake.channels.items()
        )
        messages = "".join(m["html"] for m in self.channel_json(channel)["messages"])
        series = "".join(
            f'<option value="{esc(n)}">{esc(n)}</option>' for n in self.backend.series_names()
        )
        name = fake.channels[channel].name
        return self.template.substitute(
            title=f"#{esc(name)} · clusters-bot sandbox",
            channel_id=esc(channel),
            channel_name=esc(name),
            channel_topic=esc(TOPICS.get(channel, "")),
            user_id=esc(self.backend.user_id),
            sidebar=sidebar,
            messages=messages,
            empty_text=esc("No messages yet."),
            series_options=series,
        )


def posthog_stand_in(path: str, query: str) -> str:
    """The bot links to PostHog's UI; in the sandbox those links land here and say so."""
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(', '.join(v))}</td></tr>"
        for k, v in parse_qs(query).items()
    )
    what = "a trace" if "/traces/" in path else "a clustering run or cluster"
    template = Template((STATIC / "standin.html").read_text(encoding="utf-8"))
    return template.substitute(what=what, path=esc(unquote(path)), rows=rows)


# -- HTTP --------------------------------------------------------------------------------------
