"""The sweep's oracle (bench/oracle.py): what a run's sample allows a test that knows the
changed cluster, the change's start and what moved."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bench.oracle import finds
from bench.sweep import JOB, KINDS, NOW, PLANTED_AT, SETTINGS, first_run, world_for
from bot.domain.compare import diff_runs
from bot.domain.models import ClusteringRun
from bot.domain.slices import RunSlices, slice_run
from standins.traffic.demo_check import as_loaded
from standins.traffic.generator import Change, Plant, SeriesSpec, World, generate

Q = 0.05


def runs_of(world: World) -> list[ClusteringRun]:
    return [as_loaded(t.event, world.item_values) for t in world.runs_of(JOB)]


def slices(runs: list[ClusteringRun], index: int) -> RunSlices:
    """Run `index` cut as the sweep cuts it, for the scanning oracle's looks."""
    return slice_run(diff_runs(runs[index - 1], runs[index]))


def error_step(seed: int, scale: float) -> World:
    """Five daily runs with an error step of `scale` early in the day before run 3."""
    return generate(
        seed=seed,
        series=[SeriesSpec(level="trace", job_name=JOB)],
        runs=5,
        items_per_run=1500,
        now=NOW,
        planted={(JOB, PLANTED_AT): Plant(Change.ERROR_HEAVY, scale=scale)},
        change_start=(0.0, 0.1),
        traces_per_day=700.0,
        events=False,
    )


def test_a_full_size_error_step_from_early_in_the_day_is_within_reach() -> None:
    world = error_step(11, 1.0)
    runs = runs_of(world)
    assert finds(world, runs, PLANTED_AT, tests=60, q=Q)
    assert not finds(world, runs, PLANTED_AT - 1, tests=60, q=Q)  # before the change
    # Without knowing the start, the scan's whole-day look holds most of an early step
    assert finds(world, runs, PLANTED_AT, tests=60, q=Q, scan=slices(runs, PLANTED_AT))
    assert not finds(world, runs, PLANTED_AT - 1, 60, Q, scan=slices(runs, PLANTED_AT - 1))


def test_a_faint_step_is_beyond_reach_and_so_is_an_impossible_cutoff() -> None:
    errors = next(k for k in KINDS if k.label == "errors")
    world = error_step(12, 0.02)
    runs = runs_of(world)
    assert not finds(world, runs, PLANTED_AT, tests=60, q=Q)
    strong = world_for(SETTINGS[0], errors, 0)
    assert not finds(strong, runs_of(strong), first_run(strong, errors), tests=60, q=0.0)
    runs, first = runs_of(strong), first_run(strong, errors)
    assert not finds(strong, runs, first, 60, 0.0, scan=slices(runs, first))


def test_assigned_items_in_the_changed_cluster_join_the_value_tests_not_the_share_tests() -> None:
    world = error_step(12, 0.2)  # a faint step: the sample alone does not reach it
    runs = runs_of(world)
    planted = world.planted[0]
    assert planted.start is not None
    changed = planted.clusters[runs[PLANTED_AT].run_id]
    other = next(c for c in runs[PLANTED_AT].clusters if c.cluster_id != changed)
    erring = tuple(
        replace(item, item_id=f"assigned-{n}", timestamp=planted.start + timedelta(hours=1),
                errors=1)
        for n, item in enumerate(other.items[:30])
    )  # fmt: skip
    assert not finds(world, runs, PLANTED_AT, tests=60, q=Q)
    assert finds(world, runs, PLANTED_AT, tests=60, q=Q, assigned={changed: erring})
    assert not finds(world, runs, PLANTED_AT, tests=60, q=Q, assigned={other.cluster_id: erring})
    before_start = tuple(replace(i, timestamp=planted.start - timedelta(hours=1)) for i in erring)
    assert not finds(world, runs, PLANTED_AT, tests=60, q=Q, assigned={changed: before_start})
    scan = slices(runs, PLANTED_AT)
    assert finds(world, runs, PLANTED_AT, 60, Q, scan=scan, assigned={changed: erring})

    surge = next(k for k in KINDS if k.label == "traffic up")
    shifted = world_for(SETTINGS[0], surge, 0)
    shifted_runs, first = runs_of(shifted), first_run(shifted, surge)
    target = shifted.planted[0].clusters[shifted_runs[first].run_id]
    crowd = tuple(replace(i, item_id=f"crowd-{n}") for n, i in enumerate(erring * 10))
    assert not finds(shifted, shifted_runs, first, tests=60, q=Q)
    assert not finds(shifted, shifted_runs, first, 60, Q, assigned={target: crowd})
