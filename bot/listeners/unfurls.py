"""PostHog links pasted in Slack get a card (`link_shared` -> `chat.unfurl`).

A cluster link gets the cluster's card (title, share, cost, latency, errors, trend against the
previous run, Traces button), a run link the run's summary, a trace link its summary; links to
another host or project are left alone. The card is seen by the whole channel, so trace content
follows DRILLDOWN_CONTENT as a channel reply does (never in the channel). Each link costs
PostHog queries, charged to the person who pasted it, and runs on the work pool after the
event's ack. Slack sends the event twice for one link (composer preview, posted message): the
card is kept for a short while (bot/services/card_cache.py), so the second costs no query.

Slack writes the event's URLs as in message text, `&` as `&amp;`: they are unescaped before
they are read, and the card is keyed by the URL as Slack sent it.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.domain.compare import RunDiff, diff_runs
from bot.domain.models import Cluster
from bot.listeners.errors import user_message
from bot.posthog.budget import spending_for
from bot.posthog.links import ClusterLink, PostHogLink, RunLink, parse_link
from bot.rendering import blocks as bk
from bot.rendering.env import pct
from bot.services.errors import CommandError
from bot.slack.conversations import may_unfurl
from bot.slack.errors import SlackWriteError
from bot.slack.escape import unescape_mrkdwn
from bot.slack.views import unfurl
from bot.views import ClusterView

if TYPE_CHECKING:  # the composition root, for its type only (it pulls in every service)
    from bot.wiring import Services

logger = logging.getLogger(__name__)

LINKS_MAX = 5  # Slack sends at most 5 links per message


def handle_link_shared(event: dict[str, Any], services: Services) -> None:
    settings = services.settings
    found = {
        str(link["url"]): parsed
        for link in (event.get("links") or [])[:LINKS_MAX]
        if (
            parsed := parse_link(
                unescape_mrkdwn(str(link.get("url"))),
                settings.ui_host,
                settings.posthog_project_id or "",
            )
        )
    }
    if not found or not services.work.reserve():
        return  # nothing of ours, or busy: a link without a card loses nothing

    def work() -> None:
        if not may_unfurl(event, services.conversations, allow_external=settings.unfurl_external):
            return  # not a conversation the bot is in, or shared with another organisation
        unfurls: dict[str, Any] = {}
        with spending_for(str(event.get("user") or "")):
            for url, link in found.items():
                try:
                    build = partial(card, link, services)
                    unfurls[url] = {"blocks": services.cards.get_or_build(link, build)}
                except Exception as error:  # one bad link must not cost the others their card
                    if user_message(error) is None:
                        logger.exception("slack.unfurl.failed", extra={"url": url[:300]})
        if not unfurls:
            return
        try:
            unfurl(services.slack, unfurls, event)  # after the ack: may wait out a 429
        except SlackWriteError as error:
            logger.warning("slack.unfurl.failed", extra={"error": error.failure.code})

    services.work.submit(work)


STEADY_POINTS = 0.01  # a share change under one percentage point shows as steady


def trend_text(diff: RunDiff, cluster: Cluster) -> str | None:
    """The cluster's share of traffic against its match in the previous run, with an arrow."""
    if any(new.cluster_id == cluster.cluster_id for new in diff.new):
        return "New since the previous run"
    match = diff.match_for_current(cluster.cluster_id)
    if match is None:
        return None
    before, after = diff.previous.share(match.previous), diff.current.share(cluster)
    arrow = "→" if abs(after - before) < STEADY_POINTS else ("↑" if after > before else "↓")
    return f"{arrow} Share {pct(before)} in the previous run, {pct(after)} now"


def card(link: PostHogLink, services: Services) -> list[bk.Block]:
    clusters, renderer = services.clusters, services.renderer
    if isinstance(link, ClusterLink):
        run = clusters.runs.get(link.run_id)
        cluster = run.cluster(link.cluster_id)
        if cluster is None:
            raise CommandError(f"Run `{link.run_id}` has no cluster {link.cluster_id}.")
        blocks = renderer.cluster(ClusterView(run, cluster)).blocks
        previous = clusters.runs.previous(run)
        trend = trend_text(diff_runs(previous, run), cluster) if previous else None
        if trend:  # before the buttons, which stay last
            blocks.insert(len(blocks) - 1, bk.context(trend))
        return blocks
    if isinstance(link, RunLink):
        return renderer.summary(clusters.runs.get(link.run_id)).blocks
    trace = clusters.trace(link.trace_id, link.at, link.event)
    return services.drilldown.trace(trace, private=False).blocks
