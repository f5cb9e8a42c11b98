"""Views of the fake Slack: the App Home tab and modals (views.publish/open/update), with the
trigger_ids Slack issues for interactions, as strict as Slack where the bot could go wrong:
a trigger_id must be one Slack issued, is used once and expires 3 s after the interaction
(`expired_trigger_id`; https://docs.slack.dev/interactivity/handling-user-interaction), views
hold at most 100 blocks and
modal titles 24 characters, input blocks need a submit button, view_ids must exist and a
stale `hash` is refused (https://docs.slack.dev/reference/methods/views.open, views.update,
views.publish; https://docs.slack.dev/surfaces/modals)."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.views import View

from standins.slack.model import SlackError, invalid_blocks, json_param, text_param

VIEW_BLOCKS_MAX = 100
VIEW_TEXT_MAX = 24  # title, submit, close
PRIVATE_METADATA_MAX = 3000
TRIGGER_LIFETIME = 3.0  # seconds a trigger_id opens a modal


@dataclass
class FakeView:
    id: str
    user: str
    view: dict[str, Any]
    hash: str
    open: bool = True
    errors: dict[str, str] = field(default_factory=dict)  # the last response_action errors

    def to_dict(self, team_id: str, app_id: str) -> dict[str, Any]:
        out = copy.deepcopy(self.view)
        out |= {"id": self.id, "hash": self.hash, "team_id": team_id, "app_id": app_id}
        out.setdefault("private_metadata", "")
        out.setdefault("callback_id", "")
        out.setdefault("state", {"values": {}})
        return out


def invalid_view(view: Any, kind: str) -> list[str]:
    """What Slack refuses in a view of `kind` ("home" or "modal"), independent of the bot."""
    if not isinstance(view, dict):
        return ["view: must be an object"]
    if view.get("type") != kind:
        return [f"view.type: must be {kind}"]
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return ["view.blocks: required"]
    errors = [f"more than {VIEW_BLOCKS_MAX} blocks"] if len(blocks) > VIEW_BLOCKS_MAX else []
    for start in range(0, len(blocks), 50):  # invalid_blocks also counts a message's 50
        errors += [f"blocks from {start}: {e}" for e in invalid_blocks(blocks[start : start + 50])]
    if len(str(view.get("private_metadata") or "")) > PRIVATE_METADATA_MAX:
        errors.append(f"private_metadata: more than {PRIVATE_METADATA_MAX} characters")
    if kind == "modal":
        for key in ("title", "submit", "close"):
            text = str((view.get(key) or {}).get("text") or "")
            if key == "title" and not text:
                errors.append("title: required")
            if len(text) > VIEW_TEXT_MAX:
                errors.append(f"{key}: must be at most {VIEW_TEXT_MAX} characters")
        if any(b.get("type") == "input" for b in blocks) and not view.get("submit"):
            errors.append("submit: required when the view has input blocks")
    try:
        View(**{k: v for k, v in view.items() if k != "type"}, type=kind).validate_json()
    except (SlackObjectFormationError, TypeError) as exc:
        errors.append(f"view: {exc}")
    return errors


class ViewsMixin:
    team_id: str
    app_id: str
    clock: Callable[[], float]
    users: dict[str, dict[str, Any]]
    _lock: threading.RLock

    if TYPE_CHECKING:

        def _need(self, scope: str) -> None: ...
        def _find(self, channel: str, ts: str) -> Any: ...
        def _next_ts(self) -> str: ...
        def _add_message(self, msg: Any, events: list[Any]) -> Any: ...

    def _init_views(self) -> None:
        self.unfurls: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> url -> card
        # the links Slack announced in link_shared, as it wrote them, per (channel, ts) of the
        # posted message or ("composer", unfurl_id) of a message still being written
        self.shared_links: dict[tuple[str, str], set[str]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}  # user -> the published Home tab
        self.views: dict[str, FakeView] = {}  # view_id -> modal
        self._triggers: dict[str, tuple[str, float]] = {}  # unused trigger_id -> (user, issued)

    # -- what Slack does when a person interacts -----------------------------------------------
    def issue_trigger(self, user: str) -> str:
        """A trigger_id for an interaction by `user` (what Slack puts in the payload)."""
        trigger = f"{uuid.uuid4().int % 10**13}.{self.team_id}.{uuid.uuid4().hex[:32]}"
        with self._lock:
            self._triggers[trigger] = (user, self.clock())
        return trigger

    def view_response(self, view_id: str, body: dict[str, Any] | None) -> None:
        """Apply the app's answer to a view_submission: close, update, or show errors."""
        with self._lock:
            shown = self.views[view_id]
            action = (body or {}).get("response_action")
            if action == "errors":
                # Slack shows an error under an input block, named by its block_id; it refuses
                # a key that names no input of the view (the modal would show nothing)
                inputs = {
                    b.get("block_id")
                    for b in shown.view.get("blocks") or []
                    if b.get("type") == "input"
                }
                errors = dict(body["errors"])  # type: ignore[index]
                if not errors or set(errors) - inputs:
                    raise SlackError("invalid_arguments", errors=sorted(set(errors) - inputs))
                shown.errors = errors
            elif action == "update":
                problems = invalid_view(body["view"], "modal")  # type: ignore[index]
                if problems:
                    raise SlackError("invalid_arguments", errors=problems)
                shown.view, shown.hash, shown.errors = body["view"], _hash(), {}  # type: ignore[index]
            else:
                shown.open = False

    def share_link(self, user: str, channel: str, url: str) -> tuple[str, str]:
        """A person posts a message with link `url`: returns its ts and the URL as Slack writes
        it in `link_shared`, with `&` as `&amp;` (as in message text)."""
        ts = self.post_as(user, channel, url)
        announced = _as_slack_writes(url)
        with self._lock:
            self.shared_links.setdefault((channel, ts), set()).add(announced)
        return ts, announced

    def compose_link(self, url: str) -> tuple[str, str]:
        """A person pastes `url` into the composer: Slack previews it before the message exists
        (`source: composer`); returns the unfurl_id and the URL as announced."""
        unfurl_id = f"C-{uuid.uuid4().hex[:12]}"
        announced = _as_slack_writes(url)
        with self._lock:
            self.shared_links[("composer", unfurl_id)] = {announced}
        return unfurl_id, announced

    def post_as(self, user: str, channel: str, text: str) -> str:
        """A person posts `text` in `channel` (a link to unfurl, say); returns its ts."""
        from standins.slack.model import Message

        with self._lock:
            return str(self._add_message(Message(self._next_ts(), channel, user, text), []).ts)

    # -- inspection ----------------------------------------------------------------------------
    def home_view(self, user: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.home_views.get(user)
            return copy.deepcopy(found) if found else None

    def open_views(self, user: str) -> list[FakeView]:
        with self._lock:
            return [copy.deepcopy(v) for v in self.views.values() if v.user == user and v.open]

    # -- Web API methods -----------------------------------------------------------------------
    def _api_views_publish(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        user = text_param(params, "user_id") or ""
        if user not in self.users:
            raise SlackError("user_not_found")
        view = json_param(params, "view")
        if problems := invalid_view(view, "home"):
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        shown = {**view, "id": f"V{uuid.uuid4().hex[:10].upper()}", "hash": _hash()}
        self.home_views[user] = shown
        return {"view": copy.deepcopy(shown)}

    def _api_views_open(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        trigger = text_param(params, "trigger_id") or ""
        issued = self._triggers.pop(trigger, None)
        if issued is None:  # never issued, or used already
            raise SlackError("invalid_trigger_id")
        user, at = issued
        if self.clock() - at > TRIGGER_LIFETIME:
            raise SlackError("expired_trigger_id")
        view = json_param(params, "view")
        if problems := invalid_view(view, "modal"):
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        opened = FakeView(f"V{uuid.uuid4().hex[:10].upper()}", user, view, _hash())
        self.views[opened.id] = opened
        return {"view": opened.to_dict(self.team_id, self.app_id)}

    def _api_views_update(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        shown = self.views.get(text_param(params, "view_id") or "")
        if shown is None or not shown.open:
            raise SlackError("not_found")
        expected = text_param(params, "hash")
        if expected is not None and expected != shown.hash:
            raise SlackError("hash_conflict")
        view = json_param(params, "view")
        if problems := invalid_view(view, "modal"):
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        shown.view, shown.hash = view, _hash()
        return {"view": shown.to_dict(self.team_id, self.app_id)}

    def _api_chat_unfurl(self, params: dict[str, Any], ev: list[Any]) -> dict[str, Any]:
        self._need("links:write")
        source, unfurl_id = text_param(params, "source"), text_param(params, "unfurl_id")
        if source is not None or unfurl_id is not None:  # a message still in the composer
            if source not in ("composer", "conversations_history"):
                raise SlackError("invalid_source")
            channel, ts = "composer", unfurl_id or ""
            if (channel, ts) not in self.shared_links:
                raise SlackError("invalid_unfurl_id")
        else:
            channel, ts = text_param(params, "channel") or "", text_param(params, "ts") or ""
            if self._find(channel, ts) is None:
                raise SlackError("cannot_find_message")
        unfurls = json_param(params, "unfurls")
        if not isinstance(unfurls, dict) or not unfurls:
            raise SlackError("invalid_unfurls")
        announced = self.shared_links.get((channel, ts), set())
        if any(url not in announced for url in unfurls):  # keys are the URLs as announced
            raise SlackError("cannot_unfurl_url")
        for card in unfurls.values():
            if problems := invalid_blocks(list(card.get("blocks") or [])):
                raise SlackError("invalid_blocks", errors=problems)
        self.unfurls.setdefault((channel, ts), {}).update(copy.deepcopy(unfurls))
        return {}


def _as_slack_writes(url: str) -> str:
    """Slack escapes `&`, `<`, `>` in the URLs of link_shared events as in message text."""
    return url.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _hash() -> str:
    return f"{uuid.uuid4().int % 10**10}.{uuid.uuid4().hex[:8]}"
