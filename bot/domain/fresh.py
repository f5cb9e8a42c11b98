"""Day-resolution change detection: compare each cluster's fresh slice with its baseline. Pure.

PostHog clusters a sliding 7-day window every day, so consecutive runs share six of their seven
days and a change that starts today reaches the next run through about a seventh of each
cluster's items (reference/alerting.md 2). Comparing whole runs dilutes it sevenfold. Every item
carries its own timestamp, so instead we split each new run (`slices.py`):

- the **fresh slice**: the run's items newer than the previous run's window end;
- the **baseline**: the run's older items of the same cluster, together with the items of the
  cluster's predecessor in the previous run (when a match backs the lineage) that this run did
  not sample again.

A change that starts late in the day would be averaged with the hours before it, so each test
scans cut points over the fresh slice (every quarter of it: 6 hours of a daily run) and tests
the items after each cut; every (cluster, family) is then **one** test, its smallest p-value
over the look's weight (weighted Bonferroni, `fresh_base.look_weights`; the last two days are
a look too, for a change that began on the previous run's day), and an alert says which hours
it rests on ("since 18:15 UTC", "over the whole day"). Per cluster (defaults in `Thresholds`):

- **cost** (`fresh_values.py`): cost per item, price per token and tokens per item, each a
  one-sided rank test (Mann-Whitney), which heavy tails do not fool (Bonferroni over the
  three); the alert is about cost (at least x1.5 and $0.0001 on the typical cost per item,
  median tokens x median price per token) and names the part that moved.
- **latency**: the median per item, the same rank test; where output tokens explain latency,
  in parts like cost (latency per output token, output tokens per item); at least x1.5 and
  0.5 s.
- **tokens**: the median tokens per item, the same rank test; at least x1.5 and 200 more.
- **errors**: the share of items with an error; Fisher's exact test, one-sided, right for the
  small counts of a fresh slice; at least 20 % and 10 points more than the baseline.
- **share** (`fresh_shares.py`): the cluster's fresh items against its older ones, held to the
  median ratio of all clusters (it moved *against the rest*, not because others moved); a
  beta-binomial test whose dispersion is measured on the run's own older days:
  - **size shift**: grew (after any cut) or fell (over the whole day) at least x1.5 (or
    1/1.5) and 2 points against the rest, by at least 5 items;
  - **new**: a cluster with no reliable predecessor at least 3 % of the fresh traffic and three
    times what moving with the rest would give: its items sit mostly in the fresh slice;
  - **traffic stopped**: no item since its last one, where the rest of the traffic says some
    were due, and the cluster's items of the day bunch before that moment (not a quiet
    afternoon, not a slow day); the cluster held at least 3 % of the older items.
- **outliers**: the noise cluster's share against the rest, one-sided; at least 10 points.

A cluster that disappears altogether (matched by nothing, not merged) is reported as vanished
when it held >= 3 % of the previous run and its topic could hardly have given none of the fresh
items (`_vanished`): a small cluster missing from a small sample is expected by chance.

Every test of the run counts towards Benjamini-Hochberg at a false discovery rate of 5 %, so 30
clusters x 5 tests do not multiply the noise; an alert needs both: significant and at least the
minimum effect, which is what a channel's thresholds set. A test that raises costs that test
only: it is listed in `Detection.failures`, and every other test of the run still counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.alerts import Alert, AlertKind, Family, alert_order
from bot.domain.fresh_base import Candidates, TestFailure, escalated, holds, reaches
from bot.domain.fresh_shares import Composition, outlier_test, share_test
from bot.domain.fresh_values import VALUE_TESTS
from bot.domain.slices import ClusterSlices, RunSlices
from bot.domain.stats import benjamini_hochberg, beta_binomial_tails
from bot.domain.thresholds import Thresholds

__all__ = ["Detection", "TestFailure", "detect", "holds", "reaches"]

ClusterTest = Callable[[Candidates, ClusterSlices], None]
CLUSTER_TESTS: tuple[tuple[str, ClusterTest], ...] = (*VALUE_TESTS, ("share", share_test))
"""The tests of a real cluster, by name; each adds its findings to the run's `Candidates`."""
NOISE_TESTS: tuple[tuple[str, ClusterTest], ...] = (("outliers", outlier_test),)


@dataclass(frozen=True)
class Detection:
    """What one run shows: the alerts that passed, every cluster's current value per family
    (what the lifecycle compares a lasting change with), the number of tests, and the tests
    that failed (each cost only itself)."""

    alerts: tuple[Alert, ...]
    observed: dict[tuple[int, Family], float]
    tests: int
    failures: tuple[TestFailure, ...] = ()


def detect(slices: RunSlices, t: Thresholds) -> Detection:
    """The fresh-slice alerts of one run under `t` (module docstring)."""
    found = Candidates(slices, t)
    for cs in slices.clusters.values():
        for name, test in NOISE_TESTS if cs.cluster.is_noise else CLUSTER_TESTS:
            _isolated(found, name, test, cs)
    _isolated(found, "vanished", lambda run, _: _vanished(run), None)
    tested = [(a, p) for a, p in found.alerts if p is not None]
    padding = [1.0] * max(0, found.tests - len(tested))
    keep = benjamini_hochberg([p for _, p in tested] + padding, t.false_discovery_pct / 100)
    kept = {a.key for (a, _), ok in zip(tested, keep, strict=False) if ok}
    alerts = [a for a, p in found.alerts if p is None or a.key in kept]
    alerts.sort(key=alert_order)
    return Detection(tuple(alerts), found.observed, found.tests, tuple(found.failures))


def _isolated(
    found: Candidates,
    name: str,
    test: Callable[[Candidates, ClusterSlices], None] | Callable[[Candidates, None], None],
    cs: ClusterSlices | None,
) -> None:
    """Run one test; if it raises, drop what it half-added and record the failure (the test
    still counts as one, untold, towards the false discovery control)."""
    alerts, observed, tests = len(found.alerts), dict(found.observed), found.tests
    try:
        test(found, cs)  # type: ignore[arg-type]
    except Exception as error:  # one test's bug must not cost the run's other alerts
        del found.alerts[alerts:]
        found.observed, found.tests = observed, tests + 1
        text = f"{type(error).__name__}: {error}"[:300]
        cluster_id = cs.cluster.cluster_id if cs is not None else None
        found.failures.append(TestFailure(cluster_id, name, text))


def _vanished(found: Candidates) -> None:
    """A cluster of the previous run that nothing in this run continues (and that did not merge
    into another). Only between runs that share items, else a renamed cluster could not be told
    from a vanished one. A small cluster often dissolves into the noise or its neighbours when
    the sample is redrawn, so a vanish is a test like the others: the chance that its topic,
    moving with the rest at its previous share, gives none of this run's fresh items
    (beta-binomial, the run's dispersion), which faces Benjamini-Hochberg with every other
    test. Its topic may still hide in the noise, so the p-value is a lower bound, which only
    a large cluster missing from a large fresh slice passes."""
    diff, t, slices = found.slices.diff, found.t, found.slices
    if not reaches(diff.item_overlap, t.min_run_overlap_pct / 100):
        return
    for cluster in diff.vanished:
        share = diff.previous.share(cluster)
        if not reaches(share, t.vanished_cluster_pct / 100):
            continue
        found.tests += 1
        phi = found.once(Composition.of).phi if slices.usable else 1.0
        p_value = beta_binomial_tails(0, slices.fresh_total, share, phi)[1]
        severity = escalated(reaches(share, 2 * t.vanished_cluster_pct / 100))
        found.add(
            Alert(
                kind=AlertKind.VANISHED_CLUSTER,
                severity=severity,
                cluster_id=None,
                previous_cluster_id=cluster.cluster_id,
                title=cluster.title,
                current_run_id=diff.current.run_id,
                previous_run_id=diff.previous.run_id,
                before=share,
                items_before=cluster.size,
                p_value=p_value,
                fresh=True,
                direction=-1,
            ),
            p_value,
        )
