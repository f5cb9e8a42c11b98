"""Reading `/clusters` arguments: text normalisation, ids, levels, durations. Pure.

The building blocks `grammar.py`'s per-command parsers are made of; they raise
`CommandArgumentError` with a message written for the user.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from bot.commands.parsed import (
    CLUSTER_ID_RE,
    FREE_TEXT_MAX,
    ID_MAX,
    MUTE_MAX,
    MUTE_MIN,
    Metric,
    ParsedCommand,
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
ID_WRAPPERS = _QUOTES + "*<>"  # not `_`: an id may well start or end with one
# Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned characters.
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_FORMATTING = "*_~`"  # Slack bold, italic, strike and code marks around a word
INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_CLUSTER_NUMBER_RE = re.compile(r"#?([+-]?[0-9]+)")
_DURATION_RE = re.compile(r"([0-9]+)([a-z]+)")
_DIGITS_RE = re.compile(r"[0-9]+")
# PostHog's run ids, current and older (`{team}_{YYYYMMDD}_{HHMMSS}` before levels,
# `{team}_evaluation_{job}_…`, the first `team_{id}_{ISO time}`): only to tell a run id from
# title words; any id is looked up as given.
RUN_ID_SHAPE_RE = re.compile(
    r"[0-9]+_(?:(?:trace|generation|evaluation)_)?[0-9]{8}_[0-9]{6}.*"
    r"|[0-9]+_evaluation_.+"
    r"|team_[0-9]+_[0-9]{4}-[0-9]{2}-[0-9]{2}T.*"
)
EQUALS_RE = re.compile(r"\s*=\s*")


class CommandArgumentError(ValueError):
    """A row's `parse` could not read its arguments; the message is shown to the user as is."""


@dataclass(frozen=True)
class Arguments:
    """What follows the command word: normalised `text` (original case) and its words."""

    text: str

    @property
    def tokens(self) -> list[str]:
        return self.text.split()


# -- normalising the text ------------------------------------------------------------------


def normalize(text: str) -> str:
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


def keyword(token: str, *, quotes: bool = False) -> str:
    """A token as a keyword: NFKC (full-width letters), case-folded, formatting marks off."""
    strip = _FORMATTING + (_QUOTES if quotes else "")
    return unicodedata.normalize("NFKC", token).strip(strip).casefold()


def quoted(text: str) -> str:
    """A little of the user's input, quoted for a problem message (the renderer escapes it)."""
    text = text.replace("`", "")
    if len(text) > QUOTE_MAX:
        text = text[: QUOTE_MAX - 1] + "…"
    return f"`{text}`"


def unwrap(text: str) -> str:
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
    text = unwrap(text)
    return _limited(text, what) if text else None


def url_segments(text: str) -> list[str] | None:
    """The decoded path segments of a pasted URL (Slack sends links as `<url|label>`)."""
    text = text.strip("<>").split("|", 1)[0]
    if "://" not in text:
        return None
    try:
        path = urlsplit(text).path
    except ValueError:
        return None
    return [unquote(segment) for segment in path.split("/") if segment]


def segments_after(segments: list[str], marker: str, count: int) -> list[str]:
    """The `count` segments following the last `marker` segment, if there are that many."""
    for index in range(len(segments) - 1, -1, -1):
        if segments[index] == marker:
            following = segments[index + 1 : index + 1 + count]
            return following if len(following) == count else []
    return []


def read_id(token: str, what: str, url_marker: str) -> str:
    """A trace or run id from a token, or from a pasted PostHog link; validated by regex."""
    value = token.strip(ID_WRAPPERS)
    segments = url_segments(token)
    if segments is not None:
        value = next(iter(segments_after(segments, url_marker, 1)), "")
    if not value or not is_safe_id(value):
        raise CommandArgumentError(
            f"That doesn't look like a {what} id: {quoted(token)} "
            f"(letters, digits and - _ : . only, at most {ID_MAX} characters)"
        )
    return value


# -- argument readers ----------------------------------------------------------------------


def read_level(token: str, *, quotes: bool = False) -> Level | None:
    return LEVEL_WORDS.get(keyword(token, quotes=quotes))


def read_level_and_job(args: Arguments) -> tuple[Level | None, str | None]:
    """`[level] [job name…]`: the job name is the rest of the text, quotes optional."""
    tokens = args.tokens
    level = read_level(tokens[0]) if tokens else None
    rest = tokens[1:] if level is not None else tokens
    return level, _free_text(" ".join(rest), "The job name")


def read_cluster(text: str) -> str:
    """A cluster id (`-1` for outliers, `3`, `#3`) or the words of a cluster title."""
    text = unwrap(text)
    if not text:
        raise CommandArgumentError(
            "Which cluster? Give its id (e.g. `3`, or `-1` / `outliers`) or words of its title"
        )
    if keyword(text, quotes=True) in NOISE_WORDS:
        return str(NOISE_CLUSTER_ID)
    number = _CLUSTER_NUMBER_RE.fullmatch(keyword(text, quotes=True))
    if number:
        digits = number.group(1)
        cluster_id = str(int(digits)) if len(digits) <= 8 else digits  # no int() of huge text
        if not CLUSTER_ID_RE.fullmatch(cluster_id):
            raise CommandArgumentError(
                f"{quoted(text)} isn't a cluster id: ids are 0 or more, or -1 for outliers"
            )
        return cluster_id
    return _limited(text, "The cluster title")


def is_cluster_id(text: str) -> bool:
    try:
        return CLUSTER_ID_RE.fullmatch(read_cluster(text)) is not None
    except CommandArgumentError:
        return False


def _duration(value: int, unit: str) -> timedelta:
    duration = _DURATION_UNITS[unit] * value
    if duration < MUTE_MIN:
        raise CommandArgumentError("A mute must last at least a minute")
    if duration > MUTE_MAX:
        raise CommandArgumentError(f"A mute can last at most {MUTE_MAX.days} days")
    return duration


def read_duration(tokens: list[str]) -> tuple[list[str], timedelta | None]:
    """Split `… [for] 24h` / `… for 2 days` into the words before it and the duration."""
    words = [keyword(token, quotes=True) for token in tokens]
    width, parsed = 0, None
    if len(words) >= 2 and _DIGITS_RE.fullmatch(words[-2]) and words[-1] in _DURATION_UNITS:
        width, parsed = 2, (words[-2], words[-1])
    elif words and (match := _DURATION_RE.fullmatch(words[-1])) and match[2] in _DURATION_UNITS:
        width, parsed = 1, (match[1], match[2])
    if parsed is not None:
        head = tokens[:-width]
        if head and keyword(head[-1]) == "for":
            head = head[:-1]
        if len(parsed[0]) > 6:
            raise CommandArgumentError(f"A mute can last at most {MUTE_MAX.days} days")
        return head, _duration(int(parsed[0]), parsed[1])
    if words and words[-1] == "for":
        raise CommandArgumentError(f"Mute for how long? Use e.g. {DURATION_EXAMPLES}")
    looks_like_duration = bool(words) and _DIGITS_RE.match(words[-1]) is not None
    if (len(words) >= 2 and words[-2] == "for") or (
        looks_like_duration and len(tokens) == 2 and is_cluster_id(tokens[0])
    ):
        raise CommandArgumentError(
            f"I can't read {quoted(tokens[-1])} as a duration; use e.g. {DURATION_EXAMPLES}"
        )
    return tokens, None


def no_arguments(
    model: Callable[[], ParsedCommand], name: str
) -> Callable[[Arguments], ParsedCommand]:
    def parse(args: Arguments) -> ParsedCommand:
        if args.text:
            raise CommandArgumentError(f"`{name}` takes no arguments (got {quoted(args.text)})")
        return model()

    return parse
