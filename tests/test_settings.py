"""Settings: every variable from design.md, secrets hidden, bad values named with their shape."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.settings import ConfigError, Settings, load_settings
from tests.support.cli import run_cli

ALL_VARS = [
    "POSTHOG_HOST",
    "POSTHOG_UI_HOST",
    "POSTHOG_PROJECT_ID",
    "POSTHOG_API_KEY",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "ALERT_CHANNEL",
    "DATABASE_URL",
    "POLL_INTERVAL_SECONDS",
    "PORT",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_match_design() -> None:
    settings = load_settings()
    assert str(settings.posthog_host) == "https://us.posthog.com/"
    assert settings.ui_host == "https://us.posthog.com"
    assert str(settings.slack_api_url) == "https://slack.com/api/"
    assert settings.database_url == "sqlite:///clusters-bot.db"
    assert settings.poll_interval_seconds == 600
    assert settings.port == 3000


def test_every_variable_is_read_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "POSTHOG_HOST": "https://eu.posthog.com",
        "POSTHOG_UI_HOST": "https://ph.example.com",
        "POSTHOG_PROJECT_ID": "42",
        "POSTHOG_API_KEY": "phx_secret",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s3cr3t",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "ALERT_CHANNEL": "C0123",
        "PORT": "8080",
        "DATABASE_URL": "postgresql+psycopg://u@h/db",
        "POLL_INTERVAL_SECONDS": "60",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.posthog_project_id == 42
    assert settings.ui_host == "https://ph.example.com"
    assert settings.posthog_api_key is not None
    assert settings.posthog_api_key.get_secret_value() == "phx_secret"
    assert settings.alert_channel == "C0123"
    assert (settings.port, settings.poll_interval_seconds) == (8080, 60)


def test_the_channel_pace_is_one_second_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().slack_post_interval_seconds == 1.0  # Slack's pace per channel
    monkeypatch.setenv("SLACK_POST_INTERVAL_SECONDS", "0.25")
    assert load_settings().slack_post_interval_seconds == 0.25


def test_dotenv_file_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text("POSTHOG_PROJECT_ID=7\nALERT_CHANNEL=C0ALERTS\n")
    settings = load_settings()
    assert (settings.posthog_project_id, settings.alert_channel) == (7, "C0ALERTS")


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTHOG_API_KEY", "phx_topsecret")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-topsecret")
    settings = load_settings()
    assert "topsecret" not in repr(settings) and "topsecret" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("POSTHOG_PROJECT_ID", "abc", "POSTHOG_PROJECT_ID is invalid"),
        ("POSTHOG_HOST", "not a url", "https://us.posthog.com or https://eu.posthog.com"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "must start with xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-wrong", "must start with xapp-"),
        ("ALERT_CHANNEL", "#general", "a channel id such as C0123456789"),
        ("POLL_INTERVAL_SECONDS", "1", "at least 10"),
        ("SLACK_SIGNING_SECRET", "", "SLACK_SIGNING_SECRET is invalid (is empty)"),
        ("SLACK_SIGNING_SECRET", "  ", "the signing secret from your Slack app"),
        ("PORT", "70000", "a TCP port number"),
        ("DATABASE_URL", "clusters.db", "a SQLAlchemy URL"),
        ("EARLY_WARNING_INTERVAL", "soon", "a duration such as 1h"),
        ("EARLY_WARNING_INTERVAL", "10s", "at least 1m"),
        ("SLACK_POST_INTERVAL_SECONDS", "-1", "at least 0"),
    ],
)
def test_bad_values_are_named_with_their_shape(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert name in str(error.value) and expected in str(error.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("SLACK_BOT_TOKEN", "xoxp-user-token"), ("SLACK_APP_TOKEN", "xoxb-wrong")],
)
def test_a_bad_token_is_never_echoed_back(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert name in str(error.value) and value not in str(error.value)


@pytest.mark.parametrize(
    ("value", "interval"),
    [
        (None, timedelta(hours=1)),
        ("off", None),
        ("0", None),
        ("OFF", None),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("3600", timedelta(hours=1)),
    ],
)
def test_early_warning_interval_takes_a_duration_or_off(
    monkeypatch: pytest.MonkeyPatch, value: str | None, interval: timedelta | None
) -> None:
    if value is not None:
        monkeypatch.setenv("EARLY_WARNING_INTERVAL", value)
    assert load_settings().early_warning_interval == interval


def test_require_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as error:
        Settings().require("POSTHOG_PROJECT_ID", "POSTHOG_API_KEY", "SLACK_BOT_TOKEN")
    message = str(error.value)
    assert "POSTHOG_PROJECT_ID is not set" in message and "phx_" in message and "xoxb-" in message


def test_cli_bad_configuration_exits_2_without_traceback(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "POSTHOG_PROJECT_ID": "nope", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "POSTHOG_PROJECT_ID is invalid" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_missing_configuration_exits_2(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "POSTHOG_PROJECT_ID is not set" in result.stderr and "Traceback" not in result.stderr


def test_cli_web_with_a_blank_signing_secret_exits_2(tmp_path) -> None:
    """A blank secret once turned signature checks off; now it is a named configuration error."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "POSTHOG_PROJECT_ID": "1",
        "POSTHOG_API_KEY": "phx_x",
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_SIGNING_SECRET": "",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),  # this checkout's bot
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "web"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is invalid (is empty)" in result.stderr
    assert "Traceback" not in result.stderr


def test_trace_content_is_off_by_default() -> None:
    assert load_settings().drilldown_content.value == "none"


def test_cli_help_lists_design_commands(tmp_path: Path) -> None:
    result = run_cli(["--help"], env={}, cwd=tmp_path)  # `python -m bot` itself: tests above
    assert result.returncode == 0
    for command in ("sandbox", "run", "web", "scheduler", "check", "doctor"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("missing", "says"),
    [
        ("chdb", "needs the embedded ClickHouse (chdb)"),  # the checkout without the extra
        ("standins", "a development package of the repository"),  # the wheel alone
    ],
)
def test_sandbox_without_its_parts_says_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    missing: str,
    says: str,
) -> None:
    import importlib.util

    from bot.cli import main

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(  # as in an installation without that part
        importlib.util, "find_spec", lambda name, *a: None if name == missing else find_spec(name)
    )
    assert main(["sandbox"]) == 2
    error = capsys.readouterr().err
    assert says in error and "Traceback" not in error
    assert "make sandbox" in error and "pip install -e '.[sandbox]'" in error


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db.example:5432/bot", "postgresql+psycopg://u:p@db.example:5432/bot"),
        ("postgresql://u@db/bot", "postgresql+psycopg://u@db/bot"),
        ("postgresql+psycopg://u@db/bot", "postgresql+psycopg://u@db/bot"),
        ("sqlite:///state.db", "sqlite:///state.db"),
    ],
)
def test_database_urls_as_platforms_hand_them_out(
    monkeypatch: pytest.MonkeyPatch, given: str, used: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().database_url == used


def test_text_logs_say_each_thing_once(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from bot.observability import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("text")
        logging.getLogger("bot.test").info("alerts.cycle.completed", extra={"runs_seen": 3})
    finally:
        root.handlers[:], root.level = handlers, level
    line = capsys.readouterr().err.strip()
    assert line.endswith("bot.test alerts.cycle.completed runs_seen=3")
    assert "message=" not in line and "asctime=" not in line
