"""The alert-quality sweep as a table, its targets, and the "Alert quality" section of
docs/benchmarks.md."""

from __future__ import annotations

import math
import os
from typing import Any

from bench.sweep import KINDS, PLANTED_AT, RUNS, Outcome, Setting, Sweep

MOVING = frozenset(k.label for k in KINDS if k.moves_traffic)

FALSE_PER_RUN_MAX = 0.05  # at most 1 false alert per 20 runs, at every setting
FIRST_RUN_MIN = 0.9  # 18 of 20 at the default setting, for the kinds below
FIRST_RUN_KINDS = ("cost by price", "cost by prompt bloat", "errors", "new traffic")


def _runs(sweep: Sweep, moving: bool) -> int:
    return sum(o.runs_after for o in sweep.outcomes if (o.kind in MOVING) == moving)


def moved_excess(sweep: Sweep) -> tuple[int, float, int]:
    """(share alerts on stable clusters at or after a traffic change, how many the same runs
    would hold at the rate of runs after a change that moves no traffic, the alerts that rate
    rests on): others moving caused only what exceeds the second (Poisson)."""
    moved = _sum(sweep.outcomes, "moved_alerts")
    still = sum(o.share_alerts for o in sweep.outcomes if o.kind not in MOVING)
    rate = still / max(1, _runs(sweep, False))
    return moved, rate * _runs(sweep, True), still


def _sum(outcomes: list[Outcome], attribute: str) -> int:
    return sum(int(getattr(o, attribute)) for o in outcomes)


def setting_row(sweep: Sweep, setting: Setting) -> dict[str, Any]:
    """One line of the table: the setting, then per kind "first run · within two / changes
    whose topic is a cluster", then the false alerts and failures over all its series."""
    outcomes = sweep.of(setting.name)
    row: dict[str, Any] = {
        "setting": setting.name,
        "traces/day": f"{setting.traces_per_day:,.0f}",
        "items/run": f"{setting.items:,}",
        "misplaced": f"{setting.misplaced:.0%}",
        "topics": setting.topics,
        "clusters": round(sum(o.clusters for o in outcomes) / len(outcomes), 1)
        if outcomes
        else None,
    }
    for kind in KINDS:
        of_kind = sweep.of(setting.name, kind.label)
        row[kind.label] = (
            f"{_sum(of_kind, 'first')} · {_sum(of_kind, 'within_two')} / {_sum(of_kind, 'visible')}"
        )
    runs = _sum(outcomes, "runs")
    row["false alerts per run"] = round(_sum(outcomes, "false_alerts") / runs, 3) if runs else None
    row["stable alerted while others moved"] = _sum(outcomes, "moved_alerts")
    row["failed runs"] = _sum(outcomes, "failed")
    row["changes not a cluster"] = len(outcomes) - _sum(outcomes, "visible")
    return row


def rows(sweep: Sweep) -> list[dict[str, Any]]:
    return [setting_row(sweep, setting) for setting in sweep.settings]


def oracle_rows(sweep: Sweep) -> list[dict[str, Any]]:
    """Per setting and kind, what the samples allow (`bench/oracle.py`): "first run · within
    two" for the oracle, beside the scanning oracle's and the bot's."""
    table = []
    for setting in sweep.settings:
        row: dict[str, Any] = {"setting": setting.name}
        for kind in KINDS:
            of_kind = sweep.of(setting.name, kind.label)
            row[kind.label] = (
                f"{_sum(of_kind, 'oracle_first')} · {_sum(of_kind, 'oracle_two')} "
                f"(scan {_sum(of_kind, 'scan_first')} · {_sum(of_kind, 'scan_two')}; "
                f"bot {_sum(of_kind, 'first')} · {_sum(of_kind, 'within_two')})"
            )
        table.append(row)
    return table


def targets(sweep: Sweep) -> list[tuple[str, bool, str]]:
    """(target, met, evidence) for each of issue 20's targets."""
    out: list[tuple[str, bool, str]] = []
    failed = _sum(sweep.outcomes, "failed")
    out.append(("no run fails, at any setting", failed == 0, f"{failed} failed runs"))
    worst = max(
        sweep.settings,
        key=lambda s: (
            _sum(sweep.of(s.name), "false_alerts") / max(1, _sum(sweep.of(s.name), "runs"))
        ),
    )
    rate = _sum(sweep.of(worst.name), "false_alerts") / max(1, _sum(sweep.of(worst.name), "runs"))
    out.append(
        (
            f"false alerts <= {FALSE_PER_RUN_MAX} per run at every setting",
            rate <= FALSE_PER_RUN_MAX,
            f"worst: {rate:.3f} at {worst.name}",
        )
    )
    moved, expected, still = moved_excess(sweep)
    out.append(
        (
            "no stable cluster alerted because others moved",
            moved <= expected + 2 * math.sqrt(expected),
            f"{moved} share alerts on stable clusters in {_runs(sweep, True)} runs at or after a "
            f"traffic change, against {expected:.1f} expected from the {still} such alerts in "
            f"{_runs(sweep, False)} runs at or after a change that moves no traffic (met: at "
            "most 2 standard deviations above)",
        )
    )
    missed = [o for o in sweep.outcomes if o.visible and not o.within_two]
    allowed = [o for o in missed if o.oracle_two]
    scanned = [f"{o.kind} at {o.setting} (seed {o.seed})" for o in allowed if o.scan_two]
    out.append(
        (
            "every full-size change alerted within two runs, at every setting",
            not missed,
            f"{len(missed)} missed; the oracle misses {len(missed) - len(allowed)} of them too "
            f"(beyond what the two runs' samples hold), {len(allowed) - len(scanned)} more are "
            "missed by the oracle that does not know when the change began (the price of not "
            f"knowing it), {len(scanned)} are within reach of a detector that knows the cluster "
            "and what moved" + (f", e.g. {'; '.join(scanned[:4])}" if scanned else ""),
        )
    )
    default = next((s for s in sweep.settings if s.name == "default"), None)
    for label in FIRST_RUN_KINDS if default is not None else ():
        of_kind = sweep.of(default.name, label)
        first, visible = _sum(of_kind, "first"), _sum(of_kind, "visible")
        oracle = _sum(of_kind, "oracle_first")
        out.append(
            (
                f"{label}: first run >= {FIRST_RUN_MIN:.0%} at {default.name}",
                bool(visible) and first >= FIRST_RUN_MIN * visible,
                f"{first}/{visible} (the oracle: {oracle}/{visible})",
            )
        )
    return out


FINDINGS = """Where the false alerts come from (measured 2026-12-07 on this sweep's worlds):

- **Vanished clusters were untested.** A small cluster of the previous run often dissolves into
  the noise or a neighbour when the next sample is drawn; at 500 items a run that was most of
  the 0.22 false alerts per run (41 of 44 in a check of 5 seeds per kind). A vanish is now a
  test like the others (the chance that its topic, moving with the rest at its previous share,
  gave none of the fresh items), under Benjamini-Hochberg with the run's other tests: a 4 %
  cluster missing from 70 fresh items is a 5 % chance and no longer alerts; a large cluster
  missing from a large fresh day still does.
- **The rest are single far draws, at the rate the correction allows.** Each run's tests (one
  per cluster and family, ~50) go through Benjamini-Hochberg at 5 %: in a run where nothing
  changed that lets at most about one run in 20 through, less what the minimum effects stop,
  so false alerts sit under the 5 % line by construction. Their p-values are 1e-5 to 2e-3,
  spread over size shift, latency, cost and noise growth. Halving the rate to 2.5 % (default
  setting, 10 seeds per kind) cut false alerts from 6 to 4 in 350 runs but lost 8 of the 53
  changes alerted within two runs (and 3 of 24 on the first run), so it stays at 5 %.
- **Size shifts on stable topics are the data's own tails**, not matching or re-partitioning.
  "default, cost by price, seed 2, run 3: sales_emails 0.046 -> 0.139": 27 of the cluster's 29
  fresh items are its own topic; that day the topic's traffic ran x1.4 (day factor 1.2 and a
  high Poisson draw), the summarizer kept 63 % of it against 51 % on other days, and the sample
  76 % against 59 %: three independent ~2-sigma draws compound to x3 in the sample. The
  dispersion the test measures on the older days (about 1.0) is what the same counts show at
  the topic level (mean squared z 1.0 on 900 topic-days at 5 topics), and a dispersion that
  grows with the count (negative binomial, fitted on the older days) came out at 0 in most runs
  and did not change the tails, so it was not kept.
- **Latency spikes on stable topics are tail draws too.** "translation 2.01 -> 3.10 s": all 18
  fresh items of the cluster sat above 2.17 s, from a day whose 26 translation traces had a
  median of 3.05 s (other days 1.5-2.6 s); the spread of daily mean log latency between days
  is what the spread within days predicts (the ratio averages about 1 over 35 topics).
- **Targets beyond what the samples hold.** The oracle table above (`bench/oracle.py`) knows
  the changed cluster, the moment the change began and what moved, and tests only that
  cluster's items after the moment against its items before it, at the cutoff one discovery
  among the run's tests needs. A change that starts late in the day leaves few changed items
  in the first run's sample (0-4 in 10 of the 20 error series at the default setting), so on
  the first run the oracle itself stays well under 18 of 20 for errors and prompt bloat; where
  the bot is under the oracle (the bot's counts are in brackets), that many changes were in
  the samples and the detector did not find them; the next bullet splits them into the price
  of not knowing when a change began and what is left to the detector.
- **The price of not knowing when.** The scanning oracle (in brackets, first) knows the cluster
  and what moved but not the moment: it looks where the bot's scan looks, at the scan's
  weights. Summed over the settings above, changes alerted within two runs (oracle / scanning
  oracle / bot): cost by price 211 / 207 / 203, prompt bloat 145 / 127 / 139, latency
  131 / 116 / 122, errors 147 / 133 / 164, traffic up 142 / 135 / 122, traffic stopped
  139 / 144 / 125, new traffic 208 / 206 / 205. Not knowing the moment costs the oracle up to
  18 changes of a kind. The bot, which also has to find the cluster and what moved, does about
  as well as the scanning oracle on every change of values (4 short on price, ahead on prompt
  bloat, latency and errors); what it has left to win is in shares: traffic up (13 short) and
  traffic stopped (19 short). A share test pays for all of its looks (growth and fall over
  the day, after each cut, over two days, and the stop), and a stopped topic's cluster keeps
  a trickle of its neighbours' misplaced items, so "no item since" rarely holds after a stop
  and the fall over the whole day carries it. The oracles watch that same cluster; they count
  a stopped topic's items by topic only when no cluster of the run is left.
- **Latency where output tokens explain it.** In the "latency by tokens" worlds a generation
  takes a fixed time to its first token plus a time per output token (the generator's
  `latency_by_tokens`; elsewhere latency ignores tokens, and no cluster's latency passes the
  bot's test of being explained by them, so every other row is as before). There the bot tests
  latency in parts, like cost: latency per output token spreads about half as much as latency
  (MAD of logs 0.18-0.29 against 0.31-0.51), so a slower model is plain in it. On the sweep's
  seeds the latency step is alerted 7 times on its first run and 12 within two (the oracle,
  testing latency per output token: 9 and 18); with latency alone, as before, 2 and 6. False
  alerts at that setting: 19 in its 700 runs with the parts, 21 with latency alone.
- **Stable clusters and others' moves.** Shares are held against the rest of the traffic, so a
  surge, a stop or new traffic should add no share alert on a stable cluster; the target
  compares the share alerts on stable clusters after such a change with those after changes
  that move no traffic.
"""


def sweep_markdown(sweep: Sweep) -> str:
    """The "Alert quality" section of docs/benchmarks.md."""
    table = rows(sweep)
    header = list(table[0]) if table else []
    kinds = ", ".join(k.label for k in KINDS)
    lines = [
        "## Alert quality",
        "",
        f"A sweep of realistic daily runs (`bench/sweep.py`), {sweep.seeds} seeds per setting and "
        f"kind of change ({kinds}), one change per series of {RUNS} daily runs, planted in run "
        f"{PLANTED_AT} at a uniformly random moment of the day before it. Traffic of the given "
        "volume goes through PostHog's hourly summarizer (the newest 15 traces of each hour); "
        "runs sample the given number of summarized items of their 7-day window; the given "
        "share of items is misplaced (half in noise, half in a neighbouring cluster), on top of "
        "8 % genuine outliers. Each series goes through the bot's pure path with default "
        "thresholds. Per kind: alerted on the first run that contains the change · within two "
        "runs / changes whose topic is a cluster where it can first be alerted. False alerts per "
        "run count each (run, cluster) once: an alert on a topic that did not change, or on the "
        'changed one before its change. "Stable alerted while others moved" counts the share '
        "alerts (size shift, traffic stopped, new or vanished cluster) among them on stable "
        "clusters in runs at or after a surge, a stop or new traffic; the targets hold them "
        "against the same alerts after changes that move no traffic. "
        f"Took {sweep.seconds / 60:.1f} min on {sweep.processes} processes "
        f"(load average {sweep.load:.1f} on {os.cpu_count()} cores when it started), "
        f"{sum(o.cpu for o in sweep.outcomes) / 60:.1f} CPU-min in all.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for row in table:
        lines.append("| " + " | ".join(str(v) for v in row.values()) + " |")
    lines += ["", "Targets (issue 20):", ""]
    for target, met, evidence in targets(sweep):
        lines.append(f"- {target}: {evidence} - {'met' if met else '**missed**'}.")
    oracle = oracle_rows(sweep)
    if oracle:
        lines += [
            "",
            "What the samples allow: an oracle (`bench/oracle.py`) that knows the changed "
            "cluster, the moment the change began and what moved; first run · within two, in "
            "brackets the scanning oracle's (the same, not knowing the moment: it looks where "
            "the bot's scan looks) and the bot's:",
            "",
            "| " + " | ".join(oracle[0]) + " |",
            "| " + " | ".join("---" for _ in oracle[0]) + " |",
        ]
        lines += ["| " + " | ".join(str(v) for v in row.values()) + " |" for row in oracle]
    examples = [  # the first of each setting
        next(e for o in sweep.of(s.name) for e in o.examples)
        for s in sweep.settings
        if any(o.examples for o in sweep.of(s.name))
    ]
    if examples:
        lines += ["", "Examples of false alerts and failed runs (the first of each setting):", ""]
        lines += [f"- {e}" for e in examples]
    lines += ["", FINDINGS.rstrip("\n")]
    return "\n".join(lines) + "\n"
