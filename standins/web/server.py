"""The sandbox's Slack-like web page: a stdlib HTTP server over a running FakeSlack.

Pages are rendered on the server (``pages.py``; ``blockkit.py`` turns Block Kit into HTML);
``app.js`` keeps them live through Server-Sent Events fed by ``FakeSlack.subscribe``. Everything
the page does
goes through a ``Backend`` (``standins/run.py``): slash commands and clicks are real signed
requests to the bot, "next run" emits a clustering run into the local PostHog.

Routes: ``GET /`` (→ ``/c/C0ALERTS``), ``GET /c/<channel>``, ``GET /api/messages?channel=``,
``GET /api/thread?channel=&ts=``, ``GET /api/events`` (SSE), ``POST /api/command``,
``/api/click``, ``/api/next-run``, ``/api/check-now`` (JSON bodies), ``GET /project/…`` (a
stand-in for PostHog's UI, which the bot's links point at), ``GET /healthz``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from standins.slack.server import FakeSlack, Message
from standins.web.pages import STATIC, Backend, BadRequest, Pages, posthog_stand_in
from standins.web.surfaces import Surfaces

logger = logging.getLogger(__name__)

STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
DEFAULT_CHANNEL = "C0ALERTS"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' http: https: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
KEEPALIVE_SECONDS = 15.0


class Hub:
    """Fans FakeSlack changes out to SSE streams; each stream keeps its own cursor."""

    def __init__(self, size: int = 1000) -> None:
        self.rev = 0
        self.closed = False
        self._events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=size)
        self._changed = threading.Condition()

    def publish(self, kind: str, message: Message) -> None:
        with self._changed:
            self.rev += 1
            fields = ("channel", "ts", "thread_ts", "ephemeral_for")
            event = {"rev": self.rev, "kind": kind} | {f: getattr(message, f) for f in fields}
            self._events.append((self.rev, event))
            self._changed.notify_all()

    def wait(self, after: int, timeout: float) -> tuple[list[dict[str, Any]], int]:
        with self._changed:
            self._changed.wait_for(lambda: self.rev > after or self.closed, timeout)
            return [e for rev, e in self._events if rev > after], self.rev

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


# -- rendering ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    web: SandboxWeb
    server_version = "clusters-bot-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox.web %s", format % args)

    def do_GET(self) -> None:
        self._safely(self._get)

    def do_POST(self) -> None:
        self._safely(self._post)

    def _safely(self, handler: Callable[[str, dict[str, list[str]]], None]) -> None:
        url = urlsplit(self.path)
        try:
            # The Home tab, modals and unfurls (standins/web/surfaces.py) answer their own routes.
            if answer := self.web.surfaces.route(self.command, url.path, self._body):
                self._send(*answer)
                return
            handler(url.path, parse_qs(url.query))
        except BadRequest as error:
            self._json({"ok": False, "error": str(error)}, 400)
        except ConnectionError:  # the page went away (SSE streams end this way)
            pass
        except Exception as error:
            logger.exception("sandbox.web.failed", extra={"path": url.path})
            self._json({"ok": False, "error": f"{type(error).__name__}: {error}"}, 500)

    def _get(self, path: str, query: dict[str, list[str]]) -> None:
        pages = self.web.pages

        def arg(name: str) -> str:
            return (query.get(name) or [""])[0]

        if path == "/":
            self._redirect(f"/c/{DEFAULT_CHANNEL}")
        elif path.startswith("/c/"):
            channel = path[3:]
            if channel not in self.web.backend.slack.channels:
                self._send(404, "text/plain", b"No such channel")
            else:
                self._send(200, "text/html", pages.page(channel).encode())
        elif path.startswith("/static/") and path[8:] in STATIC_FILES:
            self._send(200, STATIC_FILES[path[8:]], (STATIC / path[8:]).read_bytes())
        elif path == "/api/messages":
            self._json(pages.channel_json(arg("channel")))
        elif path == "/api/thread":
            self._json(pages.thread_json(arg("channel"), arg("ts")))
        elif path == "/api/events":
            self._events()
        elif path.startswith("/project/"):
            query_text = urlsplit(self.path).query
            self._send(200, "text/html", posthog_stand_in(path, query_text).encode())
        elif path.startswith("/files/"):
            found = self.web.backend.slack.files.get(path[len("/files/") :])
            content = found.content if found else None
            if content and content.startswith(b"\x89PNG"):
                self._send(200, "image/png", content)
            else:
                self._send(404, "text/plain", b"No such image")
        elif path == "/favicon.ico":
            self._send(204, "text/plain", b"")
        elif path == "/healthz":
            self._json({"ok": True})
        else:
            self._send(404, "text/plain", b"Not found")

    def _post(self, path: str, query: dict[str, list[str]]) -> None:
        body = self._body()
        backend = self.web.backend

        def text(name: str) -> str:
            return str(body.get(name) or "")

        if path == "/api/command":
            self._json(backend.send_command(text("channel"), text("text")))
        elif path == "/api/click":
            block_id = text("block_id") or None
            self._json(backend.click(text("channel"), text("ts"), text("action_id"), block_id))
        elif path == "/api/next-run":
            self._json(backend.next_run(text("job_name"), text("change")))
        elif path == "/api/check-now":
            backend.check_now()
            self._json({"ok": True})
        else:
            self._send(404, "text/plain", b"Not found")

    def _body(self) -> dict[str, Any]:
        """JSON only, and only from this page: a form on another site can't send JSON."""
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            raise BadRequest("expected application/json")
        origin = self.headers.get("Origin")
        if origin and origin != f"http://{self.headers.get('Host')}":
            raise BadRequest("cross-origin request refused")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(min(length, 64 * 1024)) or b"{}")
        except json.JSONDecodeError as error:
            raise BadRequest(f"bad JSON: {error}") from None
        if not isinstance(body, dict):
            raise BadRequest("expected a JSON object")
        return body

    def _events(self) -> None:
        hub = self.web.hub
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        last = hub.rev
        self.wfile.write(
            f"retry: 1000\nevent: hello\ndata: {json.dumps({'rev': last})}\n\n".encode()
        )
        self.wfile.flush()
        while not hub.closed and not self.web.stopping.is_set():
            events, last = hub.wait(last, KEEPALIVE_SECONDS)
            chunks = [f"data: {json.dumps(e)}\n\n" for e in events] or [": keepalive\n\n"]
            self.wfile.write("".join(chunks).encode())
            self.wfile.flush()

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, body: dict[str, Any], status: int = 200) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class SandboxWeb:
    """Bind with ``bind()`` (so the URL is known early), then ``attach()``, ``start()``."""

    def __init__(self, backend: Backend, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.backend = backend
        self.pages = Pages(backend)
        self.surfaces = Surfaces(backend)  # type: ignore[arg-type]  # the Sandbox has `stack`
        self.hub = Hub()
        self.stopping = threading.Event()
        self._address = (host, port)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def bind(self) -> str:
        handler = type("_BoundHandler", (_Handler,), {"web": self})
        self._httpd = _Server(self._address, handler)
        return self.url

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("not bound")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def attach(self, fake: FakeSlack) -> None:
        self._unsubscribe = fake.subscribe(self.hub.publish)

    def start(self) -> None:
        if self._httpd is None:
            self.bind()
        assert self._httpd is not None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.2,), name="sandbox-web", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.hub.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            if self._thread is not None:
                httpd.shutdown()
                self._thread.join(timeout=5)
            httpd.server_close()
