"""Errors raised by the PostHog client. Every outside failure becomes one of these.

PostHogError                  base; `str(error)` is safe to show a user
├── PostHogAuthError          401/403: key missing, wrong, or lacking a scope
├── PostHogNotFound           404, or an id (run, trace, job) that does not exist
├── PostHogRateLimited        429 after retries; `retry_after` seconds when PostHog said
├── PostHogBudgetExhausted    the client-side query budget is spent; `retry_after` seconds
├── PostHogUnavailable        5xx, timeouts and transport errors after retries
├── PostHogBadQuery           400: PostHog rejected the HogQL (a bug in the bot)
└── PostHogSchemaError        a response or event whose shape we cannot read
"""

from __future__ import annotations


class PostHogError(Exception):
    """Base of every PostHog failure."""


class PostHogAuthError(PostHogError):
    pass


class PostHogNotFound(PostHogError):
    pass


class PostHogRateLimited(PostHogError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PostHogBudgetExhausted(PostHogRateLimited):
    """Raised before sending: the bot protects the team's shared query quota."""


class PostHogUnavailable(PostHogError):
    pass


class PostHogBadQuery(PostHogError):
    pass


class PostHogSchemaError(PostHogError):
    pass
