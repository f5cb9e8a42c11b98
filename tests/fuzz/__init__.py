"""Property-based tests with hostile input (helpers in tests/support/fuzz.py)."""
