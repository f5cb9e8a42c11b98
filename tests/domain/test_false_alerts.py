"""False alerts and catches on simulated stable-but-noisy runs (seeded, pure, no I/O).

The simulator mimics what PostHog does between two daily runs of one job:

- 6-10 latent topics with fixed true shares, each with per-item cost (lognormal), latency
  (lognormal) and error (Bernoulli, p 0.02-0.05) distributions;
- a 2,500-item pool per window; the next window keeps the newest 58 % of the pool and adds
  fresh traffic, and each run samples 1,500 items, so ~35 % of ids are shared between runs
  (the figure reference/posthog.md 1.9 gives);
- clustering by topic with ~8 % of items thrown into noise afresh each run; cluster ids
  reshuffled; each title picked among 3 paraphrases (and a description to go with it).

An item keeps its cost, latency and error when both runs sample it (it is the same trace).
Planted changes, on a topic with a true share of at least 8 %, apply to the current run's *new*
items (ids the previous run did not see, ~65 %): cost x3; errors at p = 0.5; enough new
traffic moved to the topic that its expected share of the run doubles; a new topic taking
12 % of the run; or the topic removed from the current run altogether.

Measured over 200 seeds with the default thresholds: 0 false alerts on stable pairs, every
topic matched to its own cluster, every plant caught except cost x3 in 2 of 200, both on the
cheapest topic ($0.0011 per item), whose rise stays under the $0.001 floor.

A stress variant also puts 2 % of items in a random wrong cluster each run. That is harsher
than HDBSCAN, which sends ambiguous items to noise, and it shows the known weak spot of the
cost rule: a mean over a cheap cluster moves a lot when two or three items from a 30x more
expensive topic land in it, and aggregate metrics carry no variance to test against.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, replace
from enum import StrEnum

import pytest

from bot.domain.compare import diff_runs
from bot.domain.models import NOISE_CLUSTER_ID, ClusteringRun, ClusterMetrics
from bot.domain.rules import AlertKind, RuleResult, Thresholds, evaluate_rules
from tests.support.factories import make_cluster, make_run

SEEDS = range(20)
POOL_SIZE = 2_500
SAMPLE_SIZE = 1_500
POOL_KEPT = 1_458  # 1458 * (1500/2500)^2 = 525 shared ids = 35 % of a run
NOISE_P = 0.08
MISASSIGNED_P = 0.02  # stress only: items put in a random wrong cluster
HAS_DATA_P = 0.97

# (paraphrased (title, description) x 3, median cost USD, median latency s)
Entry = tuple[tuple[tuple[str, str], ...], float, float]
CATALOGUE: dict[str, Entry] = {
    "sql": (
        (
            ("SQL generation for dashboards", "- Users ask for HogQL\n- Model returns SQL"),
            ("Writing HogQL queries for insights", "- Query writing requests\n- SQL output"),
            ("Dashboard query authoring", "- Natural language to SQL\n- Insight queries"),
        ),
        0.004,
        2.5,
    ),
    "rag": (
        (
            ("RAG document retrieval", "- Search over PDFs\n- Answers with citations"),
            ("Answering questions from uploaded documents", "- Document Q&A\n- Citations"),
            ("Retrieval-augmented answers over docs", "- Retrieval over files"),
        ),
        0.012,
        4.0,
    ),
    "billing": (
        (
            ("Billing and refund requests", "- Refunds\n- Invoice questions"),
            ("Questions about invoices and refunds", "- Invoices\n- Refund policy"),
            ("Customer billing support", "- Payment problems\n- Refunds"),
        ),
        0.002,
        1.5,
    ),
    "code": (
        (
            ("Code review assistance", "- Pull request reviews\n- Style suggestions"),
            ("Reviewing pull requests with the assistant", "- PR feedback"),
            ("Automated code review comments", "- Review of diffs\n- Suggestions"),
        ),
        0.02,
        6.0,
    ),
    "translate": (
        (
            ("Translating product copy", "- UI strings\n- Marketing text"),
            ("Translation of marketing text", "- Localisation requests"),
            ("Localising interface strings", "- Translate UI text\n- Languages"),
        ),
        0.001,
        1.0,
    ),
    "summarize": (
        (
            ("Summarising support tickets", "- Ticket digests\n- Key points"),
            ("Support ticket summaries", "- Condensing long tickets"),
            ("Condensing customer conversations", "- Conversation summaries"),
        ),
        0.003,
        2.0,
    ),
    "onboarding": (
        (
            ("Onboarding questions from new users", "- Setup help\n- First steps"),
            ("Getting started help", "- Installation\n- First project"),
            ("New user setup guidance", "- SDK install questions"),
        ),
        0.002,
        1.8,
    ),
    "email": (
        (
            ("Drafting outbound sales emails", "- Cold outreach\n- Follow-ups"),
            ("Sales email writing", "- Prospecting emails"),
            ("Composing follow-up emails to leads", "- Lead nurturing"),
        ),
        0.005,
        3.0,
    ),
    "classify": (
        (
            ("Intent classification of chat messages", "- Label user intent"),
            ("Classifying incoming messages by intent", "- Routing labels"),
            ("Message routing and tagging", "- Intent tags\n- Routing"),
        ),
        0.0008,
        0.6,
    ),
    "agent": (
        (
            ("Multi-step agent tool calls", "- Tool use loops\n- Web browsing"),
            ("Agentic workflows calling tools", "- Planning and tool calls"),
            ("Autonomous task agent runs", "- Long tool chains"),
        ),
        0.03,
        12.0,
    ),
    "extract": (
        (
            ("Extracting fields from invoices", "- Structured JSON output"),
            ("Invoice data extraction", "- Parse totals and dates"),
            ("Structured extraction from receipts", "- JSON fields from documents"),
        ),
        0.006,
        3.5,
    ),
    "chitchat": (
        (
            ("Casual small talk with the assistant", "- Greetings\n- Jokes"),
            ("Greetings and chit-chat", "- Small talk"),
            ("Off-topic conversation", "- Jokes and banter"),
        ),
        0.0012,
        0.9,
    ),
}
NEW_TOPIC = "images"
NEW_TOPIC_ENTRY: Entry = (
    (
        ("Image captioning requests", "- Describe uploaded images"),
        ("Describing photos for alt text", "- Alt text generation"),
        ("Generating captions for pictures", "- Captions\n- Accessibility"),
    ),
    0.008,
    5.0,
)


class Plant(StrEnum):
    COST_X3 = "cost_x3"
    ERRORS = "errors"
    SIZE_X2 = "size_x2"
    NEW_TOPIC = "new_topic"
    REMOVED = "removed"


EXPECTED_KIND = {
    Plant.COST_X3: AlertKind.COST_SPIKE,
    Plant.ERRORS: AlertKind.ERROR_HEAVY,
    Plant.SIZE_X2: AlertKind.SIZE_SHIFT,
    Plant.NEW_TOPIC: AlertKind.NEW_CLUSTER,
    Plant.REMOVED: AlertKind.VANISHED_CLUSTER,
}


@dataclass(frozen=True)
class Topic:
    key: str
    share: float
    cost_median: float
    latency_median: float
    error_p: float


@dataclass(frozen=True)
class Item:
    item_id: str
    topic: str
    cost: float
    latency: float
    error: bool
    has_data: bool


@dataclass(frozen=True)
class SimRun:
    run: ClusteringRun
    cluster_of: dict[str, int]  # topic -> cluster id in this run


class World:
    """The traffic of one seeded deployment: topics, a sliding pool, item generation."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        count = self.rng.randint(6, 10)
        keys = self.rng.sample(sorted(CATALOGUE), count)
        weights = [self.rng.uniform(1.0, 4.0) for _ in keys]
        self.topics = {
            key: Topic(
                key=key,
                share=weight / sum(weights),
                cost_median=CATALOGUE[key][1],
                latency_median=CATALOGUE[key][2],
                error_p=self.rng.uniform(0.02, 0.05),
            )
            for key, weight in zip(keys, weights, strict=True)
        }
        self._next_id = 0

    def item(self, topic: Topic, rng: random.Random) -> Item:
        self._next_id += 1
        return Item(
            item_id=f"s{self.seed}-i{self._next_id}",
            topic=topic.key,
            cost=rng.lognormvariate(math.log(topic.cost_median), 0.8),
            latency=rng.lognormvariate(math.log(topic.latency_median), 0.5),
            error=rng.random() < topic.error_p,
            has_data=rng.random() < HAS_DATA_P,
        )

    def traffic(self, count: int, rng: random.Random) -> list[Item]:
        topics = list(self.topics.values())
        picks = rng.choices(topics, weights=[t.share for t in topics], k=count)
        return [self.item(topic, rng) for topic in picks]

    def big_topic(self, rng: random.Random) -> Topic:
        return rng.choice([t for t in self.topics.values() if t.share >= 0.08])


def cluster_run(
    items: list[Item],
    run_id: str,
    rng: random.Random,
    catalogue: dict[str, Entry] = CATALOGUE,
    misassigned: float = 0.0,
) -> SimRun:
    """'Cluster' items by topic with noise and jitter; shuffle ids; paraphrase titles."""
    topics = sorted({item.topic for item in items})
    cluster_of = dict(zip(topics, rng.sample(range(len(topics)), len(topics)), strict=True))
    members: dict[int, list[Item]] = {cid: [] for cid in cluster_of.values()}
    members[NOISE_CLUSTER_ID] = []
    for item in items:
        roll = rng.random()
        if roll < NOISE_P:
            members[NOISE_CLUSTER_ID].append(item)
        elif roll < NOISE_P + misassigned:
            members[cluster_of[rng.choice(topics)]].append(item)
        else:
            members[cluster_of[item.topic]].append(item)
    label = {cid: rng.choice(catalogue[topic][0]) for topic, cid in cluster_of.items()}
    clusters = [
        make_cluster(
            cid,
            title=label[cid][0] if cid in label else "Outliers",
            description=label[cid][1] if cid in label else "- Items that did not fit",
            item_ids=[item.item_id for item in group],
            metrics=metrics(group),
        )
        for cid, group in sorted(members.items(), key=lambda kv: (kv[0] < 0, kv[0]))
    ]
    return SimRun(make_run(*clusters, run_id=run_id), cluster_of)


def metrics(group: list[Item]) -> ClusterMetrics:
    """PostHog's aggregate semantics: averages over items with data and a value > 0."""
    with_data = [item for item in group if item.has_data]
    if not with_data:
        return ClusterMetrics(item_count=0)
    errors = sum(item.error for item in with_data)
    return ClusterMetrics(
        avg_cost=sum(item.cost for item in with_data) / len(with_data),
        avg_latency=sum(item.latency for item in with_data) / len(with_data),
        total_cost=sum(item.cost for item in with_data),
        error_rate=errors / len(with_data),
        error_count=errors,
        item_count=len(with_data),
    )


@dataclass(frozen=True)
class Scenario:
    previous: SimRun
    current: SimRun
    target: str  # the topic a plant changed ("" for a stable pair)


def scenario(seed: int, plant: Plant | None, misassigned: float = 0.0) -> Scenario:
    world = World(seed)
    rng = world.rng
    pool = world.traffic(POOL_SIZE, rng)
    sample0 = rng.sample(pool, SAMPLE_SIZE)
    pool1 = pool[POOL_SIZE - POOL_KEPT :] + world.traffic(POOL_SIZE - POOL_KEPT, rng)
    sample1 = rng.sample(pool1, SAMPLE_SIZE)
    # Plants and labels draw from their own streams, so every plant sees the same base runs.
    labels = random.Random(f"{seed}-labels")
    previous = cluster_run(sample0, f"run-{seed}-0", labels, misassigned=misassigned)
    prng = random.Random(f"{seed}-{plant}")
    seen = {item.item_id for item in sample0}
    sample1, target, catalogue = apply_plant(world, plant, sample1, seen, prng)
    current = cluster_run(sample1, f"run-{seed}-1", labels, catalogue, misassigned)
    return Scenario(previous, current, target)


def apply_plant(
    world: World, plant: Plant | None, items: list[Item], seen: set[str], rng: random.Random
) -> tuple[list[Item], str, dict[str, Entry]]:
    if plant is None:
        return items, "", CATALOGUE
    new_fraction = sum(item.item_id not in seen for item in items) / len(items)
    target = world.big_topic(rng)
    out: list[Item] = []
    for item in items:
        new = item.item_id not in seen
        if plant is Plant.COST_X3 and new and item.topic == target.key:
            item = replace(item, cost=item.cost * 3)
        elif plant is Plant.ERRORS and new and item.topic == target.key:
            item = replace(item, error=rng.random() < 0.5)
        elif plant is Plant.SIZE_X2 and new and item.topic != target.key:
            # Move enough new traffic to the target that its expected run share doubles.
            if rng.random() < target.share / (new_fraction * (1 - target.share)):
                item = world.item(target, rng)
        elif plant is Plant.NEW_TOPIC and new:
            if rng.random() < 0.12 / new_fraction:
                images = Topic(NEW_TOPIC, 0.12, NEW_TOPIC_ENTRY[1], NEW_TOPIC_ENTRY[2], 0.03)
                item = world.item(images, rng)
        elif plant is Plant.REMOVED and item.topic == target.key:
            while item.topic == target.key:
                item = world.traffic(1, rng)[0]
        out.append(item)
    if plant is Plant.NEW_TOPIC:
        return out, NEW_TOPIC, {**CATALOGUE, NEW_TOPIC: NEW_TOPIC_ENTRY}
    return out, target.key, CATALOGUE


def evaluate(s: Scenario) -> RuleResult:
    return evaluate_rules(diff_runs(s.previous.run, s.current.run), Thresholds())


def test_simulated_runs_share_about_a_third_of_their_items() -> None:
    s = scenario(0, None)
    shared = {i.item_id for c in s.previous.run.clusters for i in c.items} & {
        i.item_id for c in s.current.run.clusters for i in c.items
    }
    assert 0.30 <= len(shared) / SAMPLE_SIZE <= 0.40


def count_stable_alerts(misassigned: float) -> tuple[Counter[str], int]:
    """False alerts by kind over `SEEDS` stable pairs, and topics matched to the wrong cluster."""
    false_alerts: Counter[str] = Counter()
    mismatches = 0
    for seed in SEEDS:
        s = scenario(seed, None, misassigned)
        diff = diff_runs(s.previous.run, s.current.run)
        for topic, previous_id in s.previous.cluster_of.items():
            match = diff.match_for_previous(previous_id)
            if match is None or match.current.cluster_id != s.current.cluster_of[topic]:
                mismatches += 1
        false_alerts.update(str(a.kind) for a in evaluate_rules(diff, Thresholds()).alerts)
    return false_alerts, mismatches


def test_stable_runs_match_every_topic_and_raise_at_most_one_false_alert() -> None:
    false_alerts, mismatches = count_stable_alerts(misassigned=0.0)
    print(f"stable pairs: {len(SEEDS)}, false alerts: {dict(false_alerts)}")
    assert mismatches == 0
    assert sum(false_alerts.values()) <= 1


def test_stable_runs_with_misassigned_items_stay_matched_and_rarely_alert() -> None:
    # Measured over 200 seeds: 17 false cost spikes and 1 latency spike (~9 % of pairs), all on
    # clusters under $0.003 per item (module docstring). Here we guard against it getting worse.
    false_alerts, mismatches = count_stable_alerts(misassigned=MISASSIGNED_P)
    print(f"stable pairs, 2% misassigned: {len(SEEDS)}, false alerts: {dict(false_alerts)}")
    assert mismatches == 0
    assert set(false_alerts) <= {"cost_spike", "latency_spike"}
    assert sum(false_alerts.values()) <= 3


@pytest.mark.parametrize("plant", list(Plant))
def test_planted_change_is_caught_on_the_right_cluster_for_every_seed(plant: Plant) -> None:
    kind = EXPECTED_KIND[plant]
    missed: list[int] = []
    extra: Counter[str] = Counter()
    for seed in SEEDS:
        s = scenario(seed, plant)
        alerts = evaluate(s).alerts
        if kind is AlertKind.VANISHED_CLUSTER:
            expected = s.previous.cluster_of[s.target]
            hits = [a for a in alerts if a.kind is kind and a.previous_cluster_id == expected]
        else:
            expected = s.current.cluster_of[s.target]
            hits = [a for a in alerts if a.kind is kind and a.cluster_id == expected]
        if not hits:
            missed.append(seed)
        extra.update(str(a.kind) for a in alerts if a not in hits)
    caught = len(SEEDS) - len(missed)
    # "Other alerts" are mostly true knock-on effects: when a topic grows, vanishes or a new
    # one appears, the other topics' shares move too.
    print(f"{plant}: caught {caught}/{len(SEEDS)}, other alerts: {dict(extra)}")
    assert missed == []
