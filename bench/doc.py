"""docs/benchmarks.md: the table, the method, what was missed and why, and the profiles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench.report import (
    ACK_P99_MS_MAX,
    CACHED_REPLY_P95_MS_MAX,
    CYCLE_MB_MAX,
    CYCLE_SECONDS_MAX,
    Results,
    Row,
    machine,
    markdown_table,
)

METHOD = """\
Everything runs on this machine against the sandbox stand-ins: the local PostHog (HogQL on
embedded ClickHouse, chdb) and the fake Slack Web API, both real HTTP servers on 127.0.0.1.
The worlds come from `standins.traffic.generator` (fixed seeds): {series} series alternating
trace and generation level, 3 runs each of {items} items; the newest run of every series carries a
planted change and is inserted only after both implementations have seen the older runs, so
the measured cycle is the steady state: {runs} new runs arrive, one cycle handles them all
(alerts stored, then posted with the per-channel pacing off, as in the sandbox). The reference
(`bench/reference.py`) is the seed workflow written plainly with its own httpx calls: runs
listed per level (3 queries), each new run and its previous run fetched (no cache), one metrics
HogQL query per cluster with that cluster's id list, a naive overlap match, one Slack message
per run with alerts. Query counts are what the local PostHog received (its HogQL log), not what
the clients say. Each measured cycle runs in a child process that only talks HTTP to the
stand-ins, because chdb maps a ~400 MB library into any process that uses it, which would make
an in-process RSS meaningless. Peak RSS is `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`
read by a small launcher process that forks the measured one (`bench/worker.py`): on Linux a
child's `ru_maxrss` starts at the RSS of the process it was forked from (our parent holds chdb,
~700 MB), so forking straight from the bench would report 700 MB for everything; the worker's
own `VmHWM` agrees with the launcher's figure. Wall time is `time.perf_counter()` around the
cycle call alone (median of the repetitions; before each one the bot's SQLite database and the
reference's seen-runs list are restored). `/clusters latest` is sent as Slack sends it: signed
form posts (a `standins.slack.user.SlackUser` subclass with one keep-alive httpx client) to the
real Bolt app behind waitress (`standins.stack.Stack`); ack is the time to the HTTP 200, reply
the time until the answer lands in the fake Slack. "Cold" empties the bot's caches before each
request (stored runs, the in-memory run list, drilldown details); "cached" does not, and the
{requests} cached requests fit inside the run list's TTL. The load generator, the app and the
stand-ins share one process and {cores} cores, so the latencies are pessimistic."""


EARLY_METHOD = (
    "The early-warnings section (its method is in the section) runs only when asked: `python "
    "-m bench --early-seeds N` (N seeds per kind; `make bench ARGS=--early-seeds=6`) or "
    "`python -m bench.early --seeds N` alone, since each seed replays a day hour by hour. "
    "Without it (`--early-seeds 0`, the default) the section measured last is kept as it was."
)


def _verdicts(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        if row.met is None:
            continue
        state = "met" if row.met else "**missed**"
        lines.append(f"- {row.measure}: {row.bot} (target {row.target}) - {state}.")
    return lines


def _code(lines: list[str]) -> list[str]:
    return ["```", *lines, "```"] if lines else ["(no profile)"]


def explanations(results: Results, missed: list[Row]) -> list[str]:
    """Why each missed target was missed, from the measurements and the profiles."""
    cycle, commands = results.cycle, results.commands
    keys = {row.key for row in missed}
    out: list[str] = []
    if "cycle_wall" in keys:
        share = cycle.profile_charts / cycle.profile_wall if cycle.profile_wall else 0.0
        no_charts = (
            f" With `CHARTS=off` the same cycle takes {cycle.wall('no_charts'):.2f} s."
            if cycle.bot_no_charts
            else ""
        )
        out.append(
            f"- **Alert cycle time ({cycle.wall('bot'):.2f} s, target "
            f"< {CYCLE_SECONDS_MAX:.0f} s).** Under cProfile the cycle took "
            f"{cycle.profile_wall:.2f} s, of which {cycle.profile_charts:.2f} s ({share:.0%}) "
            "were the alert charts: `ChartService.post_for_alert`, called synchronously from "
            "the outbox drain (`SlackNotifier._after_sent`), renders a trend chart and a "
            "cluster map per alert with matplotlib (`savefig` to PNG is most of it, see the "
            "profile) and uploads each in three Slack calls." + no_charts + " Suggested fix "
            "(not applied): take charts off the alert cycle's critical path - enqueue them "
            "after the drain and let a separate scheduler job (or one background thread) "
            "render and upload them; they are already outside the exactly-once path. Cheaper "
            "figures help too: a lower DPI, one reused `Figure`, and one cluster map per run "
            "instead of one per alert."
        )
    if "cycle_rss" in keys:
        out.append(
            f"- **Peak RSS ({cycle.peak_mb('bot'):.0f} MB, target < {CYCLE_MB_MAX:.0f} MB).** "
            f"{cycle.baseline_mb('bot'):.0f} MB are resident before the cycle starts (imports "
            "and wiring); suggested fix: import the chart stack (matplotlib, numpy) lazily, on "
            "the first chart, and stream large runs instead of holding several copies."
        )
    if "ack" in keys:
        out.append(
            f"- **Ack latency (cold p99 {commands.cold['ack_p99_ms']:.0f} ms, cached p99 "
            f"{commands.cached['ack_p99_ms']:.0f} ms, target < {ACK_P99_MS_MAX:.0f} ms).** "
            f"{commands.cold['acks_over_100ms'] + commands.cached['acks_over_100ms']:.0f} of "
            f"{commands.cold['n'] + commands.cached['n']:.0f} acks took over 100 ms (slowest "
            f"{max(commands.cold['ack_max_ms'], commands.cached['ack_max_ms']):.0f} ms): "
            "isolated stalls rather than a slow path. The ack is `ack()` first thing in the "
            "listener, so a stall is time waiting for a waitress thread or for the GIL (the "
            "previous answer's rendering, the stand-ins and this load generator share the "
            "process), or a garbage-collection pause."
        )
    if "reply" in keys:
        out.append(
            f"- **Cached reply p95 ({commands.cached['reply_p95_ms']:.0f} ms, target < "
            f"{CACHED_REPLY_P95_MS_MAX:.0f} ms).** The answer profile below shows the run-list "
            "query to PostHog (`RunRepository.recent`) as most of the time of a cached answer; "
            "see finding 1 for the fix."
        )
    if "first_sight" in keys:
        out.append(
            "- **First sight.** The first cycle loads each series' newest run and the one "
            "before it (about ten 1,500-item runs to a query) and asks item values once per "
            "shared window and level; see `bot/services/runs.py` for the batching bounds."
        )
    if keys & {"queries", "idle"}:
        out.append(
            "- **PostHog queries.** See the query rows: every query the bot sends is counted "
            "by the local PostHog; the cycle's query log is the place to start."
        )
    return out


def findings(results: Results) -> list[str]:
    cycle, commands = results.cycle, results.commands
    costs = {text: (cold, cached, ref) for text, cold, cached, ref in commands.queries}
    cold_q, cached_q, ref_q = costs.get("latest", (0, 0, 0))
    out = ["## Findings and suggestions for the lead", ""]
    if cached_q >= 1:
        out.append(
            f"- **A cached `/clusters latest` still costs {cached_q} PostHog query** (the run "
            "list), and that query is most of the reply time (answer profile below). With "
            "120 HogQL queries per hour per key, 120 questions an hour exhaust the budget. "
            "Suggested fix: keep `RunRepository.recent()` for a short TTL."
        )
    else:
        out.append(
            f"- **Questions are cheap.** `/clusters latest` costs {cold_q} PostHog queries cold "
            f"and {cached_q} when asked again (runs are stored; the run list is kept for a "
            f"short TTL), against {ref_q} for the reference. A cached reply is the render "
            f"alone (p50 {commands.cached['reply_p50_ms']:.0f} ms); the first question after "
            "the TTL pays the list query again, like a cold one (p50 "
            f"{commands.cold['reply_p50_ms']:.0f} ms, which also loads the run)."
        )
    out.append(
        f"- **Acks under a burst.** One at a time the ack p99 is "
        f"{commands.cached['ack_p99_ms']:.0f} ms; with {commands.burst_concurrency} requests in "
        f"flight it is {commands.burst['ack_p99_ms']:.0f} ms: acks then queue behind other "
        "requests' work for the GIL and the cores, which the load generator and the "
        "stand-ins share with the app here. Far inside Slack's 3 s."
    )
    out.append(
        f"- **Queries grow with new runs, not with history.** A steady cycle costs 1 query "
        "for the run list, one per about ten new runs to load them, and one per shared window "
        "and level for their items' values (runs of one level and day share a window): "
        f"{cycle.queries('bot')} for {cycle.runs_per_cycle} runs; the previous run always "
        "comes from the store. The reference pays 3 + 2 x (new runs) + (clusters of both "
        "runs) every time."
    )
    for sight in results.first_sight:
        out.append(
            f"- A first cycle after install over {sight.series} series of {sight.items}-item "
            f"runs (metrics {'embedded' if sight.metrics == 'present' else 'absent'}) costs "
            f"{sight.queries} queries: the newest run and the one before it of every series "
            "load in the same batches, and runs without embedded metrics add one query per "
            "earlier window and level."
        )
    if results.absent is not None:
        out.append(
            f"- Runs without embedded metrics (older PostHog) cost the bot "
            f"{results.absent.queries('bot')} queries for {results.absent.runs_per_cycle} runs "
            "(the same queries: values are asked for either way), under a fifth of the "
            "reference's "
            f"{results.absent.queries('reference')}."
        )
    if cycle.bot_no_charts:
        extra_s = cycle.wall("bot") - cycle.wall("no_charts")
        extra_mb = cycle.peak_mb("bot") - cycle.peak_mb("no_charts")
        out.append(
            f"- **Charts come after the text.** The {cycle.uploads('bot')} chart messages are "
            "drawn and uploaded on their own worker thread once the alert text is delivered, "
            f"so the cycle takes {cycle.wall('bot'):.2f} s with charts and "
            f"{cycle.wall('no_charts'):.2f} s with `CHARTS=off` (difference {extra_s:+.2f} s); "
            f"drawing them raises the process's peak memory by {extra_mb:.0f} MB."
        )
    if len(results.matching) >= 2:
        parts = ", ".join(
            f"{m.seconds:.2f} s at {m.clusters} clusters x {m.description_chars} chars"
            for m in results.matching
        )
        out.append(
            f"- **Cluster matching is quadratic in clusters** ({parts}): `diff_runs` scores "
            "title and description similarity for every pair of clusters, once per new run. "
            "Text is compared up to 300 characters, so long LLM-written descriptions no longer "
            "cost more (the render fuzzer first found 12 s at 5000 characters). PostHog's "
            "HDBSCAN keeps clusters at 2% of a run or more, so real runs stay near the "
            "50-cluster row; scoring text only for pairs that share items would make 300 "
            "clusters cheap too."
        )
    return out


def write_doc(results: Results, all_rows: list[Row], path: Path) -> None:
    cycle = results.cycle
    missed = [row for row in all_rows if row.met is False]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench`); do not edit by hand.",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; the whole bench took "
        f"{results.seconds / 60:.1f} min; load average (1 min) before it started: "
        f"{results.load_before:.2f}.",
        *machine(),
        "",
        "## Method",
        "",
        METHOD.format(
            series=cycle.series,
            items=cycle.items,
            runs=cycle.runs_per_cycle,
            cores=__import__("os").cpu_count(),
            requests=int(results.commands.cached["n"]),
        ),
        "",
        "Scaling rows use the same method at 1, 10 and 50 series with the same item count; "
        "the 50-series bot cycle is measured once, and the reference is not run there (it "
        "takes about 3 minutes at 50 series: its cost is linear, about 16 queries and 1.5 s "
        "per new run on this machine). The bot's cycle includes its chart uploads (trend "
        "chart and cluster map per alert, rendered in-process), which the reference does "
        "not have.",
        "",
        EARLY_METHOD,
        "",
        "## Results",
        "",
        markdown_table(all_rows),
        "",
        "## Targets",
        "",
        *_verdicts(all_rows),
        "",
    ]
    if missed:
        lines += [
            "## Missed targets: causes and suggested fixes",
            "",
            "The bot's code was not changed; the fixes are suggestions for the lead. Profile "
            "lines are under Profiles below.",
            "",
            *explanations(results, missed),
            "",
        ]
    lines += [
        *findings(results),
        "",
        "## Profiles",
        "",
        f"One bot alert cycle ({cycle.series} series, cProfile, cumulative time, top lines):",
        "",
        *_code(cycle.profile),
        "",
        "A cached `/clusters latest` answer, 20 times in a row (the listener's work without the "
        "HTTP hops; cProfile, cumulative):",
        "",
        *_code(results.commands.profile),
        "",
        f"Targets: queries per cycle <= 1/5 of the reference's, 1 query per idle poll, a "
        f"10-series cycle < {CYCLE_SECONDS_MAX:.0f} s and < {CYCLE_MB_MAX:.0f} MB, ack p99 < "
        f"{ACK_P99_MS_MAX:.0f} ms, cached reply p95 < {CACHED_REPLY_P95_MS_MAX:.0f} ms.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def read_section(path: Path, heading: str) -> str:
    """The section of the doc at `path` that starts with `heading` (a "## " line), up to the
    next "## " heading; "" when the doc or the section is missing."""
    lines = path.read_text().split("\n") if path.exists() else []
    if heading not in lines:
        return ""
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).rstrip("\n") + "\n"


def replace_section(path: Path, text: str) -> None:
    """Put `text` (a section starting with its "## " heading) in the doc at `path` in place of
    the section of the same heading, up to the next "## " heading; appended when it has none,
    so one section can be rewritten without measuring the others again."""
    heading = text.split("\n", 1)[0]
    old = path.read_text() if path.exists() else ""
    lines = old.split("\n")
    if heading not in lines:
        path.write_text(old.rstrip("\n") + "\n\n" + text if old else text)
        return
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = lines[end:]
    kept = "\n".join(lines[:start]) + "\n" + text
    path.write_text(kept + ("\n" + "\n".join(tail) if tail else ""))
