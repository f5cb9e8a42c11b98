"""Benchmarks of the bot against a reference implementation of the seed workflow, on the
local stand-ins: `python -m bench` (see bench/__main__.py); the report is docs/benchmarks.md."""
