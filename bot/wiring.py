"""The composition root: builds clients, store and services from Settings.

Secrets are unwrapped (`get_secret_value`) only where they are handed to what uses them: here
(PostHog key, bot token), `app.py` (signing secret), `cli.py` (Socket Mode app token) and
`web.py` (the metrics token); `settings.py` reads them to validate their form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from slack_sdk import WebClient

from bot.observability import Metrics
from bot.posthog.budget import CommandBudget
from bot.posthog.client import PostHogClient, ThrottleGate
from bot.posthog.urls import PostHogUrls
from bot.rendering.answers import Renderer
from bot.rendering.changes import ChangeRenderer
from bot.rendering.drilldown import DrilldownRenderer
from bot.rendering.early import EarlyRenderer
from bot.rendering.env import make_environment
from bot.services.alerts import AlertService
from bot.services.assigned_items import FreshEnlarger
from bot.services.assignment import AssignmentService
from bot.services.card_cache import CardCache
from bot.services.causes import CauseService
from bot.services.channel_settings import ChannelSettings
from bot.services.charts import ChartService
from bot.services.clusters import ClustersService
from bot.services.early import EarlyWarningService
from bot.services.home import HomeService
from bot.services.routing import Routing
from bot.services.runs import RunRepository
from bot.settings import DrilldownContent, Settings
from bot.slack.client import make_web_client
from bot.slack.conversations import ConversationInfo
from bot.slack.notifier import SlackNotifier
from bot.slack.writer import SlackWriter
from bot.store.budget import COMMANDS, SCHEDULER, SharedBudget, user_bucket
from bot.store.schema import utcnow
from bot.store.store import Store
from bot.work import WorkPool


@dataclass
class Services:
    settings: Settings
    store: Store
    posthog: PostHogClient  # the scheduler's: alert cycles, doctor
    command_posthog: PostHogClient  # /clusters commands and buttons, with per-user limits
    runs: RunRepository
    clusters: ClustersService
    channel_settings: ChannelSettings
    alerts: AlertService
    early: EarlyWarningService  # early warnings between daily runs (off: does nothing)
    causes: CauseService  # "Why?" answers, from the commands' budget
    renderer: Renderer
    drilldown: DrilldownRenderer
    changes: ChangeRenderer
    slack: WebClient
    notifier: SlackNotifier
    metrics: Metrics
    charts: ChartService
    work: WorkPool
    conversations: ConversationInfo  # where link cards may go (membership, Slack Connect)
    home: HomeService  # the App Home tab's data
    cards: CardCache = field(default_factory=CardCache)  # link_shared cards, briefly

    def close(self) -> None:
        self.work.close(timeout=10)
        self.charts.close()
        self.store.engine.dispose()


def posthog_http(settings: Settings) -> httpx.Client:
    settings.require("POSTHOG_PROJECT_ID", "POSTHOG_API_KEY")
    assert settings.posthog_api_key is not None
    return httpx.Client(
        base_url=str(settings.posthog_host).rstrip("/"),
        headers={
            "Authorization": f"Bearer {settings.posthog_api_key.get_secret_value()}",
            "User-Agent": "clusters-bot",
        },
        timeout=httpx.Timeout(settings.posthog_timeout_seconds, connect=5.0),
    )


def build_services(
    settings: Settings,
    *,
    http: httpx.Client | None = None,
    min_post_interval: float | None = None,
    migrate: bool = True,
    clock: Callable[[], datetime] = utcnow,
) -> Services:
    """`migrate=False` leaves the schema as it is (`doctor` only reports pending migrations).
    `clock` (aware UTC) is the one clock of the store and the services. `min_post_interval`
    (None: SLACK_POST_INTERVAL_SECONDS) is each channel's pace in seconds."""
    if min_post_interval is None:
        min_post_interval = settings.slack_post_interval_seconds
    settings.require("POSTHOG_PROJECT_ID", "POSTHOG_API_KEY", "SLACK_BOT_TOKEN")
    assert settings.posthog_project_id is not None and settings.slack_bot_token is not None
    store = Store.from_url(settings.database_url, migrate=migrate, clock=clock)
    metrics = Metrics(store)
    http = http or posthog_http(settings)
    gate = ThrottleGate()  # PostHog throttles per key: one gate for both clients

    def on_request(kind: str) -> None:
        metrics.posthog_queries.labels(kind).inc()

    posthog = PostHogClient(
        http,
        settings.posthog_project_id,
        budget=SharedBudget(
            store.engine,
            SCHEDULER,
            settings.scheduler_budget,
            label="The alert scheduler's PostHog query budget",
        ),
        on_request=on_request,
        gate=gate,
    )
    command_budget = CommandBudget(
        SharedBudget(
            store.engine,
            COMMANDS,
            settings.command_budget,
            label="The PostHog query budget for /clusters commands (shared by everyone)",
        ),
        per_user=lambda user: SharedBudget(
            store.engine,
            user_bucket(user),
            settings.posthog_user_budget_per_hour,
            label="Your share of the bot's PostHog queries",
        ),
    )
    command_posthog = PostHogClient(
        http,
        settings.posthog_project_id,
        budget=command_budget,
        on_request=on_request,
        gate=gate,
    )
    metrics.track_budgets(
        {SCHEDULER: lambda: posthog.budget.remaining, COMMANDS: lambda: command_budget.remaining}
    )
    urls = PostHogUrls(
        settings.ui_host, settings.posthog_project_id, routes=settings.posthog_ui_routes.value
    )
    renderer = Renderer(make_environment(settings.templates_dir), urls, charts=settings.charts)
    changes = ChangeRenderer(renderer)
    token = settings.slack_bot_token.get_secret_value()
    api_url = str(settings.slack_api_url)
    slack = make_web_client(token, api_url, interactive=True)
    # Thread replies, uploads and notices keep each channel's pace with the alerts.
    writer = SlackWriter(slack, store, min_interval=min_post_interval)
    charts = ChartService(store, writer, enabled=settings.charts)
    notifier = SlackNotifier(
        make_web_client(token, api_url, interactive=False),
        store,
        writer=writer,
        notice_channel=settings.alert_channel,
        min_interval=min_post_interval,
        recover_after=timedelta(seconds=settings.outbox_recover_seconds),
        on_sent=charts.queue_for_alert,
    )
    runs = RunRepository(posthog, store, list_ttl=settings.run_list_cache_seconds, clock=clock)
    command_runs = RunRepository(
        command_posthog, store, list_ttl=settings.run_list_cache_seconds, clock=clock
    )
    clusters = ClustersService(command_runs, command_posthog)
    channel_settings = ChannelSettings(store, clusters, settings.alert_channel, clock=clock)
    home = HomeService(
        store,
        channel_settings,
        stale_after_seconds=3 * settings.poll_interval_seconds,
        budgets=lambda: (posthog.budget.remaining, command_budget.remaining),
        clock=clock,
        early_interval=settings.early_warning_interval,
    )
    routing = Routing(store, settings.alert_channel)
    early_renderer = EarlyRenderer(renderer)
    return Services(
        settings=settings,
        store=store,
        posthog=posthog,
        command_posthog=command_posthog,
        runs=runs,
        clusters=clusters,
        channel_settings=channel_settings,
        alerts=AlertService(
            runs,
            store,
            routing,
            changes,
            notifier,
            clock=clock,
            causes=CauseService(posthog),
            budget=posthog.budget,
            enlarger=(
                FreshEnlarger(AssignmentService(posthog), posthog, store, clock)
                if settings.assign_unsampled
                else None
            ),
            early=early_renderer,
        ),
        early=EarlyWarningService(
            runs,
            store,
            routing,
            early_renderer,
            posthog,
            notifier,
            interval=settings.early_warning_interval,
            clock=clock,
        ),
        causes=CauseService(command_posthog, command_runs),
        renderer=renderer,
        drilldown=DrilldownRenderer(
            renderer, show_content=settings.drilldown_content is DrilldownContent.PREVIEW
        ),
        changes=changes,
        slack=slack,
        notifier=notifier,
        metrics=metrics,
        charts=charts,
        work=WorkPool(settings.command_workers, settings.command_queue_limit),
        conversations=ConversationInfo(slack),
        home=home,
    )
