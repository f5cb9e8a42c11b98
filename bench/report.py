"""The bench's one table, its targets, and docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bench.commands import CommandResults
from bench.cycle import CycleResult, FirstSight
from bench.scaling import MatchPoint, ScalePoint

QUERY_RATIO_MAX = 0.2
CYCLE_SECONDS_MAX = 3.0
CYCLE_MB_MAX = 250.0
ACK_P99_MS_MAX = 100.0
CACHED_REPLY_P95_MS_MAX = 300.0
# A first cycle after install, over the largest project (issue 13 item 6): PostHog may allow 120
# HogQL queries an hour per key.
FIRST_SIGHT_EMBEDDED_MAX = 10
FIRST_SIGHT_ABSENT_MAX = 120 // 2


@dataclass
class Results:
    cycle: CycleResult
    absent: CycleResult | None
    commands: CommandResults
    scaling: list[ScalePoint]
    matching: list[MatchPoint] = field(default_factory=list)
    first_sight: list[FirstSight] = field(default_factory=list)
    answer_profile: list[str] = field(default_factory=list)
    seconds: float = 0.0
    load_before: float = 0.0


@dataclass(frozen=True)
class Row:
    measure: str
    bot: str
    reference: str
    target: str = ""
    met: bool | None = None
    key: str = ""  # which target, for the doc's explanations

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "MISSED")


def _ratio(bot: int, reference: int) -> float:
    return bot / reference if reference else float("inf")


def _ms(value: float) -> str:
    return f"{value:.0f}"


def rows(results: Results) -> list[Row]:
    cycle, commands = results.cycle, results.commands
    n = cycle.runs_per_cycle
    out: list[Row] = []
    for variant in (cycle, results.absent):
        if variant is None:
            continue
        bot_q, ref_q = variant.queries("bot"), variant.queries("reference")
        ratio = _ratio(bot_q, ref_q)
        out.append(
            Row(
                f"PostHog queries per cycle, {variant.runs_per_cycle} new runs "
                f"(metrics {'embedded' if variant.metrics == 'present' else 'absent'})",
                str(bot_q),
                str(ref_q),
                f"bot/ref = {ratio:.2f} <= {QUERY_RATIO_MAX}",
                ratio <= QUERY_RATIO_MAX,
                "queries",
            )
        )
    if cycle.first_sight is not None:
        out.append(
            Row(
                f"PostHog queries, first cycle after install ({cycle.series} series)",
                str(cycle.first_sight.server_queries),
                "-",
            )
        )
    for sight in results.first_sight:
        embedded = sight.metrics == "present"
        limit = FIRST_SIGHT_EMBEDDED_MAX if embedded else FIRST_SIGHT_ABSENT_MAX
        out.append(
            Row(
                f"PostHog queries, {sight.series} series first sight ({sight.items}-item runs, "
                f"metrics {'embedded' if embedded else 'absent'})",
                str(sight.queries),
                "-",
                f"bot <= {limit}" if embedded else f"bot < {limit}",
                sight.queries <= limit if embedded else sight.queries < limit,
                "first_sight",
            )
        )
    if cycle.bot_idle is not None and cycle.reference_idle is not None:
        idle = cycle.bot_idle.server_queries
        out.append(
            Row(
                "PostHog queries per idle poll",
                str(idle),
                str(cycle.reference_idle.server_queries),
                "bot = 1",
                idle == 1,
                "idle",
            )
        )
    for text, cold_q, cached_q, ref_q in commands.queries:
        out.append(
            Row(
                f"PostHog queries, `/clusters {text}` (bot: cold / cached)",
                f"{cold_q} / {cached_q}",
                str(ref_q) if ref_q >= 0 else "-",
            )
        )
    out += [
        Row(
            f"Alert cycle wall time, {cycle.series} series x {cycle.items} items "
            f"(median of {len(cycle.bot)} / {len(cycle.reference)})",
            f"{cycle.wall('bot'):.2f} s",
            f"{cycle.wall('reference'):.2f} s",
            f"bot < {CYCLE_SECONDS_MAX:.0f} s",
            cycle.wall("bot") < CYCLE_SECONDS_MAX,
            "cycle_wall",
        ),
        Row(
            "Peak RSS of the cycle's process (ru_maxrss)",
            f"{cycle.peak_mb('bot'):.0f} MB",
            f"{cycle.peak_mb('reference'):.0f} MB",
            f"bot < {CYCLE_MB_MAX:.0f} MB",
            cycle.peak_mb("bot") < CYCLE_MB_MAX,
            "cycle_rss",
        ),
        *(
            [
                Row(
                    "Same cycle, bot with CHARTS=off (wall, peak RSS)",
                    f"{cycle.wall('no_charts'):.2f} s, {cycle.peak_mb('no_charts'):.0f} MB",
                    "-",
                )
            ]
            if cycle.bot_no_charts
            else []
        ),
        Row(
            "RSS before the cycle (imports + wiring)",
            f"{cycle.baseline_mb('bot'):.0f} MB",
            f"{cycle.baseline_mb('reference'):.0f} MB",
        ),
        Row(
            f"Slack messages posted by that cycle ({n} runs) + chart messages",
            f"{cycle.posts('bot')} + {cycle.uploads('bot')}",
            str(cycle.posts("reference")),
        ),
    ]
    cold, cached, burst, plain = commands.cold, commands.cached, commands.burst, commands.plain
    worst_ack = max(cold["ack_p99_ms"], cached["ack_p99_ms"])
    out += [
        Row(
            f"`/clusters latest` ack p50 / p99, cold (n={cold['n']:.0f})",
            f"{_ms(cold['ack_p50_ms'])} / {_ms(cold['ack_p99_ms'])} ms",
            "-",
            f"p99 < {ACK_P99_MS_MAX:.0f} ms",
            cold["ack_p99_ms"] < ACK_P99_MS_MAX,
            "ack",
        ),
        Row(
            f"`/clusters latest` ack p50 / p99, cached (n={cached['n']:.0f})",
            f"{_ms(cached['ack_p50_ms'])} / {_ms(cached['ack_p99_ms'])} ms",
            "-",
            f"p99 < {ACK_P99_MS_MAX:.0f} ms",
            worst_ack < ACK_P99_MS_MAX,
            "ack",
        ),
        Row(
            "`/clusters latest` time to reply p50 / p95, cold",
            f"{_ms(cold['reply_p50_ms'])} / {_ms(cold['reply_p95_ms'])} ms",
            "-",
        ),
        Row(
            "`/clusters latest` time to reply p50 / p95, cached",
            f"{_ms(cached['reply_p50_ms'])} / {_ms(cached['reply_p95_ms'])} ms",
            "-",
            f"p95 < {CACHED_REPLY_P95_MS_MAX:.0f} ms",
            cached["reply_p95_ms"] < CACHED_REPLY_P95_MS_MAX,
            "reply",
        ),
        Row(
            f"Same, cached, plain SlackUser: new httpx client per request (n={plain['n']:.0f}):"
            " ack p50 / p99",
            f"{_ms(plain['ack_p50_ms'])} / {_ms(plain['ack_p99_ms'])} ms",
            "-",
        ),
        Row(
            f"Same, cached, {commands.burst_concurrency} requests in flight (n={burst['n']:.0f}):"
            " ack p99 / reply p95",
            f"{_ms(burst['ack_p99_ms'])} / {_ms(burst['reply_p95_ms'])} ms",
            "-",
        ),
    ]
    for p in results.scaling:
        reference = (
            f"{p.reference_wall:.2f} s, {p.reference_peak_mb:.0f} MB, {p.reference_queries} q"
            if p.reference_wall is not None
            else "-"
        )
        out.append(
            Row(
                f"Scaling: {p.series} series x {p.items} items (wall, peak RSS, queries)",
                f"{p.bot_wall:.2f} s, {p.bot_peak_mb:.0f} MB, {p.bot_queries} q",
                reference,
            )
        )
    for m in results.matching:
        out.append(
            Row(
                f"Cluster matching (diff_runs), {m.clusters} clusters x "
                f"{m.description_chars}-char descriptions",
                f"{m.seconds:.2f} s",
                "-",
            )
        )
    return out


def table(all_rows: list[Row]) -> str:
    header = ("measure", "bot", "reference", "target", "")
    cells = [header] + [(r.measure, r.bot, r.reference, r.target, r.verdict) for r in all_rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(all_rows: list[Row]) -> str:
    lines = ["| measure | bot | reference | target | |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {r.measure} | {r.bot} | {r.reference} | {r.target} | {r.verdict} |" for r in all_rows
    ]
    return "\n".join(lines)


def machine() -> list[str]:
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    return [
        f"- Cores: {os.cpu_count()}; memory: {memory}; {platform.machine()}, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); "
        f"chdb {version('chdb')}, slack-bolt {version('slack-bolt')}, httpx {version('httpx')}",
    ]
