"""mrkdwn escaping, truncation and Block Kit limits (bot/slack/escape.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.slack.escape import (
    BUTTON_TEXT_MAX,
    FALLBACK_TEXT_MAX,
    FIELD_TEXT_MAX,
    HEADER_TEXT_MAX,
    MESSAGE_BLOCKS_MAX,
    SECTION_FIELDS_MAX,
    SECTION_TEXT_MAX,
    SafeMrkdwn,
    check_limits,
    clean_inline,
    enforce_limits,
    escape_mrkdwn,
    link,
    truncate,
)

# -- escape_mrkdwn ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here> now", "&lt;!here&gt; now"),
        ("hi <@U123>", "hi &lt;@U123&gt;"),
        ("<!subteam^S123>", "&lt;!subteam^S123&gt;"),
        ("<http://x|y>", "&lt;http://x|y&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;", "&amp;lt;"),  # displays as the literal text "&lt;", not "<"
        ("*bold* _it_ `code` ```block```", "*bold* _it_ `code` ```block```"),
        ("line1\nline2", "line1\nline2"),
        ("", ""),
    ],
)
def test_escape_mrkdwn_replaces_only_control_characters(raw: str, escaped: str) -> None:
    assert escape_mrkdwn(raw) == escaped


def test_escape_mrkdwn_leaves_no_angle_brackets_in_hostile_text() -> None:
    hostile = "<!channel> <!here> <@U1> <#C1> <http://evil|click> &amp;" * 50
    escaped = escape_mrkdwn(hostile)
    assert "<" not in escaped and ">" not in escaped
    assert re.sub(r"&(amp|lt|gt);", "", escaped).count("&") == 0


def test_escape_mrkdwn_handles_long_unicode() -> None:
    text = "Ünïcødé 🧪 <b> & 日本語 " * 500  # ~10k characters
    escaped = escape_mrkdwn(text)
    assert escaped.count("&lt;b&gt;") == 500
    assert "日本語" in escaped and "🧪" in escaped


def test_escape_mrkdwn_returns_safe_mrkdwn_unchanged() -> None:
    safe = SafeMrkdwn("<https://x.test|ok>")
    assert escape_mrkdwn(safe) is safe


def test_escape_mrkdwn_escapes_plain_str_even_if_it_looks_built() -> None:
    assert escape_mrkdwn(str(SafeMrkdwn("<a>")) + "") == "&lt;a&gt;"


# -- link ---------------------------------------------------------------------------------


def test_link_escapes_label() -> None:
    built = link("https://us.posthog.com/project/1/x", "<!channel> & co")
    assert built == "<https://us.posthog.com/project/1/x|&lt;!channel&gt; &amp; co>"
    assert isinstance(built, SafeMrkdwn)


def test_link_neutralises_pipe_and_closing_bracket_in_label() -> None:
    built = link("https://a.test/", "a|b>c")
    inner = built[1:-1]
    assert inner.count("|") == 1 and ">" not in inner
    assert built.endswith("&gt;c>")


def test_link_percent_encodes_characters_that_would_end_the_url() -> None:
    built = link("https://a.test/p?q=<x>|y z", "label")
    assert built == "<https://a.test/p?q=%3Cx%3E%7Cy%20z|label>"


def test_link_collapses_newlines_in_label() -> None:
    assert link("https://a.test", "two\nlines") == "<https://a.test|two lines>"


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "mailto:a@b.c", "!channel", "@U123", "ftp://x", "/rel", ""]
)
def test_link_with_non_http_url_returns_escaped_label_only(url: str) -> None:
    assert link(url, "<b>") == "&lt;b&gt;"


def test_link_without_label_is_bare_url() -> None:
    assert link("https://a.test", "") == "<https://a.test>"


# -- clean_inline ---------------------------------------------------------------------------


def test_clean_inline_collapses_whitespace_and_strips_backtick_runs() -> None:
    title = "  Refund ```python\nrequests```\t\tin  ``EU``  `code` "
    assert clean_inline(title, 100) == "Refund python requests in EU `code`"


def test_clean_inline_truncates_with_ellipsis() -> None:
    out = clean_inline("word " * 100, 20)
    assert len(out) <= 20 and out.endswith("…")


def test_clean_inline_does_not_escape() -> None:
    assert clean_inline("a < b", 10) == "a < b"  # escaping happens at render time


# -- truncate -----------------------------------------------------------------------------


def test_truncate_short_text_is_unchanged() -> None:
    assert truncate("short", 10) == "short"


def test_truncate_adds_suffix_within_limit() -> None:
    assert truncate("abcdefghij", 5) == "abcd…"


def test_truncate_backs_off_before_a_link() -> None:
    text = "see <https://example.com/very/long|the report> now"
    out = truncate(text, 20)
    assert out == "see…"


def test_truncate_backs_off_before_a_partial_entity() -> None:
    assert truncate("a &amp; b", 7) == "a…"
    assert truncate("x &lt;y", 5) == "x…"


def test_truncate_keeps_whole_entities_and_lone_ampersands() -> None:
    assert truncate("a &amp; bcdef", 9) == "a &amp;…"
    assert truncate("R&D team rocks", 6) == "R&D t…"


def test_truncate_keeps_safe_mrkdwn_type() -> None:
    assert isinstance(truncate(SafeMrkdwn("<https://a.test|x> " * 10), 30), SafeMrkdwn)


def test_truncate_plain_text_cuts_anywhere() -> None:
    assert truncate("a <b c> d", 5, mrkdwn=False) == "a <b…"


def test_truncate_tiny_limits() -> None:
    assert truncate("abc", 1) == "…"
    assert truncate("abc", 0) == ""


def _unbalanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch == "<":
            if depth:
                return True
            depth = 1
        elif ch == ">":
            depth = 0
    return depth != 0


@given(st.text(max_size=400), st.integers(min_value=0, max_value=300))
def test_truncate_of_escaped_text_fits_and_stays_balanced(raw: str, limit: int) -> None:
    out = truncate(escape_mrkdwn(raw), limit)
    assert len(out) <= limit
    assert not _unbalanced(out)
    assert not re.search(r"&[A-Za-z#0-9]*$", out.removesuffix("…"))


@given(
    st.lists(st.tuples(st.text(max_size=30), st.text(max_size=30)), max_size=10),
    st.integers(min_value=0, max_value=200),
)
def test_truncate_never_cuts_inside_links(parts: list[tuple[str, str]], limit: int) -> None:
    text = "".join(escape_mrkdwn(plain) + link("https://a.test/x", label) for plain, label in parts)
    out = truncate(text, limit)
    assert len(out) <= limit
    assert not _unbalanced(out)


# -- enforce_limits / check_limits ----------------------------------------------------------


def _section(text: str, fields: int = 0, field_len: int = 10) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": "f" * field_len} for _ in range(fields)]
    return block


def _actions(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(buttons)}


def _button(text: str, value: str = "v", action_id: str = "clusters.drilldown") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


def test_check_limits_accepts_a_small_valid_message() -> None:
    blocks = [_section("hello"), _actions(_button("Open"))]
    assert check_limits(blocks, "hello") == []


def test_check_limits_reports_each_violation() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
        _section("s" * 3001, fields=11, field_len=2001),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11},
        _actions(_button("b" * 76, value="v" * 2001)),
    ]
    problems = check_limits(blocks, "t" * 4001)
    joined = "\n".join(problems)
    for expected in [
        "text: 4001 > 4000",
        "blocks[0].text: 151 > 150",
        "blocks[1].text: 3001 > 3000",
        "blocks[1].fields: 11 > 10",
        "blocks[1].fields[0]: 2001 > 2000",
        "blocks[2].elements: 11 > 10",
        "blocks[3].elements[0].text: 76 > 75",
        "blocks[3].elements[0].value: 2001 > 2000",
    ]:
        assert expected in joined
    assert "slack_sdk" in joined  # slack_sdk's validators ran too


def test_check_limits_flags_missing_fallback_and_too_many_blocks() -> None:
    problems = check_limits([_section("x")] * 51, " ")
    assert "text: the fallback text is empty" in problems
    assert "blocks: 51 > 50" in problems


def test_check_limits_flags_duplicate_block_ids() -> None:
    blocks = [_section("a") | {"block_id": "b1"}, _section("b") | {"block_id": "b1"}]
    assert check_limits(blocks, "x") == ["block_id 'b1' is used 2 times"]


def test_check_limits_flags_option_values() -> None:
    overflow = {
        "type": "overflow",
        "action_id": "a",
        "options": [{"text": {"type": "plain_text", "text": "o"}, "value": "v" * 151}],
    }
    problems = check_limits([_section("x") | {"accessory": overflow}], "x")
    assert "blocks[0].accessory.options[0].value: 151 > 150" in problems


def test_enforce_limits_on_200_sections_caps_blocks_with_more_line() -> None:
    blocks = [_section(f"cluster {i}") for i in range(200)]
    fitted, text = enforce_limits(blocks, fallback_text="200 clusters")
    assert len(fitted) == MESSAGE_BLOCKS_MAX
    assert fitted[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "…and 151 more"}],
    }
    assert fitted[48]["text"]["text"] == "cluster 48"
    assert check_limits(fitted, text) == []


def test_enforce_limits_fixes_giant_texts_and_fields() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "H" * 500}},
        _section(escape_mrkdwn("<!channel> & " * 1000), fields=15, field_len=5000),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 4000}] * 12},
        _actions(*[_button("B" * 200, action_id=f"a{i}") for i in range(30)]),
    ]
    fitted, text = enforce_limits(blocks, fallback_text="x" * 50_000)
    assert check_limits(fitted, text) == []
    assert len(text) == FALLBACK_TEXT_MAX
    assert len(fitted[0]["text"]["text"]) == HEADER_TEXT_MAX
    assert len(fitted[1]["text"]["text"]) <= SECTION_TEXT_MAX
    assert len(fitted[1]["fields"]) == SECTION_FIELDS_MAX
    assert all(len(f["text"]) <= FIELD_TEXT_MAX for f in fitted[1]["fields"])
    assert len(fitted[3]["elements"][0]["text"]["text"]) == BUTTON_TEXT_MAX
    assert not _unbalanced(fitted[1]["text"]["text"])


def test_enforce_limits_does_not_mutate_input() -> None:
    blocks = [_section("s" * 5000)]
    before = json.dumps(blocks)
    enforce_limits(blocks, fallback_text="x")
    assert json.dumps(blocks) == before


def test_enforce_limits_keeps_links_whole() -> None:
    url = "https://us.posthog.com/project/1/llm-analytics/clusters/run"
    text = "x" * 2990 + str(link(url, "the run"))
    fitted, _ = enforce_limits([_section(text)], fallback_text="x")
    assert fitted[0]["text"]["text"] == "x" * 2990 + "…"


@pytest.mark.parametrize(
    "element",
    [
        _button("ok", value="v" * 2001),
        _button("ok", action_id="a" * 256),
        {
            "type": "static_select",
            "action_id": "s",
            "options": [{"text": {"type": "plain_text", "text": "o"}, "value": "v" * 151}],
        },
    ],
)
def test_enforce_limits_raises_for_oversized_payloads_and_ids(element: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Slack allows"):
        enforce_limits([_actions(element)], fallback_text="x")


def test_enforce_limits_raises_for_long_block_id() -> None:
    with pytest.raises(ValueError, match="block_id"):
        enforce_limits([_section("x") | {"block_id": "b" * 256}], fallback_text="x")
