"""Thread replies of a drilldown: a cluster's representative traces, then one trace.

Trace content (first input, final output) and `$ai_error` texts are end users' prompts and
model output: they appear only when DRILLDOWN_CONTENT=preview, and then only in messages that
go to one person (`private=True`, ephemeral), never in a channel or thread everyone reads.
"""

from __future__ import annotations

from bot.domain.models import Level
from bot.rendering import blocks as bk
from bot.rendering.answers import Renderer
from bot.rendering.message import Message
from bot.slack.escape import SafeMrkdwn, clean_inline, link, md, md_join, title_text, truncate
from bot.slack.ids import ActionId, TraceRef
from bot.views import ClusterView, TraceStep, TraceTarget, TraceView

CONTENT_PREVIEW_MAX = 600
STEP_ICONS = {"$ai_generation": ":speech_balloon:", "$ai_span": ":gear:", "$ai_embedding": ":abc:"}


class DrilldownRenderer:
    def __init__(self, renderer: Renderer, *, show_content: bool) -> None:
        self.r = renderer
        self.show_content = show_content

    def traces(self, view: ClusterView, *, private: bool = False) -> Message:
        run, cluster = view.run, view.cluster
        which = "most anomalous" if cluster.is_noise else "most representative"
        kind = "evaluations" if run.level is Level.EVALUATION else "traces"
        numbers = run.level is not Level.EVALUATION  # an evaluation's cost is the judge's
        show_errors = private and self.show_content
        blocks = [
            bk.section(
                md(
                    "The {} {} {} of *{}*",
                    len(view.items),
                    which,
                    kind,
                    self.r.title_link(run.run_id, cluster),
                )
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
                    "trace_line.md.j2",
                    detail=detail,
                    trace_link=label,
                    numbers=numbers,
                    show_errors=show_errors,
                )
                blocks.append(bk.section(text))
                continue
            url = self.r.urls.trace(target.trace_id, target.at, target.event)
            label = clean_inline(detail.summary_title or target.trace_id, 90)
            text = self.r.text(
                "trace_line.md.j2",
                detail=detail,
                trace_link=link(url, label),
                numbers=numbers,
                show_errors=show_errors,
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
        return bk.finish(blocks, f"Traces of cluster: {title_text(cluster.title, 100)}")

    def trace(self, view: TraceView, *, private: bool = False) -> Message:
        """One trace's steps; with `private` (an ephemeral reply) and content on, its content."""
        url = self.r.urls.trace(view.trace_id, view.created_at, view.event)
        label = clean_inline(view.name or view.trace_id, 90)
        blocks = [
            bk.section(self.r.text("trace_detail.md.j2", trace=view, trace_link=link(url, label)))
        ]
        show = private and self.show_content
        lines = [self._step(step, show_errors=show) for step in view.steps]
        if lines:
            blocks.append(bk.section(md_join("\n", lines)))
        if view.hidden_steps:
            blocks.append(bk.context(f"…and {view.hidden_steps} more steps in PostHog"))
        if show:
            blocks += self._content_blocks(view)
        elif self.show_content:
            blocks.append(bk.context("Prompt, output and error texts are sent only to you."))
        else:
            blocks.append(
                bk.context(
                    "Prompt, output and error texts are hidden here (DRILLDOWN_CONTENT=none)."
                )
            )
        blocks.append(bk.actions(bk.button("Open in PostHog", ActionId.OPEN, url=url)))
        return bk.finish(blocks, f"Trace {view.trace_id}")

    def trace_content(self, view: TraceView) -> Message | None:
        """The content of a trace for the one person who asked (ephemeral); None when content
        is off or the trace has none."""
        if not self.show_content:
            return None
        errors = [
            self._step(step, show_errors=True) for step in view.steps if step.error is not None
        ]
        blocks = self._content_blocks(view)
        if errors:
            blocks.append(bk.section(md_join("\n", [SafeMrkdwn("*Errors*"), *errors])))
        if not blocks:
            return None
        blocks.insert(0, bk.context(f"Only you can see this content of trace `{view.trace_id}`."))
        return bk.finish(blocks, f"Content of trace {view.trace_id}")

    def _step(self, step: TraceStep, *, show_errors: bool) -> SafeMrkdwn:
        icon = STEP_ICONS.get(step.kind, ":small_blue_diamond:")
        return self.r.text("trace_event.md.j2", event=step, icon=icon, show_errors=show_errors)

    def _content_blocks(self, view: TraceView) -> list[bk.Block]:
        blocks: list[bk.Block] = []
        for label_text, content in (
            ("First input", view.first_input),
            ("Final output", view.final_output),
        ):
            if content:
                quoted = truncate(content, CONTENT_PREVIEW_MAX, mrkdwn=False).replace("```", "'''")
                blocks.append(bk.section(md("*{}*\n```{}```", label_text, quoted)))
        return blocks
