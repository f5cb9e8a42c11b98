"""The `/clusters` grammar as one table (`COMMANDS`); parsing and help are both read from it.

Pure: no I/O, no Slack. `parse_clusters_command` never raises: anything it cannot read becomes
`Help(problem=…)` naming what was wrong, with `topic` set when the command itself was known.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError

from bot.commands.parsed import (
    CLUSTER_ID_RE,
    FREE_TEXT_MAX,
    ID_MAX,
    MUTE_MAX,
    MUTE_MIN,
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
    is_safe_id,
)
from bot.domain.models import NOISE_CLUSTER_ID, Level

MAX_COMMAND_CHARS = 500
QUOTE_MAX = 40  # how much of the user's input a problem message echoes back

LEVEL_WORDS: dict[str, Level] = {
    "trace": Level.TRACE,
    "traces": Level.TRACE,
    "generation": Level.GENERATION,
    "generations": Level.GENERATION,
    "gen": Level.GENERATION,
    "gens": Level.GENERATION,
    "evaluation": Level.EVALUATION,
    "evaluations": Level.EVALUATION,
    "eval": Level.EVALUATION,
    "evals": Level.EVALUATION,
}
METRIC_WORDS: dict[str, Metric] = {
    **{metric.value: metric for metric in Metric},
    "error": Metric.ERRORS,
    "slow": Metric.LATENCY,
    "slowest": Metric.LATENCY,
    "expensive": Metric.COST,
    "big": Metric.SIZE,
    "largest": Metric.SIZE,
}
NOISE_WORDS = frozenset({"-1", "outliers", "outlier", "noise"})
_DURATION_UNITS: dict[str, timedelta] = {
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), timedelta(minutes=1)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), timedelta(hours=1)),
    **dict.fromkeys(("d", "day", "days"), timedelta(days=1)),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), timedelta(weeks=1)),
}
DURATION_EXAMPLES = "24h, 7d, 90m or 1w"

# Slack's composer "smartens" quotes; the slash command text arrives with `&`, `<`, `>` as HTML
# entities (https://docs.slack.dev/messaging/formatting-message-text#escaping).
_SMART_QUOTES = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"', "″": '"'}
    | {"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'"}
)
_SLACK_ENTITY_RE = re.compile(r"&(amp|lt|gt);")
_SLACK_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_TRAILING_PUNCTUATION = ".,;!?…。"
_QUOTES = "\"'`"
_ID_WRAPPERS = _QUOTES + "*<>"  # not `_`: an id may well start or end with one
# Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned characters.
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_FORMATTING = "*_~`"  # Slack bold, italic, strike and code marks around a word
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_CLUSTER_NUMBER_RE = re.compile(r"#?([+-]?[0-9]+)")
_DURATION_RE = re.compile(r"([0-9]+)([a-z]+)")
_DIGITS_RE = re.compile(r"[0-9]+")
_RUN_ID_SHAPE_RE = re.compile(r"[0-9]+_(?:trace|generation|evaluation)_[0-9]{8}_[0-9]{6}.*")
_EQUALS_RE = re.compile(r"\s*=\s*")


class CommandArgumentError(ValueError):
    """A row's `parse` could not read its arguments; the message is shown to the user as is."""


@dataclass(frozen=True)
class Arguments:
    """What follows the command word: normalised `text` (original case) and its words."""

    text: str

    @property
    def tokens(self) -> list[str]:
        return self.text.split()


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


# -- normalising the text ------------------------------------------------------------------


def _normalize(text: str) -> str:
    """Undo Slack's formatting: entities, smart quotes, odd spaces, controls, end punctuation.

    Whitespace of any kind (tabs, newlines, non-breaking spaces) becomes one space; other
    control and format characters (bidi overrides, zero-width spaces) are dropped, except the
    zero-width joiner inside emoji.
    """
    text = _SLACK_ENTITY_RE.sub(lambda m: _SLACK_ENTITIES[m.group(1)], text)
    text = text.translate(_SMART_QUOTES)
    text = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or char == "\u200d" or unicodedata.category(char) not in _DROPPED
    )
    return " ".join(text.split()).rstrip(_TRAILING_PUNCTUATION + " ")


def _keyword(token: str, *, quotes: bool = False) -> str:
    """A token as a keyword: NFKC (full-width letters), case-folded, formatting marks off."""
    strip = _FORMATTING + (_QUOTES if quotes else "")
    return unicodedata.normalize("NFKC", token).strip(strip).casefold()


def _quote(text: str) -> str:
    """A little of the user's input, quoted for a problem message (the renderer escapes it)."""
    text = text.replace("`", "")
    if len(text) > QUOTE_MAX:
        text = text[: QUOTE_MAX - 1] + "…"
    return f"`{text}`"


def _unwrap(text: str) -> str:
    """Strip quotes or code marks around a whole argument, matched or left dangling."""
    previous = None
    while text != previous:
        previous, text = text, text.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
            text = text[1:-1]
        elif text and text[0] in _QUOTES and text.count(text[0]) == 1:
            text = text[1:]
        elif text and text[-1] in _QUOTES and text.count(text[-1]) == 1:
            text = text[:-1]
    return text


def _limited(text: str, what: str) -> str:
    if len(text) > FREE_TEXT_MAX:
        raise CommandArgumentError(
            f"{what} is too long ({len(text)} characters; at most {FREE_TEXT_MAX})"
        )
    return text


def _free_text(text: str, what: str) -> str | None:
    text = _unwrap(text)
    return _limited(text, what) if text else None


def _url_segments(text: str) -> list[str] | None:
    """The decoded path segments of a pasted URL (Slack sends links as `<url|label>`)."""
    text = text.strip("<>").split("|", 1)[0]
    if "://" not in text:
        return None
    try:
        path = urlsplit(text).path
    except ValueError:
        return None
    return [unquote(segment) for segment in path.split("/") if segment]


def _after(segments: list[str], marker: str, count: int) -> list[str]:
    """The `count` segments following the last `marker` segment, if there are that many."""
    for index in range(len(segments) - 1, -1, -1):
        if segments[index] == marker:
            following = segments[index + 1 : index + 1 + count]
            return following if len(following) == count else []
    return []


def _id(token: str, what: str, url_marker: str) -> str:
    """A trace or run id from a token, or from a pasted PostHog link; validated by regex."""
    value = token.strip(_ID_WRAPPERS)
    segments = _url_segments(token)
    if segments is not None:
        value = next(iter(_after(segments, url_marker, 1)), "")
    if not value or not is_safe_id(value):
        raise CommandArgumentError(
            f"That doesn't look like a {what} id: {_quote(token)} "
            f"(letters, digits and - _ : . only, at most {ID_MAX} characters)"
        )
    return value


# -- argument readers ----------------------------------------------------------------------


def _level(token: str, *, quotes: bool = False) -> Level | None:
    return LEVEL_WORDS.get(_keyword(token, quotes=quotes))


def _level_and_job(args: Arguments) -> tuple[Level | None, str | None]:
    """`[level] [job name…]`: the job name is the rest of the text, quotes optional."""
    tokens = args.tokens
    level = _level(tokens[0]) if tokens else None
    rest = tokens[1:] if level is not None else tokens
    return level, _free_text(" ".join(rest), "The job name")


def _cluster(text: str) -> str:
    """A cluster id (`-1` for outliers, `3`, `#3`) or the words of a cluster title."""
    text = _unwrap(text)
    if not text:
        raise CommandArgumentError(
            "Which cluster? Give its id (e.g. `3`, or `-1` / `outliers`) or words of its title"
        )
    if _keyword(text, quotes=True) in NOISE_WORDS:
        return str(NOISE_CLUSTER_ID)
    number = _CLUSTER_NUMBER_RE.fullmatch(_keyword(text, quotes=True))
    if number:
        digits = number.group(1)
        cluster_id = str(int(digits)) if len(digits) <= 8 else digits  # no int() of huge text
        if not CLUSTER_ID_RE.fullmatch(cluster_id):
            raise CommandArgumentError(
                f"{_quote(text)} isn't a cluster id: ids are 0 or more, or -1 for outliers"
            )
        return cluster_id
    return _limited(text, "The cluster title")


def _is_cluster_id(text: str) -> bool:
    try:
        return CLUSTER_ID_RE.fullmatch(_cluster(text)) is not None
    except CommandArgumentError:
        return False


def _duration(value: int, unit: str) -> timedelta:
    duration = _DURATION_UNITS[unit] * value
    if duration < MUTE_MIN:
        raise CommandArgumentError("A mute must last at least a minute")
    if duration > MUTE_MAX:
        raise CommandArgumentError(f"A mute can last at most {MUTE_MAX.days} days")
    return duration


def _read_duration(tokens: list[str]) -> tuple[list[str], timedelta | None]:
    """Split `… [for] 24h` / `… for 2 days` into the words before it and the duration."""
    words = [_keyword(token, quotes=True) for token in tokens]
    width, parsed = 0, None
    if len(words) >= 2 and _DIGITS_RE.fullmatch(words[-2]) and words[-1] in _DURATION_UNITS:
        width, parsed = 2, (words[-2], words[-1])
    elif words and (match := _DURATION_RE.fullmatch(words[-1])) and match[2] in _DURATION_UNITS:
        width, parsed = 1, (match[1], match[2])
    if parsed is not None:
        head = tokens[:-width]
        if head and _keyword(head[-1]) == "for":
            head = head[:-1]
        if len(parsed[0]) > 6:
            raise CommandArgumentError(f"A mute can last at most {MUTE_MAX.days} days")
        return head, _duration(int(parsed[0]), parsed[1])
    if words and words[-1] == "for":
        raise CommandArgumentError(f"Mute for how long? Use e.g. {DURATION_EXAMPLES}")
    looks_like_duration = bool(words) and _DIGITS_RE.match(words[-1]) is not None
    if (len(words) >= 2 and words[-2] == "for") or (
        looks_like_duration and len(tokens) == 2 and _is_cluster_id(tokens[0])
    ):
        raise CommandArgumentError(
            f"I can't read {_quote(tokens[-1])} as a duration; use e.g. {DURATION_EXAMPLES}"
        )
    return tokens, None


def _no_arguments(
    model: Callable[[], ParsedCommand], name: str
) -> Callable[[Arguments], ParsedCommand]:
    def parse(args: Arguments) -> ParsedCommand:
        if args.text:
            raise CommandArgumentError(f"`{name}` takes no arguments (got {_quote(args.text)})")
        return model()

    return parse


# -- one parser per row --------------------------------------------------------------------


def _parse_latest(args: Arguments) -> ParsedCommand:
    level, job = _level_and_job(args)
    return Latest(level=level, job=job)


def _parse_runs(args: Arguments) -> ParsedCommand:
    level: Level | None = None
    limit: int | None = None
    for token in args.tokens:
        word = _keyword(token, quotes=True)
        if (token_level := LEVEL_WORDS.get(word)) is not None and level is None:
            level = token_level
        elif _INTEGER_RE.fullmatch(word) and limit is None:
            limit = int(word) if len(word) <= 6 else RUNS_LIMIT_MAX + 1
            if not RUNS_LIMIT_MIN <= limit <= RUNS_LIMIT_MAX:
                raise CommandArgumentError(
                    f"n must be between {RUNS_LIMIT_MIN} and {RUNS_LIMIT_MAX}"
                )
        else:
            raise CommandArgumentError(
                f"I can't read {_quote(token)}: give a level (trace, generation, evaluation) "
                f"and/or n, the number of runs (n must be between {RUNS_LIMIT_MIN} "
                f"and {RUNS_LIMIT_MAX})"
            )
    return Runs(level=level, limit=RUNS_LIMIT_DEFAULT if limit is None else limit)


def _parse_show(args: Arguments) -> ParsedCommand:
    tokens = args.tokens
    if len(tokens) == 1 and (segments := _url_segments(tokens[0])) is not None:
        run_and_cluster = _after(segments, "clusters", 2)
        if not run_and_cluster:
            raise CommandArgumentError(f"That link isn't a PostHog cluster: {_quote(tokens[0])}")
        run = _id(run_and_cluster[0], "run", "clusters")
        return Show(cluster=_cluster(run_and_cluster[1]), run_id=run)
    if len(tokens) >= 2 and _keyword(tokens[1]) == "run" and _is_cluster_id(tokens[0]):
        if len(tokens) == 2:
            raise CommandArgumentError("Which run? Put its id after `run`")
        if len(tokens) > 3:
            raise CommandArgumentError(
                f"That doesn't look like a run id: {_quote(' '.join(tokens[2:]))} (no spaces)"
            )
        return Show(cluster=_cluster(tokens[0]), run_id=_id(tokens[2], "run", "clusters"))
    run_id: str | None = None
    # After title words, `run <x>` ends the title as often as it names a run: it is a run only
    # when it looks like PostHog's run ids (or a link). Quote such a title to keep it whole.
    if len(tokens) >= 3 and _keyword(tokens[-2]) == "run":
        candidate = tokens[-1]
        if (
            _RUN_ID_SHAPE_RE.fullmatch(candidate.strip(_ID_WRAPPERS))
            or _url_segments(candidate) is not None
        ):
            run_id, tokens = _id(candidate, "run", "clusters"), tokens[:-2]
    return Show(cluster=_cluster(" ".join(tokens)), run_id=run_id)


def _parse_top(args: Arguments) -> ParsedCommand:
    metric: Metric | None = None
    level: Level | None = None
    allowed = ", ".join(m.value for m in Metric)
    for token in args.tokens:
        word = _keyword(token, quotes=True)
        if (token_level := LEVEL_WORDS.get(word)) is not None and level is None:
            level = token_level
        elif (token_metric := METRIC_WORDS.get(word)) is not None:
            if metric is not None:
                raise CommandArgumentError(f"Rank by one metric only: one of {allowed}")
            metric = token_metric
        else:
            raise CommandArgumentError(
                f"Unknown metric {_quote(token)}: choose one of {allowed} (and optionally a level)"
            )
    if metric is None:
        raise CommandArgumentError(f"Top by what? Choose one of {allowed}")
    return Top(metric=metric, level=level)


def _parse_compare(args: Arguments) -> ParsedCommand:
    tokens = args.tokens
    level = _level(tokens[0], quotes=True) if tokens else None
    run_ids = [_id(token, "run", "clusters") for token in tokens[0 if level is None else 1 :]]
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
            f"That doesn't look like a trace id: {_quote(args.text)} (ids have no spaces)"
        )
    return Trace(trace_id=_id(tokens[0], "trace", "traces"))


def _parse_subscribe(args: Arguments) -> ParsedCommand:
    level, job = _level_and_job(args)
    return Subscribe(level=level, job=job)


def _parse_unsubscribe(args: Arguments) -> ParsedCommand:
    level, job = _level_and_job(args)
    return Unsubscribe(level=level, job=job)


def _parse_thresholds(args: Arguments) -> ParsedCommand:
    tokens = _EQUALS_RE.sub("=", args.text).split()
    if [_keyword(token, quotes=True) for token in tokens] == ["reset"]:
        return Thresholds(reset=True)
    overrides: dict[str, str] = {}
    for token in tokens:
        raw_name, equals, raw_value = token.partition("=")
        name = _keyword(raw_name, quotes=True).replace("-", "_")
        value = _unwrap(raw_value)
        if not equals or not THRESHOLD_NAME_RE.fullmatch(name):
            raise CommandArgumentError(
                f"Change thresholds as `name=value` (names are letters and _), "
                f"or `reset`; I can't read {_quote(token)}"
            )
        if not value:
            raise CommandArgumentError(f"Give {_quote(name)} a value, e.g. `{name}=0.5`")
        if len(value) > THRESHOLD_VALUE_MAX or not THRESHOLD_VALUE_RE.fullmatch(value):
            raise CommandArgumentError(
                f"I can't read the value of {_quote(name)}: {_quote(value)} (letters, digits "
                f"and . % + - _ only, at most {THRESHOLD_VALUE_MAX} characters)"
            )
        if name in overrides:
            raise CommandArgumentError(f"{_quote(name)} is given twice")
        overrides[name] = value
    return Thresholds(overrides=tuple(overrides.items()))


def _parse_mute(args: Arguments) -> ParsedCommand:
    head, duration = _read_duration(args.tokens)
    cluster = _cluster(" ".join(head))
    return Mute(cluster=cluster) if duration is None else Mute(cluster=cluster, duration=duration)


def _parse_unmute(args: Arguments) -> ParsedCommand:
    return Unmute(cluster=_cluster(args.text))


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
        parse=_no_arguments(Jobs, Jobs.name),
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
        parse=_no_arguments(Subscriptions, Subscriptions.name),
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
        parse=_no_arguments(Mutes, Mutes.name),
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

ADMIN_COMMANDS: frozenset[str] = frozenset(spec.name for spec in COMMANDS if spec.admin_only)
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
    words = [_keyword(token, quotes=True) for token in tokens]
    for alias, spec in _ALIASES:
        if words[: len(alias)] == list(alias):
            return spec, list(tokens[len(alias) :])
    return None


def _unknown_command(token: str) -> str:
    problem = f"Unknown command: {_quote(token)}"
    every_word = [word for spec in COMMANDS for word in spec.words]
    close = difflib.get_close_matches(_keyword(token, quotes=True), every_word, n=1)
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
    tokens = _normalize(text).split()
    if tokens and _keyword(tokens[0]) == "/clusters":
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
