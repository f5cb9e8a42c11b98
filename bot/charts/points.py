"""The data of a trend chart, apart from its drawing: importing it loads no matplotlib."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TrendPoint:
    """One run of a lineage. `share` and `error_rate` are fractions, `avg_cost` USD per item;
    `None` where the run does not say (not zero)."""

    run_id: str
    window_end: datetime | None
    share: float | None
    avg_cost: float | None
    error_rate: float | None
