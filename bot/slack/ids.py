"""Interactive ids shared by the renderer and the listeners, and typed button payloads.

A button's `value` is a small JSON model (Slack caps it at 2,000 characters): references, never
content. `test_button_payloads_stay_small` (tests/rendering/test_messages.py) checks the worst
case of each stays under the cap.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ActionId(StrEnum):
    TRACES = "clusters.traces"
    TRACE_DETAILS = "clusters.trace_details"
    SHARE = "clusters.share"
    MUTE = "clusters.mute"
    OPEN = "clusters.open"
    MAP = "clusters.map"
    WHY = "clusters.why"


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunRef(Payload):
    """A whole run: what "Map" draws."""

    run_id: str = Field(max_length=300)


class ClusterRef(Payload):
    """A cluster of one run: what "Traces" drills into."""

    run_id: str = Field(max_length=300)
    cluster_id: int


class TraceRef(Payload):
    """One trace; `at` bounds the TraceQuery (the item's timestamp), `event` a generation."""

    trace_id: str = Field(max_length=300)
    at: datetime | None = None
    event: str | None = Field(default=None, max_length=100)


class MuteRef(Payload):
    run_id: str = Field(max_length=300)
    cluster_id: int
    hours: int = Field(default=24, ge=1, le=24 * 30)


class ShareRef(Payload):
    """Re-run a command in the channel: the command text, as typed."""

    text: str = Field(max_length=500)
