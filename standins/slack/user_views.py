"""What a simulated Slack user does with views: open the app's Home tab (an `app_home_opened`
event), click a button on the tab or in a modal (block_actions), and submit a modal
(view_submission), all signed as Slack signs them (reference/slack.md A6, A11;
https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from standins.slack.user import SlackUser


def open_home(user: SlackUser) -> httpx.Response:
    """The person opens the app's Home tab: Slack sends `app_home_opened` (Events API, JSON)."""
    return deliver(user, home_opened(user))


def home_opened(user: SlackUser, event_id: str | None = None) -> str:
    """The body of an `app_home_opened` event for `user` (a new event id unless given)."""
    return json.dumps(
        {
            "token": "sandbox-verification-token",
            "team_id": user.team_id,
            "api_app_id": user.fake.app_id,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user.user_id,
                "channel": f"D{user.user_id[1:]}",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
    )


def deliver(user: SlackUser, body: str) -> httpx.Response:
    """Deliver an event as Slack does: answered within 3 s or delivered again (the fake's
    `deliver_event`); the first attempt's answer, 408 when there was none in time."""
    return user.fake.deliver_event(user.events_url, body, user.signed_headers)


def share_link(user: SlackUser, channel: str, url: str) -> tuple[str, httpx.Response]:
    """The person posts `url` in `channel`; Slack sends `link_shared` for a registered unfurl
    domain (the fake does not check domains: the app must leave foreign links alone), from any
    conversation, the bot a member or not (`is_bot_user_member` says which). The event carries
    the URL as Slack writes it, `&` as `&amp;`."""
    ts, announced = user.fake.share_link(user.user_id, channel, url)
    known = user.fake.channels.get(channel)
    event = {
        "channel": channel,
        "is_bot_user_member": bool(known and known.is_member),
        "message_ts": ts,
        "source": "conversations_history",
        "unfurl_id": f"C-{uuid.uuid4().hex[:12]}",
    }
    return ts, deliver(user, _link_shared(user, url, announced, event))


def compose_link(user: SlackUser, url: str) -> tuple[str, httpx.Response]:
    """The person pastes `url` into the message composer: Slack sends `link_shared` with
    `source: composer` before any message exists, so the app can show a preview card (unfurled
    with `unfurl_id` and `source`). Returns the unfurl_id and the app's answer."""
    unfurl_id, announced = user.fake.compose_link(url)
    event = {
        "channel": "COMPOSER",
        "is_bot_user_member": True,
        "message_ts": f"{user.user_id}-{uuid.uuid4()}",
        "source": "composer",
        "unfurl_id": unfurl_id,
    }
    return unfurl_id, deliver(user, _link_shared(user, url, announced, event))


def _link_shared(user: SlackUser, url: str, announced: str, event: dict[str, Any]) -> str:
    """The body of a `link_shared` delivery of `url` (written `announced`), `event` its own."""
    return json.dumps(
        {
            "token": "sandbox-verification-token",
            "team_id": user.team_id,
            "api_app_id": user.fake.app_id,
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "event": {
                "type": "link_shared",
                "user": user.user_id,
                **event,
                "links": [{"domain": url.split("/")[2], "url": announced}],
                "event_ts": f"{time.time():.6f}",
            },
        }
    )


def click_in_view(
    user: SlackUser,
    view: dict[str, Any],
    action_id: str,
    *,
    value: str | None = None,
    matching: str = "",
) -> httpx.Response:
    """Click the button `action_id` in `view` (the Home tab, or an open modal), the first whose
    value contains `matching`. Raises LookupError if there is no such button (an admin-only
    button a non-admin does not see); `value` forges another value."""
    block_id, button = _button(view, action_id, matching)
    payload = {
        "type": "block_actions",
        "user": {"id": user.user_id, "username": user.user_name, "team_id": user.team_id},
        "api_app_id": user.fake.app_id,
        "token": "sandbox-verification-token",
        "container": {"type": "view", "view_id": view.get("id", "")},
        "trigger_id": user.fake.issue_trigger(user.user_id),
        "team": {"id": user.team_id, "domain": user.fake.team_domain},
        "is_enterprise_install": False,
        "view": view,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "text": button.get("text", {}),
                "value": value if value is not None else button.get("value"),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return _post(user, urlencode({"payload": json.dumps(payload)}))


def submit_view(
    user: SlackUser, view_id: str, values: dict[str, str | list[str] | None]
) -> httpx.Response:
    """Submit the open modal `view_id` with `values` by block_id: text for a text field, the
    option value for a select, option values for checkboxes (None: left empty). Fields not
    named keep their initial values. The app's answer is applied to the modal in the fake
    (closed, updated, or errors shown)."""
    shown = user.fake.views[view_id]
    view = shown.to_dict(user.fake.team_id, user.fake.app_id)
    view["state"] = {"values": _state(view, values)}
    payload = {
        "type": "view_submission",
        "team": {"id": user.team_id, "domain": user.fake.team_domain},
        "user": {"id": user.user_id, "username": user.user_name, "team_id": user.team_id},
        "api_app_id": user.fake.app_id,
        "token": "sandbox-verification-token",
        "trigger_id": user.fake.issue_trigger(user.user_id),
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
    }
    response = _post(user, urlencode({"payload": json.dumps(payload)}))
    if response.status_code == 200:
        body = response.json() if response.content else None
        user.fake.view_response(view_id, body)
    return response


def _state(
    view: dict[str, Any], values: dict[str, str | list[str] | None]
) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element, block_id = block["element"], block["block_id"]
        kind = element["type"]
        options = {o["value"]: o for o in element.get("options") or []}
        if block_id in values:
            given = values[block_id]
        elif kind == "checkboxes":
            given = [o["value"] for o in element.get("initial_options") or []]
        elif kind == "static_select":
            given = (element.get("initial_option") or {}).get("value")
        else:
            given = element.get("initial_value")
        if kind == "plain_text_input":
            entry: dict[str, Any] = {"type": kind, "value": given or None}
        elif kind == "checkboxes":
            entry = {"type": kind, "selected_options": [options[v] for v in given or []]}
        else:
            entry = {"type": kind, "selected_option": options[given] if given else None}
        state[block_id] = {element["action_id"]: entry}
    return state


def _button(view: dict[str, Any], action_id: str, matching: str) -> tuple[str, dict[str, Any]]:
    for index, block in enumerate(view.get("blocks") or []):
        elements = list(block.get("elements") or [])
        if block.get("accessory"):
            elements.append(block["accessory"])
        for element in elements:
            if (
                element.get("type") == "button"
                and element.get("action_id") == action_id
                and matching in str(element.get("value") or "")
            ):
                return str(block.get("block_id") or f"sbx{index}"), element
    raise LookupError(f"no button with action_id={action_id!r} in the view")


def _post(user: SlackUser, body: str, content_type: str | None = None) -> httpx.Response:
    headers = user.signed_headers(body)
    if content_type:
        headers["Content-Type"] = content_type
    return httpx.post(user.events_url, content=body.encode(), headers=headers, timeout=user.timeout)
