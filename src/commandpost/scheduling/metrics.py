"""Prometheus metrics for deadlines: how late each one fired, and how many fired.

The metrics live in prometheus_client's default registry, so one `/metrics` endpoint (the
worker's `--metrics-port`, or `metrics_wsgi_app()` mounted by `serve`) exports them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Histogram, make_wsgi_app

from commandpost.service.deadlines import Fired

LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)

LATENESS = Histogram(
    "commandpost_deadline_lateness_seconds",
    "Seconds between a deadline's due time and the moment it fired.",
    ["kind"],
    buckets=LATENESS_BUCKETS,
)
FIRED = Counter(
    "commandpost_deadlines_fired",
    "Deadlines fired (acknowledgement, gate, mitigation SLA, status cadence).",
    ["kind"],
)


def observe(fired: Iterable[Fired]) -> None:
    for one in fired:
        LATENESS.labels(kind=one.kind).observe(one.lateness_seconds)
        FIRED.labels(kind=one.kind).inc()


def metrics_wsgi_app() -> Any:
    """A WSGI app answering any path with the Prometheus text format; mount it at /metrics."""
    return make_wsgi_app()
