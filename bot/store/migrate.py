"""Schema migrations (Alembic), safe when several processes start at once.

PostgreSQL: a transaction-scoped advisory lock serialises upgrades, so the second process waits
and then finds the schema at head. SQLite: an exclusive file lock beside the database file.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
ADVISORY_LOCK_ID = 0x636C_7573  # "clus": any constant shared by every process of the bot


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def pending_revisions(engine: Engine) -> list[str]:
    """The migrations not applied to this database yet, oldest first (all of them when the
    database has no schema). Reads only; `upgrade` applies them."""
    current = current_revision(engine)
    script = ScriptDirectory.from_config(_config())
    newest_first = script.iterate_revisions("heads", current)
    return [revision.revision for revision in reversed(list(newest_first))]


def upgrade(engine: Engine) -> None:
    """Bring the schema to head; a no-op when it is there already."""
    with _sqlite_file_lock(engine), engine.begin() as connection:
        _advisory_lock(connection)
        context = MigrationContext.configure(connection)
        current, head = context.get_current_revision(), head_revision()
        if current == head:
            return
        # Alembic's own lines are quiet (bot.observability); say what changes, once.
        logger.info("store.schema.upgrading", extra={"from": current, "to": head})
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _advisory_lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
