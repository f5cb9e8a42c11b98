"""`python -m bench` (`make bench`): speed, cost and memory of the bot against a reference
implementation of the seed workflow, on the local stand-ins. Prints one table and writes
docs/benchmarks.md. `--quick` is a smoke run with small numbers (it does not write the doc
unless `--out` is given). `--quality-only` runs the alert-quality sweep alone and rewrites only
its section of the doc. `--early-seeds N` adds the early-warnings bench (bench/early.py, slow:
off by default, and the doc then keeps its last measured section); `--quiet-days N` likewise
adds the early warnings' quiet days (bench/early_quiet.py)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from bench.assigned import markdown as assigned_markdown
from bench.assigned import measure as measure_assigned
from bench.causes import causes_markdown, measure_causes
from bench.commands import run_commands
from bench.cycle import measure_cycle, measure_first_sight
from bench.doc import read_section, replace_section, write_doc
from bench.early import HEADING as EARLY_HEADING
from bench.early import measure as measure_early
from bench.early_bound import markdown as bound_markdown
from bench.early_bound import measure as measure_bound
from bench.early_bound import measure_bot
from bench.early_quiet import HEADING as QUIET_HEADING
from bench.early_quiet import SEEDS as QUIET_SEEDS
from bench.early_quiet import measure_all as measure_quiet
from bench.harness import ROOT
from bench.lean import lean_markdown, measure_lean
from bench.lean import targets as lean_targets
from bench.report import Results, rows, table
from bench.scaling import measure_matching, measure_scaling
from bench.sweep import SETTINGS, measure_sweep
from bench.sweep_report import sweep_markdown, targets

DOC = ROOT / "docs" / "benchmarks.md"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small and fast: a smoke run")
    parser.add_argument("--out", type=Path, default=None, help=f"the report (default {DOC})")
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--items", type=int, default=1500, help="items per run")
    parser.add_argument("--requests", type=int, default=200, help="/clusters requests")
    parser.add_argument("--large", type=int, default=50, help="series in the largest scale row")
    parser.add_argument(
        "--first-sight", type=int, default=30, help="series in the first-sight query rows"
    )
    parser.add_argument(
        "--quality-only", action="store_true", help="only the alert-quality sweep and its section"
    )
    parser.add_argument(
        "--quality-seeds", type=int, default=20, help="seeds per setting and kind in the sweep"
    )
    parser.add_argument(
        "--quality-settings",
        default=None,
        help="comma-separated setting names of the sweep (default: all: "
        + ", ".join(s.name for s in SETTINGS).replace("%", "%%")  # argparse formats help
        + ")",
    )
    parser.add_argument("--processes", type=int, default=2, help="worker processes of the sweep")
    parser.add_argument(
        "--assigned-seeds", type=int, default=10, help="seeds per kind, assigned items bench"
    )
    parser.add_argument(
        "--early-seeds",
        type=int,
        default=0,
        help="seeds per kind of the early-warnings bench (bench/early.py; each replays a day "
        "hour by hour, about 15 s a seed here); default 0: skipped, and the doc keeps the "
        "section it has (--quick runs at most 1)",
    )
    parser.add_argument(
        "--quiet-days",
        type=int,
        default=0,
        help="quiet days per world of the early warnings' false-warning bench "
        "(bench/early_quiet.py, 20 worlds; 200 take about 11 min on 2 processes); default 0: "
        "skipped, and the doc keeps the section it has",
    )
    parser.add_argument(
        "--lean-only",
        action="store_true",
        help="only a first `clusters-bot check` at 10 and 30 series (memory, CPU) and its section",
    )
    return parser.parse_args(argv)


def quality_section(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The sweep's section of the doc, and its targets missed."""
    seeds = 1 if args.quick else args.quality_seeds
    names = args.quality_settings.split(",") if args.quality_settings else None
    if args.quick and names is None:
        names = ["default", "hard corner"]
    step(
        f"alert quality: sweep of {seeds} seed(s) per setting and kind, {args.processes} processes"
    )
    done = [0]

    def progress(_: object) -> None:
        done[0] += 1
        if done[0] % 100 == 0:
            step(f"alert quality: {done[0]} series")

    sweep = measure_sweep(seeds, processes=args.processes, settings=names, on_outcome=progress)
    step(f"alert quality: {sweep.seconds / 60:.1f} min")
    missed = [
        f"alert quality: {target} ({evidence})"
        for target, met, evidence in targets(sweep)
        if not met
    ]
    return sweep_markdown(sweep), missed


def lean_section(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The lean-cycle section of the doc (issue 21), and its targets missed."""
    counts, items = ((2, 6), 300) if args.quick else ((10, 30), args.items)
    step(f"lean cycle: first `clusters-bot check` at {counts} series x {items} items")
    lean = measure_lean(counts, items)
    missed = [f"lean cycle: {t} ({evidence})" for t, met, evidence in lean_targets(lean) if not met]
    return lean_markdown(lean), missed


def lean_only(args: argparse.Namespace) -> int:
    section, missed = lean_section(args)
    print(section)
    out = args.out or (None if args.quick else DOC)
    if out is not None:
        replace_section(out, section)
        print(f"wrote the lean-cycle section of {out}")
    print(f"targets missed: {len(missed)}" + "".join(f"\n  - {m}" for m in missed))
    return 0


def quality_only(args: argparse.Namespace) -> int:
    section, missed = quality_section(args)
    print(section)
    out = args.out or (None if args.quick else DOC)
    if out is not None:
        replace_section(out, section)
        print(f"wrote the alert-quality section of {out}")
    print(f"targets missed: {len(missed)}" + "".join(f"\n  - {m}" for m in missed))
    return 0


def early_section(seeds: int, doc: Path | None) -> str:
    """The early-warnings section: measured when `seeds` > 0, else the one `doc` has (written
    by an earlier run, kept since the doc is rewritten), else none."""
    if seeds > 0:
        step(f"early warnings: {seeds} seed(s) per kind, hour by hour")
        return measure_early(seeds)
    return read_section(doc, EARLY_HEADING) if doc is not None else ""


def quiet_section(days: int, processes: int, doc: Path | None) -> str:
    """The early warnings' quiet days, as `early_section`: measured when `days` > 0, else kept."""
    if days > 0:
        step(f"early warnings on quiet days: {QUIET_SEEDS} worlds x {days} days")
        return measure_quiet(days, QUIET_SEEDS, processes)
    return read_section(doc, QUIET_HEADING) if doc is not None else ""


def step(name: str) -> None:
    print(f"[bench] {name}…", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.disable(logging.WARNING)  # the stand-ins and the bot log; the table is the output
    if args.quality_only:
        return quality_only(args)
    if args.lean_only:
        return lean_only(args)
    if args.quick:
        args.series, args.items, args.requests, args.large = 3, 300, 30, 6
        args.first_sight = 6
    started = time.perf_counter()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    step(f"alert cycle: {args.series} series x {args.items} items, bot vs reference")
    cycle = measure_cycle(
        args.series, args.items, bot_reps=3, no_charts_reps=3,
        reference_reps=2 if not args.quick else 1, profile=True,
    )  # fmt: skip
    step("alert cycle on runs without embedded metrics")
    absent = measure_cycle(
        args.series, args.items, metrics="absent", bot_reps=1, reference_reps=1, idle=False
    )
    step(f"first cycle after install: {args.first_sight} series, with and without metrics")
    first_sight = [
        measure_first_sight(args.first_sight, args.items, metrics=metrics)
        for metrics in ("present", "absent")
    ]
    step(f"/clusters latest: {args.requests} signed requests")
    commands = run_commands(
        args.series,
        args.items,
        requests=args.requests,
        cold=20 if not args.quick else 5,
        plain_requests=20 if not args.quick else 5,
    )
    step(f"scaling: 1, {args.series} and {args.large} series")
    scaling = measure_scaling(cycle, items=args.items, large=args.large, reference_at_large=False)
    step("cluster matching cost")
    matching = measure_matching(
        ((20, 300), (60, 500)) if args.quick else ((50, 500), (300, 500), (300, 5000))
    )
    quality, quality_missed = quality_section(args)
    step("causes on alerts: planted causes named, none on uniform changes")
    causes_seeds = 2 if args.quick else 10
    causes = measure_causes(causes_seeds)
    lean, lean_missed = lean_section(args)
    assigned_seeds = 1 if args.quick else args.assigned_seeds
    step(f"assigned items side by side: {assigned_seeds} seeds per kind")
    assigned = assigned_markdown(measure_assigned(assigned_seeds, args.processes))
    out = args.out or (None if args.quick else DOC)
    early = early_section(min(args.early_seeds, 1) if args.quick else args.early_seeds, out)
    results = Results(
        cycle,
        absent,
        commands,
        scaling,
        matching,
        first_sight=first_sight,
        seconds=time.perf_counter() - started,
        load_before=load_before,
    )
    all_rows = rows(results)
    print(table(all_rows))
    section = quality + "\n" + causes_markdown(causes, causes_seeds) + "\n" + assigned
    section += "\n" + early if early else ""
    bound_trials = 200 if args.quick else 2000
    section += "\n" + bound_markdown(
        measure_bound(bound_trials), bound_trials, measure_bot(bound_trials)
    )
    quiet = quiet_section(
        min(args.quiet_days, 5) if args.quick else args.quiet_days, args.processes, out
    )
    section += "\n" + quiet if quiet else ""
    section += "\n" + lean
    print("\n" + section)
    if out is not None:
        write_doc(results, all_rows, out)
        with out.open("a") as doc:
            doc.write("\n" + section)
        print(f"\nwrote {out} ({results.seconds / 60:.1f} min)")
    missed = [row.measure for row in all_rows if row.met is False] + quality_missed + lean_missed
    print(f"targets missed: {len(missed)}" + "".join(f"\n  - {m}" for m in missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
