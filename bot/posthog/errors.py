"""Errors raised by the PostHog client. Every outside failure becomes one of these.

PostHogError                  base; `str(error)` is safe to show a user
├── PostHogAuthError          401/403: key missing, wrong, or lacking a scope
│   └── PostHogEndpointInternal   403 from the clustering-jobs endpoint, which this PostHog
│                                 version keeps internal
├── PostHogNotFound           404, or an id (run, trace) that does not exist
├── PostHogRateLimited        429 after retries; `retry_after` seconds when PostHog said
│   ├── PostHogThrottled      PostHog asked for a wait longer than the retry window; no request
│   │                         is sent until `resume_at`
│   └── PostHogBudgetExhausted    a query budget (scheduler, commands, one user) is spent;
│                                 raised before sending
├── PostHogUnavailable        5xx, transport errors (timeouts included) and a body that is not
│                             JSON, after retries
├── PostHogBadQuery           400 and any other 4xx: PostHog refused the request; a subclass
│   │                         says why when PostHog's detail does
│   ├── PostHogQueryTimeout   the query ran past PostHog's time limit
│   ├── PostHogQueryDenied    the key may not read what the query touches
│   └── PostHogDatabaseError  ClickHouse refused or failed the query
└── PostHogSchemaError        JSON whose shape we cannot read (a run, a trace, a jobs page)

Only PostHogRateLimited (with a short enough wait) and PostHogUnavailable are retried
(`client._is_transient`).
"""

from __future__ import annotations

from datetime import datetime


class PostHogError(Exception):
    """Base of every PostHog failure."""


class PostHogAuthError(PostHogError):
    pass


class PostHogEndpointInternal(PostHogAuthError):
    """Older PostHog versions mark some viewsets `INTERNAL`: no personal API key may call them."""


class PostHogNotFound(PostHogError):
    pass


class PostHogRateLimited(PostHogError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PostHogThrottled(PostHogRateLimited):
    """PostHog's wait is longer than we retry for: stop, and come back at `resume_at` (UTC)."""

    def __init__(self, message: str, retry_after: float, resume_at: datetime) -> None:
        super().__init__(message, retry_after)
        self.resume_at = resume_at


class PostHogBudgetExhausted(PostHogRateLimited):
    """Raised before sending: the bot protects the team's shared query quota."""


class PostHogUnavailable(PostHogError):
    pass


class PostHogBadQuery(PostHogError):
    """400. Not always a bug in the bot: PostHog also answers 400 for timeouts, ClickHouse
    errors and missing access (reference/posthog.md 3.6)."""


class PostHogQueryTimeout(PostHogBadQuery):
    pass


class PostHogQueryDenied(PostHogBadQuery):
    pass


class PostHogDatabaseError(PostHogBadQuery):
    pass


class PostHogSchemaError(PostHogError):
    pass
