"""The local PostHog: the query API (HogQL on embedded ClickHouse), its store, faults and limits."""
