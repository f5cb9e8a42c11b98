"""One table for every alert kind: its family, minimum effect, words, chart label, causes and
display order. Pure.

Everything else looks a kind up here (`KINDS`, `FAMILIES`) rather than keeping a table or an
if-chain of its own. The detectors decide *whether* a kind fires (`fresh_values.py`,
`fresh_shares.py`, `rules.py`); the thresholds they read are in `thresholds.py`. Adding a kind
is a member of `AlertKind`, a `KindSpec` here (and a `FamilySpec` when it follows a new
family), its threshold(s) and its test (README, "Adding an alert kind").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.domain import effects
from bot.domain.effects import Effect


class AlertKind(StrEnum):
    """What changed. The values are stored (alert keys, episodes): never rename one. The
    display order is that of `KINDS`, not of this enum."""

    COST_SPIKE = "cost_spike"
    ERROR_HEAVY = "error_heavy"
    LATENCY_SPIKE = "latency_spike"
    PASS_RATE_DROP = "pass_rate_drop"
    FAIL_SHARE_GROWTH = "fail_share_growth"
    SIZE_SHIFT = "size_shift"
    NEW_CLUSTER = "new_cluster"
    TRAFFIC_STOPPED = "traffic_stopped"
    VANISHED_CLUSTER = "vanished_cluster"
    OUTLIER_GROWTH = "outlier_growth"
    TOKEN_GROWTH = "token_growth"

    @property
    def spec(self) -> KindSpec:
        return KINDS[self]

    @property
    def family(self) -> Family | None:
        """What a lasting change is about: one alert lifecycle per cluster and family, so a new
        cluster that keeps growing, or traffic that stops and then leaves, is one episode."""
        return KINDS[self].family


class Family(StrEnum):
    """What one alert lifecycle follows (`lifecycle.py`). The values are stored (episodes)."""

    COST = "cost"
    LATENCY = "latency"
    ERRORS = "errors"
    SHARE = "share"
    OUTLIERS = "outliers"
    PASS_RATE = "pass_rate"
    FAIL_SHARE = "fail_share"
    TOKENS = "tokens"


class Unit(StrEnum):
    """What a family's values are in; rendering formats each (`bot/rendering/alert_words.py`)."""

    USD = "usd"  # per item
    SECONDS = "seconds"
    FRACTION = "fraction"  # rates and shares, 0.2 = 20 %
    COUNT = "count"  # a number of things per item


class Cause(StrEnum):
    """Which likely causes are looked for behind a kind (`causes.py`)."""

    COST = "cost"  # model mix and per-model rates of cost per item
    LATENCY = "latency"  # the same for latency
    ERRORS = "errors"  # the new error signature and where it comes from
    TRAFFIC = "traffic"  # a user, session, trace name or model with an outsized share


@dataclass(frozen=True, slots=True)
class FamilySpec:
    """`noun`: what moved, in words ("cost per item back to normal"); `unit`: what its values
    are in; `effect`: its minimum effect (`effects.py`); `relative`: changes are sized as
    ratios (after / before) rather than differences; `composition`: a share of the run's
    traffic, which the share tests judge against the same hours of older days."""

    noun: str
    unit: Unit
    effect: Effect
    relative: bool = False
    composition: bool = False


@dataclass(frozen=True, slots=True)
class Words:
    """What changed, in one line of plain text: `runs` when two whole runs were compared,
    `fresh` for the fresh slice (default `runs`), `hours` for a fresh alert that rests on
    some hours only (default `fresh`).

    Rendering fills the placeholders (`bot/rendering/alert_words.py`): `{before}` and
    `{after}` in the family's unit, `{change}` ("+45%", "×3.4"), `{points}` ("+5.2 pts"),
    `{hours}` (" since 18:15 UTC", or "" over the whole day), `{moved}` (", price per token
    rose", or ""), `{relative}` (how a share moved against the rest of the traffic)."""

    runs: str
    fresh: str = ""
    hours: str = ""

    def pick(self, *, fresh: bool, hours: bool) -> str:
        fresh_words = self.fresh or self.runs
        if not fresh:
            return self.runs
        return (self.hours or fresh_words) if hours else fresh_words


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Everything about one alert kind but whether it fires.

    `family`: the lifecycle it belongs to (`None`: none, it fires once); `label`: its name on
    its charts ("Cost spike: <title>"); `words`: what changed; `cause`: the likely causes
    looked for (`None`: none); `quiet`: its lifecycle follows it without thread notes;
    `no_past`: it is about a cluster without a predecessor (its causes are looked for against
    the whole run's older traffic, and no missing match is remarked on); `gone`: about a
    cluster that only the previous run has (charted there; dropped after a baseline reset);
    `counted`: what `items_before`/`items_after` count, when not the items with data."""

    family: Family | None
    label: str
    words: Words
    cause: Cause | None = None
    quiet: bool = False
    no_past: bool = False
    gone: bool = False
    counted: str = ""

    @property
    def unit(self) -> Unit:
        """The unit of `before` and `after`: the family's (a kind without one speaks of
        shares)."""
        return FAMILIES[self.family].unit if self.family is not None else Unit.FRACTION


FAMILIES: Mapping[Family, FamilySpec] = {
    Family.COST: FamilySpec(
        "cost per item",
        Unit.USD,
        effects.rise_by(lambda t: t.cost_spike_pct, lambda t: t.cost_spike_min_usd),
        relative=True,
    ),
    Family.LATENCY: FamilySpec(
        "latency",
        Unit.SECONDS,
        effects.rise_by(lambda t: t.latency_spike_pct, lambda t: t.latency_spike_min_seconds),
        relative=True,
    ),
    Family.ERRORS: FamilySpec("error rate", Unit.FRACTION, effects.errors),
    Family.SHARE: FamilySpec("share of traffic", Unit.FRACTION, effects.share, composition=True),
    Family.OUTLIERS: FamilySpec(
        "outliers",
        Unit.FRACTION,
        effects.points(lambda t: t.outlier_growth_points),
        composition=True,
    ),
    Family.PASS_RATE: FamilySpec(
        "pass rate", Unit.FRACTION, effects.points(lambda t: t.pass_rate_drop_points, fall=True)
    ),
    Family.FAIL_SHARE: FamilySpec(
        "share of failing evaluations",
        Unit.FRACTION,
        effects.points(lambda t: t.fail_share_growth_points),
    ),
    Family.TOKENS: FamilySpec(
        "tokens per item",
        Unit.COUNT,
        effects.rise_by(lambda t: t.token_growth_pct, lambda t: t.token_growth_min_tokens),
        relative=True,
    ),
}


KINDS: Mapping[AlertKind, KindSpec] = {
    # In display order: within one severity, alerts are listed in this order.
    AlertKind.COST_SPIKE: KindSpec(
        Family.COST,
        "Cost spike",
        Words(
            runs="Cost per item {change} ({before} → {after}{moved})",
            fresh="Cost per item {change}{hours} (typical {before} → {after}{moved})",
        ),
        cause=Cause.COST,
    ),
    AlertKind.ERROR_HEAVY: KindSpec(
        Family.ERRORS,
        "Error-heavy cluster",
        Words("Error rate {before} → {after}{hours}"),
        cause=Cause.ERRORS,
    ),
    AlertKind.LATENCY_SPIKE: KindSpec(
        Family.LATENCY,
        "Latency spike",
        Words(
            runs="Latency {change} ({before} → {after})",
            fresh="Latency {change}{hours} (typical {before} → {after}{moved})",
        ),
        cause=Cause.LATENCY,
    ),
    AlertKind.TOKEN_GROWTH: KindSpec(
        Family.TOKENS,
        "Token growth",
        Words(
            runs="Tokens per item {change} ({before} → {after})",
            fresh="Tokens per item {change}{hours} (median {before} → {after})",
        ),
    ),
    AlertKind.PASS_RATE_DROP: KindSpec(
        Family.PASS_RATE, "Pass rate drop", Words("Evaluation pass rate {before} → {after}")
    ),
    AlertKind.FAIL_SHARE_GROWTH: KindSpec(
        Family.FAIL_SHARE,
        "Failing evaluations grew",
        Words("Share of failing evaluations {before} → {after} ({points})"),
        counted="failing evaluations in the run",
    ),
    AlertKind.SIZE_SHIFT: KindSpec(
        Family.SHARE,
        "Size shift",
        Words(
            runs="Share {before} → {after} ({points})",
            fresh="{relative}{hours} ({before} of the older items, {after} of the new ones)",
        ),
        cause=Cause.TRAFFIC,
    ),
    AlertKind.NEW_CLUSTER: KindSpec(
        Family.SHARE,
        "New cluster",
        Words(
            runs="New cluster with {after} of the run",
            fresh="New traffic: {after} of the items since the previous run",
            hours="New traffic: {after} of the items{hours}",
        ),
        cause=Cause.TRAFFIC,
        quiet=True,
        no_past=True,
    ),
    AlertKind.TRAFFIC_STOPPED: KindSpec(
        Family.SHARE,
        "Traffic stopped",
        Words(
            runs="Traffic stopped: no items since the previous run (had {before})",
            hours="Traffic stopped{hours} (had {before} of the older items)",
        ),
        quiet=True,
    ),
    AlertKind.VANISHED_CLUSTER: KindSpec(
        None, "Vanished cluster", Words("Cluster vanished (had {before} of the run)"), gone=True
    ),
    AlertKind.OUTLIER_GROWTH: KindSpec(
        Family.OUTLIERS,
        "Outlier growth",
        Words("Outliers grew {before} → {after}"),
        cause=Cause.TRAFFIC,
    ),
}

ORDER: Mapping[AlertKind, int] = {kind: index for index, kind in enumerate(KINDS)}
"""Each kind's place in the display order."""
