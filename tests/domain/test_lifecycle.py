"""The alert lifecycle over consecutive runs: fire once, follow in the thread, close."""

from __future__ import annotations

from bot.domain.alerts import Alert, AlertKind, Family, Severity
from bot.domain.compare import RunDiff, diff_runs
from bot.domain.fresh import Detection
from bot.domain.lifecycle import ACCEPT_AFTER_RUNS, Episode, Phase, advance
from bot.domain.thresholds import Thresholds
from tests.support.factories import ids, make_cluster, make_run

T = Thresholds()


def runs(index: int, *, with_topic: bool = True) -> RunDiff:
    """Run `index` vs run `index - 1` of one series; "refunds" is cluster `index` in run
    `index` (ids reshuffle every run) and keeps its items, unless `with_topic` is False."""

    def run(i: int, present: bool) -> object:
        clusters = [make_cluster(100 + i, title="billing", item_ids=ids("b", 60))]
        if present:
            clusters.append(make_cluster(i, title="refunds", item_ids=ids("r", 40)))
        return make_run(*clusters, run_id=f"run-{i}")

    return diff_runs(run(index - 1, True), run(index, with_topic))  # type: ignore[arg-type]


def cost_alert(diff: RunDiff, cluster_id: int, after: float = 0.03) -> Alert:
    return Alert(
        kind=AlertKind.COST_SPIKE,
        severity=Severity.CRITICAL,
        cluster_id=cluster_id,
        previous_cluster_id=None,
        title="refunds",
        current_run_id=diff.current.run_id,
        previous_run_id=diff.previous.run_id,
        before=0.01,
        after=after,
        p_value=1e-6,
        fresh=True,
    )


def detection(*alerts: Alert, observed: dict[tuple[int, Family], float] | None = None) -> Detection:
    return Detection(alerts, observed or {}, tests=10)


def fired_episode() -> tuple[Episode, RunDiff]:
    diff = runs(1)
    step = advance([], detection(cost_alert(diff, 1)), diff, T, "run:run-1")
    (episode,) = step.open
    assert step.fired and step.updates == []
    return episode, diff


def test_a_change_fires_once_and_opens_an_episode() -> None:
    episode, _ = fired_episode()

    assert (episode.family, episode.baseline, episode.value) == (Family.COST, 0.01, 0.03)
    assert (episode.parent_key, episode.run_id, episode.runs) == ("run:run-1", "run-1", 0)


def test_while_it_persists_later_runs_add_updates_not_alerts() -> None:
    episode, _ = fired_episode()
    diff = runs(2)

    # Detected again on the next run...
    again = advance([episode], detection(cost_alert(diff, 2)), diff, T, "run:run-2")
    # ...or not significant there, but still well above the baseline it fired against.
    still = advance([episode], detection(observed={(2, Family.COST): 0.028}), diff, T, "run:run-2")

    for step in (again, still):
        assert step.fired == []
        (update,) = step.updates
        assert update.phase is Phase.STILL and not update.quiet
        assert update.episode.cluster_id == 2 and update.episode.runs == 1
        assert update.episode.parent_key == "run:run-1"


def test_back_within_the_minimum_effect_resolves_and_a_return_fires_again() -> None:
    episode, _ = fired_episode()
    diff = runs(2)

    resolved = advance([episode], detection(observed={(2, Family.COST): 0.011}), diff, T, "p")

    (update,) = resolved.updates
    assert update.phase is Phase.RESOLVED and update.phase.closes
    assert resolved.open == []
    diff3 = runs(3)
    back = advance(resolved.open, detection(cost_alert(diff3, 3)), diff3, T, "run:run-3")
    assert [a.cluster_id for a in back.fired] == [3]


def test_too_few_fresh_items_holds_the_episode_silently() -> None:
    episode, _ = fired_episode()
    diff = runs(2)

    step = advance([episode], detection(), diff, T, "run:run-2")

    assert step.updates == [] and step.fired == []
    assert [e.cluster_id for e in step.open] == [2]


def test_a_change_that_lasts_a_week_becomes_the_new_normal() -> None:
    episode, _ = fired_episode()
    for index in range(2, 2 + ACCEPT_AFTER_RUNS):
        diff = runs(index)
        step = advance([episode], detection(observed={(index, Family.COST): 0.03}), diff, T, "p")
        if step.open:
            (episode,) = step.open
    (update,) = step.updates
    assert update.phase is Phase.ACCEPTED
    assert step.open == []


def test_a_cluster_that_leaves_the_run_closes_its_episode() -> None:
    episode, _ = fired_episode()
    diff = runs(2, with_topic=False)

    step = advance([episode], detection(), diff, T, "run:run-2")

    (update,) = step.updates
    assert update.phase is Phase.GONE and not update.quiet
    assert step.open == []


def test_an_episode_that_lost_its_run_closes_quietly() -> None:
    # Runs were skipped: the episode was last followed into run-1, this is run-4 vs run-3.
    episode, _ = fired_episode()
    diff = runs(4)

    step = advance([episode], detection(), diff, T, "run:run-4")

    (update,) = step.updates
    assert update.phase is Phase.GONE and update.quiet


def test_a_fail_share_episode_follows_the_clusters_share_of_failing_evaluations() -> None:
    first = runs(1)
    grown = cost_alert(first, 1).model_copy(
        update={"kind": AlertKind.FAIL_SHARE_GROWTH, "before": 0.2, "after": 0.5}
    )
    (episode,) = advance([], detection(grown), first, T, "run:run-1").open
    assert episode.family is Family.FAIL_SHARE

    still = advance([episode], detection(observed={(2, Family.FAIL_SHARE): 0.45}), runs(2), T, "p")
    back = advance([episode], detection(observed={(2, Family.FAIL_SHARE): 0.25}), runs(2), T, "p")

    assert [u.phase for u in still.updates] == [Phase.STILL]
    assert [u.phase for u in back.updates] == [Phase.RESOLVED]
