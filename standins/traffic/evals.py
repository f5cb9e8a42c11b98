"""Evaluation level: each item is an `$ai_evaluation` event (an LLM judge's verdict on one
generation), shaped as PostHog's evaluation clustering emits it.

Shapes follow PostHog (`evaluation_clustering/event_emission.py`): the `traces` key and the
`generation_id` are the `$ai_evaluation` event's UUID; `trace_id` is the evaluated trace, or
that UUID again when the evaluation could not be joined to a trace (here ~5%, modelled as an
evaluation event without `$ai_trace_id`); every item's `timestamp` is the run's window end.

The evaluation-only metrics are an approximation (PostHog's exact aggregation is not in this
project's references): `pass_rate` = passes / items with a verdict, `na_rate` = items without a
verdict / items, `dominant_evaluation_name` = the commonest name, `dominant_runtime` = "llm_judge",
`avg_judge_cost` = mean judge cost. An item's cost, latency and tokens are the judge call's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.traffic.topics import MODELS, Topic
from standins.traffic.traffic import Draw, Effect

JUDGE_MODEL = "gpt-4.1-mini"
EVALUATION_NAMES = ("Helpfulness", "Hallucination check", "Tone of voice", "Answer correctness")
UNJOINED_P = 0.05
FAIL_P = 0.1  # a judge fails this share of healthy generations
NA_P = 0.05  # and gives no verdict on this share


@dataclass(frozen=True, slots=True)
class EvalNumbers:
    name: str
    result: bool | None
    judge_tokens: int
    judge_cost: float
    judge_latency: float
    joined: bool
    moment: float  # epoch seconds of the `$ai_evaluation` event


def evaluation_name(topic: Topic) -> str:
    return EVALUATION_NAMES[sum(map(ord, topic.key)) % len(EVALUATION_NAMES)]


def evaluation_numbers(
    draw: Draw, topic: Topic, effect: Effect, erroring: bool, tokens: int
) -> EvalNumbers:
    """The judge's verdict on the draw's generation; its random parts come from the draw's
    event seed, so they are known without building events."""
    seed = draw.event_seed
    verdict_u = ((seed >> 16) & 0xFFFF) / 65536
    result: bool | None
    if verdict_u < NA_P:
        result = None
    else:
        result = not erroring and verdict_u >= NA_P + FAIL_P
    _, price_in, price_out = MODELS[JUDGE_MODEL]
    judge_tokens = tokens + 300
    cost = round((tokens * price_in + 300 * price_out) / 1e6 * effect.cost, 10)
    latency = round(1.2 * draw.gens[0][2] * effect.latency, 3)
    return EvalNumbers(
        name=evaluation_name(topic),
        result=result,
        judge_tokens=judge_tokens,
        judge_cost=cost,
        judge_latency=latency,
        joined=(seed & 0xFF) / 256 >= UNJOINED_P,
        moment=draw.moment + 60 + (seed >> 40) % 900,
    )


def evaluation_values(ev: EvalNumbers) -> dict[str, float | int]:
    return {
        "cost": ev.judge_cost,
        "latency": ev.judge_latency,
        "input_tokens": ev.judge_tokens - 300,
        "output_tokens": 300,
        "tokens": ev.judge_tokens,
        "error_count": 0,
    }


def evaluation_event(
    uid: str, ev: EvalNumbers, trace_id: str, target_id: str, distinct_id: str
) -> dict[str, Any]:
    moment = datetime.fromtimestamp(ev.moment, UTC)
    verdict = {True: "passes", False: "fails", None: "cannot be judged"}[ev.result]
    props: dict[str, Any] = {
        "$ai_evaluation_name": ev.name,
        "$ai_evaluation_result": ev.result,
        "$ai_evaluation_reasoning": f"The response {verdict} the {ev.name.lower()} criteria.",
        "$ai_evaluation_runtime": "llm_judge",
        "$ai_target_event_id": target_id,
        "$ai_model": JUDGE_MODEL,
        "$ai_input_tokens": ev.judge_tokens - 300,
        "$ai_output_tokens": 300,
        "$ai_latency": ev.judge_latency,
        "$ai_total_cost_usd": ev.judge_cost,
    }
    if ev.joined:
        props["$ai_trace_id"] = trace_id
    return {
        "uuid": uid,
        "event": "$ai_evaluation",
        "timestamp": moment,
        "distinct_id": distinct_id,
        "properties": props,
    }


def evaluation_metrics(verdicts: list[tuple[str, bool | None, float]]) -> dict[str, Any]:
    """The evaluation-only metrics of one cluster from (name, result, judge cost) per item."""
    if not verdicts:
        return {}
    judged = [r for _, r, _ in verdicts if r is not None]
    names = Counter(name for name, _, _ in verdicts)
    return {
        "pass_rate": sum(judged) / len(judged) if judged else None,
        "na_rate": (len(verdicts) - len(judged)) / len(verdicts),
        "dominant_evaluation_name": names.most_common(1)[0][0],
        "dominant_runtime": "llm_judge",
        "avg_judge_cost": sum(c for _, _, c in verdicts) / len(verdicts),
    }


def window_end_stamp(end: datetime) -> str:
    return (end.astimezone(UTC) + timedelta(0)).isoformat(timespec="microseconds")
