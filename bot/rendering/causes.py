"""The likely causes of a change, as a thread section and a short parent-line clause.

Factor values (models, errors, user ids, trace names) come from end users' events: they are
cleaned to one line and escaped like titles, and each links to a trace that shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.causes import Dimension, Factor
from bot.domain.kinds import AlertKind
from bot.rendering.answers import Renderer
from bot.slack.escape import SafeMrkdwn, clean_inline, link

VALUE_MAX = 60
RATES = (Dimension.INPUT_TOKENS, Dimension.OUTPUT_TOKENS, Dimension.GENERATIONS)


@dataclass(frozen=True, slots=True)
class FactorView:
    dimension: str
    value: str  # one line, raw: the template escapes it
    value_link: SafeMrkdwn
    before: float
    after: float
    explains: float
    ratio: float
    count: int
    total: int


class CauseRenderer:
    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer

    def view(self, factor: Factor) -> FactorView:
        value = clean_inline(factor.value, VALUE_MAX) or "(none)"
        label = "a trace" if factor.dimension in RATES else value
        value_link = (
            link(self.r.urls.trace(factor.trace_id), label) if factor.trace_id else link("", label)
        )
        ratio = factor.after / factor.before if factor.before else 0.0
        return FactorView(
            str(factor.dimension),
            value,
            value_link,
            factor.before,
            factor.after,
            factor.explains,
            ratio,
            factor.count,
            factor.total,
        )

    def detail(
        self, kind: AlertKind | None, factors: Sequence[Factor], run_id: str, cluster_id: int
    ) -> SafeMrkdwn:
        """The thread section: one line per factor, then the cluster in PostHog. `kind` is the
        alert's (`None` for "Why?" on a cluster): its `KindSpec.cause` shapes the wording."""
        if not factors:
            return SafeMrkdwn("")
        cluster_link = link(self.r.urls.cluster(run_id, cluster_id), "Open the cluster in PostHog")
        return self.r.text(
            "alert_causes.md.j2",
            cause=kind.spec.cause if kind is not None else None,
            factors=[self.view(f) for f in factors],
            cluster_link=cluster_link,
        )

    def clause(self, factors: Sequence[Factor]) -> SafeMrkdwn:
        """A few words for the parent line when one factor dominates; "" otherwise. Rendered
        (escaped) already, so the line's template does not escape it twice."""
        if not factors or not factors[0].dominant:
            return SafeMrkdwn("")
        return SafeMrkdwn(self.r.text("cause_clause.md.j2", f=self.view(factors[0])))
