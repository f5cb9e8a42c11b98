"""The state store in trouble: SQLite locked by another connection (briefly, and for longer than
the bot waits), and a DATABASE_URL that cannot be opened. `python -m bot check` must wait out a
short lock, and otherwise fail with a non-zero exit and send nothing; once the database is back,
every alert goes out exactly once."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, event

from bot.store import store as store_module
from bot.store.store import Store
from standins.stack import Stack
from standins.traffic.generator import World
from tests.support.faults import (
    QUIET,
    assert_exactly_once,
    check_env,
    load,
    make_world,
    parents,
    run_check,
    running_stack,
)

PLANTED_RUNS = 3


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = tmp_path_factory.mktemp("database-faults") / "unused.db"
    with running_stack(database_url=f"sqlite:///{database}") as running:
        load(running, world)
        yield running


class ExclusiveLock:
    """Another connection holding SQLite's exclusive lock on the bot's database."""

    def __init__(self, path: Path) -> None:
        Store.from_url(f"sqlite:///{path}").engine.dispose()  # the schema exists, WAL is on
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._connection.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute("ROLLBACK")
            self._connection.close()
            self._connection = None  # type: ignore[assignment]


@dataclass
class Outcome:
    result: subprocess.CompletedProcess[str]
    channel: str
    env: dict[str, str]
    cwd: Path
    url: str


def fresh_channel(stack: Stack, name: str) -> str:
    return stack.slack.create_channel(name, id="C0DB" + name.upper().replace("-", ""))


def release_once_written_to(lock: ExclusiveLock, path: Path) -> Callable[[], None]:
    """Release `lock` a tenth of a second after the bot's first write to `path` (which the
    lock holds up: only the busy timeout lets the bot wait it out); returns the listener's
    remover."""

    def before(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        writes = not statement.lstrip().upper().startswith(("SELECT", "PRAGMA"))
        if writes and conn.engine.url.database == str(path) and not started.is_set():
            started.set()
            threading.Timer(0.1, lock.release).start()

    started = threading.Event()
    event.listen(Engine, "before_cursor_execute", before)
    return lambda: event.remove(Engine, "before_cursor_execute", before)


def test_a_short_lock_is_waited_out(stack: Stack, tmp_path: Path) -> None:
    channel = fresh_channel(stack, "short-lock")
    path = tmp_path / "bot.db"
    lock = ExclusiveLock(path)
    stop_listening = release_once_written_to(lock, path)  # well inside the 10 s busy timeout
    try:
        env = check_env(stack, f"sqlite:///{path}", tmp_path) | {"ALERT_CHANNEL": channel} | QUIET
        result = run_check(env, tmp_path)
    finally:
        stop_listening()
        lock.release()
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"processed {PLANTED_RUNS}" in result.stdout
    store = Store.from_url(f"sqlite:///{path}")
    assert_exactly_once(stack.slack, store, channel, runs=PLANTED_RUNS)
    store.engine.dispose()


@pytest.fixture(scope="module")
def locked(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """`check` while another connection holds the lock for longer than the bot waits (its
    busy timeout, made 0.5 s here rather than 10 s: the lock is never released meanwhile)."""
    tmp = tmp_path_factory.mktemp("locked")
    channel = fresh_channel(stack, "long-lock")
    path = tmp / "bot.db"
    env = check_env(stack, f"sqlite:///{path}", tmp) | {"ALERT_CHANNEL": channel} | QUIET
    lock = ExclusiveLock(path)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store_module, "SQLITE_BUSY_TIMEOUT_MS", 500)
            result = run_check(env, tmp)
    finally:
        lock.release()
    return Outcome(result, channel, env, tmp, f"sqlite:///{path}")


@pytest.mark.slow
def test_a_long_lock_fails_the_check_and_sends_nothing(stack: Stack, locked: Outcome) -> None:
    assert locked.result.returncode != 0
    assert "locked" in locked.result.stderr
    assert parents(stack.slack, locked.channel) == []
    retry = run_check(locked.env, locked.cwd)  # the lock is gone: everything goes out once
    assert retry.returncode == 0, retry.stderr[-2000:]
    store = Store.from_url(locked.url)
    assert_exactly_once(stack.slack, store, locked.channel, runs=PLANTED_RUNS)
    store.engine.dispose()


@pytest.mark.slow
def test_a_long_lock_is_explained_without_a_traceback(locked: Outcome) -> None:
    """Regression: a locked database used to end `check` with a raw SQLAlchemy traceback."""
    assert locked.result.returncode == 1
    assert "Traceback" not in locked.result.stderr
    assert "database" in locked.result.stderr.lower()


@pytest.fixture(scope="module")
def gone(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """`check` with DATABASE_URL under a path that cannot exist (a parent is a file)."""
    tmp = tmp_path_factory.mktemp("gone")
    (tmp / "not-a-directory").write_text("a file where a directory should be")
    url = f"sqlite:///{tmp / 'not-a-directory' / 'bot.db'}"
    channel = fresh_channel(stack, "gone")
    env = check_env(stack, url, tmp) | {"ALERT_CHANNEL": channel} | QUIET
    return Outcome(run_check(env, tmp), channel, env, tmp, url)


def test_an_unusable_database_url_fails_and_sends_nothing(stack: Stack, gone: Outcome) -> None:
    assert gone.result.returncode in (1, 2)
    assert parents(stack.slack, gone.channel) == []


def test_an_unusable_database_url_is_explained(gone: Outcome) -> None:
    """Regression: an unusable DATABASE_URL used to end `check` with a raw traceback
    (NotADirectoryError from the migration lock) instead of naming DATABASE_URL."""
    assert "Traceback" not in gone.result.stderr
    assert "DATABASE_URL" in gone.result.stderr
