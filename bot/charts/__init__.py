"""Pictures for Slack: a run's cluster map and a cluster's trend, as PNG bytes.

Pure rendering (matplotlib's Agg canvas, no pyplot, no display); `bot.services.charts` finds
the data in the store and uploads the images.
"""

from bot.charts.cluster_map import render_cluster_map
from bot.charts.trend import TrendPoint, render_trend

__all__ = ["TrendPoint", "render_cluster_map", "render_trend"]
