"""What every channel's detection of one run shares. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.compare import RunDiff, baseline_reset
from bot.domain.fresh import Detection, detect
from bot.domain.models import ClusterItem
from bot.domain.rules import detect_run_to_run
from bot.domain.slices import RunSlices, slice_run
from bot.domain.thresholds import Thresholds


@dataclass(frozen=True)
class RunView:
    """What every channel's detection of one run shares: the diff, its fresh/baseline split,
    and whether the run can be held to its predecessor at all (`reset`)."""

    diff: RunDiff
    slices: RunSlices
    reset: str | None

    @classmethod
    def of(cls, diff: RunDiff) -> RunView:
        return cls(diff, slice_run(diff), baseline_reset(diff))

    def with_assigned(
        self, assigned: dict[int, tuple[ClusterItem, ...]], agreement: float | None
    ) -> RunView:
        """The same view with assigned items in its clusters' fresh slices (`slices.py`)."""
        return RunView(self.diff, self.slices.with_assigned(assigned, agreement), self.reset)

    def detect(self, thresholds: Thresholds) -> Detection:
        """Fresh-slice detection where the run has a fresh slice, else run-to-run rules. After
        a baseline reset, nothing that rests on matching clusters one by one is reported: no
        vanished cluster (`KindSpec.gone`), and no unmatched new one between whole runs
        (`KindSpec.no_past`)."""
        if self.slices.usable:
            detection = detect(self.slices, thresholds)
        else:
            detection = detect_run_to_run(self.diff, thresholds)
        if self.reset is None:
            return detection
        kept = tuple(
            a
            for a in detection.alerts
            if not a.kind.spec.gone and (self.slices.usable or not a.kind.spec.no_past)
        )
        return Detection(kept, detection.observed, detection.tests, detection.failures)
