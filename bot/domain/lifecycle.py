"""The life of an alert, per channel and cluster lineage: fire once, follow, close. Pure.

What users of Grafana, PagerDuty and Sentry expect (reference/alerting.md 5), applied to daily
runs. An *episode* is one lasting change of one family (cost, latency, errors, share of traffic,
outliers; `Family`) of one cluster lineage, followed from run to run through the cluster
matching:

- **fired**: a change is detected and no episode of its family is open for the cluster: it is
  announced in the run's parent message, with its details in the thread.
- **still**: a later run shows the change still there (detected again, or its value still at
  least the minimum effect away from the baseline it fired against): a short update in the
  original thread, no new alert.
- **resolved**: the value is back within the minimum effect of that baseline: a "back to
  normal" note in the thread, and the parent message is updated to say so. A change that comes
  back after that fires again.
- **accepted**: after `ACCEPT_AFTER_RUNS` runs (the 7-day window has turned over) a change that
  held is the cluster's new normal: the thread says so and the episode closes.
- **gone**: the cluster lineage ended (nothing in this run continues it): noted, closed.

A new cluster's episode follows its growth in silence (its share keeps rising for a week as
its days fill the window), and so does stopped traffic until its cluster leaves the run.
Findings whose family already has an open episode in the other direction close it silently and
fire anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.alerts import Alert, AlertKind, Family
from bot.domain.compare import RunDiff
from bot.domain.fresh import Detection
from bot.domain.fresh_base import holds
from bot.domain.models import NOISE_CLUSTER_ID, Frozen
from bot.domain.thresholds import Thresholds

ACCEPT_AFTER_RUNS = 7


class Episode(Frozen):
    """An open alert episode. `cluster_id` is the cluster in run `run_id`, the last run the
    episode was followed into; `baseline` is the value before the change (the alert's
    `before`), `value` the latest one seen; `runs` counts the runs since it fired."""

    family: Family
    kind: AlertKind
    direction: int
    cluster_id: int
    run_id: str
    fired_run_id: str
    parent_key: str
    alert_key: str
    title: str
    baseline: float
    value: float
    runs: int = 0


class Phase(StrEnum):
    STILL = "still"
    RESOLVED = "resolved"
    ACCEPTED = "accepted"
    GONE = "gone"

    @property
    def closes(self) -> bool:
        return self is not Phase.STILL


class Update(Frozen):
    """What happened to an earlier episode on this run. `quiet` ones change state only."""

    phase: Phase
    episode: Episode
    quiet: bool = False


@dataclass
class Step:
    """The outcome of one run for one channel: alerts to announce, updates of earlier episodes,
    and the episodes still open afterwards."""

    fired: list[Alert] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    open: list[Episode] = field(default_factory=list)


def advance(
    episodes: Sequence[Episode],
    detection: Detection,
    diff: RunDiff,
    thresholds: Thresholds,
    parent_key: str,
) -> Step:
    """Apply one run's detection to a channel's open episodes (module docstring)."""
    run_id = diff.current.run_id
    step = Step()
    followed: dict[tuple[int, Family], Episode] = {}
    gone_from: set[int] = set()
    for episode in episodes:
        if episode.run_id == run_id:  # this run was already applied (a retried run)
            step.open.append(episode)
            continue
        target = _follow(episode, diff)
        if target is None:
            gone_from.add(episode.cluster_id)
            _close(step, episode, Phase.GONE, quiet=episode.run_id != diff.previous.run_id)
        else:
            followed[(target, episode.family)] = episode.model_copy(
                update={"cluster_id": target, "run_id": run_id, "runs": episode.runs + 1}
            )
    for alert in detection.alerts:
        family = alert.kind.family
        if family is None:  # a kind without a lifecycle (a vanished cluster): fires once
            if alert.previous_cluster_id not in gone_from:
                step.fired.append(alert)
            continue
        assert alert.cluster_id is not None and alert.after is not None
        open_episode = followed.pop((alert.cluster_id, family), None)
        if open_episode is not None and open_episode.direction == alert.direction:
            # Judged on the whole fresh day, the same measure for every run, whatever cut point
            # of the scan this run's finding rests on.
            fresh = detection.observed.get((alert.cluster_id, family), alert.after)
            _judge(step, open_episode, fresh, thresholds)
            continue
        step.fired.append(alert)
        step.open.append(_start(alert, family, parent_key))
    for (cluster_id, family), episode in followed.items():
        observed = detection.observed.get((cluster_id, family))
        if observed is None:  # too few fresh items to tell: hold
            step.open.append(episode)
        else:
            _judge(step, episode, observed, thresholds)
    return step


def _judge(step: Step, episode: Episode, value: float, thresholds: Thresholds) -> None:
    """Still changed against the baseline it fired on, or back to normal."""
    episode = episode.model_copy(update={"value": value})
    if holds(episode.family, episode.direction, episode.baseline, value, thresholds):
        _carry(step, episode)
    else:
        _close(step, episode, Phase.RESOLVED)


def _follow(episode: Episode, diff: RunDiff) -> int | None:
    """The cluster that continues the episode's lineage in `diff.current`, if any."""
    if episode.run_id != diff.previous.run_id:
        return None  # runs were skipped or reordered: the lineage cannot be followed
    if episode.family is Family.OUTLIERS:
        return NOISE_CLUSTER_ID if diff.current.cluster(NOISE_CLUSTER_ID) else None
    match = diff.match_for_previous(episode.cluster_id)
    if match is None or match.basis is None:
        return None
    return match.current.cluster_id


def _carry(step: Step, episode: Episode) -> None:
    if episode.runs >= ACCEPT_AFTER_RUNS:
        _close(step, episode, Phase.ACCEPTED, quiet=episode.kind.spec.quiet)
        return
    step.open.append(episode)
    step.updates.append(Update(phase=Phase.STILL, episode=episode, quiet=episode.kind.spec.quiet))


def _close(step: Step, episode: Episode, phase: Phase, *, quiet: bool = False) -> None:
    step.updates.append(Update(phase=phase, episode=episode, quiet=quiet))


def _start(alert: Alert, family: Family, parent_key: str) -> Episode:
    assert alert.cluster_id is not None and alert.before is not None and alert.after is not None
    return Episode(
        family=family,
        kind=alert.kind,
        direction=alert.direction,
        cluster_id=alert.cluster_id,
        run_id=alert.current_run_id,
        fired_run_id=alert.current_run_id,
        parent_key=parent_key,
        alert_key=alert.key,
        title=alert.title,
        baseline=alert.before,
        value=alert.after,
    )
