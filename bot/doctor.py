"""`clusters-bot doctor`: check the configuration against PostHog, Slack and the database, one
line per check with the fix. Exit 0 only if every check passes. It changes nothing (the schema
included) unless `--send-test` asks it to post."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.posthog.errors import (
    PostHogAuthError,
    PostHogEndpointInternal,
    PostHogError,
    PostHogNotFound,
    PostHogUnavailable,
)
from bot.rendering.home import describe_early
from bot.services.assignment import embeddings_health
from bot.services.early_health import read_early_health
from bot.settings import ConfigError, Settings
from bot.slack.errors import SlackWriteError
from bot.slack.membership import Membership, MembershipCheck, ensure_member, scope_fix
from bot.slack.writer import SlackWriter
from bot.store.migrate import current_revision, pending_revisions
from bot.wiring import Services, build_services

NO_RUNS_REASONS = (
    "PostHog clusters a project only when (1) the organization allows AI data processing, "
    "(2) the project has at least 1000 summarized traces or generations in 7 days, and (3) the "
    "daily team sample picks it (about half of eligible teams each day); runs can skip days."
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # shown with `!`; the bot works without it, so the exit stays 0


def ingestion_host_problem(host: str) -> str | None:
    """PostHog's ingestion hosts (`us.i.posthog.com`, `eu.i.posthog.com`, …) take events but do
    not serve the private API the bot reads (reference/posthog.md 3.1)."""
    name = (urlsplit(host).hostname or "").lower()
    if not name.endswith(".i.posthog.com"):
        return None
    region = name.removesuffix(".i.posthog.com")
    return (
        f"{name} is a PostHog ingestion host: it takes events but does not serve the query API. "
        f"Fix: set POSTHOG_HOST to https://{region}.posthog.com."
    )


def _budget_check(services: Services) -> Check:
    settings = services.settings
    try:
        scheduler = services.posthog.budget.remaining
        commands = services.command_posthog.budget.remaining
    except Exception as error:  # the budgets live in the database
        return Check("PostHog query budget", False, f"unreadable ({type(error).__name__})")
    return Check(
        "PostHog query budget",
        True,
        f"{scheduler:.0f} of {settings.scheduler_budget} left for the scheduler and "
        f"{commands:.0f} of {settings.command_budget} for commands (per hour, shared by every "
        f"process; {settings.posthog_user_budget_per_hour} per user)",
    )


def _posthog_checks(services: Services, *, schema_ok: bool) -> list[Check]:
    client = services.posthog
    if not schema_ok:  # the shared query budget lives in tables not made yet: count in memory
        client.budget = QueryBudget(services.settings.scheduler_budget)
    problem = ingestion_host_problem(str(services.settings.posthog_host))
    if problem is not None:
        return [Check("PostHog host", False, problem)]
    checks = []
    try:
        runs = client.list_runs(datetime.now(UTC) - timedelta(days=14), limit=50)
        checks.append(Check("PostHog key and project", True, "HogQL queries work"))
    except PostHogAuthError as error:
        return [
            Check(
                "PostHog key",
                False,
                f"{error} Fix: create a personal API key with "
                "query:read and llm_analytics:read, set POSTHOG_API_KEY.",
            )
        ]
    except PostHogNotFound:
        return [
            Check(
                "PostHog project",
                False,
                "PostHog has no project with that id. Fix: set "
                "POSTHOG_PROJECT_ID to the number after /project/ in your PostHog URL.",
            )
        ]
    except PostHogUnavailable as error:
        return [
            Check(
                "PostHog host",
                False,
                f"{error}. Fix: check POSTHOG_HOST "
                "(https://us.posthog.com, https://eu.posthog.com or your own domain).",
            )
        ]
    except PostHogError as error:
        return [Check("PostHog", False, str(error))]
    if runs:
        checks.append(Check("Clustering runs", True, f"{len(runs)} runs in the last 14 days"))
    else:
        checks.append(
            Check("Clustering runs", False, "none in the last 14 days. " + NO_RUNS_REASONS)
        )
    checks.append(_embeddings_check(client))
    try:
        jobs = client.list_jobs()
        checks.append(Check("Clustering jobs", True, f"{len(jobs)} jobs readable"))
    except PostHogEndpointInternal:
        checks.append(
            Check(
                "Clustering jobs",
                True,
                "this PostHog version keeps the clustering-jobs endpoint internal (no personal "
                "API key may read it); the bot lists the jobs seen in runs instead.",
            )
        )
    except PostHogAuthError:
        checks.append(
            Check(
                "Clustering jobs",
                False,
                "the key cannot read clustering jobs. "
                "Fix: add the llm_analytics:read scope to the key.",
            )
        )
    except PostHogError as error:
        checks.append(Check("Clustering jobs", False, str(error)))
    if schema_ok:
        checks.append(_budget_check(services))
    return checks


def _embeddings_check(client: PostHogClient) -> Check:
    ok, detail = embeddings_health(client, datetime.now(UTC) - timedelta(days=7))
    return Check("Summary embeddings", True, detail, warning=not ok)


def _early_check(services: Services) -> Check:
    """Early warnings as the Home tab shows them (`describe_early`): a pause is a warning, since
    the daily alerts go on without them."""
    store = services.store
    now = store.clock()
    try:
        early = read_early_health(
            store, services.settings.early_warning_interval, store.open_early_warning_count(), now
        )
    except SQLAlchemyError as error:
        return Check("Early warnings", False, f"unreadable ({type(error).__name__})")
    detail = describe_early(early, now).removeprefix("Early warnings between runs: ")
    return Check("Early warnings", True, detail, warning=early.paused_until is not None)


def _slack_checks(services: Services, *, send_test: bool) -> list[Check]:
    settings, client = services.settings, services.slack
    try:
        identity = client.auth_test()
    except SlackApiError as error:
        return [
            Check(
                "Slack token",
                False,
                f"Slack says {error.response.get('error')}. Fix: "
                "copy the Bot User OAuth Token (xoxb-) into SLACK_BOT_TOKEN.",
            )
        ]
    checks = [Check("Slack token", True, f"bot {identity.get('user')} in {identity.get('team')}")]
    # Slack lists the token's scopes in a response header; stand-ins may not send it.
    headers = {name.lower(): value for name, value in (identity.headers or {}).items()}
    scopes = headers.get("x-oauth-scopes")
    if scopes is not None:
        granted = {scope.strip() for scope in str(scopes).split(",")}
        checks += _scope_checks(granted, charts=settings.charts)
    if not (settings.slack_signing_secret or settings.slack_app_token):
        checks.append(
            Check(
                "Slack mode",
                False,
                "set SLACK_SIGNING_SECRET (clusters-bot web) or "
                "SLACK_APP_TOKEN (clusters-bot run).",
            )
        )
    channel = settings.alert_channel
    if channel is None:
        checks.append(
            Check(
                "Alert channel",
                False,
                "ALERT_CHANNEL is not set: alerts go only to "
                "channels that ran /clusters subscribe.",
            )
        )
        return checks
    membership = ensure_member(client, channel)
    checks.append(_channel_check(channel, membership))
    if send_test and membership.ok:
        try:
            SlackWriter(client).post(channel, ":wave: clusters-bot test alert")
            checks.append(Check("Test alert", True, f"posted a test message to {channel}"))
        except SlackWriteError as error:
            code = error.failure.code
            checks.append(Check("Test alert", False, f"cannot post in {channel} ({code})."))
    return checks


# What each scope is for (slack/manifest.json declares them all).
SCOPES = {
    "commands": "the /clusters command",
    "chat:write": "posting alerts and answers",
    "channels:join": "joining public alert channels",
    "channels:read": "checking the bot's membership of public channels",
    "groups:read": "checking the bot's membership of private channels",
    "channels:history": "finding an alert again after a crash (public channels)",
    "groups:history": "finding an alert again after a crash (private channels)",
    "users:read": "checking who is a workspace admin",
    "links:read": "seeing PostHog links pasted in channels",
    "links:write": "unfurling PostHog links into cards",
}


def _scope_checks(granted: set[str], *, charts: bool) -> list[Check]:
    checks = [
        Check("Slack scope", False, f"the token lacks {scope} ({why}). Fix: {scope_fix(scope)}.")
        for scope, why in SCOPES.items()
        if scope not in granted
    ]
    if not checks:
        checks.append(Check("Slack scopes", True, "the token has every scope the bot uses"))
    if charts:
        checks.append(
            Check("Charts", True, "files:write granted: charts can be uploaded")
            if "files:write" in granted
            else Check(
                "Charts",
                False,
                "the token lacks files:write, so alert charts and maps cannot be uploaded. "
                f"Fix: {scope_fix('files:write')}, or set CHARTS=off.",
            )
        )
    return checks


def _channel_check(channel: str, membership: MembershipCheck) -> Check:
    status, detail = membership.status, membership.detail
    if status is Membership.MEMBER:
        return Check("Alert channel", True, f"bot is a member of {channel}")
    if status is Membership.JOINED:
        return Check("Alert channel", True, f"bot joined the public channel {channel}")
    if status is Membership.NEEDS_INVITE:
        return Check(
            "Alert channel",
            False,
            f"{channel}: the bot is not a member and cannot join ({detail}). Fix: if it is a "
            "private channel, invite the bot there with /invite @clusters-bot; otherwise set "
            "ALERT_CHANNEL to a channel id (C…) that exists.",
        )
    if status is Membership.MISSING_SCOPE:
        return Check(
            "Alert channel",
            False,
            f"checking {channel} needs the {detail} scope. Fix: {scope_fix(detail)}.",
        )
    return Check("Alert channel", False, f"{channel}: Slack says {detail}.")


def _schema_check(services: Services) -> Check:
    engine = services.store.engine
    pending = pending_revisions(engine)
    if not pending:
        return Check("Database schema", True, f"up to date (revision {current_revision(engine)})")
    current = current_revision(engine)
    state = "has no schema yet" if current is None else f"is at revision {current}"
    return Check(
        "Database schema",
        False,
        f"the database {state}; {len(pending)} migration(s) to apply ({', '.join(pending)}). "
        "Fix: run `clusters-bot migrate` (the Procfile's release step does it on deploy; "
        "`run`, `web` and `scheduler` also apply them when they start).",
    )


def run_doctor(
    settings: Settings,
    *,
    send_test: bool = False,
    out: Callable[[str], None] = print,
    services: Services | None = None,
) -> int:
    try:
        services = services or build_services(settings, migrate=False)
    except ConfigError as error:
        out(f"✗ configuration: {error}")
        return 2
    except (SQLAlchemyError, OSError) as error:
        out(f"✗ Database: cannot open it ({type(error).__name__}). Fix: check DATABASE_URL.")
        return 1
    try:
        services.store.ping()
        checks = [Check("Database", True, "reachable"), _schema_check(services)]
    except Exception as error:  # report, don't crash
        checks = [Check("Database", False, f"{type(error).__name__}: check DATABASE_URL")]
    schema_ok = all(check.ok for check in checks)
    checks += _posthog_checks(services, schema_ok=schema_ok)
    if schema_ok:  # its state lives in tables a pending migration may not have made yet
        checks.append(_early_check(services))
    checks += _slack_checks(services, send_test=send_test)
    for check in checks:
        mark = "!" if check.warning else "✓" if check.ok else "✗"
        out(f"{mark} {check.name}: {check.detail}")
    return 0 if all(check.ok for check in checks) else 1
