"""The `/clusters` grammar as one table (`COMMANDS`): parsing, help, dispatch and who may run a
command are all read from it. Adding a subcommand is its model (`parsed.py`), a parser
(`parsers.py`), a handler (`handlers.py`) and one row here.

Pure: no I/O, no Slack. `parse_clusters_command` never raises: anything it cannot read becomes
`Help(problem=…)` naming what was wrong, with `topic` set when the command itself was known.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.commands import handlers, parsers
from bot.commands.arguments import (
    MAX_COMMAND_CHARS,
    Arguments,
    CommandArgumentError,
    keyword,
    no_arguments,
    normalize,
    quoted,
)
from bot.commands.parsed import (
    MUTE_MAX,
    RUNS_LIMIT_DEFAULT,
    RUNS_LIMIT_MAX,
    BaseCommand,
    Compare,
    Help,
    Jobs,
    Latest,
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
)

if TYPE_CHECKING:
    from bot.commands.handlers import Asker
    from bot.rendering.message import Message
    from bot.wiring import Services


class Who(StrEnum):
    """Who may run a row's command."""

    ANYONE = "anyone"
    ADMINS = "admins"
    ADMINS_TO_CHANGE = "admins to change"  # anyone reads; changing is for admins (`thresholds`)


@dataclass(frozen=True)
class CommandSpec:
    """One row of the grammar. `usage` omits the `/clusters ` prefix; help adds it."""

    name: str
    aliases: tuple[str, ...]
    usage: str
    description: str
    who: Who
    parse: Callable[[Arguments], ParsedCommand]
    answer: Callable[[Any, Asker, Services], Message]
    """Runs the parsed command: one service call, one render."""

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def admin_only(self) -> bool:
        return self.who is Who.ADMINS

    def needs_admin(self, parsed: BaseCommand) -> bool:
        """Whether only workspace admins may run `parsed` (`thresholds`: only to change)."""
        return self.admin_only or (self.who is Who.ADMINS_TO_CHANGE and parsed.changes)

    @property
    def help_line(self) -> str:
        admins = " (admins)" if self.admin_only else ""
        return f"`/clusters {self.usage}` — {self.description}{admins}"


def _parse_help(args: Arguments) -> ParsedCommand:
    if not args.tokens:
        return Help()
    match = _match(args.tokens)
    if match is None:
        return Help(problem=_unknown_command(args.tokens[0]))
    return Help(topic=match[0].name)


def _answer_help(c: Help, asker: Asker, s: Services) -> Message:
    return s.renderer.help(help_lines(c.problem, c.topic)[1 if c.problem else 0 :], c.problem)


# -- the table -----------------------------------------------------------------------------

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        name=Latest.name,
        aliases=("summary", "last"),
        usage="latest [trace|generation|evaluation] [job]",
        description="Summary of the newest clustering run",
        who=Who.ANYONE,
        parse=parsers.parse_latest,
        answer=handlers.answer_latest,
    ),
    CommandSpec(
        name=Runs.name,
        aliases=(),
        usage="runs [level] [n]",
        description=f"The last n clustering runs (default {RUNS_LIMIT_DEFAULT}, "
        f"at most {RUNS_LIMIT_MAX})",
        who=Who.ANYONE,
        parse=parsers.parse_runs,
        answer=handlers.answer_runs,
    ),
    CommandSpec(
        name=Show.name,
        aliases=("cluster",),
        usage="show <cluster id|title words> [run <run id>]",
        description="What is in one cluster (`-1` or `outliers` for the outliers)",
        who=Who.ANYONE,
        parse=parsers.parse_show,
        answer=handlers.answer_show,
    ),
    CommandSpec(
        name=Top.name,
        aliases=(),
        usage="top cost|latency|errors|size [level]",
        description="Clusters of the newest run ranked by cost, latency, errors or size",
        who=Who.ANYONE,
        parse=parsers.parse_top,
        answer=handlers.answer_top,
    ),
    CommandSpec(
        name=Compare.name,
        aliases=("diff",),
        usage="compare [level] [run id] [previous run id]",
        description="What changed between a run and the previous run of its job",
        who=Who.ANYONE,
        parse=parsers.parse_compare,
        answer=handlers.answer_compare,
    ),
    CommandSpec(
        name=Jobs.name,
        aliases=(),
        usage="jobs",
        description="The clustering jobs and their newest runs",
        who=Who.ANYONE,
        parse=no_arguments(Jobs, Jobs.name),
        answer=handlers.answer_jobs,
    ),
    CommandSpec(
        name=Trace.name,
        aliases=(),
        usage="trace <trace id>",
        description="One trace in detail",
        who=Who.ANYONE,
        parse=parsers.parse_trace,
        answer=handlers.answer_trace,
    ),
    CommandSpec(
        name=Subscribe.name,
        aliases=(),
        usage="subscribe [level] [job]",
        description="Post alerts for a job (or every job) in this channel",
        who=Who.ADMINS,
        parse=parsers.parse_subscribe,
        answer=handlers.answer_subscribe,
    ),
    CommandSpec(
        name=Unsubscribe.name,
        aliases=(),
        usage="unsubscribe [level] [job]",
        description="Stop posting those alerts in this channel",
        who=Who.ADMINS,
        parse=parsers.parse_unsubscribe,
        answer=handlers.answer_unsubscribe,
    ),
    CommandSpec(
        name=Subscriptions.name,
        aliases=(),
        usage="subscriptions",
        description="The alert subscriptions of this channel",
        who=Who.ANYONE,
        parse=no_arguments(Subscriptions, Subscriptions.name),
        answer=handlers.answer_subscriptions,
    ),
    CommandSpec(
        name=Thresholds.name,
        aliases=(),
        usage="thresholds [name=value …|reset]",
        description="This channel's alert thresholds; admins can change or reset them",
        who=Who.ADMINS_TO_CHANGE,
        parse=parsers.parse_thresholds,
        answer=handlers.answer_thresholds,
    ),
    CommandSpec(
        name=Mute.name,
        aliases=(),
        usage="mute <cluster id|title words> [for 24h|7d|90m|1w]",
        description=f"Silence alerts about a cluster (default 24h, at most {MUTE_MAX.days} days)",
        who=Who.ADMINS,
        parse=parsers.parse_mute,
        answer=handlers.answer_mute,
    ),
    CommandSpec(
        name=Unmute.name,
        aliases=(),
        usage="unmute <cluster id|title words>",
        description="Lift a mute",
        who=Who.ADMINS,
        parse=parsers.parse_unmute,
        answer=handlers.answer_unmute,
    ),
    CommandSpec(
        name=Mutes.name,
        aliases=(),
        usage="mutes",
        description="The muted clusters of this channel",
        who=Who.ANYONE,
        parse=no_arguments(Mutes, Mutes.name),
        answer=handlers.answer_mutes,
    ),
    CommandSpec(
        name=Help.name,
        aliases=(),
        usage="help [command]",
        description="This help, or help on one command",
        who=Who.ANYONE,
        parse=_parse_help,
        answer=_answer_help,
    ),
)

_BY_NAME: dict[str, CommandSpec] = {spec.name: spec for spec in COMMANDS}
# (words of the alias, spec), longest alias first, so a longer alias always wins over its prefix.
_ALIASES: tuple[tuple[tuple[str, ...], CommandSpec], ...] = tuple(
    sorted(
        ((tuple(word.split()), spec) for spec in COMMANDS for word in spec.words),
        key=lambda alias: (-len(alias[0]), -len(" ".join(alias[0]))),
    )
)


def _match(tokens: Sequence[str]) -> tuple[CommandSpec, list[str]] | None:
    """The row whose name or alias starts `tokens`, and the tokens after it."""
    words = [keyword(token, quotes=True) for token in tokens]
    for alias, spec in _ALIASES:
        if words[: len(alias)] == list(alias):
            return spec, list(tokens[len(alias) :])
    return None


def _unknown_command(token: str) -> str:
    problem = f"Unknown command: {quoted(token)}"
    every_word = [word for spec in COMMANDS for word in spec.words]
    close = difflib.get_close_matches(keyword(token, quotes=True), every_word, n=1)
    return f"{problem}. Did you mean `{close[0]}`?" if close else problem


def parse_clusters_command(text: str) -> ParsedCommand:
    """Parse the text after `/clusters`. Never raises: unreadable input becomes `Help`.

    Matching is case-insensitive and tolerates Slack's formatting (smart quotes, non-breaking
    spaces, entities, a trailing full stop). Ids are checked against `SAFE_ID_PATTERN`;
    free text (job names, cluster titles) is kept as a plain single-line string.
    """
    text = (text or "").strip()
    if len(text) > MAX_COMMAND_CHARS:
        return Help(
            problem=f"That command is too long ({len(text)} characters); "
            f"the limit is {MAX_COMMAND_CHARS}"
        )
    tokens = normalize(text).split()
    if tokens and keyword(tokens[0]) == "/clusters":
        tokens = tokens[1:]
    if not tokens:
        return Help()
    match = _match(tokens)
    if match is None:
        return Help(problem=_unknown_command(tokens[0]))
    spec, rest = match
    try:
        return spec.parse(Arguments(" ".join(rest)))
    except CommandArgumentError as error:
        return Help(problem=str(error), topic=spec.name)
    except ValidationError:  # the models' own checks: a last line of defence
        return Help(problem=f"I can't read the arguments of `{spec.name}`", topic=spec.name)


def spec_for(parsed: BaseCommand) -> CommandSpec:
    """The row that `parsed` came from."""
    return _BY_NAME[parsed.name]


def help_lines(problem: str | None = None, topic: str | None = None) -> list[str]:
    """Help text lines (unescaped mrkdwn): the problem if any, then every command in table
    order, or only `topic`'s usage and aliases when `topic` names a command."""
    lines = [problem] if problem else []
    spec = _BY_NAME.get(topic) if topic else None
    if spec is None:
        return [*lines, *(row.help_line for row in COMMANDS)]
    lines.append(spec.help_line)
    if spec.aliases:
        lines.append("Also: " + ", ".join(f"`/clusters {alias}`" for alias in spec.aliases))
    lines.append("`/clusters help` lists every command")
    return lines
