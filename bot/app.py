"""The Bolt app factory. Nothing happens at import time."""

from __future__ import annotations

import secrets

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.context import BoltContext
from slack_sdk import WebClient

from bot.listeners import register_listeners
from bot.slack.deliveries import SeenEvents, drop_redeliveries
from bot.wiring import Services

# Threads that serve Slack's HTTP requests (bot/web.py). Listeners run in them up to their ack
# (`process_before_response` below) and hand their work to the services' work pool right after
# acking, so each is busy only for milliseconds per request.
LISTENER_THREADS = 16
LISTENER_SLACK_TIMEOUT = 2  # seconds (whole, for slack_sdk): a call before the ack leaves it room


def create_app(services: Services) -> App:
    settings = services.settings
    token = services.slack.token
    # HTTP mode always verifies signatures. Without a secret (Socket Mode, which Bolt does not
    # verify) the app gets a random one, so no HTTP request can ever pass as signed.
    signing_secret = (
        settings.slack_signing_secret.get_secret_value()
        if settings.slack_signing_secret is not None
        else secrets.token_hex(32)
    )

    def authorize(
        enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        # One workspace, one static token: nothing to look up, so no `auth.test` per request
        # (Bolt's default calls it lazily on the first request, inside the 3 s before the ack).
        return AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token
        )

    app = App(
        # Bolt copies this client's base URL, timeout and retries into a client per request and
        # gives that the token from `authorize`. It carries no token itself: a token here as
        # well as `authorize` makes Bolt warn at start-up that the token is ignored.
        # Listeners call Slack with it before their ack (`process_before_response`), so it never
        # waits: no retries (a 429's Retry-After slept here held acks past Slack's 3 s, and
        # outlived the trigger_id of the modal it was to open) and a timeout inside those 3 s.
        # A listener that gets a 429 gives up; work on the pool uses `services.slack`, which
        # waits out a Retry-After there.
        client=WebClient(
            base_url=services.slack.base_url,
            timeout=LISTENER_SLACK_TIMEOUT,
            retry_handlers=[],
        ),
        authorize=authorize,
        signing_secret=signing_secret,
        request_verification_enabled=True,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
        # The listener runs in the request's own thread and its ack is the HTTP response as soon
        # as it returns. Without this Bolt runs it on another pool and polls every 10 ms for the
        # ack, and the answer, started right after the ack, raced that poll for the GIL: acks
        # took 85 ms when the answer had to load a run (bench: 2-8 ms now).
        process_before_response=True,
    )

    app.middleware(drop_redeliveries(SeenEvents()))

    @app.middleware
    def inject_services(context: BoltContext, next: object) -> None:
        context["services"] = services
        next()  # type: ignore[operator]

    register_listeners(app)
    return app
