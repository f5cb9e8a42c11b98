"""The `$ai_*` events behind one clustered item, and the item's metrics as PostHog computes them.

Metrics follow `posthog/temporal/ai_observability/trace_clustering/data.py: fetch_item_metrics`:
at trace level `cost = Σ $ai_total_cost_usd` and `tokens = Σ input + output` over
`$ai_generation` + `$ai_embedding`, `latency = Σ $ai_latency` over `$ai_generation`,
`error_count = #($ai_is_error = 'true')` over generation/embedding/span events; at generation
level the same fields of the one `$ai_generation` event.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandbox.generator_topics import EMBEDDING_MODEL, ERROR_MESSAGES, Topic

STRING_COST_P = 0.01  # share of cost properties sent as numeric strings


@dataclass(frozen=True)
class ItemMetrics:
    cost: float | None
    latency: float | None
    input_tokens: int | None
    output_tokens: int | None
    error_count: int


@dataclass(frozen=True)
class Item:
    """One clustered item: a trace (trace level) or a `$ai_generation` (generation level)."""

    item_id: str
    trace_id: str
    generation_id: str | None
    topic: str
    timestamp: datetime  # first event of the trace / the generation
    outlier: bool
    metrics: ItemMetrics


def uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def uuid7(rng: random.Random, moment: datetime) -> str:
    """A uuid7-shaped id (PostHog event uuids are uuid7) whose time part is `moment`."""
    millis = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64)
    value |= (0b10 << 62) | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def _event(
    rng: random.Random, name: str, moment: datetime, distinct_id: str, props: dict[str, Any]
) -> dict[str, Any]:
    return {
        "uuid": uuid7(rng, moment),
        "event": name,
        "timestamp": moment,
        "distinct_id": distinct_id,
        "properties": props,
    }


def _vary(rng: random.Random, mean: float, sigma: float = 0.3) -> float:
    return mean * rng.lognormvariate(0.0, sigma)


def _cost_value(rng: random.Random, cost: float) -> float | str:
    return f"{cost:.10f}" if rng.random() < STRING_COST_P else cost


@dataclass(frozen=True)
class Behaviour:
    """How new items of a topic behave in the current run (changes alter these)."""

    cost_mult: float = 1.0
    error_p: float | None = None  # None: the topic's own error rate


class ItemFactory:
    def __init__(self, rng: random.Random, *, level: str, job_id: str, job_name: str) -> None:
        self.rng = rng
        self.level = level
        self.job_id = job_id
        self.job_name = job_name
        self.users = [f"user_{rng.getrandbits(32):08x}" for _ in range(60)]

    def make(
        self, topic: Topic, start: datetime, behaviour: Behaviour, outlier: bool
    ) -> tuple[Item, list[dict[str, Any]]]:
        rng = self.rng
        error_p = topic.error_p if behaviour.error_p is None else behaviour.error_p
        erroring = rng.random() < error_p
        trace_id = uuid4(rng)
        distinct_id = rng.choice(self.users)
        session_id = f"session_{rng.getrandbits(40):010x}" if rng.random() < 0.6 else None
        prompt = rng.choice(topic.prompts).format(n=rng.randint(2, 400))
        events: list[dict[str, Any]] = []
        common: dict[str, Any] = {"$ai_trace_id": trace_id}
        if session_id:
            common["$ai_session_id"] = session_id
        cursor = start
        parent = trace_id

        gen_level = self.level == "generation"
        n_gen = 1 if gen_level else rng.randint(*topic.generations)
        if gen_level and rng.random() < 0.3:
            n_gen = 2  # a follow-up generation that is not the clustered item
        has_span = not gen_level and rng.random() < topic.span_p
        has_embedding = not gen_level and rng.random() < topic.embedding_p

        span: dict[str, Any] | None = None
        if has_span:
            span_id = uuid4(rng)
            span = _event(
                rng,
                "$ai_span",
                cursor,
                distinct_id,
                {
                    **common,
                    "$ai_span_id": span_id,
                    "$ai_span_name": f"{topic.trace_name}.step",
                    "$ai_parent_id": trace_id,
                    "$ai_input_state": {"query": prompt},
                    "$ai_is_error": False,
                },
            )
            events.append(span)
            parent = span_id
            cursor += timedelta(milliseconds=rng.randint(5, 40))

        if has_embedding:
            model, provider, price = EMBEDDING_MODEL
            tokens = max(1, round(_vary(rng, 250)))
            cost = round(tokens * price / 1e6 * behaviour.cost_mult, 10)
            latency = round(_vary(rng, 0.2), 3)
            events.append(
                _event(
                    rng,
                    "$ai_embedding",
                    cursor,
                    distinct_id,
                    {
                        **common,
                        "$ai_parent_id": parent,
                        "$ai_model": model,
                        "$ai_provider": provider,
                        "$ai_input": prompt,
                        "$ai_input_tokens": tokens,
                        "$ai_latency": latency,
                        "$ai_http_status": 200,
                        "$ai_is_error": False,
                        "$ai_total_cost_usd": _cost_value(rng, cost),
                    },
                )
            )
            cursor += timedelta(seconds=latency)

        price_in, price_out = topic.prices
        generations: list[dict[str, Any]] = []
        for index in range(n_gen):
            is_error = erroring and index == (0 if gen_level else n_gen - 1)
            tokens_in = max(1, round(_vary(rng, topic.input_tokens)))
            tokens_out = 0 if is_error else max(1, round(_vary(rng, topic.output_tokens)))
            cost_in = round(tokens_in * price_in * behaviour.cost_mult, 10)
            cost_out = round(tokens_out * price_out * behaviour.cost_mult, 10)
            latency = round(_vary(rng, topic.latency, 0.35), 3)
            props: dict[str, Any] = {
                **common,
                "$ai_parent_id": parent,
                "$ai_model": topic.model,
                "$ai_provider": topic.provider,
                "$ai_input": [
                    {"role": "system", "content": f"You help with {topic.trace_name}."},
                    {"role": "user", "content": prompt},
                ],
                "$ai_output_choices": []
                if is_error
                else [{"role": "assistant", "content": f"Here is the answer about: {prompt[:60]}"}],
                "$ai_input_tokens": tokens_in,
                "$ai_output_tokens": tokens_out,
                "$ai_input_cost_usd": cost_in,
                "$ai_output_cost_usd": cost_out,
                "$ai_total_cost_usd": _cost_value(rng, round(cost_in + cost_out, 10)),
                "$ai_latency": latency,
                "$ai_is_error": is_error,
                "$ai_http_status": 200,
            }
            if is_error:
                status, message = rng.choice(ERROR_MESSAGES)
                props["$ai_http_status"] = status
                props["$ai_error"] = message
                if span is not None:
                    span["properties"]["$ai_is_error"] = True
                    span["properties"]["$ai_error"] = message
            generation = _event(rng, "$ai_generation", cursor, distinct_id, props)
            generations.append(generation)
            events.append(generation)
            cursor += timedelta(seconds=latency, milliseconds=rng.randint(5, 200))

        if span is not None:
            span["properties"]["$ai_latency"] = round((cursor - start).total_seconds(), 3)
            span["properties"]["$ai_output_state"] = {"steps": n_gen}
        events.append(
            _event(
                rng,
                "$ai_trace",
                cursor,
                distinct_id,
                {
                    **common,
                    "$ai_trace_name": topic.trace_name,
                    "$ai_input_state": {"messages": [{"role": "user", "content": prompt}]},
                    "$ai_output_state": {"status": "error" if erroring else "ok"},
                    "$ai_latency": round((cursor - start).total_seconds(), 3),
                    "$ai_is_error": erroring,
                },
            )
        )

        item_generation = generations[0] if gen_level else None
        metrics = self._metrics(events, item_generation)
        item = Item(
            item_id=item_generation["uuid"] if item_generation else trace_id,
            trace_id=trace_id,
            generation_id=item_generation["uuid"] if item_generation else None,
            topic=topic.key,
            timestamp=start,
            outlier=outlier,
            metrics=metrics,
        )
        events.append(self._summary(item, topic, prompt, distinct_id, cursor))
        return item, events

    @staticmethod
    def _metrics(events: list[dict[str, Any]], generation: dict[str, Any] | None) -> ItemMetrics:
        def num(value: object) -> float:
            return float(value) if isinstance(value, int | float | str) else 0.0

        if generation is not None:
            p = generation["properties"]
            return ItemMetrics(
                cost=num(p["$ai_total_cost_usd"]),
                latency=num(p["$ai_latency"]),
                input_tokens=int(p["$ai_input_tokens"]),
                output_tokens=int(p["$ai_output_tokens"]),
                error_count=1 if p["$ai_is_error"] is True else 0,
            )
        costed = [
            e["properties"] for e in events if e["event"] in ("$ai_generation", "$ai_embedding")
        ]
        gens = [e["properties"] for e in events if e["event"] == "$ai_generation"]
        counted = [
            e["properties"]
            for e in events
            if e["event"] in ("$ai_generation", "$ai_embedding", "$ai_span")
        ]
        outputs = [int(p["$ai_output_tokens"]) for p in costed if "$ai_output_tokens" in p]
        return ItemMetrics(
            cost=sum(num(p.get("$ai_total_cost_usd")) for p in costed),
            latency=sum(num(p.get("$ai_latency")) for p in gens),
            input_tokens=sum(int(p.get("$ai_input_tokens", 0)) for p in costed),
            output_tokens=sum(outputs) if outputs else None,
            error_count=sum(1 for p in counted if p.get("$ai_is_error") is True),
        )

    def _summary(
        self, item: Item, topic: Topic, prompt: str, distinct_id: str, end: datetime
    ) -> dict[str, Any]:
        rng = self.rng
        moment = end + timedelta(minutes=rng.randint(20, 70))
        gen_level = self.level == "generation"
        props: dict[str, Any] = {
            "$ai_trace_id": item.trace_id,
            "$ai_summary_mode": "minimal",
            "$ai_summary_title": f"{topic.titles[0]}: {prompt[:50]}",
            "$ai_summary_bullets": "\n".join(f"- {b}" for b in topic.bullets[:2]),
            "$ai_batch_run_id": f"summary_{moment:%Y%m%d%H}",
            "$ai_clustering_job_id": self.job_id,
            "$ai_clustering_job_name": self.job_name,
            "trace_timestamp": item.timestamp.isoformat(timespec="microseconds"),
        }
        if gen_level:
            props["$ai_generation_id"] = item.generation_id
        name = "$ai_generation_summary" if gen_level else "$ai_trace_summary"
        return _event(rng, name, moment, f"clustering_{self.level}_summaries", props)
