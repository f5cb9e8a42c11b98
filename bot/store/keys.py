"""Outbox keys: which message an outbox row is, as the string stored in `OutboxRow.key`.

A key is unique per channel, so storing a run's messages twice stores nothing twice, and it
travels in each message's metadata so a message can be found again in Slack
(bot/slack/recovery.py). Eight kinds, each a frozen dataclass whose `encode()` is the stored
string and whose `parse()` is the one reader of it; `parse_key` reads any of them:

    run:<run>                               RunKey: a run's parent message (alerts, quiet note)
    reset:<run>                             ResetKey: a run's baseline-reset note
    skipped:<run>                           SkippedKey: a run given up on (it would not load)
    <kind>:<run>:<cluster>                  AlertKey: one alert, in its parent's thread
    <phase>:<kind>:<run>:<cluster>:<later>  EpisodeNoteKey: a later run's note on that alert
    update:run:<run>:<later>                ParentUpdateKey: the parent replaced (chat.update)
    update:early:<run>:<cluster>:<kind>:<later>  ... or the early warning an alert lives under
    early:<run>:<cluster>:<kind>            EarlyWarningKey: a warning between runs
    early-<outcome>:early:<run>:...         EarlyOutcomeKey: the next run's verdict on it

The first segment names the kind: `run`, `reset`, `skipped`, `update`, `early`, an
`early-<outcome>`, an `AlertKind` or a `Phase`, sets that do not overlap. A run id may hold `:`
(the segments around it still read one way), except `<later>`, the last segment of the two
composite keys. `<cluster>` is an int, or `None` for an alert with no cluster id on either side
(as `Alert.key` spells it). The strings are those the bot has always stored: rows written
before these types existed read the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.domain.alerts import Alert, AlertKind
from bot.domain.lifecycle import Phase

__all__ = [
    "AlertKey",
    "EarlyOutcomeKey",
    "EarlyWarningKey",
    "EpisodeNoteKey",
    "KeyFormatError",
    "OutboxKey",
    "ParentUpdateKey",
    "ResetKey",
    "RunKey",
    "SkippedKey",
    "fallback_thread",
    "follows_early_warning",
    "parse_key",
    "thread_parent",
]

SEP = ":"
NO_CLUSTER = "None"


class KeyFormatError(ValueError):
    """The string is not an outbox key of the kind asked for."""


def _run_id(run_id: str, *, last: bool = False) -> str:
    if not run_id:
        raise KeyFormatError("a run id in an outbox key cannot be empty")
    if last and SEP in run_id:
        raise KeyFormatError(f"the last run id of a composite key cannot hold {SEP!r}: {run_id!r}")
    return run_id


def _prefixed(text: str, prefix: str) -> str:
    head, sep, rest = text.partition(SEP)
    if head != prefix or not sep:
        raise KeyFormatError(f"not a {prefix}: key: {text!r}")
    return rest


@dataclass(frozen=True)
class RunKey:
    """A run's parent message: the alerts' headline, or the quiet note."""

    run_id: str
    PREFIX: ClassVar[str] = "run"

    def __post_init__(self) -> None:
        _run_id(self.run_id)

    def encode(self) -> str:
        return f"{self.PREFIX}{SEP}{self.run_id}"

    @classmethod
    def parse(cls, text: str) -> RunKey:
        return cls(_prefixed(text, cls.PREFIX))


@dataclass(frozen=True)
class ResetKey:
    """A run's baseline-reset note (no alert fired, the baseline moved)."""

    run_id: str
    PREFIX: ClassVar[str] = "reset"

    def __post_init__(self) -> None:
        _run_id(self.run_id)

    def encode(self) -> str:
        return f"{self.PREFIX}{SEP}{self.run_id}"

    @classmethod
    def parse(cls, text: str) -> ResetKey:
        return cls(_prefixed(text, cls.PREFIX))


@dataclass(frozen=True)
class SkippedKey:
    """The notice that a run was given up on: it failed to load too many times."""

    run_id: str
    PREFIX: ClassVar[str] = "skipped"

    def __post_init__(self) -> None:
        _run_id(self.run_id)

    def encode(self) -> str:
        return f"{self.PREFIX}{SEP}{self.run_id}"

    @classmethod
    def parse(cls, text: str) -> SkippedKey:
        return cls(_prefixed(text, cls.PREFIX))


@dataclass(frozen=True)
class AlertKey:
    """One alert: its kind, the run it fired on, and the cluster (the current one, else the
    previous one's id; None when it has neither)."""

    kind: AlertKind
    run_id: str
    cluster_id: int | None

    def __post_init__(self) -> None:
        _run_id(self.run_id)

    @classmethod
    def of(cls, alert: Alert) -> AlertKey:
        """The key of `alert`; `encode()` gives the same string as `Alert.key`."""
        cluster = alert.cluster_id if alert.cluster_id is not None else alert.previous_cluster_id
        return cls(alert.kind, alert.current_run_id, cluster)

    def encode(self) -> str:
        cluster = NO_CLUSTER if self.cluster_id is None else str(self.cluster_id)
        return f"{self.kind.value}{SEP}{self.run_id}{SEP}{cluster}"

    @classmethod
    def parse(cls, text: str) -> AlertKey:
        head, _, rest = text.partition(SEP)
        run_id, sep, cluster = rest.rpartition(SEP)
        try:
            kind = AlertKind(head)
        except ValueError:
            raise KeyFormatError(f"not an alert kind: {head!r} in {text!r}") from None
        if not sep:
            raise KeyFormatError(f"an alert key needs a run and a cluster: {text!r}")
        return cls(kind, run_id, _cluster(cluster, text))


def _cluster(text: str, key: str) -> int | None:
    if text == NO_CLUSTER:
        return None
    try:
        value = int(text)
    except ValueError:
        raise KeyFormatError(f"not a cluster id: {text!r} in {key!r}") from None
    if str(value) != text:  # "03", "+3", " 3": never written, and would not read back the same
        raise KeyFormatError(f"not a cluster id as the bot writes one: {text!r} in {key!r}")
    return value


@dataclass(frozen=True)
class EpisodeNoteKey:
    """A note in an alert's thread: what a later run (`run_id`) found of its episode."""

    phase: Phase
    alert: AlertKey
    run_id: str

    def __post_init__(self) -> None:
        _run_id(self.run_id, last=True)

    def encode(self) -> str:
        return f"{self.phase.value}{SEP}{self.alert.encode()}{SEP}{self.run_id}"

    @classmethod
    def parse(cls, text: str) -> EpisodeNoteKey:
        head, _, rest = text.partition(SEP)
        try:
            phase = Phase(head)
        except ValueError:
            raise KeyFormatError(f"not an episode phase: {head!r} in {text!r}") from None
        alert, sep, run_id = rest.rpartition(SEP)
        if not sep:
            raise KeyFormatError(f"an episode note needs an alert and a run: {text!r}")
        return cls(phase, AlertKey.parse(alert), run_id)


@dataclass(frozen=True)
class ParentUpdateKey:
    """A chat.update of the parent message `parent`, stored when a later run (`run_id`) closes
    episodes in its thread: a run's message, or the early warning whose thread a confirmed
    alert lives in."""

    parent: RunKey | EarlyWarningKey
    run_id: str
    PREFIX: ClassVar[str] = "update"

    def __post_init__(self) -> None:
        _run_id(self.run_id, last=True)

    def encode(self) -> str:
        return f"{self.PREFIX}{SEP}{self.parent.encode()}{SEP}{self.run_id}"

    @classmethod
    def parse(cls, text: str) -> ParentUpdateKey:
        parent, sep, run_id = _prefixed(text, cls.PREFIX).rpartition(SEP)
        if not sep:
            raise KeyFormatError(f"an update key needs a parent and a run: {text!r}")
        return cls(thread_parent(parent), run_id)


def thread_parent(text: str) -> RunKey | EarlyWarningKey:
    """The key of a message an alert's thread hangs from: a run's message, or the early
    warning the alert confirmed (`KeyFormatError` for any other key)."""
    if text.partition(SEP)[0] == EarlyWarningKey.PREFIX:
        return EarlyWarningKey.parse(text)
    return RunKey.parse(text)


@dataclass(frozen=True)
class EarlyWarningKey:
    """An early warning between daily runs: `kind` on cluster `cluster_id` of the latest run
    `run_id` (-1: items that fit no cluster)."""

    run_id: str
    cluster_id: int
    kind: AlertKind
    PREFIX: ClassVar[str] = "early"

    def __post_init__(self) -> None:
        _run_id(self.run_id)

    def encode(self) -> str:
        return f"{self.PREFIX}{SEP}{self.run_id}{SEP}{self.cluster_id}{SEP}{self.kind.value}"

    @classmethod
    def parse(cls, text: str) -> EarlyWarningKey:
        head, sep, kind = _prefixed(text, cls.PREFIX).rpartition(SEP)
        run_id, sep_, cluster = head.rpartition(SEP)
        if not sep or not sep_:
            raise KeyFormatError(
                f"an early warning key needs a run, a cluster and a kind: {text!r}"
            )
        try:
            alert_kind = AlertKind(kind)
        except ValueError:
            raise KeyFormatError(f"not an alert kind: {kind!r} in {text!r}") from None
        cluster_id = _cluster(cluster, text)
        if cluster_id is None:
            raise KeyFormatError(f"an early warning is on a cluster: {text!r}")
        return cls(run_id, cluster_id, alert_kind)


EARLY_OUTCOMES = ("confirmed", "retracted", "undecided", "update")


@dataclass(frozen=True)
class EarlyOutcomeKey:
    """What the next daily run made of an early warning: a "confirmed", "retracted" or
    "undecided" note in its thread, or the "update" that edits the warning itself."""

    outcome: str
    warning: EarlyWarningKey

    def __post_init__(self) -> None:
        if self.outcome not in EARLY_OUTCOMES:
            raise KeyFormatError(f"not an early warning outcome: {self.outcome!r}")

    def encode(self) -> str:
        return f"early-{self.outcome}{SEP}{self.warning.encode()}"

    @classmethod
    def parse(cls, text: str) -> EarlyOutcomeKey:
        head, sep, rest = text.partition(SEP)
        if not head.startswith("early-") or not sep:
            raise KeyFormatError(f"not an early warning outcome key: {text!r}")
        return cls(head.removeprefix("early-"), EarlyWarningKey.parse(rest))


OutboxKey = (
    RunKey
    | ResetKey
    | SkippedKey
    | AlertKey
    | EpisodeNoteKey
    | ParentUpdateKey
    | EarlyWarningKey
    | EarlyOutcomeKey
)


def follows_early_warning(parent_key: str | None) -> bool:
    """Whether a reply (or an edit) with this parent is in an early warning's thread."""
    return parent_key is not None and parent_key.partition(SEP)[0] == EarlyWarningKey.PREFIX


def fallback_thread(key: str, parent_key: str | None) -> str | None:
    """Where a reply goes when the early warning it was to follow is gone (deleted in Slack, or
    never posted): an alert that confirmed the warning, and each later note on it, go to the
    thread of the run message that lists the alert (`RunKey` of the alert's run). None for any
    other reply: it has no other home."""
    if not follows_early_warning(parent_key):
        return None
    try:
        parsed = parse_key(key)
    except KeyFormatError:
        return None
    if isinstance(parsed, EpisodeNoteKey):
        parsed = parsed.alert
    if isinstance(parsed, AlertKey):
        return RunKey(parsed.run_id).encode()
    return None


def parse_key(text: str) -> OutboxKey:
    """The key `text` spells, read by the kind its first segment names; `KeyFormatError` for
    a string that is no outbox key."""
    head = text.partition(SEP)[0]
    if head == RunKey.PREFIX:
        return RunKey.parse(text)
    if head == ResetKey.PREFIX:
        return ResetKey.parse(text)
    if head == SkippedKey.PREFIX:
        return SkippedKey.parse(text)
    if head == ParentUpdateKey.PREFIX:
        return ParentUpdateKey.parse(text)
    if head == EarlyWarningKey.PREFIX:
        return EarlyWarningKey.parse(text)
    if head.startswith("early-"):
        return EarlyOutcomeKey.parse(text)
    if head in _PHASES:
        return EpisodeNoteKey.parse(text)
    return AlertKey.parse(text)


_PHASES = frozenset(phase.value for phase in Phase)
