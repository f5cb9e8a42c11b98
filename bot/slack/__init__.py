"""Slack: ids and payloads, mrkdwn escaping and Block Kit limits, delivery."""
