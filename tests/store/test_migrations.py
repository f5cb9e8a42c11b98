"""Migrations: the schema they build is the models' schema, and concurrent starts are safe."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from bot.store.migrate import current_revision, head_revision, upgrade
from bot.store.schema import Base


def test_migrations_build_exactly_the_models_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # idempotent
    engine.dispose()


def test_four_processes_starting_at_once_all_succeed(database_url: str) -> None:
    script = (
        "import sys; from bot.store.store import Store; "
        "Store.from_url(sys.argv[1]).ping(); print('ok')"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], [err for _, err in results]
    engine = create_engine(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()
