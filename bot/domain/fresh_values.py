"""Per-item values of a cluster's fresh items against its baseline: cost, latency, errors and
tokens. Pure.

Each is scanned over the cut points (`RunSlices.cuts`): the fresh items after each cut against
the whole baseline, and the last two days against the days before them; the smallest p-value
over its look's weight (weighted Bonferroni, `fresh_base.look_weights`) is the cluster's one
test of that family.

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
from dataclasses import dataclass
from datetime import datetime

from bot.domain.alerts import AlertKind, Family, Severity
from bot.domain.fresh_base import Candidates, holds, look_weights, positive, reaches, weighted
from bot.domain.models import ClusterItem
from bot.domain.slices import ClusterSlices
from bot.domain.stats import count_test, median, rank_test_greater
from bot.domain.thresholds import Thresholds

CRITICAL_COST_RATIO = 3.0
CRITICAL_ERROR_RATE = 0.5
WARNING_LATENCY_RATIO = 3.0
WARNING_TOKEN_RATIO = 3.0
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
    if len(positive(cs.baseline, _cost)) < t.min_items or typical_cost(cs.baseline) is None:
        return
    best: tuple[float, str | None, Look, float, float] | None = None
    looks = _looks(found, cs, _cost)
    for look in looks:
        before = typical_cost(look.base) or 0.0
        tested = cost_parts(look.recent, look.base, t)
        after = before * cost_ratio(tested)
        if look.whole_day:
            found.observed[(cid, Family.COST)] = after
        for name, (p_value, _) in tested.items():
            corrected = weighted(p_value, look.weight / len(tested))  # Bonferroni: parts
            if best is None or corrected < best[0]:
                best = (corrected, name, look, before, after)
    if not looks:
        return
    found.tests += 1
    if best is None:
        return
    corrected, part, look, before, after = best
    if before <= 0 or not holds(Family.COST, 1, before, after, t):
        return
    critical = reaches(after / before, CRITICAL_COST_RATIO)
    severity = Severity.CRITICAL if critical else Severity.WARNING
    items = (len(positive(look.base, _cost)), len(positive(look.recent, _cost)))
    alert = found.alert(
        cs, AlertKind.COST_SPIKE, severity, (before, after), items, corrected, look.start,
        test="rank test", part=part,
    )  # fmt: skip
    found.add(alert, corrected)


def cost_parts(
    recent: Sequence[ClusterItem], base: Sequence[ClusterItem], t: Thresholds
) -> dict[str | None, tuple[float, float]]:
    """Each part of the cost (`COST_PARTS`) with enough items on both sides: the rank test's
    p-value that it grew, and the ratio of its medians."""
    tested: dict[str | None, tuple[float, float]] = {}
    for name, value in COST_PARTS:
        after, before = positive(recent, value), positive(base, value)
        if len(after) >= t.min_fresh_items and len(before) >= t.min_items:
            tested[name] = rank_test_greater(after, before), median(after) / median(before)
    return tested


def cost_ratio(tested: dict[str | None, tuple[float, float]]) -> float:
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


@dataclass(frozen=True, slots=True)
class Look:
    """The items after `start` against those before it, and the look's weight in the
    weighted Bonferroni correction of its family (`fresh_base.look_weights`)."""

    start: datetime
    weight: float
    recent: tuple[ClusterItem, ...]
    base: tuple[ClusterItem, ...]
    whole_day: bool


def _looks(found: Candidates, cs: ClusterSlices, value: Value) -> list[Look]:
    """The looks with enough items with `value` to test: the cut points of the scan (fresh
    items after each, against the whole baseline) and the last two days (the cluster's and its
    predecessor's items since the previous cutoff, against those before it: a change that began
    on the previous run's day fills both days of this one). Which looks there are depends on
    the counts alone, so the weights may be shared among them."""
    slices, t = found.slices, found.t
    starts = [(c, cs.since(c), cs.baseline) for c in slices.cuts]
    if slices.two_days is not None:
        start = slices.two_days
        recent = tuple(i for i in cs.recent + cs.baseline if _after(i, start))
        base = tuple(i for i in cs.baseline if not _after(i, start))
        starts.append((start, recent, base))
    usable = [
        (start, recent, base)
        for start, recent, base in starts
        if len(positive(recent, value)) >= t.min_fresh_items
        and len(positive(base, value)) >= t.min_items
    ]
    weights = look_weights([start for start, _, _ in usable], slices.cutoff, slices.two_days)
    return [
        Look(start, weight, recent, base, start == slices.cutoff)
        for (start, recent, base), weight in zip(usable, weights, strict=True)
    ]


def typical_cost(items: Sequence[ClusterItem]) -> float | None:
    """Median tokens x median price per token; the median cost where tokens are unknown."""
    prices, tokens = positive(items, _price), positive(items, _tokens)
    if prices and tokens:
        return median(tokens) * median(prices)
    costs = positive(items, _cost)
    return median(costs) if costs else None


def latency_test(found: Candidates, cs: ClusterSlices) -> None:
    """Latency per item grew: the median per item, the rank test. Info, a warning from
    `WARNING_LATENCY_RATIO`."""
    _median_growth(found, cs, AlertKind.LATENCY_SPIKE, _latency, WARNING_LATENCY_RATIO)


def _median_growth(
    found: Candidates, cs: ClusterSlices, kind: AlertKind, value: Value, warning_ratio: float
) -> None:
    """`kind`'s one test of cluster `cs`: the median of `value` per item after each look's
    start against the baseline's, by the rank test, the smallest weighted p over the looks;
    info, or a warning when the median grew `warning_ratio` times or more."""
    t, cid, family = found.t, cs.cluster.cluster_id, kind.family
    if family is None or len(positive(cs.baseline, value)) < t.min_items:
        return
    best: tuple[float, Look, float, float] | None = None
    looks = _looks(found, cs, value)
    for look in looks:
        recent, base = positive(look.recent, value), positive(look.base, value)
        before, after = median(base), median(recent)
        if look.whole_day:
            found.observed[(cid, family)] = after
        if not holds(family, 1, before, after, t):
            continue
        p_value = weighted(rank_test_greater(recent, base), look.weight)
        if best is None or p_value < best[0]:
            best = (p_value, look, before, after)
    if not looks:
        return
    found.tests += 1
    if best is None:
        return
    corrected, look, before, after = best
    warning = reaches(after / before, warning_ratio)
    items = (len(positive(look.base, value)), len(positive(look.recent, value)))
    alert = found.alert(
        cs,
        kind,
        Severity.WARNING if warning else Severity.INFO,
        (before, after),
        items,
        corrected,
        look.start,
        test="rank test",
    )
    found.add(alert, corrected)


def error_test(found: Candidates, cs: ClusterSlices) -> None:
    t, cid = found.t, cs.cluster.cluster_id
    if sum(1 for i in cs.baseline if i.has_values) < t.min_items:
        return
    best: tuple[float, Look, float, float, int, int] | None = None
    looks = _looks(found, cs, _with_values)
    for look in looks:
        recent = [i for i in look.recent if i.has_values]
        base = [i for i in look.base if i.has_values]
        errors = sum(1 for i in recent if (i.errors or 0) > 0)
        base_errors = sum(1 for i in base if (i.errors or 0) > 0)
        before, after = base_errors / len(base), errors / len(recent)
        if look.whole_day:
            found.observed[(cid, Family.ERRORS)] = after
        if not holds(Family.ERRORS, 1, before, after, t):
            continue
        p_value = count_test(errors, len(recent), base_errors, len(base))[0]
        p_value = weighted(p_value, look.weight)
        if best is None or p_value < best[0]:
            best = (p_value, look, before, after, len(base), len(recent))
    if not looks:
        return
    found.tests += 1
    if best is None:
        return
    corrected, look, before, after, base_count, count = best
    severity = Severity.CRITICAL if reaches(after, CRITICAL_ERROR_RATE) else Severity.WARNING
    alert = found.alert(
        cs,
        AlertKind.ERROR_HEAVY,
        severity,
        (before, after),
        (base_count, count),
        corrected,
        look.start,
        test="Fisher's exact test",
    )
    found.add(alert, corrected)


def _after(item: ClusterItem, moment: datetime) -> bool:
    return item.timestamp is not None and item.timestamp > moment


def _latency(item: ClusterItem) -> float | None:
    return item.latency


def _with_values(item: ClusterItem) -> float | None:
    return 1.0 if item.has_values else None


def token_test(found: Candidates, cs: ClusterSlices) -> None:
    """Tokens per item grew (prompt bloat, retry loops, a longer context): the median per item,
    the rank test; it sees the growth where cost cannot (models without a price) or does not
    yet pass the cost floor. Info, a warning from `WARNING_TOKEN_RATIO`."""
    _median_growth(found, cs, AlertKind.TOKEN_GROWTH, _tokens, WARNING_TOKEN_RATIO)


VALUE_TESTS = (
    ("cost", cost_test),
    ("latency", latency_test),
    ("errors", error_test),
    ("tokens", token_test),
)
"""The per-item value tests of a real cluster, by name (`fresh.CLUSTER_TESTS`)."""
