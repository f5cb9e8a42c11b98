"""Synthetic LLM traffic and clustering runs (``generator.generate``), and the demo world."""
