"""The fake Slack Web API (``server.FakeSlack``) and the simulated user who talks to the bot."""
