"""Configuration: the only module that reads the environment (and a `.env` file).

Names are a stable interface (design.md). Secrets are `SecretStr`: they print as `**********`
and are unwrapped only in `wiring.py`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_POSTHOG_HOST = "https://us.posthog.com"


class DrilldownContent(StrEnum):
    NONE = "none"
    PREVIEW = "preview"


class UiRoutes(StrEnum):
    """Where PostHog's UI serves AI observability: `ai-observability` since May 2026, older
    self-hosted versions only `llm-analytics` (reference/posthog.md 7)."""

    AI_OBSERVABILITY = "ai-observability"
    LLM_ANALYTICS = "llm-analytics"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class ConfigError(Exception):
    """Configuration that cannot work; the message names each variable and its expected form."""


# What each variable should look like, for error messages.
EXPECTED = {
    "POSTHOG_HOST": "a URL such as https://us.posthog.com or https://eu.posthog.com",
    "POSTHOG_UI_HOST": "a URL such as https://us.posthog.com",
    "POSTHOG_PROJECT_ID": "the numeric project id from your PostHog URL (/project/<id>/)",
    "POSTHOG_API_KEY": "a personal API key starting with phx_ (scopes query:read, "
    "llm_analytics:read)",
    "SLACK_BOT_TOKEN": "a bot token starting with xoxb-",
    "SLACK_SIGNING_SECRET": "the signing secret from your Slack app's Basic Information page",
    "SLACK_APP_TOKEN": "an app-level token starting with xapp- (scope connections:write)",
    "SLACK_API_URL": "a URL ending in /api/, such as https://slack.com/api/",
    "ALERT_CHANNEL": "a channel id such as C0123456789",
    "DATABASE_URL": "a SQLAlchemy URL such as sqlite:///clusters-bot.db or "
    "postgresql+psycopg://user@host/db",
    "POLL_INTERVAL_SECONDS": "a whole number of seconds, at least 10",
    "PORT": "a TCP port number (1-65535)",
    "POSTHOG_QUERY_BUDGET_PER_HOUR": "a whole number of HogQL queries per hour for the whole "
    "deployment, at least 2 (the scheduler gets what the commands do not)",
    "POSTHOG_COMMAND_BUDGET_PER_HOUR": "a whole number of queries per hour for /clusters "
    "commands, at least 1 and less than POSTHOG_QUERY_BUDGET_PER_HOUR (default a third of it)",
    "POSTHOG_USER_BUDGET_PER_HOUR": "a whole number of queries per hour one Slack user's "
    "commands may spend, at least 1 (default 20)",
    "POSTHOG_UI_ROUTES": "ai-observability (PostHog since May 2026) or llm-analytics (older "
    "self-hosted versions)",
    "DRILLDOWN_CONTENT": "none or preview",
    "TEMPLATES_DIR": "a folder holding *.j2 templates that override the built-in ones",
    "ADMIN_USER_IDS": "comma-separated Slack user ids such as U012,U345",
    "LOG_FORMAT": "text or json",
    "RUN_LIST_CACHE_SECONDS": "seconds a /clusters answer may reuse the list of runs (default 30)",
    "SLACK_POST_INTERVAL_SECONDS": "seconds between two messages to one channel, at least 0 "
    "(default 1, Slack's pace; 0 turns the pacing off)",
    "OUTBOX_RECOVER_SECONDS": "whole seconds a sender may go without renewing its claim on a "
    "message before another process may look it up and resend it (default 30)",
    "OUTBOX_RETRY_SECONDS": "whole seconds between two scheduler passes over the messages Slack "
    "did not take, at least 1 (default 30, never more than POLL_INTERVAL_SECONDS)",
    "CHARTS": "on or off",
    "METRICS_HOST": "the address /metrics listens on, such as 127.0.0.1 (default) or 0.0.0.0",
    "METRICS_PORT": "a TCP port number (1-65535) for /metrics, apart from PORT",
    "METRICS_TOKEN": "a bearer token that /metrics on PORT requires",
    "COMMAND_WORKERS": "how many /clusters answers and button clicks run at once (1-64)",
    "COMMAND_QUEUE_LIMIT": "how many more may wait before the bot answers that it is busy",
    "UNFURL_EXTERNAL": "on or off (cards for PostHog links in Slack Connect conversations)",
    "EARLY_WARNING_INTERVAL": "how often to check the summaries that arrive between daily runs: "
    "a duration such as 1h, 30m or 3600 (seconds), at least 1m; 0 or off turns early warnings "
    "off (default 1h)",
}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OFF = ("", "0", "off", "false", "no", "none")

Port = Annotated[int, Field(ge=1, le=65535)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    posthog_host: AnyHttpUrl = AnyHttpUrl(DEFAULT_POSTHOG_HOST)
    posthog_ui_host: AnyHttpUrl | None = None
    posthog_project_id: int | None = Field(default=None, ge=1)
    posthog_api_key: SecretStr | None = None
    posthog_query_budget_per_hour: int = Field(default=120, ge=2)
    posthog_command_budget_per_hour: int | None = Field(default=None, ge=1)
    posthog_user_budget_per_hour: int = Field(default=20, ge=1)
    posthog_ui_routes: UiRoutes = UiRoutes.AI_OBSERVABILITY
    posthog_timeout_seconds: float = Field(default=15.0, gt=0)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")

    alert_channel: str | None = Field(default=None, pattern=r"^[CGD][A-Z0-9]{2,}$")
    admin_user_ids: str = ""

    database_url: str = "sqlite:///clusters-bot.db"
    poll_interval_seconds: int = Field(default=600, ge=10)
    port: Port = 3000
    # /metrics: on its own listener (METRICS_PORT, loopback by default), and on PORT only
    # behind METRICS_TOKEN. Neither set: no metrics endpoint.
    metrics_host: str = "127.0.0.1"
    metrics_port: Port | None = None
    metrics_token: SecretStr | None = None

    # Commands and clicks are acked at once and answered from a pool of this size; past the
    # queue limit the ack itself says the bot is busy.
    command_workers: int = Field(default=8, ge=1, le=64)
    command_queue_limit: int = Field(default=32, ge=0)

    # Trace content (first input, final output, $ai_error text) is off unless a team opts in;
    # then it is shown only ephemerally, to the person who asked.
    drilldown_content: DrilldownContent = DrilldownContent.NONE
    templates_dir: Path | None = None
    # Trend charts and cluster maps in alert threads, and the summary's Map button (on/off).
    charts: bool = True
    # Each trace/generation run's unsampled fresh items, assigned to its clusters by their
    # summary embeddings (two PostHog queries per run), count in its cost, latency and error
    # alerts when the run's held-out agreement allows (on/off).
    assign_unsampled: bool = True
    # Cards for pasted PostHog links go only to conversations the bot is a member of; in those
    # shared with other organisations (Slack Connect) only when this is on.
    unfurl_external: bool = False

    run_list_cache_seconds: float = Field(default=30.0, ge=0)

    # Early warnings between daily runs: how often the newly summarized items are checked
    # (None: off).
    early_warning_interval: timedelta | None = timedelta(hours=1)

    log_format: LogFormat = LogFormat.TEXT
    outbox_recover_seconds: int = Field(default=30, ge=0)
    # How often the scheduler retries what Slack did not take between cycles (at most the poll
    # interval).
    outbox_retry_seconds: int = Field(default=30, ge=1)
    # Each channel's pace (Slack allows about one message a second per channel).
    slack_post_interval_seconds: float = Field(default=1.0, ge=0)

    @field_validator("slack_signing_secret", "metrics_token")
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # A blank secret must never mean "no verification": it is a mistake, said as one.
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty")
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must start with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must start with xapp-")
        return value

    @field_validator("early_warning_interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> object:
        """`1h`, `30m`, `90s`, `3600` (seconds); `0` or `off` turns early warnings off."""
        if isinstance(value, int | float) and value == 0:
            return None
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text in OFF:
            return None
        unit = _UNITS.get(text[-1:])
        number = text[:-1] if unit else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            raise ValueError("is not a duration") from None
        if seconds == 0:
            return None
        if seconds < 60:
            raise ValueError("is shorter than a minute")
        return timedelta(seconds=seconds)

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        """Platforms (Heroku, Render, Railway, Fly) hand out `postgres://…`; SQLAlchemy knows
        no `postgres` dialect, and the bot talks to PostgreSQL through psycopg 3."""
        if "://" not in value:
            raise ValueError("is not a SQLAlchemy URL")
        scheme, rest = value.split("://", 1)
        if scheme in ("postgres", "postgresql"):
            return f"postgresql+psycopg://{rest}"
        return value

    @model_validator(mode="after")
    def _budgets_fit(self) -> Settings:
        commands = self.posthog_command_budget_per_hour
        if commands is not None and commands >= self.posthog_query_budget_per_hour:
            raise ValueError(
                "POSTHOG_COMMAND_BUDGET_PER_HOUR must be less than "
                "POSTHOG_QUERY_BUDGET_PER_HOUR, or the scheduler gets no queries"
            )
        return self

    @property
    def command_budget(self) -> int:
        """Queries an hour for /clusters commands; the rest of the deployment's budget is the
        scheduler's, so commands can never starve the alert cycle."""
        total = self.posthog_query_budget_per_hour
        return self.posthog_command_budget_per_hour or max(1, total // 3)

    @property
    def scheduler_budget(self) -> int:
        return self.posthog_query_budget_per_hour - self.command_budget

    @property
    def ui_host(self) -> str:
        return str(self.posthog_ui_host or self.posthog_host).rstrip("/")

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admin_user_ids.split(",") if part.strip())

    def require(self, *names: str) -> None:
        """Fail with ConfigError naming every variable in `names` that is unset."""
        missing = [name for name in names if getattr(self, name.lower()) is None]
        if missing:
            raise ConfigError(
                "\n".join(f"{name} is not set: expected {EXPECTED[name]}" for name in missing)
            )


def load_settings(**overrides: object) -> Settings:
    """Read the environment; turn pydantic's error into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]).upper() if problem["loc"] else "configuration"
        reason = problem["msg"].removeprefix("Value error, ")
        expected = EXPECTED.get(name)
        lines.append(
            f"{name} is invalid ({reason})" + (f": expected {expected}" if expected else "")
        )
    return "\n".join(lines)
