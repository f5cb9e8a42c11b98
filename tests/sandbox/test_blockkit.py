"""Block Kit → HTML for the sandbox page: every block type, mrkdwn, and hostile text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from standins.web.blockkit import (
    block_html,
    blocks_html,
    message_body,
    mrkdwn,
    plain_text,
    safe_url,
)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> _Tags:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser


def visible_text(markup: str) -> str:
    """What a browser shows (entities decoded once by the HTML parser)."""
    return "".join(parse(markup).text)


def assert_inert(markup: str) -> None:
    """No script, no event handler attribute, every link and image http(s)."""
    for tag, attrs in parse(markup).tags:
        assert tag not in ("script", "iframe", "object", "embed", "style"), markup
        for name, value in attrs.items():
            assert not name.startswith("on"), markup
            if name in ("href", "src"):
                assert value is not None and value.startswith(("http://", "https://", "mailto:"))


def hrefs(markup: str) -> list[str]:
    return [attrs["href"] or "" for tag, attrs in parse(markup).tags if tag == "a"]


def mrkdwn_section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# -- mrkdwn ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("*bold*", "<b>bold</b>"),
        ("_italics_", "<i>italics</i>"),
        ("~strike~", "<s>strike</s>"),
        ("`x = 1`", '<code class="bk-code">x = 1</code>'),
        ("a *b* _c_ ~d~", "a <b>b</b> <i>c</i> <s>d</s>"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("line one\nline two", "line one<br>line two"),
    ],
)
def test_mrkdwn_formatting(source: str, expected: str) -> None:
    assert mrkdwn(source) == expected


def test_code_block_keeps_text_literal_and_unformatted() -> None:
    html = mrkdwn("before\n```*not bold* <http://x.io|y> &lt;b&gt;\nsecond```\nafter")
    assert '<pre class="bk-pre">*not bold* &lt;http://x.io|y&gt; &lt;b&gt;\nsecond</pre>' in html
    assert "<b>" not in html and "<a " not in html
    assert html.startswith("before") and html.endswith("after")


def test_inline_code_is_not_formatted() -> None:
    assert mrkdwn("`*a* :warning:`") == '<code class="bk-code">*a* :warning:</code>'


def test_quotes_raw_and_escaped() -> None:
    html = mrkdwn("&gt; quoted\n> also quoted\nplain")
    assert html == '<blockquote class="bk-quote">quoted<br>also quoted</blockquote>plain'


def test_links_open_in_a_new_tab_with_decoded_url() -> None:
    html = mrkdwn("see *<https://x.io/a?b=1&amp;c=2|Title &amp; co>* and <https://y.io>")
    assert hrefs(html) == ["https://x.io/a?b=1&c=2", "https://y.io"]
    assert "<b><a " in html
    assert visible_text(html) == "see Title & co and https://y.io"
    links = [attrs for tag, attrs in parse(html).tags if tag == "a"]
    assert len(links) == 2
    assert all(a["target"] == "_blank" and a["rel"] == "noopener noreferrer" for a in links)


def test_mentions_are_text_not_links() -> None:
    names = {"U0YOU": "you", "C0ALERTS": "llm-alerts"}
    html = mrkdwn("<@U0YOU> <@U0OTHER> <#C0ALERTS> <#C0X|named> <!here> <!subteam^S1|@team>", names)
    assert visible_text(html) == "@you @U0OTHER #llm-alerts #named @here @team"
    assert hrefs(html) == []


def test_dates_show_their_fallback() -> None:
    assert visible_text(mrkdwn("<!date^1392734382^{date_num}|Feb 18, 2014>")) == "Feb 18, 2014"


def test_known_emoji_are_mapped_and_others_shown_as_text() -> None:
    bot_emoji = (
        "warning red_circle large_orange_circle large_blue_circle new wave arrow_up arrow_down "
        "white_small_square mute speech_balloon gear abc small_blue_diamond"
    ).split()
    for name in bot_emoji:
        html = mrkdwn(f":{name}: x")
        assert f'title=":{name}:"' in html and f":{name}: x" not in visible_text(html)
    assert mrkdwn(":not_an_emoji: at 10:30:45") == ":not_an_emoji: at 10:30:45"


# -- hostile text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"),
        ("&lt;!channel&gt; please", "<!channel> please"),
        ("&amp;lt;b&amp;gt;", "&lt;b&gt;"),
        ("&lt;b&gt;bold?&lt;/b&gt;", "<b>bold?</b>"),
        ('" onmouseover="alert(1)', '" onmouseover="alert(1)'),
        ("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),
        ("\ue0000\ue001 placeholder", "0 placeholder"),
    ],
)
def test_hostile_text_shows_literally(source: str, shown: str) -> None:
    html = mrkdwn(source)
    assert_inert(html)
    assert visible_text(html) == shown
    assert [tag for tag, _ in parse(html).tags] == []


def test_escaped_channel_is_literal_but_a_real_token_is_a_broadcast() -> None:
    literal = mrkdwn("&lt;!channel&gt;")
    assert "bk-mention" not in literal and visible_text(literal) == "<!channel>"
    assert 'class="bk-mention bk-broadcast"' in mrkdwn("<!channel>")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<b>x</b>",
        "vbscript:msgbox(1)",
        "//evil.example/path",
        'https://x.io/"onmouseover=alert(1)',
        "http:///no-host",
    ],
)
def test_unsafe_urls_are_refused_everywhere(url: str) -> None:
    assert safe_url(url) is None
    token = url.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    link = mrkdwn(f"<{token}|click me>")
    assert hrefs(link) == [] and visible_text(link) == "click me"
    button = block_html(
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "url": url},
            {"type": "overflow", "action_id": "o", "options": [
                {"text": {"type": "plain_text", "text": "Open"}, "value": "v", "url": url}]},
        ]}
    )  # fmt: skip
    assert hrefs(button) == [] and "disabled" in button
    image = block_html({"type": "image", "image_url": url, "alt_text": "chart"})
    assert "<img" not in image and "[image: chart]" in visible_text(image)
    for markup in (link, button, image):
        assert_inert(markup)


def test_attribute_values_are_escaped() -> None:
    html = block_html(
        {"type": "actions", "block_id": 'b"><script>', "elements": [
            {"type": "button", "action_id": 'a" onclick="alert(1)',
             "text": {"type": "plain_text", "text": '"><img src=x onerror=alert(1)>'}},
        ]}
    )  # fmt: skip
    assert_inert(html)
    [(_, attrs)] = [t for t in parse(html).tags if t[0] == "button"]
    assert attrs["data-action-id"] == 'a" onclick="alert(1)'
    assert attrs["data-block-id"] == 'b"><script>'
    assert visible_text(html) == '"><img src=x onerror=alert(1)>'


def test_plain_text_decodes_entities_once_and_never_formats() -> None:
    assert visible_text(plain_text("*A* &amp;lt;b&amp;gt; <b>")) == "*A* &lt;b&gt; <b>"
    assert "bk-emoji" in plain_text(":warning: hi")
    assert plain_text(":warning: hi", emoji=False) == ":warning: hi"


# -- blocks ------------------------------------------------------------------------------------


def test_header() -> None:
    html = block_html({"type": "header", "text": {"type": "plain_text", "text": ":new: A &amp; B"}})
    assert html.startswith('<div class="bk-header">') and visible_text(html).endswith("A & B")
    assert "bk-emoji" in html


def test_section_text_fields_and_accessory_button() -> None:
    html = block_html(
        {
            "type": "section",
            "block_id": "s1",
            "text": {"type": "mrkdwn", "text": "*Title*"},
            "fields": [{"type": "mrkdwn", "text": "_a_"}, {"type": "plain_text", "text": "*b*"}],
            "accessory": {
                "type": "button",
                "action_id": "clusters.traces.0",
                "value": "{}",
                "text": {"type": "plain_text", "text": "Traces"},
            },
        }
    )
    assert '<div class="bk-text"><b>Title</b></div>' in html
    assert '<div class="bk-field"><i>a</i></div><div class="bk-field">*b*</div>' in html
    assert (
        '<button type="button" class="bk-btn" data-action-id="clusters.traces.0" '
        'data-block-id="s1">Traces</button>'
    ) in html


def test_section_accessory_image_select_and_overflow() -> None:
    for accessory, marker in [
        ({"type": "image", "image_url": "https://x.io/a.png", "alt_text": "a"}, "<img"),
        ({"type": "static_select", "action_id": "s", "options": []}, "<select"),
        ({"type": "overflow", "action_id": "o", "options": []}, "<details"),
        ({"type": "datepicker", "action_id": "d"}, "[datepicker]"),
    ]:
        html = block_html({**mrkdwn_section("x"), "accessory": accessory})
        assert marker in html and 'class="bk-accessory"' in html


def test_context_with_text_and_image() -> None:
    html = block_html(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": "run of *Nov 27*"},
                {"type": "plain_text", "text": "400 items"},
                {"type": "image", "image_url": "https://x.io/i.png", "alt_text": "icon"},
            ],
        }
    )
    assert html.startswith('<div class="bk-context">')
    assert "<b>Nov 27</b>" in html and "400 items" in html
    assert '<img class="bk-image-small" src="https://x.io/i.png" alt="icon"' in html


def test_divider() -> None:
    assert block_html({"type": "divider"}) == '<hr class="bk-divider">'


def test_actions_buttons_styles_links_select_and_overflow() -> None:
    html = block_html(
        {"type": "actions", "elements": [
            {"type": "button", "action_id": "clusters.share", "style": "primary",
             "text": {"type": "plain_text", "text": "Share in channel"}},
            {"type": "button", "action_id": "x", "style": "danger",
             "text": {"type": "plain_text", "text": "Delete"}},
            {"type": "button", "action_id": "clusters.open", "url": "https://ph.io/p?a=1&b=2",
             "text": {"type": "plain_text", "text": "Open in PostHog"}},
            {"type": "static_select", "action_id": "pick",
             "placeholder": {"type": "plain_text", "text": "Pick"},
             "initial_option": {"text": {"type": "plain_text", "text": "B"}, "value": "b"},
             "option_groups": [{"label": {"type": "plain_text", "text": "G"}, "options": [
                 {"text": {"type": "plain_text", "text": "A"}, "value": "a"},
                 {"text": {"type": "plain_text", "text": "B"}, "value": "b"}]}]},
            {"type": "overflow", "action_id": "more", "options": [
                {"text": {"type": "plain_text", "text": "Docs"}, "value": "d",
                 "url": "https://docs.io"},
                {"text": {"type": "plain_text", "text": "Mute"}, "value": "m"}]},
        ]}
    )  # fmt: skip
    assert 'class="bk-btn bk-btn-primary" data-action-id="clusters.share"' in html
    assert 'class="bk-btn bk-btn-danger"' in html
    assert hrefs(html) == ["https://ph.io/p?a=1&b=2", "https://docs.io"]
    assert '<option value="b" selected>B</option>' in html and ">Pick</option>" in html
    assert '<details class="bk-overflow" data-action-id="more">' in html
    assert_inert(html)


def test_image_block_with_title() -> None:
    html = block_html(
        {
            "type": "image",
            "image_url": "https://x.io/chart.png",
            "alt_text": "cost chart",
            "title": {"type": "plain_text", "text": "Cost"},
        }
    )
    assert '<div class="bk-image-title">Cost</div>' in html
    assert 'src="https://x.io/chart.png" alt="cost chart"' in html


def test_unknown_blocks_and_non_dicts_are_named_not_dropped_silently() -> None:
    html = blocks_html([{"type": "rich_text", "elements": []}, "nonsense", {"type": "<b>"}])  # type: ignore[list-item]
    assert visible_text(html) == "[unsupported block: rich_text][unsupported block: <b>]"


def test_message_body_uses_blocks_else_text() -> None:
    with_blocks = message_body("fallback", [mrkdwn_section("from *blocks*")])
    assert "fallback" not in with_blocks and "<b>blocks</b>" in with_blocks
    text_only = message_body("*only* text &lt;x&gt;", [])
    assert "<b>only</b>" in text_only and visible_text(text_only) == "only text <x>"


def test_a_real_alert_renders_with_links_buttons_and_emoji() -> None:
    url = "http://127.0.0.1:8765/project/1/ai-observability/clusters/run_1/0"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Trace clusters: what changed"}},
        mrkdwn_section(
            f":large_orange_circle: Cost per item +128% · *<{url}|&lt;!channel&gt; titles>*"
        ),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Details in the thread."}]},
        {"type": "actions", "elements": [
            {"type": "button", "action_id": "clusters.traces", "value": "{}",
             "text": {"type": "plain_text", "text": "Traces", "emoji": True}},
            {"type": "button", "action_id": "clusters.open", "url": url,
             "text": {"type": "plain_text", "text": "Open in PostHog", "emoji": True}},
        ]},
    ]  # fmt: skip
    html = blocks_html(blocks)
    assert_inert(html)
    assert hrefs(html) == [url, url]
    assert "<!channel> titles" in visible_text(html) and "bk-broadcast" not in html
