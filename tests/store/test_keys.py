"""Outbox keys: each kind reads back what it wrote, the strings stored before the types existed
read as the kinds they are, and anything else is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.alerts import Alert, AlertKind, Severity
from bot.domain.lifecycle import Phase
from bot.store.keys import (
    AlertKey,
    EarlyOutcomeKey,
    EarlyWarningKey,
    EpisodeNoteKey,
    KeyFormatError,
    OutboxKey,
    ParentUpdateKey,
    ResetKey,
    RunKey,
    SkippedKey,
    parse_key,
)
from tests.support.fuzz import fuzz_settings

RUN = "2_generation_20260614_004503_019cb7f3-a126-7809-bffc-7f13bffe1325"
LATER = "2_generation_20260615_004503_019cb7f3-a126-7809-bffc-7f13bffe1325"

# Strings as the bot has stored them (bot/services/alerts.py, bot/domain/alerts.py `Alert.key`).
STORED = [
    (f"run:{RUN}", RunKey(RUN)),
    (f"reset:{RUN}", ResetKey(RUN)),
    (f"skipped:{RUN}", SkippedKey(RUN)),
    (f"cost_spike:{RUN}:3", AlertKey(AlertKind.COST_SPIKE, RUN, 3)),
    (f"outlier_growth:{RUN}:-1", AlertKey(AlertKind.OUTLIER_GROWTH, RUN, -1)),
    (f"traffic_stopped:{RUN}:None", AlertKey(AlertKind.TRAFFIC_STOPPED, RUN, None)),
    (
        f"still:error_heavy:{RUN}:7:{LATER}",
        EpisodeNoteKey(Phase.STILL, AlertKey(AlertKind.ERROR_HEAVY, RUN, 7), LATER),
    ),
    (
        f"resolved:new_cluster:{RUN}:0:{LATER}",
        EpisodeNoteKey(Phase.RESOLVED, AlertKey(AlertKind.NEW_CLUSTER, RUN, 0), LATER),
    ),
    (f"update:run:{RUN}:{LATER}", ParentUpdateKey(RunKey(RUN), LATER)),
    # bot/services/alert_threads.py: a confirmed alert's episode ends in its warning's thread
    (
        f"update:early:{RUN}:4:error_heavy:{LATER}",
        ParentUpdateKey(EarlyWarningKey(RUN, 4, AlertKind.ERROR_HEAVY), LATER),
    ),
    ("run:x", RunKey("x")),
    ("cost_spike:x:1", AlertKey(AlertKind.COST_SPIKE, "x", 1)),
    # bot/services/early.py and early_settle.py
    (f"early:{RUN}:4:error_heavy", EarlyWarningKey(RUN, 4, AlertKind.ERROR_HEAVY)),
    (f"early:{RUN}:-1:new_cluster", EarlyWarningKey(RUN, -1, AlertKind.NEW_CLUSTER)),
    (
        f"early-confirmed:early:{RUN}:4:cost_spike",
        EarlyOutcomeKey("confirmed", EarlyWarningKey(RUN, 4, AlertKind.COST_SPIKE)),
    ),
    (
        f"early-retracted:early:{RUN}:4:cost_spike",
        EarlyOutcomeKey("retracted", EarlyWarningKey(RUN, 4, AlertKind.COST_SPIKE)),
    ),
    (
        f"early-update:early:{RUN}:4:cost_spike",
        EarlyOutcomeKey("update", EarlyWarningKey(RUN, 4, AlertKind.COST_SPIKE)),
    ),
]


@pytest.mark.parametrize(("text", "key"), STORED, ids=[t for t, _ in STORED])
def test_stored_keys_parse_as_their_kind_and_encode_byte_identical(
    text: str, key: OutboxKey
) -> None:
    assert parse_key(text) == key
    assert type(key).parse(text) == key
    assert key.encode() == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "run:",
        "run",
        "reset:",
        "skipped:",
        "cost_spike:x",
        "cost_spike::3",
        "cost_spike:x:three",
        "cost_spike:x:03",  # never written so: it would not read back the same
        "cost_spike:x:+3",
        "no_such_kind:x:3",
        "still:cost_spike:x:3",  # the later run is missing
        "still:run:x:y",
        "update:reset:x:y",
        "update:run:x",
        "gone:cost_spike:x:3:",
        "early:x:3",  # the kind is missing
        "early:x:None:cost_spike",  # an early warning is always on a cluster
        "early:x:3:no_such_kind",
        "early-maybe:early:x:3:cost_spike",
        "early-confirmed:run:x",
    ],
)
def test_strings_that_are_no_key_are_refused(text: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_key(text)


def test_each_kind_refuses_another_kinds_key() -> None:
    with pytest.raises(KeyFormatError):
        RunKey.parse("reset:x")
    with pytest.raises(KeyFormatError):
        AlertKey.parse("run:x:3")
    with pytest.raises(KeyFormatError):
        EpisodeNoteKey.parse("cost_spike:x:3")
    with pytest.raises(KeyFormatError):
        ParentUpdateKey.parse("run:x:y")


def test_the_last_run_of_a_composite_key_cannot_hold_the_separator() -> None:
    with pytest.raises(KeyFormatError):
        ParentUpdateKey(RunKey("x"), "a:b")
    with pytest.raises(KeyFormatError):
        EpisodeNoteKey(Phase.GONE, AlertKey(AlertKind.SIZE_SHIFT, "x", 1), "a:b")


def test_the_first_segments_of_the_kinds_do_not_overlap() -> None:
    fixed = {RunKey.PREFIX, ResetKey.PREFIX, SkippedKey.PREFIX, ParentUpdateKey.PREFIX}
    kinds = {kind.value for kind in AlertKind}
    phases = {phase.value for phase in Phase}
    assert len(fixed) + len(kinds) + len(phases) == len(fixed | kinds | phases)


@pytest.mark.parametrize(("cluster_id", "previous"), [(4, None), (None, 9), (4, 9), (None, None)])
def test_an_alerts_key_is_the_string_alert_key_gives(
    cluster_id: int | None, previous: int | None
) -> None:
    alert = Alert(
        kind=AlertKind.VANISHED_CLUSTER,
        severity=Severity.WARNING,
        cluster_id=cluster_id,
        previous_cluster_id=previous,
        title="Refund questions",
        current_run_id=LATER,
        previous_run_id=RUN,
    )
    assert AlertKey.of(alert).encode() == alert.key
    assert parse_key(alert.key) == AlertKey.of(alert)


# -- properties ---------------------------------------------------------------------------------

run_ids = st.text(min_size=1, max_size=40)  # any text, ":" included
last_run_ids = run_ids.filter(lambda text: ":" not in text)
clusters = st.none() | st.integers(min_value=-1, max_value=10**6)
alert_keys = st.builds(AlertKey, st.sampled_from(AlertKind), run_ids, clusters)
run_keys = st.builds(RunKey, run_ids)
early_keys = st.builds(
    EarlyWarningKey, run_ids, st.integers(min_value=-1, max_value=10**6), st.sampled_from(AlertKind)
)
keys = st.one_of(
    run_keys,
    st.builds(ResetKey, run_ids),
    st.builds(SkippedKey, run_ids),
    alert_keys,
    st.builds(EpisodeNoteKey, st.sampled_from(Phase), alert_keys, last_run_ids),
    st.builds(ParentUpdateKey, run_keys | early_keys, last_run_ids),
    early_keys,
)


@fuzz_settings(300)
@given(keys)
def test_every_key_reads_back_as_itself(key: OutboxKey) -> None:
    assert parse_key(key.encode()) == key


SEGMENTS = [
    "run",
    "reset",
    "skipped",
    "update",
    "still",
    "gone",
    "cost_spike",
    "new_cluster",
    "1",
    "-1",
    "01",
    "None",
    "x",
    "",
]


@fuzz_settings(500)
@given(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=7).map(":".join))
def test_whatever_parses_encodes_back_to_the_same_string(text: str) -> None:
    try:
        key = parse_key(text)
    except KeyFormatError:
        return  # not a key: refused, never misread
    assert key.encode() == text
