"""What a run's sample allows, for the alert-quality sweep: would a test that *knows* the change
find it in this run? The oracle sees what the bot sees, the run's clusters and their items, and
knows three things the bot has to find: which cluster is the changed topic's (the generator's
truth; when the topic stopped and no cluster of the run is left to watch, its items by topic),
the moment the change began (so it tests only that cluster's items after it, against its items
before it, never mixing the two), and what moved (price per token for a model switch, tokens per
item for prompt bloat, latency (per output token where the world's latency follows the output
tokens), errors, or the cluster's share of the traffic). It passes where its one-sided p-value
meets the cutoff Benjamini-Hochberg gives one true change among the run's tests: a detector that
has to find the cluster, the moment and the cause in the same sample cannot do better on most
seeds, so a change the oracle misses is beyond what that run's sample holds.

Given a run's assigned items (`bench/assigned.py`), the oracle reads them as the bot's value
tests do: those the bot placed in the changed cluster join its items after the start in the
tests of errors, cost and latency (never in the share tests, which count the sample alone).

The scanning oracle (`scan=True`) knows the cluster and what moved but not the moment: it looks
where the bot's change-point scan looks, at the scan's weights. Between the two oracles lies the
price of not knowing when a change began; between the scanning oracle and the bot, that of not
knowing which cluster and what moved (every family and part tested) and the bot's own tests.

It shares nothing with the bot's detector but the textbook tests of `bot.domain.stats` (Fisher's
exact test, the Mann-Whitney rank test) and, for the scanning oracle, the scan's cut points and
weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from bot.domain.fresh_base import look_weights
from bot.domain.models import ClusteringRun, ClusterItem
from bot.domain.slices import RunSlices
from bot.domain.stats import count_test, rank_test_greater
from standins.traffic.generator import Cause, Change, World

Value = Callable[[ClusterItem], float | None]


def _price(item: ClusterItem) -> float | None:
    return item.cost / item.tokens if item.cost is not None and item.tokens else None


def _latency_per_token(item: ClusterItem) -> float | None:
    if item.latency is None or not item.output_tokens:
        return None
    return item.latency / item.output_tokens


VALUES: dict[tuple[Change, Cause], Value] = {
    (Change.COST_SPIKE, Cause.MODEL_SWITCH): _price,
    (Change.COST_SPIKE, Cause.PROMPT_BLOAT): lambda i: i.tokens,
    (Change.COST_SPIKE, Cause.UNIFORM): lambda i: i.cost,
    (Change.LATENCY_SPIKE, Cause.UNIFORM): lambda i: i.latency,
}


SHARE_KINDS = (Change.SIZE_SHIFT, Change.NEW_CLUSTER, Change.VANISHED_CLUSTER)


def finds(
    world: World,
    runs: Sequence[ClusteringRun],
    index: int,
    tests: int,
    q: float,
    *,
    scan: RunSlices | None = None,
    assigned: Mapping[int, Sequence[ClusterItem]] | None = None,
) -> bool:
    """Whether the oracle finds the world's planted change in run `index` (module docstring),
    with `tests` tests in that run held to the false discovery rate `q`. Given `scan` (the
    run's slices) it does not know when the change began: it looks where the bot's scan looks
    (the slices' cut points and last two days, at `fresh_base.look_weights`), so what it loses
    against the oracle that knows is the price of not knowing the start. `assigned`: the run's
    assigned items by cluster id, as the bot placed them (module docstring)."""
    planted = world.planted[0]
    if planted.start is None or index >= len(runs) or tests <= 0:
        return False
    previous, current = runs[index - 1], runs[index]
    cutoff = previous.window_end or previous.timestamp
    items = [i for c in current.clusters for i in c.items if i.timestamp is not None]
    cluster_id = planted.clusters.get(current.run_id)
    if cluster_id is not None:
        members = {
            i.item_id for c in current.clusters if c.cluster_id == cluster_id for i in c.items
        }
    elif planted.kind is Change.VANISHED_CLUSTER:  # no cluster left to watch: the topic's items
        members = {i.item_id for i in items if world.items[i.item_id].topic == planted.topic}
    else:
        return False  # the topic is no cluster of this run: nothing to alert on
    extra = tuple((assigned or {}).get(cluster_id, ())) if cluster_id is not None else ()
    alpha = q / tests
    if scan is None:
        after = [i for i in items if i.timestamp > cutoff and i.timestamp >= planted.start]  # type: ignore[operator]
        before = [i for i in items if i.timestamp < planted.start]  # type: ignore[operator]
        placed = [i for i in extra if i.timestamp >= planted.start]  # type: ignore[operator]
        return _p_value(world, members, after, before, placed) <= alpha
    starts = [*scan.cuts, *([scan.two_days] if scan.two_days is not None else [])]
    weights = look_weights(starts, scan.cutoff, scan.two_days)
    for start, weight in zip(starts, weights, strict=True):
        # after a cut against the older days, as the bot's tests; the last two days against
        # the days before them
        until = start if start == scan.two_days else scan.cutoff
        after = [i for i in items if i.timestamp > start]  # type: ignore[operator]
        before = [i for i in items if i.timestamp < until]  # type: ignore[operator]
        placed = [i for i in extra if i.timestamp > start]  # type: ignore[operator]
        if _p_value(world, members, after, before, placed) <= alpha * weight:
            return True
    return False


def _p_value(
    world: World,
    members: set[str],
    after: list[ClusterItem],
    before: list[ClusterItem],
    placed: Sequence[ClusterItem] = (),
) -> float:
    """The one-sided p-value of what moved (module docstring) in the members' items `after`
    (and the assigned items `placed` in their cluster, for the value tests) against their
    items `before`."""
    planted = world.planted[0]
    changed = [i for i in after if i.item_id in members]
    base = [i for i in before if i.item_id in members]
    kind = planted.kind
    if kind not in SHARE_KINDS:
        changed += placed
    if kind is Change.ERROR_HEAVY:
        recent = [i for i in changed if i.has_values]
        older = [i for i in base if i.has_values]
        hits = sum(1 for i in recent if (i.errors or 0) > 0)
        base_hits = sum(1 for i in older if (i.errors or 0) > 0)
        return count_test(hits, len(recent), base_hits, len(older))[0] if recent else 1.0
    if kind in SHARE_KINDS:
        greater, less = count_test(len(changed), len(after), len(base), len(before))
        return less if kind is Change.VANISHED_CLUSTER else greater
    value = VALUES[kind, Cause(planted.cause)]
    if kind is Change.LATENCY_SPIKE and world.params.latency_by_tokens:
        value = _latency_per_token
    recent_values = [v for i in changed if (v := value(i)) is not None and v > 0]
    base_values = [v for i in base if (v := value(i)) is not None and v > 0]
    if not recent_values or not base_values:
        return 1.0
    return rank_test_greater(recent_values, base_values)
