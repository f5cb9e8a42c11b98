"""The fixed moment tests generate their data around."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
