"""The `/clusters` slash-command grammar: one table (`COMMANDS`), a parser and generated help.

Pure, no I/O. Listeners call `parse_clusters_command(text)` and dispatch on the returned model;
`help_lines(problem, topic)` gives the help text the renderer escapes and sends.
"""

from bot.commands.arguments import MAX_COMMAND_CHARS, CommandArgumentError
from bot.commands.grammar import (
    COMMANDS,
    CommandSpec,
    help_lines,
    parse_clusters_command,
)
from bot.commands.parsed import (
    SAFE_ID_PATTERN,
    BaseCommand,
    Compare,
    Help,
    Jobs,
    Latest,
    Metric,
    Mute,
    Mutes,
    ParsedCommand,
    Runs,
    Show,
    Subscribe,
    Subscriptions,
    Thresholds,
    Top,
    Trace,
    Unmute,
    Unsubscribe,
    is_safe_id,
)

__all__ = [
    "COMMANDS",
    "MAX_COMMAND_CHARS",
    "SAFE_ID_PATTERN",
    "BaseCommand",
    "CommandArgumentError",
    "CommandSpec",
    "Compare",
    "Help",
    "Jobs",
    "Latest",
    "Metric",
    "Mute",
    "Mutes",
    "ParsedCommand",
    "Runs",
    "Show",
    "Subscribe",
    "Subscriptions",
    "Thresholds",
    "Top",
    "Trace",
    "Unmute",
    "Unsubscribe",
    "help_lines",
    "is_safe_id",
    "parse_clusters_command",
]
