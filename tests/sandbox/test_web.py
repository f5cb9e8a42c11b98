"""The sandbox page over real HTTP, against `python -m bot sandbox --port 0` in a subprocess
(chdb opens one database path per process, so the sandbox never shares the test process)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.sandbox_process import GUARD, Running, alerts, start_sandbox, wait_until

SERIES_NAMES = (
    "Default - traces",
    "Support agent",
    "Default - generations",
    "Default - evaluations",
)


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start_sandbox(tmp_path_factory.mktemp("web") / "state")
    yield running
    assert running.stop() == 0


def test_page_is_a_slack_channel_with_controls(sandbox: Running) -> None:
    page = httpx.get(sandbox.url + "/", follow_redirects=True, timeout=20)
    assert page.status_code == 200 and page.url.path == "/c/C0ALERTS"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for part in ("# llm-alerts", "# general", 'id="composer-input"', "Next clustering run"):
        assert part in page.text
    for series in SERIES_NAMES:
        assert f'<option value="{series}">' in page.text
    assert 'value="cost_spike"' in page.text and 'value="vanished_cluster"' in page.text
    assert sandbox.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert sandbox.get("/c/C0NOPE").status_code == 404
    assert sandbox.get("/static/../run.py").status_code == 404


@pytest.mark.calendar
def test_first_cycle_posts_the_planted_alerts(sandbox: Running) -> None:
    def threaded() -> list[dict[str, str]]:  # each parent's details go in its thread
        found = alerts(sandbox)
        done = len(found) >= 4 and all('class="msg-replies"' in m["html"] for m in found)
        return found if done else []

    shown = " ".join(text_of(m["html"]) for m in wait_until(threaded, what="threaded alerts"))
    assert "Cost per item" in shown and "Error rate" in shown
    # the evaluations' failing generations: their judge's pass rate drops
    assert "Evaluation pass rate" in shown or "Share of failing evaluations" in shown
    for series in SERIES_NAMES:
        assert series in shown  # the generations' topic stopping: a traffic or share alert


def test_composer_command_gets_an_ephemeral_reply(sandbox: Running) -> None:
    before = len(sandbox.messages("C0GENERAL"))
    response = sandbox.post("/api/command", {"channel": "C0GENERAL", "text": "/clusters latest"})
    assert response.json() == {"ok": True, "status": 200}
    new = wait_until(lambda: sandbox.messages("C0GENERAL")[before:], what="the reply")
    reply = new[-1]["html"]
    assert "Only visible to you" in reply and 'class="bk-header"' in reply
    assert 'data-action-id="clusters.traces.0"' in reply and "Share in channel" in reply
    assert "/ai-observability/clusters/" in reply


def test_only_clusters_commands_are_sent(sandbox: Running) -> None:
    for text in ("/giphy cats", "hello"):
        response = sandbox.post("/api/command", {"channel": "C0GENERAL", "text": text})
        assert response.status_code == 400 and "/clusters help" in response.json()["error"]


def test_clicking_traces_in_an_alert_thread_posts_trace_links(sandbox: Running) -> None:
    parent = wait_until(lambda: alerts(sandbox), what="alerts")[0]
    detail = wait_until(
        lambda: sandbox.get("/api/thread", channel="C0ALERTS", ts=parent["ts"]).json()["replies"],
        what="the alert's details",
    )[0]
    assert 'data-action-id="clusters.traces"' in detail["html"]
    body = {"channel": "C0ALERTS", "ts": detail["ts"], "action_id": "clusters.traces"}
    assert sandbox.post("/api/click", body).json()["ok"] is True

    def traces() -> list[dict[str, str]]:
        replies = sandbox.get("/api/thread", channel="C0ALERTS", ts=parent["ts"]).json()
        return [r for r in replies["replies"] if "/ai-observability/traces/" in r["html"]]

    posted = wait_until(traces, what="the traces reply")[0]["html"]
    assert sandbox.url + "/project/1/ai-observability/traces/" in posted
    missing = sandbox.post("/api/click", {**body, "action_id": "clusters.nope"})
    assert missing.status_code == 400 and "no button" in missing.json()["error"]


def test_an_evaluation_series_answers_in_evaluations(sandbox: Running) -> None:
    before = len(sandbox.messages("C0GENERAL"))
    text = "/clusters latest evaluation"
    response = sandbox.post("/api/command", {"channel": "C0GENERAL", "text": text})
    assert response.json() == {"ok": True, "status": 200}
    reply = text_of(
        wait_until(lambda: sandbox.messages("C0GENERAL")[before:], what="reply")[-1]["html"]
    )
    assert "Evaluation clusters" in reply and "Default - evaluations" in reply
    assert "evaluations" in reply and "% pass" in reply and "/evaluation" in reply
    result = sandbox.post("/api/next-run", {"job_name": "Default - evaluations", "change": "none"})
    assert result.json()["ok"] and result.json()["run_id"].startswith("1_evaluation_")


@pytest.mark.calendar
def test_next_run_with_a_cost_spike_alerts_within_seconds(sandbox: Running) -> None:
    wait_until(lambda: len(alerts(sandbox)) >= 4, what="the first alerts")
    before = len(alerts(sandbox))
    body = {"job_name": "Default - traces", "change": "cost_spike"}
    result = sandbox.post("/api/next-run", body).json()
    assert result["ok"] and result["run_id"].startswith("1_trace_") and result["events"] > 0
    # "Next clustering run" checks at once (the poll interval is 10 s); the timeout is only a
    # guard (an alert of the first cycle may still arrive meanwhile: the new run's is found by
    # its id)
    new = wait_until(
        lambda: [a for a in alerts(sandbox)[before:] if result["run_id"] in a["html"]],
        timeout=GUARD,
        what="the new run's alert",
    )
    assert "Cost per item" in text_of(new[0]["html"])
    state = json.loads((sandbox.state_dir / "generator.json").read_text())
    assert state["extras"][-1][:2] == ["Default - traces", "cost_spike"]


def test_check_now_runs_a_cycle_on_request(sandbox: Running) -> None:
    assert sandbox.post("/api/check-now", {}).json() == {"ok": True}


def test_next_run_rejects_unknown_series_and_changes(sandbox: Running) -> None:
    bad_series = sandbox.post("/api/next-run", {"job_name": "Nope", "change": "none"})
    bad_change = sandbox.post("/api/next-run", {"job_name": "Support agent", "change": "boom"})
    assert bad_series.status_code == bad_change.status_code == 400


def test_posts_must_be_json_from_this_page(sandbox: Running) -> None:
    body = {"channel": "C0GENERAL", "text": "/clusters help"}
    foreign = sandbox.post("/api/command", body, Origin="http://evil.example")
    assert foreign.status_code == 400 and "cross-origin" in foreign.text
    form = httpx.post(sandbox.url + "/api/command", data=body, timeout=10)
    assert form.status_code == 400


def test_events_stream_announces_new_messages(sandbox: Running) -> None:
    with httpx.stream("GET", sandbox.url + "/api/events", timeout=20) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 1000" and next(lines) == "event: hello"
        sandbox.post("/api/command", {"channel": "C0GENERAL", "text": "/clusters help"})
        for line in lines:  # other tests' late thread replies may come first
            event = json.loads(line[6:]) if line.startswith("data: ") else {}
            if event.get("channel") == "C0GENERAL":
                break
    assert event["kind"] == "posted" and event["ephemeral_for"] == "U0YOU"
    assert event["rev"] > 0 and event["thread_ts"] is None


def test_posthog_links_land_on_a_stand_in(sandbox: Running) -> None:
    page = sandbox.get("/project/1/ai-observability/traces/t%3Cx%3E", timestamp="2026-01-01")
    assert page.status_code == 200 and "PostHog stand-in" in page.text
    assert "/ai-observability/traces/t&lt;x&gt;" in page.text and "<x>" not in page.text
