"""Pure domain: models, run comparison and alert rules. No I/O, no Slack."""
