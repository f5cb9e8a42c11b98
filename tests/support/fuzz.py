"""Property-based fuzzing (hypothesis) of everything that reads untrusted input: the command
grammar, PostHog payloads and button values, and the renderers fed LLM-written text.

Every test is derandomized (the same examples on every run, so CI failures reproduce) and
bounded with `max_examples`; hypothesis prints the falsifying example when one fails.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, settings

from bot.rendering.message import Message
from tests.support.blocks import mrkdwn_texts

# Slack reads `<!…>` (broadcasts, dates, groups), `<@…>` (users) and `<#…>` (channels).
PING = re.compile(r"<[!@#]")

# Text Slack would treat as control sequences, and text that tries to look escaped already.
HOSTILE = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0BOSS>",
    "<#C0SECRET>",
    "<!subteam^S0ADMINS>",
    "<http://evil.example|click me>",
    "<mailto:x@example.com|mail>",
    "&lt;!channel&gt;",
    "&amp;lt;!here&amp;gt;",
    "< !channel >",
    "<",
    ">",
    "&",
    "|",
    "*bold*",
    "_it_",
    "~strike~",
    "`code`",
    "```fence```",
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",
    "e\u0301\u0301\u0301",  # stacked combining marks
    "👩‍👩‍👧‍👦",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "' OR 1=1 --",
    "{run_id}",
    "%s%n",
    "ｌａｔｅｓｔ",  # fullwidth
)


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def assert_no_pings(message: Message) -> None:
    for text in [message.text, *mrkdwn_texts(message.blocks)]:
        assert not PING.search(text), text[:500]
