"""Pure comparison of two runs of one series: match clusters one-to-one. No I/O.

Why not match by id, title or centroid: PostHog re-clusters a fresh random sample every run, so
cluster ids are reshuffled, titles are rewritten by an LLM, and centroids live in a per-run
UMAP space (reference/posthog.md 1.9). What survives between runs is the items themselves.

Scoring a pair (previous cluster P, current cluster C), both non-noise:

1. **Overlap on shared items.** Consecutive runs share only ~30-40 % of their item ids even
   when nothing changed, so plain Jaccard over all of P's and C's items is capped near that
   figure and cannot tell "same topic" from "half the topic". Instead we look only at the
   items that *could* overlap: the ids that are in a real (non-noise) cluster in both runs.
   With ``P_s`` = P's ids among them and ``C_s`` = C's, the overlap is the Dice coefficient
   ``2|P_s ∩ C_s| / (|P_s| + |C_s|)``, the harmonic mean of "what fraction of P's shared items
   went to C" and "what fraction of C's shared items came from P". An unchanged topic scores
   near 1 whatever the sampling overlap. Dice (not the overlap coefficient ``∩ / min``) so
   that when two clusters merge, the larger predecessor scores higher than the smaller one
   instead of both tying at 1. Items that were noise in either run are left out: HDBSCAN moves
   border items in and out of noise from run to run, and they say nothing about identity.
2. **Text similarity** of title (weight 0.7) and description (0.3): rapidfuzz
   ``token_set_ratio`` on normalised text, 0..1. Fallback labels (``"Cluster 3"``) score 0.
   LLM paraphrases of one topic typically score 0.5-0.75 and unrelated titles 0.25-0.4, so this
   is a weak signal, used where the overlap has little evidence.
3. **Blend by evidence.** The evidence ``n`` for a pair is the number of shared items that
   bear on it, ``|P_s ∪ C_s|``, or, if larger, the number it *should* have if P and C were
   the same topic: each cluster's clustered item count times its run's fraction of shared
   items. Then ``w = n / (n + EVIDENCE_HALF)`` with ``EVIDENCE_HALF = 5`` and
   ``confidence = w·overlap + (1-w)·text``. With 5 items of evidence overlap and text weigh
   the same; with 25 (a 5 % cluster at 35 % sampling overlap) overlap has 83 % of the say.
   The expected count matters for a vanished topic and a new one: neither has shared items,
   but while the runs overlap they would have had ~a third of their items shared if they were
   one topic, so their lack of overlap is evidence against the match, and two unrelated
   titles that happen to look alike ("Image captioning" / "Invoice extraction" score 0.53)
   are not paired. Only when the runs share (almost) nothing, because they are a week or more
   apart or carry no item lists, does the text alone decide.

Assignment is greedy by confidence (ties: more shared items, then lower ids), one-to-one,
keeping only pairs with ``confidence >= MIN_MATCH_CONFIDENCE = 0.5``. With overlap evidence
that means most of both clusters' shared items agree; on text alone it means a clearly
similar title. Greedy equals the optimal assignment whenever each cluster has one dominant
partner, which is the normal case; it is also stable and easy to explain.

Splits and merges: when P splits into C1 and C2, P matches the larger part (higher Dice); the
smaller part C2 is not "new" if most of its shared items came from P: it is reported as a split
(`RunDiff.splits`). Likewise when P1 and P2 merge into C, C matches the larger predecessor and
P2, most of whose shared items went to C, is a merge (`RunDiff.merges`), not "vanished". "Most"
is `PARTNER_SHARE` (60 %) of at least `PARTNER_MIN_ITEMS` shared items.

A match states what backs it (`ClusterMatch.basis`): shared items when at least
`BASIS_MIN_ITEMS` of them agree (overlap >= 0.5), else a clear title match (similarity >= 0.8),
else it is weak and alerts treat the cluster as having no reliable predecessor.

The noise cluster (-1) is never matched: it is reported separately as a `NoiseDelta`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import Field
from rapidfuzz import fuzz, utils

from bot.domain.models import Cluster, ClusteringRun, ClusterItem, Frozen

MIN_MATCH_CONFIDENCE = 0.5
EVIDENCE_HALF = 5.0
TITLE_WEIGHT = 0.7
PARTNER_SHARE = 0.6
PARTNER_MIN_ITEMS = 5
BASIS_MIN_ITEMS = 3
BASIS_MIN_OVERLAP = 0.5
BASIS_MIN_TITLE = 0.8

_FALLBACK_TITLE = re.compile(r"\s*cluster\s+-?\d+\s*", re.IGNORECASE)


class ClusterMatch(Frozen):
    """A previous-run cluster judged to be the same topic as a current-run cluster.

    `shared_items` counts item ids in both clusters; `overlap` is the Dice coefficient on the
    items shared by the two runs; `title_similarity` is the title + description similarity;
    `confidence` blends the two (module docstring). All three scores are in 0..1.
    """

    previous: Cluster
    current: Cluster
    confidence: float = Field(ge=0.0, le=1.0)
    shared_items: int = Field(ge=0)
    overlap: float = Field(ge=0.0, le=1.0)
    title_similarity: float = Field(ge=0.0, le=1.0)

    @property
    def basis(self) -> str | None:
        """What backs the match: "shared items", "title", or `None` when neither is clear."""
        if self.shared_items >= BASIS_MIN_ITEMS and self.overlap >= BASIS_MIN_OVERLAP:
            return "shared items"
        if self.title_similarity >= BASIS_MIN_TITLE:
            return "title"
        return None

    @property
    def lineage(self) -> tuple[ClusterItem, ...]:
        """The previous cluster's items that the current one did not sample again, where the
        match has a basis (none otherwise): what the tests add to the current cluster's own
        older items (`slices.slice_run`, `early.baselines`)."""
        if self.basis is None:
            return ()
        mine = self.current.item_ids
        return tuple(i for i in self.previous.items if i.item_id not in mine)


class Split(Frozen):
    """`previous` went on as `kept` (its match) and also gave most of the items of `part`."""

    previous: Cluster
    kept: Cluster
    part: Cluster


class Merge(Frozen):
    """`absorbed` (unmatched) gave most of its items to `into`, which matched `kept`."""

    absorbed: Cluster
    kept: Cluster
    into: Cluster


class NoiseDelta(Frozen):
    """The noise cluster in each run. A share is `None` when that run has no noise cluster
    (k-means runs have none), which is not the same as a share of 0."""

    previous: Cluster | None = None
    current: Cluster | None = None
    previous_share: float | None = None
    current_share: float | None = None

    @property
    def change(self) -> float | None:
        """Share change in fractions (0.1 = 10 percentage points); `None` if either is absent."""
        if self.previous_share is None or self.current_share is None:
            return None
        return self.current_share - self.previous_share


class RunDiff(Frozen):
    """How `current` relates to `previous`: matched, new and vanished clusters, and noise.

    `matches` is ordered by the current cluster's size (largest first); `new` and `vanished`
    by size too. None of them contains a noise cluster.

    `shared_items` counts the item ids that are in a real cluster in both runs, the evidence
    the matching stands on; `item_overlap` is that count over the smaller run's clustered
    items. Runs a week or more apart (jobs skip days) share almost nothing, so their clusters
    can only be matched by title, and "new" versus "vanished" cannot be told from "renamed".
    """

    previous: ClusteringRun
    current: ClusteringRun
    matches: tuple[ClusterMatch, ...] = ()
    new: tuple[Cluster, ...] = ()
    vanished: tuple[Cluster, ...] = ()
    splits: tuple[Split, ...] = ()
    merges: tuple[Merge, ...] = ()
    noise: NoiseDelta | None = None
    shared_items: int = Field(default=0, ge=0)
    item_overlap: float = Field(default=0.0, ge=0.0, le=1.0)

    def match_for_previous(self, cluster_id: int) -> ClusterMatch | None:
        return next((m for m in self.matches if m.previous.cluster_id == cluster_id), None)

    def match_for_current(self, cluster_id: int) -> ClusterMatch | None:
        return next((m for m in self.matches if m.current.cluster_id == cluster_id), None)


def diff_runs(previous: ClusteringRun, current: ClusteringRun) -> RunDiff:
    """Match the clusters of two runs of the same series one-to-one (module docstring)."""
    prev_real = [c for c in previous.clusters if not c.is_noise]
    cur_real = [c for c in current.clusters if not c.is_noise]
    prev_ids = [c.item_ids for c in prev_real]
    cur_ids = [c.item_ids for c in cur_real]
    prev_all = frozenset[str]().union(*prev_ids)
    cur_all = frozenset[str]().union(*cur_ids)
    shared = prev_all & cur_all
    smaller = min(len(prev_all), len(cur_all))
    prev_rate = len(shared) / len(prev_all) if prev_all else 0.0
    cur_rate = len(shared) / len(cur_all) if cur_all else 0.0
    prev_shared = [ids & shared for ids in prev_ids]
    cur_shared = [ids & shared for ids in cur_ids]

    candidates: list[tuple[float, int, int, int, ClusterMatch]] = []
    for i, p in enumerate(prev_real):
        for j, c in enumerate(cur_real):
            expected = max(len(prev_ids[i]) * prev_rate, len(cur_ids[j]) * cur_rate)
            confidence, overlap, text = _score(p, c, prev_shared[i], cur_shared[j], expected)
            if confidence < MIN_MATCH_CONFIDENCE:
                continue
            match = ClusterMatch(
                previous=p,
                current=c,
                confidence=confidence,
                shared_items=len(prev_ids[i] & cur_ids[j]),
                overlap=overlap,
                title_similarity=text,
            )
            candidates.append((-confidence, -match.shared_items, i, j, match))
    candidates.sort(key=lambda t: t[:4])

    matches: list[ClusterMatch] = []
    used_prev: set[int] = set()
    used_cur: set[int] = set()
    for _, _, i, j, match in candidates:
        if i in used_prev or j in used_cur:
            continue
        used_prev.add(i)
        used_cur.add(j)
        matches.append(match)

    matches.sort(key=lambda m: (-m.current.size, m.current.cluster_id))
    new = [c for j, c in enumerate(cur_real) if j not in used_cur]
    vanished = [p for i, p in enumerate(prev_real) if i not in used_prev]
    splits = _splits(new, matches, shared)
    merges = _merges(vanished, matches, shared)
    split_parts = {s.part.cluster_id for s in splits}
    absorbed = {m.absorbed.cluster_id for m in merges}
    return RunDiff(
        previous=previous,
        current=current,
        matches=tuple(matches),
        new=_by_size(c for c in new if c.cluster_id not in split_parts),
        vanished=_by_size(p for p in vanished if p.cluster_id not in absorbed),
        splits=tuple(splits),
        merges=tuple(merges),
        noise=_noise_delta(previous, current),
        shared_items=len(shared),
        item_overlap=len(shared) / smaller if smaller else 0.0,
    )


RESET_SIZE_RATIO = 1.5


def baseline_reset(diff: RunDiff) -> str | None:
    """Why `diff.current` cannot be held to its predecessor cluster by cluster, if it cannot:
    the job's clustering settings changed, or the run is a very different size (then cluster
    sizes and HDBSCAN's minimum cluster size move with it). `None` when the runs compare."""
    before, after = diff.previous.params, diff.current.params
    if before is not None and after is not None and before != after:
        return "the job's clustering settings changed"
    small, large = sorted((diff.previous.total_items, diff.current.total_items))
    if small > 0 and large >= RESET_SIZE_RATIO * small:
        return (
            f"the run analysed {diff.current.total_items:,} items, "
            f"the previous one {diff.previous.total_items:,}"
        )
    return None


def text_similarity(a: Cluster, b: Cluster) -> float:
    """Title (0.7) + description (0.3) similarity in 0..1; title only if a description is empty.

    Fallback labels like "Cluster 3" carry no meaning, so they score 0.
    """
    if _FALLBACK_TITLE.fullmatch(a.title) or _FALLBACK_TITLE.fullmatch(b.title):
        return 0.0
    title = _ratio(a.title, b.title)
    if not a.description.strip() or not b.description.strip():
        return title
    return TITLE_WEIGHT * title + (1.0 - TITLE_WEIGHT) * _ratio(a.description, b.description)


# Titles are 3-10 words and descriptions 2-5 bullets (reference/posthog.md 1.8): past this
# many characters more text adds cost (it is scored for every pair) and no signal.
TEXT_COMPARED_MAX = 300


def _ratio(a: str, b: str) -> float:
    a, b = a[:TEXT_COMPARED_MAX], b[:TEXT_COMPARED_MAX]
    score = fuzz.token_set_ratio(a, b, processor=utils.default_process)
    return min(1.0, max(0.0, score / 100.0))


def _score(
    previous: Cluster,
    current: Cluster,
    prev_shared: frozenset[str],
    cur_shared: frozenset[str],
    expected_evidence: float,
) -> tuple[float, float, float]:
    """`(confidence, overlap, text similarity)` of a pair (module docstring)."""
    both = len(prev_shared & cur_shared)
    relevant = len(prev_shared) + len(cur_shared) - both
    overlap = 2.0 * both / (len(prev_shared) + len(cur_shared)) if relevant else 0.0
    evidence = max(float(relevant), expected_evidence)
    weight = evidence / (evidence + EVIDENCE_HALF)
    text = text_similarity(previous, current)
    confidence = weight * overlap + (1.0 - weight) * text
    return min(1.0, max(0.0, confidence)), overlap, text


def _partner(cluster: Cluster, others: Iterable[Cluster], shared: frozenset[str]) -> Cluster | None:
    """The one cluster of `others` holding most (`PARTNER_SHARE`) of `cluster`'s shared items."""
    mine = cluster.item_ids & shared
    if len(mine) < PARTNER_MIN_ITEMS:
        return None
    best = max(others, key=lambda other: len(mine & other.item_ids), default=None)
    if best is None or len(mine & best.item_ids) < PARTNER_SHARE * len(mine):
        return None
    return best


def _splits(new: list[Cluster], matches: list[ClusterMatch], shared: frozenset[str]) -> list[Split]:
    by_previous = {m.previous.cluster_id: m for m in matches}
    splits = []
    for part in new:
        source = _partner(part, (m.previous for m in matches), shared)
        if source is not None:
            kept = by_previous[source.cluster_id].current
            splits.append(Split(previous=source, kept=kept, part=part))
    return splits


def _merges(
    vanished: list[Cluster], matches: list[ClusterMatch], shared: frozenset[str]
) -> list[Merge]:
    by_current = {m.current.cluster_id: m for m in matches}
    merges = []
    for absorbed in vanished:
        into = _partner(absorbed, (m.current for m in matches), shared)
        if into is not None:
            kept = by_current[into.cluster_id].previous
            merges.append(Merge(absorbed=absorbed, kept=kept, into=into))
    return merges


def _by_size(clusters: Iterable[Cluster]) -> tuple[Cluster, ...]:
    return tuple(sorted(clusters, key=lambda c: (-c.size, c.cluster_id)))


def _noise_delta(previous: ClusteringRun, current: ClusteringRun) -> NoiseDelta | None:
    before = next((c for c in previous.clusters if c.is_noise), None)
    after = next((c for c in current.clusters if c.is_noise), None)
    if before is None and after is None:
        return None
    return NoiseDelta(
        previous=before,
        current=after,
        previous_share=previous.share(before) if before is not None else None,
        current_share=current.share(after) if after is not None else None,
    )
