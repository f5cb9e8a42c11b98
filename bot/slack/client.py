"""The Slack Web API clients and their retries: slack_sdk retries only what is safe to repeat.

A 429 is always safe: Slack did nothing. A 5xx or a dropped connection is not: Slack may have
acted before it failed, so a call is repeated only when doing it twice changes nothing (reads,
`chat.update`, `views.publish`, …). `chat.postMessage` and the other calls that create
something are never repeated blindly: the outbox looks its messages up by metadata before it
sends again (bot/slack/drain.py), and a thread reply to a click fails instead (the person
sees an error and can click again) rather than posting twice.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

# Writes that leave Slack as it was when repeated; every read (below) is safe as well.
IDEMPOTENT_WRITES = frozenset(
    {
        "chat.update",
        "chat.delete",
        "chat.unfurl",
        "views.publish",
        "views.update",
        "conversations.join",
        "files.getUploadURLExternal",  # hands out an upload URL: an unused one expires
    }
)
_READS = (".info", ".list", ".history", ".replies", ".members", "auth.test")


def api_method(request: HttpRequest) -> str:
    """The Web API method of a request: `chat.postMessage` from `…/api/chat.postMessage`."""
    return request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def safe_to_repeat(method: str) -> bool:
    """Whether calling `method` twice leaves Slack as calling it once does."""
    return method in IDEMPOTENT_WRITES or method.endswith(_READS)


class OnlyWhatIsSafeToRepeat:
    """Mixed into a slack_sdk retry handler: it retries only calls that are safe to repeat
    (`safe_to_repeat`), whatever else its own rule allows."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return safe_to_repeat(api_method(request)) and super()._can_retry(  # type: ignore[misc]
            state=state, request=request, response=response, error=error
        )


class IdempotentServerErrorRetryHandler(OnlyWhatIsSafeToRepeat, ServerErrorRetryHandler):
    """Retries a 5xx only for calls that are safe to repeat."""


class IdempotentConnectionErrorRetryHandler(OnlyWhatIsSafeToRepeat, ConnectionErrorRetryHandler):
    """Retries a dropped connection only for calls that are safe to repeat: the request may
    have reached Slack before the connection went."""


OUTBOX_MAX_WAIT = 5.0
"""The longest Retry-After the outbox client waits out inside a call. The sender's claim stays
renewed while it waits (bot/slack/lease.py), but the drain waits with it: on a longer wait the
row goes back to pending and the channel is left alone for the rest of the drain instead, so the
other channels' messages go out meanwhile."""


class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Retries a 429 only when Slack asks for at most `max_wait` seconds."""

    def __init__(self, *, max_retry_count: int, max_wait: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        waits = [v for k, v in response.headers.items() if k.lower() == "retry-after"]
        try:
            wait = float(waits[0][0] if isinstance(waits[0], list) else waits[0]) if waits else 1.0
        except ValueError:
            return False
        return wait <= self.max_wait


def make_web_client(token: str, base_url: str, *, interactive: bool = True) -> WebClient:
    """A WebClient whose retries are safe for its use.

    `interactive` clients (drilldowns, command replies, uploads, views) retry 429, and 5xx and
    connection errors of calls that are safe to repeat; the outbox client retries only short
    429s (`OUTBOX_MAX_WAIT`), and resolves ambiguous failures itself.
    """
    handlers: list[object] = [
        RateLimitErrorRetryHandler(max_retry_count=3)
        if interactive
        else ShortRateLimitRetryHandler(max_retry_count=3, max_wait=OUTBOX_MAX_WAIT)
    ]
    if interactive:
        handlers += [
            IdempotentConnectionErrorRetryHandler(max_retry_count=2),
            IdempotentServerErrorRetryHandler(max_retry_count=2),
        ]
    return WebClient(token=token, base_url=base_url, timeout=15, retry_handlers=handlers)  # type: ignore[arg-type]
