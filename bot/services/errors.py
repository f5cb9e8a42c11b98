"""Errors whose message is written for the Slack user who asked."""

from __future__ import annotations


class CommandError(Exception):
    """A question the bot cannot answer as asked; `str(error)` is shown to the user."""


class NotAllowed(CommandError):
    """A settings change by someone who is not an admin."""
