"""The `/clusters` grammar as one table (`COMMANDS`); parsing and help are both read from it.

Pure: no I/O, no Slack. `parse_clusters_command` never raises: anything it cannot read becomes
`Help(problem=…)` naming what was wrong, with `topic` set when the command itself was known.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from bot.commands.arguments import (
    EQUALS_RE,
    ID_WRAPPERS,
    INTEGER_RE,
    LEVEL_WORDS,
    MAX_COMMAND_CHARS,
    METRIC_WORDS,
    RUN_ID_SHAPE_RE,
    Arguments,
    CommandArgumentError,
    is_cluster_id,
    keyword,
    no_arguments,
    normalize,
    quoted,
    read_cluster,
    read_duration,
    read_id,
    read_level,
    read_level_and_job,
    segments_after,
    unwrap,
    url_segments,
)
from bot.commands.parsed import (
    MUTE_MAX,
    RUNS_LIMIT_DEFAULT,
    RUNS_LIMIT_MAX,
    RUNS_LIMIT_MIN,
    THRESHOLD_NAME_RE,
    THRESHOLD_VALUE_MAX,
    THRESHOLD_VALUE_RE,
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
)
from bot.domain.models import Level


@dataclass(frozen=True)
class CommandSpec:
    """One row of the grammar. `usage` omits the `/clusters ` prefix; help adds it."""

    name: str
    aliases: tuple[str, ...]
    usage: str
    description: str
    admin_only: bool
    parse: Callable[[Arguments], ParsedCommand]

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def help_line(self) -> str:
        admins = " (admins)" if self.admin_only else ""
        return f"`/clusters {self.usage}` — {self.description}{admins}"


# -- one parser per row --------------------------------------------------------------------


def _parse_latest(args: Arguments) -> ParsedCommand:
    level, job = read_level_and_job(args)
    return Latest(level=level, job=job)


def _parse_runs(args: Arguments) -> ParsedCommand:
    level: Level | None = None
    limit: int | None = None
    for token in args.tokens:
        word = keyword(token, quotes=True)
        if (token_level := LEVEL_WORDS.get(word)) is not None and level is None:
            level = token_level
        elif INTEGER_RE.fullmatch(word) and limit is None:
            limit = int(word) if len(word) <= 6 else RUNS_LIMIT_MAX + 1
            if not RUNS_LIMIT_MIN <= limit <= RUNS_LIMIT_MAX:
                raise CommandArgumentError(
                    f"n must be between {RUNS_LIMIT_MIN} and {RUNS_LIMIT_MAX}"
                )
        else:
            raise CommandArgumentError(
                f"I can't read {quoted(token)}: give a level (trace, generation, evaluation) "
                f"and/or n, the number of runs (n must be between {RUNS_LIMIT_MIN} "
                f"and {RUNS_LIMIT_MAX})"
            )
    return Runs(level=level, limit=RUNS_LIMIT_DEFAULT if limit is None else limit)


def _parse_show(args: Arguments) -> ParsedCommand:
    tokens = args.tokens
    if len(tokens) == 1 and (segments := url_segments(tokens[0])) is not None:
        run_and_cluster = segments_after(segments, "clusters", 2)
        if not run_and_cluster:
            raise CommandArgumentError(f"That link isn't a PostHog cluster: {quoted(tokens[0])}")
        run = read_id(run_and_cluster[0], "run", "clusters")
        return Show(cluster=read_cluster(run_and_cluster[1]), run_id=run)
    if len(tokens) >= 2 and keyword(tokens[1]) == "run" and is_cluster_id(tokens[0]):
        if len(tokens) == 2:
            raise CommandArgumentError("Which run? Put its id after `run`")
        if len(tokens) > 3:
            raise CommandArgumentError(
                f"That doesn't look like a run id: {quoted(' '.join(tokens[2:]))} (no spaces)"
            )
        return Show(cluster=read_cluster(tokens[0]), run_id=read_id(tokens[2], "run", "clusters"))
    run_id: str | None = None
    # After title words, `run <x>` ends the title as often as it names a run: it is a run only
    # when it looks like PostHog's run ids (or a link). Quote such a title to keep it whole.
    if len(tokens) >= 3 and keyword(tokens[-2]) == "run":
        candidate = tokens[-1]
        if (
            RUN_ID_SHAPE_RE.fullmatch(candidate.strip(ID_WRAPPERS))
            or url_segments(candidate) is not None
        ):
            run_id, tokens = read_id(candidate, "run", "clusters"), tokens[:-2]
    return Show(cluster=read_cluster(" ".join(tokens)), run_id=run_id)


def _parse_top(args: Arguments) -> ParsedCommand:
    metric: Metric | None = None
    level: Level | None = None
    allowed = ", ".join(m.value for m in Metric)
    for token in args.tokens:
        word = keyword(token, quotes=True)
        if (token_level := LEVEL_WORDS.get(word)) is not None and level is None:
            level = token_level
        elif (token_metric := METRIC_WORDS.get(word)) is not None:
            if metric is not None:
                raise CommandArgumentError(f"Rank by one metric only: one of {allowed}")
            metric = token_metric
        else:
            raise CommandArgumentError(
                f"Unknown metric {quoted(token)}: choose one of {allowed} (and optionally a level)"
            )
    if metric is None:
        raise CommandArgumentError(f"Top by what? Choose one of {allowed}")
    return Top(metric=metric, level=level)


def _parse_compare(args: Arguments) -> ParsedCommand:
    tokens = args.tokens
    level = read_level(tokens[0], quotes=True) if tokens else None
    run_ids = [read_id(token, "run", "clusters") for token in tokens[0 if level is None else 1 :]]
    if len(run_ids) > 2:
        raise CommandArgumentError("Compare takes at most two run ids: current, then previous")
    if len(run_ids) == 2 and run_ids[0] == run_ids[1]:
        raise CommandArgumentError("Those are the same run twice; give two different run ids")
    current, previous = (*run_ids, None, None)[:2]
    return Compare(current=current, previous=previous, level=level)


def _parse_trace(args: Arguments) -> ParsedCommand:
    tokens = args.tokens
    if not tokens:
        raise CommandArgumentError("Which trace? Give its id: `/clusters trace <trace id>`")
    if len(tokens) > 1:
        raise CommandArgumentError(
            f"That doesn't look like a trace id: {quoted(args.text)} (ids have no spaces)"
        )
    return Trace(trace_id=read_id(tokens[0], "trace", "traces"))


def _parse_subscribe(args: Arguments) -> ParsedCommand:
    level, job = read_level_and_job(args)
    return Subscribe(level=level, job=job)


def _parse_unsubscribe(args: Arguments) -> ParsedCommand:
    level, job = read_level_and_job(args)
    return Unsubscribe(level=level, job=job)


def _parse_thresholds(args: Arguments) -> ParsedCommand:
    tokens = EQUALS_RE.sub("=", args.text).split()
    if [keyword(token, quotes=True) for token in tokens] == ["reset"]:
        return Thresholds(reset=True)
    overrides: dict[str, str] = {}
    for token in tokens:
        raw_name, equals, raw_value = token.partition("=")
        name = keyword(raw_name, quotes=True).replace("-", "_")
        value = unwrap(raw_value)
        if not equals or not THRESHOLD_NAME_RE.fullmatch(name):
            raise CommandArgumentError(
                f"Change thresholds as `name=value` (names are letters and _), "
                f"or `reset`; I can't read {quoted(token)}"
            )
        if not value:
            raise CommandArgumentError(f"Give {quoted(name)} a value, e.g. `{name}=0.5`")
        if len(value) > THRESHOLD_VALUE_MAX or not THRESHOLD_VALUE_RE.fullmatch(value):
            raise CommandArgumentError(
                f"I can't read the value of {quoted(name)}: {quoted(value)} (letters, digits "
                f"and . % + - _ only, at most {THRESHOLD_VALUE_MAX} characters)"
            )
        if name in overrides:
            raise CommandArgumentError(f"{quoted(name)} is given twice")
        overrides[name] = value
    return Thresholds(overrides=tuple(overrides.items()))


def _parse_mute(args: Arguments) -> ParsedCommand:
    head, duration = read_duration(args.tokens)
    cluster = read_cluster(" ".join(head))
    return Mute(cluster=cluster) if duration is None else Mute(cluster=cluster, duration=duration)


def _parse_unmute(args: Arguments) -> ParsedCommand:
    return Unmute(cluster=read_cluster(args.text))


def _parse_help(args: Arguments) -> ParsedCommand:
    if not args.tokens:
        return Help()
    match = _match(args.tokens)
    if match is None:
        return Help(problem=_unknown_command(args.tokens[0]))
    return Help(topic=match[0].name)


# -- the table -----------------------------------------------------------------------------

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        name=Latest.name,
        aliases=("summary", "last"),
        usage="latest [trace|generation|evaluation] [job]",
        description="Summary of the newest clustering run",
        admin_only=Latest.admin_only,
        parse=_parse_latest,
    ),
    CommandSpec(
        name=Runs.name,
        aliases=(),
        usage="runs [level] [n]",
        description=f"The last n clustering runs (default {RUNS_LIMIT_DEFAULT}, "
        f"at most {RUNS_LIMIT_MAX})",
        admin_only=Runs.admin_only,
        parse=_parse_runs,
    ),
    CommandSpec(
        name=Show.name,
        aliases=("cluster",),
        usage="show <cluster id|title words> [run <run id>]",
        description="What is in one cluster (`-1` or `outliers` for the outliers)",
        admin_only=Show.admin_only,
        parse=_parse_show,
    ),
    CommandSpec(
        name=Top.name,
        aliases=(),
        usage="top cost|latency|errors|size [level]",
        description="Clusters of the newest run ranked by cost, latency, errors or size",
        admin_only=Top.admin_only,
        parse=_parse_top,
    ),
    CommandSpec(
        name=Compare.name,
        aliases=("diff",),
        usage="compare [level] [run id] [previous run id]",
        description="What changed between a run and the previous run of its job",
        admin_only=Compare.admin_only,
        parse=_parse_compare,
    ),
    CommandSpec(
        name=Jobs.name,
        aliases=(),
        usage="jobs",
        description="The clustering jobs and their newest runs",
        admin_only=Jobs.admin_only,
        parse=no_arguments(Jobs, Jobs.name),
    ),
    CommandSpec(
        name=Trace.name,
        aliases=(),
        usage="trace <trace id>",
        description="One trace in detail",
        admin_only=Trace.admin_only,
        parse=_parse_trace,
    ),
    CommandSpec(
        name=Subscribe.name,
        aliases=(),
        usage="subscribe [level] [job]",
        description="Post alerts for a job (or every job) in this channel",
        admin_only=Subscribe.admin_only,
        parse=_parse_subscribe,
    ),
    CommandSpec(
        name=Unsubscribe.name,
        aliases=(),
        usage="unsubscribe [level] [job]",
        description="Stop posting those alerts in this channel",
        admin_only=Unsubscribe.admin_only,
        parse=_parse_unsubscribe,
    ),
    CommandSpec(
        name=Subscriptions.name,
        aliases=(),
        usage="subscriptions",
        description="The alert subscriptions of this channel",
        admin_only=Subscriptions.admin_only,
        parse=no_arguments(Subscriptions, Subscriptions.name),
    ),
    CommandSpec(
        name=Thresholds.name,
        aliases=(),
        usage="thresholds [name=value …|reset]",
        description="This channel's alert thresholds; admins can change or reset them",
        admin_only=Thresholds.admin_only,
        parse=_parse_thresholds,
    ),
    CommandSpec(
        name=Mute.name,
        aliases=(),
        usage="mute <cluster id|title words> [for 24h|7d|90m|1w]",
        description=f"Silence alerts about a cluster (default 24h, at most {MUTE_MAX.days} days)",
        admin_only=Mute.admin_only,
        parse=_parse_mute,
    ),
    CommandSpec(
        name=Unmute.name,
        aliases=(),
        usage="unmute <cluster id|title words>",
        description="Lift a mute",
        admin_only=Unmute.admin_only,
        parse=_parse_unmute,
    ),
    CommandSpec(
        name=Mutes.name,
        aliases=(),
        usage="mutes",
        description="The muted clusters of this channel",
        admin_only=Mutes.admin_only,
        parse=no_arguments(Mutes, Mutes.name),
    ),
    CommandSpec(
        name=Help.name,
        aliases=(),
        usage="help [command]",
        description="This help, or help on one command",
        admin_only=Help.admin_only,
        parse=_parse_help,
    ),
)

"""Always admin-only. `thresholds` is admin-only only when it changes something: ask
`parsed.is_admin_only`, not this set, before running a command."""

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
