"""The words of fresh-slice alerts: a share moved against the rest of the traffic, stopped
traffic and every alert say which hours they rest on, a cost alert names the part that moved.
The alerts come from the detector on literal daily runs, not built by hand."""

from __future__ import annotations

from bot.domain.alerts import Alert, AlertKind, Severity
from bot.rendering.changes import describe, explain
from tests.domain.test_fresh import detected as detected_cost
from tests.domain.test_fresh_shares import DAYS, STABLE, detected
from tests.support.daily_runs import Topic


def only(kind: AlertKind, alerts: tuple[Alert, ...]) -> Alert:
    (alert,) = [a for a in alerts if a.kind is kind]
    return alert


def test_a_surge_reads_as_growth_against_the_rest() -> None:
    alert = only(AlertKind.SIZE_SHIFT, detected(Topic("sql", DAYS * 17, 51)).alerts)

    text = describe(alert)
    assert text.startswith("Grew about ×3 against the rest of the traffic (")
    assert "of the older items" in text and "of the new ones" in text
    assert "newer than the previous run" in explain(alert, "traces")


def test_a_fall_reads_as_a_fraction_of_its_usual_traffic() -> None:
    alert = only(AlertKind.SIZE_SHIFT, detected(Topic("sql", DAYS * 40, 10)).alerts)

    assert describe(alert).startswith("About a quarter of its usual traffic against the rest (")


def test_a_late_surge_says_since_when() -> None:
    alert = only(AlertKind.SIZE_SHIFT, detected(Topic("reports", DAYS * 20, 20, late=15)).alerts)

    assert "against the rest of the traffic since 18:15 UTC (" in describe(alert)
    assert "traces since 18:15 UTC vs" in explain(alert, "traces")
    assert "older ones from the same hours" in explain(alert, "traces")


def test_stopped_traffic_says_since_when_or_the_whole_day() -> None:
    midday = detected(Topic("triage", DAYS * 30, 12, fresh_hours=(0.02, 0.4))).alerts
    whole = detected(Topic("triage", DAYS * 15, 0)).alerts

    stopped = only(AlertKind.TRAFFIC_STOPPED, midday)
    assert describe(stopped) == (
        f"Traffic stopped {stopped.window} (had {stopped.before:.1%} of the older items)"
    )
    assert stopped.window is not None and stopped.window.startswith("since ")
    assert describe(only(AlertKind.TRAFFIC_STOPPED, whole)).startswith(
        "Traffic stopped: no items since the previous run (had "
    )


def test_new_traffic_gives_its_plain_share_of_the_new_items() -> None:
    new = only(AlertKind.NEW_CLUSTER, detected(Topic("images", 0, 30, in_previous=False)).alerts)
    fresh_total = sum(t.fresh for t in STABLE) + 30

    share = 30 / fresh_total
    assert describe(new) == f"New traffic: {share:.1%} of the items since the previous run"


def test_a_cost_alert_names_the_part_that_moved() -> None:
    _, detection = detected_cost(Topic("refunds", 120, 20, priced=True, fresh_cost=0.02))

    text = describe(only(AlertKind.COST_SPIKE, detection.alerts))
    assert text.startswith("Cost per item ×")
    assert text.endswith(", price per token rose)")


WINDOWS = ((False, None), (True, "over the whole day"), (True, "since 18:15 UTC"))


def _any(kind: AlertKind, fresh: bool, window: str | None) -> Alert:
    return Alert(
        kind=kind,
        severity=Severity.INFO,
        cluster_id=1,
        previous_cluster_id=1,
        title="t",
        current_run_id="r2",
        previous_run_id="r1",
        before=0.1,
        after=0.25,
        fresh=fresh,
        window=window,
    )


def test_every_kind_has_words_for_whole_runs_the_fresh_day_and_some_hours() -> None:
    texts = {(k, w): describe(_any(k, fresh, w)) for k in AlertKind for fresh, w in WINDOWS}
    unfilled = {key: text for key, text in texts.items() if "{" in text or "n/a" in text}
    assert unfilled == {}
    # Every fresh-slice kind says which hours it rests on (vanished clusters have no hours).
    silent = {k for k in AlertKind if "18:15" not in texts[(k, "since 18:15 UTC")]}
    assert silent == {
        AlertKind.PASS_RATE_DROP,
        AlertKind.FAIL_SHARE_GROWTH,
        AlertKind.VANISHED_CLUSTER,
        AlertKind.OUTLIER_GROWTH,
    }
