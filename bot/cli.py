"""The `clusters-bot` command. Exit codes: 0 success, 1 a failure the message explains, 2 bad
usage or configuration."""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from bot.observability import configure_logging
from bot.settings import ConfigError, Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The sandbox runs the stand-ins (package `standins`: a local PostHog on embedded ClickHouse, a
# fake Slack). They are a development package: not in the wheel, importable where the checkout is
# installed in development mode (`make sandbox` and `make test` do that in .venv).
STANDINS = "standins.run"
SANDBOX_HOW = (
    "In a checkout of the repository, run `make sandbox`; or install the checkout in development "
    "mode with the sandbox extra, then run `clusters-bot sandbox` again:\n"
    "    pip install -e '.[sandbox]'"
)
STANDINS_MISSING = (
    "clusters-bot sandbox: the sandbox runs the stand-ins (a local PostHog and a fake Slack), a "
    "development package of the repository that this installation does not have.\n" + SANDBOX_HOW
)
SANDBOX_EXTRA_MISSING = (
    "clusters-bot sandbox: the sandbox needs the embedded ClickHouse (chdb), which this "
    "installation does not have.\n" + SANDBOX_HOW
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusters-bot",
        description="A Slack bot for PostHog's LLM clustering runs: answers /clusters questions, "
        "alerts on what changed between runs, drills into traces in threads.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sandbox = commands.add_parser(
        "sandbox", help="the embedded default: local PostHog, fake Slack and the bot, no accounts"
    )
    sandbox.add_argument("--port", type=int, default=8765, help="port of the sandbox web page")
    sandbox.add_argument("--fresh", action="store_true", help="start over with new data")
    sandbox.add_argument("--dir", default=".sandbox", help="where the sandbox keeps its state")
    sandbox.add_argument(
        "--verbose", action="store_true", help="print the bot's routine log lines too"
    )
    commands.add_parser("run", help="Socket Mode listener plus the scheduler in one process")
    web = commands.add_parser("web", help="HTTP mode: POST /slack/events, GET /healthz on $PORT")
    web.add_argument("--host", default="0.0.0.0")
    commands.add_parser("scheduler", help="the scheduler alone (Procfile clock)")
    check = commands.add_parser(
        "check", help="everything due now (alert cycle, early warnings), then exit"
    )
    check.add_argument("--dry-run", action="store_true", help="print instead of posting")
    doctor = commands.add_parser("doctor", help="check the configuration against PostHog and Slack")
    doctor.add_argument("--send-test", action="store_true", help="post a test alert")
    commands.add_parser("migrate", help="upgrade the state database's schema (Procfile release)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "sandbox":
            return _sandbox(args)
        settings = load_settings()
        configure_logging(settings.log_format.value)
        return COMMANDS[args.command](settings, args)
    except ConfigError as error:
        print(f"clusters-bot: configuration problem:\n{error}", file=sys.stderr)
        return EXIT_USAGE
    except (SQLAlchemyError, OSError) as error:
        print(
            f"clusters-bot: the state database cannot be used ({_first_line(error)}). "
            "Check DATABASE_URL: the path or server, its permissions, and that no other "
            "program holds a long lock on it.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK


def _sandbox(args: argparse.Namespace) -> int:
    """The one door from the product into the stand-ins: found by name, never imported here."""
    if _find("standins") is None:
        print(STANDINS_MISSING, file=sys.stderr)
        return EXIT_USAGE
    if _find("chdb") is None:
        print(SANDBOX_EXTRA_MISSING, file=sys.stderr)
        return EXIT_USAGE
    configure_logging()
    run_sandbox = importlib.import_module(STANDINS).run_sandbox
    return int(
        run_sandbox(port=args.port, fresh=args.fresh, state_dir=args.dir, verbose=args.verbose)
    )


def _find(name: str) -> object | None:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a broken or half-installed package is a missing one
        return None


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error) or type(error).__name__
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}"


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app
    from bot.shutdown import Stopping, raise_on_signals, stop_work
    from bot.wiring import build_services
    from jobs.schedule import build_scheduler

    settings.require("SLACK_APP_TOKEN")
    assert settings.slack_app_token is not None
    services = build_services(settings)
    scheduler = build_scheduler(services, background=True)
    handler = SocketModeHandler(create_app(services), settings.slack_app_token.get_secret_value())
    raise_on_signals()
    try:
        scheduler.start()
        handler.start()  # type: ignore[no-untyped-call]
    except Stopping:
        pass
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        scheduler.shutdown(wait=False)
    return stop_work(services)


def _web(settings: Settings, args: argparse.Namespace) -> int:
    import threading

    from bot.app import create_app
    from bot.shutdown import Stopping, raise_on_signals, stop_work
    from bot.web import create_servers
    from bot.wiring import build_services

    # Signatures are always verified in HTTP mode: without the secret it cannot start.
    settings.require("SLACK_SIGNING_SECRET")
    services = build_services(settings)
    main, *others = create_servers(
        create_app(services), services, host=args.host, port=settings.port
    )
    for server in others:  # /metrics on METRICS_HOST:METRICS_PORT
        threading.Thread(target=server.run, name="metrics-http", daemon=True).start()
    raise_on_signals()
    try:
        main.run()
    except Stopping:
        pass
    finally:
        for server in (main, *others):
            server.close()  # stop accepting; requests in flight keep their threads
    return stop_work(services)


def _scheduler(settings: Settings, args: argparse.Namespace) -> int:
    from bot.shutdown import Stopping, raise_on_signals, stop_work
    from bot.wiring import build_services
    from jobs.schedule import build_scheduler

    services = build_services(settings)
    scheduler = build_scheduler(services)
    raise_on_signals()
    try:
        scheduler.start()
    except Stopping:
        pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
    return stop_work(services)


def _check(settings: Settings, args: argparse.Namespace) -> int:
    from bot.posthog.errors import PostHogError
    from bot.wiring import build_services

    services = build_services(settings)
    # What imports and wiring made lives until exit: keep the cyclic collector from walking it
    # again at every full collection (0.7 of 1.0 s of full collections at 30 series).
    gc.freeze()
    try:
        services.posthog.gate.check()  # PostHog asked us to wait: say until when, send nothing
        report = services.alerts.run_cycle(dry_run=args.dry_run)
        early = None if args.dry_run else services.early.run_due()
    except PostHogError as error:
        print(f"clusters-bot: PostHog: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        services.close()  # waits for the alert charts still being drawn
    if args.dry_run:
        for where, messages in report.preview.items():
            print(f"== {where}")
            for message in messages:
                prefix = "  thread> " if message.parent_key else ""
                print(prefix + message.text)
                print(prefix + json.dumps(message.blocks)[:2000])
    delivery = report.delivery
    print(
        f"runs seen {report.runs_seen}, processed {len(report.runs_processed)}, "
        f"alerts {report.alerts}, messages stored {report.messages_stored}"
        + (
            f", sent {delivery.sent}, failed {len(delivery.failed)}"
            f", waiting for a channel {len(delivery.waiting)}"
            if delivery
            else ""
        )
        + (
            f", early warnings {early.warnings} (confirmed "
            f"{report.early_confirmed + early.confirmed}, "
            f"retracted {report.early_retracted + early.retracted}, "
            f"not confirmed {report.early_undecided + early.undecided})"
            if early is not None and services.early.enabled
            else ""
        )
        + f", PostHog queries {services.posthog.budget.spent}"
    )
    for problem in sorted(set(delivery.failed + delivery.waiting) if delivery else ()):
        print(f"clusters-bot: not delivered: {problem}", file=sys.stderr)
    for failure in report.runs_failed:
        print(f"clusters-bot: run not processed: {failure}", file=sys.stderr)
    if report.runs_failed:
        return EXIT_FAILED
    stopped = services.posthog.stopped_by
    if stopped is not None:
        # Some series were not processed; the next cycle picks them up.
        print(f"clusters-bot: cycle cut short: {stopped}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if delivery and (delivery.failed or delivery.waiting) else EXIT_OK


def _doctor(settings: Settings, args: argparse.Namespace) -> int:
    from bot.doctor import run_doctor

    return run_doctor(settings, send_test=args.send_test)


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.migrate import current_revision, upgrade
    from bot.store.store import make_engine

    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"database schema at revision {current_revision(engine)}")
    engine.dispose()
    return EXIT_OK


COMMANDS = {
    "migrate": _migrate,
    "run": _run,
    "web": _web,
    "scheduler": _scheduler,
    "check": _check,
    "doctor": _doctor,
}
