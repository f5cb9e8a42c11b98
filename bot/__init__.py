"""clusters-bot: PostHog LLM clustering runs, in Slack."""
