"""Thread replies of a drilldown: a cluster's representative traces, then one trace."""

from __future__ import annotations

from bot.domain.models import Level
from bot.rendering import blocks as bk
from bot.rendering.answers import Renderer
from bot.rendering.message import Message
from bot.services.views import ClusterView, TraceTarget, TraceView
from bot.slack.escape import clean_inline, escape_mrkdwn, link, truncate
from bot.slack.ids import ActionId, TraceRef

CONTENT_PREVIEW_MAX = 600
STEP_ICONS = {"$ai_generation": ":speech_balloon:", "$ai_span": ":gear:", "$ai_embedding": ":abc:"}


class DrilldownRenderer:
    def __init__(self, renderer: Renderer, *, show_content: bool) -> None:
        self.r = renderer
        self.show_content = show_content

    def traces(self, view: ClusterView) -> Message:
        run, cluster = view.run, view.cluster
        which = "most anomalous" if cluster.is_noise else "most representative"
        kind = "evaluations" if run.level is Level.EVALUATION else "traces"
        numbers = run.level is not Level.EVALUATION  # an evaluation's cost is the judge's
        blocks = [
            bk.section(
                f"The {len(view.items)} {which} {kind} of "
                f"*{self.r.title_link(run.run_id, cluster)}*"
            )
        ]
        for index, detail in enumerate(view.items):
            target = detail.target
            if target is None and run.level is not Level.EVALUATION:
                item = detail.item
                target = TraceTarget(item.trace_id, item.timestamp, item.generation_id)
            if target is None:  # never link an evaluation uuid as if it were a trace
                label = clean_inline(detail.summary_title or "Unknown item", 90)
                text = self.r.text(
                    "trace_line.md.j2", detail=detail, trace_link=label, numbers=numbers
                )
                blocks.append(bk.section(text))
                continue
            url = self.r.urls.trace(target.trace_id, target.at, target.event)
            label = clean_inline(detail.summary_title or target.trace_id, 90)
            text = self.r.text(
                "trace_line.md.j2", detail=detail, trace_link=link(url, label), numbers=numbers
            )
            ref = TraceRef(trace_id=target.trace_id, at=target.at, event=target.event)
            blocks.append(
                bk.section(
                    text,
                    accessory=bk.button(
                        "Details", ActionId.TRACE_DETAILS, value=ref, suffix=f".{index}"
                    ),
                )
            )
        if not view.items:
            blocks.append(bk.context("This cluster lists no items."))
        blocks.append(bk.context(self.r.run_context(run)))
        return bk.finish(blocks, f"Traces of cluster: {clean_inline(cluster.title, 100)}")

    def trace(self, view: TraceView) -> Message:
        url = self.r.urls.trace(view.trace_id, view.created_at, view.event)
        label = clean_inline(view.name or view.trace_id, 90)
        blocks = [
            bk.section(self.r.text("trace_detail.md.j2", trace=view, trace_link=link(url, label)))
        ]
        lines = [
            self.r.text(
                "trace_event.md.j2",
                event=step,
                icon=STEP_ICONS.get(step.kind, ":small_blue_diamond:"),
            )
            for step in view.steps
        ]
        if lines:
            blocks.append(bk.section("\n".join(lines)))
        if view.hidden_steps:
            blocks.append(bk.context(f"…and {view.hidden_steps} more steps in PostHog"))
        if self.show_content:
            for label_text, content in (
                ("First input", view.first_input),
                ("Final output", view.final_output),
            ):
                if content:
                    quoted = escape_mrkdwn(truncate(content, CONTENT_PREVIEW_MAX)).replace(
                        "```", "'''"
                    )
                    blocks.append(bk.section(f"*{label_text}*\n```{quoted}```"))
        else:
            blocks.append(
                bk.context("Prompt and output text are hidden here (DRILLDOWN_CONTENT=none).")
            )
        blocks.append(bk.actions(bk.button("Open in PostHog", ActionId.OPEN, url=url)))
        return bk.finish(blocks, f"Trace {view.trace_id}")
