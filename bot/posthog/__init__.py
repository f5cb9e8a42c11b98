"""PostHog: the query API client, wire schemas, errors and UI links."""
