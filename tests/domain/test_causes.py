"""The factors behind an alert: each planted cause is named, a uniform change names none."""

from __future__ import annotations

import random
from dataclasses import replace

from bot.domain.alerts import AlertKind
from bot.domain.causes import Dimension, ItemTraits, explain

PRICES = {"gpt-4.1-mini": 0.4e-6, "gpt-4.1": 8e-6, "claude-sonnet": 3e-6}
PROVIDERS = {"gpt-4.1-mini": "openai", "gpt-4.1": "openai", "claude-sonnet": "anthropic"}


def traffic(
    count: int, seed: int, prefix: str, *, models: tuple[str, ...] = ()
) -> list[ItemTraits]:
    """Heavy-tailed items (lognormal tokens), two cheap-ish models, many users and sessions."""
    rng = random.Random(seed)
    chosen = models or ("gpt-4.1-mini", "gpt-4.1-mini", "gpt-4.1-mini", "claude-sonnet")
    items = []
    for n in range(count):
        model = rng.choice(chosen)
        tokens_in = rng.lognormvariate(7.0, 0.8)
        tokens_out = rng.lognormvariate(5.5, 0.8)
        items.append(
            ItemTraits(
                item_id=f"{prefix}{n}",
                trace_id=f"{prefix}{n}",
                cost=(tokens_in + 3 * tokens_out) * PRICES[model],
                latency=0.5 + tokens_out / 60,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                model=model,
                provider=PROVIDERS[model],
                error="Timeout" if rng.random() < 0.02 else "",
                name=rng.choice(["answer", "answer", "triage"]),
                user=f"user-{rng.randrange(200)}",
                session=f"session-{rng.randrange(400)}",
            )
        )
    return items


def repriced(item: ItemTraits, model: str) -> ItemTraits:
    cost = (item.input_tokens + 3 * item.output_tokens) * PRICES[model]
    return replace(item, model=model, provider=PROVIDERS[model], cost=cost)


def test_explain_model_switch_names_the_model_mix() -> None:
    baseline = traffic(150, 1, "b")
    fresh = [repriced(i, "gpt-4.1") if n % 10 else i for n, i in enumerate(traffic(30, 2, "f"))]
    factors = explain(AlertKind.COST_SPIKE, fresh, baseline)
    assert [f.dimension for f in factors] == [Dimension.MODEL_MIX]
    assert factors[0].value == "gpt-4.1"
    assert factors[0].after > 0.8 and factors[0].before == 0.0
    assert factors[0].dominant


def test_explain_prompt_bloat_names_input_tokens() -> None:
    baseline = traffic(150, 3, "b")
    fresh = []
    for item in traffic(30, 4, "f"):
        bloated = item.input_tokens * 4
        cost = (bloated + 3 * item.output_tokens) * PRICES[item.model]
        fresh.append(replace(item, input_tokens=bloated, cost=cost))
    factors = explain(AlertKind.COST_SPIKE, fresh, baseline)
    assert [f.dimension for f in factors] == [Dimension.INPUT_TOKENS]
    assert factors[0].after > 3 * factors[0].before


def test_explain_uniform_price_rise_names_nothing() -> None:
    baseline = traffic(150, 5, "b")
    fresh = [replace(i, cost=i.cost * 3) for i in traffic(30, 6, "f")]
    assert explain(AlertKind.COST_SPIKE, fresh, baseline) == []


def test_explain_noise_alone_names_nothing() -> None:
    for seed in range(20):
        baseline = traffic(150, 100 + seed, "b")
        fresh = traffic(30, 200 + seed, "f")
        for kind in (AlertKind.COST_SPIKE, AlertKind.LATENCY_SPIKE, AlertKind.SIZE_SHIFT):
            assert explain(kind, fresh, baseline) == [], (seed, kind)


def test_explain_rate_limits_name_the_error_and_its_provider() -> None:
    baseline = traffic(150, 7, "b")
    fresh = traffic(40, 8, "f")
    fresh = [
        replace(i, error="RateLimitError", http_status="429")
        if i.provider == "openai" and n % 3
        else i
        for n, i in enumerate(fresh)
    ]
    factors = explain(AlertKind.ERROR_HEAVY, fresh, baseline)
    assert [f.dimension for f in factors] == [Dimension.ERROR, Dimension.PROVIDER]
    assert factors[0].value == "429 RateLimitError"
    assert factors[1].value == "openai"
    assert factors[1].count == factors[0].count


def test_explain_one_user_flooding_is_named() -> None:
    baseline = traffic(150, 9, "b")
    fresh = traffic(40, 10, "f")
    fresh = [
        replace(i, user="bot-<!channel>", session="s-flood") if n % 4 else i
        for n, i in enumerate(fresh)
    ]
    factors = explain(AlertKind.SIZE_SHIFT, fresh, baseline)
    assert [f.dimension for f in factors] == [Dimension.USER]
    assert factors[0].value == "bot-<!channel>"
    assert factors[0].count == 30


def test_explain_new_trace_name_is_named() -> None:
    baseline = traffic(150, 11, "b")
    fresh = [replace(i, name="refund-agent-v2") for i in traffic(30, 12, "f")]
    factors = explain(AlertKind.NEW_CLUSTER, fresh, baseline)
    assert [f.dimension for f in factors] == [Dimension.NAME]
    assert factors[0].value == "refund-agent-v2"


def test_explain_too_few_fresh_items_names_nothing() -> None:
    baseline = traffic(150, 13, "b")
    fresh = [repriced(i, "gpt-4.1") for i in traffic(4, 14, "f")]
    assert explain(AlertKind.COST_SPIKE, fresh, baseline) == []


def test_explain_a_user_with_two_of_six_new_items_is_not_a_flood() -> None:
    baseline = traffic(150, 15, "b")
    fresh = [replace(i, user="user-x") if n < 2 else i for n, i in enumerate(traffic(6, 16, "f"))]
    assert explain(AlertKind.SIZE_SHIFT, fresh, baseline) == []
