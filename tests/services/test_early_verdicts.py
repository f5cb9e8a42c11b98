"""A daily run's verdict on the early warnings of the run before it (`early_settle.verdicts`), with
a store that holds only what the verdict reads: which fired alert lives in which warning's
thread, what is said where, and what a warning whose message failed gets."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.alerts import Alert, AlertKind
from bot.domain.models import Level, RunSummary, SeriesKey
from bot.domain.thresholds import Thresholds
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.early import EarlyRenderer
from bot.rendering.env import make_environment
from bot.services.early_settle import verdicts
from bot.store.early import CONFIRMED, UNDECIDED, EarlyWarning
from bot.store.keys import EarlyOutcomeKey, EarlyWarningKey
from tests.support.factories import make_alert

CHANNEL = "C0OPS"
RUN = RunSummary(
    run_id="r2",
    level=Level.TRACE,
    job_id="j",
    total_items=10,
    timestamp=datetime(2026, 6, 15, tzinfo=UTC),
)


class Threads:
    """Each message's status (`failed` for the keys named), and the warnings as posted."""

    def __init__(self, *failed: str) -> None:
        self.failed = set(failed)

    def status_of(self, channel: str, key: str) -> str | None:
        return "failed" if key in self.failed else "sent"

    def latest_version(self, channel: str, key: str) -> tuple[str, list[dict[str, object]]] | None:
        return "Early warning", [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]


def warning(id: int, cluster_id: int, kind: AlertKind) -> EarlyWarning:
    key = EarlyWarningKey("r1", cluster_id, kind).encode()
    return EarlyWarning(
        id, CHANNEL, SeriesKey(Level.TRACE, "j"), "r1", cluster_id, kind.value, key, {}
    )


def alert(kind: AlertKind, previous: int, current: int) -> Alert:
    return make_alert(
        kind, cluster_id=current, previous_cluster_id=previous, before=0.02, after=0.45
    )


# No slices of the run: nothing rules a warning out, so what is not confirmed is undecided
# (tests/domain/test_early.py and tests/alerts/test_early_warnings.py rule warnings out).
NO_EVIDENCE = (None, Thresholds())


def renderer() -> EarlyRenderer:
    return EarlyRenderer(Renderer(make_environment(), PostHogUrls("https://ui.test", 3)))


def test_a_fired_alert_that_confirms_a_warning_lives_in_its_thread_after_the_confirmation() -> None:
    errors, cost = warning(1, 3, AlertKind.ERROR_HEAVY), warning(2, 3, AlertKind.COST_SPIKE)
    fired = alert(AlertKind.ERROR_HEAVY, previous=3, current=5)
    other = alert(AlertKind.ERROR_HEAVY, previous=4, current=6)  # another cluster: not its

    found = verdicts(
        Threads(), renderer(), [errors, cost], RUN, NO_EVIDENCE, [fired, other], [fired, other]
    )

    assert found.homes == {fired.key: errors}
    assert found.settled == [(1, CONFIRMED), (2, UNDECIDED)]
    note, edit = found.note_for(fired)  # the confirmation, and the warning edited to say so
    assert note.key == EarlyOutcomeKey(CONFIRMED, EarlyWarningKey.parse(errors.key)).encode()
    assert note.parent_key == errors.key and "Confirmed" in note.text
    assert (edit.action, edit.parent_key) == ("update", errors.key)
    assert found.note_for(fired) == []  # placed once
    assert found.note_for(other) == []
    undecided, edit = found.leftover()  # the cost warning: its note and its edit
    assert {undecided.parent_key, edit.parent_key} == {cost.key}
    assert (undecided.action, edit.action) == ("post", "update")
    assert "Not confirmed" in undecided.text and edit.text.startswith("Not confirmed")


def test_a_confirming_alert_that_did_not_fire_confirms_and_homes_nothing() -> None:
    errors = warning(1, 3, AlertKind.ERROR_HEAVY)
    muted = alert(AlertKind.ERROR_HEAVY, previous=3, current=5)  # detected, not announced

    found = verdicts(Threads(), renderer(), [errors], RUN, NO_EVIDENCE, [muted], [])

    assert found.homes == {} and found.settled == [(1, CONFIRMED)]
    note, edit = found.leftover()
    assert note.parent_key == errors.key and "Confirmed" in note.text
    assert (edit.action, edit.parent_key) == ("update", errors.key)


def test_a_warning_whose_message_failed_is_settled_without_a_word_and_homes_nothing() -> None:
    errors = warning(1, 3, AlertKind.ERROR_HEAVY)
    fired = alert(AlertKind.ERROR_HEAVY, previous=3, current=5)

    found = verdicts(Threads(errors.key), renderer(), [errors], RUN, NO_EVIDENCE, [fired], [fired])

    assert found.homes == {} and found.settled == [(1, CONFIRMED)]
    assert found.leftover() == []
