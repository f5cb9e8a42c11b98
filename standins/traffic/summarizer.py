"""PostHog's hourly summarizer, as the generator simulates it.

PostHog clusters only *summarized* items. A Temporal schedule runs every hour on the hour over
`[now − 90 min, now − 30 min)`, keeps at most 15 traces (20 generations) of that window, the
newest first (`ORDER BY first_timestamp DESC LIMIT 15`), and writes one summary event per item
(`posthog/temporal/ai_observability/trace_summarization/`: `constants.py`, `sampling.py`,
`workflow.py`). A clustering run then reads the job's summary events whose *own* timestamp is in
its window (`trace_clustering/data.py: _fetch_job_scoped_item_ids`) and samples at most
`max_samples` of them with `ORDER BY rand()`.

So the summarizer's buckets are the hours `[h:30, h+1:30)`; a bucket's summaries are written a
little after the run at `h+2:00`, and an item enters the first clustering window that holds that
moment, which for the last ~1¾ h before a run's window end is the next run's window.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

from standins.traffic.traffic import Draw

HOUR = 3600.0
BUCKET_OFFSET = 1800.0  # buckets are [h:30, h+1:30)
SUMMARY_DELAY = 1800.0 + 120.0  # the run starts 30 min after a bucket ends; ~2 min to write
# Items kept per hourly bucket, per clustering level: 15 traces, 20 generations; evaluations are
# sampled by their own hourly sampler (≤ 250 a job an hour).
SUMMARIZER_CAP = {"trace": 15, "generation": 20, "evaluation": 250}


def bucket_of(moment: float) -> int:
    """The summarizer bucket that holds an item first seen at `moment` (epoch seconds)."""
    return math.floor((moment - BUCKET_OFFSET) / HOUR)


def bucket_span(bucket: int) -> tuple[float, float]:
    start = bucket * HOUR + BUCKET_OFFSET
    return start, start + HOUR


def summary_moment(bucket: int) -> float:
    """When the summaries of `bucket` are written (their events' timestamp)."""
    return bucket_span(bucket)[1] + SUMMARY_DELAY


def summarized_at(moment: float) -> datetime:
    """When an item first seen at `moment` would be summarized, if the summarizer keeps it."""
    return datetime.fromtimestamp(summary_moment(bucket_of(moment)), UTC)


class Summarizer:
    """The summarized items of one series. `traffic(start, end)` gives every candidate item
    first seen in `[start, end)` (epoch seconds); buckets are computed once and cached."""

    def __init__(self, cap: int, traffic: Callable[[float, float], list[Draw]]) -> None:
        if cap < 1:
            raise ValueError("the summarizer keeps at least one item an hour")
        self.cap = cap
        self.traffic = traffic
        self._buckets: dict[int, list[Draw]] = {}
        self._sizes: dict[int, int] = {}  # bucket → items of traffic in it

    def bucket(self, bucket: int) -> list[Draw]:
        """The items the summarizer keeps of `bucket`: the newest `cap`, newest first."""
        found = self._buckets.get(bucket)
        if found is None:
            start, end = bucket_span(bucket)
            everything = self.traffic(start, end)
            found = sorted(everything, key=lambda d: d.moment, reverse=True)[: self.cap]
            self._buckets[bucket] = found
            self._sizes[bucket] = len(everything)
        return found

    def _buckets_written(self, start: datetime, end: datetime) -> range:
        """The buckets whose summaries are written in `[start, end)`."""
        low = math.ceil((start.timestamp() - SUMMARY_DELAY - BUCKET_OFFSET) / HOUR) - 1
        high = math.ceil((end.timestamp() - SUMMARY_DELAY - BUCKET_OFFSET) / HOUR) - 1
        return range(low, high)

    def window(self, start: datetime, end: datetime) -> list[Draw]:
        """The summarized items a clustering window `[start, end)` can sample: those whose
        summary was written in it. Oldest bucket first, each bucket newest first."""
        low, high = start.timestamp(), end.timestamp()
        found: list[Draw] = []
        for bucket in self._buckets_written(start, end):
            if low <= summary_moment(bucket) < high:
                found.extend(self.bucket(bucket))
        return found

    def traffic_in(self, start: datetime, end: datetime) -> int:
        """Items of traffic in the buckets summarized in `[start, end)` (kept or not)."""
        total = 0
        for bucket in self._buckets_written(start, end):
            if start.timestamp() <= summary_moment(bucket) < end.timestamp():
                self.bucket(bucket)
                total += self._sizes[bucket]
        return total


__all__ = [
    "SUMMARIZER_CAP",
    "Summarizer",
    "bucket_of",
    "bucket_span",
    "summarized_at",
    "summary_moment",
]
