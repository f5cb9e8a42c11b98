"""The sandbox's demo data: which series it generates, the changes planted in them, and the
recipe (``GeneratorState``) that rebuilds the same World after a restart (``generator.json``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from standins.traffic.demo_check import first_cycle_alerts_every_change
from standins.traffic.generator import (
    Change,
    Extra,
    Plant,
    SeriesSpec,
    World,
    emit_next_run,
    generate,
)

SEED = 1
SERIES = (
    SeriesSpec(level="trace", job_name="Default - traces"),
    SeriesSpec(level="trace", job_name="Support agent"),
    SeriesSpec(level="generation", job_name="Default - generations"),
    SeriesSpec(level="evaluation", job_name="Default - evaluations"),
)
# PostHog samples 1,500 items a run. A change reaches a run only through the items newer than
# the run before (about 1/7 of them), so the demo's changes are twice full size and start just
# after the previous run: big enough to be alerted on the first run that holds them, every time.
RUNS, ITEMS_PER_RUN = 6, 1500
SCALE = 2.0
CHANGE_START = (0.0, 0.1)  # of the interval since the previous run (the generator's default: 0.5)
# The generated runs end this long ago, so the daily slots since are free: "Next clustering
# run" then covers at least a day of new traffic, not the minutes since today's run.
DATA_AGE = timedelta(days=2)
DEMO_SEEDS = 10  # seeds tried for demo data whose planted changes are alerted on
PLANTED = {  # the last run of each series changed, so the first alert cycle has news
    ("Default - traces", 3): Plant(Change.SIZE_SHIFT, scale=SCALE),
    ("Default - traces", 5): Plant(Change.COST_SPIKE, scale=SCALE),
    ("Support agent", 5): Plant(Change.ERROR_HEAVY, scale=SCALE),
    # a topic that stops (a new one is usually noise in the first run it appears in)
    ("Default - generations", 5): Plant(Change.VANISHED_CLUSTER, scale=SCALE),
    # failing generations: the judge fails them, so a cluster's pass rate drops
    ("Default - evaluations", 5): Plant(Change.ERROR_HEAVY, scale=SCALE),
}
# The demo's models stream their answers: a generation's latency follows its output tokens.
LATENCY_BY_TOKENS = True
# generator.json written by another version of this file describes other data: start over.
STATE_VERSION = 5  # 5: "Next clustering run" plants on an untouched topic


@dataclass
class GeneratorState:
    """Everything needed to rebuild the sandbox's World exactly: generate(...) + emitted runs."""

    seed: int
    now: datetime
    runs: int = RUNS
    items_per_run: int = ITEMS_PER_RUN
    extras: list[tuple[str, str, datetime]] = field(default_factory=list)  # job, change, now
    scale: float = SCALE  # of every change "Next clustering run" plants

    def plant(self, change: str) -> Change | Plant:
        """What "Next clustering run" plants for `change`: a change of `scale`, on a topic no
        earlier change of its series touched (a second cost step on a cluster whose cost alert is
        still open continues that alert; a user who asked for a change expects a new one)."""
        kind = Change(change)
        return kind if kind is Change.NONE else Plant(kind, scale=self.scale, untouched=True)

    def base_world(self, *, events: bool = True, series: tuple[SeriesSpec, ...] = SERIES) -> World:
        """The generated runs before any was emitted (of `series` only, when given: a series
        does not depend on the others)."""
        names = {spec.job_name for spec in series}
        return generate(
            seed=self.seed,
            series=list(series),
            runs=self.runs,
            items_per_run=self.items_per_run,
            now=self.now,
            planted={key: plant for key, plant in PLANTED.items() if key[0] in names},
            change_start=CHANGE_START,
            events=events,
            latency_by_tokens=LATENCY_BY_TOKENS,
        )

    @classmethod
    def demo(cls, now: datetime, tries: int = DEMO_SEEDS) -> GeneratorState:
        """The state of the first seed from SEED whose planted changes the bot alerts on in its
        first cycle (`standins.traffic.demo_check`), so a fresh sandbox always has news to show.
        Each series is checked on its own, so a seed is dropped at its first series that fails
        without generating the others; the last series first, as the changes a first cycle
        misses are mostly theirs (a stopping topic of generations, a judge's failures)."""
        for seed in range(SEED, SEED + tries):
            state = cls(seed=seed, now=now)
            if all(
                first_cycle_alerts_every_change(state.base_world(events=False, series=(spec,)))
                for spec in reversed(SERIES)
            ):
                return state
        return cls(seed=SEED, now=now)

    def world(self) -> World:
        """The base world plus every emitted run, built once (emit_next_run rebuilds from
        params, so the earlier extras go into the params and only the last is emitted)."""
        world = self.base_world()
        if not self.extras:
            return world
        *earlier, (job, change, now) = self.extras
        params = replace(
            world.params, extras=tuple(Extra(j, self.plant(c), n) for j, c, n in earlier)
        )
        return emit_next_run(
            replace(world, params=params), job_name=job, change=self.plant(change), now=now
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "now": self.now.isoformat(),
            "runs": self.runs,
            "items_per_run": self.items_per_run,
            "scale": self.scale,
            "series": [[s.level, s.job_name] for s in SERIES],
            "extras": [[job, change, now.isoformat()] for job, change, now in self.extras],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GeneratorState:
        """Raises `ValueError` for a state another version of the sandbox wrote."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(
                f"generator.json is version {data.get('version')}, not {STATE_VERSION}"
            )
        return cls(
            seed=int(data["seed"]),
            now=datetime.fromisoformat(data["now"]),
            runs=int(data["runs"]),
            items_per_run=int(data["items_per_run"]),
            scale=float(data["scale"]),
            extras=[(j, c, datetime.fromisoformat(n)) for j, c, n in data.get("extras", [])],
        )
