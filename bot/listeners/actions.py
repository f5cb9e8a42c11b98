"""Buttons: drilldowns into the message's thread, share, mute, open.

Slash commands cannot run in threads, so drilldowns are buttons. A reply goes into the thread of
the clicked message; an ephemeral message has no thread, so its drilldowns answer ephemerally.
Every click is acked at once and answered from the work pool (bot/listeners/deferred.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, Respond
from slack_bolt.context.context import BoltContext
from slack_sdk import WebClient

from bot.commands import parse_clusters_command
from bot.commands.handlers import Asker
from bot.listeners.answer import answer, is_admin
from bot.listeners.deferred import after_ack
from bot.posthog.budget import spending_for
from bot.rendering.message import Message
from bot.services.errors import NotAllowed
from bot.slack.ids import ClusterRef, MuteRef, RunRef, ShareRef, TraceRef
from bot.slack.replies import send

if TYPE_CHECKING:  # the composition root, for its type only: importing it pulls in every
    # service and its libraries (matplotlib, alembic)
    from bot.wiring import Services


@dataclass(frozen=True)
class Place:
    channel: str
    thread_ts: str | None
    ephemeral: bool

    @property
    def private(self) -> bool:
        """The reply goes to the clicker alone (no thread to post into)."""
        return self.ephemeral or self.thread_ts is None


def place_of(body: dict[str, Any]) -> Place:
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    if container.get("is_ephemeral"):
        return Place(channel, None, True)
    thread_ts = container.get("thread_ts") or container.get("message_ts")
    return Place(channel, thread_ts, False)


def reply(place: Place, message: Message, respond: Respond, services: Services) -> None:
    if place.private or place.thread_ts is None:
        send(respond, services.metrics, **message.as_kwargs(), replace_original=False)
        return
    services.notifier.reply_in_thread(place.channel, place.thread_ts, message.text, message.blocks)


def handle_traces_action(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    context: BoltContext,
    services: Services,
) -> None:
    def work() -> None:
        ref = ClusterRef.model_validate_json(action["value"])
        with spending_for(body["user"]["id"]):
            view = services.clusters.cluster_items(ref.run_id, ref.cluster_id)
        place = place_of(body)
        reply(place, services.drilldown.traces(view, private=place.private), respond, services)

    after_ack(ack, body, context, work, command=False)


def handle_trace_details_action(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    context: BoltContext,
    services: Services,
) -> None:
    """The trace's steps go to the thread; its content, if the team opted in, only to the
    person who clicked."""

    def work() -> None:
        ref = TraceRef.model_validate_json(action["value"])
        with spending_for(body["user"]["id"]):
            view = services.clusters.trace(ref.trace_id, ref.at, ref.event)
        place = place_of(body)
        reply(place, services.drilldown.trace(view, private=place.private), respond, services)
        content = None if place.private else services.drilldown.trace_content(view)
        if content is not None:
            send(respond, services.metrics, **content.as_kwargs(), replace_original=False)

    after_ack(ack, body, context, work, command=False)


def handle_why_action(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    context: BoltContext,
    services: Services,
) -> None:
    """The likely causes of what moved in a cluster, alerted or not, in the thread."""

    def work() -> None:
        ref = ClusterRef.model_validate_json(action["value"])
        with spending_for(body["user"]["id"]):
            run, factors = services.causes.why(ref.run_id, ref.cluster_id)
        cluster = run.cluster(ref.cluster_id)
        assert cluster is not None  # `why` checked it
        message = services.changes.why(run, cluster, factors or [], compared=factors is not None)
        reply(place_of(body), message, respond, services)

    after_ack(ack, body, context, work, command=False)


def handle_share_action(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    services: Services,
) -> None:
    def work() -> None:
        ref = ShareRef.model_validate_json(action["value"])
        user = body["user"]["id"]
        asker = Asker(channel=place_of(body).channel, user=user, text=ref.text, shared=True)
        message = answer(parse_clusters_command(ref.text), asker, services, client)
        send(
            respond,
            services.metrics,
            **message.as_kwargs(),
            response_type="in_channel",
            replace_original=False,
        )

    after_ack(ack, body, context, work, command=False)


def handle_mute_action(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    services: Services,
) -> None:
    def work() -> None:
        user = body["user"]["id"]
        if not is_admin(user, services, client):
            raise NotAllowed("Only workspace admins (or users in ADMIN_USER_IDS) can mute alerts.")
        ref = MuteRef.model_validate_json(action["value"])
        place = place_of(body)
        mute = services.channel_settings.mute_ref(
            place.channel, ref.run_id, ref.cluster_id, ref.hours, user
        )
        note = services.renderer.mute_note(user, mute.title, mute.until)
        reply(place, note, respond, services)

    after_ack(ack, body, context, work, command=False)


def handle_map_action(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    context: BoltContext,
    services: Services,
) -> None:
    """The run's cluster map, uploaded into the clicked message's thread."""

    def work() -> None:
        ref = RunRef.model_validate_json(action["value"])
        place = place_of(body)
        if place.private or place.thread_ts is None:  # an ephemeral message has no thread
            send(
                respond,
                services.metrics,
                text="Maps go into a message's thread: share this summary in the channel first.",
                replace_original=False,
            )
            return
        run = services.runs.get(ref.run_id)  # cached in the store: no PostHog query
        services.charts.post_map(place.channel, place.thread_ts, run)

    after_ack(ack, body, context, work, command=False)


def handle_open_action(ack: Ack) -> None:
    """Link buttons still send an action; acknowledge it so Slack shows no error."""
    ack()
