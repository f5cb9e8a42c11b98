"""Pictures in threads: an alert's trend chart and cluster map, and a run's map on request.

Charts are a courtesy, not part of the exactly-once alert path: they are rendered from stored
runs only (no PostHog query), uploaded after the alert's text is out, and a chart that cannot
be drawn or uploaded never raises to the caller. It is logged as `charts.failed`, and the
thread gets one plain line saying so, at most once per thread (remembered in memory: after a
restart a thread may hear it once more).

The service draws; the upload and the notice go through a `ThreadWriter` (bot/slack/), which
also says why an upload failed in words a channel member can act on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass

from bot.charts.points import TrendPoint
from bot.domain.compare import diff_runs
from bot.domain.kinds import AlertKind
from bot.domain.models import NOISE_CLUSTER_ID, Cluster, ClusteringRun
from bot.rendering.charts import NO_MAP as NO_MAP  # re-exported for callers
from bot.rendering.charts import chart_caption, chart_notice, no_map_notice
from bot.slack.errors import SlackWriteError
from bot.slack.escape import SafeMrkdwn
from bot.slack.notifier import ThreadWriter
from bot.slack.writer import Upload
from bot.store.keys import AlertKey, KeyFormatError
from bot.store.ports import StoredRuns

logger = logging.getLogger(__name__)

LINEAGE_RUNS = 14
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def lineage(
    store: StoredRuns, run: ClusteringRun, cluster_id: int, n: int = LINEAGE_RUNS
) -> list[TrendPoint]:
    """The cluster's points over up to `n` runs of its series, oldest first, ending at `run`.

    Walks back through the stored previous runs (no PostHog query), following the cluster with
    `diff_runs` at each step; stops at the first run where it has no match, or where no earlier
    run is stored. The outlier cluster (-1) is never matched but is always "the outliers", so
    its lineage is the outliers of each earlier run. Missing metrics become `None`.
    """
    points: list[TrendPoint] = []
    current, cid = run, cluster_id
    while len(points) < n:
        cluster = current.cluster(cid)
        if cluster is None:
            break
        points.append(_point(current, cluster))
        previous = store.previous_run(current)
        if previous is None:
            break
        if cid != NOISE_CLUSTER_ID:
            match = diff_runs(previous, current).match_for_current(cid)
            if match is None:
                break
            cid = match.previous.cluster_id
        current = previous
    points.reverse()
    return points


def _point(run: ClusteringRun, cluster: Cluster) -> TrendPoint:
    metrics = cluster.metrics
    return TrendPoint(
        run_id=run.run_id,
        window_end=run.window_end,
        share=run.share(cluster) if run.total_items or cluster.size else None,
        avg_cost=metrics.avg_cost if metrics is not None else None,
        error_rate=metrics.error_rate if metrics is not None else None,
    )


@dataclass(frozen=True)
class _Chart:
    """One image to upload: how to draw it (None: nothing to draw) and how to name it."""

    what: str  # "trend" or "map", for the log
    draw: Callable[[], bytes | None]
    filename: str
    title: str


class ChartService:
    """Renders charts from stored runs and has `writer` upload them into Slack threads."""

    def __init__(
        self,
        store: StoredRuns,
        writer: ThreadWriter,
        *,
        enabled: bool = True,
        lineage_runs: int = LINEAGE_RUNS,
    ) -> None:
        self.store = store
        self.writer = writer
        self.enabled = enabled
        self.lineage_runs = lineage_runs
        self._noticed: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        # Charts take ~0.05-0.1 s each to draw: they are drawn and uploaded on one worker
        # thread, after the alert text is out, so they never delay an alert. The thread starts
        # with the first queued chart, so a process that never queues one (doctor) has none.
        self._worker: ThreadPoolExecutor | None = None
        self._pending: list[Future[int]] = []

    # -- entry points --------------------------------------------------------------------

    def queue_for_alert(self, channel: str, thread_ts: str | None, key: str) -> None:
        """The outbox's hook: `post_for_alert` on the chart worker, off the delivery path."""
        if not self.enabled or thread_ts is None or _charted_alert(key) is None:
            return
        with self._lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts")
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._worker.submit(self.post_for_alert, channel, thread_ts, key))

    def wait(self, timeout: float | None = 120.0) -> None:
        """Block until queued charts are posted (a one-shot `check` waits before it exits)."""
        with self._lock:
            pending, self._pending = self._pending, []
        futures_wait(pending, timeout=timeout)

    def close(self) -> None:
        self.wait()
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True)

    def post_alert_charts(
        self,
        channel: str,
        thread_ts: str,
        run: ClusteringRun,
        cluster_id: int,
        *,
        comment: SafeMrkdwn | None = None,
        mark_run: bool = True,
    ) -> int:
        """The cluster's trend (when it has at least two runs) and the run's map with the
        cluster outlined, as one message in the thread. Returns the number of images posted.

        `comment` goes above the images; `mark_run` marks `run` on the trend as the alert's.
        """
        if not self.enabled:
            return 0
        # matplotlib loads with the first chart, not with the bot (bot/charts/__init__.py)
        from bot.charts.cluster_map import render_cluster_map
        from bot.charts.palette import shorten
        from bot.charts.trend import render_trend

        cluster = run.cluster(cluster_id)
        name = "Outliers" if cluster_id == NOISE_CLUSTER_ID else (cluster.title if cluster else "")
        label = shorten(name, 60) or f"cluster {cluster_id}"
        mark = run.run_id if mark_run else None

        def trend() -> bytes | None:
            points = lineage(self.store, run, cluster_id, self.lineage_runs)
            if len(points) < 2:  # one point is not a trend
                return None
            return render_trend(points, title=label, alert_run_id=mark)

        charts = [
            _Chart(
                "trend", trend, f"trend-{_slug(run.run_id)}-{cluster_id}.png", f"Trend: {label}"
            ),
            _Chart(
                "map",
                lambda: render_cluster_map(run, highlight=(cluster_id,)),
                f"cluster-map-{_slug(run.run_id)}-{cluster_id}.png",
                f"Cluster map: {label} outlined",
            ),
        ]
        return self._post(channel, thread_ts, charts, comment)

    def post_map(self, channel: str, thread_ts: str, run: ClusteringRun) -> int:
        """The run's cluster map in the thread; a line saying why when it has no coordinates."""
        if not self.enabled:
            return 0
        from bot.charts.cluster_map import render_cluster_map
        from bot.charts.palette import shorten

        title = f"Cluster map: {shorten(run.job_label, 60)}"
        chart = _Chart(
            "map", lambda: render_cluster_map(run), f"cluster-map-{_slug(run.run_id)}.png", title
        )
        posted = self._post(channel, thread_ts, [chart], None, say_when_empty=no_map_notice())
        return posted

    def post_for_alert(self, channel: str, thread_ts: str | None, key: str) -> int:
        """Charts for an alert detail that the outbox has just delivered into `thread_ts`.

        `key` is the outbox key, `<kind>:<run_id>:<cluster_id>`; other keys (the run's parent
        message, quiet summaries) and runs not in the store are skipped. A vanished cluster is
        drawn in the previous run, where it last was.
        """
        if not self.enabled or thread_ts is None:
            return 0
        charted = _charted_alert(key)
        if charted is None:
            return 0
        kind, run_id, cluster_id = charted
        try:
            run = self.store.get_run(run_id)
            if run is not None and kind.spec.gone:
                run = self.store.previous_run(run)
        except Exception as error:  # the store is down: no chart, and no reason to shout
            logger.warning("charts.failed", extra={"key": key, "error": repr(error)[:300]})
            return 0
        if run is None:
            logger.info("charts.skipped", extra={"key": key, "reason": "run not stored"})
            return 0
        from bot.charts.palette import shorten

        cluster = run.cluster(cluster_id)
        name = "outliers" if cluster_id == NOISE_CLUSTER_ID else (cluster.title if cluster else "")
        vanished = kind.spec.gone
        comment = chart_caption(kind.spec.label, shorten(name, 80), vanished=vanished)
        return self.post_alert_charts(
            channel,
            thread_ts,
            run,
            cluster_id,
            comment=comment,
            mark_run=not vanished,
        )

    # -- rendering and upload -------------------------------------------------------------

    def _post(
        self,
        channel: str,
        thread_ts: str,
        charts: list[_Chart],
        comment: SafeMrkdwn | None,
        *,
        say_when_empty: SafeMrkdwn | None = None,
    ) -> int:
        uploads = []
        for chart in charts:
            try:
                png = chart.draw()
            except Exception as error:
                self._failed(channel, thread_ts, chart.what, error, "it could not be drawn")
                continue
            if png is None:
                logger.info(
                    "charts.skipped", extra={"chart": chart.what, "reason": "nothing to draw"}
                )
                continue
            uploads.append(Upload(png, chart.filename, chart.title))
        if not uploads:
            if say_when_empty is not None:
                self._say(channel, thread_ts, say_when_empty)
            return 0
        what = "+".join(c.what for c in charts)
        try:
            self.writer.upload_files(channel, thread_ts, uploads, comment or None)
        except SlackWriteError as error:
            self._failed(channel, thread_ts, what, error.cause, error.failure.reason)
            return 0
        except Exception as error:
            self._failed(channel, thread_ts, what, error, "it could not be uploaded")
            return 0
        logger.info(
            "charts.posted",
            extra={"channel": channel, "thread_ts": thread_ts, "files": len(uploads)},
        )
        return len(uploads)

    def _failed(
        self, channel: str, thread_ts: str, what: str, error: BaseException, reason: str
    ) -> None:
        logger.warning(
            "charts.failed",
            extra={
                "channel": channel,
                "thread_ts": thread_ts,
                "chart": what,
                "error": repr(error)[:300],
            },
        )
        with self._lock:
            if (channel, thread_ts) in self._noticed:
                return
            self._noticed.add((channel, thread_ts))
        self._say(channel, thread_ts, chart_notice(reason))

    def _say(self, channel: str, thread_ts: str, text: SafeMrkdwn) -> None:
        try:
            self.writer.reply_in_thread(channel, thread_ts, text)
        except Exception as error:  # nothing more to do: the log has it
            logger.warning(
                "charts.notice_failed",
                extra={"channel": channel, "thread_ts": thread_ts, "error": repr(error)[:300]},
            )


def _charted_alert(key: str) -> tuple[AlertKind, str, int] | None:
    """(kind, run id, cluster id) of the alert an outbox key names, when it names an alert with
    a cluster to draw."""
    try:
        alert = AlertKey.parse(key)
    except KeyFormatError:
        return None
    if alert.cluster_id is None:
        return None
    return alert.kind, alert.run_id, alert.cluster_id


def _slug(text: str) -> str:
    return _SLUG.sub("-", text)[:80] or "run"
