"""`clusters-bot sandbox`: the whole bot on this machine, shown in a Slack-like web page.

One process runs a local PostHog on a persistent chdb database, the fake Slack, the real Bolt
app in HTTP mode, the scheduler, and the page (``sandbox/web``). State lives in ``state_dir``:

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
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from bot.services.alerts import AlertService, CycleReport
from jobs.schedule import CHECK_RUNS_JOB_ID, build_scheduler
from sandbox import persist
from sandbox.demo_check import first_cycle_alerts_every_change
from sandbox.fake_slack import FakeSlack
from sandbox.generator import Change, Extra, Plant, SeriesSpec, World, emit_next_run, generate
from sandbox.slack_user import SlackUser
from sandbox.stack import ALERT_CHANNEL, Stack
from sandbox.web.server import BadRequest, SandboxWeb

logger = logging.getLogger(__name__)

SEED = 1
SERIES = (
    SeriesSpec(level="trace", job_name="Default - traces"),
    SeriesSpec(level="trace", job_name="Support agent"),
    SeriesSpec(level="generation", job_name="Default - generations"),
    SeriesSpec(level="evaluation", job_name="Default - evaluations"),
)
# PostHog samples 1,500 items a run. A change reaches a run only through the items newer than
# the run before (about 1/7 of them), so the demo's changes are twice full size and start just
# after the previous run: big enough to be alerted on the first run that holds them, every time.
RUNS, ITEMS_PER_RUN = 6, 1500
SCALE = 2.0
CHANGE_START = (0.0, 0.1)  # of the interval since the previous run (the generator's default: 0.5)
# The generated runs end this long ago, so the daily slots since are free: "Next clustering
# run" then covers at least a day of new traffic, not the minutes since today's run.
DATA_AGE = timedelta(days=2)
DEMO_SEEDS = 10  # seeds tried for demo data whose planted changes are alerted on
PLANTED = {  # the last run of each series changed, so the first alert cycle has news
    ("Default - traces", 3): Plant(Change.SIZE_SHIFT, scale=SCALE),
    ("Default - traces", 5): Plant(Change.COST_SPIKE, scale=SCALE),
    ("Support agent", 5): Plant(Change.ERROR_HEAVY, scale=SCALE),
    # a topic that stops (a new one is usually noise in the first run it appears in)
    ("Default - generations", 5): Plant(Change.VANISHED_CLUSTER, scale=SCALE),
    # failing generations: the judge fails them, so a cluster's pass rate drops
    ("Default - evaluations", 5): Plant(Change.ERROR_HEAVY, scale=SCALE),
}
# generator.json written by another version of this file describes other data: start over.
STATE_VERSION = 2
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


@dataclass
class GeneratorState:
    """Everything needed to rebuild the sandbox's World exactly: generate(...) + emitted runs."""

    seed: int
    now: datetime
    runs: int = RUNS
    items_per_run: int = ITEMS_PER_RUN
    extras: list[tuple[str, str, datetime]] = field(default_factory=list)  # job, change, now
    scale: float = SCALE  # of every change "Next clustering run" plants

    def plant(self, change: str) -> Change | Plant:
        """What "Next clustering run" plants for `change`: a change of `scale`."""
        kind = Change(change)
        return kind if kind is Change.NONE else Plant(kind, scale=self.scale)

    def base_world(self, *, events: bool = True) -> World:
        return generate(
            seed=self.seed,
            series=list(SERIES),
            runs=self.runs,
            items_per_run=self.items_per_run,
            now=self.now,
            planted=dict(PLANTED),
            change_start=CHANGE_START,
            events=events,
        )

    @classmethod
    def demo(cls, now: datetime, tries: int = DEMO_SEEDS) -> GeneratorState:
        """The state of the first seed from SEED whose planted changes the bot alerts on in its
        first cycle (`sandbox.demo_check`), so a fresh sandbox always has news to show."""
        for seed in range(SEED, SEED + tries):
            state = cls(seed=seed, now=now)
            if first_cycle_alerts_every_change(state.base_world(events=False)):
                return state
        return cls(seed=SEED, now=now)

    def world(self) -> World:
        """The base world plus every emitted run, built once (emit_next_run rebuilds from
        params, so the earlier extras go into the params and only the last is emitted)."""
        world = self.base_world()
        if not self.extras:
            return world
        *earlier, (job, change, now) = self.extras
        params = replace(
            world.params, extras=tuple(Extra(j, self.plant(c), n) for j, c, n in earlier)
        )
        return emit_next_run(
            replace(world, params=params), job_name=job, change=self.plant(change), now=now
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "now": self.now.isoformat(),
            "runs": self.runs,
            "items_per_run": self.items_per_run,
            "scale": self.scale,
            "series": [[s.level, s.job_name] for s in SERIES],
            "extras": [[job, change, now.isoformat()] for job, change, now in self.extras],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GeneratorState:
        """Raises `ValueError` for a state another version of the sandbox wrote."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(
                f"generator.json is version {data.get('version')}, not {STATE_VERSION}"
            )
        return cls(
            seed=int(data["seed"]),
            now=datetime.fromisoformat(data["now"]),
            runs=int(data["runs"]),
            items_per_run=int(data["items_per_run"]),
            scale=float(data["scale"]),
            extras=[(j, c, datetime.fromisoformat(n)) for j, c, n in data.get("extras", [])],
        )


class SerialAlerts:
    """Alert cycles one at a time, for the scheduler and for "check now" alike; a check asked
    for while a cycle runs starts right after it, so a new run is never missed."""

    def __init__(self, alerts: AlertService) -> None:
        self.alerts = alerts
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="check-now", daemon=True)

    def run_cycle(self, **kwargs: Any) -> CycleReport:
        with self._lock:
            return self.alerts.run_cycle(**kwargs)

    def check_now(self) -> None:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()
        self._wanted.set()

    def _loop(self) -> None:
        while self._wanted.wait() and not self._stop.is_set():
            self._wanted.clear()
            try:
                self.run_cycle()
            except Exception:
                logger.exception("sandbox.check_now.failed")

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)


class Sandbox:
    """Start with ``start()`` (returns the page URL), stop with ``stop()``; the page's Backend."""

    user_id = YOU

    def __init__(
        self, *, state_dir: str | Path = ".sandbox", port: int = 8765, fresh: bool = False
    ):
        self.state_dir = Path(state_dir)
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


def run_sandbox(port: int = 8765, fresh: bool = False, state_dir: str = ".sandbox") -> int:
    """Run until Ctrl-C / SIGTERM. Prints ``Sandbox: <url>`` once the page is up."""
    started = time.monotonic()
    for noisy in ("httpx", "apscheduler"):  # a line per query or job run drowns the rest
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():  # signals need the main thread
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    sandbox = Sandbox(state_dir=state_dir, port=port, fresh=fresh)
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
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if sandbox.started:
            print("Stopped.", flush=True)
