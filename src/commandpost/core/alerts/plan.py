"""What one delivery does: attach, open, storm or ignore each alert. Pure: the service reads
the store, asks `plan_delivery`, and carries the plan out.

Rules, in order, for each group of alerts that arrived together (same group key):
1. An alert whose fingerprint belongs to an open incident is attached to that incident.
2. The group's other alerts join the open incident of any of its members: a group is one
   problem, so a new alert in a known group never opens a second incident.
3. Otherwise a group with a firing alert opens one incident, routed by its most severe alert
   (ties: the earliest route) - unless the flood limit is reached, when the group goes under
   the alert storm incident instead.
4. A resolved alert nobody has seen firing is ignored: it never opens an incident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commandpost.core.alerts.config import AlertRules, FloodRule
from commandpost.core.alerts.model import Alert
from commandpost.core.alerts.routing import Routed, route
from commandpost.core.vocabulary import Role


class FloodDecision(StrEnum):
    OPEN = "open"
    STORM = "storm"


def flood_decision(
    opened_at: Sequence[datetime], *, now: datetime, rule: FloodRule
) -> FloodDecision:
    """Open a new incident unless `max_incidents` were already opened from alerts within the
    window ending now."""
    since = now - rule.window
    recent = sum(1 for at in opened_at if since < at <= now)
    return FloodDecision.STORM if recent >= rule.max_incidents else FloodDecision.OPEN


@dataclass(frozen=True)
class AlertGroup:
    key: str
    alerts: tuple[Alert, ...]


def group_alerts(alerts: Sequence[Alert]) -> list[AlertGroup]:
    """Groups in order of first appearance; an alert repeated in one delivery counts once,
    in its last state (a source lists each alert of a group once; this guards the rest)."""
    latest: dict[str, Alert] = {}
    for alert in alerts:
        latest[alert.fingerprint] = alert
    members: dict[str, list[Alert]] = {}
    for alert in latest.values():
        members.setdefault(alert.group_key, []).append(alert)
    return [AlertGroup(key, tuple(group)) for key, group in members.items()]


@dataclass(frozen=True)
class Attach:
    incident_id: str
    alert: Alert


@dataclass(frozen=True)
class NewIncident:
    """A group that opens one incident (or, past the flood limit, joins the storm)."""

    group_key: str
    lead: Routed
    alerts: tuple[Routed, ...]

    @property
    def page(self) -> tuple[Role, ...]:
        """Every role the group's routes page, besides the severity's own list."""
        return tuple(dict.fromkeys(role for r in self.alerts for role in r.page))


@dataclass(frozen=True)
class Plan:
    attach: tuple[Attach, ...] = ()
    open: tuple[NewIncident, ...] = ()
    storm: tuple[NewIncident, ...] = ()
    ignored: tuple[Alert, ...] = ()


def plan_delivery(
    alerts: Sequence[Alert],
    *,
    known: Mapping[str, str],
    opened_at: Sequence[datetime],
    rules: AlertRules,
    now: datetime,
) -> Plan:
    """`known`: fingerprint → the open incident it belongs to. `opened_at`: when incidents
    were opened from alerts lately (the flood rule counts them)."""
    attach: list[Attach] = []
    opening: list[NewIncident] = []
    storm: list[NewIncident] = []
    ignored: list[Alert] = []
    opened = list(opened_at)
    for group in group_alerts(alerts):
        home = next((known[a.fingerprint] for a in group.alerts if a.fingerprint in known), None)
        if home is not None:
            attach.extend(Attach(known.get(a.fingerprint, home), a) for a in group.alerts)
            continue
        if not any(a.firing for a in group.alerts):
            ignored.extend(group.alerts)
            continue
        routed = tuple(route(a, rules) for a in group.alerts)
        lead = min(
            (r for r in routed if r.alert.firing),
            key=lambda r: (r.severity.rank, _order(r.rule, rules)),
        )
        new = NewIncident(group_key=group.key, lead=lead, alerts=routed)
        if flood_decision(opened, now=now, rule=rules.flood) is FloodDecision.STORM:
            storm.append(new)
        else:
            opening.append(new)
            opened.append(now)
    return Plan(
        attach=tuple(attach), open=tuple(opening), storm=tuple(storm), ignored=tuple(ignored)
    )


def _order(rule: str, rules: AlertRules) -> int:
    for index, candidate in enumerate(rules.routes):
        if candidate.name == rule:
            return index
    return len(rules.routes)
