"""The `/clusters` grammar: every row and alias, hostile input, help generated from the table."""

from __future__ import annotations

import inspect
import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.commands import (
    COMMANDS,
    MAX_COMMAND_CHARS,
    SAFE_ID_PATTERN,
    BaseCommand,
    ParsedCommand,
    handlers,
    help_lines,
    parse_clusters_command,
    spec_for,
)
from bot.commands.parsed import (
    Compare,
    Help,
    Jobs,
    Latest,
    Metric,
    Mute,
    Mutes,
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

RUN_ID = "2_trace_20260614_001502_019cb7f3-a126-7809-bffc-7f13bffe1325"
OTHER_RUN_ID = "2_trace_20260613_001502_019cb7f3-a126-7809-bffc-7f13bffe1325"
TRACE_ID = "019cb7f3-a126-7809-bffc-7f13bffe1325"
SAFE_ID = re.compile(SAFE_ID_PATTERN)
DAY = timedelta(days=1)

VALID: list[tuple[str, ParsedCommand]] = [
    # latest / summary / last
    ("latest", Latest()),
    ("summary", Latest()),
    ("last", Latest()),
    ("latest trace", Latest(level=Level.TRACE)),
    ("latest generations", Latest(level=Level.GENERATION)),
    ("last eval", Latest(level=Level.EVALUATION)),
    ('latest trace "Default - traces"', Latest(level=Level.TRACE, job="Default - traces")),
    ("latest trace Default - traces", Latest(level=Level.TRACE, job="Default - traces")),
    ("summary Default - generations", Latest(job="Default - generations")),
    ('latest "trace"', Latest(job="trace")),
    ("latest 'Default (traces)'", Latest(job="Default (traces)")),
    # runs
    ("runs", Runs()),
    ("runs 20", Runs(limit=20)),
    ("runs 1", Runs(limit=1)),
    ("runs trace", Runs(level=Level.TRACE)),
    ("runs generation 7", Runs(level=Level.GENERATION, limit=7)),
    ("runs 7 evaluation", Runs(level=Level.EVALUATION, limit=7)),
    # show / cluster
    ("show 3", Show(cluster="3")),
    ("cluster 3", Show(cluster="3")),
    ("show #12", Show(cluster="12")),
    ("show 0", Show(cluster="0")),
    ("show -1", Show(cluster="-1")),
    ("show outliers", Show(cluster="-1")),
    ("show noise", Show(cluster="-1")),
    (f"show 3 run {RUN_ID}", Show(cluster="3", run_id=RUN_ID)),
    (f"show outliers run {RUN_ID}", Show(cluster="-1", run_id=RUN_ID)),
    (f"cluster Checkout errors run {RUN_ID}", Show(cluster="Checkout errors", run_id=RUN_ID)),
    ("show 3 run abc-1", Show(cluster="3", run_id="abc-1")),
    ("show Checkout failures", Show(cluster="Checkout failures")),
    ("show Failed run retries", Show(cluster="Failed run retries")),
    # Older run-id formats after title words are run ids too (issue 13 item 8)
    (
        "show slow tools run 2_20250123_001500",
        Show(cluster="slow tools", run_id="2_20250123_001500"),
    ),
    (
        "show slow tools run 2_evaluation_019cb7f3-a126_20260614_064503",
        Show(cluster="slow tools", run_id="2_evaluation_019cb7f3-a126_20260614_064503"),
    ),
    ('show "404 errors"', Show(cluster="404 errors")),
    (
        f"show https://us.posthog.com/project/1/ai-observability/clusters/{RUN_ID}/4",
        Show(cluster="4", run_id=RUN_ID),
    ),
    # top and its metric aliases
    ("top cost", Top(metric=Metric.COST)),
    ("top latency", Top(metric=Metric.LATENCY)),
    ("top errors", Top(metric=Metric.ERRORS)),
    ("top size", Top(metric=Metric.SIZE)),
    ("top error", Top(metric=Metric.ERRORS)),
    ("top slow", Top(metric=Metric.LATENCY)),
    ("top slowest", Top(metric=Metric.LATENCY)),
    ("top expensive", Top(metric=Metric.COST)),
    ("top big", Top(metric=Metric.SIZE)),
    ("top largest", Top(metric=Metric.SIZE)),
    ("top cost generation", Top(metric=Metric.COST, level=Level.GENERATION)),
    ("top traces errors", Top(metric=Metric.ERRORS, level=Level.TRACE)),
    # compare / diff
    ("compare", Compare()),
    ("diff", Compare()),
    (f"compare {RUN_ID}", Compare(current=RUN_ID)),
    (f"diff {RUN_ID} {OTHER_RUN_ID}", Compare(current=RUN_ID, previous=OTHER_RUN_ID)),
    ("compare trace", Compare(level=Level.TRACE)),
    ("compare generation", Compare(level=Level.GENERATION)),
    ("compare evaluation", Compare(level=Level.EVALUATION)),
    (f"compare trace {RUN_ID}", Compare(level=Level.TRACE, current=RUN_ID)),
    # jobs, trace
    ("jobs", Jobs()),
    (f"trace {TRACE_ID}", Trace(trace_id=TRACE_ID)),
    ("trace run:42.a_b", Trace(trace_id="run:42.a_b")),
    ("trace `abc-123`", Trace(trace_id="abc-123")),
    (
        f"trace <https://us.posthog.com/project/2/ai-observability/traces/{TRACE_ID}?x=1|link>",
        Trace(trace_id=TRACE_ID),
    ),
    ("trace https://eu.posthog.com/project/2/ai-observability/traces/a%3Ab", Trace(trace_id="a:b")),
    # subscriptions
    ("subscribe", Subscribe()),
    ("subscribe trace", Subscribe(level=Level.TRACE)),
    (
        'subscribe generation "Default - generations"',
        Subscribe(level=Level.GENERATION, job="Default - generations"),
    ),
    ("unsubscribe", Unsubscribe()),
    (
        "unsubscribe evaluation Nightly evals",
        Unsubscribe(level=Level.EVALUATION, job="Nightly evals"),
    ),
    ("subscriptions", Subscriptions()),
    # thresholds
    ("thresholds", Thresholds()),
    ("thresholds reset", Thresholds(reset=True)),
    ("thresholds cost_spike=50%", Thresholds(overrides=(("cost_spike", "50%"),))),
    (
        "thresholds Error_Rate = 0.2 min-size=30",
        Thresholds(overrides=(("error_rate", "0.2"), ("min_size", "30"))),
    ),
    # mutes
    ("mute 3", Mute(cluster="3")),
    ("mute 3 for 7d", Mute(cluster="3", duration=7 * DAY)),
    ("mute 3 90m", Mute(cluster="3", duration=timedelta(minutes=90))),
    ("mute outliers 1w", Mute(cluster="-1", duration=7 * DAY)),
    ("mute 3 for 2 days", Mute(cluster="3", duration=2 * DAY)),
    ("mute 3 for 30d", Mute(cluster="3", duration=30 * DAY)),
    ("mute Checkout errors for 12h", Mute(cluster="Checkout errors", duration=timedelta(hours=12))),
    ('mute "Checkout errors" 24h', Mute(cluster="Checkout errors", duration=DAY)),
    ("unmute 3", Unmute(cluster="3")),
    ("unmute Checkout errors", Unmute(cluster="Checkout errors")),
    ("unmute noise", Unmute(cluster="-1")),
    ("mutes", Mutes()),
    # help
    ("help", Help()),
    ("", Help()),
    ("help latest", Help(topic="latest")),
    ("help summary", Help(topic="latest")),
    ("help MUTE", Help(topic="mute")),
    # Slack's formatting and case are tolerated
    ("  LATEST  ", Latest()),
    ("Latest Trace", Latest(level=Level.TRACE)),
    ("latest.", Latest()),
    ("runs 5!", Runs(limit=5)),
    ("runs\u00a03", Runs(limit=3)),
    ("runs\t3\n", Runs(limit=3)),
    (
        "latest trace \u201cDefault - traces\u201d",
        Latest(level=Level.TRACE, job="Default - traces"),
    ),
    ("latest \u2018Default - traces\u2019", Latest(job="Default - traces")),
    ("*latest*", Latest()),
    ("`runs` 4", Runs(limit=4)),
    ("ｌａｔｅｓｔ", Latest()),
    ("runs ５", Runs(limit=5)),
    ("/clusters jobs", Jobs()),
    ("latest Q&amp;A bot", Latest(job="Q&A bot")),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[text[:40] for text, _ in VALID])
def test_parse_valid_text_gives_model(text: str, expected: ParsedCommand) -> None:
    parsed = parse_clusters_command(text)

    assert parsed == expected
    assert type(parsed) is type(expected)


def test_valid_table_covers_every_command_and_alias() -> None:
    first_words = {text.split()[0].lower() for text, _ in VALID if text.strip()}

    for spec in COMMANDS:
        assert set(spec.words) <= first_words, spec.name


def test_valid_table_covers_every_metric_alias() -> None:
    metrics = {parsed.metric for _, parsed in VALID if isinstance(parsed, Top)}

    assert metrics == set(Metric)


# A problem (substring of Help.problem) or the exact safe model each hostile text must give.
HOSTILE: list[tuple[str, str | ParsedCommand]] = [
    ("x" * (MAX_COMMAND_CHARS + 1), f"too long ({MAX_COMMAND_CHARS + 1} characters)"),
    ("latest " + "a" * 600, "too long"),
    ("latest " + "a" * 250, "job name is too long (250 characters"),
    ("show " + "b" * 201, "cluster title is too long"),
    ("foo", "Unknown command: `foo`"),
    ("lates", "Did you mean `latest`"),
    ("DROP TABLE events", "Unknown command: `DROP`"),
    ("<!channel>", "Unknown command: `<!channel>`"),
    ("`latest", Latest()),
    ("🚀", "Unknown command: `🚀`"),
    ("\u202elatest", Latest()),  # RTL override dropped
    ("\u200blatest\u200b", Latest()),  # zero-width spaces dropped
    ("latest\x00", Latest()),
    ("trace abc\x00def", Trace(trace_id="abcdef")),
    ("trace x' OR 1=1 --", "That doesn't look like a trace id"),
    ("trace x'OR'1'='1", "That doesn't look like a trace id"),
    ("trace {run_id}", "That doesn't look like a trace id"),
    ("trace ); DROP TABLE events", "That doesn't look like a trace id"),
    ("trace ); DROP TABLE events; --", "That doesn't look like a trace id"),
    ("trace abc`def", "That doesn't look like a trace id"),
    ("trace <!channel>", "That doesn't look like a trace id"),
    ("trace <@U123|bob>", "That doesn't look like a trace id"),
    ("trace ..", "Which trace?"),  # a trailing full stop is Slack punctuation
    ("trace -.-", "That doesn't look like a trace id"),
    ("trace --", "That doesn't look like a trace id"),
    ("trace ''", "That doesn't look like a trace id"),
    ('trace ""', "That doesn't look like a trace id"),
    ("trace " + "a" * 201, "That doesn't look like a trace id"),
    ("trace 🙂", "That doesn't look like a trace id"),
    ("trace عربي", "That doesn't look like a trace id"),
    ("trace ａｂｃ", "That doesn't look like a trace id"),
    ("trace a/b", "That doesn't look like a trace id"),
    ("trace a%27b", "That doesn't look like a trace id"),
    ("trace https://evil.example/x/y", "That doesn't look like a trace id"),
    ("trace", "Which trace?"),
    ("trace abc\ndef", "That doesn't look like a trace id"),
    (f"show 3 run {RUN_ID}' OR 1=1", "doesn't look like a run id"),
    ("show 3 run {run_id}", "doesn't look like a run id"),
    ("show 3 run x;DROP", "doesn't look like a run id"),
    ("show 3 run", "Which run?"),
    (f"show 3 run {RUN_ID} extra", "doesn't look like a run id"),
    ("show", "Which cluster?"),
    ("show ''", "Which cluster?"),
    ("show \"''", "Which cluster?"),
    ("latest '\"'", Latest()),
    ("show -5", "isn't a cluster id"),
    ("show 99999999999999999999999999", "isn't a cluster id"),
    ("show https://us.posthog.com/project/1/traces", "isn't a PostHog cluster"),
    ("compare x' OR 1=1 --", "doesn't look like a run id"),
    ("compare {run_id}", "doesn't look like a run id"),
    ("compare `rm -rf`", Compare(current="rm", previous="-rf")),  # backticks never kept
    (f"compare {RUN_ID} {RUN_ID}", "same run twice"),
    (f"compare {RUN_ID} {OTHER_RUN_ID} {RUN_ID}", "at most two run ids"),
    ("runs 0", "n must be between 1 and 20"),
    ("runs 21", "n must be between 1 and 20"),
    ("runs -3", "n must be between 1 and 20"),
    ("runs 99999999999999999999999999999", "n must be between 1 and 20"),
    ("runs many", "I can't read `many`"),
    ("runs trace trace", "I can't read `trace`"),
    ("runs 3 4", "I can't read `4`"),
    ("top", "Top by what? Choose one of cost, latency, errors, size"),
    ("top trace", "Top by what?"),
    ("top money", "Unknown metric `money`: choose one of cost, latency, errors, size"),
    ("top cost errors", "Rank by one metric only"),
    ("top 1=1", "Unknown metric"),
    ("jobs --all", "`jobs` takes no arguments"),
    ("mutes; DROP", "Unknown command: `mutes;`"),
    ("subscriptions please", "`subscriptions` takes no arguments"),
    ("mute", "Which cluster?"),
    ("mute 24h", "Which cluster?"),
    ("mute 3 for", "Mute for how long?"),
    ("mute 3 for ever", "I can't read `ever` as a duration"),
    ("mute 3 10", "I can't read `10` as a duration"),
    ("mute 3 31d", "at most 30 days"),
    ("mute 3 5w", "at most 30 days"),
    ("mute 3 0h", "at least a minute"),
    ("mute 3 9999999999d", "at most 30 days"),
    ("unmute", "Which cluster?"),
    ("thresholds x' OR 1=1 --", "name=value"),
    ("thresholds cost=", "Give `cost` a value"),
    ("thresholds =5", "name=value"),
    ("thresholds cost=" + "9" * 41, "I can't read the value of `cost`"),
    ("thresholds cost={run_id}", "I can't read the value of `cost`"),
    ("thresholds cost=1;DROP", "I can't read the value of `cost`"),
    ("thresholds " + "a" * 41 + "=1", "name=value"),
    ("thresholds cost=1 cost=2", "`cost` is given twice"),
    ("thresholds reset cost=1", "name=value"),
    ("help nonsense", "Unknown command: `nonsense`"),
    ("latest `x` \x07 <!here>", Latest(job="`x` <!here>")),
    ("show ); DROP TABLE events", Show(cluster="); DROP TABLE events")),
    ("latest x' OR 1=1 --", Latest(job="x' OR 1=1 --")),
    ("&lt;!channel&gt;", "Unknown command: `<!channel>`"),
]


def assert_safe(parsed: ParsedCommand) -> None:
    """Ids match the safe pattern; free text is one clean line of at most 200 characters."""
    assert isinstance(parsed, BaseCommand)
    for field in ("run_id", "current", "previous", "trace_id"):
        value = getattr(parsed, field, None)
        if value is not None:
            assert SAFE_ID.fullmatch(value) and len(value) <= 200, (field, value)
    for field in ("job", "cluster", "problem"):
        value = getattr(parsed, field, None)
        if value is not None:
            assert value and value == value.strip(), (field, value)
            assert not any(unicodedata.category(char) in ("Cc", "Cs") for char in value)
            if field != "problem":
                assert len(value) <= 200
    if isinstance(parsed, Show | Mute | Unmute):
        assert parsed.cluster_id is not None or not re.fullmatch(r"-?[0-9]+", parsed.cluster)
    if isinstance(parsed, Help) and parsed.problem is not None:
        assert parsed.problem.count("`") % 2 == 0, parsed.problem  # quoted input stays quoted


@pytest.mark.parametrize(
    ("text", "expected"), HOSTILE, ids=[repr(text[:40]) for text, _ in HOSTILE]
)
def test_parse_hostile_text_gives_problem_or_safe_model(
    text: str, expected: str | ParsedCommand
) -> None:
    parsed = parse_clusters_command(text)

    assert_safe(parsed)
    if isinstance(expected, str):
        assert isinstance(parsed, Help)
        assert parsed.problem is not None
        assert expected in parsed.problem
    else:
        assert parsed == expected


def test_hostile_table_is_big_enough() -> None:
    assert len(HOSTILE) >= 40


def test_parse_argument_problem_names_the_command_as_topic() -> None:
    assert parse_clusters_command("runs 50") == Help(
        problem="n must be between 1 and 20", topic="runs"
    )


def test_parse_text_of_exactly_the_limit_is_parsed() -> None:
    text = "latest" + " " * (MAX_COMMAND_CHARS - len("latest") - len("trace")) + "trace"

    assert len(text) == MAX_COMMAND_CHARS
    assert parse_clusters_command(text) == Latest(level=Level.TRACE)
    assert parse_clusters_command(text + "s") == Help(
        problem=f"That command is too long ({MAX_COMMAND_CHARS + 1} characters); "
        f"the limit is {MAX_COMMAND_CHARS}"
    )


def test_parse_job_name_of_200_characters_is_kept() -> None:
    assert parse_clusters_command("latest " + "a" * 200) == Latest(job="a" * 200)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u00a0", ".", "?!", "\x00", "/clusters"])
def test_parse_blank_text_gives_plain_help(text: str) -> None:
    assert parse_clusters_command(text) == Help()


# -- properties ----------------------------------------------------------------------------

SPEC_WORDS = sorted(word for spec in COMMANDS for word in spec.words)
COMMAND_WORDS = [*SPEC_WORDS, "run", "for", "reset", "trace", "cost", "7d", "#3"]
SAFE_ID_TEXT = st.from_regex(r"[A-Za-z0-9_:\-]{0,60}[A-Za-z0-9]", fullmatch=True)
NASTY = st.sampled_from(
    [
        "'",
        '"',
        "`",
        "“",
        "”",
        "‘",
        "’",
        "{run_id}",
        "--",
        ";",
        ")",
        "<!channel>",
        "&lt;",
        "\x00",
        "\n",
        "\t",
        "\u00a0",
        "\u202e",
        "\u200b",
        "\ud800",
        "=",
        "#",
        "-1",
        "24h",
        "for",
        "run",
        "trace",
        "outliers",
        RUN_ID,
        "https://x.posthog.com/project/1/ai-observability/traces/a",
    ]
)
TEXTS = st.one_of(
    st.text(max_size=600),
    st.lists(
        st.one_of(st.sampled_from(COMMAND_WORDS), NASTY, st.text(max_size=8)), max_size=12
    ).map(" ".join),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(TEXTS)
def test_parse_any_text_never_raises_and_ids_are_safe(text: str) -> None:
    assert_safe(parse_clusters_command(text))


@settings(max_examples=200, deadline=None)
@given(SAFE_ID_TEXT)
def test_parse_trace_any_safe_id_round_trips(trace_id: str) -> None:
    assert parse_clusters_command(f"trace {trace_id}") == Trace(trace_id=trace_id)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SPEC_WORDS), st.text(max_size=40))
def test_parse_is_case_insensitive_for_command_words(word: str, rest: str) -> None:
    assert parse_clusters_command(f"{word.upper()} {rest}") == parse_clusters_command(
        f"{word} {rest}"
    )


# -- models --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: Trace(trace_id="x' OR 1=1 --"),
        lambda: Trace(trace_id=""),
        lambda: Trace(trace_id="abc\n"),
        lambda: Show(cluster="3", run_id="{run_id}"),
        lambda: Compare(current="a b"),
        lambda: Show(cluster=""),
        lambda: Latest(job="a\x00b"),
        lambda: Latest(job="x" * 201),
        lambda: Runs(limit=21),
        lambda: Mute(cluster="3", duration=timedelta(days=31)),
        lambda: Thresholds(overrides=(("Bad Name", "1"),)),
    ],
)
def test_models_reject_unsafe_values_however_built(build: Callable[[], object]) -> None:
    with pytest.raises(ValidationError):
        build()


def test_models_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Latest().level = Level.TRACE  # type: ignore[misc]


@pytest.mark.parametrize(
    ("parsed", "admin"),
    [
        (Latest(), False),
        (Subscribe(), True),
        (Unsubscribe(), True),
        (Mute(cluster="3"), True),
        (Unmute(cluster="3"), True),
        (Thresholds(), False),
        (Thresholds(reset=True), True),
        (Thresholds(overrides=(("cost", "1"),)), True),
        (Help(), False),
    ],
)
def test_who_may_run_it_comes_from_the_row(parsed: ParsedCommand, admin: bool) -> None:
    assert spec_for(parsed).needs_admin(parsed) is admin


def test_cluster_id_property() -> None:
    assert Show(cluster="-1").cluster_id == -1
    assert Show(cluster="-1").is_noise
    assert Mute(cluster="12").cluster_id == 12
    assert Unmute(cluster="404 errors").cluster_id is None


# -- the table and help --------------------------------------------------------------------


def test_table_names_and_aliases_are_unique() -> None:
    words = [word for spec in COMMANDS for word in spec.words]

    assert len(words) == len(set(words))


def test_admin_commands_are_the_admin_rows() -> None:
    admin = {spec.name for spec in COMMANDS if spec.admin_only}
    assert admin == {"subscribe", "unsubscribe", "mute", "unmute"}


def test_help_lines_list_every_command_once_in_table_order() -> None:
    lines = help_lines()

    assert len(lines) == len(COMMANDS)
    for line, spec in zip(lines, COMMANDS, strict=True):
        assert line.startswith(f"`/clusters {spec.usage}` — {spec.description}")
        assert line.endswith("(admins)") == spec.admin_only
    assert lines[0] == (
        "`/clusters latest [trace|generation|evaluation] [job]` — "
        "Summary of the newest clustering run"
    )
    for spec in COMMANDS:
        assert [line.split()[1].strip("`") for line in lines].count(spec.name) == 1


def test_help_lines_problem_comes_first_unescaped() -> None:
    lines = help_lines(problem="Unknown command: `<foo>`")

    assert lines[0] == "Unknown command: `<foo>`"
    assert lines[1:] == help_lines()


def test_help_lines_topic_gives_that_command_only() -> None:
    lines = help_lines(problem="n must be between 1 and 20", topic="runs")

    assert lines[0] == "n must be between 1 and 20"
    assert lines[1].startswith("`/clusters runs [level] [n]`")
    assert not any("latest" in line for line in lines)


def test_help_lines_topic_mentions_aliases() -> None:
    assert "Also: `/clusters summary`, `/clusters last`" in help_lines(topic="latest")


def test_help_lines_unknown_topic_gives_everything() -> None:
    assert help_lines(topic="nope") == help_lines()


def test_every_help_topic_parses_back() -> None:
    for spec in COMMANDS:
        parsed = parse_clusters_command(f"help {spec.name}")
        assert parsed == Help(topic=spec.name)


def test_a_subcommand_is_one_row_that_drives_help_parsing_and_dispatch() -> None:
    """Each row names its handler: nothing else (no handler dict, no union) lists the commands."""
    lines = help_lines()
    for spec in COMMANDS:
        assert callable(spec.answer) and callable(spec.parse)
        assert any(line.startswith(f"`/clusters {spec.usage}`") for line in lines)
        for word in spec.words:
            parsed = parse_clusters_command(word)  # a row needing arguments answers with its help
            asked = parsed.topic if isinstance(parsed, Help) and parsed.problem else parsed.name
            assert asked == spec.name, word
    answers = {spec.answer for spec in COMMANDS}
    defined = {
        function
        for name, function in inspect.getmembers(handlers, inspect.isfunction)
        if name.startswith("answer_")
    }
    assert defined <= answers
    assert len(answers) == len(COMMANDS)
