"""Save a FakeSlack's channels and messages to a JSON file and load them back.

The sandbox writes ``<state_dir>/slack.json`` as it goes and on the way out, so a restart shows
the history, with the original timestamps: the bot's store remembers alert messages by ``ts``
and finds them again through ``conversations.history`` metadata, so they must survive intact.
FakeSlack has no public way to put back a message with a given ``ts``, so ``load`` fills its
message lists under its lock (the only place that touches FakeSlack's internals).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from standins.slack.server import FakeSlack, Message, UploadedFile

FORMAT_VERSION = 1


def message_to_json(msg: Message) -> dict[str, Any]:
    return {
        "ts": msg.ts,
        "channel": msg.channel,
        "user": msg.user,
        "text": msg.text,
        "blocks": msg.blocks,
        "thread_ts": msg.thread_ts,
        "replies": [message_to_json(reply) for reply in msg.replies],
        "ephemeral_for": msg.ephemeral_for,
        "edited": msg.edited,
        "files": [
            {"id": f.id, "filename": f.filename, "title": f.title, "length": f.length}
            for f in msg.files
        ],
        "bot_id": msg.bot_id,
        "metadata": msg.metadata,
    }


def message_from_json(data: dict[str, Any]) -> Message:
    return Message(
        ts=str(data["ts"]),
        channel=str(data["channel"]),
        user=str(data["user"]),
        text=str(data.get("text") or ""),
        blocks=list(data.get("blocks") or []),
        thread_ts=data.get("thread_ts"),
        replies=[message_from_json(reply) for reply in data.get("replies") or []],
        ephemeral_for=data.get("ephemeral_for"),
        edited=bool(data.get("edited")),
        files=[UploadedFile(**f) for f in data.get("files") or []],
        bot_id=data.get("bot_id"),
        metadata=data.get("metadata"),
    )


def snapshot(fake: FakeSlack) -> dict[str, Any]:
    """Channels (with their top-level messages and threads) and users, as JSON-able data."""
    with fake._lock:
        channels = [
            {
                "id": channel.id,
                "name": channel.name,
                "is_member": channel.is_member,
                "is_private": channel.is_private,
                "messages": [message_to_json(m) for m in fake.messages(channel.id)],
            }
            for channel in fake.channels.values()
        ]
        users = [dict(user) for user in fake.users.values()]
    return {"version": FORMAT_VERSION, "channels": channels, "users": users}


def save(fake: FakeSlack, path: str | Path) -> int:
    """Write the snapshot atomically (temp file + rename); returns the number of messages."""
    data = snapshot(fake)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(temporary, target)
    return sum(len(channel["messages"]) for channel in data["channels"])


def load(fake: FakeSlack, path: str | Path) -> int:
    """Put a saved snapshot back into ``fake`` (before anyone talks to it); returns how many
    top-level messages were restored. A missing file restores nothing."""
    source = Path(path)
    if not source.exists():
        return 0
    data = json.loads(source.read_text(encoding="utf-8"))
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{source}: unknown format version {data.get('version')!r}")
    restored = 0
    for user in data.get("users") or []:
        fake.add_user(str(user["id"]), user.get("name"), is_bot=bool(user.get("is_bot")))
        if user.get("is_admin"):
            fake.set_admin(str(user["id"]))
    with fake._changed:
        newest = 0
        for channel in data.get("channels") or []:
            if channel["id"] not in fake.channels:
                fake.create_channel(
                    channel["name"],
                    id=channel["id"],
                    member=channel["is_member"],
                    private=bool(channel.get("is_private")),
                )
            messages = [message_from_json(m) for m in channel.get("messages") or []]
            fake._messages[channel["id"]] = messages
            restored += len(messages)
            for msg in messages:
                for each in (msg, *msg.replies):
                    seconds, _, micros = each.ts.partition(".")
                    newest = max(newest, int(seconds) * 1_000_000 + int(micros or 0))
        fake._ts_seq = max(fake._ts_seq, newest)  # new messages sort after restored ones
        fake.version += 1
        fake._changed.notify_all()
    return restored
