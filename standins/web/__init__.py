"""The sandbox's Slack-like web page: ``server.py`` (HTTP, SSE, pages) and ``blockkit.py``
(Block Kit and mrkdwn → HTML)."""
