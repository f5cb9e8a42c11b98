"""Modals and the Home tab stay within Slack's view limits, checked by the fake Slack's own
checks (independent of the bot's), with the worst inputs the bot can meet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.domain.thresholds import Thresholds
from bot.rendering import views as rv
from bot.rendering.home import render_home
from bot.slack.view_ids import ChannelRef, SubscriptionsForm
from bot.store.channels import Mute
from bot.views import ChannelHome, Health, HomeView
from standins.slack.views import invalid_view

REF = ChannelRef(channel="C0ALERTS")
LONG = "Ünïcode & <b>tags</b> " * 40  # 880 characters


def test_subscriptions_modal_with_many_long_jobs_fits() -> None:
    jobs = [(f"{n} {LONG}", f"job-{n}") for n in range(300)]
    current = [(LONG, str(n)) for n in range(30)]
    view = rv.subscriptions_modal(REF, current, jobs, note=LONG * 5)
    assert invalid_view(view, "modal") == []
    picker = next(b for b in view["blocks"] if b.get("block_id") == "job")
    assert len(picker["element"]["options"]) == rv.SELECT_OPTIONS_MAX
    assert all(len(o["text"]["text"]) <= 75 for o in picker["element"]["options"])


def test_thresholds_and_unmute_modals_fit() -> None:
    specs = Thresholds().describe()
    stored = {spec.name: "9" * 5000 for spec in specs}  # a corrupted store: still a valid modal
    assert invalid_view(rv.thresholds_modal(REF, specs, stored), "modal") == []
    assert invalid_view(rv.unmute_modal(REF, [(LONG, n) for n in range(40)]), "modal") == []
    assert invalid_view(rv.all_thresholds_modal(REF, specs, quiet=True), "modal") == []


def test_home_tab_with_many_channels_and_mutes_is_cut_at_100_blocks() -> None:
    until = datetime(2026, 12, 5, tzinfo=UTC) + timedelta(hours=3)
    mutes = tuple(Mute("C0ALERTS", "r", n, LONG, until, "U0ADMIN") for n in range(20))
    channels = tuple(
        ChannelHome(f"C0CH{n:03d}", (LONG,) * 50, Thresholds().describe(), True, mutes)
        for n in range(40)
    )
    health = Health(None, True, 10, 20, 3, 2, (("channel_not_found", 2),))
    view = render_home(HomeView(channels, health, admin=True))
    assert invalid_view(view, "home") == []
    assert len(view["blocks"]) == 100
    assert "more" in view["blocks"][-1]["elements"][0]["text"]


def test_subscriptions_modal_lists_every_row_it_can_and_names_them_in_its_metadata() -> None:
    current = [(f"{LONG} {n}", str(10_000_000 + n)) for n in range(450)]
    view = rv.subscriptions_modal(REF, current, jobs=[], note="")
    assert invalid_view(view, "modal") == []
    groups = [b for b in view["blocks"] if str(b.get("block_id", "")).startswith("keep.")]
    listed = [o["value"] for group in groups for o in group["element"]["options"]]
    assert all(len(group["element"]["options"]) <= 10 for group in groups)
    form = SubscriptionsForm.model_validate_json(view["private_metadata"])
    assert [str(row) for row in form.shown] == listed  # exactly what it lists
    assert len(listed) == rv.SUBSCRIPTIONS_SHOWN_MAX
    assert f"…and {450 - len(listed)} more" in json.dumps(view, ensure_ascii=False)
    assert view["blocks"][-1]["block_id"] == "job"  # the pickers are never cut off
