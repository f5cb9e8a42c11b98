"""What the sandbox keeps and makes without starting it: the generator's state, the fake Slack's
persisted history, the refusal to wipe a folder it did not make, and demo data whose changes its
first cycle alerts on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk import WebClient

from standins import persist
from standins.run import Sandbox
from standins.slack.server import FakeSlack
from standins.traffic.demo_data import GeneratorState
from standins.traffic.generator import Change, SeriesSpec, emit_next_run


def test_generator_state_rebuilds_the_emitted_world() -> None:
    from datetime import timedelta

    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    state = GeneratorState(seed=3, now=now, items_per_run=40)
    world = state.base_world()
    for hours, (job, change) in enumerate(
        [("Support agent", Change.COST_SPIKE), ("Default - traces", Change.NONE),
         ("Support agent", Change.NEW_CLUSTER)], start=1,
    ):  # fmt: skip
        at = now + timedelta(hours=hours)
        world = emit_next_run(world, job_name=job, change=state.plant(change.value), now=at)
        state.extras.append((job, change.value, at))
    rebuilt = GeneratorState.from_json(json.loads(json.dumps(state.to_json()))).world()
    assert [e["uuid"] for e in rebuilt.events] == [e["uuid"] for e in world.events]
    assert [e["uuid"] for e in rebuilt.added_events] == [e["uuid"] for e in world.added_events]


def test_persist_round_trip_keeps_timestamps_threads_and_metadata(tmp_path: Path) -> None:
    with FakeSlack() as fake:
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        parent = client.chat_postMessage(
            channel="C0ALERTS", text="parent", metadata={"event_type": "x", "event_payload": {}}
        )["ts"]
        client.chat_postMessage(channel="C0ALERTS", text="reply", thread_ts=parent)
        client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="just you")
        assert persist.save(fake, tmp_path / "slack.json") == 2
        before = {c: fake.messages(c) for c in fake.channels}
    with FakeSlack() as restored:
        assert persist.load(restored, tmp_path / "slack.json") == 2
        assert {c: restored.messages(c) for c in restored.channels} == before
        client = WebClient(token=restored.bot_token, base_url=restored.api_url)
        newer = client.chat_postMessage(channel="C0ALERTS", text="after")["ts"]
        assert float(newer) > float(parent)
        history = client.conversations_history(channel="C0ALERTS", include_all_metadata=True)
        assert history["messages"][-1]["metadata"]["event_type"] == "x"
    assert persist.load(FakeSlack(), tmp_path / "missing.json") == 0


def test_fresh_refuses_to_wipe_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="did not make"):
        Sandbox(state_dir=tmp_path, port=0, fresh=True).start()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_data_is_data_whose_changes_the_first_cycle_alerts_on() -> None:
    from datetime import timedelta

    from standins.traffic.demo_check import first_cycle_alerts_every_change
    from standins.traffic.demo_data import ITEMS_PER_RUN, LATENCY_BY_TOKENS, RUNS, SEED, SERIES
    from standins.traffic.generator import Plant, generate

    now = datetime(2026, 11, 29, 0, 32, tzinfo=UTC)  # the first cycle misses a change of seed 1
    state = GeneratorState.demo(now)
    assert state.seed != SEED  # seed 1 was passed over: demo tries the seeds from SEED in turn
    assert first_cycle_alerts_every_change(state.base_world(events=False))
    faint = generate(
        seed=state.seed,
        series=list(SERIES),
        runs=RUNS,
        items_per_run=ITEMS_PER_RUN,
        now=now - timedelta(days=1),
        planted={("Support agent", RUNS - 1): Plant(Change.ERROR_HEAVY, scale=0.01)},
        events=False,
        latency_by_tokens=LATENCY_BY_TOKENS,
    )
    assert not first_cycle_alerts_every_change(faint)


def test_a_latency_spike_emitted_in_the_sandbox_is_found_in_latency_per_output_token() -> None:
    # The demo's models stream their answers, so its latency follows the output tokens and a
    # slower model shows in latency per output token, which the alert names.
    from datetime import timedelta

    from bot.domain.alerts import AlertKind
    from bot.domain.compare import diff_runs
    from bot.domain.fresh import detect
    from bot.domain.slices import slice_run
    from bot.domain.thresholds import Thresholds
    from standins.traffic.demo_check import as_loaded

    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    state = GeneratorState(seed=1, now=now)
    job = "Default - traces"
    world = emit_next_run(
        state.base_world(series=(SeriesSpec(level="trace", job_name=job),), events=False),
        job_name=job,
        change=state.plant(Change.LATENCY_SPIKE.value),
        now=now + timedelta(days=1),
    )
    previous, current = (as_loaded(r.event, world.item_values) for r in world.runs_of(job)[-2:])
    slices = slice_run(diff_runs(previous, current))
    [truth] = [p for p in world.planted if p.run_id == current.run_id]

    alerts = [a for a in detect(slices, Thresholds()).alerts if a.kind is AlertKind.LATENCY_SPIKE]
    assert [(a.cluster_id, a.part) for a in alerts] == [
        (truth.cluster_id, "latency per output token")
    ]
