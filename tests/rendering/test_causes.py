"""Causes as users read them: escaped like titles, linked to PostHog, short on the parent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.alerts import Alert, AlertKind, Severity
from bot.domain.causes import Dimension, Factor
from bot.domain.compare import RunDiff, diff_runs
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.changes import ChangeRenderer
from bot.rendering.env import make_environment
from bot.slack.escape import check_limits
from bot.slack.ids import ActionId
from tests.support.blocks import mrkdwn_texts
from tests.support.factories import ids, make_cluster, make_run

HOSTILE = "<!channel> & <http://evil.example|click me> *bold* `code` \n<@U123>"
URLS = PostHogUrls("https://us.posthog.com", 2)
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.fixture
def changes() -> ChangeRenderer:
    return ChangeRenderer(Renderer(make_environment(), URLS, clock=lambda: NOW))


def alert_and_diff() -> tuple[Alert, RunDiff]:
    previous = make_run(make_cluster(0, title="Refunds", item_ids=ids("a", 10)), run_id="r1")
    current = make_run(make_cluster(0, title="Refunds", item_ids=ids("a", 10)), run_id="r2")
    alert = Alert(
        kind=AlertKind.SIZE_SHIFT,
        severity=Severity.WARNING,
        cluster_id=0,
        previous_cluster_id=0,
        title="Refunds",
        current_run_id="r2",
        previous_run_id="r1",
        before=0.05,
        after=0.12,
        fresh=True,
    )
    return alert, diff_runs(previous, current)


def user_factor(explains: float = 0.8) -> Factor:
    return Factor(Dimension.USER, HOSTILE, 0.01, explains, explains, 1e-9, "trace-9", 24, 30)


def test_alert_detail_escapes_a_hostile_cause_and_links_its_trace(changes: ChangeRenderer) -> None:
    alert, diff = alert_and_diff()
    message = changes.alert_detail(alert, diff, [user_factor()])
    text = "\n".join(mrkdwn_texts(message.blocks))
    assert "Likely cause" in text
    assert "<!channel>" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt;" in text
    assert URLS.trace("trace-9") in text
    assert URLS.cluster("r2", 0) in text
    assert not check_limits(message.blocks, message.text)


def test_alert_detail_without_causes_says_nothing_of_them(changes: ChangeRenderer) -> None:
    alert, diff = alert_and_diff()
    message = changes.alert_detail(alert, diff)
    assert "Likely cause" not in "\n".join(mrkdwn_texts(message.blocks))
    actions = [
        e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert ActionId.WHY.value in actions


@pytest.mark.parametrize(("explains", "clause"), [(0.9, True), (0.6, False)])
def test_parent_line_has_a_clause_only_when_one_cause_dominates(
    changes: ChangeRenderer, explains: float, clause: bool
) -> None:
    alert, diff = alert_and_diff()
    parent = changes.alert_parent(diff, [alert], causes={alert.key: [user_factor(explains)]})
    text = "\n".join(mrkdwn_texts(parent.blocks))
    assert ("likely one user" in text) is clause
    assert "<!channel>" not in text


def test_why_answer_names_nothing_when_nothing_stands_out(changes: ChangeRenderer) -> None:
    run = make_run(make_cluster(3, title=HOSTILE, item_ids=ids("a", 5)), run_id="r2")
    cluster = run.cluster(3)
    assert cluster is not None
    answer = changes.why(run, cluster, [], compared=True)
    text = "\n".join(mrkdwn_texts(answer.blocks))
    assert "Nothing stands out" in text and "<!channel>" not in text


def test_a_model_reads_as_where_failures_come_from_only_behind_errors(
    changes: ChangeRenderer,
) -> None:
    model = Factor(Dimension.MODEL, "gpt-4.1", 0.1, 0.9, 0.9, 1e-9, "trace-3", 27, 30)

    def words(kind: AlertKind | None) -> str:
        return str(changes.causes.detail(kind, [model], "r2", 0))

    assert "from model" in words(AlertKind.ERROR_HEAVY) and "of those failures" in words(
        AlertKind.ERROR_HEAVY
    )
    assert "new items" in words(AlertKind.SIZE_SHIFT) and "from model" not in words(None)
