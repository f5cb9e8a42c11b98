"""`python -m jobs`: the scheduler alone, like `clusters-bot scheduler`."""

from bot.cli import main

raise SystemExit(main(["scheduler"]))
