"""Every message the bot can send, rendered with hostile text everywhere untrusted text goes.

Titles, descriptions, job names, trace and step names, models, error texts, user names and
factor values all carry `<!channel>`, `<!here|x>`, `<@U…>`, `<#C…>`, a fake PostHog link and
mrkdwn formatting, short and past every Slack limit. Each output must then hold:

- no `<` that the bot did not put there itself: its own links (exactly a URL that
  bot/posthog/urls.py built in this test), its own channel and user mentions (exactly the ids
  the test handed it as such); so no `<!`, `<@`, `<#` or `<http` from untrusted text;
- every hostile text escaped exactly once: no `&amp;lt;` (twice), and the escaped
  `&lt;!channel&gt;` present where the builder shows untrusted text (once, not zero times);
- the same for the fallback `text`, which Slack reads as mrkdwn in notifications.

The builders are found, not listed: every public function or method in bot/rendering/ must be
rendered here (`BUILDERS`) or be a helper that makes no mrkdwn (`HELPERS`), and every template
in templates/ must be rendered by a builder, so a new message kind cannot slip past. The unfurl
cards, assembled in bot/listeners/unfurls.py from those builders, are rendered too (`EXTRA`).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

import bot.rendering
from bot.domain.alerts import Severity
from bot.domain.early import NOISE_CLUSTER_ID, Finding
from bot.domain.kinds import AlertKind
from bot.domain.lifecycle import Phase
from bot.domain.models import Level
from bot.domain.thresholds import ThresholdSpec
from bot.listeners.unfurls import card
from bot.posthog.links import ClusterLink, RunLink, TraceLink
from bot.posthog.schemas import ClusteringJob
from bot.rendering import blocks as bk
from bot.rendering import charts, home, views
from bot.rendering.early import EarlyRenderer
from bot.rendering.env import BUILTIN_TEMPLATES
from bot.rendering.message import Message
from bot.slack.view_ids import ChannelRef
from bot.store.channels import Mute
from bot.views import (
    ChannelHome,
    EarlyHealth,
    Health,
    HomeView,
    JobsView,
    Ranked,
    RankedList,
)
from tests.support.blocks import mrkdwn_texts
from tests.support.hostile import (
    ADMIN,
    CHANNEL,
    ESCAPED,
    HOSTILE,
    LONG,
    NOW,
    SHORT,
    World,
    make_world,
)

# -- every builder, and how to render it with hostile text ---------------------------------

Output = Message | dict[str, Any] | str
Builder = Callable[[World], Iterator[Output]]
REF = ChannelRef(channel=CHANNEL)
SPECS = (ThresholdSpec("cost_spike_ratio", 2.5, 2.0, 1.0, 10.0, HOSTILE),)


def _summary(w: World) -> Iterator[Output]:
    yield w.renderer.summary(w.run, command_text=HOSTILE)
    yield w.renderer.summary(w.run)


def _top(w: World) -> Iterator[Output]:
    ranked = tuple(Ranked(w.run, c, 1.0) for c in w.run.clusters)
    yield w.renderer.top(RankedList(HOSTILE, HOSTILE, ranked))
    yield w.renderer.top(RankedList(HOSTILE, None, ()))


def _jobs(w: World) -> Iterator[Output]:
    jobs = tuple(
        ClusteringJob(id=HOSTILE, name=name, analysis_level=Level.TRACE, enabled=bool(k))
        for k, name in enumerate((HOSTILE, LONG))
    )
    yield w.renderer.jobs(JobsView(jobs))
    yield w.renderer.jobs(JobsView(jobs, from_runs=True))


def _alert_parent(w: World) -> Iterator[Output]:
    causes = {a.key: w.factors for a in w.alerts}
    yield w.changes.alert_parent(w.diff, w.alerts, w.run.clusters[:2], reset=HOSTILE, causes=causes)


def _alert_detail(w: World) -> Iterator[Output]:
    for alert in w.alerts:
        yield w.changes.alert_detail(alert, w.diff, w.factors)


def _parent_closed(w: World) -> Iterator[Output]:
    parent = w.changes.alert_parent(w.diff, w.alerts[:3])
    # as the store gives it back: plain strings, escaped once already
    stored_text, stored_blocks = str(parent.text), list(parent.blocks)
    closed = [w.episode(phase) for phase in Phase if phase.closes]
    once = w.changes.parent_closed(stored_blocks, stored_text, closed, w.run)
    yield once
    yield w.changes.parent_closed(list(once.blocks), str(once.text), closed, w.run)


def _early_findings(w: World) -> list[Finding]:
    since = NOW - timedelta(hours=3)
    cluster = w.cluster.cluster_id
    return [
        Finding(AlertKind.ERROR_HEAVY, cluster, HOSTILE, Severity.WARNING, 0.02, 0.45, 90, 9,
                1e-5, since),
        Finding(AlertKind.COST_SPIKE, cluster, HOSTILE, Severity.CRITICAL, 0.01, 0.03, 90, 9,
                1e-5, since, part=HOSTILE),
        Finding(AlertKind.OUTLIER_GROWTH, NOISE_CLUSTER_ID, HOSTILE, Severity.WARNING, 0.05, 0.4,
                90, 9, 1e-5, since),
    ]  # fmt: skip


def _early_warning(w: World) -> Iterator[Output]:
    early = EarlyRenderer(w.renderer)
    return (early.warning(w.run, finding, NOW) for finding in _early_findings(w))


def _early_edit(edit: str) -> Builder:
    """Each hostile warning as the store gives it back (plain strings, escaped once already),
    edited by `EarlyRenderer.<edit>`."""

    def build(w: World) -> Iterator[Output]:
        early = EarlyRenderer(w.renderer)
        for finding in _early_findings(w):
            posted = early.warning(w.run, finding, NOW)
            yield getattr(early, edit)(str(posted.text), list(posted.blocks), w.run.summary)

    return build


def _early_edited(w: World) -> Iterator[Output]:
    early = EarlyRenderer(w.renderer)
    posted = early.warning(w.run, _early_findings(w)[0], NOW)
    for status in ("confirmed", "retracted", "undecided"):
        yield early.edited(str(posted.text), list(posted.blocks), w.run.summary, status)


def _unfurl_cards(w: World) -> Iterator[Output]:
    """bot/listeners/unfurls.py assembles the cards from the renderers above."""
    runs = SimpleNamespace(get=lambda run_id: w.run, previous=lambda run: w.previous)
    clusters = SimpleNamespace(runs=runs, trace=lambda *args: w.trace_view())
    services = SimpleNamespace(clusters=clusters, renderer=w.renderer, drilldown=w.drilldown)
    for link in (
        ClusterLink(run_id=w.run.run_id, cluster_id=0),
        RunLink(run_id=w.run.run_id),
        TraceLink(trace_id=SHORT, at=NOW, event=SHORT),
    ):
        yield Message(text="(unfurl)", blocks=card(link, services))  # type: ignore[arg-type]


def _home(w: World) -> Iterator[Output]:
    mutes = tuple(
        Mute(CHANNEL, w.run.run_id, 0, title, NOW, by)
        for title, by in ((HOSTILE, ADMIN), (LONG, "<!channel>"), (HOSTILE, HOSTILE))
    )
    channel = ChannelHome(CHANNEL, (HOSTILE, LONG), SPECS, True, mutes * 3, is_default=True)
    early = EarlyHealth(timedelta(hours=1), NOW, 2, NOW + timedelta(hours=6), HOSTILE)
    health = Health(NOW, True, None, 3, 2, 5, ((HOSTILE, 3), (LONG, 2)), early=early)
    yield home.render_home(HomeView((channel,) * 3, health, admin=True, now=NOW))
    paged = HomeView((channel,) * 15, health, admin=False, now=NOW, page=1, channel_count=40)
    yield home.render_home(paged)
    yield home.render_home(HomeView((), Health(None, False, 1, 1, 0, 0), admin=False, now=NOW))


BUILDERS: dict[str, Builder] = {
    "early.EarlyRenderer.warning": _early_warning,
    "early.EarlyRenderer.retracted": _early_edit("retracted"),
    "early.EarlyRenderer.confirmed": _early_edit("confirmed"),
    "early.EarlyRenderer.undecided": _early_edit("undecided"),
    "early.EarlyRenderer.edited": _early_edited,
    "early.EarlyRenderer.settled": lambda w: (
        EarlyRenderer(w.renderer).settled(w.run.summary, status, alert=HOSTILE, items=items)
        for status in ("confirmed", "retracted", "undecided")
        for items in (0, 7)
    ),
    "answers.Renderer.text": lambda w: iter(
        [w.renderer.text("error.md.j2", message=HOSTILE, error_id=HOSTILE)]
    ),
    "answers.Renderer.title_link": lambda w: (
        w.renderer.title_link(w.run.run_id, c) for c in w.run.clusters
    ),
    "answers.Renderer.run_link": lambda w: iter(
        [w.renderer.run_link(w.run), w.renderer.run_link(w.run, HOSTILE)]
    ),
    "answers.Renderer.run_context": lambda w: iter([w.renderer.run_context(w.run)]),
    "answers.Renderer.cluster_line": lambda w: (
        w.renderer.cluster_line(w.run, c, HOSTILE) for c in w.run.clusters
    ),
    "answers.Renderer.summary": _summary,
    "answers.Renderer.runs": lambda w: iter(
        [w.renderer.runs([w.run.summary, w.previous.summary]), w.renderer.runs([])]
    ),
    "answers.Renderer.cluster": lambda w: iter(
        [w.renderer.cluster(w.cluster_view(), w.drilldown.traces(w.cluster_view()))]
    ),
    "answers.Renderer.top": _top,
    "answers.Renderer.jobs": _jobs,
    "answers.Renderer.help": lambda w: iter(
        [w.renderer.help([HOSTILE, LONG], HOSTILE), w.renderer.help([HOSTILE])]
    ),
    "answers.Renderer.notice": lambda w: iter([w.renderer.notice(HOSTILE)]),
    "answers.Renderer.error": lambda w: iter(
        [w.renderer.error(HOSTILE, HOSTILE), w.renderer.error(LONG)]
    ),
    "answers.Renderer.mute_note": lambda w: iter(
        [w.renderer.mute_note(u, HOSTILE, NOW) for u in (ADMIN, "<!channel>", HOSTILE)]
    ),
    "answers.Renderer.lines": lambda w: iter(
        [w.renderer.lines(HOSTILE, [HOSTILE, LONG]), w.renderer.lines(HOSTILE, [])]
    ),
    # the boundary: plain text in, escaped once
    "blocks.mrkdwn": lambda w: iter(
        [bk.finish([{"type": "section", "text": bk.mrkdwn(HOSTILE)}], "x")]
    ),
    "blocks.section": lambda w: iter([bk.finish([bk.section(HOSTILE)], "x")]),
    "blocks.fields": lambda w: iter([bk.finish([bk.fields(HOSTILE, LONG)], "x")]),
    "blocks.context": lambda w: iter([bk.finish([bk.context(HOSTILE, LONG)], "x")]),
    "blocks.finish": lambda w: iter([bk.finish([bk.section(HOSTILE), bk.context(LONG)], HOSTILE)]),
    "views.finish_view": lambda w: iter(
        [views.finish_view({"type": "home"}, [bk.section(HOSTILE)] * 120, HOSTILE)]
    ),
    "causes.CauseRenderer.detail": lambda w: iter(
        [
            w.causes.detail(k, w.factors, w.run.run_id, 0)
            for k in (AlertKind.ERROR_HEAVY, AlertKind.COST_SPIKE, None)
        ]
    ),
    "causes.CauseRenderer.clause": lambda w: (w.causes.clause([f]) for f in w.factors),
    "changes.ChangeRenderer.alert_parent": _alert_parent,
    "changes.ChangeRenderer.alert_detail": _alert_detail,
    "changes.ChangeRenderer.why": lambda w: iter(
        [
            w.changes.why(w.run, w.cluster, w.factors, compared=True),
            w.changes.why(w.run, w.cluster, [], compared=True),
            w.changes.why(w.run, w.cluster, [], compared=False),
        ]
    ),
    "changes.ChangeRenderer.run_notes": lambda w: iter([w.changes.run_notes(w.diff, HOSTILE)]),
    "changes.ChangeRenderer.baseline_reset": lambda w: iter(
        [w.changes.baseline_reset(w.diff, HOSTILE)]
    ),
    "changes.ChangeRenderer.episode_update": lambda w: (
        w.changes.episode_update(w.episode(p), w.run) for p in Phase
    ),
    "changes.ChangeRenderer.parent_closed": _parent_closed,
    "changes.ChangeRenderer.run_skipped": lambda w: iter(
        [w.changes.run_skipped(w.run, 3, HOSTILE)]
    ),
    "changes.ChangeRenderer.quiet": lambda w: iter([w.changes.quiet(w.diff)]),
    "changes.ChangeRenderer.compare": lambda w: iter([w.changes.compare(w.diff)]),
    "charts.chart_caption": lambda w: iter(
        [charts.chart_caption(HOSTILE, HOSTILE, vanished=True), charts.chart_caption(HOSTILE, "")]
    ),
    "charts.chart_notice": lambda w: iter([charts.chart_notice(HOSTILE)]),
    "charts.no_map_notice": lambda w: iter([charts.no_map_notice()]),
    "drilldown.DrilldownRenderer.traces": lambda w: iter(
        [w.drilldown.traces(w.cluster_view(), private=p) for p in (False, True)]
    ),
    "drilldown.DrilldownRenderer.trace": lambda w: iter(
        [w.drilldown.trace(w.trace_view(), private=p) for p in (False, True)]
    ),
    "drilldown.DrilldownRenderer.trace_content": lambda w: iter(
        [w.drilldown.trace_content(w.trace_view()) or Message("")]
    ),
    "home.render_home": _home,
    "views.all_thresholds_modal": lambda w: iter([views.all_thresholds_modal(REF, SPECS, True)]),
    "views.thresholds_modal": lambda w: iter(
        [views.thresholds_modal(REF, SPECS, {"cost_spike_ratio": HOSTILE})]
    ),
    "views.subscriptions_modal": lambda w: iter(
        [
            views.subscriptions_modal(
                REF, [(HOSTILE, "a"), (LONG, "b")], [(HOSTILE, "j"), (LONG, "k")], HOSTILE
            ),
            views.subscriptions_modal(REF, [], None),
        ]
    ),
    "views.unmute_modal": lambda w: iter([views.unmute_modal(REF, [(HOSTILE, 1), (LONG, 2)])]),
    "views.notice_modal": lambda w: iter(
        [views.notice_modal(HOSTILE, HOSTILE), views.notice_modal(HOSTILE, LONG)]
    ),
}
EXTRA = {"listeners.unfurls.card": _unfurl_cards}  # built outside bot/rendering from its parts

# Builders whose output quotes no untrusted text (only numbers, run dates and the bot's words)
QUOTE_NOTHING = {
    "answers.Renderer.run_link",
    "answers.Renderer.run_context",
    "changes.ChangeRenderer.quiet",
    "charts.no_map_notice",
}


# Public callables of bot/rendering/ that make no text Slack reads as mrkdwn: plain_text
# pieces, number formats, plain descriptions that the builders above escape, configuration.
# A new public callable must be put in BUILDERS or here, so none is left unclassified.
HELPERS = {
    "answers.item_noun",
    "answers.Renderer.series_title",  # plain: escaped where it is used
    "answers.Renderer.traces_button",
    "blocks.actions",
    "blocks.button",
    "blocks.header",  # plain_text
    "alert_words.against_the_rest",  # plain: escaped where it is used
    "alert_words.describe",  # plain: escaped where it is used
    "alert_words.explain",
    "alert_words.family_noun",  # plain: escaped where it is used
    "alert_words.family_value",
    "causes.CauseRenderer.view",
    "early.describe",  # plain: escaped where it is used
    "home.describe_early",  # plain: the Home tab escapes it (rendered in _home)
    "evidence.assigned_note",  # plain numbers and words, in the explanation of an alert
    "env.ago",
    "env.change",
    "env.day",
    "env.make_environment",
    "env.money",
    "env.number",
    "env.pct",
    "env.points",
    "env.seconds",
    "message.Message.as_kwargs",
    "views.action_button",
    "views.option",
    "views.plain",
    "views.text_input",
}


def discovered() -> dict[str, str]:
    """Every public function and method defined in bot/rendering/, with its return annotation."""
    found = {}
    for info in pkgutil.iter_modules(bot.rendering.__path__):
        module = importlib.import_module(f"bot.rendering.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            members = (
                [(f"{name}.{m}", f) for m, f in vars(obj).items() if not m.startswith("_")]
                if inspect.isclass(obj)
                else [(name, obj)]
            )
            for qualname, function in members:
                function = getattr(function, "__func__", function)  # staticmethod
                if inspect.isfunction(function):
                    returns = inspect.signature(function).return_annotation
                    found[f"{info.name}.{qualname}"] = str(returns)
    return found


# -- the checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    where: str
    text: str


def texts(output: Output) -> list[Text]:
    """Everything Slack reads as mrkdwn: a message's fallback and its mrkdwn blocks, a view's
    mrkdwn blocks, or a piece of mrkdwn."""
    if isinstance(output, Message):
        return [Text("text", output.text)] + [
            Text("blocks", t) for t in mrkdwn_texts(output.blocks)
        ]
    if isinstance(output, dict):
        return [Text("view", t) for t in mrkdwn_texts(output.get("blocks", []))]
    return [Text("mrkdwn", output)]


def urls_in(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [str(v) for k, v in node.items() if k == "url"]
        return found + [u for v in node.values() for u in urls_in(v)]
    if isinstance(node, list):
        return [u for v in node for u in urls_in(v)]
    return []


def plain_texts(node: object) -> list[str]:
    if isinstance(node, Message):
        return plain_texts(node.blocks)
    if isinstance(node, dict):
        own = [str(node["text"])] if node.get("type") == "plain_text" else []
        return own + [t for v in node.values() for t in plain_texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in plain_texts(v)]
    return []


ANGLE = re.compile(r"<([^<>]*)>?")


def foreign_markup(text: str, allowed_urls: set[str]) -> list[str]:
    """Each `<…>` in `text` that the bot did not write: only its channel and user mentions and
    links to URLs it built are its own."""
    foreign = []
    for found in ANGLE.finditer(text):
        inner = found.group(1)
        url, _, label = inner.partition("|")
        own = inner in (f"#{CHANNEL}", f"@{ADMIN}") or (
            url in allowed_urls and "<" not in label and found.group().endswith(">")
        )
        if not own:
            foreign.append(found.group()[:120])
    return foreign


@pytest.fixture(scope="module", params=list(Level), ids=lambda level: level.value)
def rendered(request: pytest.FixtureRequest) -> tuple[World, dict[str, list[Output]]]:
    world = make_world(request.param)
    outputs = {name: list(build(world)) for name, build in {**BUILDERS, **EXTRA}.items()}
    return world, outputs


def test_every_builder_in_bot_rendering_is_rendered_here() -> None:
    found = discovered()
    assert set(found) - BUILDERS.keys() - HELPERS == set(), "unclassified: BUILDERS or HELPERS?"
    assert (BUILDERS.keys() | HELPERS) - set(found) == set(), "stale entries"
    makes_text = re.compile(r"\b(Message|View|SafeMrkdwn)\b")
    assert [name for name in HELPERS if makes_text.search(found[name])] == []


def test_every_template_is_rendered_here(
    rendered: tuple[World, dict[str, list[Output]]],
) -> None:
    world, _ = rendered
    templates = {path.name for path in BUILTIN_TEMPLATES.glob("*.j2")}
    assert templates, BUILTIN_TEMPLATES
    assert templates - world.templates == set()


def test_no_untrusted_mention_link_or_broadcast_reaches_slack(
    rendered: tuple[World, dict[str, list[Output]]],
) -> None:
    world, outputs = rendered
    problems = []
    for name, results in outputs.items():
        assert results, name
        for output in results:
            for text in texts(output):
                problems += [
                    f"{name} ({text.where}): {bad}"
                    for bad in foreign_markup(text.text, world.urls.built)
                ]
            blocks = output.blocks if isinstance(output, Message) else output
            problems += [
                f"{name}: button url {url[:100]} was not built by PostHogUrls"
                for url in urls_in(blocks)
                if url not in world.urls.built
            ]
    assert problems == []


def test_untrusted_text_is_escaped_exactly_once(
    rendered: tuple[World, dict[str, list[Output]]],
) -> None:
    _, outputs = rendered
    twice, never = [], []
    for name, results in outputs.items():
        for output in results:
            found = texts(output)
            twice += [f"{name} ({t.where}): {t.text[:200]}" for t in found if "&amp;lt;" in t.text]
        shown = " ".join(t.text for output in results for t in texts(output))
        plain = " ".join(plain_texts(results))  # headers, buttons, inputs: shown as typed
        if name not in QUOTE_NOTHING and ESCAPED not in shown and "<!channel>" not in plain:
            never.append(name)
    assert twice == []
    assert never == [], "builders that showed none of the untrusted text they were given"


def test_fallback_text_is_escaped_exactly_once(
    rendered: tuple[World, dict[str, list[Output]]],
) -> None:
    """A fallback that quotes a title carries it escaped once: notifications show it as typed."""
    _, outputs = rendered
    fallbacks = [
        (name, output.text)
        for name, results in outputs.items()
        for output in results
        if isinstance(output, Message) and name not in EXTRA
    ]
    assert fallbacks
    quoting = [text for _, text in fallbacks if ESCAPED in text]
    assert quoting, "no fallback quotes a hostile text: the test lost its point"
    assert [(n, t[:200]) for n, t in fallbacks if "&amp;lt;" in t or "<!" in t] == []
    parents = dict(fallbacks)
    assert ESCAPED in parents["changes.ChangeRenderer.parent_closed"]
