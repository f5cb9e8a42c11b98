"""Every /clusters subcommand, as signed HTTP requests into the real Bolt app."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from bot.services.assigned_items import record_assignment
from bot.services.assignment import Assignment, AssignmentStatus
from bot.slack.escape import escape_mrkdwn
from standins.slack.server import Message
from standins.stack import Stack
from standins.traffic.generator import World
from tests.support.blocks import all_text, mrkdwn_objects

Ask = Callable[..., Message]
UI = "/project/1/ai-observability"


def buttons(message: Message, prefix: str) -> list[dict]:
    found = []
    for block in message.blocks:
        elements = block.get("elements", []) if block["type"] == "actions" else []
        if block.get("accessory"):
            elements = [*elements, block["accessory"]]
        found += [e for e in elements if e.get("action_id", "").startswith(prefix)]
    return found


def newest(world: World, job_name: str | None = None):
    runs = [r for r in world.runs if job_name is None or r.job_name == job_name]
    return max(runs, key=lambda r: r.timestamp)


def test_latest_summarises_the_newest_run(ask: Ask, world: World, stack: Stack) -> None:
    answer = ask("latest")
    run = newest(world)
    assert answer.blocks[0]["type"] == "header"
    assert run.job_name in answer.blocks[0]["text"]["text"]
    text = all_text(answer)
    assert f"{UI}/clusters/{run.run_id}" in text
    assert len(buttons(answer, "clusters.traces")) == min(15, len(run.sizes))
    assert buttons(answer, "clusters.share") and buttons(answer, "clusters.open")
    real = [c for c in run.sizes if c != -1]
    biggest = max(real, key=lambda c: run.sizes[c])
    assert escape_mrkdwn(run.titles[biggest])[:40] in text
    assert "of run" in text and "errors" in text


def test_latest_by_level_and_job_name(ask: Ask, world: World) -> None:
    answer = ask('latest trace "Checkout assistant"')
    assert "Checkout assistant" in answer.blocks[0]["text"]["text"]
    assert newest(world, "Checkout assistant").run_id in all_text(answer)
    answer = ask("latest generation")
    assert "Generation clusters" in answer.blocks[0]["text"]["text"]


def test_latest_for_an_unknown_job_says_so(ask: Ask) -> None:
    answer = ask("latest trace no-such-job")
    assert "No trace job `no-such-job` clustering run" in all_text(answer)


def test_runs_lists_recent_runs_with_links(ask: Ask, world: World) -> None:
    answer = ask("runs 4")
    text = all_text(answer)
    expected = sorted(world.runs, key=lambda r: r.timestamp, reverse=True)[:4]
    for run in expected:
        assert f"{UI}/clusters/{run.run_id}" in text
    assert text.count(f"{UI}/clusters/") == 4


def test_show_cluster_by_id_and_by_title_words(ask: Ask, world: World) -> None:
    run = newest(world, "Default - traces")
    cluster_id = max((c for c in run.sizes if c != -1), key=lambda c: run.sizes[c])
    answer = ask(f"show {cluster_id} run {run.run_id}")
    assert answer.blocks[0]["text"]["text"].startswith(run.titles[cluster_id][:30])
    text = all_text(answer)
    assert f"{UI}/clusters/{run.run_id}/{cluster_id}" in text
    assert "most representative traces" in text and f"{UI}/traces/" in text
    words = " ".join(run.titles[cluster_id].split()[:3])
    by_title = ask(f"show {words}")
    assert by_title.blocks[0]["type"] == "header"


def test_show_reports_the_runs_held_out_agreement(ask: Ask, world: World, stack: Stack) -> None:
    run = newest(world, "Default - generations")
    cluster_id = max((c for c in run.sizes if c != -1), key=lambda c: run.sizes[c])
    result = Assignment(
        run.run_id, AssignmentStatus.ASSIGNED, held_out_assigned=240, agreement=0.91, usable=True
    )
    record_assignment(stack.services.store, result, used=True)
    text = all_text(ask(f"show {cluster_id} run {run.run_id}"))
    assert "counted in alerts; held-out agreement 91% over 240 sampled items" in text
    other = newest(world, "Default - traces")  # no assignment recorded for it: no line
    assert "held-out agreement" not in all_text(ask(f"show 0 run {other.run_id}"))


def test_show_unknown_cluster_is_explained(ask: Ask) -> None:
    answer = ask("show zebra unicorn quantum")
    assert "No cluster matches `zebra unicorn quantum`" in all_text(answer)


def test_top_cost_ranks_by_average_cost(ask: Ask) -> None:
    answer = ask("top cost")
    text = all_text(answer)
    costs = [float(x.replace(",", "")) for x in re.findall(r"\$([\d.,]+)/item", text)]
    assert len(costs) >= 3 and costs == sorted(costs, reverse=True)
    assert "Top clusters by cost" in answer.blocks[0]["text"]["text"]


def test_top_other_metrics(ask: Ask) -> None:
    for metric, title in (
        ("latency", "latency"),
        ("errors", "errors"),
        ("size generation", "size"),
    ):
        answer = ask(f"top {metric}")
        assert f"Top clusters by {title}" in answer.blocks[0]["text"]["text"], metric


def test_compare_newest_with_previous(ask: Ask, world: World) -> None:
    run = newest(world, "Default - traces")
    previous = world.previous(run)
    assert previous is not None
    answer = ask(f"compare {run.run_id}")
    text = all_text(answer)
    assert f"{UI}/clusters/{run.run_id}" in text and f"{UI}/clusters/{previous.run_id}" in text
    assert re.search(r"\d+ matched · \d+ new · \d+ vanished", text)


def test_compare_runs_of_different_jobs_is_refused(ask: Ask, world: World) -> None:
    a = newest(world, "Default - traces").run_id
    b = newest(world, "Checkout assistant").run_id
    assert "different jobs" in all_text(ask(f"compare {a} {b}"))


def test_jobs_lists_clustering_jobs(ask: Ask, world: World) -> None:
    text = all_text(ask("jobs"))
    for job in world.jobs:
        assert escape_mrkdwn(job["name"]) in text


def test_trace_shows_one_trace(ask: Ask, world: World) -> None:
    run = newest(world, "Default - traces")
    trace_id = next(iter(run.items[next(iter(run.items))]))
    answer = ask(f"trace {trace_id}")
    text = all_text(answer)
    assert f"{UI}/traces/{trace_id}" in text
    assert "First input" in text or "hidden" in text


def test_unknown_trace_is_explained(ask: Ask) -> None:
    assert "No trace `nope-123` found" in all_text(ask("trace nope-123"))


def test_help_empty_and_unknown_commands_get_help(ask: Ask) -> None:
    for text in ("help", "", "frobnicate now"):
        answer = all_text(ask(text))
        assert "How to use" in answer and "/clusters latest" in answer
    assert "Unknown command: `frobnicate`" in all_text(ask("frobnicate now"))


def test_bad_argument_names_the_problem(ask: Ask) -> None:
    answer = all_text(ask("runs 500"))
    assert "between 1 and 20" in answer and "/clusters runs" in answer


@pytest.mark.parametrize("text", ["latest", "runs 3", "top cost", "show 0", "jobs", "help"])
def test_every_mrkdwn_text_is_verbatim(ask: Ask, text: str) -> None:
    """LLM-written titles may hold bare URLs or `#channel` names: Slack must not link them."""
    objects = mrkdwn_objects(ask(text).blocks)
    assert objects and [o for o in objects if o.get("verbatim") is not True] == []
