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

Latency is made the same way where the data say so: a model writes its answer token by token,
so a generation's time is mostly its output tokens times the time per token. Where output
tokens explain a cluster's latency (`explained`: latency per output token spreads clearly less
than latency), a slower model or provider is plain in latency per output token, and latency is
tested in the same three parts (latency, latency per output token, output tokens per item);
elsewhere latency per item alone, as before.
"""

from __future__ import annotations

import math
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


Parts = tuple[tuple[str | None, Value], ...]
"""A value per item and the two parts whose product it is (latency nearly: it also holds the
time to the first token): (None, the value), (a name, the value per unit), (a name, units per
item)."""

COST_PARTS: Parts = (
    (None, _cost),
    ("price per token", _price),
    ("tokens per item", _tokens),
)


def _latency(item: ClusterItem) -> float | None:
    return item.latency


def _latency_per_token(item: ClusterItem) -> float | None:
    if item.latency is None or not item.output_tokens or item.output_tokens <= 0:
        return None
    return item.latency / item.output_tokens


def _output_tokens(item: ClusterItem) -> float | None:
    return item.output_tokens


LATENCY_PARTS: Parts = (
    (None, _latency),
    ("latency per output token", _latency_per_token),
    ("output tokens per item", _output_tokens),
)
EXPLAINED = 0.75
"""A model spends most of a generation's time writing its output, token by token, so a slower
model or provider is plain in latency per output token, where the length of the answers adds
noise to latency itself. Output tokens explain a cluster's latency when log latency per output
token spreads at most this much as log latency over all of the cluster's items (then latency is
tested in parts, like cost); else latency per item alone is tested. Which items are fresh does
not enter the choice, so each rank test keeps its level."""
MIN_EXPLAINED = 20
"""Fewer items with latency per output token than this and the spreads are not compared."""


def cost_test(found: Candidates, cs: ClusterSlices) -> None:
    t = found.t
    if len(positive(cs.baseline, _cost)) < t.min_items or typical_cost(cs.baseline) is None:
        return
    _parts_growth(found, cs, AlertKind.COST_SPIKE, COST_PARTS, _cost_severity)


def _cost_severity(ratio: float) -> Severity:
    return Severity.CRITICAL if reaches(ratio, CRITICAL_COST_RATIO) else Severity.WARNING


def _parts_growth(
    found: Candidates,
    cs: ClusterSlices,
    kind: AlertKind,
    parts: Parts,
    severity: Callable[[float], Severity],
) -> None:
    """`kind`'s one test of cluster `cs` on a value and its parts (`tested_parts`): each part's
    rank test at each look, Bonferroni over the parts within the look's weight; the alert is
    about the value's typical level (`typical`), moved by the parts that moved (`parts_ratio`),
    and names the part that carried the evidence."""
    t, cid, family = found.t, cs.cluster.cluster_id, kind.family
    assert family is not None
    total = parts[0][1]
    best: tuple[float, str | None, Look, float, float] | None = None
    looks = _looks(found, cs, total)
    for look in looks:
        before = typical(look.base, parts) or 0.0
        tested = tested_parts(look.recent, look.base, t, parts)
        after = before * parts_ratio(tested, parts)
        if look.whole_day:
            found.observed[(cid, family)] = after
        for name, (p_value, _) in tested.items():
            corrected = weighted(p_value, look.weight / len(tested))  # Bonferroni: parts
            if best is None or corrected < best[0]:
                best = (corrected, name, look, before, after)
    if not looks:
        return
    found.tests += 1
    assert best is not None  # a look holds enough items of the value itself, its first part
    corrected, part, look, before, after = best
    if before <= 0 or not holds(family, 1, before, after, t):
        return
    items = (len(positive(look.base, total)), len(positive(look.recent, total)))
    alert = found.alert(
        cs, kind, severity(after / before), (before, after), items, corrected, look.start,
        test="rank test", part=part,
    )  # fmt: skip
    found.add(alert, corrected)


def tested_parts(
    recent: Sequence[ClusterItem],
    base: Sequence[ClusterItem],
    t: Thresholds,
    parts: Parts = COST_PARTS,
) -> dict[str | None, tuple[float, float]]:
    """Each part (`COST_PARTS`, `LATENCY_PARTS`) with enough items on both sides: the rank
    test's p-value that it grew, and the ratio of its medians."""
    tested: dict[str | None, tuple[float, float]] = {}
    for name, value in parts:
        after, before = positive(recent, value), positive(base, value)
        if len(after) >= t.min_fresh_items and len(before) >= t.min_items:
            tested[name] = rank_test_greater(after, before), median(after) / median(before)
    return tested


def parts_ratio(tested: dict[str | None, tuple[float, float]], parts: Parts = COST_PARTS) -> float:
    """How much the typical value per item moved: the product of the parts' median ratios,
    each part counted only where its own test shows it moved (`PART_MOVED`; else it is taken
    as unchanged, so the tokens' wide spread does not blur a price step); the ratio of median
    values when no part is known or none moved."""
    known = [tested[name] for name, _ in parts[1:] if name in tested]
    moved = [ratio for p_value, ratio in known if p_value < PART_MOVED]
    if len(known) < len(parts) - 1 or not moved:
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
    return typical(items, COST_PARTS)


def typical(items: Sequence[ClusterItem], parts: Parts) -> float | None:
    """The product of the two parts' medians; the median value where the parts are unknown."""
    per_unit, units = positive(items, parts[1][1]), positive(items, parts[2][1])
    if per_unit and units:
        return median(units) * median(per_unit)
    values = positive(items, parts[0][1])
    return median(values) if values else None


def latency_test(found: Candidates, cs: ClusterSlices) -> None:
    """Latency per item grew: in parts (latency per output token, output tokens per item) where
    output tokens explain the cluster's latency (`explained`), else the median per item; the
    rank test either way. Info, a warning from `WARNING_LATENCY_RATIO`."""
    # a list, not a tuple: read once, so kept out of `positive`'s cache of the tests' tuples
    if not explained([*cs.baseline, *cs.recent]):
        _median_growth(found, cs, AlertKind.LATENCY_SPIKE, _latency, WARNING_LATENCY_RATIO)
    elif len(positive(cs.baseline, _latency)) >= found.t.min_items:
        _parts_growth(found, cs, AlertKind.LATENCY_SPIKE, LATENCY_PARTS, _latency_severity)


def _latency_severity(ratio: float) -> Severity:
    return Severity.WARNING if reaches(ratio, WARNING_LATENCY_RATIO) else Severity.INFO


def explained(items: Sequence[ClusterItem]) -> bool:
    """Whether output tokens explain the latency of `items` (`EXPLAINED`)."""
    per_token = positive(items, _latency_per_token)
    if len(per_token) < MIN_EXPLAINED:
        return False
    return _log_spread(per_token) <= EXPLAINED * _log_spread(positive(items, _latency))


def _log_spread(values: Sequence[float]) -> float:
    """The median absolute deviation of the values' logarithms: heavy tails do not move it."""
    logs = [math.log(v) for v in values]
    centre = median(logs)
    return median([abs(v - centre) for v in logs])


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
