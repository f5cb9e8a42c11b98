"""The `/clusters` slash command: one table (`COMMANDS`) drives parsing, help and dispatch.

Pure, no I/O. Listeners call `parse_clusters_command(text)`, then `spec_for(parsed)` for the row
that says who may run it and which handler answers it; `help_lines(problem, topic)` gives the
help text the renderer escapes and sends. The models are in `bot.commands.parsed`.
"""

from bot.commands.arguments import MAX_COMMAND_CHARS, CommandArgumentError
from bot.commands.grammar import (
    COMMANDS,
    CommandSpec,
    Who,
    help_lines,
    parse_clusters_command,
    spec_for,
)
from bot.commands.parsed import SAFE_ID_PATTERN, BaseCommand, ParsedCommand, is_safe_id

__all__ = [
    "COMMANDS",
    "MAX_COMMAND_CHARS",
    "SAFE_ID_PATTERN",
    "BaseCommand",
    "CommandArgumentError",
    "CommandSpec",
    "ParsedCommand",
    "Who",
    "help_lines",
    "is_safe_id",
    "parse_clusters_command",
    "spec_for",
]
