"""What a run adds to the threads of a channel's earlier alerts, and which clusters it may not
alert on: the alert cycle's (`alerts.py`) follow-up notes and mutes, apart from finding and
announcing changes."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from bot.domain.compare import RunDiff
from bot.domain.lifecycle import Update
from bot.rendering.changes import ChangeRenderer
from bot.store.keys import AlertKey, EpisodeNoteKey, ParentUpdateKey, thread_parent
from bot.store.ports import AlertingState
from bot.store.store import Mute, OutgoingMessage


def update_messages(
    store: AlertingState,
    renderer: ChangeRenderer,
    channel: str,
    updates: list[Update],
    diff: RunDiff,
) -> list[OutgoingMessage]:
    """A note in each original alert's thread; the parent of every episode that closes is
    updated too (chat.update of its latest version, so earlier notes stay on it). The thread is
    the alert's run message, or the early warning the alert confirmed (`alerts.py`)."""
    run = diff.current
    messages = []
    closing: dict[str, list[Update]] = defaultdict(list)
    for update in updates:
        episode = update.episode
        note = renderer.episode_update(update, run)
        key = EpisodeNoteKey(update.phase, AlertKey.parse(episode.alert_key), run.run_id).encode()
        messages.append(OutgoingMessage(key, note.text, note.blocks, episode.parent_key))
        if update.phase.closes:
            closing[episode.parent_key].append(update)
    for parent_key, closed in closing.items():
        latest = store.latest_version(channel, parent_key)
        if latest is None:
            continue
        parent = renderer.parent_closed(latest[1], latest[0], closed, run)
        key = ParentUpdateKey(thread_parent(parent_key), run.run_id).encode()
        messages.append(
            OutgoingMessage(key, parent.text, parent.blocks, parent_key, action="update")
        )
    return messages


def muted_clusters(
    store: AlertingState, channel: str, diff: RunDiff, now: datetime, *, carry: bool
) -> tuple[set[int], set[int]]:
    """Cluster ids muted in (previous, current); mutes follow a cluster through matching, and
    are carried to the current run when `carry`."""
    before = store.active_mutes(channel, now, diff.previous.run_id)
    carried = []
    for mute in before:
        match = diff.match_for_previous(mute.cluster_id)
        if match is not None:
            carried.append(
                Mute(
                    channel,
                    diff.current.run_id,
                    match.current.cluster_id,
                    match.current.title,
                    mute.until,
                    mute.created_by,
                    mute.lineage,
                )
            )
    if carry and carried:
        store.carry_mutes(channel, diff.current, carried)
    current = {m.cluster_id for m in store.active_mutes(channel, now, diff.current.run_id)}
    return {m.cluster_id for m in before}, current | {m.cluster_id for m in carried}
