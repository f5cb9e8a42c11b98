"""Home tab buttons open modals (`views.open`); submitting one changes a channel's settings.

A submission is checked before anything changes: the person must be an admin (a non-admin who
gets hold of an admin modal is refused, nothing changed), and every threshold field goes through
`check_threshold`, the check `/clusters thresholds name=value` uses, so errors read the same,
shown under the field (`response_action: errors`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain.models import Level
from bot.domain.thresholds import Thresholds
from bot.listeners.answer import is_admin
from bot.listeners.errors import user_message
from bot.listeners.home import republish_later
from bot.posthog.budget import spending_for
from bot.rendering import views as rv
from bot.services.channel_settings import check_threshold
from bot.services.errors import CommandError
from bot.services.routing import QUIET_SUMMARY
from bot.slack.view_ids import ADMIN_ACTIONS, ChannelRef, HomeAction, SubscriptionsForm
from bot.slack.views import open_modal, update_modal

if TYPE_CHECKING:  # the composition root, for its type only (it pulls in every service)
    from bot.wiring import Services

logger = logging.getLogger(__name__)

Form = TypeVar("Form", bound=ChannelRef)

NOT_ADMIN = (
    "Only workspace admins (or users in ADMIN_USER_IDS) can change settings. Anyone can read "
    "them on this tab."
)
STALE_FORM = "This form cannot be saved. Open it again from the bot's Home tab."
JOB_VALUE_MAX = 150  # an option value; longer job names are subscribed by id


def handle_home_action(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    ack()
    kind = HomeAction(action["action_id"])
    ref = ChannelRef.model_validate_json(action["value"])
    user, trigger = body["user"]["id"], body["trigger_id"]
    if kind in ADMIN_ACTIONS and not is_admin(user, services, client):
        open_modal(client, trigger, rv.notice_modal("Not allowed", NOT_ADMIN))
        return
    home = services.home
    if kind is HomeAction.ALL_THRESHOLDS:
        quiet = home.channel(ref.channel).quiet_summary
        view = rv.all_thresholds_modal(ref, home.all_thresholds(ref.channel), quiet)
    elif kind is HomeAction.EDIT_THRESHOLDS:
        stored = home.stored_thresholds(ref.channel)
        view = rv.thresholds_modal(ref, home.all_thresholds(ref.channel), stored)
    elif kind is HomeAction.UNMUTE:
        mutes = [
            (mute.title, mute.lineage)
            for mute in home.channel(ref.channel).mutes
            if mute.lineage is not None
        ]
        view = (
            rv.unmute_modal(ref, mutes)
            if mutes
            else rv.notice_modal("Unmute", "Nothing is muted in this channel any more.")
        )
    else:
        _open_subscriptions(ref, user, trigger, client, services)
        return
    open_modal(client, trigger, view)


BUSY_JOBS = (
    "The bot is busy and did not ask PostHog for its jobs. You can still pick a level, for any "
    "job; open this form again for the list."
)


def _open_subscriptions(
    ref: ChannelRef, user: str, trigger: str, client: WebClient, services: Services
) -> None:
    """Open at once (a trigger_id lasts seconds), then fill the job picker from PostHog on the
    work pool; with no place there, the form opens without the list (never a PostHog query
    before the ack)."""
    current = services.channel_settings.subscription_choices(ref.channel)
    base_note = ""
    if not current and ref.channel == services.channel_settings.default_channel:
        base_note = (
            "This is the default alert channel (ALERT_CHANNEL): it gets every run until it has "
            "a subscription. Adding one limits it to that."
        )
    if not services.work.reserve():
        busy = f"{BUSY_JOBS} {base_note}".strip()
        open_modal(client, trigger, rv.subscriptions_modal(ref, current, [], busy))
        return
    try:
        first = rv.subscriptions_modal(ref, current, None, base_note)
        view_id, view_hash = open_modal(client, trigger, first)
    except Exception:
        services.work.cancel()
        raise

    def fill() -> None:
        note, jobs = base_note, []
        try:
            with spending_for(user):
                found = services.clusters.jobs().jobs
            jobs = [
                (job.name, job.name if len(job.name) <= JOB_VALUE_MAX else job.id) for job in found
            ]
        except Exception as error:
            problem = user_message(error) or "The jobs could not be loaded."
            note = f"{problem} You can still pick a level, for any job. {note}".strip()
        view = rv.subscriptions_modal(ref, current, jobs, note)
        update_modal(services.slack, view_id, view_hash, view)  # off the listener path

    services.work.submit(_logged(fill))


def _logged(task: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            task()
        except Exception:  # the person closed the modal, or Slack refused the update
            logger.exception("slack.modal.update_failed")

    return run


# -- submissions ---------------------------------------------------------------------------------


def _admin_form(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> tuple[str, ChannelRef] | None:
    """Who submitted an admin modal and for which channel; None once refused (not an admin,
    or a form whose channel was tampered with), the refusal already shown."""
    user = str(body["user"]["id"])
    if _refuse_unless_admin(ack, user, client, services):
        return None
    ref = _channel(ack, view)
    return None if ref is None else (user, ref)


def _refuse_unless_admin(ack: Ack, user: str, client: WebClient, services: Services) -> bool:
    if is_admin(user, services, client):
        return False
    ack(response_action="update", view=rv.notice_modal("Not allowed", NOT_ADMIN))
    logger.info("slack.modal.refused", extra={"user": user})
    return True


def _values(view: dict[str, Any]) -> dict[str, Any]:
    values = (view.get("state") or {}).get("values") or {}
    return {block: (fields or {}).get("value") or {} for block, fields in values.items()}


def _channel(ack: Ack, view: dict[str, Any]) -> ChannelRef | None:
    """The channel the modal is about; None (and the modal says so) when its metadata is not
    one we wrote: a forged or mangled submission changes nothing."""
    return _metadata(ack, view, ChannelRef)


def _metadata(ack: Ack, view: dict[str, Any], model: type[Form]) -> Form | None:
    try:
        return model.model_validate(json.loads(view.get("private_metadata") or "{}"))
    except ValueError:  # pydantic's ValidationError and json's JSONDecodeError both are
        ack(response_action="update", view=rv.notice_modal("Not saved", STALE_FORM))
        return None


def handle_thresholds_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> None:
    form = _admin_form(ack, body, view, client, services)
    if form is None:
        return
    user, ref = form
    entered = _values(view)
    specs = services.home.all_thresholds(ref.channel)
    errors: dict[str, str] = {}
    overrides: list[tuple[str, str]] = []
    for name in [spec.name for spec in specs] + [QUIET_SUMMARY]:
        text = str(entered.get(name, {}).get("value") or "").strip()
        if not text:
            continue
        try:
            check_threshold(name, text)
        except CommandError as error:
            errors[name] = str(error)
            continue
        if not _is_default(name, text):
            overrides.append((name, text))
    if errors:
        ack(response_action="errors", errors=errors)
        return
    services.channel_settings.set_thresholds(ref.channel, tuple(overrides), user, reset=True)
    ack()
    republish_later(user, services)


def _is_default(name: str, text: str) -> bool:
    if name == QUIET_SUMMARY:
        return text == "off"
    default = Thresholds()
    return bool(getattr(default.with_overrides({name: text}), name) == getattr(default, name))


def handle_subscriptions_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> None:
    """Remove the listed subscriptions left unticked, add the one picked: a subscription the
    form did not list (added meanwhile, or past what it holds) is never touched."""
    user = str(body["user"]["id"])
    if _refuse_unless_admin(ack, user, client, services):
        return
    form = _metadata(ack, view, SubscriptionsForm)
    if form is None:
        return
    entered = _values(view)
    ticked = {
        option["value"]
        for block, value in entered.items()
        if block.startswith(f"{rv.KEEP}.")
        for option in value.get("selected_options") or []
    }
    level_pick = (entered.get("level", {}).get("selected_option") or {}).get("value")
    job_pick = (entered.get("job", {}).get("selected_option") or {}).get("value")
    try:
        level = None if level_pick in (None, rv.ANY) else Level(level_pick)
    except ValueError:
        ack(response_action="errors", errors={"level": f"Unknown level `{level_pick}`."})
        return
    job = None if job_pick in (None, rv.ANY) else str(job_pick)[:200]
    ack()
    settings = services.channel_settings
    settings.remove_subscriptions(form.channel, [i for i in form.shown if str(i) not in ticked])
    if level_pick is not None or job_pick is not None:
        settings.subscribe(form.channel, level, job, user)
    republish_later(user, services)


def handle_unmute_submission(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> None:
    form = _admin_form(ack, body, view, client, services)
    if form is None:
        return
    user, ref = form
    picked = [o["value"] for o in _values(view).get("unmute", {}).get("selected_options") or []]
    if not picked:
        ack(response_action="errors", errors={"unmute": "Tick at least one cluster."})
        return
    if not all(value.isdigit() for value in picked):
        ack(response_action="update", view=rv.notice_modal("Not saved", STALE_FORM))
        return
    ack()
    for lineage in picked:  # a mute lifted meanwhile (expired, or by someone else) lifts nothing
        services.channel_settings.unmute_lineage(ref.channel, int(lineage))
    republish_later(user, services)
