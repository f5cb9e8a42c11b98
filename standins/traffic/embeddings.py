"""PostHog's summary events and summary embeddings for a world generated with the summarizer on.

For every summarized item (sampled by a run or not, `World.summarized`), PostHog's summarizer
writes one `$ai_trace_summary` / `$ai_generation_summary` event and one embedding row
(`posthog/temporal/ai_observability/trace_summarization/summarize_and_save.py` and
`ee/hogai/llm_traces_summaries/tools/embed_summaries.py` @19194eff, the batch id as
`workflow.py` @11fd7f9b names it): `document_id` `{item_id}::{job_id}`,
`product` `llm-analytics`, the document type of the level, `rendering` `detailed`, `metadata`
`{batch_run_id, job_id}`, `timestamp` when the embedding was asked for (just after the summary).

The vectors: each topic of a series has a centre in a small latent space (`LATENT` dims); the
topics sit on a ring, so neighbouring topics are closer than the others, plus a random offset;
an item is its topic's centre plus Gaussian noise (outliers: more noise), raised into
`dimension` dims by a fixed random orthonormal map, plus a shared component (real embeddings of
one product are alike) and a little isotropic noise, then L2-normalised as OpenAI's are. With
the defaults the nearest topic centre (by cosine distance) is the item's own topic for about
90 % of items, so nearest-neighbour assignment is often right and sometimes wrong, as on real
data. Every vector is drawn from a stream keyed by (seed, job, item id): an item's embedding does
not depend on the runs or on the other items. Nothing here knows the bot.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from standins.traffic.events import Item
from standins.traffic.model import World
from standins.traffic.summarizer import SUMMARY_DELAY
from standins.traffic.topics_more import WIDE_CATALOG

DIMENSION = 3072  # text-embedding-3-large, PostHog's summary embedding model
LATENT = 16
SPACING = 1.0  # distance between neighbouring topic centres along the ring
OFFSET = 0.35  # per-dimension spread of the topic centres off the ring
NOISE = 0.55  # per-dimension spread of an item around its topic centre
OUTLIER_NOISE = 1.6  # the same for outliers (HDBSCAN's noise)
SHARED = 2.2  # weight of the component every embedding of the product shares
ISOTROPIC = 0.3  # norm of the noise outside the latent space
PRODUCT = "llm-analytics"
RENDERING = "detailed"
DOCUMENT_TYPES = {
    "trace": "llm-trace-summary-detailed",
    "generation": "llm-generation-summary-detailed",
}
SUMMARY_EVENTS = {"trace": "$ai_trace_summary", "generation": "$ai_generation_summary"}
MODEL_NAMES = {3072: "text-embedding-3-large-3072", 1536: "text-embedding-3-small-1536"}
_TOPICS = {topic.key: topic for topic in WIDE_CATALOG}


def model_name_for(dimension: int) -> str:
    """PostHog's model name for a real dimension; a sandbox name for any other."""
    return MODEL_NAMES.get(dimension, f"sandbox-embedding-{dimension}")


@dataclass(frozen=True)
class Summaries:
    """What PostHog's summarizer wrote for a world: summary events for the summarized items that
    have none among `World.events` yet, and one embedding row per summarized item (`rows[i]`
    holds every column but `embedding`, which is `vectors[i]`)."""

    events: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    vectors: np.ndarray
    model_name: str


def _rng(*key: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(str(k) for k in key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


@dataclass(frozen=True)
class _Space:
    """One series' embedding space: topic centres and the map into `dimension` dims."""

    centres: dict[str, np.ndarray]
    lift: np.ndarray  # (dimension, LATENT), orthonormal columns
    shared: np.ndarray  # (dimension,), unit

    @classmethod
    def build(cls, seed: int, job_id: str, topics: list[str], dimension: int) -> _Space:
        rng = _rng(seed, job_id, "embedding-space")
        ring = [topics[i] for i in rng.permutation(len(topics))]
        radius = SPACING * max(len(ring), 3) / (2 * math.pi)
        centres = {}
        for k, key in enumerate(ring):
            angle = 2 * math.pi * k / len(ring)
            centre = OFFSET * rng.standard_normal(LATENT)
            centre[0] = radius * math.cos(angle)
            centre[1] = radius * math.sin(angle)
            centres[key] = centre
        basis, _ = np.linalg.qr(rng.standard_normal((dimension, LATENT + 1)))
        return cls(centres=centres, lift=basis[:, 1:], shared=basis[:, 0])

    def vector(self, seed: int, job_id: str, item: Item) -> np.ndarray:
        rng = _rng(seed, job_id, item.item_id, "embedding")
        spread = OUTLIER_NOISE if item.outlier else NOISE
        latent = self.centres[item.topic] + spread * rng.standard_normal(LATENT)
        dimension = self.lift.shape[0]
        raw = SHARED * self.shared + self.lift @ latent
        raw += ISOTROPIC / math.sqrt(dimension) * rng.standard_normal(dimension)
        norm = float(np.linalg.norm(raw))
        return raw / norm


def _series_items(world: World) -> dict[str, tuple[str, str, str, list[str]]]:
    """job id → (level, job name, topics, summarized item ids of the series), oldest run first."""
    found: dict[str, tuple[str, str, str, list[str]]] = {}
    seen: set[str] = set()
    for run in sorted(world.runs, key=lambda r: r.window_end):
        level, job_id = run.series
        entry = found.setdefault(job_id, (level, run.job_name, job_id, []))
        for item_id in [i for ids in run.items.values() for i in ids] + list(run.unsampled):
            if item_id in world.summarized and item_id not in seen:
                seen.add(item_id)
                entry[3].append(item_id)
    return found


def _summarized_ids(world: World) -> set[str]:
    """Items that already have a summary event among the world's events."""
    found: set[str] = set()
    for event in world.events:
        if event["event"] in SUMMARY_EVENTS.values():
            props = event["properties"]
            found.add(str(props.get("$ai_generation_id") or props.get("$ai_trace_id")))
    return found


def summaries(world: World, *, dimension: int = DIMENSION) -> Summaries:
    """The summary events and embedding rows of every summarized item of `world` (see module
    doc). A world without the summarizer has none."""
    if dimension < LATENT + 1:
        raise ValueError(f"dimension must be at least {LATENT + 1}")
    model = model_name_for(dimension)
    team = world.params.team_id
    have_event = _summarized_ids(world)
    events: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    vectors: list[np.ndarray] = []
    for job_id, (level, job_name, _, item_ids) in _series_items(world).items():
        if level not in DOCUMENT_TYPES or not item_ids:
            continue
        items = [world.summarized[i] for i in item_ids]
        topics = sorted({item.topic for item in items})
        space = _Space.build(world.params.seed, job_id, topics, dimension)
        for item in items:
            written = item.summarized_at or item.timestamp
            batch_run_id = _batch_run_id(team, written, job_id)
            if item.item_id not in have_event:
                events.append(_summary_event(world, level, job_id, job_name, item, batch_run_id))
            vectors.append(space.vector(world.params.seed, job_id, item))
            rows.append(
                {
                    "team_id": team,
                    "product": PRODUCT,
                    "document_type": DOCUMENT_TYPES[level],
                    "model_name": model,
                    "rendering": RENDERING,
                    "document_id": f"{item.item_id}::{job_id}",
                    "timestamp": written + timedelta(seconds=3),
                    "inserted_at": written + timedelta(seconds=45),
                    "content": _content(item),
                    "metadata": {"batch_run_id": batch_run_id, "job_id": job_id},
                }
            )
    matrix = np.vstack(vectors) if vectors else np.zeros((0, dimension))
    return Summaries(events=events, rows=rows, vectors=matrix, model_name=model)


def _batch_run_id(team: int, written: datetime, job_id: str) -> str:
    """`{team}_{workflow start}_{job}` as the summarization workflow names its batch."""
    started = written - timedelta(seconds=SUMMARY_DELAY - 1800)
    return f"{team}_{started.astimezone(UTC).isoformat()}_{job_id}"


def _content(item: Item) -> str:
    topic = _TOPICS[item.topic]
    bullets = "\n".join(f"- {b}" for b in topic.bullets[:3])
    return f"Title: {topic.titles[0]}\n\nSummary:\n{bullets}"


def _summary_event(
    world: World, level: str, job_id: str, job_name: str, item: Item, batch_run_id: str
) -> dict[str, Any]:
    topic = _TOPICS[item.topic]
    written = item.summarized_at or item.timestamp
    props: dict[str, Any] = {
        "$ai_trace_id": item.trace_id,
        "$ai_batch_run_id": batch_run_id,
        "$ai_clustering_job_id": job_id,
        "$ai_clustering_job_name": job_name,
        "$ai_summary_mode": RENDERING,
        "$ai_summary_title": topic.titles[0],
        "$ai_summary_flow_diagram": f"user -> {topic.trace_name} -> answer",
        "$ai_summary_bullets": [{"text": b, "line_refs": "L1"} for b in topic.bullets[:3]],
        "$ai_summary_interesting_notes": [],
        "$ai_text_repr_length": 1200 + len(topic.bullets[0]) * 7,
        "trace_timestamp": item.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    if level == "generation":
        props["$ai_generation_id"] = item.generation_id
    else:
        props["$ai_event_count"] = 4
    digest = hashlib.sha256(f"summary:{job_id}:{item.item_id}".encode()).hexdigest()
    return {
        "uuid": f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}",
        "event": SUMMARY_EVENTS[level],
        "timestamp": written,
        "distinct_id": f"{level}_summary_{world.params.team_id}",
        "properties": props,
    }


__all__ = ["DIMENSION", "Summaries", "model_name_for", "summaries"]
