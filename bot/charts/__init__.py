"""Pictures for Slack: a run's cluster map (`cluster_map`) and a cluster's trend (`trend`), as
PNG bytes.

Pure rendering (matplotlib's Agg canvas, no pyplot, no display); `bot.services.charts` finds
the data in the store and uploads the images. Nothing is imported here: matplotlib loads with
the first chart drawn (`points` holds the trend's data without it), so a process that draws
none (CHARTS=off, `doctor`, the web process until a map is asked for) does not pay for it.
"""
