"""The fault matrix: one failure injected into the stand-ins per test (helpers in
tests/support/faults.py)."""
