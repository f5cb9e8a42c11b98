"""Block Kit and Slack mrkdwn → HTML, for the sandbox's Slack-like page. Pure: no I/O.

Everything that reaches the output is HTML-escaped unless this module generated it itself.
Slack's entities (``&amp;`` ``&lt;`` ``&gt;``) are decoded exactly once, after the ``<…>``
control tokens have been taken out, so text the bot escaped (a title ``&lt;!channel&gt;``)
shows literally and can never turn into a token or into markup. Links and link buttons keep
only http(s)/mailto URLs; anything else (``javascript:``, ``data:``) is shown as plain text.
Formatting follows https://docs.slack.dev/messaging/formatting-message-text (reference/slack.md
A8): ``*bold*``, ``_italic_``, ``~strike~``, ``` `code` ```, fenced blocks, ``>`` quotes,
``<url|label>``, ``<@U…>``, ``<#C…>``, ``<!here>``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

Block = Mapping[str, Any]
Names = Mapping[str, str]  # user and channel ids → names, for mentions

EMOJI = {
    "warning": "\u26a0\ufe0f",
    "red_circle": "\U0001f534",
    "large_orange_circle": "\U0001f7e0",
    "large_blue_circle": "\U0001f535",
    "new": "\U0001f195",
    "wave": "\U0001f44b",
    "arrow_up": "\u2b06\ufe0f",
    "arrow_down": "\u2b07\ufe0f",
    "white_small_square": "\u25ab\ufe0f",
    "mute": "\U0001f507",
    "speech_balloon": "\U0001f4ac",
    "gear": "\u2699\ufe0f",
    "abc": "\U0001f524",
    "small_blue_diamond": "\U0001f539",
}
LINK_SCHEMES = ("http", "https", "mailto")
BROADCASTS = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}

# Placeholders for fragments we generated: private-use characters, removed from input first.
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_PRIVATE = re.compile("[\ue000\ue001]")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_FENCE = re.compile(r"\n?```\n?(.*?)```\n?", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_TOKEN = re.compile(r"<([^<>]*)>")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")
_STYLES = (  # (marker, tag); markers must sit at word boundaries, as in Slack
    (r"\*", "b"),
    (r"_", "i"),
    (r"~", "s"),
)
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f\"'<>\\`]")


def decode_entities(text: str) -> str:
    """Slack's three entities, decoded once (``&amp;lt;`` → ``&lt;``, never ``<``)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def safe_url(url: object, schemes: tuple[str, ...] = LINK_SCHEMES) -> str | None:
    """The URL if it is an absolute http(s) (or mailto) URL without surprises, else None."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or _UNSAFE_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        return None
    if scheme in ("http", "https") and not parts.netloc:
        return None
    return url


def emoji_html(name: str) -> str | None:
    char = EMOJI.get(name)
    return None if char is None else f'<span class="bk-emoji" title=":{esc(name)}:">{char}</span>'


class _Fragments:
    """HTML we generated, parked behind placeholders while the rest is escaped and styled."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def park(self, fragment: str) -> str:
        self.parts.append(fragment)
        return f"{_OPEN}{len(self.parts) - 1}{_CLOSE}"

    def restore(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.parts[int(m.group(1))], text)


def _link(body: str, names: Names) -> str:
    """One ``<…>`` control token as HTML; unknown shapes show literally."""
    target, _, label = body.partition("|")
    label = decode_entities(label)
    if target.startswith("@"):  # <@U123> or <@U123|name>
        name = label or names.get(target[1:], target[1:])
        return f'<span class="bk-mention">@{esc(name.lstrip("@"))}</span>'
    if target.startswith("#"):
        name = label or names.get(target[1:], target[1:])
        return f'<span class="bk-mention">#{esc(name.lstrip("#"))}</span>'
    if target.startswith("!"):
        keyword = target[1:].split("^", 1)[0]
        if keyword in BROADCASTS:
            return f'<span class="bk-mention bk-broadcast">{BROADCASTS[keyword]}</span>'
        if keyword == "subteam":
            return f'<span class="bk-mention">{esc(label or "@group")}</span>'
        if keyword == "date" and label:
            return esc(label)
        return esc(f"<{decode_entities(body)}>")
    url = safe_url(decode_entities(target))
    if url is None:  # javascript:, data:, bare words like <script>: never a link
        return esc(label) if label else esc(f"<{decode_entities(body)}>")
    return (
        f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">'
        f"{esc(label or decode_entities(target))}</a>"
    )


def _style(text: str) -> str:
    for marker, tag in _STYLES:
        pattern = rf"(?<![\w{marker}]){marker}(?=\S)([^\n]*?\S){marker}(?![\w{marker}])"
        text = re.sub(pattern, rf"<{tag}>\1</{tag}>", text)
    return text


def _emoji(text: str, fragments: _Fragments) -> str:
    def replace(match: re.Match[str]) -> str:
        found = emoji_html(match.group(1))
        return match.group(0) if found is None else fragments.park(found)

    return _EMOJI.sub(replace, text)


def _lines(text: str) -> str:
    """Newlines → ``<br>``; lines starting with ``>`` (escaped: ``&gt;``) → blockquotes."""
    out: list[str] = []
    quote: list[str] = []
    for line in text.split("\n"):
        if line.startswith("&gt;"):
            quote.append(line[4:].removeprefix(" "))
            continue
        if quote:
            out.append(f'<blockquote class="bk-quote">{"<br>".join(quote)}</blockquote>')
            quote = []
        out.append(line)
    if quote:
        out.append(f'<blockquote class="bk-quote">{"<br>".join(quote)}</blockquote>')
    joined = ""
    for i, piece in enumerate(out):
        block = piece.startswith("<blockquote")
        if i and not block and not out[i - 1].startswith("<blockquote"):
            joined += "<br>"
        joined += piece
    return joined


def mrkdwn(text: object, names: Names | None = None) -> str:
    """Slack mrkdwn (as sent: entities escaped) → safe HTML."""
    names = names or {}
    fragments = _Fragments()
    source = _PRIVATE.sub("", str(text))
    source = _FENCE.sub(
        lambda m: fragments.park(f'<pre class="bk-pre">{esc(decode_entities(m.group(1)))}</pre>'),
        source,
    )
    source = _CODE.sub(
        lambda m: fragments.park(
            f'<code class="bk-code">{esc(decode_entities(m.group(1)))}</code>'
        ),
        source,
    )
    source = _TOKEN.sub(lambda m: fragments.park(_link(m.group(1), names)), source)
    escaped = esc(decode_entities(source))
    styled = _style(_emoji(escaped, fragments))
    return fragments.restore(_lines(styled))


def plain_text(text: object, *, emoji: bool = True) -> str:
    """A plain_text object's text: no formatting; entities decoded once, emoji if asked."""
    escaped = esc(decode_entities(_PRIVATE.sub("", str(text))))
    if emoji:
        fragments = _Fragments()
        escaped = fragments.restore(_emoji(escaped, fragments))
    return escaped.replace("\n", "<br>")


def text_object(obj: object, names: Names | None = None) -> str:
    """A composition text object (``{"type": "mrkdwn"|"plain_text", "text": …}``) → HTML."""
    if isinstance(obj, str):
        return plain_text(obj)
    if not isinstance(obj, Mapping):
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(obj.get("text", ""), names)
    return plain_text(obj.get("text", ""), emoji=obj.get("emoji", True) is not False)


# -- elements ----------------------------------------------------------------------------------


def _data(**attrs: object) -> str:
    return "".join(f' data-{k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items() if v)


def button(element: Block, block_id: str | None = None) -> str:
    label = text_object(element.get("text"))
    style = element.get("style")
    classes = "bk-btn" + (f" bk-btn-{style}" if style in ("primary", "danger") else "")
    if "url" in element:
        url = safe_url(element.get("url"), ("http", "https"))
        if url is None:
            return f'<button class="{classes}" disabled title="link refused">{label}</button>'
        return (
            f'<a class="{classes}" href="{esc(url)}" target="_blank" '
            f'rel="noopener noreferrer">{label}</a>'
        )
    attrs = _data(action_id=element.get("action_id"), block_id=block_id)
    return f'<button type="button" class="{classes}"{attrs}>{label}</button>'


def _options(element: Block) -> list[Block]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def static_select(element: Block, block_id: str | None = None) -> str:
    placeholder = element.get("placeholder") or {"type": "plain_text", "text": "Select an item"}
    initial = (element.get("initial_option") or {}).get("value")
    items = [f'<option value="">{text_object(placeholder)}</option>']
    for option in _options(element):
        selected = " selected" if initial is not None and option.get("value") == initial else ""
        items.append(
            f'<option value="{esc(option.get("value", ""))}"{selected}>'
            f"{text_object(option.get('text'))}</option>"
        )
    attrs = _data(action_id=element.get("action_id"), block_id=block_id)
    return f'<select class="bk-select"{attrs}>{"".join(items)}</select>'


def overflow(element: Block, block_id: str | None = None) -> str:
    items = []
    for option in _options(element):
        label = text_object(option.get("text"))
        url = safe_url(option.get("url"), ("http", "https"))
        if url:
            items.append(
                f'<a class="bk-overflow-item" href="{esc(url)}" target="_blank" '
                f'rel="noopener noreferrer">{label}</a>'
            )
        else:
            items.append(f'<span class="bk-overflow-item">{label}</span>')
    attrs = _data(action_id=element.get("action_id"), block_id=block_id)
    return (
        f'<details class="bk-overflow"{attrs}><summary title="More actions">\u22ef</summary>'
        f'<div class="bk-overflow-menu">{"".join(items)}</div></details>'
    )


def image_element(element: Block, css: str = "bk-image-small") -> str:
    alt = esc(element.get("alt_text", ""))
    url = safe_url(element.get("image_url"), ("http", "https"))
    if url is None:
        return f'<span class="bk-image-missing">[image: {alt}]</span>'
    return f'<img class="{css}" src="{esc(url)}" alt="{alt}" loading="lazy">'


def element_html(element: Block, block_id: str | None = None, names: Names | None = None) -> str:
    kind = element.get("type")
    if kind == "button":
        return button(element, block_id)
    if kind == "static_select":
        return static_select(element, block_id)
    if kind == "overflow":
        return overflow(element, block_id)
    if kind == "image":
        return image_element(element)
    if kind in ("mrkdwn", "plain_text"):
        return text_object(element, names)
    return f'<span class="bk-unsupported">[{esc(kind)}]</span>'


# -- blocks ------------------------------------------------------------------------------------


def _header(block: Block, names: Names) -> str:
    return f'<div class="bk-header">{text_object(block.get("text"))}</div>'


def _section(block: Block, names: Names) -> str:
    parts = []
    if block.get("text"):
        parts.append(f'<div class="bk-text">{text_object(block["text"], names)}</div>')
    if block.get("fields"):
        cells = "".join(
            f'<div class="bk-field">{text_object(f, names)}</div>' for f in block["fields"]
        )
        parts.append(f'<div class="bk-fields">{cells}</div>')
    main = f'<div class="bk-section-main">{"".join(parts)}</div>'
    accessory = block.get("accessory")
    if not accessory:
        return f'<div class="bk-section">{main}</div>'
    side = element_html(accessory, block.get("block_id"), names)
    return f'<div class="bk-section">{main}<div class="bk-accessory">{side}</div></div>'


def _context(block: Block, names: Names) -> str:
    items = "".join(
        f'<span class="bk-context-item">{element_html(e, None, names)}</span>'
        for e in block.get("elements") or []
    )
    return f'<div class="bk-context">{items}</div>'


def _divider(block: Block, names: Names) -> str:
    return '<hr class="bk-divider">'


def _actions(block: Block, names: Names) -> str:
    block_id = block.get("block_id")
    items = "".join(element_html(e, block_id, names) for e in block.get("elements") or [])
    return f'<div class="bk-actions">{items}</div>'


def _image(block: Block, names: Names) -> str:
    title = block.get("title")
    caption = f'<div class="bk-image-title">{text_object(title)}</div>' if title else ""
    return f'<div class="bk-image">{caption}{image_element(block, "bk-image-large")}</div>'


def _markdown(block: Block, names: Names) -> str:
    return f'<div class="bk-text bk-markdown">{plain_text(block.get("text", ""))}</div>'


BLOCKS: dict[str, Callable[[Block, Names], str]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "divider": _divider,
    "actions": _actions,
    "image": _image,
    "markdown": _markdown,
}


def block_html(block: Block, names: Names | None = None) -> str:
    render = BLOCKS.get(str(block.get("type")))
    if render is None:
        return f'<div class="bk-unsupported">[unsupported block: {esc(block.get("type"))}]</div>'
    return render(block, names or {})


def blocks_html(blocks: Sequence[Block], names: Names | None = None) -> str:
    return "".join(block_html(block, names) for block in blocks if isinstance(block, Mapping))


def message_body(text: str, blocks: Sequence[Block], names: Names | None = None) -> str:
    """What Slack shows for a message: its blocks, or its ``text`` (mrkdwn) when it has none."""
    if blocks:
        return f'<div class="bk-blocks">{blocks_html(blocks, names)}</div>'
    return f'<div class="bk-blocks"><div class="bk-text">{mrkdwn(text, names)}</div></div>'
