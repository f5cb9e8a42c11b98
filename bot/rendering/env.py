"""The one Jinja environment. Templates hold mrkdwn text; Python assembles the blocks.

`finalize` escapes every interpolated value for Slack mrkdwn (only `&`, `<`, `>` matter), so an
LLM-written title like `<!channel>` can never ping anyone. Values built by us as `SafeMrkdwn`
(links from `PostHogUrls` through the `link` filter) pass through. `TEMPLATES_DIR` overrides any
built-in template by name.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from bot.slack.escape import SafeMrkdwn, clean_inline, escape_mrkdwn, link

# An installed wheel carries the templates inside the package (bot/templates); a checkout keeps
# them at the top of the repository (templates/), where they are edited.
_PACKAGED_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_SOURCE_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
BUILTIN_TEMPLATES = _PACKAGED_TEMPLATES if _PACKAGED_TEMPLATES.is_dir() else _SOURCE_TEMPLATES


def _finalize(value: Any) -> str:
    if isinstance(value, SafeMrkdwn):
        return value
    if value is None:
        return "n/a"
    return escape_mrkdwn(str(value))


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.234 -> "23.4%"."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value * 100:.{digits}f}%"


def points(value: float | None) -> str:
    """A difference of fractions in percentage points: 0.052 -> "+5.2 pts"."""
    if value is None:
        return "n/a"
    return f"{value * 100:+.1f} pts"


def money(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "$0"
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def change(before: float | None, after: float | None) -> str:
    """Relative change: "+45%", or "×3.4" from doubling on (or "n/a" without a baseline)."""
    if before is None or after is None or before == 0:
        return "n/a"
    if after / before >= 2:
        return f"×{after / before:.1f}"
    return f"{(after - before) / before * 100:+.0f}%"


def number(value: float | int | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "n/a"
    delta = (now or datetime.now(UTC)) - moment
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(0, int(delta.total_seconds() // 60))} min ago"
    if hours < 48:
        return f"{hours:.0f} h ago"
    return f"{hours / 24:.0f} days ago"


def day(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%b %d %H:%M UTC") if moment else "n/a"


def make_environment(templates_dir: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(templates_dir))] if templates_dir else []
    loaders.append(FileSystemLoader(str(BUILTIN_TEMPLATES)))
    env = Environment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,  # HTML escaping is wrong for mrkdwn; finalize escapes instead
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        pct=pct,
        points=points,
        money=money,
        seconds=seconds,
        change=change,
        number=number,
        ago=ago,
        day=day,
        inline=clean_inline,
        link=lambda url, label: link(str(url), str(label)),
    )
    return env
