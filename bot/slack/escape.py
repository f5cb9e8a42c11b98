"""mrkdwn escaping and Block Kit limits. Pure: no I/O, no Slack calls.

Cluster titles and descriptions are written by an LLM, so every interpolated string is escaped
before it reaches a mrkdwn field. Slack treats only ``&``, ``<`` and ``>`` as control characters
(https://docs.slack.dev/messaging/formatting-message-text#escaping; reference/slack.md A8).

One rule, so nothing is escaped twice or not at all: text is either plain (``str``, escaped when
it enters a message) or mrkdwn the bot built (``SafeMrkdwn``, never escaped again). Mrkdwn is
composed only with ``md`` and ``md_join``, which escape each plain part once; the block builders
(bot/rendering/blocks.py) and the fallback text escape whatever plain ``str`` reaches them.
Limits are Slack's documented Block Kit maxima (slack.md A7); slack_sdk checks some of them,
and only for ``Block`` objects, so ``check_limits`` adds the rest (50 blocks, 2000 per field).
"""

from __future__ import annotations

import copy
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100  # a modal or the Home tab
SECTION_TEXT_MAX = 3000  # also the cap for any text object (context elements)
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
ACTIONS_ELEMENTS_MAX = 25
CONTEXT_ELEMENTS_MAX = 10
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
FALLBACK_TEXT_MAX = 4000  # Slack truncates at 40,000; 4,000 is the recommended budget
BLOCK_ID_MAX = 255
ACTION_ID_MAX = 255
# Slack refuses an empty header, section, context or button text (invalid_blocks); slack_sdk
# checks only maxima. Titles are LLM-written and may be blank.
TEXT_MIN = 1
UNTITLED = "Untitled cluster"
EMPTY_TEXT = "(untitled)"

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_BACKTICK_RUNS = re.compile(r"`{2,}")
_PARTIAL_ENTITY = re.compile(r"&[A-Za-z0-9#]*$")
_ENTITY = re.compile(r"&(?:[A-Za-z]+|#[0-9]+|#[xX][0-9A-Fa-f]+);")
_URL_UNSAFE = re.compile(r"[\s<>|\"\x00-\x1f\x7f]")
_LABEL_PIPE = "∣"  # U+2223: looks like "|" but cannot end a link label


class SafeMrkdwn(str):
    """mrkdwn we built ourselves (links, formatting); ``escape_mrkdwn`` returns it unchanged.

    Only trusted code should construct it: ``link()`` and the URL builder. Note that ``str``
    operations (``+``, ``format``) return a plain ``str`` again, which will be escaped.
    """

    __slots__ = ()


def escape_mrkdwn(text: str) -> SafeMrkdwn:
    """Escape ``&``, ``<``, ``>`` so ``<!channel>`` or ``<http://x|y>`` show as typed.

    Idempotent for ``SafeMrkdwn`` (returned as is), so it can be a Jinja ``finalize``.
    Plain strings are always escaped, even if they already contain entities: ``&lt;`` becomes
    ``&amp;lt;`` and therefore displays as the literal text ``&lt;``.
    """
    if isinstance(text, SafeMrkdwn):
        return text
    return SafeMrkdwn(text.translate(_ESCAPES))


def unescape_mrkdwn(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<`` and ``>``: text Slack hands the app (a message, or
    the URLs of a ``link_shared`` event, where ``&`` arrives as ``&amp;``) as it was typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class _EscapingFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        formatted = format(value, format_spec)
        return formatted if isinstance(value, SafeMrkdwn) else formatted.translate(_ESCAPES)


_FORMATTER = _EscapingFormatter()


def md(template: str, /, *args: object, **values: object) -> SafeMrkdwn:
    """Mrkdwn from a trusted ``template`` (``str.format`` syntax, written in the code) and
    values that are escaped once each unless they are ``SafeMrkdwn`` already:
    ``md("{} in {}", title, run_link)``. The template itself is not escaped."""
    return SafeMrkdwn(_FORMATTER.vformat(template, args, values))


def md_join(separator: str, parts: Iterable[str]) -> SafeMrkdwn:
    """``separator.join(parts)`` with each plain part escaped (``SafeMrkdwn`` parts kept);
    the separator is trusted mrkdwn."""
    return SafeMrkdwn(separator.join(escape_mrkdwn(part) for part in parts))


def link(url: str, label: str) -> SafeMrkdwn:
    """``<url|label>`` with ``label`` treated as plain text; only http(s) URLs become links.

    Any other scheme (``javascript:``, ``mailto:``, Slack's ``!``/``@`` specials) yields the
    escaped label alone. Characters that would end the URL early are percent-encoded.
    """
    safe_label = " ".join(label.split()).translate(_ESCAPES).replace("|", _LABEL_PIPE)
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return SafeMrkdwn(safe_label)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return SafeMrkdwn(safe_label)
    safe_url = _URL_UNSAFE.sub(lambda m: quote(m.group(), safe=""), url)
    return SafeMrkdwn(f"<{safe_url}|{safe_label}>" if safe_label else f"<{safe_url}>")


def clean_inline(text: str, max_len: int) -> str:
    """One line for titles: whitespace runs become one space, backtick runs (```) go.

    Works on raw (unescaped) text; escaping happens later, when the text is rendered.
    """
    flat = " ".join(_BACKTICK_RUNS.sub("", text).split())
    return truncate(flat, max_len, mrkdwn=False)


def title_text(title: str | None, max_len: int) -> str:
    """A cluster title for display: one line, at most ``max_len``, never empty."""
    return clean_inline(title or "", max_len) or UNTITLED


def truncate(text: str, limit: int, suffix: str = "…", *, mrkdwn: bool = True) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending in ``suffix`` when cut.

    With ``mrkdwn`` (the default) it never cuts inside ``<...>`` (a link or mention) or an
    entity such as ``&amp;``: it backs off to just before it. A lone ``<`` or ``&`` that opens
    nothing is cut like any other character. ``mrkdwn=False`` cuts anywhere (plain_text).
    A ``SafeMrkdwn`` stays ``SafeMrkdwn``.
    """
    if len(text) <= limit:
        return text
    if limit <= len(suffix):
        return suffix[: max(limit, 0)]
    head = text[: limit - len(suffix)]
    if mrkdwn:
        opening = head.rfind("<")
        if opening > head.rfind(">") and text.find(">", len(head)) != -1:
            head = head[:opening]
        partial = _PARTIAL_ENTITY.search(head)
        if partial and _ENTITY.match(text, partial.start()):
            head = head[: partial.start()]
    result = head.rstrip() + suffix
    return SafeMrkdwn(result) if isinstance(text, SafeMrkdwn) else result


# -- Block Kit limits ----------------------------------------------------------------------


def enforce_limits(
    blocks: list[dict[str, Any]], *, fallback_text: str, max_blocks: int = MESSAGE_BLOCKS_MAX
) -> tuple[list[dict[str, Any]], str]:
    """Return copies of ``blocks`` and ``fallback_text`` that fit every limit above.

    Texts are truncated, section fields beyond 10 and elements beyond the per-block maximum
    are dropped, and past 50 blocks (``max_blocks``: 100 in a modal or the Home tab) the tail
    is replaced by one context block "…and N more" (N counts blocks). Identifiers and
    payloads are never cut, because cutting them breaks routing: an over-long button value,
    option value, ``action_id`` or ``block_id`` raises ``ValueError`` (a programming
    error; payloads must stay small, see bot/slack/ids.py).
    """
    fitted = [_fit_block(copy.deepcopy(block)) for block in blocks]
    if len(fitted) > max_blocks:
        kept = max_blocks - 1
        more = {"type": "mrkdwn", "text": f"…and {len(fitted) - kept} more"}
        fitted = [*fitted[:kept], {"type": "context", "elements": [more]}]
    return fitted, truncate(fallback_text, FALLBACK_TEXT_MAX)


def check_limits(blocks: list[dict[str, Any]], text: str) -> list[str]:
    """Every limit violation in a message, as readable strings; empty when it is fine.

    Covers the limits above, a missing fallback ``text``, duplicate ``block_id``s, and
    whatever slack_sdk's own validators reject after ``Block.parse``.
    """
    problems: list[str] = []
    if not text.strip():
        problems.append("text: the fallback text is empty")
    _over(problems, "text", len(text), FALLBACK_TEXT_MAX)
    _over(problems, "blocks", len(blocks), MESSAGE_BLOCKS_MAX)
    ids = Counter(str(b["block_id"]) for b in blocks if b.get("block_id"))
    problems += [f"block_id {bid!r} is used {n} times" for bid, n in ids.items() if n > 1]
    for i, block in enumerate(blocks):
        _walk_block(block, f"blocks[{i}]", lambda path, n, cap: _over(problems, path, n, cap))
        problems.extend(
            f"blocks[{i}]{where}: empty (Slack needs at least {TEXT_MIN} character)"
            for where in _empty_texts(block)
        )
        try:
            parsed = Block.parse(block)
            if parsed is not None:
                parsed.validate_json()
        except (SlackObjectFormationError, TypeError, KeyError) as exc:
            problems.append(f"blocks[{i}] ({block.get('type')}): slack_sdk: {exc}")
    return problems


def _over(problems: list[str], path: str, size: int, cap: int) -> None:
    if size > cap:
        problems.append(f"{path}: {size} > {cap}")


# A visitor over the limited parts of a block: it is called as (path, size, cap).
_Visit = Callable[[str, int, int], None]


def _walk_block(block: dict[str, Any], path: str, visit: _Visit) -> None:
    visit(f"{path}.block_id", len(str(block.get("block_id") or "")), BLOCK_ID_MAX)
    kind = block.get("type")
    if kind == "header":
        visit(f"{path}.text", len(_text_of(block.get("text"))), HEADER_TEXT_MAX)
    if kind == "section":
        visit(f"{path}.text", len(_text_of(block.get("text"))), SECTION_TEXT_MAX)
        fields = block.get("fields") or []
        visit(f"{path}.fields", len(fields), SECTION_FIELDS_MAX)
        for j, fld in enumerate(fields):
            visit(f"{path}.fields[{j}]", len(_text_of(fld)), FIELD_TEXT_MAX)
        if block.get("accessory"):
            _walk_element(block["accessory"], f"{path}.accessory", visit)
    if kind == "context":
        elements = block.get("elements") or []
        visit(f"{path}.elements", len(elements), CONTEXT_ELEMENTS_MAX)
        for j, element in enumerate(elements):
            visit(f"{path}.elements[{j}]", len(_text_of(element)), SECTION_TEXT_MAX)
    if kind == "actions":
        elements = block.get("elements") or []
        visit(f"{path}.elements", len(elements), ACTIONS_ELEMENTS_MAX)
        for j, element in enumerate(elements):
            _walk_element(element, f"{path}.elements[{j}]", visit)


def _walk_element(element: dict[str, Any], path: str, visit: _Visit) -> None:
    visit(f"{path}.action_id", len(str(element.get("action_id") or "")), ACTION_ID_MAX)
    if element.get("type") == "button":
        visit(f"{path}.text", len(_text_of(element.get("text"))), BUTTON_TEXT_MAX)
        visit(f"{path}.value", len(str(element.get("value") or "")), BUTTON_VALUE_MAX)
    for k, option in enumerate(element.get("options") or []):
        visit(f"{path}.options[{k}].text", len(_text_of(option.get("text"))), OPTION_TEXT_MAX)
        visit(f"{path}.options[{k}].value", len(str(option.get("value") or "")), OPTION_VALUE_MAX)


def _text_of(obj: Any) -> str:
    return str(obj.get("text") or "") if isinstance(obj, dict) else str(obj or "")


def _fit_text(obj: Any, limit: int) -> None:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        if not obj["text"].strip():  # Slack refuses empty texts: say so readably instead
            obj["text"] = EMPTY_TEXT
        obj["text"] = truncate(obj["text"], limit, mrkdwn=obj.get("type") == "mrkdwn")


def _empty_texts(block: dict[str, Any]) -> list[str]:
    """Paths of texts in ``block`` that Slack requires to be non-empty but are empty."""

    def empty(obj: Any) -> bool:
        return not isinstance(obj, dict) or not str(obj.get("text") or "").strip()

    kind, found = block.get("type"), []
    if kind == "header" and empty(block.get("text")):
        found.append(".text")
    if kind == "section":
        if ("text" in block or not block.get("fields")) and empty(block.get("text")):
            found.append(".text")
        found += [f".fields[{j}]" for j, f in enumerate(block.get("fields") or []) if empty(f)]
        if isinstance(block.get("accessory"), dict) and block["accessory"].get("type") == "button":
            found += [".accessory.text"] if empty(block["accessory"].get("text")) else []
    if kind == "context":
        found += [f".elements[{j}]" for j, e in enumerate(block.get("elements") or [])
                  if e.get("type") in ("mrkdwn", "plain_text") and empty(e)]  # fmt: skip
    if kind == "actions":
        found += [f".elements[{j}].text" for j, e in enumerate(block.get("elements") or [])
                  if e.get("type") == "button" and empty(e.get("text"))]  # fmt: skip
    return found


def _fit_block(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "header":
        _fit_text(block.get("text"), HEADER_TEXT_MAX)
    if kind == "section":
        if "text" not in block and not block.get("fields"):
            block["text"] = {"type": "mrkdwn", "text": EMPTY_TEXT}
        _fit_text(block.get("text"), SECTION_TEXT_MAX)
        if block.get("fields"):
            block["fields"] = block["fields"][:SECTION_FIELDS_MAX]
            for fld in block["fields"]:
                _fit_text(fld, FIELD_TEXT_MAX)
        if isinstance(block.get("accessory"), dict):
            _fit_element(block["accessory"])
    if kind == "context" and block.get("elements"):
        block["elements"] = block["elements"][:CONTEXT_ELEMENTS_MAX]
        for element in block["elements"]:
            _fit_text(element, SECTION_TEXT_MAX)
    if kind == "actions" and block.get("elements"):
        block["elements"] = block["elements"][:ACTIONS_ELEMENTS_MAX]
        for element in block["elements"]:
            _fit_element(element)
    _walk_block(block, "block", _raise_if_over)  # only ids and payloads can still be over
    return block


def _fit_element(element: dict[str, Any]) -> None:
    if element.get("type") == "button":
        _fit_text(element.get("text"), BUTTON_TEXT_MAX)
    for option in element.get("options") or []:
        _fit_text(option.get("text"), OPTION_TEXT_MAX)


def _raise_if_over(path: str, size: int, cap: int) -> None:
    if size > cap:
        raise ValueError(f"{path} is {size} characters; Slack allows {cap}. Keep it small.")
