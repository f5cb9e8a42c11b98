"""The `$ai_*` events behind one clustered item, built from the item's numbers.

Item metrics follow `posthog/temporal/ai_observability/trace_clustering/data.py:
fetch_item_metrics`: at trace level `cost = Σ $ai_total_cost_usd` and `tokens = Σ input + output`
over `$ai_generation` + `$ai_embedding`, `latency = Σ $ai_latency` over `$ai_generation`,
`error_count = #($ai_is_error = 'true')` over generation/embedding/span events; at generation
level the same fields of the one `$ai_generation` event. `Numbers.values()` computes them
without building events; the events built here carry exactly those numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.traffic.evals import EvalNumbers, evaluation_event, evaluation_values
from standins.traffic.topics import EMBEDDING_MODEL, ERROR_MESSAGES, Topic
from standins.traffic.traffic import (
    FLOOD_USER,
    NEW_TRACE_NAME,
    RATE_LIMIT_ERROR,
    SWITCH_MODELS,
    Cause,
    Draw,
    Numbers,
)

STRING_COST_P = 0.01  # share of cost properties sent as numeric strings


@dataclass(frozen=True, slots=True)
class ItemMetrics:
    cost: float | None
    latency: float | None
    input_tokens: int | None
    output_tokens: int | None
    error_count: int


@dataclass(frozen=True, slots=True)
class Item:
    """One clustered item: a trace (trace level) or a `$ai_generation` (generation level)."""

    item_id: str
    trace_id: str
    generation_id: str | None
    topic: str
    timestamp: datetime  # first event of the trace / the generation / the evaluated generation
    outlier: bool
    metrics: ItemMetrics
    evaluation: tuple[str, bool | None] | None = None  # (name, result) at evaluation level
    # when PostHog's hourly summarizer summarized it; None when the world simulates no
    # summarizer (every item of traffic is a candidate for the runs)
    summarized_at: datetime | None = None


def uuid_text(value: int) -> str:
    """`str(uuid.UUID(int=value))` for a 128-bit `value`, without the constructor's checks: a
    world has ids by the hundred thousand."""
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# uuid.UUID(int=…, version=4) sets the variant (10) and the version (4) bits.
_VERSION_4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_VERSION_4_SET = (0x8000 << 48) | (4 << 76)


def uuid4_from(bits: int) -> str:
    """`str(uuid.UUID(int=bits, version=4))` for 128 random `bits`."""
    return uuid_text(bits & _VERSION_4_CLEAR | _VERSION_4_SET)


def uuid4(rng: random.Random) -> str:
    return uuid4_from(rng.getrandbits(128))


def uuid7_from(bits: int, moment: datetime) -> str:
    """A uuid7-shaped id (PostHog event uuids are uuid7) whose time part is `moment`; `bits`
    holds the 74 random bits."""
    millis = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | (0x7 << 76) | ((bits >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (bits & ((1 << 62) - 1))
    return uuid_text(value)


def uuid7(rng: random.Random, moment: datetime) -> str:
    return uuid7_from(rng.getrandbits(74), moment)


def make_item(
    draw: Draw,
    level: str,
    nums: Numbers,
    ev: EvalNumbers | None = None,
    summarized_at: datetime | None = None,
) -> Item:
    """The clustered item: at evaluation level the `$ai_evaluation` event (`ev`), keyed by its
    UUID, with that UUID as `trace_id` too when it could not be joined to its trace."""
    moment = datetime.fromtimestamp(draw.moment, UTC)
    trace_id = uuid4_from(draw.trace_bits)
    if ev is not None:
        item_id = uuid7_from(draw.gen_bits, datetime.fromtimestamp(ev.moment, UTC))
        generation_id: str | None = item_id
        trace_id = trace_id if ev.joined else item_id
        values = evaluation_values(ev)
    else:
        generation_id = uuid7_from(draw.gen_bits, moment) if level == "generation" else None
        item_id = generation_id or trace_id
        values = nums.values()
    return Item(
        item_id=item_id,
        trace_id=trace_id,
        generation_id=generation_id,
        topic=draw.topic,
        timestamp=moment,
        outlier=draw.outlier,
        metrics=ItemMetrics(
            cost=float(values["cost"]),
            latency=float(values["latency"]),
            input_tokens=int(values["input_tokens"]),
            output_tokens=int(values["output_tokens"]),
            error_count=int(values["error_count"]),
        ),
        evaluation=(ev.name, ev.result) if ev is not None else None,
        summarized_at=summarized_at,
    )


def _event(
    uid: str, name: str, moment: datetime, distinct_id: str, props: dict[str, Any]
) -> dict[str, Any]:
    return {
        "uuid": uid,
        "event": name,
        "timestamp": moment,
        "distinct_id": distinct_id,
        "properties": props,
    }


def _cost_value(rng: random.Random, cost: float) -> float | str:
    return f"{cost:.10f}" if rng.random() < STRING_COST_P else cost


class EventBuilder:
    """Builds an item's events; the texts and minor ids come from the item's own event seed."""

    def __init__(self, users_rng: random.Random, *, level: str, job_id: str, job_name: str):
        self.level = level
        self.job_id = job_id
        self.job_name = job_name
        self.users = [f"user_{users_rng.getrandbits(32):08x}" for _ in range(60)]

    def events(
        self, item: Item, draw: Draw, topic: Topic, nums: Numbers, ev: EvalNumbers | None = None
    ) -> list[dict[str, Any]]:
        rng = random.Random(draw.event_seed)
        gen_level = self.level != "trace"
        trace_id = uuid4_from(draw.trace_bits)
        distinct_id = rng.choice(self.users)
        if (
            nums.cause is Cause.USER_FLOOD
            and random.Random(~draw.event_seed).random() < nums.flood_p
        ):
            distinct_id = FLOOD_USER  # its own draw: the item's other values stay as they were
        gen_model, gen_provider = topic.model, topic.provider
        if nums.cause is Cause.MODEL_SWITCH:
            gen_model, gen_provider = next(m for m in SWITCH_MODELS if m[0] != topic.model)
        session_id = f"session_{rng.getrandbits(40):010x}" if rng.random() < 0.6 else None
        prompt = rng.choice(topic.prompts).format(n=rng.randint(2, 400))
        common: dict[str, Any] = {"$ai_trace_id": trace_id}
        if session_id:
            common["$ai_session_id"] = session_id
        start = item.timestamp
        cursor = start
        parent = trace_id
        events: list[dict[str, Any]] = []
        span: dict[str, Any] | None = None
        if nums.span:
            span_id = uuid4(rng)
            span = _event(
                uuid7(rng, cursor),
                "$ai_span",
                cursor,
                distinct_id,
                {
                    **common,
                    "$ai_span_id": span_id,
                    "$ai_span_name": f"{topic.trace_name}.step",
                    "$ai_parent_id": trace_id,
                    "$ai_input_state": {"query": prompt},
                    "$ai_is_error": nums.erroring,
                },
            )
            if nums.erroring:
                span["properties"]["$ai_error"] = "A step of the trace failed"
            events.append(span)
            parent = span_id
            cursor += timedelta(milliseconds=rng.randint(5, 40))
        if nums.embedding is not None:
            model, provider, _ = EMBEDDING_MODEL
            tokens, cost, latency = nums.embedding
            events.append(
                _event(
                    uuid7(rng, cursor),
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
        generations = list(nums.generations)
        target = ""  # the first generation's uuid: what an evaluation judges
        if gen_level and rng.random() < 0.3:  # a follow-up generation, not the clustered item
            generations.append(_follow_up(rng, topic, generations[0]))
        for index, gen in enumerate(generations):
            props: dict[str, Any] = {
                **common,
                "$ai_parent_id": parent,
                "$ai_model": gen_model,
                "$ai_provider": gen_provider,
                "$ai_input": [
                    {"role": "system", "content": f"You help with {topic.trace_name}."},
                    {"role": "user", "content": prompt},
                ],
                "$ai_output_choices": []
                if gen.is_error
                else [{"role": "assistant", "content": f"Here is the answer about: {prompt[:60]}"}],
                "$ai_input_tokens": gen.input_tokens,
                "$ai_output_tokens": gen.output_tokens,
                "$ai_input_cost_usd": gen.input_cost,
                "$ai_output_cost_usd": gen.output_cost,
                "$ai_total_cost_usd": _cost_value(rng, gen.total_cost),
                "$ai_latency": gen.latency,
                "$ai_is_error": gen.is_error,
                "$ai_http_status": 200,
            }
            if gen.is_error:
                status, message = rng.choice(ERROR_MESSAGES)
                if nums.cause is Cause.RATE_LIMIT:
                    status, message = RATE_LIMIT_ERROR
                props["$ai_http_status"] = status
                props["$ai_error"] = message
            clustered = self.level == "generation" and index == 0
            uid = item.item_id if clustered else uuid7(rng, cursor)
            target = target or uid
            events.append(_event(uid, "$ai_generation", cursor, distinct_id, props))
            cursor += timedelta(seconds=gen.latency, milliseconds=rng.randint(5, 200))
        if span is not None:
            span["properties"]["$ai_latency"] = round((cursor - start).total_seconds(), 3)
            span["properties"]["$ai_output_state"] = {"steps": len(generations)}
        events.append(
            _event(
                uuid7(rng, cursor),
                "$ai_trace",
                cursor,
                distinct_id,
                {
                    **common,
                    "$ai_trace_name": NEW_TRACE_NAME
                    if nums.cause is Cause.NEW_TRACE_NAME
                    else topic.trace_name,
                    "$ai_input_state": {"messages": [{"role": "user", "content": prompt}]},
                    "$ai_output_state": {"status": "error" if nums.erroring else "ok"},
                    "$ai_latency": round((cursor - start).total_seconds(), 3),
                    "$ai_is_error": nums.erroring,
                },
            )
        )
        if ev is not None:
            events.append(evaluation_event(item.item_id, ev, trace_id, target, distinct_id))
        else:
            events.append(self._summary(rng, item, topic, prompt, cursor))
        return events

    def _summary(
        self, rng: random.Random, item: Item, topic: Topic, prompt: str, end: datetime
    ) -> dict[str, Any]:
        moment = end + timedelta(minutes=rng.randint(20, 70))
        moment = item.summarized_at or moment  # with the summarizer: when it wrote the summary
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
        return _event(uuid7(rng, moment), name, moment, f"clustering_{self.level}_summaries", props)


def _follow_up(rng: random.Random, topic: Topic, first: Any) -> Any:
    """A short second generation of the same trace (generation level only)."""
    price_in, price_out = topic.prices
    tokens_in = first.input_tokens + first.output_tokens + rng.randint(10, 200)
    tokens_out = max(1, round(topic.output_tokens * rng.lognormvariate(-0.5, 0.5)))
    cost_in = round(tokens_in * price_in, 10)
    cost_out = round(tokens_out * price_out, 10)
    return type(first)(
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        input_cost=cost_in,
        output_cost=cost_out,
        total_cost=round(cost_in + cost_out, 10),
        latency=round(topic.latency * rng.lognormvariate(-0.125, 0.5), 3),
        is_error=False,
    )
