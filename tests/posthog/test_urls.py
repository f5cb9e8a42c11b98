"""PostHog UI links: project-scoped, percent-encoded as the frontend does."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.posthog.urls import PostHogUrls, encode_uri_component

US = PostHogUrls("https://us.posthog.com", 2)
EU = PostHogUrls("https://eu.posthog.com/", 7)
SELF = PostHogUrls("https://posthog.example.com", "12")
LEGACY = PostHogUrls("https://ph.example.com", 4, routes="llm-analytics")
RUN = "2_trace_20260614_001502_019cb7f3-a126-7809-bffc-7f13bffe1325"
BASE = "https://us.posthog.com/project/2/ai-observability"


@pytest.mark.parametrize(
    ("urls", "method", "args", "expected"),
    [
        (US, "clusters", (), f"{BASE}/clusters"),
        (EU, "clusters", (), "https://eu.posthog.com/project/7/ai-observability/clusters"),
        (SELF, "clusters", (), "https://posthog.example.com/project/12/ai-observability/clusters"),
        (US, "run", (RUN,), f"{BASE}/clusters/{RUN}"),
        (US, "run", ("2_trace_x run/1#a",), f"{BASE}/clusters/2_trace_x%20run%2F1%23a"),
        (US, "cluster", (RUN, 3), f"{BASE}/clusters/{RUN}/3"),
        (US, "cluster", (RUN, -1), f"{BASE}/clusters/{RUN}/-1"),
        (US, "trace", ("4f1c-aa",), f"{BASE}/traces/4f1c-aa?tab=summary"),
        (
            US,
            "trace",
            ("4f1c", datetime(2026, 6, 12, 15, 30, 11, 120000, tzinfo=UTC)),
            f"{BASE}/traces/4f1c?tab=summary&timestamp=2026-06-12T15%3A30%3A11.120Z",
        ),
        (
            US,
            "trace",
            ("b7e1", datetime(2026, 6, 13, 11, 12, 44, tzinfo=timezone(timedelta(hours=2))), "g-1"),
            f"{BASE}/traces/b7e1?tab=summary&event=g-1&timestamp=2026-06-13T09%3A12%3A44.000Z",
        ),
        # Trace ids are encoded twice (kea-router decodes once), both passes escaping !'()*
        (US, "trace", ("a b/c",), f"{BASE}/traces/a%2520b%252Fc?tab=summary"),
        (US, "trace", ("x(1)!",), f"{BASE}/traces/x%25281%2529%2521?tab=summary"),
        (US, "trace", ("it's*",), f"{BASE}/traces/it%2527s%252A?tab=summary"),
        (LEGACY, "clusters", (), "https://ph.example.com/project/4/llm-analytics/clusters"),
        (
            LEGACY,
            "trace",
            ("t-1",),
            "https://ph.example.com/project/4/llm-analytics/traces/t-1?tab=summary",
        ),
    ],
)
def test_urls_table(urls: PostHogUrls, method: str, args: tuple, expected: str) -> None:
    assert getattr(urls, method)(*args) == expected


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [("a-b_c.d!~*'()", "a-b_c.d!~*'()"), ("a b", "a%20b"), ("ü/?&=", "%C3%BC%2F%3F%26%3D")],
)
def test_encode_uri_component_matches_javascript(raw: str, encoded: str) -> None:
    assert encode_uri_component(raw) == encoded


def test_the_legacy_routes_setting_reaches_the_links() -> None:
    from bot.settings import UiRoutes, load_settings

    settings = load_settings(posthog_ui_routes="llm-analytics", posthog_project_id=4)
    assert settings.posthog_ui_routes is UiRoutes.LLM_ANALYTICS
    urls = PostHogUrls(settings.ui_host, 4, routes=settings.posthog_ui_routes.value)
    assert urls.run("r").startswith("https://us.posthog.com/project/4/llm-analytics/clusters/")
