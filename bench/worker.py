"""One measured cycle in a process of its own, which talks only HTTP.

    python -m bench.worker '<json config>'

The local PostHog (chdb, ~400 MB of mapped library) and the fake Slack run in the parent; this
process imports only the bot (or the reference) and httpx, so its peak RSS is the bot's own.
It prints one JSON line: what it did, how long the cycle took and its RSS before the cycle.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def status_kb(field: str) -> int:
    """A field of /proc/self/status in kB (VmRSS: now, VmHWM: peak); 0 without /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb() -> int:
    return status_kb("VmRSS")


def profile_lines(profiler: cProfile.Profile, limit: int = 14) -> list[str]:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    lines = [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return lines[start : start + limit + 1]


def cumulative(profiler: cProfile.Profile | None, path: str, function: str) -> float:
    """Cumulative seconds spent in `function` of the file ending in `path` (0 without one)."""
    if profiler is None:
        return 0.0
    stats: Any = pstats.Stats(profiler)
    return float(
        sum(
            row[3]
            for (filename, _line, name), row in stats.stats.items()
            if filename.endswith(path) and name == function
        )
    )


def bot_cycle(config: dict[str, Any]) -> dict[str, Any]:
    from bot.settings import Settings
    from bot.wiring import build_services

    settings = Settings(
        _env_file=None,
        posthog_host=config["posthog_url"],
        posthog_project_id=config["project_id"],
        posthog_api_key=config["api_key"],
        posthog_query_budget_per_hour=100_000,
        slack_bot_token=config["slack_token"],
        slack_api_url=config["slack_api_url"],
        alert_channel=config["channel"],
        database_url=config["database_url"],
        charts=config.get("charts", True),
    )
    services = build_services(settings, min_post_interval=0.0)
    before = rss_kb()
    profiler = cProfile.Profile() if config.get("profile") else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = services.alerts.run_cycle()
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    services.close()
    delivery = report.delivery
    return {
        "wall": wall,
        "rss_before_kb": before,
        "queries": services.posthog.budget.spent,
        "runs_processed": len(report.runs_processed),
        "messages_stored": report.messages_stored,
        "sent": delivery.sent if delivery else 0,
        "profile": profile_lines(profiler) if profiler else [],
        "charts_seconds": cumulative(profiler, "bot/services/charts.py", "post_for_alert"),
    }


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def check_command(config: dict[str, Any]) -> dict[str, Any]:
    """`clusters-bot check` as a user runs it: settings from the environment, the CLI's own
    path (wiring, one cycle, delivery with the default pacing, charts, close). The bot's modules
    are imported before the clock starts, so `cpu` is the command's work, not Python's imports
    (the launcher's `process_cpu` has everything)."""
    import contextlib

    import bot.cli
    import bot.wiring  # imported by `check` itself; here so that `cpu` excludes it

    os.environ.update(
        {
            "POSTHOG_HOST": config["posthog_url"],
            "POSTHOG_PROJECT_ID": str(config["project_id"]),
            "POSTHOG_API_KEY": config["api_key"],
            "SLACK_BOT_TOKEN": config["slack_token"],
            "SLACK_API_URL": config["slack_api_url"],
            "ALERT_CHANNEL": config["channel"],
            "DATABASE_URL": config["database_url"],
            "CHARTS": "true" if config.get("charts", True) else "false",
        }
    )
    before = rss_kb()
    out = io.StringIO()
    profiler = cProfile.Profile() if config.get("profile") else None
    cpu, started = cpu_seconds(), time.perf_counter()
    if profiler:
        profiler.enable()
    with contextlib.redirect_stdout(out):
        code = bot.cli.main(["check"])
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    printed = out.getvalue().strip().splitlines()
    processed = re.search(r"processed (\d+)", printed[-1] if printed else "")
    return {
        "wall": wall,
        "cpu": cpu,
        "exit": code,
        "output": printed[-1] if printed else "",
        "rss_before_kb": before,
        "runs_processed": int(processed.group(1)) if processed else 0,
        "profile": profile_lines(profiler, limit=40) if profiler else [],
    }


def reference_cycle(config: dict[str, Any]) -> dict[str, Any]:
    from bench.reference import Reference, load_seen, save_seen

    reference = Reference(
        posthog_url=config["posthog_url"],
        project_id=config["project_id"],
        api_key=config["api_key"],
        slack_api_url=config["slack_api_url"],
        slack_token=config["slack_token"],
        channel=config["channel"],
    )
    seen_path = Path(config["seen_path"])
    seen = load_seen(seen_path)
    before = rss_kb()
    profiler = cProfile.Profile() if config.get("profile") else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    processed = reference.poll(seen)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    save_seen(seen_path, seen)
    reference.close()
    return {
        "wall": wall,
        "rss_before_kb": before,
        "queries": reference.queries,
        "runs_processed": len(processed),
        "messages_stored": reference.posts,
        "sent": reference.posts,
        "profile": profile_lines(profiler) if profiler else [],
    }


def launch(config: dict[str, Any]) -> dict[str, Any]:
    """Run the cycle in a child of this small process and read its peak RSS from
    getrusage(RUSAGE_CHILDREN). This hop matters: on Linux a child's ru_maxrss starts at the RSS
    of the process it was forked from (the bench's parent holds chdb, ~700 MB), so the worker must
    be forked from a process that is small itself."""
    child = subprocess.run(
        [sys.executable, "-m", "bench.worker", json.dumps({**config, "child": True})],
        stdout=subprocess.PIPE,
        check=True,
    )
    result: dict[str, Any] = json.loads(child.stdout.decode().strip().splitlines()[-1])
    result["ru_maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["process_cpu"] = cpu_seconds(resource.RUSAGE_CHILDREN)
    result["launcher_rss_kb"] = rss_kb()
    return result


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    if not config.get("child"):
        print(json.dumps(launch(config)), flush=True)
        return 0
    run = {"bot": bot_cycle, "check": check_command}.get(config["kind"], reference_cycle)
    result = run(config)
    result["vm_hwm_kb"] = status_kb("VmHWM")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
