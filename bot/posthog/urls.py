"""The only place PostHog UI links are built (reference/posthog.md section 7).

Links are always project-scoped: without `/project/<id>` PostHog opens whichever project the
user last had open. Ids are percent-encoded as the frontend's `encodeURIComponent` does; trace
ids are encoded twice, because kea-router decodes once (`urls.aiObservabilityTrace`), and both
passes also escape `!'()*`, which `encodeURIComponent` leaves alone but the router's encoder
does not. Older self-hosted versions serve the same pages under `/llm-analytics/`
(`POSTHOG_UI_ROUTES`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urlencode

# encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) unescaped.
_URI_COMPONENT_SAFE = "-_.!~*'()"


def encode_uri_component(value: str) -> str:
    return quote(value, safe=_URI_COMPONENT_SAFE)


# What stays unescaped when `!'()*` are escaped too (RFC 3986 unreserved characters).
_STRICT_SAFE = "-_.~"


def _encode_trace_id(trace_id: str) -> str:
    """PostHog encodes trace ids twice, escaping !'()* in both passes."""
    return quote(quote(trace_id, safe=_STRICT_SAFE), safe=_STRICT_SAFE)


def _iso_utc(moment: datetime) -> str:
    """dayjs.utc(x).toISOString(): milliseconds and a Z."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class PostHogUrls:
    def __init__(
        self, ui_host: str, project_id: int | str, *, routes: str = "ai-observability"
    ) -> None:
        self._base = f"{ui_host.rstrip('/')}/project/{project_id}/{routes}"

    def clusters(self) -> str:
        return f"{self._base}/clusters"

    def run(self, run_id: str) -> str:
        return f"{self._base}/clusters/{encode_uri_component(run_id)}"

    def cluster(self, run_id: str, cluster_id: int) -> str:
        return f"{self.run(run_id)}/{cluster_id}"

    def trace(
        self,
        trace_id: str,
        timestamp: datetime | None = None,
        event_id: str | None = None,
    ) -> str:
        """A trace; `event_id` selects a generation inside it (generation-level items)."""
        params = {"tab": "summary"}
        if event_id:
            params["event"] = event_id
        if timestamp is not None:
            params["timestamp"] = _iso_utc(timestamp)
        return f"{self._base}/traces/{_encode_trace_id(trace_id)}?{urlencode(params)}"

    def traces(self) -> str:
        return f"{self._base}/traces"
