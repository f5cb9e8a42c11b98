"""ChartService in-process: it draws, and hands the upload and any notice to a recording
notifier (the uploads through the real fake Slack are in test_chart_delivery.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.domain.alerts import AlertKind
from bot.services.charts import NO_MAP, ChartService
from bot.store.store import Store
from tests.support.charts import PNG_SIGNATURE, map_run
from tests.support.factories import ids, make_cluster, make_run
from tests.support.notifier import RecordingNotifier

CHANNEL = "C0CHARTS"


def service(tmp_path: Path, notifier: RecordingNotifier) -> ChartService:
    # Maps are drawn from the run alone: the store (used for trends) is never read here.
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}", migrate=False)
    return ChartService(store, notifier)


def test_a_map_is_one_upload_into_the_thread(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    assert service(tmp_path, notifier).post_map(CHANNEL, "1.0001", map_run()) == 1
    (upload,) = notifier.uploads
    assert (upload.channel, upload.thread_ts) == (CHANNEL, "1.0001")
    (image,) = upload.files
    assert image.content.startswith(PNG_SIGNATURE) and image.title.startswith("Cluster map")
    assert notifier.replies == []


def test_a_run_without_coordinates_gets_a_line_instead(tmp_path: Path) -> None:
    notifier = RecordingNotifier()
    run = make_run(make_cluster(0, item_ids=ids("a", 5)))  # items without x/y
    assert service(tmp_path, notifier).post_map(CHANNEL, "1.0001", run) == 0
    assert [r.text for r in notifier.replies] == [NO_MAP]


def test_a_refused_upload_is_said_once_per_thread_in_plain_words(tmp_path: Path) -> None:
    notifier = RecordingNotifier(failing_uploads=["missing_scope", "missing_scope"])
    charts = service(tmp_path, notifier)
    assert charts.post_map(CHANNEL, "1.0001", map_run()) == 0
    assert charts.post_map(CHANNEL, "1.0001", map_run()) == 0
    assert [r.text for r in notifier.replies] == [
        "Couldn't attach the chart: the Slack app lacks the files:write scope "
        "(add it and reinstall the app)"
    ]


def test_closing_the_service_stops_its_chart_thread(tmp_path: Path) -> None:
    """The chart thread starts with the first queued chart and ends with `close`, so no
    thread is left behind (`doctor` builds the services and queues none)."""

    def chart_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("charts")}

    before = chart_threads()
    charts = service(tmp_path, RecordingNotifier())
    charts.queue_for_alert(CHANNEL, "1.0001", f"{AlertKind.NEW_CLUSTER.value}:run-1:3")
    charts.close()  # waits for the queued chart (no run stored: nothing drawn) and stops
    assert chart_threads() == before
