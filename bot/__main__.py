"""`python -m bot`, the same as `clusters-bot`."""

from bot.cli import main

raise SystemExit(main())
