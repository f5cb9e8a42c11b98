"""Synthetic LLM traffic per day and topic, and what planted changes do to it.

Traffic is a Poisson process per (UTC day, topic): its rate is the topic's base rate times a
day factor (lognormal, σ = 0.1, independent per topic and day), so shares wobble naturally.
Every candidate item draws its random numbers (timestamp, token and latency factors, error
draw, ids) from a stream keyed by `(seed, job, day, topic, layer)`, so what a day holds never
depends on how many runs are simulated or on which of its items a run samples. The day is
counted from the world's anchor (the UTC midnight of its `now`), not named by its date: a world
generated around another `now` at the same time of day holds the same traffic, shifted.

Planted changes act on traffic after their start only:

- cost, latency and error rate change the values of items timestamped at or after the start;
- traffic volume is a rate multiplier m(t). It is realised by layers: layer j of a topic-day is
  an independent Poisson stream at the base rate whose candidates are kept with probability
  clamp(m(t) − j, 0, 1). Layer 0 alone is the unchanged traffic; a ×2.5 step adds layers 1
  and 2 after the start; a topic that stops keeps nothing of layer 0 after it. Adding a layer
  for a later change never alters the items of earlier layers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from standins.traffic.topics import EMBEDDING_MODEL, Topic

OUTLIER_P = 0.08  # genuine outliers: HDBSCAN leaves them in noise
TOKEN_SIGMA = 0.8  # lognormal spread of an item's token counts
LATENCY_SIGMA = 0.5  # lognormal spread of a generation's latency
JITTER_SIGMA = 0.2  # spread between the generations of one trace
DAY_FACTOR_SIGMA = 0.1
DAY = timedelta(days=1)


class Change(StrEnum):
    NONE = "none"
    COST_SPIKE = "cost_spike"  # price per token up (a price rise, or Cause.MODEL_SWITCH)
    ERROR_HEAVY = "error_heavy"
    LATENCY_SPIKE = "latency_spike"
    SIZE_SHIFT = "size_shift"
    NEW_CLUSTER = "new_cluster"
    VANISHED_CLUSTER = "vanished_cluster"


# Full-size (scale 1.0) magnitudes. A scale s moves each by the fraction s of its relative
# change: cost ×(1 + 2s), latency ×(1 + s), traffic ×(1 + 1.5s), a stopping topic keeps
# (1 − s) of its traffic, a new topic takes 8%·s of traffic, an error rate p moves to
# p + s·(45% − p).
COST_FACTOR = 3.0
LATENCY_FACTOR = 2.0
TRAFFIC_FACTOR = 2.5
ERROR_TARGET = 0.45
NEW_TOPIC_SHARE = 0.08


class Cause(StrEnum):
    """Why a planted change happened, as the events show it (the generator's own copy of the
    idea: nothing here is shared with the bot). `UNIFORM` is a change with no single cause:
    prices up evenly, same models, tokens and users."""

    UNIFORM = ""
    MODEL_SWITCH = "model_switch"  # cost: every new item on a pricier model, same tokens
    PROMPT_BLOAT = "prompt_bloat"  # cost: input tokens ×(1 + 3·scale) at the same prices
    USER_FLOOD = "user_flood"  # size shift: the extra traffic is one user's
    RATE_LIMIT = "rate_limit"  # errors: the new failures are one provider's 429s
    NEW_TRACE_NAME = "new_trace_name"  # new cluster: its traces carry a new trace name


BLOAT_FACTOR = 4.0
SWITCH_MODELS = (("gpt-4.1", "openai"), ("claude-opus-4", "anthropic"))
FLOOD_USER = "user_flood_0000001"
RATE_LIMIT_ERROR = (429, "RateLimitError: Rate limit reached for requests")
NEW_TRACE_NAME = "agent_v2_rollout"


@dataclass(frozen=True)
class Plant:
    """A planted step change, for `generate(planted={(job, run_index): Plant(...)})`."""

    kind: Change
    scale: float = 1.0
    cause: Cause = Cause.UNIFORM
    # on a topic no earlier step of its series changed (while one is left), so that its alert is
    # news rather than the continuation of an earlier change's
    untouched: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.kind, Change):
            object.__setattr__(self, "kind", Change(self.kind))
        if not isinstance(self.cause, Cause):
            object.__setattr__(self, "cause", Cause(self.cause))
        if not 0.0 < self.scale <= 2.0:
            raise ValueError("scale must be in (0, 2]")


def as_plant(change: Change | Plant | str) -> Plant:
    return change if isinstance(change, Plant) else Plant(Change(change))


@dataclass(frozen=True)
class Step:
    """A resolved planted change: which topic, from when."""

    kind: Change
    scale: float
    topic: str
    start: float  # epoch seconds
    cause: Cause = Cause.UNIFORM

    @property
    def traffic(self) -> float:
        if self.kind is Change.SIZE_SHIFT:
            return 1.0 + (TRAFFIC_FACTOR - 1.0) * self.scale
        if self.kind is Change.VANISHED_CLUSTER:
            return max(0.0, 1.0 - self.scale)
        return 1.0


@dataclass(frozen=True)
class Effect:
    cost: float = 1.0
    latency: float = 1.0
    error_p: float = 0.0
    traffic: float = 1.0
    cause: Cause = Cause.UNIFORM


class Effects:
    """The planted steps of one series, evaluated per topic and moment."""

    def __init__(self, base_error: dict[str, float]) -> None:
        self.base_error = base_error
        self.steps: list[Step] = []
        self.new_topics: dict[str, float] = {}  # topic → start of its traffic

    def add(self, step: Step) -> None:
        self.steps.append(step)
        if step.kind is Change.NEW_CLUSTER:
            self.new_topics[step.topic] = step.start

    def traffic(self, topic: str, moment: float) -> float:
        start = self.new_topics.get(topic)
        mult = 0.0 if start is not None and moment < start else 1.0
        for step in self.steps:
            if step.topic == topic and moment >= step.start:
                mult *= step.traffic
        return mult

    def max_traffic(self, topic: str, until: float) -> float:
        """The largest traffic multiplier of `topic` at any moment before `until`."""
        moments = [until - 1e-6] + [s.start for s in self.steps if s.start < until]
        return max(self.traffic(topic, m) for m in moments)

    def at(self, topic: str, moment: float) -> Effect:
        cost = latency = 1.0
        error_p = self.base_error.get(topic, 0.02)
        cause = Cause.UNIFORM
        for step in self.steps:
            if step.topic != topic or moment < step.start:
                continue
            cause = step.cause or cause
            if step.kind is Change.COST_SPIKE:
                cost *= 1.0 + (COST_FACTOR - 1.0) * step.scale
            elif step.kind is Change.LATENCY_SPIKE:
                latency *= 1.0 + (LATENCY_FACTOR - 1.0) * step.scale
            elif step.kind is Change.ERROR_HEAVY:
                error_p = min(1.0, error_p + step.scale * (ERROR_TARGET - error_p))
        return Effect(cost, latency, error_p, self.traffic(topic, moment), cause)


@dataclass(slots=True)
class Draw:
    """The random numbers behind one candidate item (before any change is applied)."""

    topic: str
    moment: float  # epoch seconds of its first event
    keep: float  # uniform, compared with the layer's acceptance
    trace_bits: int
    gen_bits: int
    event_seed: int
    outlier: bool
    error_u: float
    size: float  # token factor, lognormal(σ = TOKEN_SIGMA), mean 1
    gens: tuple[tuple[float, float, float], ...]  # (input, output, latency) factors
    span: bool
    embedding: tuple[float, float] | None  # (token, latency) factors


@dataclass(frozen=True, slots=True)
class Generation:
    input_tokens: int
    output_tokens: int
    input_cost: float
    output_cost: float
    total_cost: float
    latency: float
    is_error: bool


@dataclass(frozen=True, slots=True)
class Numbers:
    """Every numeric property of an item's events; its metrics are sums of these."""

    generations: tuple[Generation, ...]
    embedding: tuple[int, float, float] | None  # tokens, cost, latency
    span: bool
    erroring: bool
    cause: Cause = Cause.UNIFORM
    flood_p: float = 0.0  # of a USER_FLOOD item: the chance it is the flooding user's

    def values(self) -> dict[str, float | int]:
        """What PostHog's per-item metrics query returns for this item (trace level: sums over
        the trace's `$ai_generation`/`$ai_embedding`/`$ai_span` events, in event order)."""
        costs = [g.total_cost for g in self.generations]
        tokens_in = [g.input_tokens for g in self.generations]
        if self.embedding is not None:
            costs.insert(0, self.embedding[1])
            tokens_in.insert(0, self.embedding[0])
        errors = sum(1 for g in self.generations if g.is_error)
        errors += 1 if self.span and self.erroring else 0
        output = sum(g.output_tokens for g in self.generations)
        return {
            "cost": sum(costs),
            "latency": sum(g.latency for g in self.generations),
            "input_tokens": sum(tokens_in),
            "output_tokens": output,
            "tokens": sum(tokens_in) + output,
            "error_count": errors,
        }


def numbers(
    draw: Draw, topic: Topic, effect: Effect, *, latency_by_tokens: bool = False
) -> Numbers:
    erroring = draw.error_u < effect.error_p
    price_in, price_out = topic.prices
    # Prompt bloat raises input tokens (×4 at full size, ×(1 + 3s) at scale s) at the same
    # price per token; any other cost change is a price per token change (a model switch or a
    # price rise), on the same tokens.
    bloat, price = 1.0, effect.cost
    if effect.cause is Cause.PROMPT_BLOAT:
        bloat = 1.0 + (BLOAT_FACTOR - 1.0) * (effect.cost - 1.0) / (COST_FACTOR - 1.0)
        price = 1.0
    last = len(draw.gens) - 1
    # The products below are those of one generation's formula, left to right, hoisted.
    input_size, output_size = topic.input_tokens * draw.size, topic.output_tokens * draw.size
    latency, slower = topic.latency, effect.latency
    generations = []
    for index, (f_in, f_out, f_latency) in enumerate(draw.gens):
        is_error = erroring and index == last
        tokens_in = max(1, round(input_size * f_in * bloat))
        tokens_out = 0 if is_error else max(1, round(output_size * f_out))
        cost_in = round(tokens_in * price_in * price, 10)
        cost_out = round(tokens_out * price_out * price, 10)
        generations.append(
            Generation(
                tokens_in,
                tokens_out,
                cost_in,
                cost_out,
                round(cost_in + cost_out, 10),  # total_cost
                round(
                    latency * _streamed(tokens_out, topic.output_tokens, f_latency) * slower
                    if latency_by_tokens
                    else latency * f_latency * slower,
                    3,
                ),
                is_error,
            )
        )
    embedding = None
    if draw.embedding is not None:
        tokens = max(1, round(250 * draw.embedding[0]))
        embedding = (
            tokens,
            round(tokens * EMBEDDING_MODEL[2] / 1e6 * price, 10),
            round(0.2 * draw.embedding[1], 3),
        )
    flood_p = 1.0 - 1.0 / effect.traffic if effect.traffic > 1.0 else 0.0
    return Numbers(tuple(generations), embedding, draw.span, erroring, effect.cause, flood_p)


FIRST_TOKEN_SHARE = 0.3
"""With latency by tokens: the share of a typical generation's time spent before its first output
token (prefill, queueing, the network); the rest is writing the output, token by token."""


def _streamed(tokens_out: int, typical_out: int, jitter: float) -> float:
    """A streamed generation's latency over its topic's mean: the time to the first token plus
    the output's tokens at the topic's pace, with half the log-spread of `jitter` (the answer's
    length carries the rest)."""
    writing = (1.0 - FIRST_TOKEN_SHARE) * tokens_out / max(1, typical_out)
    return (FIRST_TOKEN_SHARE + writing) * math.sqrt(jitter)


# `random.Random.normalvariate`'s constant (Kinderman and Monahan's ratio method).
NV_MAGICCONST = 4 * math.exp(-0.5) / math.sqrt(2.0)


def _lognormal_mean_one(random_: Callable[[], float], sigma: float) -> float:
    """`rng.lognormvariate(-σ²/2, σ)` with `random_ = rng.random`: the same numbers from the same
    draws, as `Random.normalvariate` makes them, without its two method calls (a day's traffic
    draws about a dozen of these per item, the generator's innermost loop)."""
    while True:
        u1 = random_()
        u2 = 1.0 - random_()
        z = NV_MAGICCONST * (u1 - 0.5) / u2
        if z * z / 4.0 <= -math.log(u2):
            return math.exp(-sigma * sigma / 2 + z * sigma)


StreamKey = tuple[datetime, str, int, float]  # (day, topic, layer, rate per day)


class Traffic:
    """Candidate items of one series, per (day, topic, layer), generated on demand."""

    def __init__(
        self,
        key: str,
        level: str,
        topics: dict[str, Topic],
        anchor: datetime,
        streams: dict[StreamKey, list[Draw]] | None = None,
    ) -> None:
        self.key = key  # "seed:job"
        self.anchor = anchor  # a UTC midnight; days are keyed by their distance from it
        self.level = level
        self.topics = topics
        # A stream depends only on the series (key, level, anchor) and its own key, so the
        # simulations of one series can share them (`sim.SeriesMemo`); they are never changed.
        self._streams: dict[StreamKey, list[Draw]] = {} if streams is None else streams
        self._factors: dict[tuple[datetime, str], float] = {}

    def _day_key(self, day: datetime) -> int:
        return (day - self.anchor).days

    def day_factor(self, day: datetime, topic: str) -> float:
        found = self._factors.get((day, topic))
        if found is None:
            rng = random.Random(f"{self.key}:factor:{self._day_key(day)}:{topic}")
            found = self._factors[(day, topic)] = rng.lognormvariate(0.0, DAY_FACTOR_SIGMA)
        return found

    def stream(self, day: datetime, topic: str, layer: int, rate: float) -> list[Draw]:
        """Layer `layer` of `topic`'s candidates on `day` (a UTC midnight), `rate` per day."""
        cached = self._streams.get((day, topic, layer, rate))
        if cached is not None:
            return cached
        rng = random.Random(f"{self.key}:traffic:{self._day_key(day)}:{topic}:{layer}")
        random_, bits = rng.random, rng.getrandbits
        spec = self.topics[topic]
        per_second = rate * self.day_factor(day, topic) / DAY.total_seconds()
        start = day.timestamp()
        end = start + DAY.total_seconds()
        draws: list[Draw] = []
        moment = start
        gen_level = self.level != "trace"  # one generation per generation/evaluation item
        while per_second > 0:
            moment += -math.log(1.0 - random_()) / per_second  # rng.expovariate(per_second)
            if moment >= end:
                break
            n_gen = 1 if gen_level else rng.randint(*spec.generations)
            # Positional, in the order of Draw's fields: each draws its numbers in that order.
            draws.append(
                Draw(
                    topic,
                    moment,
                    random_(),  # keep
                    bits(128),  # trace_bits
                    bits(74),  # gen_bits
                    bits(64),  # event_seed
                    random_() < OUTLIER_P,  # outlier
                    random_(),  # error_u
                    _lognormal_mean_one(random_, TOKEN_SIGMA),  # size
                    tuple(
                        [
                            (
                                _lognormal_mean_one(random_, JITTER_SIGMA),
                                _lognormal_mean_one(random_, JITTER_SIGMA),
                                _lognormal_mean_one(random_, LATENCY_SIGMA),
                            )
                            for _ in range(n_gen)
                        ]
                    ),  # gens
                    not gen_level and random_() < spec.span_p,  # span
                    (
                        (_lognormal_mean_one(random_, 0.3), _lognormal_mean_one(random_, 0.3))
                        if not gen_level and random_() < spec.embedding_p
                        else None
                    ),  # embedding
                )
            )
        self._streams[(day, topic, layer, rate)] = draws
        return draws


def days_between(start: datetime, end: datetime) -> list[datetime]:
    """The UTC midnights of every day that overlaps [start, end)."""
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    while day < end:
        days.append(day)
        day += DAY
    return days


def kept(draws: list[Draw], layer: int, effects: Effects) -> list[Draw]:
    """The candidates of a layer that the traffic multiplier keeps."""
    if not effects.steps and not effects.new_topics:
        return draws if layer == 0 else []
    return [d for d in draws if d.keep < min(1.0, effects.traffic(d.topic, d.moment) - layer)]


def layers_needed(effects: Effects, topic: str, until: float) -> int:
    return max(1, math.ceil(effects.max_traffic(topic, until) - 1e-9))
