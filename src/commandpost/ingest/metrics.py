"""Counters for alert deliveries, in prometheus_client's default registry (so the one
`/metrics` endpoint `serve` mounts exports them with the deadline metrics)."""

from __future__ import annotations

from prometheus_client import Counter

REJECTED = Counter(
    "commandpost_alert_payloads_rejected",
    "Alert deliveries refused, by source and reason (unauthenticated, too_large, malformed, ...).",
    ["source", "reason"],
)
ACCEPTED = Counter(
    "commandpost_alert_deliveries",
    "Alert deliveries taken in, by source and outcome (handled, duplicate, failed: a 500).",
    ["source", "outcome"],
)
