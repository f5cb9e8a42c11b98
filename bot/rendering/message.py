"""A rendered Slack message: fallback text plus blocks, already within Slack's limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}
