"""The fake Slack's data: workspace objects, recorded calls, parameter parsing, and the checks
Slack applies to blocks and scopes (so the fake refuses what Slack refuses)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MESSAGE_BLOCKS_MAX = 50
RESPONSE_URL_MAX_USES = 5  # "publish up to 5 times within 30 minutes" (slack.md A5)
RESPONSE_URL_LIFETIME = 30 * 60.0
# The stand-ins run from a checkout (they are not in the wheel): slack/manifest.json at its top.
MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.json"


class SlackError(Exception):
    """A Slack API error: HTTP 200 with ``{"ok": false, "error": code}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code, self.extra = code, extra


def manifest_scopes() -> frozenset[str]:
    """The bot scopes slack/manifest.json declares: what an installed bot token holds."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


@dataclass
class Channel:
    """A conversation. `external`: shared with another organisation (Slack Connect). `im_user`:
    a DM's other person (a DM's id starts with D; the bot is a member only of its own)."""

    id: str
    name: str
    is_member: bool = True
    is_private: bool = False
    external: bool = False
    im_user: str | None = None

    @property
    def is_im(self) -> bool:
        return self.im_user is not None

    def to_dict(self) -> dict[str, Any]:
        """As conversations.info shows it (https://docs.slack.dev/reference/objects/
        conversation-object): a DM has no name or is_member; sharing is in the is_*shared
        flags."""
        if self.is_im:
            return {
                "id": self.id, "created": 1700000000, "is_im": True, "is_org_shared": False,
                "user": self.im_user, "is_user_deleted": False, "priority": 0,
            }  # fmt: skip
        return {
            "id": self.id, "name": self.name, "is_channel": not self.is_private,
            "is_group": self.is_private, "is_im": False, "is_mpim": False,
            "is_private": self.is_private, "is_member": self.is_member, "is_archived": False,
            "is_shared": self.external, "is_ext_shared": self.external,
            "is_org_shared": False, "is_pending_ext_shared": False,
        }  # fmt: skip


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
class ResponseUrl:
    channel: str
    user: str
    thread_ts: str | None
    message_ts: str | None  # the message an interaction came from ("original")
    created_at: float
    uses: int = 0


def page(messages: list[Message], params: dict[str, Any]) -> list[dict[str, Any]]:
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


def text_param(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    return None if value is None else str(value)


def json_param(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    return json.loads(value) if isinstance(value, str) and value else value


def blocks_param(params: dict[str, Any]) -> list[dict[str, Any]]:
    """``blocks`` (a list or a JSON string), checked like Slack does: ``invalid_blocks``."""
    blocks = json_param(params, "blocks") or []
    if errors := invalid_blocks(blocks):
        raise SlackError("invalid_blocks", errors=errors)
    return list(blocks)


def invalid_blocks(blocks: list[dict[str, Any]]) -> list[str]:
    """Independent of the bot's own checks, so the fake catches what they miss. slack_sdk's
    validators check maximum lengths only; Slack also refuses empty texts."""
    errors = [f"more than {MESSAGE_BLOCKS_MAX} blocks"] if len(blocks) > MESSAGE_BLOCKS_MAX else []
    for i, block in enumerate(blocks):
        for j, fld in enumerate(block.get("fields") or []):
            if len(fld.get("text", "")) > 2000:
                errors.append(f"/{i}/fields/{j}/text: must be at most 2000 characters")
        errors += [f"/{i}{path}: must be more than 0 characters" for path in _empty_texts(block)]
        try:
            parsed = Block.parse(block)
            if parsed is not None:
                parsed.validate_json()
        except SlackObjectFormationError as exc:
            errors.append(f"/{i}: {exc}")
    return errors


def _empty_texts(block: dict[str, Any]) -> list[str]:
    """Paths of the texts Slack requires to be non-empty: a header's, a section's (a section
    needs text or fields), a context element's and a button's."""

    def empty(obj: Any) -> bool:
        return not isinstance(obj, dict) or not str(obj.get("text") or "")

    kind, found = block.get("type"), []
    if kind == "header" and empty(block.get("text")):
        found.append("/text")
    if kind == "section":
        if "text" in block and empty(block["text"]):
            found.append("/text")
        if "text" not in block and not block.get("fields"):
            found.append("/text")
        found += [f"/fields/{j}" for j, f in enumerate(block.get("fields") or []) if empty(f)]
    if kind == "context":
        found += [
            f"/elements/{j}"
            for j, element in enumerate(block.get("elements") or [])
            if element.get("type") in ("mrkdwn", "plain_text") and empty(element)
        ]
    elements = list(block.get("elements") or []) if kind == "actions" else []
    if kind == "section" and isinstance(block.get("accessory"), dict):
        elements.append(block["accessory"])
    found += [
        "/button/text" for element in elements if element.get("type") == "button"
        and empty(element.get("text"))
    ]  # fmt: skip
    return found
