"""Incident metrics: time to acknowledge, contain, notify and resolve by class and severity,
SLA breaches by milestone, gates by outcome, all computed from the database.

`/metrics` exports them through a collector that reads the database at scrape time rather
than gauges a process updates as things change: several replicas share one database, and a
gauge in one process would miss what the others did and start from zero after a restart. A
scrape costs three queries over the incidents plus one over the gates (incidents number in
the hundreds or thousands, not millions), and every replica answers the same.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func
from sqlmodel import col, select

from commandpost.core.milestones import MILESTONE_NAMES
from commandpost.service.context import Context
from commandpost.service.milestones import all_milestones
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction

# Seconds: 1m, 5m, 10m, 15m, 30m, 1h, 2h, 4h, 8h, 1d, 3d, 1w (the policy's SLAs fall on these).
BUCKETS = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)


@dataclass
class Group:
    """The incidents of one class and severity."""

    klass: str
    severity: str
    incidents: int = 0
    seconds: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in MILESTONE_NAMES}
    )
    breaches: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MILESTONE_NAMES, 0))

    def summary(self, milestone: str) -> dict[str, float | int | None]:
        values = self.seconds[milestone]
        return {
            "count": len(values),
            "mean_seconds": round(statistics.fmean(values), 1) if values else None,
            "median_seconds": round(statistics.median(values), 1) if values else None,
        }


@dataclass(frozen=True)
class Report:
    groups: list[Group]
    gates: dict[tuple[str, str], int]  # (kind, outcome) -> count

    def breaches(self) -> dict[str, int]:
        return {n: sum(g.breaches[n] for g in self.groups) for n in MILESTONE_NAMES}

    def to_json(self) -> dict[str, Any]:
        return {
            "groups": [
                {
                    "class": g.klass,
                    "severity": g.severity,
                    "incidents": g.incidents,
                    "milestones": {
                        name: {**g.summary(name), "sla_breaches": g.breaches[name]}
                        for name in MILESTONE_NAMES
                    },
                }
                for g in self.groups
            ],
            "sla_breaches": self.breaches(),
            "gates": [
                {"kind": kind, "outcome": outcome, "count": count}
                for (kind, outcome), count in sorted(self.gates.items())
            ],
        }


def report(ctx: Context) -> Report:
    with read_transaction(ctx.engine) as session:
        found = all_milestones(session, ctx)
        gate_rows = session.exec(
            select(m.Gate.kind, m.Gate.state, func.count())
            .group_by(col(m.Gate.kind), col(m.Gate.state))
            .order_by(col(m.Gate.kind), col(m.Gate.state))
        ).all()
    groups: dict[tuple[str, str], Group] = {}
    for incident, milestones in found:
        key = (incident.klass, incident.severity)
        group = groups.setdefault(key, Group(*key))
        group.incidents += 1
        for item in milestones:
            if item.elapsed is not None:
                group.seconds[item.name].append(item.elapsed.total_seconds())
            group.breaches[item.name] += item.breached
    ordered = [groups[k] for k in sorted(groups)]
    return Report(ordered, {(kind, state): int(n) for kind, state, n in gate_rows})


class IncidentCollector(Collector):
    """Reads the database at each scrape (see the module docstring for why)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        made = report(self.ctx)
        incidents = GaugeMetricFamily(
            "commandpost_incidents", "Incidents recorded, by class and severity.",
            labels=["class", "severity"],
        )  # fmt: skip
        times = HistogramMetricFamily(
            "commandpost_incident_milestone_seconds",
            "Seconds from declaration to each milestone reached (acknowledged, contained, "
            "notified, resolved), by class and severity.",
            labels=["milestone", "class", "severity"],
        )
        breaches = GaugeMetricFamily(
            "commandpost_incident_sla_breaches",
            "Incidents that missed (or are past, still unreached) a milestone's SLA.",
            labels=["milestone", "class", "severity"],
        )
        for g in made.groups:
            incidents.add_metric([g.klass, g.severity], g.incidents)
            for name in MILESTONE_NAMES:
                values = g.seconds[name]
                cumulative = [
                    (str(float(bound)), float(sum(v <= bound for v in values))) for bound in BUCKETS
                ]
                cumulative.append(("+Inf", float(len(values))))
                labels = [name, g.klass, g.severity]
                times.add_metric(labels, cumulative, sum_value=sum(values))
                breaches.add_metric(labels, g.breaches[name])
        gates = GaugeMetricFamily(
            "commandpost_gates", "Gates by kind and outcome (pending, approved, rejected, "
            "expired, fallback).", labels=["kind", "outcome"],
        )  # fmt: skip
        for (kind, outcome), count in sorted(made.gates.items()):
            gates.add_metric([kind, outcome], count)
        yield from (incidents, times, breaches, gates)


class _Default(Collector):
    """Everything in prometheus_client's default registry (deadline and alert metrics)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry_for(ctx: Context) -> CollectorRegistry:
    """The process's metrics plus this database's incident metrics, in a registry of the
    server's own: registering the collector globally would tie it to one Context."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Default())
    registry.register(IncidentCollector(ctx))
    return registry


def metrics_app(ctx: Context) -> Any:
    """A WSGI app answering with the Prometheus text format; mount it at /metrics."""
    return make_wsgi_app(registry_for(ctx))
