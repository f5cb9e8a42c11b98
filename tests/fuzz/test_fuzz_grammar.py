"""`/clusters <anything>`: the parser never raises, whatever it returns is a valid model whose
ids are safe and whose free text is one clean line, and the help it leads to renders escaped
and within Slack's limits."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from bot.commands import (
    COMMANDS,
    MAX_COMMAND_CHARS,
    BaseCommand,
    help_lines,
    is_safe_id,
    parse_clusters_command,
)
from bot.commands.parsed import FREE_TEXT_MAX, Help
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.env import make_environment
from bot.slack.escape import check_limits
from tests.support.fuzz import HOSTILE, assert_no_pings, fuzz_settings

ID_FIELDS = ("run_id", "current", "previous", "trace_id")
FREE_TEXT_FIELDS = ("job", "cluster")
RUN_ID = "2_trace_20260614_001502_019cb7f3-a126-7809-bffc-7f13bffe1325"
WORDS = sorted({word for spec in COMMANDS for word in spec.words})
ARGUMENT_WORDS = [
    "trace", "traces", "gen", "generation", "evals", "cost", "latency", "errors", "size",
    "slow", "run", "for", "24h", "7d", "90m", "1w", "999d", "0h", "-1", "outliers", "noise",
    "reset", "cost_spike_pct=50", "error_rate=0.2", "x=", "=y", "#3", "3", "00", "1e9",
    RUN_ID, RUN_ID + "'", RUN_ID.upper(),
    f"<https://us.posthog.com/project/1/ai-observability/clusters/{RUN_ID}/3|cluster 3>",
    "https://us.posthog.com/project/1/ai-observability/traces/a%27%20OR%201=1",
    "<https://evil.example/traces/<!channel>|x>",
    '"Default - traces"', "“Default - traces”", "'unbalanced", "`code`", "*bold*",
]  # fmt: skip
SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u3000", " \u200b"])
TOKENS = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(ARGUMENT_WORDS),
    st.sampled_from(HOSTILE),
    st.text(max_size=12),
    st.from_regex(r"[A-Za-z0-9_.:\-]{1,30}", fullmatch=True),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
)


@st.composite
def command_texts(draw: st.DrawFn) -> str:
    """A command word first (mostly), then argument-like and hostile tokens."""
    first = draw(st.one_of(st.sampled_from(WORDS), TOKENS))
    parts = [draw(st.sampled_from(["", "/clusters ", "  "])) + first]
    for token in draw(st.lists(TOKENS, max_size=8)):
        parts += [draw(SEPARATORS), token]
    text = "".join(parts) + draw(st.sampled_from(["", ".", "?", " ", "…"]))
    return text * draw(st.sampled_from([1, 1, 1, 40]))  # sometimes far too long


def assert_clean_free_text(value: str) -> None:
    assert value and len(value) <= FREE_TEXT_MAX and value == value.strip()
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value), value


def assert_safe(parsed: BaseModel) -> None:
    assert isinstance(parsed, BaseCommand)
    # The instance satisfies its own model: rebuilding it from its fields validates.
    assert type(parsed).model_validate(parsed.model_dump()) == parsed
    for name, value in parsed:
        if value is None:
            continue
        if name in ID_FIELDS:
            assert is_safe_id(value), (name, value)
        if name in FREE_TEXT_FIELDS:
            assert_clean_free_text(value)


RENDERER = Renderer(
    make_environment(),
    PostHogUrls("https://us.posthog.com", 1),
    clock=lambda: datetime(2026, 11, 27, tzinfo=UTC),
)


@fuzz_settings(600)
@given(command_texts())
def test_any_command_text_parses_to_a_safe_model(text: str) -> None:
    parsed = parse_clusters_command(text)
    assert_safe(parsed)
    assert parse_clusters_command(text) == parsed  # deterministic
    if len(text.strip()) > MAX_COMMAND_CHARS:
        assert isinstance(parsed, Help) and parsed.problem and "too long" in parsed.problem


@fuzz_settings(300)
@given(st.text(max_size=MAX_COMMAND_CHARS))
def test_any_unicode_parses_to_a_safe_model(text: str) -> None:
    assert_safe(parse_clusters_command(text))


@fuzz_settings(150)
@given(command_texts())
def test_the_help_a_command_leads_to_is_escaped_and_within_limits(text: str) -> None:
    parsed = parse_clusters_command(text)
    if not isinstance(parsed, Help):
        return
    assert parsed.problem is None or len(parsed.problem) < 1000
    lines = help_lines(parsed.problem, parsed.topic)
    message = RENDERER.help(lines[1 if parsed.problem else 0 :], parsed.problem)
    assert not check_limits(message.blocks, message.text), check_limits(
        message.blocks, message.text
    )
    assert_no_pings(message)
