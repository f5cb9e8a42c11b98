"""Scheduled jobs (APScheduler 3): thin functions that call services."""
