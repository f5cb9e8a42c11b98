"""A new user's first `clusters-bot check` as evidence grows (issue 21, "keep the cycle lean").

A local PostHog holds `series` series of three runs each (`items` items a run, metrics
embedded); the bot has never run. One `clusters-bot check` (the CLI's own path, in a child
process that only talks HTTP: `bench.worker`, kind "check") alerts on each series' newest run
against the one before it. Measured: its peak RSS (ru_maxrss, imports included), the CPU
seconds of the command (its modules already imported) and of the whole process, CPU per new
run, and the HogQL queries the local PostHog received.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.cycle import prepare
from bench.harness import Backend, Measured, run_worker

# Targets (issue 21): memory must not grow with the number of series watched.
LEAN_RSS_RATIO_MAX = 1.2  # peak RSS at 30 series over peak RSS at 10
LEAN_RSS_MB_MAX = 250.0
LEAN_CPU_PER_RUN_MAX = 0.3  # seconds of CPU per new run


@dataclass(frozen=True)
class LeanPoint:
    series: int
    items: int
    measured: Measured

    @property
    def peak_mb(self) -> float:
        return self.measured.peak_rss_kb / 1024

    @property
    def cpu(self) -> float:
        """CPU seconds of the command itself (all threads; imports excluded)."""
        return float(self.measured.result["cpu"])

    @property
    def process_cpu(self) -> float:
        """CPU seconds of the whole process: interpreter, imports and the command."""
        return float(self.measured.result["process_cpu"])

    @property
    def runs(self) -> int:
        return int(self.measured.result["runs_processed"])

    @property
    def cpu_per_run(self) -> float:
        return self.cpu / self.runs if self.runs else float("inf")

    @property
    def queries(self) -> int:
        return self.measured.server_queries

    @property
    def wall(self) -> float:
        return self.measured.wall


def measure_lean_point(series: int, items: int, *, profile: bool = False) -> LeanPoint:
    """One first `clusters-bot check` over `series` series x 3 runs of `items` items."""
    with Backend() as backend:
        newest, _, _ = prepare(backend, series, items, "present")
        backend.load(newest)  # all three runs of every series are there before the bot starts
        measured = run_worker(backend, backend.config("check", "bot", profile=profile))
    return LeanPoint(series, items, measured)


def measure_lean(counts: tuple[int, ...] = (10, 30), items: int = 1500) -> list[LeanPoint]:
    return [measure_lean_point(series, items) for series in counts]


def marginal_cpu(points: list[LeanPoint]) -> float | None:
    """CPU seconds each further run adds, between the smallest and the largest point."""
    if len(points) < 2 or points[-1].runs == points[0].runs:
        return None
    return (points[-1].cpu - points[0].cpu) / (points[-1].runs - points[0].runs)
