"""One parser per `/clusters` row: from the words after the command to its model. Pure.

Each raises `CommandArgumentError` with a message for the user; `grammar.py` turns that into help.
"""

from __future__ import annotations

from bot.commands.arguments import (
    EQUALS_RE,
    ID_WRAPPERS,
    INTEGER_RE,
    LEVEL_WORDS,
    METRIC_WORDS,
    RUN_ID_SHAPE_RE,
    Arguments,
    CommandArgumentError,
    is_cluster_id,
    keyword,
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
    RUNS_LIMIT_DEFAULT,
    RUNS_LIMIT_MAX,
    RUNS_LIMIT_MIN,
    THRESHOLD_NAME_RE,
    THRESHOLD_VALUE_MAX,
    THRESHOLD_VALUE_RE,
    BaseCommand,
    Compare,
    Latest,
    Metric,
    Mute,
    Runs,
    Show,
    Subscribe,
    Thresholds,
    Top,
    Trace,
    Unmute,
    Unsubscribe,
)
from bot.domain.models import Level


def parse_latest(args: Arguments) -> BaseCommand:
    level, job = read_level_and_job(args)
    return Latest(level=level, job=job)


def parse_runs(args: Arguments) -> BaseCommand:
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


def parse_show(args: Arguments) -> BaseCommand:
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


def parse_top(args: Arguments) -> BaseCommand:
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


def parse_compare(args: Arguments) -> BaseCommand:
    tokens = args.tokens
    level = read_level(tokens[0], quotes=True) if tokens else None
    run_ids = [read_id(token, "run", "clusters") for token in tokens[0 if level is None else 1 :]]
    if len(run_ids) > 2:
        raise CommandArgumentError("Compare takes at most two run ids: current, then previous")
    if len(run_ids) == 2 and run_ids[0] == run_ids[1]:
        raise CommandArgumentError("Those are the same run twice; give two different run ids")
    current, previous = (*run_ids, None, None)[:2]
    return Compare(current=current, previous=previous, level=level)


def parse_trace(args: Arguments) -> BaseCommand:
    tokens = args.tokens
    if not tokens:
        raise CommandArgumentError("Which trace? Give its id: `/clusters trace <trace id>`")
    if len(tokens) > 1:
        raise CommandArgumentError(
            f"That doesn't look like a trace id: {quoted(args.text)} (ids have no spaces)"
        )
    return Trace(trace_id=read_id(tokens[0], "trace", "traces"))


def parse_subscribe(args: Arguments) -> BaseCommand:
    level, job = read_level_and_job(args)
    return Subscribe(level=level, job=job)


def parse_unsubscribe(args: Arguments) -> BaseCommand:
    level, job = read_level_and_job(args)
    return Unsubscribe(level=level, job=job)


def parse_thresholds(args: Arguments) -> BaseCommand:
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


def parse_mute(args: Arguments) -> BaseCommand:
    head, duration = read_duration(args.tokens)
    cluster = read_cluster(" ".join(head))
    return Mute(cluster=cluster) if duration is None else Mute(cluster=cluster, duration=duration)


def parse_unmute(args: Arguments) -> BaseCommand:
    return Unmute(cluster=read_cluster(args.text))
