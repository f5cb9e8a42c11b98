"""Why a cluster changed: the one to three factors behind an alert, or nothing. Pure.

The alert cycle knows which items of a cluster are fresh and which are the baseline
(`slices.py`); one PostHog query gives each item its traits (model, provider, tokens, error,
trace name, user, session). This module compares the two sides trait by trait and names a
factor only when it explains a clear majority of the change (`MAJORITY`) and passes its own
significance test (`SIGNIFICANCE`); otherwise it names nothing rather than guess.

- cost and latency: the change of the mean is split into a mix effect (the fresh items use
  other models than the baseline) and a rate effect (same model, other values); the rate effect
  is traced to input tokens, output tokens or generations per trace when one of them moved;
- errors: the error signature (HTTP status and error type) that is new, and the provider or
  model most of those failures come from;
- size shifts and new clusters: a user, session, trace name or model that holds an outsized
  share of the fresh items where it held little of the baseline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.kinds import AlertKind, Cause
from bot.domain.stats import count_test, median, rank_test_greater

MAJORITY = 0.6
"""A factor explains at least this share of the change (or of the fresh failures/items)."""
SIGNIFICANCE = 0.01
"""Each factor's own test must reach this p-value (a hint, not an alert: no BH needed)."""
MIN_ITEMS = 5
"""Fewer fresh or baseline items than this and nothing is said."""
MIN_RATE_RATIO = 1.5
"""Tokens or generations per item must move at least this much to be named."""
OUTSIZED = 0.3
"""A user, session, trace name or model holds at least this share of the fresh items (one user
of many producing a third of the new traffic is what a flood looks like)..."""
RARE = 0.15
"""...where it held at most this share of the baseline (and a third as much as now)."""
CONCENTRATION = 0.8
"""Failures 'come from' one provider or model when it has at least this share of them."""
MAX_FACTORS = 3
DOMINANT = 0.75
"""A factor this large (share of the change) earns a clause on the alert's parent line."""


class Dimension(StrEnum):
    """What a factor is about; the renderer words each and links it to PostHog."""

    MODEL_MIX = "model_mix"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    GENERATIONS = "generations"
    ERROR = "error"
    PROVIDER = "provider"
    MODEL = "model"
    USER = "user"
    SESSION = "session"
    NAME = "name"


@dataclass(frozen=True, slots=True)
class ItemTraits:
    """What PostHog's events say of one item; empty strings where the events say nothing.

    `model`/`provider` are those of the item's costliest generation; `error` is the first
    error's type or message and `http_status` its status (`""` when the item did not fail)."""

    item_id: str
    trace_id: str
    cost: float = 0.0
    latency: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    generations: int = 1
    model: str = ""
    provider: str = ""
    error: str = ""
    http_status: str = ""
    name: str = ""
    user: str = ""
    session: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error or self.http_status)

    @property
    def signature(self) -> str:
        """How a failure reads: "429 RateLimitError"."""
        return " ".join(part for part in (self.http_status, self.error) if part)


@dataclass(frozen=True, slots=True)
class Factor:
    """One reason. `value` is the model, error, user... (untrusted text: escape it);
    `before`/`after` are what moved (shares as fractions, or per-item means); `explains` is the
    share of the change (or of the failures / fresh items) it accounts for; `trace_id` is a
    fresh item that shows it, for a link."""

    dimension: Dimension
    value: str
    before: float
    after: float
    explains: float
    p_value: float
    trace_id: str = ""
    count: int = 0
    total: int = 0

    @property
    def dominant(self) -> bool:
        return self.explains >= DOMINANT


Traits = Sequence[ItemTraits]


def explain(kind: AlertKind, fresh: Traits, baseline: Traits) -> list[Factor]:
    """The factors behind an alert of `kind` (those its `KindSpec.cause` names), strongest
    first; `[]` when nothing is clear."""
    if len(fresh) < MIN_ITEMS:
        return []
    cause = kind.spec.cause
    if cause is Cause.COST:
        found = explain_values(fresh, baseline, lambda i: i.cost)
    elif cause is Cause.LATENCY:
        found = explain_values(fresh, baseline, lambda i: i.latency)
    elif cause is Cause.ERRORS:
        found = explain_errors(fresh, baseline)
    elif cause is Cause.TRAFFIC:
        found = explain_traffic(fresh, baseline)
    else:
        found = []
    return sorted(found, key=lambda f: -f.explains)[:MAX_FACTORS]


def explain_values(
    fresh: Traits, baseline: Traits, value: Callable[[ItemTraits], float]
) -> list[Factor]:
    """Mix and rate effects of a rise of `value` per item (cost or latency).

    With shares s_m and means u_m per model, fresh minus baseline mean is
    Σ (s'_m − s_m)·u_m (mix: other models at their old rates) + Σ s'_m·(u'_m − u_m) (rate).
    A model's term counts only when its own change is significant (its share by Fisher's test,
    its values by the rank test): two misplaced items of a model a hundred times pricier move
    the means more than a real change, and are noise all the same."""
    if len(baseline) < MIN_ITEMS:
        return []
    mix_by_model: dict[str, float] = {}
    rate_by_model: dict[str, float] = {}
    for model in {i.model for i in (*fresh, *baseline)}:
        then = [value(i) for i in baseline if i.model == model]
        now = [value(i) for i in fresh if i.model == model]
        # A model new to the cluster has no old rate: its mix effect is priced at its new one.
        unit = _avg(then) if then else _avg(now)
        more, fewer = count_test(len(now), len(fresh), len(then), len(baseline))
        if min(more, fewer) < SIGNIFICANCE:
            mix_by_model[model] = (len(now) / len(fresh) - len(then) / len(baseline)) * unit
        if min(len(now), len(then)) >= MIN_ITEMS and rank_test_greater(now, then) < SIGNIFICANCE:
            rate_by_model[model] = len(now) / len(fresh) * (_avg(now) - _avg(then))
    mix, rate = sum(mix_by_model.values()), sum(rate_by_model.values())
    change = max(mix, 0.0) + max(rate, 0.0)
    if change <= 0:
        return []
    factors: list[Factor] = []
    if mix / change >= MAJORITY:
        model = max(mix_by_model, key=lambda m: mix_by_model[m])
        hits = sum(1 for i in fresh if i.model == model)
        other = sum(1 for i in baseline if i.model == model)
        p_value, _ = count_test(hits, len(fresh), other, len(baseline))
        if p_value < SIGNIFICANCE and model:
            factors.append(
                Factor(
                    Dimension.MODEL_MIX,
                    model,
                    other / len(baseline),
                    hits / len(fresh),
                    mix / change,
                    p_value,
                    _first_with(fresh, _model, model),
                    hits,
                    len(fresh),
                )
            )
    if rate / change >= MAJORITY:
        factors.extend(_rate_factors(fresh, baseline, rate / change))
    return factors


def _rate_factors(fresh: Traits, baseline: Traits, explains: float) -> list[Factor]:
    """Same model, more of something: compare each model's items with its own baseline."""
    found: list[Factor] = []
    measures: list[tuple[Dimension, Callable[[ItemTraits], float]]] = [
        (Dimension.INPUT_TOKENS, lambda i: i.input_tokens),
        (Dimension.OUTPUT_TOKENS, lambda i: i.output_tokens),
        (Dimension.GENERATIONS, lambda i: float(i.generations)),
    ]
    for dimension, measure in measures:
        ratios: list[float] = []
        p_values: list[float] = []
        for model in {i.model for i in fresh}:
            now = [measure(i) for i in fresh if i.model == model]
            then = [measure(i) for i in baseline if i.model == model]
            if len(now) < MIN_ITEMS or len(then) < MIN_ITEMS or median(then) <= 0:
                continue
            ratios.append(median(now) / median(then))
            p_values.append(rank_test_greater(now, then))
        if not ratios or min(p_values) >= SIGNIFICANCE or median(ratios) < MIN_RATE_RATIO:
            continue
        found.append(
            Factor(
                dimension,
                "",
                median([measure(i) for i in baseline]),
                median([measure(i) for i in fresh]),
                explains,
                min(p_values),
                fresh[0].trace_id,
            )
        )
    return found


def explain_errors(fresh: Traits, baseline: Traits) -> list[Factor]:
    """The failure signature that is new, and the provider or model it comes from."""
    failures = [i for i in fresh if i.failed]
    if len(failures) < MIN_ITEMS:
        return []
    counts = Counter(i.signature for i in failures)
    signature, hits = counts.most_common(1)[0]
    if hits / len(failures) < MAJORITY:
        return []
    other = sum(1 for i in baseline if i.failed and i.signature == signature)
    p_value, _ = count_test(hits, len(fresh), other, len(baseline)) if baseline else (0.0, 1.0)
    if p_value >= SIGNIFICANCE:
        return []
    these = [i for i in failures if i.signature == signature]
    factors = [
        Factor(
            Dimension.ERROR,
            signature,
            other / len(baseline) if baseline else 0.0,
            hits / len(fresh),
            hits / len(failures),
            p_value,
            these[0].trace_id,
            hits,
            len(failures),
        )
    ]
    for dimension, trait in ((Dimension.PROVIDER, _provider), (Dimension.MODEL, _model)):
        source, from_it = Counter(trait(i) for i in these).most_common(1)[0]
        if not source or from_it / len(these) < CONCENTRATION:
            continue
        # One source only means something if the cluster's traffic is not all from it anyway.
        served = sum(1 for i in fresh if trait(i) == source and not i.failed)
        healthy = sum(1 for i in fresh if not i.failed)
        p_source, _ = count_test(from_it, len(these), served, healthy)
        if healthy and p_source < SIGNIFICANCE:
            factors.append(
                Factor(
                    dimension,
                    source,
                    served / healthy,
                    from_it / len(these),
                    hits / len(failures),
                    p_source,
                    these[0].trace_id,
                    from_it,
                    len(these),
                )
            )
            break
    return factors


def explain_traffic(fresh: Traits, baseline: Traits) -> list[Factor]:
    """What the new traffic has in common that the old did not: one user, session, trace name
    or model with an outsized share of the fresh items."""
    found: list[Factor] = []
    traits: list[tuple[Dimension, Callable[[ItemTraits], str]]] = [
        (Dimension.USER, lambda i: i.user),
        (Dimension.SESSION, lambda i: i.session),
        (Dimension.NAME, lambda i: i.name),
        (Dimension.MODEL, _model),
    ]
    for dimension, trait in traits:
        value, hits = Counter(trait(i) for i in fresh).most_common(1)[0]
        share = hits / len(fresh)
        if not value or share < OUTSIZED or hits < MIN_ITEMS:
            continue
        other = sum(1 for i in baseline if trait(i) == value)
        before = other / len(baseline) if baseline else 0.0
        if before > RARE or before * 3 > share:
            continue
        if baseline:
            p_value, _ = count_test(hits, len(fresh), other, len(baseline))
        else:
            p_value = 0.0 if hits >= MIN_ITEMS else 1.0
        if p_value * len(traits) >= SIGNIFICANCE:  # four traits tried: Bonferroni
            continue
        found.append(
            Factor(
                dimension,
                value,
                before,
                share,
                share,
                p_value,
                _first_with(fresh, trait, value),
                hits,
                len(fresh),
            )
        )
    # A session belongs to one user: name the user alone when both hold the same items.
    users = {f.dimension: f for f in found}
    user, session = users.get(Dimension.USER), users.get(Dimension.SESSION)
    if user is not None and session is not None and session.count <= user.count:
        found.remove(session)
    return found


def _avg(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _model(item: ItemTraits) -> str:
    return item.model


def _provider(item: ItemTraits) -> str:
    return item.provider


def _first_with(items: Traits, trait: Callable[[ItemTraits], str], value: str) -> str:
    """A fresh item that shows the factor, for a link to its trace."""
    return next((i.trace_id for i in items if trait(i) == value), "")
