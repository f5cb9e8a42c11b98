"""Shared fixtures: stamina without sleeping, and the local stand-ins on free ports."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import stamina

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    """Retries still happen (up to each caller's own attempts), without backoff sleeps."""
    stamina.set_testing(True, attempts=10, cap=True)
    yield
    stamina.set_testing(False)


POSTGRES_URL_VAR = "TEST_DATABASE_URL"


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VAR) or None


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL into a fresh PostgreSQL schema of its own, dropped afterwards (skips without one)."""
    base = postgres_url()
    if base is None:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_URL_VAR} "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    from sqlalchemy import create_engine, text

    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with postgres_schema() as url:
        yield url
