"""`clusters-bot doctor` against the local stand-ins: all green, and each problem with its fix."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.doctor import run_doctor
from bot.services.assignment import Unavailable
from bot.services.early_health import EarlyPause, record_early_check
from bot.wiring import build_services
from standins.posthog.embeddings import drop_embeddings, insert_embeddings
from standins.stack import Stack
from standins.traffic.embeddings import Summaries, summaries
from standins.traffic.generator import SeriesSpec, generate
from tests.support import worlds
from tests.support.clock import NOW


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = tmp_path_factory.mktemp("doctor") / "bot.db"
    with Stack(database_url=f"sqlite:///{db}") as running:
        world = worlds.generate(seed=5, series=[SeriesSpec()], runs=2, items_per_run=100, now=NOW)
        worlds.load(running.posthog, world)
        insert_some_embeddings(running)
        yield running


def insert_some_embeddings(stack: Stack) -> None:
    """The newest few of PostHog's summary embeddings (the real model and dimension)."""
    summarized = generate(
        seed=5, series=[SeriesSpec()], runs=1, now=NOW, traces_per_day=200.0, events=False
    )
    found = summaries(summarized)
    few = Summaries(found.events, found.rows[-20:], found.vectors[-20:], found.model_name)
    insert_embeddings(stack.posthog, few)


def doctor(stack: Stack, **overrides: object) -> tuple[int, list[str]]:
    lines: list[str] = []
    settings = stack.settings(**overrides)
    services = build_services(settings)
    try:
        code = run_doctor(settings, out=lines.append, services=services)
    finally:
        services.close()
    return code, lines


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_all_green_against_the_stand_ins(stack: Stack) -> None:
    code, lines = doctor(stack)
    assert code == 0, lines
    assert all(line.startswith("✓") for line in lines)
    assert any("Clustering runs" in line for line in lines)
    assert any("Database schema: up to date" in line for line in lines)
    assert any("Alert channel" in line and "member" in line for line in lines)
    assert any(line.startswith("✓ Summary embeddings: 20 summary embeddings") for line in lines)


def test_a_posthog_without_summary_embeddings_is_a_warning_with_its_fix(stack: Stack) -> None:
    drop_embeddings(stack.posthog.store)
    try:
        code, lines = doctor(stack)
    finally:
        insert_some_embeddings(stack)
    assert code == 0, lines
    (line,) = [line for line in lines if "Summary embeddings" in line]
    assert line.startswith("! Summary embeddings: cannot be read")
    assert "Fix: upgrade PostHog" in line and "run's sample only" in line


def test_wrong_key(stack: Stack) -> None:
    code, lines = doctor(stack, posthog_api_key="phx_wrong")
    assert code == 1
    assert any(line.startswith("✗ PostHog key") and "POSTHOG_API_KEY" in line for line in lines)


def test_wrong_project_id(stack: Stack) -> None:
    code, lines = doctor(stack, posthog_project_id=999)
    assert code == 1
    assert any("PostHog project" in line and "POSTHOG_PROJECT_ID" in line for line in lines)


def test_unreachable_host(stack: Stack) -> None:
    code, lines = doctor(
        stack, posthog_host=f"http://127.0.0.1:{free_port()}", posthog_timeout_seconds=1
    )
    assert code == 1
    assert any("PostHog host" in line and "POSTHOG_HOST" in line for line in lines)


def test_a_public_alert_channel_is_joined(stack: Stack) -> None:
    stack.slack.create_channel("ops-public", "C0JOINME", member=False)
    code, lines = doctor(stack, alert_channel="C0JOINME")
    assert code == 0, lines
    assert any("Alert channel" in line and "joined" in line for line in lines)
    assert stack.slack.channels["C0JOINME"].is_member
    assert [c.params["channel"] for c in stack.slack.calls_to("conversations.join")][-1] == (
        "C0JOINME"
    )


def test_a_private_alert_channel_needs_an_invite(stack: Stack) -> None:
    stack.slack.create_channel("secret", "G0SECRET", member=False, private=True)
    joins = len(stack.slack.calls_to("conversations.join"))
    code, lines = doctor(stack, alert_channel="G0SECRET")
    assert code == 1
    assert any("Alert channel" in line and "/invite" in line for line in lines)
    assert len(stack.slack.calls_to("conversations.join")) == joins  # private: never tried
    code, lines = doctor(stack, alert_channel="C0NOWHERE")
    assert code == 1 and any("channel_not_found" in line for line in lines)


def test_a_missing_scope_is_named_with_its_fix(stack: Stack) -> None:
    stack.slack.create_channel("private-ops", "G0PRIVOPS", member=True, private=True)
    granted = stack.slack.scopes()
    stack.slack.set_scopes(granted - {"groups:read"})
    try:
        code, lines = doctor(stack, alert_channel="G0PRIVOPS")
    finally:
        stack.slack.set_scopes(granted)
    assert code == 1
    named = [line for line in lines if line.startswith("✗") and "groups:read" in line]
    assert len(named) == 2  # the scope check, and the alert channel that needs it
    assert all("reinstall" in line for line in named)


def test_send_test_posts_to_the_channel(stack: Stack) -> None:
    lines: list[str] = []
    settings = stack.settings()
    services = build_services(settings)
    try:
        assert run_doctor(settings, send_test=True, out=lines.append, services=services) == 0
    finally:
        services.close()
    assert any("test alert" in m.text for m in stack.slack.messages("C0ALERTS"))


def test_bad_slack_token(stack: Stack) -> None:
    code, lines = doctor(stack, slack_bot_token="xoxb-wrong")
    assert code == 1 and any("Slack token" in line and "invalid_auth" in line for line in lines)


def test_pending_migrations_are_reported_not_applied(stack: Stack, tmp_path: Path) -> None:
    from bot.store.migrate import current_revision, head_revision
    from bot.store.store import make_engine

    url = f"sqlite:///{tmp_path / 'new.db'}"
    lines: list[str] = []
    assert run_doctor(stack.settings(database_url=url), out=lines.append) == 1
    (line,) = [line for line in lines if "Database schema" in line]
    assert line.startswith("✗") and "has no schema yet" in line
    assert f"({head_revision()})" not in line and "clusters-bot migrate" in line
    engine = make_engine(url)
    try:
        assert current_revision(engine) is None  # doctor looked, and changed nothing
    finally:
        engine.dispose()


def test_unreachable_database(stack: Stack, tmp_path: Path) -> None:
    lines: list[str] = []
    settings = stack.settings(database_url="sqlite:////nonexistent-dir/x/bot.db")
    assert run_doctor(settings, out=lines.append) == 1
    assert lines[0].startswith("✗ Database") and "DATABASE_URL" in lines[0]


@pytest.mark.parametrize("host", ["https://us.i.posthog.com", "https://eu.i.posthog.com/"])
def test_ingestion_hosts_are_rejected_with_the_api_host_to_use(stack: Stack, host: str) -> None:
    code, lines = doctor(stack, posthog_host=host)
    assert code == 1
    region = host.split("//")[1].split(".")[0]
    (line,) = [line for line in lines if line.startswith("✗ PostHog host")]
    assert "ingestion host" in line and f"https://{region}.posthog.com" in line


def test_doctor_shows_the_query_budget_left(stack: Stack) -> None:
    _code, lines = doctor(stack, posthog_query_budget_per_hour=90)
    (line,) = [line for line in lines if "PostHog query budget" in line]
    assert line.startswith("✓")
    assert "of 60 left for the scheduler" in line and "of 30 for commands" in line


def test_doctor_says_early_warnings_interval_last_check_and_pause(stack: Stack) -> None:
    _code, lines = doctor(stack, early_warning_interval="off")
    assert "✓ Early warnings: off (EARLY_WARNING_INTERVAL=off)." in lines
    services = build_services(stack.settings())
    until = NOW + timedelta(days=3)  # ahead of the real clock doctor reads
    try:
        record_early_check(services.store, NOW, EarlyPause(until, Unavailable.MISSING))
        code, lines = doctor(stack, early_warning_interval="30m")
        record_early_check(services.store, NOW, None)
        _code, resumed = doctor(stack)
    finally:
        services.close()
    assert code == 0, lines  # a warning: the daily alerts go on without early warnings
    (line,) = [line for line in lines if "Early warnings" in line]
    assert line.startswith(f"! Early warnings: every 30 min; last check {NOW:%b %d %H:%M} UTC")
    assert "; 0 open (each settled by its series' next daily run)." in line
    assert f"Paused until {until:%b %d %H:%M} UTC" in line and "Fix: upgrade PostHog" in line
    (line,) = [line for line in resumed if "Early warnings" in line]
    assert line.startswith("✓ Early warnings: every 1 h; last check") and "Paused" not in line
