"""Charts: the cluster map and trends (helpers in tests/support/charts.py)."""
