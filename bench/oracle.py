"""What a run's sample allows, for the alert-quality sweep: would a test that *knows* the change
find it in this run? The oracle sees what the bot sees, the run's clusters and their items, and
knows three things the bot has to find: which cluster is the changed topic's (the generator's
truth; when the topic stopped, its items by topic, since no cluster is left to watch), the
moment the change began (so it tests only that cluster's items after it, against its items
before it, never mixing the two), and what moved (price per token for a model switch, tokens per
item for prompt bloat, latency (per output token where the world's latency follows the output
tokens), errors, or the cluster's share of the traffic). It passes where
its one-sided p-value meets the cutoff Benjamini-Hochberg gives one true change among the run's
tests: a detector that has to find the cluster, the moment and the cause in the same sample
cannot do better on most seeds, so a change the oracle misses is beyond what that run's sample
holds.

It shares nothing with the bot's detector but the textbook tests of `bot.domain.stats` (Fisher's
exact test, the Mann-Whitney rank test).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.domain.models import ClusteringRun, ClusterItem
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


def finds(world: World, runs: Sequence[ClusteringRun], index: int, tests: int, q: float) -> bool:
    """Whether the oracle finds the world's planted change in run `index` (module docstring),
    with `tests` tests in that run held to the false discovery rate `q`."""
    planted = world.planted[0]
    if planted.start is None or index >= len(runs) or tests <= 0:
        return False
    previous, current = runs[index - 1], runs[index]
    cutoff = previous.window_end or previous.timestamp
    items = [i for c in current.clusters for i in c.items if i.timestamp is not None]
    after = [i for i in items if i.timestamp > cutoff and i.timestamp >= planted.start]  # type: ignore[operator]
    before = [i for i in items if i.timestamp < planted.start]  # type: ignore[operator]
    if planted.kind is Change.VANISHED_CLUSTER:
        members = {i.item_id for i in items if world.items[i.item_id].topic == planted.topic}
    else:
        cluster_id = planted.clusters.get(current.run_id)
        if cluster_id is None:
            return False  # the topic is no cluster of this run: nothing to alert on
        members = {
            i.item_id for c in current.clusters if c.cluster_id == cluster_id for i in c.items
        }
    changed = [i for i in after if i.item_id in members]
    base = [i for i in before if i.item_id in members]
    alpha = q / tests
    kind = planted.kind
    if kind is Change.ERROR_HEAVY:
        recent = [i for i in changed if i.has_values]
        older = [i for i in base if i.has_values]
        hits = sum(1 for i in recent if (i.errors or 0) > 0)
        base_hits = sum(1 for i in older if (i.errors or 0) > 0)
        return bool(recent) and count_test(hits, len(recent), base_hits, len(older))[0] <= alpha
    if kind in (Change.SIZE_SHIFT, Change.NEW_CLUSTER, Change.VANISHED_CLUSTER):
        greater, less = count_test(len(changed), len(after), len(base), len(before))
        return (less if kind is Change.VANISHED_CLUSTER else greater) <= alpha
    value = VALUES[kind, Cause(planted.cause)]
    if kind is Change.LATENCY_SPIKE and world.params.latency_by_tokens:
        value = _latency_per_token
    recent_values = [v for i in changed if (v := value(i)) is not None and v > 0]
    base_values = [v for i in base if (v := value(i)) is not None and v > 0]
    if not recent_values or not base_values:
        return False
    return rank_test_greater(recent_values, base_values) <= alpha
