"""What `/clusters …` parses into: one frozen model per subcommand. Pure data, no I/O.

The models validate their own fields, so a model can only hold safe values however it was built:
id fields match `SAFE_ID_PATTERN` (they end up in URLs and HogQL `values`), and free-text fields
(job names, cluster titles) are single-line strings of at most `FREE_TEXT_MAX` characters that
are only ever used as query placeholder values or matched in Python, never spliced into a query.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from bot.domain.models import NOISE_CLUSTER_ID, ClusterRef, Level

ID_MAX = 200
FREE_TEXT_MAX = 200
THRESHOLD_VALUE_MAX = 40
RUNS_LIMIT_MIN, RUNS_LIMIT_MAX, RUNS_LIMIT_DEFAULT = 1, 20, 5
MUTE_DEFAULT = timedelta(hours=24)
MUTE_MIN = timedelta(minutes=1)
MUTE_MAX = timedelta(days=30)

# Trace and run ids: ASCII letters, digits and `_ - : .`, with at least one letter or digit (so
# `..` or `--` can never be an id). Run ids look like
# `2_trace_20260614_001502_019cb7f3-a126-7809-bffc-7f13bffe1325` (reference/posthog.md 1.5).
SAFE_ID_PATTERN = r"^[A-Za-z0-9_.:\-]*[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
SAFE_ID_RE = re.compile(SAFE_ID_PATTERN)
# A cluster id as the parser hands it on: `-1` (noise) or a small non-negative integer.
CLUSTER_ID_RE = re.compile(r"^(?:-1|0|[1-9][0-9]{0,5})$")
THRESHOLD_NAME_RE = re.compile(r"^[a-z_]{1,40}$")
THRESHOLD_VALUE_RE = re.compile(r"^[A-Za-z0-9_.%+\-]{1,40}$")


def is_safe_id(value: str) -> bool:
    # fullmatch, because `$` alone also matches before a trailing newline.
    return len(value) <= ID_MAX and SAFE_ID_RE.fullmatch(value) is not None


def _single_line(value: str) -> str:
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise ValueError("control characters are not allowed")
    if value != value.strip():
        raise ValueError("surrounding whitespace is not allowed")
    return value


SafeId = Annotated[str, StringConstraints(max_length=ID_MAX, pattern=SAFE_ID_PATTERN)]
FreeText = Annotated[
    str, StringConstraints(min_length=1, max_length=FREE_TEXT_MAX), AfterValidator(_single_line)
]
ThresholdOverride = tuple[
    Annotated[str, StringConstraints(pattern=THRESHOLD_NAME_RE.pattern)],
    Annotated[str, StringConstraints(pattern=THRESHOLD_VALUE_RE.pattern)],
]


class Metric(StrEnum):
    """What `/clusters top` ranks clusters by."""

    COST = "cost"
    LATENCY = "latency"
    ERRORS = "errors"
    SIZE = "size"


class BaseCommand(BaseModel):
    """A parsed `/clusters` subcommand. `name` is the canonical subcommand (the table's row)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClassVar[str]

    @property
    def changes(self) -> bool:
        """Whether running this changes settings (the table's `Who` says who may)."""
        return False


class _ClusterRef(BaseCommand):
    cluster: FreeText
    """A cluster id (`"-1"` for noise, `"3"`) or words of a cluster title."""

    @property
    def cluster_id(self) -> int | None:
        """The cluster id, or None when `cluster` holds title words."""
        return int(self.cluster) if CLUSTER_ID_RE.fullmatch(self.cluster) else None

    @property
    def ref(self) -> ClusterRef:
        """The cluster as the services resolve it."""
        cluster_id = self.cluster_id
        return ClusterRef(words=self.cluster) if cluster_id is None else ClusterRef(cluster_id)

    @property
    def is_noise(self) -> bool:
        return self.cluster_id == NOISE_CLUSTER_ID


class Latest(BaseCommand):
    name: ClassVar[str] = "latest"
    level: Level | None = None
    job: FreeText | None = None


class Runs(BaseCommand):
    name: ClassVar[str] = "runs"
    level: Level | None = None
    limit: int = Field(default=RUNS_LIMIT_DEFAULT, ge=RUNS_LIMIT_MIN, le=RUNS_LIMIT_MAX)


class Show(_ClusterRef):
    name: ClassVar[str] = "show"
    run_id: SafeId | None = None
    """None: the newest run that has this cluster's series (the service decides)."""


class Top(BaseCommand):
    name: ClassVar[str] = "top"
    metric: Metric
    level: Level | None = None


class Compare(BaseCommand):
    """`current` against `previous`; None means "the newest run" / "the run before current"."""

    name: ClassVar[str] = "compare"
    current: SafeId | None = None
    previous: SafeId | None = None
    level: Level | None = None


class Jobs(BaseCommand):
    name: ClassVar[str] = "jobs"


class Trace(BaseCommand):
    name: ClassVar[str] = "trace"
    trace_id: SafeId


class Subscribe(BaseCommand):
    """Alerts for `(level, job)` in this channel; None widens to every level / every job."""

    name: ClassVar[str] = "subscribe"
    level: Level | None = None
    job: FreeText | None = None


class Unsubscribe(BaseCommand):
    name: ClassVar[str] = "unsubscribe"
    level: Level | None = None
    job: FreeText | None = None


class Subscriptions(BaseCommand):
    name: ClassVar[str] = "subscriptions"


class Thresholds(BaseCommand):
    """Show the channel's thresholds, or change them (`overrides`) or `reset` them.

    Only the `name=value` syntax is checked here: names are `[a-z_]{1,40}`, values at most 40
    characters; whether a name exists and a value makes sense is the thresholds service's call.
    """

    name: ClassVar[str] = "thresholds"
    overrides: tuple[ThresholdOverride, ...] = ()
    reset: bool = False

    @property
    def changes(self) -> bool:
        return bool(self.overrides) or self.reset


class Mute(_ClusterRef):
    name: ClassVar[str] = "mute"
    duration: timedelta = Field(default=MUTE_DEFAULT, ge=MUTE_MIN, le=MUTE_MAX)


class Unmute(_ClusterRef):
    name: ClassVar[str] = "unmute"


class Mutes(BaseCommand):
    name: ClassVar[str] = "mutes"


class Help(BaseCommand):
    """Help, optionally about one command (`topic`), led by what was wrong (`problem`).

    `problem` is plain text that may quote a little of the user's input in backticks; the
    renderer escapes it for mrkdwn.
    """

    name: ClassVar[str] = "help"
    problem: str | None = None
    topic: str | None = None


ParsedCommand = BaseCommand
"""What `parse_clusters_command` returns: one of the models above (the table's rows)."""
