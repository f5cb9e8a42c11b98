"""Per-item values of a cluster's fresh items against its baseline: cost, latency, errors. Pure.

Each is scanned over the cut points (`RunSlices.cuts`): the fresh items after each cut against
the whole baseline, the smallest p-value over its weight (weighted Bonferroni: half the level
for the whole day, half shared by the later cut points, `fresh_base.WHOLE_DAY`) being the
cluster's one test of that family.

Cost per item is tokens x price per token (a trace's generations are in its tokens), and the
parts differ in noise: within one cluster log cost spreads about 0.95, log price per token
about 0.2 (reference/alerting.md 6). A model switch is then plain in price per token after a
handful of items, where a rank test on the heavy-tailed totals needs dozens; prompt bloat and
retry storms move tokens per item. So the cost family looks at three parts (cost, price per
token, tokens per item) at every cut, Bonferroni over all of them, and names the part that
carried the evidence. The alert stays about cost: its minimum effect applies to the typical
cost per item, estimated as (median tokens) x (median price per token), which a price step
moves with the low noise of the price.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot.domain.alerts import AlertKind, Family, Severity
from bot.domain.fresh_base import Candidates, cut_weight, holds, positive, reaches, weighted
from bot.domain.models import ClusterItem
from bot.domain.slices import ClusterSlices
from bot.domain.stats import count_test, median, rank_test_greater

CRITICAL_COST_RATIO = 3.0
CRITICAL_ERROR_RATE = 0.5
WARNING_LATENCY_RATIO = 3.0
PART_MOVED = 0.05
"""A part of cost (price per token, tokens per item) counts as moved in the estimate of the cost
change when its own one-sided test reaches this; it only shapes the estimate the minimum effect
is judged on, the alert's significance is the Bonferroni-corrected test of the family."""

Value = Callable[[ClusterItem], float | None]


def _cost(item: ClusterItem) -> float | None:
    return item.cost


def _price(item: ClusterItem) -> float | None:
    if item.cost is None or not item.tokens or item.tokens <= 0:
        return None
    return item.cost / item.tokens


def _tokens(item: ClusterItem) -> float | None:
    return item.tokens


COST_PARTS: tuple[tuple[str | None, Value], ...] = (
    (None, _cost),
    ("price per token", _price),
    ("tokens per item", _tokens),
)


def cost_test(found: Candidates, cs: ClusterSlices) -> None:
    t, cid = found.t, cs.cluster.cluster_id
    base = {name: positive(cs.baseline, value) for name, value in COST_PARTS}
    before = _typical_cost(cs.baseline)
    if len(base[None]) < t.min_items or before is None:
        return
    best: tuple[float, str | None, datetime, float, int] | None = None
    cuts = _cuts(found, cs, _cost)
    for index, cut in enumerate(cuts):
        recent_items = cs.since(cut)
        tested: dict[str | None, tuple[float, float]] = {}
        for name, value in COST_PARTS:
            recent = positive(recent_items, value)
            if len(recent) >= t.min_fresh_items and len(base[name]) >= t.min_items:
                ratio = median(recent) / median(base[name])
                tested[name] = rank_test_greater(recent, base[name]), ratio
        after = before * _cost_ratio(tested)
        if index == 0:
            found.observed[(cid, Family.COST)] = after
        weight = cut_weight(index, len(cuts)) / len(tested)  # Bonferroni over the parts
        for name, (p_value, _) in tested.items():
            corrected = weighted(p_value, weight)
            if best is None or corrected < best[0]:
                best = (corrected, name, cut, after, len(positive(recent_items, _cost)))
    if not cuts:
        return
    found.tests += 1
    if best is None:
        return
    corrected, part, cut, after, count = best
    if not holds(Family.COST, 1, before, after, t):
        return
    critical = reaches(after / before, CRITICAL_COST_RATIO)
    severity = Severity.CRITICAL if critical else Severity.WARNING
    items = (len(base[None]), count)
    alert = found.alert(
        cs, AlertKind.COST_SPIKE, severity, (before, after), items, corrected, cut,
        test="rank test", part=part,
    )  # fmt: skip
    found.add(alert, corrected)


def _cost_ratio(tested: dict[str | None, tuple[float, float]]) -> float:
    """How much the typical cost per item moved: the product of the parts' median ratios,
    each part counted only where its own test shows it moved (`PART_MOVED`; else it is taken
    as unchanged, so the tokens' wide spread does not blur a price step); the ratio of median
    costs when no part is known or none moved."""
    parts = [tested[name] for name, _ in COST_PARTS[1:] if name in tested]
    moved = [ratio for p_value, ratio in parts if p_value < PART_MOVED]
    if len(parts) < len(COST_PARTS) - 1 or not moved:
        return tested[None][1] if None in tested else 1.0
    product = 1.0
    for ratio in moved:
        product *= ratio
    return product


def _cuts(found: Candidates, cs: ClusterSlices, value: Value) -> list[datetime]:
    """The cut points after which the cluster has enough fresh items with `value` to test:
    the first ones of the scan, since later cuts only drop items (the weights are then shared
    among these, which depends on the counts alone, not on the values tested)."""
    enough = found.t.min_fresh_items
    return [c for c in found.slices.cuts if len(positive(cs.since(c), value)) >= enough]


def _typical_cost(items: Sequence[ClusterItem]) -> float | None:
    """Median tokens x median price per token; the median cost where tokens are unknown."""
    prices, tokens = positive(items, _price), positive(items, _tokens)
    if prices and tokens:
        return median(tokens) * median(prices)
    costs = positive(items, _cost)
    return median(costs) if costs else None


def latency_test(found: Candidates, cs: ClusterSlices) -> None:
    t, cid = found.t, cs.cluster.cluster_id
    base = positive(cs.baseline, lambda i: i.latency)
    if len(base) < t.min_items:
        return
    before = median(base)
    best: tuple[float, datetime, float, int] | None = None
    cuts = _cuts(found, cs, lambda i: i.latency)
    for index, cut in enumerate(cuts):
        recent = positive(cs.since(cut), lambda i: i.latency)
        after = median(recent)
        if index == 0:
            found.observed[(cid, Family.LATENCY)] = after
        if not holds(Family.LATENCY, 1, before, after, t):
            continue
        p_value = weighted(rank_test_greater(recent, base), cut_weight(index, len(cuts)))
        if best is None or p_value < best[0]:
            best = (p_value, cut, after, len(recent))
    if not cuts:
        return
    found.tests += 1
    if best is None:
        return
    corrected, cut, after, count = best
    warning = reaches(after / before, WARNING_LATENCY_RATIO)
    alert = found.alert(
        cs,
        AlertKind.LATENCY_SPIKE,
        Severity.WARNING if warning else Severity.INFO,
        (before, after),
        (len(base), count),
        corrected,
        cut,
        test="rank test",
    )
    found.add(alert, corrected)


def error_test(found: Candidates, cs: ClusterSlices) -> None:
    t, cid = found.t, cs.cluster.cluster_id
    base = [i for i in cs.baseline if i.has_values]
    if len(base) < t.min_items:
        return
    base_errors = sum(1 for i in base if (i.errors or 0) > 0)
    before = base_errors / len(base)
    best: tuple[float, datetime, float, int] | None = None
    cuts = _cuts(found, cs, lambda i: 1.0 if i.has_values else None)
    for index, cut in enumerate(cuts):
        recent = [i for i in cs.since(cut) if i.has_values]
        errors = sum(1 for i in recent if (i.errors or 0) > 0)
        after = errors / len(recent)
        if index == 0:
            found.observed[(cid, Family.ERRORS)] = after
        if not holds(Family.ERRORS, 1, before, after, t):
            continue
        p_value = count_test(errors, len(recent), base_errors, len(base))[0]
        p_value = weighted(p_value, cut_weight(index, len(cuts)))
        if best is None or p_value < best[0]:
            best = (p_value, cut, after, len(recent))
    if not cuts:
        return
    found.tests += 1
    if best is None:
        return
    corrected, cut, after, count = best
    severity = Severity.CRITICAL if reaches(after, CRITICAL_ERROR_RATE) else Severity.WARNING
    alert = found.alert(
        cs,
        AlertKind.ERROR_HEAVY,
        severity,
        (before, after),
        (len(base), count),
        corrected,
        cut,
        test="Fisher's exact test",
    )
    found.add(alert, corrected)
