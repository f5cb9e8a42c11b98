"""PostHog UI links read back: the inverse of `PostHogUrls` (bot/posthog/urls.py), for unfurls.

Only links to this deployment's PostHog host and project are recognised; anything else (another
host, another project, a page the bot does not know) is None and is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, unquote, urlsplit

ROUTES = ("ai-observability", "llm-analytics")  # POSTHOG_UI_ROUTES, both accepted


@dataclass(frozen=True)
class RunLink:
    run_id: str


@dataclass(frozen=True)
class ClusterLink:
    run_id: str
    cluster_id: int


@dataclass(frozen=True)
class TraceLink:
    trace_id: str
    at: datetime | None = None
    event: str | None = None


PostHogLink = RunLink | ClusterLink | TraceLink


def parse_link(url: str, ui_host: str, project_id: int | str) -> PostHogLink | None:
    split, home = urlsplit(url), urlsplit(ui_host)
    if (split.scheme, split.netloc.lower()) != (home.scheme, home.netloc.lower()):
        return None
    base = [p for p in home.path.split("/") if p]
    parts = split.path.split("/")[1:]  # still percent-encoded: ids may hold an encoded "/"
    if parts[: len(base)] != base:
        return None
    parts = [p for p in parts[len(base) :] if p]
    if len(parts) < 4 or parts[:2] != ["project", str(project_id)] or parts[2] not in ROUTES:
        return None
    page, rest = parts[3], parts[4:]
    if page == "clusters" and len(rest) == 1:
        return RunLink(unquote(rest[0]))
    if page == "clusters" and len(rest) == 2 and rest[1].lstrip("-").isdigit():
        return ClusterLink(unquote(rest[0]), int(rest[1]))
    if page == "traces" and len(rest) == 1:
        query = parse_qs(split.query)
        return TraceLink(unquote(unquote(rest[0])), _time(query), _first(query, "event"))
    return None


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _time(query: dict[str, list[str]]) -> datetime | None:
    raw = _first(query, "timestamp")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None
