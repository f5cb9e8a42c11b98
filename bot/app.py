"""The Bolt app factory. Nothing happens at import time."""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.context.context import BoltContext

from bot.listeners import register_listeners
from bot.wiring import Services


def create_app(services: Services) -> App:
    settings = services.settings
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    app = App(
        client=services.slack,
        signing_secret=signing_secret or "socket-mode-has-no-signing-secret",
        # Socket Mode skips signature checks by itself; HTTP mode always verifies.
        request_verification_enabled=signing_secret is not None,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )

    @app.middleware
    def inject_services(context: BoltContext, next: object) -> None:
        context["services"] = services
        next()  # type: ignore[operator]

    register_listeners(app)
    return app
