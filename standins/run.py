"""`clusters-bot sandbox`: the whole bot on this machine, shown in a Slack-like web page.

One process runs a local PostHog on a persistent chdb database, the fake Slack, the real Bolt
app in HTTP mode, the scheduler, and the page (``standins/web``). State lives in ``state_dir``:

    posthog/        the chdb database (synthetic clustering runs and their events)
    bot.db          the bot's SQLite store (what it has seen and sent)
    generator.json  how the data was generated, so "next run" keeps emitting consistent runs
    slack.json      the fake Slack's channels and messages, so a restart shows the history

Ctrl-C or SIGTERM stops everything and closes chdb, so the next start can open it again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from jobs.schedule import CHECK_RUNS_JOB_ID, build_scheduler
from standins import persist
from standins.serial_alerts import SerialAlerts
from standins.slack.model import Message
from standins.slack.server import FakeSlack
from standins.slack.user import SlackUser
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.demo_data import DATA_AGE, SERIES, GeneratorState
from standins.traffic.generator import Change, World, emit_next_run
from standins.web.pages import BadRequest
from standins.web.server import SandboxWeb

logger = logging.getLogger(__name__)

YOU, YOUR_NAME = "U0YOU", "you"
SAVE_EVERY_SECONDS = 2.0
STATE_FILES = frozenset(
    f"{name}{suffix}"
    for name, suffixes in {
        "posthog": [""],
        "bot.db": ["", "-wal", "-shm", "-journal"],
        "generator.json": ["", ".tmp"],
        "slack.json": ["", ".tmp"],
    }.items()
    for suffix in suffixes
)
# A run's window must end after the previous one (generator: now - 15 min > previous + 1 min).
MIN_GAP_AFTER_PREVIOUS_END = timedelta(minutes=17)

ABOUT = (
    "What you're looking at: a Slack workspace with clusters-bot in it, all on this machine. "
    "A local PostHog (embedded ClickHouse) holds synthetic LLM traffic and clustering runs for "
    "four series ({series}), one of them of LLM-judge evaluations; the bot polls it like the "
    "real one and posts alerts to #llm-alerts, with details and trace drilldowns in threads. "
    "Type /clusters latest (or "
    "/clusters help) in the composer: it is sent as a real signed slash command, and buttons "
    'send real block_actions. Use "Next clustering run" to emit a run with a planted change '
    "(cost spike, error-heavy, ...) and watch the alert arrive. State is kept in {state_dir} "
    "(--fresh starts over). Ctrl-C stops."
)


class Sandbox:
    """Start with ``start()`` (returns the page URL), stop with ``stop()``; the page's Backend."""

    user_id = YOU

    def __init__(
        self,
        *,
        state_dir: str | Path = ".sandbox",
        port: int = 8765,
        fresh: bool = False,
        on_alert: Callable[[Message], None] | None = None,
    ):
        self.state_dir = Path(state_dir)
        self.on_alert = on_alert  # called with each alert the bot posts from now on
        self.port = port
        self.fresh = fresh
        self.stack: Stack | None = None
        self.web: SandboxWeb | None = None
        self.url = ""
        self.started = False
        self.loaded_events = 0
        self._scheduler: Any = None
        self._serial: SerialAlerts | None = None
        self._user: SlackUser | None = None
        self._state: GeneratorState | None = None
        self._world: World | None = None
        self._generator_lock = threading.Lock()
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> str:
        if self.fresh:
            self._wipe_state()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.web = SandboxWeb(self, port=self.port)
        self.url = self.web.bind()  # the bot's PostHog links point at the page's stand-in
        try:
            self._start_stack()
        except BaseException:
            self.stop()
            raise
        self.web.start()
        self.started = True
        return self.url

    def _wipe_state(self) -> None:
        """--fresh: delete what the sandbox keeps, refusing a folder holding anything else (a
        mistyped --dir must not cost someone their files)."""
        if not self.state_dir.exists():
            return
        foreign = [p.name for p in self.state_dir.iterdir() if p.name not in STATE_FILES]
        if foreign:
            raise RuntimeError(
                f"--fresh would delete {self.state_dir}, which holds files the sandbox did not "
                f"make ({', '.join(sorted(foreign)[:5])}); pick another --dir"
            )
        shutil.rmtree(self.state_dir)

    def _start_stack(self) -> None:
        assert self.web is not None
        self.stack = Stack(
            database_url=f"sqlite:///{(self.state_dir / 'bot.db').resolve()}",
            posthog_db=str((self.state_dir / "posthog").resolve()),
            poll_interval_seconds=10,
            min_post_interval=0.2,
            extra_settings={"posthog_ui_host": self.url},
        ).start()
        fake = self.stack.slack
        persist.load(fake, self.state_dir / "slack.json")
        if self.on_alert is not None:
            fake.subscribe(self._alert_posted)
        self.web.attach(fake)
        self._user = self.stack.user(YOU, YOUR_NAME)
        fake.set_admin(YOU)
        self._load_data()
        self._serial = SerialAlerts(self.stack.services.alerts)
        self._scheduler = build_scheduler(self.stack.services, background=True)
        self._scheduler.modify_job(CHECK_RUNS_JOB_ID, args=[self._serial])
        self._scheduler.start()
        self._saver = threading.Thread(target=self._save_loop, name="slack-saver", daemon=True)
        self._saver.start()

    def _alert_posted(self, kind: str, message: Message) -> None:
        """A parent message the bot posted to the alert channel: a run's alerts."""
        top_level = message.thread_ts is None and message.ephemeral_for is None
        if kind == "posted" and message.channel == ALERT_CHANNEL and message.bot_id and top_level:
            assert self.on_alert is not None
            self.on_alert(message)

    def _load_data(self) -> None:
        assert self.stack is not None
        posthog = self.stack.posthog
        state_file = self.state_dir / "generator.json"
        if posthog.event_count() > 0 and state_file.exists():
            try:
                self._state = GeneratorState.from_json(json.loads(state_file.read_text()))
                return
            except (ValueError, KeyError) as error:  # another sandbox version's data
                logger.warning("sandbox.data.reloading: %s", error)
        if posthog.event_count() > 0:  # data without its recipe: reload from scratch
            logger.warning("sandbox.data.reloading: no usable %s", state_file)
            posthog.reset()
        self._state = GeneratorState.demo(datetime.now(UTC) - DATA_AGE)
        world = self._state.base_world()
        posthog.insert_events(world.events)
        posthog.set_jobs(world.jobs)
        self._world, self.loaded_events = world, len(world.events)
        self._save_state()

    def _save_state(self) -> None:
        assert self._state is not None
        target = self.state_dir / "generator.json"
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(json.dumps(self._state.to_json(), indent=2))
        os.replace(temporary, target)

    def _save_loop(self) -> None:
        assert self.web is not None
        saved = -1
        while not self._stopping.wait(SAVE_EVERY_SECONDS):
            if self.web.hub.rev != saved:
                saved = self.web.hub.rev
                self.save_slack()

    def save_slack(self) -> None:
        if self.stack is not None:
            try:
                persist.save(self.stack.slack, self.state_dir / "slack.json")
            except Exception:
                logger.exception("sandbox.slack.save_failed")

    def stop(self) -> None:
        """Scheduler, checks, page, then the stack (bot, fake Slack, PostHog/chdb); saves the
        fake Slack's messages on the way."""
        self._stopping.set()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if self._serial is not None:
            self._serial.stop()
        if self.web is not None:
            self.web.stop()
        if self._saver is not None:
            self._saver.join(timeout=5)
        if self.stack is not None:
            self.save_slack()
            self.stack.stop()
            self.stack = None

    # -- the page's Backend ---------------------------------------------------------------------
    @property
    def slack(self) -> FakeSlack:
        assert self.stack is not None
        return self.stack.slack

    @property
    def seed(self) -> int | None:
        return self._state.seed if self._state is not None else None

    def series_names(self) -> list[str]:
        return [spec.job_name for spec in SERIES]

    def send_command(self, channel: str, text: str) -> dict[str, Any]:
        """``text`` as typed: ``/clusters latest``. Only /clusters is installed."""
        assert self._user is not None
        command, _, rest = text.strip().partition(" ")
        if channel not in self.slack.channels:
            raise BadRequest(f"unknown channel {channel!r}")
        if command != "/clusters":
            raise BadRequest(f"{command or text!r} is not a command here: try /clusters help")
        response = self._user.command(rest.strip(), channel=channel)
        return {"ok": response.status_code == 200, "status": response.status_code}

    def click(self, channel: str, ts: str, action_id: str, block_id: str | None) -> dict[str, Any]:
        assert self._user is not None
        message = self.slack.get_message(channel, ts)
        if message is None:
            raise BadRequest("that message is gone")
        try:
            response = self._user.click(message, action_id, block_id=block_id)
        except LookupError as error:
            raise BadRequest(str(error)) from None
        return {"ok": response.status_code == 200, "status": response.status_code}

    def next_run(self, job_name: str, change: str) -> dict[str, Any]:
        """Emit the next run of ``job_name`` with a planted ``change``, then check right away."""
        assert self.stack is not None and self._state is not None and self._serial is not None
        if job_name not in self.series_names():
            raise BadRequest(f"unknown series {job_name!r}")
        try:
            planted = Change(change or "none")
        except ValueError:
            raise BadRequest(f"unknown change {change!r}") from None
        with self._generator_lock:
            if self._world is None:
                self._world = self._state.world()
            previous = self._world.runs_of(job_name)[-1]
            now = max(datetime.now(UTC), previous.window_end + MIN_GAP_AFTER_PREVIOUS_END)
            change_planted = self._state.plant(planted.value)
            world = emit_next_run(self._world, job_name=job_name, change=change_planted, now=now)
            self.stack.posthog.insert_events(world.added_events)
            self._world = world
            self._state.extras.append((job_name, planted.value, now))
            self._save_state()
        self._serial.check_now()
        run = world.runs_of(job_name)[-1]
        return {
            "ok": True,
            "run_id": run.run_id,
            "job_name": job_name,
            "change": planted.value,
            "events": len(world.added_events),
        }

    def check_now(self) -> None:
        assert self._serial is not None
        self._serial.check_now()


def print_alert(message: Message) -> None:
    """The terminal's line for an alert: when, where, and its first line without markup."""
    first = message.text.strip().splitlines()[0] if message.text.strip() else "(no text)"
    plain = re.sub(r"<[^|>]*\|([^>]*)>", r"\1", first).replace("*", "")  # <url|label> -> label
    when = datetime.now().strftime("%H:%M:%S")
    print(f"{when} alert posted to #llm-alerts: {plain[:160]}", flush=True)


def run_sandbox(
    port: int = 8765, fresh: bool = False, state_dir: str = ".sandbox", verbose: bool = False
) -> int:
    """Run until Ctrl-C / SIGTERM. Prints ``Sandbox: <url>`` once the page is up, then a line
    per alert posted, and warnings and errors (every log line with ``verbose``)."""
    started = time.monotonic()
    if not verbose:  # the bot's routine lines are for operators; the page shows the rest
        logging.getLogger().setLevel(logging.WARNING)
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():  # signals need the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    sandbox = Sandbox(state_dir=state_dir, port=port, fresh=fresh, on_alert=print_alert)
    try:
        try:
            url = sandbox.start()
        except Exception as error:  # a busy port; chdb's database open in another process
            hint = ""
            if (Path(state_dir) / "posthog" / "status").exists():
                hint = f"\nIs another sandbox running with --dir {state_dir}? Only one can."
            print(f"clusters-bot sandbox: cannot start: {error}{hint}", file=sys.stderr)
            return 1
        series = ", ".join(f'"{name}"' for name in sandbox.series_names())
        loaded = (
            f"Loaded {sandbox.loaded_events} events (seed {sandbox.seed}). "
            if sandbox.loaded_events
            else "Reusing the data in the state directory. "
        )
        print(f"Sandbox: {url}", flush=True)
        print(
            f"Started in {time.monotonic() - started:.1f}s. {loaded}Alerts go to "
            f"#llm-alerts ({ALERT_CHANNEL}).\n\n"
            + ABOUT.format(series=series, state_dir=state_dir),
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        print("Stopping…", flush=True)
        return 0
    finally:
        if not verbose:  # closing the page's open connections on the way out is no news
            logging.getLogger("waitress").setLevel(logging.ERROR)
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if sandbox.started:
            print("Stopped.", flush=True)
