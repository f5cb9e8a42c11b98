"""The sandbox page's App Home tab, modals and link unfurls (``GET /home``).

What you do here goes to the bot as Slack sends it (standins/slack/user_views.py): opening the
tab is a signed ``app_home_opened`` event, a button a signed ``block_actions``, submitting a
modal a signed ``view_submission``, pasting a link a signed ``link_shared``. What the bot
answers (``views.publish``/``open``/``update``, ``chat.unfurl``) is read back from the fake
Slack and drawn with the page's Block Kit renderer; everything the bot wrote is escaped there.

Routes: ``GET /home``, ``GET /static/surfaces.js`` and ``.css``, ``GET /api/home`` (the tab
and the open modal), ``POST /api/home/open``, ``/api/home/click``, ``/api/modal/submit``,
``/api/modal/close``, ``/api/unfurl`` (JSON bodies).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Protocol

from standins.slack.server import FakeSlack
from standins.slack.user import SlackUser
from standins.slack.user_views import click_in_view, open_home, share_link, submit_view
from standins.web.blockkit import block_html, blocks_html, esc, text_object

if TYPE_CHECKING:
    from standins.stack import Stack

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"/static/surfaces.js": "text/javascript", "/static/surfaces.css": "text/css"}
WAIT_SECONDS = 20.0
UNFURL_WAIT_SECONDS = 5.0  # a link the bot does not know never gets a card: wait this long
Answer = tuple[int, str, bytes]


class SurfacesBackend(Protocol):
    stack: Stack | None
    user_id: str

    @property
    def slack(self) -> FakeSlack: ...


class SurfacesError(Exception):
    """A request the page should not have sent: answered 400 with the message."""


class Surfaces:
    def __init__(self, backend: SurfacesBackend) -> None:
        self.backend = backend
        self._user: SlackUser | None = None

    @property
    def fake(self) -> FakeSlack:
        return self.backend.slack

    def user(self) -> SlackUser:
        if self._user is None:
            if self.backend.stack is None:
                raise SurfacesError("the sandbox is still starting")
            self._user = self.backend.stack.user(self.backend.user_id, "you")
        return self._user

    # -- routing -------------------------------------------------------------------------------
    def route(self, method: str, path: str, body: Callable[[], dict[str, Any]]) -> Answer | None:
        """The answer to a request for one of these routes; None for any other path."""
        try:
            if method == "GET" and path == "/home":
                return 200, "text/html", self.page().encode()
            if method == "GET" and path in STATIC_FILES:
                name = path.removeprefix("/static/")
                return 200, STATIC_FILES[path], (STATIC / name).read_bytes()
            if method == "GET" and path == "/api/home":
                return _json(self.state())
            actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
                "/api/home/open": lambda _: self.open(),
                "/api/home/click": self.click,
                "/api/modal/submit": self.submit,
                "/api/modal/close": self.close,
                "/api/unfurl": self.unfurl,
            }
            if method == "POST" and path in actions:
                return _json(actions[path](body()))
        except SurfacesError as error:
            return _json({"ok": False, "error": str(error)}, 400)
        return None

    # -- what the person does --------------------------------------------------------------------
    def open(self) -> dict[str, Any]:
        user = self.backend.user_id
        before = self.fake.home_view(user)
        response = open_home(self.user())
        self.fake.wait_for(lambda: self.fake.home_view(user) not in (None, before), WAIT_SECONDS)
        return self.state() | {"status": response.status_code}

    def click(self, body: dict[str, Any]) -> dict[str, Any]:
        where = str(body.get("view_id") or "")
        view = self._modal_view(where) if where else self.fake.home_view(self.backend.user_id)
        if view is None:
            raise SurfacesError("open the Home tab first")
        button = _find(view, str(body.get("action_id")), str(body.get("block_id") or ""))
        opened = len(self.fake.open_views(self.backend.user_id))
        response = click_in_view(
            self.user(), view, button["action_id"], matching=str(button.get("value") or "")
        )
        self.fake.wait_for(
            lambda: len(self.fake.open_views(self.backend.user_id)) > opened, WAIT_SECONDS
        )
        return self.state() | {"status": response.status_code}

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        view_id = str(body.get("view_id") or "")
        self._modal_view(view_id)
        values = body.get("values")
        if not isinstance(values, dict):
            raise SurfacesError("values: expected an object")
        response = submit_view(self.user(), view_id, values)
        return self.state() | {"status": response.status_code}

    def close(self, body: dict[str, Any]) -> dict[str, Any]:
        view_id = str(body.get("view_id") or "")
        self._modal_view(view_id)
        self.fake.view_response(view_id, None)
        return self.state()

    def unfurl(self, body: dict[str, Any]) -> dict[str, Any]:
        url, channel = str(body.get("url") or "").strip(), str(body.get("channel") or "")
        if channel not in self.fake.channels:
            raise SurfacesError(f"unknown channel {channel!r}")
        if not url.startswith(("http://", "https://")) or len(url) > 3000:
            raise SurfacesError("paste an http(s) link")
        ts, response = share_link(self.user(), channel, url)
        key = (channel, ts)
        self.fake.wait_for(lambda: url in self.fake.unfurls.get(key, {}), UNFURL_WAIT_SECONDS)
        card = self.fake.unfurls.get(key, {}).get(url)
        html = (
            f'<div class="bk-blocks">{blocks_html(card["blocks"], self._names())}</div>'
            if card
            else '<p class="surface-note">No card: the bot leaves links it does not know alone.</p>'
        )
        return {"ok": True, "status": response.status_code, "url": url, "html": html}

    # -- what the page shows ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        user = self.backend.user_id
        home = self.fake.home_view(user)
        modals = self.fake.open_views(user)
        modal = modals[-1] if modals else None
        return {
            "ok": True,
            "home": blocks_html(home["blocks"], self._names()) if home else "",
            "modal": _modal_html(modal.id, modal.view, modal.errors, self._names())
            if modal
            else "",
            "view_id": modal.id if modal else "",
            "hash": modal.hash if modal else "",
        }

    def page(self) -> str:
        template = Template((STATIC / "home.html").read_text(encoding="utf-8"))
        channels = "".join(
            f'<option value="{esc(cid)}">#{esc(c.name)}</option>'
            for cid, c in self.fake.channels.items()
        )
        return template.substitute(channel_options=channels, user_id=esc(self.backend.user_id))

    def _names(self) -> dict[str, str]:
        names = {uid: str(u.get("name", uid)) for uid, u in self.fake.users.items()}
        return names | {cid: c.name for cid, c in self.fake.channels.items()}

    def _modal_view(self, view_id: str) -> dict[str, Any]:
        shown = {v.id: v for v in self.fake.open_views(self.backend.user_id)}.get(view_id)
        if shown is None:
            raise SurfacesError("that modal is closed")
        return shown.to_dict(self.fake.team_id, self.fake.app_id)


def _find(view: dict[str, Any], action_id: str, block_id: str) -> dict[str, Any]:
    for block in view.get("blocks") or []:
        if block_id and block.get("block_id") != block_id:
            continue
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("type") == "button" and element.get("action_id") == action_id:
                return dict(element)
    raise SurfacesError("no such button")


def _modal_html(
    view_id: str, view: dict[str, Any], errors: dict[str, str], names: dict[str, str]
) -> str:
    parts = []
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            parts.append(block_html(block, names))
            continue
        block_id = str(block.get("block_id"))
        error = errors.get(block_id)
        hint = block.get("hint")
        parts.append(
            f'<div class="surface-input" data-block-id="{esc(block_id)}">'
            f'<label class="surface-label">{text_object(block.get("label"))}</label>'
            f"{_element_html(block_id, block['element'])}"
            + (f'<div class="surface-hint">{text_object(hint)}</div>' if hint else "")
            + (f'<div class="surface-error" role="alert">{esc(error)}</div>' if error else "")
            + "</div>"
        )
    submit = view.get("submit")
    buttons = (
        f'<button type="submit" class="bk-btn bk-btn-primary">{text_object(submit)}</button>'
        if submit
        else ""
    )
    close = text_object(view.get("close") or {"type": "plain_text", "text": "Close"})
    return (
        f'<form class="surface-modal" data-view-id="{esc(view_id)}" autocomplete="off">'
        f'<div class="surface-modal-title">{text_object(view.get("title"))}</div>'
        f'<div class="surface-modal-body">{"".join(parts)}</div>'
        f'<div class="surface-modal-buttons"><button type="button" class="bk-btn '
        f'surface-close">{close}</button>{buttons}</div></form>'
    )


def _element_html(block_id: str, element: dict[str, Any]) -> str:
    kind = element.get("type")
    name = esc(block_id)
    if kind == "plain_text_input":
        value = esc(element.get("initial_value") or "")
        return f'<input class="surface-text" name="{name}" value="{value}" data-kind="text">'
    options = element.get("options") or []
    if kind == "checkboxes":
        initial = {o.get("value") for o in element.get("initial_options") or []}
        return "".join(
            f'<label class="surface-check"><input type="checkbox" name="{name}" '
            f'data-kind="checkboxes" value="{esc(o.get("value"))}"'
            f"{' checked' if o.get('value') in initial else ''}> "
            f"{text_object(o.get('text'))}</label>"
            for o in options
        )
    items = ['<option value="">Choose…</option>'] + [
        f'<option value="{esc(o.get("value"))}">{text_object(o.get("text"))}</option>'
        for o in options
    ]
    opening = f'<select class="surface-select" name="{name}" data-kind="select">'
    return f"{opening}{''.join(items)}</select>"


def _json(body: dict[str, Any], status: int = 200) -> Answer:
    return status, "application/json", json.dumps(body).encode()
