"""Modals, and the one exit every view (modal or Home tab) leaves through, within Slack's limits:
100 blocks, titles and submit/close labels of 24 characters, input fields of 3000
(https://docs.slack.dev/reference/views; reference/slack.md A7)."""

from __future__ import annotations

from typing import Any

from bot.domain.thresholds import ThresholdSpec
from bot.rendering import blocks as bk
from bot.slack.escape import (
    BUTTON_TEXT_MAX,
    OPTION_TEXT_MAX,
    VIEW_BLOCKS_MAX,
    clean_inline,
    enforce_limits,
    md,
)
from bot.slack.ids import Payload
from bot.slack.view_ids import ChannelRef, Modal, SubscriptionsForm

VIEW_TITLE_MAX = 24  # also submit and close
INPUT_VALUE_MAX = 3000  # plain_text_input max_length
INPUT_LABEL_MAX = 2000
HINT_MAX = 2000
CHECKBOX_OPTIONS_MAX = 10
SELECT_OPTIONS_MAX = 100
PRIVATE_METADATA_MAX = 3000
ANY = "*"  # the "any level" / "any job" option (an option value may not be empty)

View = dict[str, Any]


def finish_view(view: View, blocks: list[bk.Block], summary: str) -> View:
    """Fit `blocks` into a view: texts cut, past 100 blocks the tail replaced by "…and N more";
    modal titles and button labels cut to 24 characters. `summary` is the (unused by Slack for
    views) fallback that `enforce_limits` requires, escaped there."""
    fitted, _ = enforce_limits(blocks, fallback_text=summary, max_blocks=VIEW_BLOCKS_MAX)
    out = dict(view) | {"blocks": fitted}
    for key in ("title", "submit", "close"):
        if key in out:
            out[key] = plain(str(out[key]["text"]), VIEW_TITLE_MAX)
    return out


def plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clean_inline(text, limit), "emoji": True}


def action_button(
    text: str, action_id: str, value: Payload, *, style: str | None = None
) -> bk.Block:
    element: bk.Block = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_MAX),
        "action_id": action_id,
        "value": value.model_dump_json(),
    }
    if style:
        element["style"] = style
    return element


def _modal(title: str, callback: Modal | None, ref: ChannelRef, submit: str | None) -> View:
    view: View = {
        "type": "modal",
        "title": plain(title, VIEW_TITLE_MAX),
        "close": plain("Close" if submit is None else "Cancel", VIEW_TITLE_MAX),
        "private_metadata": ref.model_dump_json(),
    }
    if callback is not None:
        view["callback_id"] = callback.value
    if submit is not None:
        view["submit"] = plain(submit, VIEW_TITLE_MAX)
    return view


def all_thresholds_modal(ref: ChannelRef, specs: tuple[ThresholdSpec, ...], quiet: bool) -> View:
    lines = [
        md(
            "`{}={:g}`{}: {} Default {:g}, from {:g} to {:g}.",
            s.name,
            s.value,
            " (set here)" if s.value != s.default else "",
            s.description,
            s.default,
            s.minimum,
            s.maximum,
        )
        for s in specs
        if s.minimum is not None and s.maximum is not None
    ]
    state = "on" if quiet else "off"
    lines.append(md("`quiet_summary={}`: a short note for runs without changes.", state))
    blocks = [bk.section(md("Alert thresholds in <#{}>", ref.channel))]
    blocks += [bk.section(line) for line in lines]
    return finish_view(_modal("Thresholds", None, ref, None), blocks, "Alert thresholds")


def thresholds_modal(
    ref: ChannelRef, specs: tuple[ThresholdSpec, ...], stored: dict[str, str]
) -> View:
    """One text field per threshold, filled with the channel's value. A field left empty or at
    the default is not stored; what is entered is checked as `/clusters thresholds` checks it."""
    blocks: list[bk.Block] = [
        bk.section(
            md(
                "Alert thresholds in <#{}>. Empty a field to use the default. "
                "Same as `/clusters thresholds name=value` in the channel.",
                ref.channel,
            )
        )
    ]
    for spec in specs:
        blocks.append(
            text_input(
                spec.name,
                label=spec.name,
                initial=stored.get(spec.name, f"{spec.value:g}"),
                hint=f"{spec.description} Default {spec.default:g}.",
            )
        )
    blocks.append(
        text_input(
            "quiet_summary",
            label="quiet_summary",
            initial=stored.get("quiet_summary", "off"),
            hint="on or off: post a short note for runs without changes.",
        )
    )
    return finish_view(_modal("Edit thresholds", Modal.THRESHOLDS, ref, "Save"), blocks, "Edit")


def text_input(block_id: str, *, label: str, initial: str, hint: str) -> bk.Block:
    element: bk.Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "max_length": INPUT_VALUE_MAX,
    }
    if initial:
        element["initial_value"] = initial[:INPUT_VALUE_MAX]
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": plain(label, INPUT_LABEL_MAX),
        "hint": plain(hint, HINT_MAX),
        "element": element,
    }


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, OPTION_TEXT_MAX), "value": value}


KEEP = "keep"  # block ids of the Subscriptions modal's checkbox groups: keep.0, keep.1, …
SUBSCRIPTIONS_SHOWN_MAX = 300  # 30 groups of 10; their ids fit the metadata's 3000 characters


def subscriptions_modal(
    ref: ChannelRef,
    current: list[tuple[str, str]],
    jobs: list[tuple[str, str]] | None,
    note: str = "",
) -> View:
    """`current`: (label, row id) of the channel's subscriptions, all ticked, in groups of ten
    (Slack's most per checkbox group); unticking one removes it. The metadata names the rows
    shown (`SubscriptionsForm`): saving touches no other. The pickers add one; `jobs` are
    (name, value) pairs, None while PostHog's job list is loading."""
    shown = _fitting(ref, [(label, value) for label, value in current if value.isdigit()])
    blocks: list[bk.Block] = [bk.section(md("Alert subscriptions of <#{}>", ref.channel))]
    for group, start in enumerate(range(0, len(shown), CHECKBOX_OPTIONS_MAX)):
        page = shown[start : start + CHECKBOX_OPTIONS_MAX]
        options = [option(label, value) for label, value in page]
        label = "Keep (untick to remove)" if group == 0 else "Keep (continued)"
        blocks.append(
            {
                "type": "input",
                "block_id": f"{KEEP}.{group}",
                "optional": True,
                "label": plain(label, INPUT_LABEL_MAX),
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": options,
                    "initial_options": options,
                },
            }
        )
    if len(shown) < len(current):
        blocks.append(
            bk.context(
                f"…and {len(current) - len(shown)} more, not listed here and kept when you "
                "save. `/clusters unsubscribe` in the channel removes them."
            )
        )
    levels = [option("Any level", ANY)] + [
        option(f"{name} level", name) for name in ("trace", "generation", "evaluation")
    ]
    blocks.append(_select("level", "Add: level", levels))
    if jobs is None:
        blocks.append(bk.context("Loading the jobs PostHog has…"))
    else:
        job_options = [option("Any job", ANY)] + [
            option(name, value) for name, value in jobs[: SELECT_OPTIONS_MAX - 1]
        ]
        blocks.append(_select("job", "Add: job", job_options))
    if note:
        blocks.append(bk.context(note))
    view = _modal("Subscriptions", Modal.SUBSCRIPTIONS, ref, "Save")
    form = SubscriptionsForm(channel=ref.channel, shown=tuple(int(v) for _, v in shown))
    view["private_metadata"] = form.model_dump_json()
    return finish_view(view, blocks, "Subscriptions")


def _fitting(ref: ChannelRef, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """As many rows as the modal lists: `SUBSCRIPTIONS_SHOWN_MAX`, fewer if their ids would
    overflow the metadata (`PRIVATE_METADATA_MAX`)."""
    shown = rows[:SUBSCRIPTIONS_SHOWN_MAX]
    while shown:
        form = SubscriptionsForm(channel=ref.channel, shown=tuple(int(v) for _, v in shown))
        if len(form.model_dump_json()) <= PRIVATE_METADATA_MAX:
            break
        shown = shown[:-CHECKBOX_OPTIONS_MAX]
    return shown


def _select(block_id: str, label: str, options: list[dict[str, Any]]) -> bk.Block:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": plain(label, INPUT_LABEL_MAX),
        "element": {"type": "static_select", "action_id": "value", "options": options},
    }


def unmute_modal(ref: ChannelRef, mutes: list[tuple[str, int]]) -> View:
    """Checkboxes of the channel's mutes, each `(title, lineage)`: a mute is named by what
    the store keeps for it, so two clusters with one title stay two choices."""
    options = [option(title, str(lineage)) for title, lineage in mutes[:CHECKBOX_OPTIONS_MAX]]
    blocks: list[bk.Block] = [
        bk.section(md("Muted clusters in <#{}>. Tick the ones to unmute.", ref.channel)),
        {
            "type": "input",
            "block_id": "unmute",
            "label": plain("Unmute", INPUT_LABEL_MAX),
            "element": {"type": "checkboxes", "action_id": "value", "options": options},
        },
    ]
    return finish_view(_modal("Unmute", Modal.UNMUTE, ref, "Unmute"), blocks, "Unmute")


def notice_modal(title: str, text: str) -> View:
    """A modal that only says something (a refusal, or nothing left to edit)."""
    view: View = {"type": "modal", "title": plain(title, VIEW_TITLE_MAX)}
    view["close"] = plain("Close", VIEW_TITLE_MAX)
    return finish_view(view, [bk.section(text)], text)
