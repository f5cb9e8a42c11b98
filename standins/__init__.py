"""Local stand-ins: PostHog's query API on embedded ClickHouse, a fake Slack, traffic."""
