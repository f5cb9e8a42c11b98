"""The whole bot on local stand-ins: the local PostHog, the fake Slack, and the real Bolt app in
HTTP mode behind waitress, all on free loopback ports. Used by the end-to-end tests and by
`clusters-bot sandbox`."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from waitress.server import create_server

from bot.app import create_app
from bot.settings import Settings
from bot.web import HEALTH_CACHE_SECONDS, POLL, make_metrics_app, make_wsgi_app, server_options
from bot.wiring import Services, build_services
from standins.posthog.server import LocalPostHog
from standins.slack.server import FakeSlack
from standins.slack.user import SlackUser

logger = logging.getLogger(__name__)

ALERT_CHANNEL = "C0ALERTS"
# Not UTC, as many real projects are: a query that forgets `convertToProjectTimezone: false`
# reads and returns datetimes shifted, as it would on PostHog.
PROJECT_TIMEZONE = "Europe/Berlin"
PROJECT_ID = 1
API_KEY = "phx_sandbox"
BOT_TOKEN = "xoxb-sandbox"


@dataclass
class Stack:
    """Start with `start()`, stop with `stop()` (or use it as a context manager)."""

    database_url: str
    posthog_db: str | None = None
    poll_interval_seconds: int = 10
    min_post_interval: float = 0.0
    health_cache_seconds: float = HEALTH_CACHE_SECONDS
    extra_settings: dict[str, Any] = field(default_factory=dict)

    posthog: LocalPostHog = field(init=False)
    slack: FakeSlack = field(init=False)
    services: Services = field(init=False)
    app: App = field(init=False)
    signing_secret: str = field(init=False, default_factory=lambda: secrets.token_hex(16))
    events_url: str = field(init=False, default="")
    metrics_url: str = field(init=False, default="")
    _server: Any = field(init=False, default=None)
    _thread: threading.Thread | None = field(init=False, default=None)
    _metrics_server: Any = field(init=False, default=None)
    _metrics_thread: threading.Thread | None = field(init=False, default=None)

    def start(self) -> Stack:
        self.posthog = LocalPostHog(
            project_id=PROJECT_ID,
            api_key=API_KEY,
            db_path=self.posthog_db,
            timezone=PROJECT_TIMEZONE,
        )
        self.posthog.start()
        self.slack = FakeSlack(bot_token=BOT_TOKEN).start()
        self.services = build_services(self.settings(), min_post_interval=self.min_post_interval)
        self.app = create_app(self.services)
        options = server_options()
        self._server = create_server(
            make_wsgi_app(self.app, self.services, health_ttl=self.health_cache_seconds),
            host="127.0.0.1",
            port=0,
            **options,
        )
        self.events_url = f"http://127.0.0.1:{self._server.effective_port}/slack/events"
        self._thread = threading.Thread(target=self._server.run, name="bot-http", daemon=True)
        self._thread.start()
        # /metrics on a listener of its own, as METRICS_PORT gives `clusters-bot web`.
        self._metrics_server = create_server(
            make_metrics_app(self.services), host="127.0.0.1", port=0, threads=1, **POLL
        )
        self.metrics_url = f"http://127.0.0.1:{self._metrics_server.effective_port}/metrics"
        self._metrics_thread = threading.Thread(
            target=self._metrics_server.run, name="bot-metrics", daemon=True
        )
        self._metrics_thread.start()
        return self

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "posthog_host": self.posthog.url,
            "posthog_project_id": PROJECT_ID,
            "posthog_api_key": API_KEY,
            "posthog_query_budget_per_hour": 10_000,
            "posthog_user_budget_per_hour": 1_000,  # demo and test users ask a lot
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": self.signing_secret,
            "slack_api_url": self.slack.api_url,
            "alert_channel": ALERT_CHANNEL,
            "database_url": self.database_url,
            "poll_interval_seconds": self.poll_interval_seconds,
            **self.extra_settings,
            **overrides,
        }
        return Settings(_env_file=None, **values)

    def environment(self, database_url: str, **overrides: str) -> dict[str, str]:
        """Environment variables that point a `clusters-bot` process at these stand-ins (and at
        the same code as this process, when PYTHONPATH chooses it; on the same clock, when
        libfaketime moves this one's)."""
        inherited = {
            name: value
            for name, value in os.environ.items()
            if value and (name in ("PYTHONPATH", "LD_PRELOAD") or name.startswith("FAKETIME"))
        }
        return {
            **inherited,
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "POSTHOG_HOST": self.posthog.url,
            "POSTHOG_PROJECT_ID": str(PROJECT_ID),
            "POSTHOG_API_KEY": API_KEY,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": self.slack.api_url,
            "ALERT_CHANNEL": ALERT_CHANNEL,
            "DATABASE_URL": database_url,
            **overrides,
        }

    def user(self, user_id: str = "U0ALICE", name: str = "alice") -> SlackUser:
        return SlackUser(
            events_url=self.events_url,
            signing_secret=self.signing_secret,
            fake=self.slack,
            user_id=user_id,
            user_name=name,
        )

    def stop(self) -> None:
        if self._server is not None:
            _shutdown(self._server, self._thread)
            self._server = None
        if self._metrics_server is not None:
            _shutdown(self._metrics_server, self._metrics_thread)
            self._metrics_server = None
        self.services.close()
        self.slack.stop()
        self.posthog.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _shutdown(server: Any, thread: threading.Thread | None) -> None:
    """Stop a waitress server running in another thread. Its channels are closed inside its own
    loop (waitress's trigger runs the thunk there), so the loop ends by itself; closing them
    from here would race the loop's select() on the same descriptors."""

    def close_all() -> None:
        while server._map:
            for channel in list(server._map.values()):
                channel.handle_close()

    if thread is not None and thread.is_alive():
        try:
            server.trigger.pull_trigger(close_all)
        except OSError:  # the loop already closed its trigger (a close event on it): it is ending
            logger.debug("stack.trigger_closed")
        thread.join(timeout=5)
    else:
        close_all()
    server.task_dispatcher.shutdown()
